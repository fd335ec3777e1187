/**
 * Targeted faults: schedules aimed at the narrow windows that random faults almost never hit.
 *
 *  - crash after voting: the leader crashes; in the election that follows, every node that
 *    grants a vote crashes right after the grant leaves it and restarts a few units later; the
 *    winner is cut off for a moment and the old leader restarts and campaigns at once, in the
 *    same term as the winner. A node that
 *    answered before its vote was durable, or forgot it on restart, votes twice in one term and
 *    two leaders of that term follow (Election Safety).
 *
 *  - stale leader: the leader is paused (SIGSTOP) and cut from its peers, not from its clients,
 *    and one client knows only that server. A new leader is elected and commits writes; the old
 *    one resumes believing it still leads (its check-quorum clock stood still) and the client's
 *    next reads reach it. A leader that serves ReadIndex without a heartbeat round answers them
 *    from its stale state: a read that starts after a write finished misses it (linearizability).
 *
 * Drawn from streams of their own, so the random faults of a seed stay as they were.
 */
import { SeededRng } from '../../src/env/rng.js';
import type { SimNode } from './sim-node.js';
import type { Simulation } from './simulation.js';

/** Seeds (out of this many) that get targeted schedules. */
const TARGETED_ONE_IN = 2;
/** How long the winner of the targeted election is cut off (simulated units). */
const HOLD_WINNER_UNITS = 150;

export function scheduleTargeted(sim: Simulation, seed: number): void {
  scheduleCrashAfterVote(sim, seed);
  scheduleStaleLeader(sim, seed);
}

function scheduleCrashAfterVote(sim: Simulation, seed: number): void {
  const rng = new SeededRng(seed * 2654435761 + 97);
  if (rng.int(TARGETED_ONE_IN) !== 0) return;
  const p = sim.params;
  const electionUnits = p.electionTicks * p.tickUnits;
  const inSafety = (): boolean => sim.phase === 'safety';

  const crashAfterVote = (): void => {
    if (!inSafety()) return;
    const l = sim.currentLeader();
    if (!l || sim.voteGranted !== null) {
      sim.q.after(electionUnits, crashAfterVote);
      return;
    }
    sim.tr(() => `TARGET crash-after-vote: leader ${l.id} crashes; the next election's voters crash after granting`);
    l.crash();
    sim.stats.crashes++;
    let armed = true;
    sim.voteGranted = (n: SimNode, candidate: string): void => {
      if (!armed || n === l || !inSafety()) return;
      sim.q.after(0, () => {
        if (!n.up || n.retired) return;
        n.crash();
        sim.stats.crashes++;
        // Restarted even if the safety phase ended meanwhile (the liveness phase restarts only once).
        sim.q.after(1 + rng.int(3), () => {
          if (!n.up && !n.retired) n.start();
        });
      });
      if (sim.voteGrantedFirst) return;
      sim.voteGrantedFirst = true;
      // The winner's messages are held back for a while, so its heartbeats do not reach the
      // restarted voters before the old leader, back once they are, asks for their votes.
      const links = sim.nodeIds.filter((x) => x !== candidate && !sim.net.blocked.has(`${candidate}>${x}`)).map((x) => `${candidate}>${x}`);
      for (const k of links) sim.net.blocked.add(k);
      sim.q.after(HOLD_WINNER_UNITS, () => {
        for (const k of links) sim.net.blocked.delete(k);
      });
      sim.q.after(4, () => {
        armed = false;
        sim.voteGranted = null;
        sim.voteGrantedFirst = false;
        if (!inSafety() || l.up || l.retired) return;
        l.start();
        l.node.campaign();
        l.afterStep(false);
      });
    };
    // Disarm if no election happened (e.g. every other node was down).
    sim.q.after(4 * electionUnits, () => {
      if (armed && sim.voteGranted !== null && !sim.voteGrantedFirst) {
        armed = false;
        sim.voteGranted = null;
        if (inSafety() && !l.up && !l.retired) l.start();
      }
    });
    sim.q.after(6 * electionUnits + rng.int(500), crashAfterVote);
  };
  sim.q.after(200 + rng.int(600), crashAfterVote);
}

/** Seeds (out of this many) that get the stale-leader schedule. */
const STALE_LEADER_ONE_IN = 2;

function scheduleStaleLeader(sim: Simulation, seed: number): void {
  const rng = new SeededRng(seed * 2654435761 + 131);
  if (rng.int(STALE_LEADER_ONE_IN) !== 0) return;
  const p = sim.params;
  const electionUnits = p.electionTicks * p.tickUnits;
  const inSafety = (): boolean => sim.phase === 'safety';

  const staleLeader = (): void => {
    if (!inSafety()) return;
    const l = sim.currentLeader();
    if (!l || l.paused) {
      sim.q.after(electionUnits, staleLeader);
      return;
    }
    const clients = [...sim.clients.values()];
    const c = clients[rng.int(clients.length)]!;
    // Long enough for the others to elect a leader (randomized timeout up to two election
    // timeouts, plus the vote round) and finish writes on it.
    const pauseUnits = 3 * electionUnits + rng.int(2 * electionUnits);
    // After resuming, a check-quorum leader steps down within two election timeouts.
    const cutAfterUnits = 2 * electionUnits + rng.int(electionUnits);
    sim.tr(() => `TARGET stale-leader: ${l.id} paused ${pauseUnits} and cut from its peers; ${c.id} reaches only ${l.id}`);
    const links = sim.nodeIds
      .filter((x) => x !== l.id)
      .flatMap((x) => [`${l.id}>${x}`, `${x}>${l.id}`])
      .filter((k) => !sim.net.blocked.has(k));
    for (const k of links) sim.net.blocked.add(k);
    c.pin(l.id);
    l.pause();
    sim.stats.partitions++;
    sim.q.after(pauseUnits, () => {
      l.resume();
      sim.q.after(cutAfterUnits, () => {
        for (const k of links) sim.net.blocked.delete(k);
        c.pin(null);
        sim.tr(() => `TARGET stale-leader: ${l.id} reconnected, ${c.id} unpinned`);
      });
    });
    sim.q.after(pauseUnits + cutAfterUnits + 200 + rng.int(500), staleLeader);
  };
  sim.q.after(200 + rng.int(600), staleLeader);
}
