#!/usr/bin/env node
/**
 * The `cairn` command: thin over src/. Errors are one line on stderr, never a stack trace.
 */
import { Command, CommanderError } from 'commander';
import { isCairnError } from '../src/util/errors.js';
import { registerChunkCommand } from './chunk-command.js';
import { registerDevCommand } from './dev-command.js';
import { registerMetaCommand } from './meta-command.js';

const program = new Command();
program
  .name('cairn')
  .description('Cairn: a replicated distributed file/blob store')
  .version('0.1.0')
  .showHelpAfterError(false)
  .exitOverride();

export function fail(err: unknown): never {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  const msg = isCairnError(err) ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);
  process.stderr.write(`cairn: ${msg.split('\n')[0]}\n`);
  process.exit(1);
}

registerMetaCommand(program, fail);
registerChunkCommand(program, fail);
registerDevCommand(program, fail);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  fail(err);
}
