/**
 * `cairn drain SERVER_ID` and `cairn remove-server SERVER_ID`: decommissioning a chunk server.
 * drain marks it draining (no new replicas; repair moves every replica it holds to the servers
 * the ring now names, then deletes its copies); `cairn status` shows its CHUNKS count falling to 0.
 * remove-server forgets it; it refuses while the server holds the only live copy of any chunk,
 * and (unless --force) while any chunk it holds has fewer than R live copies elsewhere — i.e.
 * until a drain has emptied it, or, for a dead server, until repair has copied its chunks
 * elsewhere. Stop the server's process before or after removing it (a running one registers again).
 */
import type { Command } from 'commander';
import { out, withClient, withClientOptions, type ClientFlags } from './client-options.js';

export function registerAdminCommands(program: Command, done: () => Promise<never>): void {
  withClientOptions(program.command('drain').argument('<server-id>').description('move every replica off a chunk server (before removing it)')).action(
    async (id: string, o: ClientFlags) => {
      await withClient(o, (c) => c.drain(id));
      await out(`${id}: draining; \`cairn status\` shows its chunks moving off\n`);
      await done();
    },
  );
  withClientOptions(
    program
      .command('remove-server')
      .argument('<server-id>')
      .description('forget a chunk server (refused while it holds the only copy of anything, or until drained)')
      .option('--force', 'allow leaving chunks with fewer than R copies (never the only copy)'),
  ).action(async (id: string, o: ClientFlags & { force?: boolean }) => {
    await withClient(o, (c) => c.removeServer(id, { force: o.force === true }));
    await out(`${id}: removed\n`);
    await done();
  });
}
