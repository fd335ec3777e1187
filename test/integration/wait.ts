/** Bounded waits shared by the integration tests. */
import type { CairnClient } from '../../src/client/index.js';
import { sleep, systemClock } from '../../src/env/system.js';

/** Polls `cond` every `stepMs` until it holds; fails with `what` after `timeoutMs`. */
export async function until(what: string, timeoutMs: number, cond: () => Promise<boolean>, stepMs = 100): Promise<void> {
  const deadline = systemClock.nowMs() + timeoutMs;
  while (systemClock.nowMs() < deadline) {
    if (await cond()) return;
    await sleep(stepMs);
  }
  throw new Error(`not within ${timeoutMs} ms: ${what}`);
}

/** `server` holds no replica, and every chunk has its full count of live replicas elsewhere. */
export async function drainedAndWhole(client: CairnClient, server: string): Promise<boolean> {
  const st = await client.status();
  const s = st.chunkServers.find((c) => c.id === server);
  return s !== undefined && s.chunks === 0 && st.chunks.underReplicated === 0 && st.chunks.lost === 0;
}
