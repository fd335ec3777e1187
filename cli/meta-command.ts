/** `cairn meta`: run one metadata server in the foreground until SIGINT/SIGTERM. */
import type { Command } from 'commander';
import { formatHostPort, parseHostPort, parseNodeId, parsePeers } from '../src/proto/addr.js';
import { tuneServerCollector } from '../src/server/collector-tuning.js';
import { pinoLogger } from '../src/server/pino-logger.js';
import { startMetaServer } from '../src/server/meta-server.js';
import { readSecretFile } from '../src/server/secret-file.js';
import { CairnError } from '../src/util/errors.js';
import { serverTlsFromFlags } from '../src/server/tls-files.js';
import { stopOnSignalOrParentExit } from './server-lifecycle.js';
import { addServerOptions, serverConfigOrExit, usageExit } from './server-config.js';
import { META_SETTINGS } from './server-settings.js';

export function registerMetaCommand(program: Command, fail: (err: unknown) => never): void {
  addServerOptions(program.command('meta').description('run a metadata server (a member of the Raft group)'), 'meta', META_SETTINGS)
    // A one-time first-start switch, so a flag only (no variable or file key).
    .option('--join', 'first start on an empty --dir: join a running group (after `cairn meta add`) instead of founding one')
    .action(async (flags: Record<string, string | undefined> & { join?: boolean }) => {
      const o = serverConfigOrExit('meta', META_SETTINGS, flags);
      let id: string;
      let peers: Map<string, string>;
      try {
        id = parseNodeId(o.id);
        peers = parsePeers(o.peers);
        if (o.advertise !== undefined && peers.has(id) && peers.get(id) !== formatHostPort(parseHostPort(o.advertise))) throw new CairnError('InvalidArgument', `--advertise ${o.advertise} is not this server's entry in --peers (${id}=${peers.get(id)})`);
      } catch (e) {
        usageExit(e);
      }
      const logger = pinoLogger({ node: id, role: 'meta' });
      tuneServerCollector();
      const server = await startMetaServer(
        {
          id,
          listen: o.listen,
          peers,
          join: flags.join === true,
          dir: o.dir,
          clusterSecret: readSecretFile(o.secretFile, 'cluster secret'),
          clientToken: o.tokenFile ? readSecretFile(o.tokenFile, 'client token') : null,
          tickMs: o.tickMs,
          raft: { electionTicks: o.electionTicks },
          snapshotEntriesMin: o.snapshotEntries,
          replicas: o.replicas,
          deadAfterMs: o.deadAfter * 1000,
          chunkSizeBytes: o.chunkSize,
          inlineBytesMax: o.inlineBytesMax,
          inlineTotalBytesMax: o.inlineTotalBytesMax,
          repair: { gcGraceMs: o.gcGrace * 1000, copiesPerServerMax: o.repairCopiesMax },
          ...(o.metricsListen === undefined ? {} : { metricsListen: o.metricsListen }),
          tls: serverTlsFromFlags(o),
        },
        logger,
        (err) => fail(new CairnError('Internal', `stopping after a storage failure: ${err.message}`)),
      );
      let stopping = false;
      const stop = (): void => {
        if (stopping) return;
        stopping = true;
        server.close().then(() => process.exit(0), fail);
      };
      stopOnSignalOrParentExit(stop);
    });
}
