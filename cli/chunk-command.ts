/** `cairn chunk`: run one chunk server in the foreground until SIGINT/SIGTERM. */
import type { Command } from 'commander';
import { parseAddrList, parseNodeId } from '../src/proto/addr.js';
import { startChunkServer } from '../src/server/chunk-server.js';
import { readSecretFile } from '../src/server/secret-file.js';
import { tuneServerCollector } from '../src/server/collector-tuning.js';
import { pinoLogger } from '../src/server/pino-logger.js';
import { serverTlsFromFlags } from '../src/server/tls-files.js';
import { stopOnSignalOrParentExit } from './server-lifecycle.js';
import { addServerOptions, serverConfigOrExit, usageExit } from './server-config.js';
import { CHUNK_SETTINGS } from './server-settings.js';


export function registerChunkCommand(program: Command, fail: (err: unknown) => never): void {
  addServerOptions(program.command('chunk').description('run a chunk server (stores replicated chunks, serves them over HTTP)'), 'chunk', CHUNK_SETTINGS)
    .action(async (flags: Record<string, string | undefined>) => {
      const o = serverConfigOrExit('chunk', CHUNK_SETTINGS, flags);
      let id: string;
      let metaAddrs: string[];
      try {
        id = parseNodeId(o.id);
        metaAddrs = parseAddrList(o.meta);
      } catch (e) {
        usageExit(e);
      }
      const logger = pinoLogger({ node: id, role: 'chunk' });
      tuneServerCollector();
      const server = await startChunkServer(
        {
          id,
          listen: o.listen,
          ...(o.advertise === undefined ? {} : { advertise: o.advertise }),
          dir: o.dir,
          metaAddrs,
          clusterSecret: readSecretFile(o.secretFile, 'cluster secret'),
          zone: o.zone,
          chunkBytesMax: o.chunkBytesMax,
          reserveBytes: o.reserveBytes,
          directBuffersMax: o.directBuffers,
          heartbeatMs: Math.max(50, o.heartbeatMs),
          repairBytesPerSecMax: o.repairBytesPerSec,
          repairConcurrencyMax: o.repairConcurrency,
          scrubPeriodMs: o.scrubPeriodSec * 1000,
          scrubBytesPerSecMax: o.scrubBytesPerSec,
          idleTimeoutMs: o.idleTimeoutMs,
          tls: serverTlsFromFlags(o),
          ...(o.metricsListen === undefined ? {} : { metricsListen: o.metricsListen, metricsToken: o.tokenFile ? new TextDecoder().decode(readSecretFile(o.tokenFile, 'client token')) : null }),
        },
        logger,
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
