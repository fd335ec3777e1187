/**
 * `cairn scrub [--server ID] [--json] [--bytes-per-sec N] [--timeout SECONDS]`: verify every
 * replica (or one server's) now, have the corrupt and missing ones repaired, and return when done.
 *
 * The leader starts a round (cluster.scrub; src/leader/scrub-rounds.ts) that its chunk servers
 * run at full disk speed unless --bytes-per-sec says otherwise; the command follows it
 * (cluster.scrubStatus) until every server has finished and every replica found bad is repaired
 * (its chunk back at its full count of live verified replicas). `--json` prints exactly
 * {"checked","corrupt","missing","repaired"}; the text form adds a line per server. A progress
 * line goes to stderr on a terminal only.
 *
 * Fails (one line on stderr, non-zero exit) when a server dies during the round (Unavailable),
 * when it has not finished within --timeout (Timeout; the round goes on until the leader's own
 * limit), when the metadata leader changed meanwhile (NotFound: the new leader does not know the
 * round; run it again), and — after printing the figures — when some replica found bad cannot be
 * repaired because no verified copy of its chunk is left (Corrupt).
 */
import type { Command } from 'commander';
import type { CairnClient, ScrubRoundStatus } from '../src/client/index.js';
import { sleep, systemClock } from '../src/env/system.js';
import { CairnError } from '../src/util/errors.js';
import { SCRUB_ROUND_BYTES_PER_SEC_DEFAULT, SCRUB_ROUND_TIMEOUT_MS_DEFAULT } from '../src/config/defaults.js';
import { out, withClient, withClientOptions, type ClientFlags } from './client-options.js';
import { table } from './format.js';
import { intOption } from './int-option.js';

/** How often the command asks the leader how the round stands. */
const POLL_MS = 250;

interface ScrubFlags extends ClientFlags {
  server?: string;
  json: boolean;
  bytesPerSec: number;
  timeout: number;
}

/** The contract's object and only that. */
export function scrubJson(s: ScrubRoundStatus): { checked: number; corrupt: number; missing: number; repaired: number } {
  return { checked: s.checked, corrupt: s.corrupt, missing: s.missing, repaired: s.repaired };
}

export function formatScrub(s: ScrubRoundStatus): string {
  const n = s.servers.length;
  let text = `Scrub ${s.round}: ${s.checked} replicas checked on ${n} server${n === 1 ? '' : 's'}: ${s.corrupt} corrupt, ${s.missing} missing; ${s.repaired} repaired\n`;
  const rows = s.servers.map((x) => [x.id, x.state, String(x.checked), String(x.corrupt), String(x.missing)]);
  text += table([['SERVER', 'STATE', 'CHECKED', 'CORRUPT', 'MISSING'], ...rows], new Set([2, 3, 4])).replace(/^(?=.)/gm, '  ');
  return text;
}

async function scrubCommand(client: CairnClient, o: ScrubFlags): Promise<void> {
  const timeoutMs = o.timeout * 1000;
  const deadline = systemClock.nowMs() + timeoutMs;
  let s = await client.scrub({ ...(o.server === undefined ? {} : { server: o.server }), bytesPerSecMax: o.bytesPerSec, timeoutMs });
  const tty = process.stderr.isTTY === true;
  while (s.state === 'running') {
    if (systemClock.nowMs() >= deadline) throw new CairnError('Timeout', `scrub round ${s.round} did not finish within ${o.timeout} s (${s.checked} replicas checked so far)`);
    if (tty) process.stderr.write(`\rscrub: ${s.checked}/${s.servers.reduce((a, x) => a + x.expected, 0)} replicas checked, ${s.corrupt} corrupt, ${s.missing} missing, ${s.repaired} repaired `);
    await sleep(POLL_MS);
    s = await client.scrubStatus(s.round);
  }
  if (tty) process.stderr.write('\r\x1b[K');
  if (s.state === 'failed') throw new CairnError('Unavailable', `scrub round ${s.round} failed: ${s.error ?? 'unknown reason'}`);
  await out(o.json ? JSON.stringify(scrubJson(s)) + '\n' : formatScrub(s));
  if (s.unrepairable > 0) throw new CairnError('Corrupt', `${s.unrepairable} replica(s) found bad cannot be repaired: no verified copy of their chunk is left`);
}

export function registerScrubCommand(program: Command, done: () => Promise<never>): void {
  withClientOptions(
    program
      .command('scrub')
      .description('verify every replica (or one server\'s) now, repair the corrupt and missing ones, and report')
      .option('--server <id>', 'only this chunk server')
      .option('--json', 'one JSON object: {"checked","corrupt","missing","repaired"}', false)
      .option('--bytes-per-sec <n>', 'read rate per server while verifying (0: full disk speed)', intOption('--bytes-per-sec', 0), SCRUB_ROUND_BYTES_PER_SEC_DEFAULT)
      .option('--timeout <seconds>', 'give up waiting after this long', intOption('--timeout', 1), SCRUB_ROUND_TIMEOUT_MS_DEFAULT / 1000),
  ).action(async (o: ScrubFlags) => {
    await withClient(o, (c) => scrubCommand(c, o));
    await done();
  });
}
