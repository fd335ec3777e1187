/** `cairn chunk`: run one chunk server in the foreground until SIGINT/SIGTERM. */
import type { Command } from 'commander';
import { intOption } from './int-option.js';
import { parseAddrList, parseHostPort, parseNodeId } from '../src/proto/addr.js';
import { startChunkServer } from '../src/server/chunk-server.js';
import { readSecretFile } from '../src/server/secret-file.js';
import { pinoLogger } from '../src/server/pino-logger.js';
import { stopOnSignalOrParentExit } from './server-lifecycle.js';
import {
  CHUNK_BYTES_MAX_DEFAULT,
  CHUNK_RESERVE_BYTES_DEFAULT,
  HEARTBEAT_MS_DEFAULT,
  REPAIR_BYTES_PER_SEC_DEFAULT,
  REPAIR_CONCURRENCY_MAX_DEFAULT,
  SCRUB_BYTES_PER_SEC_DEFAULT,
  SCRUB_PERIOD_MS_DEFAULT,
  ZONE_DEFAULT,
} from '../src/config/defaults.js';


import { TLS_OPTIONS } from './tls-options.js';
import { serverTlsFromFlags, type TlsFlags } from '../src/server/tls-files.js';

export function registerChunkCommand(program: Command, fail: (err: unknown) => never): void {
  program
    .command('chunk')
    .description('run a chunk server (stores replicated chunks, serves them over HTTP)')
    .requiredOption('--id <id>', "this server's id, e.g. c1")
    .requiredOption('--listen <host:port>', 'address of the data plane (registered with the metadata service)')
    .requiredOption('--dir <path>', 'data directory')
    .requiredOption('--meta <addrs>', 'metadata server addresses, host:port,…')
    .requiredOption('--secret-file <path>', 'file holding the cluster secret')
    .option('--zone <zone>', 'failure domain (replicas prefer distinct zones)', ZONE_DEFAULT)
    .option('--chunk-bytes-max <n>', 'largest chunk accepted', intOption('--chunk-bytes-max', 0), CHUNK_BYTES_MAX_DEFAULT)
    .option('--reserve-bytes <n>', 'free bytes to keep on the disk; below it the server is full', intOption('--reserve-bytes', 0), CHUNK_RESERVE_BYTES_DEFAULT)
    .option('--heartbeat-ms <ms>', 'heartbeat period', intOption('--heartbeat-ms', 0), HEARTBEAT_MS_DEFAULT)
    .option('--repair-bytes-per-sec <n>', 'bandwidth of repair copies into this server (0: unlimited)', intOption('--repair-bytes-per-sec', 0), REPAIR_BYTES_PER_SEC_DEFAULT)
    .option('--repair-concurrency <n>', 'repair commands at once', intOption('--repair-concurrency', 1), REPAIR_CONCURRENCY_MAX_DEFAULT)
    .option('--scrub-period-sec <s>', 'every replica is re-verified within this period', intOption('--scrub-period-sec', 1), SCRUB_PERIOD_MS_DEFAULT / 1000)
    .option('--scrub-bytes-per-sec <n>', 'read rate of the scrubber (0: unlimited)', intOption('--scrub-bytes-per-sec', 0), SCRUB_BYTES_PER_SEC_DEFAULT)
    .option('--metrics-listen <host:port>', 'serve Prometheus metrics at http://host:port/metrics; without it, none')
    .option('--token-file <path>', 'file holding the client token, required from metrics scrapers as a Bearer token; without it, no auth')
    .option(...TLS_OPTIONS[0]!)
    .option(...TLS_OPTIONS[1]!)
    .option(...TLS_OPTIONS[2]!)
    .action(async (o: TlsFlags & { id: string; listen: string; dir: string; meta: string; secretFile: string; zone: string; chunkBytesMax: number; reserveBytes: number; heartbeatMs: number; repairBytesPerSec: number; repairConcurrency: number; scrubPeriodSec: number; scrubBytesPerSec: number; metricsListen?: string; tokenFile?: string }) => {
      const id = parseNodeId(o.id);
      parseHostPort(o.listen);
      if (o.metricsListen !== undefined) parseHostPort(o.metricsListen, true);
      const logger = pinoLogger({ node: id, role: 'chunk' });
      const server = await startChunkServer(
        {
          id,
          listen: o.listen,
          dir: o.dir,
          metaAddrs: parseAddrList(o.meta),
          clusterSecret: readSecretFile(o.secretFile, 'cluster secret'),
          zone: o.zone,
          chunkBytesMax: o.chunkBytesMax,
          reserveBytes: o.reserveBytes,
          heartbeatMs: Math.max(50, o.heartbeatMs),
          repairBytesPerSecMax: o.repairBytesPerSec,
          repairConcurrencyMax: o.repairConcurrency,
          scrubPeriodMs: o.scrubPeriodSec * 1000,
          scrubBytesPerSecMax: o.scrubBytesPerSec,
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
