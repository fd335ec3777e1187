/** `cairn gateway`: run the HTTP API in the foreground until SIGINT/SIGTERM. */
import type { Command } from 'commander';
import { parseAddrList, parseHostPort } from '../src/proto/addr.js';
import { startGateway } from '../src/server/gateway.js';
import { readSecretFile } from '../src/server/secret-file.js';
import { CairnError } from '../src/util/errors.js';
import { pinoLogger } from '../src/server/pino-logger.js';
import { intOption } from './int-option.js';
import { stopOnSignalOrParentExit } from './server-lifecycle.js';
import { GATEWAY_IDLE_TIMEOUT_MS_DEFAULT, GATEWAY_LIMITS_DEFAULT } from '../src/config/defaults.js';

export function registerGatewayCommand(program: Command, fail: (err: unknown) => never): void {
  program
    .command('gateway')
    .description('run the HTTP upload/download API (streams to and from the chunk servers)')
    .requiredOption('--listen <host:port>', 'HTTP address, e.g. 127.0.0.1:7000')
    .requiredOption('--meta <addrs>', 'metadata server addresses, host:port,…')
    .option('--token-file <path>', 'file holding the client token (required from HTTP clients as a Bearer token); without it, no auth')
    .option('--inflight-max <n>', 'requests served at once; beyond it 503 + Retry-After', intOption('--inflight-max', 1), GATEWAY_LIMITS_DEFAULT.inflightMax)
    .option('--per-client-inflight-max <n>', 'requests at once from one remote address', intOption('--per-client-inflight-max', 1), GATEWAY_LIMITS_DEFAULT.perClientInflightMax)
    .option('--upload-bytes-max <n>', 'largest upload (raw body or multipart file)', intOption('--upload-bytes-max', 0), GATEWAY_LIMITS_DEFAULT.uploadBytesMax)
    .option('--upload-buffer-bytes-max <n>', 'bytes all uploads together may hold in memory; beyond it new uploads get 503 + Retry-After', intOption('--upload-buffer-bytes-max', 1), GATEWAY_LIMITS_DEFAULT.uploadBufferBytesMax)
    .option('--upload-idle-timeout-ms <ms>', 'cut off an upload that receives nothing this long (nothing is stored)', intOption('--upload-idle-timeout-ms', 100), GATEWAY_LIMITS_DEFAULT.uploadIdleTimeoutMs)
    .option('--s3-listen <host:port>', 'also serve the S3-compatible API on this address (docs/s3.md)')
    .option('--s3-credentials <path>', 'file of ACCESS_KEY_ID:SECRET lines the S3 API accepts (required with --s3-listen)')
    .option('--s3-region <region>', 'the region S3 requests are signed for', 'us-east-1')
    .option('--idle-timeout-ms <ms>', 'close a connection silent this long (aborts a stalled upload)', intOption('--idle-timeout-ms', 1000), GATEWAY_IDLE_TIMEOUT_MS_DEFAULT)
    .action(async (o: { listen: string; meta: string; tokenFile?: string; inflightMax: number; perClientInflightMax: number; uploadBytesMax: number; uploadBufferBytesMax: number; uploadIdleTimeoutMs: number; idleTimeoutMs: number; s3Listen?: string; s3Credentials?: string; s3Region: string }) => {
      parseHostPort(o.listen, true);
      if (o.s3Listen !== undefined) parseHostPort(o.s3Listen, true);
      if ((o.s3Listen === undefined) !== (o.s3Credentials === undefined)) fail(new CairnError('InvalidArgument', '--s3-listen and --s3-credentials go together'));
      const logger = pinoLogger({ role: 'gateway' });
      const gw = await startGateway(
        {
          listen: o.listen,
          metaAddrs: parseAddrList(o.meta),
          token: o.tokenFile ? new TextDecoder().decode(readSecretFile(o.tokenFile, 'client token')) : null,
          limits: { inflightMax: o.inflightMax, perClientInflightMax: o.perClientInflightMax, uploadBytesMax: o.uploadBytesMax, uploadBufferBytesMax: o.uploadBufferBytesMax, uploadIdleTimeoutMs: o.uploadIdleTimeoutMs },
          idleTimeoutMs: o.idleTimeoutMs,
          ...(o.s3Listen === undefined || o.s3Credentials === undefined ? {} : { s3: { listen: o.s3Listen, credentialsFile: o.s3Credentials, region: o.s3Region } }),
        },
        logger,
      );
      let stopping = false;
      stopOnSignalOrParentExit(() => {
        if (stopping) return;
        stopping = true;
        gw.close().then(() => process.exit(0), fail);
      });
    });
}
