/**
 * `cairn init [--dir D]`: makes the two secret files a cluster needs (docs/configuration.md):
 *
 * - `D/cluster.secret`: the cluster secret (32 random bytes, hex) every metadata and chunk
 *   server reads (`--secret-file`); it authenticates servers to each other and signs chunk
 *   access tokens;
 * - `D/client.token`: the client token (24 random bytes, hex) metadata servers and gateways
 *   require from clients (`--token-file`; clients: `--token-file` / CAIRN_TOKEN_FILE).
 *
 * Both are created with mode 0600 (D with 0700 when it is created); their values are never
 * printed. An existing file is never overwritten: if either exists, nothing is written and the
 * command fails (AlreadyExists), since replacing a live cluster's secret locks its servers out.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { secureRandomBytes } from '../src/env/system.js';
import { CairnError } from '../src/util/errors.js';
import { out } from './client-options.js';

export const CLUSTER_SECRET_FILE = 'cluster.secret';
export const CLIENT_TOKEN_FILE = 'client.token';
const CLUSTER_SECRET_BYTES = 32;
const CLIENT_TOKEN_BYTES = 24;

export function registerInitCommand(program: Command, done: () => Promise<never>): void {
  program
    .command('init')
    .description(`make a cluster's secret files: DIR/${CLUSTER_SECRET_FILE} (--secret-file of every server) and DIR/${CLIENT_TOKEN_FILE} (--token-file); 0600, random, never printed, never overwritten`)
    .option('--dir <path>', 'where to write them (created if missing)', '.')
    .action(async (o: { dir: string }) => {
      const dir = resolve(o.dir);
      const files: Array<[path: string, bytes: number, what: string]> = [
        [join(dir, CLUSTER_SECRET_FILE), CLUSTER_SECRET_BYTES, 'cluster secret: --secret-file of every metadata and chunk server'],
        [join(dir, CLIENT_TOKEN_FILE), CLIENT_TOKEN_BYTES, 'client token: --token-file of metadata servers, gateways and clients'],
      ];
      const present = files.filter(([p]) => existsSync(p)).map(([p]) => p);
      if (present.length > 0) throw new CairnError('AlreadyExists', `${present.join(' and ')} already exist${present.length === 1 ? 's' : ''}; not overwritten (remove it to make a new one)`);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      for (const [path, bytes, what] of files) {
        // 'wx': fails rather than replace a file that appeared since the check.
        writeFileSync(path, `${secureRandomBytes(bytes).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
        await out(`${path}  (${what})\n`);
      }
      await done();
    });
}
