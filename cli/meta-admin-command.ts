/**
 * `cairn meta add ID ADDR`, `cairn meta remove ID`, `cairn meta transfer-leader [ID]`: the
 * metadata group's membership at runtime, through the leader (leader/meta-membership.ts).
 *
 * add: ID joins as a learner (it receives the log, or a snapshot, and votes in nothing); the
 * leader promotes it to voter once its log is within LEARNER_PROMOTE_LAG_ENTRIES_DEFAULT entries
 * of its own. Start the new server first or afterwards: `cairn meta --join --id ID --listen ADDR
 * --peers <current members and itself> --dir <empty dir> …`. The command waits until ID is a voter
 * (--wait SECONDS, 0: do not wait) and exits 1 if it is still a learner then.
 * remove: ID leaves the group (refused while that would leave fewer active voters than a quorum);
 * stop its process afterwards. transfer-leader: leadership moves to ID, or to the most caught-up
 * voter. All three are idempotent.
 *
 * Loaded by cli/main.ts instead of the server command when `meta` is followed by one of these.
 */
import type { Command } from 'commander';
import { sleep, systemClock } from '../src/env/system.js';
import { CairnError } from '../src/util/errors.js';
import { META_ADD_WAIT_SEC_DEFAULT } from '../src/config/defaults.js';
import { intOption } from './int-option.js';
import { out, withClient, withClientOptions, type ClientFlags } from './client-options.js';

/** How often `meta add` looks whether the new server was promoted. */
const PROMOTION_POLL_MS = 250;

export function registerMetaAdminCommand(program: Command, done: () => Promise<never>): void {
  const meta = program.command('meta').description('change the metadata group: add, remove, transfer-leader');
  withClientOptions(
    meta
      .command('add')
      .argument('<id>', 'the new metadata server\'s id')
      .argument('<addr>', 'its host:port (peers and clients)')
      .description('add a metadata server: a learner first, a voter once caught up')
      .option('--wait <seconds>', 'wait this long for it to become a voter (0: do not wait)', intOption('--wait', 0), META_ADD_WAIT_SEC_DEFAULT),
  ).action(async (id: string, addr: string, o: ClientFlags & { wait: number }) => {
    const role = await withClient(o, async (c) => {
      await c.metaAdd(id, addr);
      const deadline = systemClock.nowMs() + o.wait * 1000;
      for (;;) {
        const m = (await c.status()).meta.find((x) => x.id === id);
        if (o.wait === 0 || (m !== undefined && m.role !== 'learner') || systemClock.nowMs() >= deadline) return m?.role ?? 'learner';
        await sleep(PROMOTION_POLL_MS);
      }
    });
    if (o.wait > 0 && role === 'learner') throw new CairnError('Timeout', `${id} was added but is still a learner after ${o.wait} s (is \`cairn meta --join --id ${id}\` running at ${addr}?)`);
    await out(o.wait > 0 ? `${id}: added at ${addr}, voter\n` : `${id}: added at ${addr} as a learner; the leader promotes it once caught up\n`);
    await done();
  });
  withClientOptions(meta.command('remove').argument('<id>').description('remove a metadata server from the group (stop its process afterwards)')).action(
    async (id: string, o: ClientFlags) => {
      await withClient(o, (c) => c.metaRemove(id));
      await out(`${id}: removed\n`);
      await done();
    },
  );
  withClientOptions(
    meta.command('transfer-leader').argument('[id]', 'the voter to lead (default: the most caught-up one)').description('hand metadata leadership to another voter'),
  ).action(async (id: string | undefined, o: ClientFlags) => {
    const leader = await withClient(o, (c) => c.metaTransferLeader(id));
    await out(`leader: ${leader}\n`);
    await done();
  });
}
