/**
 * The `cairn` command's program: thin over src/. Client commands (put, get, cat, ls, stat, rm, mkdir, mv,
 * status) live in one file per group; server commands (meta, chunk, gateway, dev) run in the foreground.
 * Errors are one line on stderr, `cairn: <Code>: <message>`, never a stack trace (cli-errors.ts).
 */
import { Command } from 'commander';
import { CairnError } from '../src/util/errors.js';
import { commanderErrorLine, fail, installProcessGuards } from './cli-errors.js';
import { registerNamespaceCommands } from './namespace-commands.js';
import { registerAdminCommands } from './admin-commands.js';
import { registerStatusCommand } from './status-command.js';
import { registerScrubCommand } from './scrub-command.js';
import { registerTransferCommands } from './transfer-commands.js';
import { registerChecksumCommand } from './checksum-command.js';
import { registerSyncCommand } from './sync-command.js';
import { registerCopyCommand } from './copy-command.js';
import { registerUsageCommands } from './usage-commands.js';
import { registerCompletionCommand } from './completion.js';
import { registerInitCommand } from './init-command.js';
import { registerS3KeysCommand } from './s3-keys-command.js';
import { registerBackupCommands } from './backup-command.js';

installProcessGuards();

const CLIENT_COMMANDS = new Set(['put', 'get', 'cat', 'ls', 'stat', 'rm', 'mkdir', 'mv', 'status', 'drain', 'remove-server', 'checksum', 'sync', 'cp', 'du', 'df', 'count', 'find', 'scrub', 'init', 's3', 'backup', 'restore']);

const program = new Command();
program
  .name('cairn')
  .description('Cairn: a replicated distributed file/blob store')
  .version('0.1.0')
  .showHelpAfterError(false)
  .configureOutput({ outputError: (str, write) => write(commanderErrorLine(str)) })
  .exitOverride()
  // Help on --help only: -h is ls -l -h's and du -h's (human sizes). Commands inherit this.
  .helpOption('--help', 'display help for command')
  .addHelpText('after', '\nThe cluster: --meta/--token, else $CAIRN_META/$CAIRN_TOKEN, else ./.cairn/cluster.json (written by `cairn dev`).');

/** A client command succeeded: flush stdout and exit 0 (client sockets must not keep us alive). */
async function done(): Promise<never> {
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  process.exit(0);
}

registerTransferCommands(program, done);
registerNamespaceCommands(program, done);
registerStatusCommand(program, done);
registerAdminCommands(program, done);
registerChecksumCommand(program, done);
registerSyncCommand(program, done);
registerCopyCommand(program, done);
registerUsageCommands(program, done);
registerCompletionCommand(program, done);
registerScrubCommand(program, done);
registerInitCommand(program, done);
registerS3KeysCommand(program, done);
registerBackupCommands(program, done);
// Server commands pull in LMDB, pino and the servers (~120 ms of start-up): loaded only when
// the command line is not a client command, and then only the one named (a gateway does not
// carry the metadata server's LMDB); help or something unknown loads them all to list them.
// `cairn meta add|remove|transfer-leader` are client commands beside the `cairn meta` server;
// `cairn --version` needs no command at all.
const metaAdmin = process.argv[2] === 'meta' && ['add', 'remove', 'transfer-leader'].includes(process.argv[3] ?? '');
const versionOnly = process.argv.length === 3 && ['--version', '-V'].includes(process.argv[2]!);
if (metaAdmin) (await import('./meta-admin-command.js')).registerMetaAdminCommand(program, done);
else if (!CLIENT_COMMANDS.has(process.argv[2] ?? '') && !versionOnly) {
  const servers: Record<string, () => Promise<void>> = {
    meta: async () => (await import('./meta-command.js')).registerMetaCommand(program, fail),
    chunk: async () => (await import('./chunk-command.js')).registerChunkCommand(program, fail),
    gateway: async () => (await import('./gateway-command.js')).registerGatewayCommand(program, fail),
    dev: async () => (await import('./dev-command.js')).registerDevCommand(program, fail),
  };
  const named = servers[process.argv[2] ?? ''];
  if (named) await named();
  else for (const load of Object.values(servers)) await load();
}

try {
  if (process.argv.length <= 2) throw new CairnError('InvalidArgument', 'no command given (`cairn --help` lists the commands)');
  await program.parseAsync(process.argv);
} catch (err) {
  fail(err);
}
