/** `cairn gateway`: run the HTTP API in the foreground until SIGINT/SIGTERM. */
import type { Command } from 'commander';
import { parseAddrList } from '../src/proto/addr.js';
import { startGateway } from '../src/server/gateway.js';
import { readSecretFile } from '../src/server/secret-file.js';
import { CairnError } from '../src/util/errors.js';
import { tuneServerCollector } from '../src/server/collector-tuning.js';
import { pinoLogger } from '../src/server/pino-logger.js';
import { serverTlsFromFlags } from '../src/server/tls-files.js';
import { stopOnSignalOrParentExit } from './server-lifecycle.js';
import { addServerOptions, serverConfigOrExit, usageExit } from './server-config.js';
import { GATEWAY_SETTINGS } from './server-settings.js';

export function registerGatewayCommand(program: Command, fail: (err: unknown) => never): void {
  addServerOptions(program.command('gateway').description('run the HTTP upload/download API (streams to and from the chunk servers)'), 'gateway', GATEWAY_SETTINGS)
    .action(async (flags: Record<string, string | undefined>) => {
      const o = serverConfigOrExit('gateway', GATEWAY_SETTINGS, flags);
      let metaAddrs: string[];
      try {
        if ((o.s3Listen === undefined) !== (o.s3Credentials === undefined)) throw new CairnError('InvalidArgument', '--s3-listen and --s3-credentials go together');
        metaAddrs = parseAddrList(o.meta);
      } catch (e) {
        usageExit(e);
      }
      const logger = pinoLogger({ role: 'gateway' });
      tuneServerCollector();
      const gw = await startGateway(
        {
          listen: o.listen,
          metaAddrs,
          token: o.tokenFile ? new TextDecoder().decode(readSecretFile(o.tokenFile, 'client token')) : null,
          limits: { inflightMax: o.inflightMax, perClientInflightMax: o.perClientInflightMax, uploadBytesMax: o.uploadBytesMax, uploadBufferBytesMax: o.uploadBufferBytesMax, uploadIdleTimeoutMs: o.uploadIdleTimeoutMs },
          idleTimeoutMs: o.idleTimeoutMs,
          tls: serverTlsFromFlags(o),
          ...(o.s3Listen === undefined || o.s3Credentials === undefined ? {} : { s3: { listen: o.s3Listen, credentialsFile: o.s3Credentials, region: o.s3Region, uploadExpiryHours: o.s3UploadExpiryHours, ...(o.s3Domain === undefined ? {} : { domain: o.s3Domain }) } }),
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
