/**
 * `cairn s3 keys add|list|rm`: the S3 access keys, kept in the credentials file the gateway reads
 * (`--s3-credentials`; api/s3-credentials.ts). The gateway re-reads the file when it changes, so
 * a key added or removed here is accepted or refused within about a second, without a restart.
 *
 *   add [ID] [--secret S] [--json] → prints `ACCESS_KEY_ID SECRET_ACCESS_KEY` (a new pair; the
 *                                    secret is shown only here); an existing ID is AlreadyExists
 *   list [--json]                  → the access key ids, one per line (secrets are not shown)
 *   rm ID                          → removes the key (NotFound if absent)
 *
 * `--file F` names the file (default: ./.cairn/s3.credentials, the one `cairn dev` makes). The
 * file is rewritten atomically (a temporary file renamed over it, mode 0600), comments kept.
 */
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { ACCESS_KEY_ID_RE, parseS3Credentials, SECRET_KEY_RE } from '../src/api/s3-credentials.js';
import { secureRandomBytes } from '../src/env/system.js';
import { CairnError } from '../src/util/errors.js';
import { out } from './client-options.js';

const DEFAULT_FILE = join('.cairn', 's3.credentials');
const FILE_MODE = 0o600;

interface KeyFlags {
  file: string;
  json?: boolean;
}

function readLines(file: string, mustExist: boolean): string[] {
  if (!existsSync(file)) {
    if (mustExist) throw new CairnError('NotFound', `no S3 credentials file at ${file} (--file)`);
    return [];
  }
  const text = readFileSync(file, 'utf8');
  parseS3Credentials(text, file); // refuse to edit a file the gateway could not read
  return text.split('\n').filter((l, i, all) => !(l === '' && i === all.length - 1));
}

const idOf = (line: string): string | null => {
  const t = line.trim();
  return t === '' || t.startsWith('#') ? null : t.slice(0, t.indexOf(':'));
};

function writeLines(file: string, lines: string[]): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, lines.map((l) => `${l}\n`).join(''), { mode: FILE_MODE });
  chmodSync(tmp, FILE_MODE);
  renameSync(tmp, file);
}

export function registerS3KeysCommand(program: Command, done: () => Promise<never>): void {
  const keys = program.command('s3').description('the S3-compatible API (docs/s3.md)').command('keys').description('S3 access keys in the credentials file the gateway reads (changes apply without a restart)');
  const fileOption = (c: Command): Command => c.option('--file <path>', 'the S3 credentials file (the gateway\'s --s3-credentials)', DEFAULT_FILE);
  fileOption(keys.command('add').description('make a new access key pair and print `ACCESS_KEY_ID SECRET_ACCESS_KEY`').argument('[id]', 'the access key id (3-128 letters and digits; default: a new one)'))
    .option('--secret <secret>', 'the secret (16-128 printable characters; default: a new random one)')
    .option('--json', 'print {"accessKeyId","secretAccessKey"}')
    .action(async (id: string | undefined, o: KeyFlags & { secret?: string }) => {
      const lines = readLines(o.file, false);
      const newId = id ?? `CAIRN${secureRandomBytes(8).toString('hex').toUpperCase().slice(0, 15)}`;
      const secret = o.secret ?? secureRandomBytes(30).toString('base64').replace(/[+/]/g, 'x');
      if (!ACCESS_KEY_ID_RE.test(newId)) throw new CairnError('InvalidArgument', 'the access key id must be 3-128 letters and digits');
      if (!SECRET_KEY_RE.test(secret)) throw new CairnError('InvalidArgument', 'the secret must be 16-128 printable characters without spaces');
      if (lines.some((l) => idOf(l) === newId)) throw new CairnError('AlreadyExists', `access key ${newId} exists in ${o.file}`);
      writeLines(o.file, [...lines, `${newId}:${secret}`]);
      await out(o.json ? `${JSON.stringify({ accessKeyId: newId, secretAccessKey: secret })}\n` : `${newId} ${secret}\n`);
      await done();
    });
  fileOption(keys.command('list').description('print the access key ids, one per line'))
    .option('--json', 'one {"accessKeyId"} object per line')
    .action(async (o: KeyFlags) => {
      const ids = readLines(o.file, true).map(idOf).filter((x): x is string => x !== null);
      await out(ids.map((x) => (o.json ? `${JSON.stringify({ accessKeyId: x })}\n` : `${x}\n`)).join(''));
      await done();
    });
  fileOption(keys.command('rm').description('remove an access key (the gateway refuses it from then on)').argument('<id>', 'the access key id'))
    .action(async (id: string, o: KeyFlags) => {
      const lines = readLines(o.file, true);
      const rest = lines.filter((l) => idOf(l) !== id);
      if (rest.length === lines.length) throw new CairnError('NotFound', `no access key ${id} in ${o.file}`);
      writeLines(o.file, rest);
      await done();
    });
}
