/**
 * `cairn dev`: a complete local cluster in the foreground (CONTRACT.md): metadata servers, chunk
 * servers, data under --dir; cluster.json once ready; SIGINT/SIGTERM stops it cleanly.
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import { intOption } from './int-option.js';
import { DevCluster } from '../src/server/dev-cluster.js';
import {
  CHUNK_SIZE_BYTES_DEFAULT,
  DEAD_AFTER_MS_DEFAULT,
  DEV_CHUNK_SERVERS_DEFAULT,
  DEV_DIR_DEFAULT,
  DEV_META_SERVERS_DEFAULT,
  DEV_PORT_BASE_DEFAULT,
  DEV_INLINE_BYTES_MAX_DEFAULT,
  INLINE_TOTAL_BYTES_MAX_DEFAULT,
  REPLICAS_DEFAULT,
} from '../src/config/defaults.js';
import { INLINE_FILE_BYTES_MAX } from '../src/proto/meta-fields.js';
import { CairnError } from '../src/util/errors.js';


export function registerDevCommand(program: Command, fail: (err: unknown) => never): void {
  program
    .command('dev')
    .description('run a complete local cluster in the foreground (Ctrl-C stops it)')
    .option('--dir <dir>', 'data directory', DEV_DIR_DEFAULT)
    .option('--port-base <port>', 'every port is in [P, P+999]; the HTTP gateway listens on P', intOption('--port-base', 1), DEV_PORT_BASE_DEFAULT)
    .option('--meta <n>', 'metadata servers', intOption('--meta', 1), DEV_META_SERVERS_DEFAULT)
    .option('--chunks <n>', 'chunk servers', intOption('--chunks', 0), DEV_CHUNK_SERVERS_DEFAULT)
    .option('--replicas <n>', 'replicas per chunk', intOption('--replicas', 1), REPLICAS_DEFAULT)
    .option('--chunk-size <bytes>', 'default chunk size', intOption('--chunk-size', 1), CHUNK_SIZE_BYTES_DEFAULT)
    .option('--dead-after <seconds>', 'seconds without a heartbeat before a chunk server is dead', intOption('--dead-after', 1), DEAD_AFTER_MS_DEFAULT / 1000)
    .option('--inline-bytes-max <bytes>', `largest file stored inline with its metadata (0: never; at most ${INLINE_FILE_BYTES_MAX})`, intOption('--inline-bytes-max', 0), DEV_INLINE_BYTES_MAX_DEFAULT)
    .option('--inline-total-bytes-max <bytes>', 'cap on the bytes of all inline files', intOption('--inline-total-bytes-max', 0), INLINE_TOTAL_BYTES_MAX_DEFAULT)
    .action(async (o: { dir: string; portBase: number; meta: number; chunks: number; replicas: number; chunkSize: number; deadAfter: number; inlineBytesMax: number; inlineTotalBytesMax: number }) => {
      if (o.inlineBytesMax > INLINE_FILE_BYTES_MAX) fail(new CairnError('InvalidArgument', `--inline-bytes-max must be at most ${INLINE_FILE_BYTES_MAX}: ${o.inlineBytesMax}`));
      const cluster = new DevCluster({
        dir: o.dir,
        portBase: o.portBase,
        meta: o.meta,
        chunks: o.chunks,
        replicas: o.replicas,
        chunkSize: o.chunkSize,
        deadAfterSec: o.deadAfter,
        inlineBytesMax: o.inlineBytesMax,
        inlineTotalBytesMax: o.inlineTotalBytesMax,
        // One line per server that exits while the cluster runs (its log says why).
        onServerExit: (e) => {
          if (stopping) return;
          const how = e.signal !== null ? `killed by ${e.signal}` : `exited with code ${e.code}`;
          process.stderr.write(`cairn dev: ${e.id} (pid ${e.pid ?? '?'}) ${how}; log: ${join(cluster.dir, 'logs', `${e.id}.log`)}\n`);
        },
      });
      let stopping = false;
      const stop = (): void => {
        if (stopping) return;
        stopping = true;
        process.stderr.write('cairn dev: stopping\n');
        cluster.stop().then(() => process.exit(0), fail);
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      cluster.start();
      try {
        await cluster.waitReady(60_000);
      } catch (err) {
        await cluster.stop(2000);
        fail(err);
      }
      if (stopping) return;
      cluster.writeClusterJson();
      const j = cluster.clusterJson();
      const lines = [
        `cairn dev: ready (data in ${cluster.dir})`,
        `  metadata: ${j.meta.map((m) => `${m.id} ${m.addr}`).join(', ')}`,
        `  chunks:   ${j.chunks.map((c) => `${c.id} ${c.addr}`).join(', ') || 'none'}`,
        `  gateway:  ${j.gateway?.url ?? 'none'} (Authorization: Bearer <the token in ${cluster.tokenFilePath}>)`,
        `  token:    ${cluster.tokenFilePath}`,
        ...(j.s3 ? [`  s3:       ${j.s3.url} (region ${j.s3.region}, key ${j.s3.accessKeyId}; secret in cluster.json)`] : []),
        `  cluster:  ${cluster.clusterJsonPath}`,
        `  try:      CAIRN_META=${j.metaAddrs} CAIRN_TOKEN_FILE=${cluster.tokenFilePath} npx cairn status`,
      ];
      process.stdout.write(lines.join('\n') + '\n');
    });
}
