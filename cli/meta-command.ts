/** `cairn meta`: run one metadata server in the foreground until SIGINT/SIGTERM. */
import type { Command } from 'commander';
import { intOption } from './int-option.js';
import { parseHostPort, parseNodeId, parsePeers } from '../src/proto/addr.js';
import { pinoLogger } from '../src/server/pino-logger.js';
import { startMetaServer } from '../src/server/meta-server.js';
import { readSecretFile } from '../src/server/secret-file.js';
import { CairnError } from '../src/util/errors.js';
import { INLINE_FILE_BYTES_MAX } from '../src/proto/meta-fields.js';
import { stopOnSignalOrParentExit } from './server-lifecycle.js';
import {
  CHUNK_SIZE_BYTES_DEFAULT,
  DEAD_AFTER_MS_DEFAULT,
  GC_GRACE_MS_DEFAULT,
  INLINE_BYTES_MAX_DEFAULT,
  INLINE_TOTAL_BYTES_MAX_DEFAULT,
  RAFT_ELECTION_TICKS_DEFAULT,
  RAFT_TICK_MS_DEFAULT,
  REPAIR_COPIES_PER_SERVER_MAX_DEFAULT,
  REPLICAS_DEFAULT,
  SNAPSHOT_ENTRIES_DEFAULT,
} from '../src/config/defaults.js';


export function registerMetaCommand(program: Command, fail: (err: unknown) => never): void {
  program
    .command('meta')
    .description('run a metadata server (a member of the Raft group)')
    .requiredOption('--id <id>', 'this server\'s id, e.g. m1')
    .requiredOption('--listen <host:port>', 'address for peers and clients')
    .requiredOption('--peers <list>', 'initial members: id=host:port,… (this server included)')
    .requiredOption('--dir <path>', 'data directory')
    .requiredOption('--secret-file <path>', 'file holding the cluster secret shared by all servers')
    .option('--token-file <path>', 'file holding the client token (without it, clients are refused)')
    .option('--join', 'first start on an empty --dir: join a running group (after `cairn meta add`) instead of founding one')
    .option('--tick-ms <ms>', 'Raft tick length', intOption('--tick-ms', 1), RAFT_TICK_MS_DEFAULT)
    .option('--election-ticks <n>', 'ticks before a follower campaigns', intOption('--election-ticks', 1), RAFT_ELECTION_TICKS_DEFAULT)
    .option('--snapshot-entries <n>', 'snapshot and compact the log after this many entries', intOption('--snapshot-entries', 1), SNAPSHOT_ENTRIES_DEFAULT)
    .option('--replicas <n>', 'replicas per chunk', intOption('--replicas', 1), REPLICAS_DEFAULT)
    .option('--dead-after <seconds>', 'seconds without a heartbeat before a chunk server counts as dead', intOption('--dead-after', 1), DEAD_AFTER_MS_DEFAULT / 1000)
    .option('--chunk-size <bytes>', 'default chunk size for writers', intOption('--chunk-size', 1), CHUNK_SIZE_BYTES_DEFAULT)
    .option('--gc-grace <seconds>', 'chunks referenced by no file are deleted after this long (protects uploads in progress)', intOption('--gc-grace', 1), GC_GRACE_MS_DEFAULT / 1000)
    .option('--inline-bytes-max <bytes>', `largest file stored inline with its metadata, replicated by Raft (0: never; at most ${INLINE_FILE_BYTES_MAX})`, intOption('--inline-bytes-max', 0), INLINE_BYTES_MAX_DEFAULT)
    .option('--inline-total-bytes-max <bytes>', 'cap on the bytes of all inline files of the cluster; past it small files go to chunk servers', intOption('--inline-total-bytes-max', 0), INLINE_TOTAL_BYTES_MAX_DEFAULT)
    .option('--repair-copies-max <n>', 'repair copies in flight to one chunk server', intOption('--repair-copies-max', 1), REPAIR_COPIES_PER_SERVER_MAX_DEFAULT)
    .option('--metrics-listen <host:port>', 'serve Prometheus metrics at http://host:port/metrics (Bearer: the client token of --token-file); without it, none')
    .action(async (o: { id: string; listen: string; peers: string; dir: string; secretFile: string; tokenFile?: string; tickMs: number; electionTicks: number; snapshotEntries: number; replicas: number; deadAfter: number; chunkSize: number; gcGrace: number; inlineBytesMax: number; inlineTotalBytesMax: number; repairCopiesMax: number; metricsListen?: string; join?: boolean }) => {
      const id = parseNodeId(o.id);
      if (o.inlineBytesMax > INLINE_FILE_BYTES_MAX) throw new CairnError('InvalidArgument', `--inline-bytes-max must be at most ${INLINE_FILE_BYTES_MAX}: ${o.inlineBytesMax}`);
      parseHostPort(o.listen);
      if (o.metricsListen !== undefined) parseHostPort(o.metricsListen, true);
      const logger = pinoLogger({ node: id, role: 'meta' });
      const server = await startMetaServer(
        {
          id,
          listen: o.listen,
          peers: parsePeers(o.peers),
          join: o.join === true,
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
