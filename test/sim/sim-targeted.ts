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
 *  - leader crash after replicating to a minority: the leader's links to all but a minority of
 *    the voters are cut (it reaches ⌈n/2⌉-2 followers, none in a 3-voter cluster); after it has
 *    sent a few batches of entries it crashes a moment later (before or after the reached follower has persisted
 *    them), the links heal and it restarts later. The entries are on a minority: a new leader may
 *    or may not have them, and they must be committed or overwritten consistently (Figure 8's
 *    ground: every safety invariant).
 *
 *  - snapshot interrupted mid-stream: on a piece of a transfer after its first, the sender
 *    crashes, or the receiver crashes, or the link between them is cut for a while; crashed
 *    nodes restart a few units later. The receiver must later catch up (convergence phase).
 *
 * Drawn from streams of their own, so the random faults of a seed stay as they were.
 */
import { SeededRng } from '../../src/env/rng.js';
import type { Message, NodeId } from '../../src/raft/types.js';
import type { SimNode } from './sim-node.js';
import type { Simulation } from './simulation.js';

/** Seeds (out of this many) that get targeted schedules. */
const TARGETED_ONE_IN = 2;
/** How long the winner of the targeted election is cut off (simulated units). */
const HOLD_WINNER_UNITS = 150;

export function scheduleTargeted(sim: Simulation, seed: number): void {
  scheduleCrashAfterVote(sim, seed);
  scheduleStaleLeader(sim, seed);
  scheduleMinorityCrash(sim, seed);
  scheduleSnapshotCut(sim, seed);
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

/** Seeds (out of this many) that get the leader-crash-after-minority schedule. */
const MINORITY_CRASH_ONE_IN = 2;

function scheduleMinorityCrash(sim: Simulation, seed: number): void {
  const rng = new SeededRng(seed * 2654435761 + 173);
  if (rng.int(MINORITY_CRASH_ONE_IN) !== 0) return;
  const p = sim.params;
  const electionUnits = p.electionTicks * p.tickUnits;
  const inSafety = (): boolean => sim.phase === 'safety';

  const minorityCrash = (): void => {
    if (!inSafety()) return;
    const l = sim.currentLeader();
    if (!l || l.paused || sim.messageSent !== null) {
      sim.q.after(electionUnits, minorityCrash);
      return;
    }
    const followers = l.node.status().conf.voters.filter((v) => v !== l.id);
    const reachN = Math.max(0, Math.ceil((followers.length + 1) / 2) - 2);
    const reach = new Set<NodeId>();
    while (reach.size < reachN) reach.add(followers[rng.int(followers.length)]!);
    const links = sim.nodeIds.filter((x) => x !== l.id && !reach.has(x)).map((x) => `${l.id}>${x}`).filter((k) => !sim.net.blocked.has(k));
    for (const k of links) sim.net.blocked.add(k);
    sim.tr(() => `TARGET minority-crash: ${l.id} reaches only {${[...reach].join(',')}}; it crashes after its next entries leave`);
    const inc = l.incarnation;
    let armed = true;
    const disarm = (): void => {
      armed = false;
      sim.messageSent = null;
      for (const k of links) sim.net.blocked.delete(k);
    };
    // Several batches, so the next leader may have to send the minority's entries in several
    // messages (a quorum then acknowledges an earlier term's entry before its own: Figure 8).
    let batches = 1 + rng.int(6);
    sim.messageSent = (n: SimNode, m: Message): void => {
      if (!armed || n !== l || m.type !== 'app' || m.entries.length === 0) return;
      if (--batches > 0) return;
      armed = false;
      sim.messageSent = null;
      // Before, or after, the reached follower has persisted and answered.
      const delay = rng.int(2 * (p.netDelayMin + p.netDelayJitter) + p.fsyncMin + p.fsyncJitter + 2);
      sim.q.after(delay, () => {
        for (const k of links) sim.net.blocked.delete(k);
        if (!inSafety() || l.incarnation !== inc || !l.up) return;
        l.crash();
        sim.stats.crashes++;
        sim.stats.minorityCrashes++;
        sim.q.after(electionUnits + rng.int(3 * electionUnits), () => {
          if (inSafety() && !l.up && !l.retired) l.start();
        });
      });
    };
    // Not enough proposed meanwhile: give up this round.
    sim.q.after(4 * electionUnits, () => {
      if (armed) disarm();
    });
    sim.q.after(6 * electionUnits + rng.int(800), minorityCrash);
  };
  sim.q.after(200 + rng.int(600), minorityCrash);
}

/** Seeds (out of this many) that get the snapshot-cut schedule. */
const SNAPSHOT_CUT_ONE_IN = 2;

function scheduleSnapshotCut(sim: Simulation, seed: number): void {
  const rng = new SeededRng(seed * 2654435761 + 211);
  if (rng.int(SNAPSHOT_CUT_ONE_IN) !== 0) return;
  const p = sim.params;
  const electionUnits = p.electionTicks * p.tickUnits;
  const inSafety = (): boolean => sim.phase === 'safety';
  /** Pieces seen per sender>receiver since the last cut (the first piece of a transfer is spared). */
  const seen = new Map<string, number>();
  let quietUntil = 0;
  sim.snapshotPieceSent = (from: SimNode, to: NodeId): void => {
    if (!inSafety() || sim.q.now < quietUntil) return;
    const k = `${from.id}>${to}`;
    const count = (seen.get(k) ?? 0) + 1;
    seen.set(k, count);
    if (count < 2 || rng.int(2) !== 0) return;
    seen.clear();
    quietUntil = sim.q.now + 3 * electionUnits;
    const kind = rng.int(3);
    const receiver = sim.nodes.get(to)!;
    sim.stats.snapshotCuts++;
    // From an event of its own: the piece was sent from a promise continuation.
    sim.q.after(0, () => {
      if (kind === 2) {
        const links = [`${from.id}>${to}`, `${to}>${from.id}`].filter((x) => !sim.net.blocked.has(x));
        for (const x of links) sim.net.blocked.add(x);
        sim.tr(() => `TARGET snapshot-cut: link ${from.id}-${to} cut mid-transfer`);
        sim.q.after(p.partitionMin + rng.int(2 * electionUnits), () => {
          for (const x of links) sim.net.blocked.delete(x);
        });
        return;
      }
      const victim = kind === 0 ? from : receiver;
      if (!victim.up || victim.retired) return;
      sim.tr(() => `TARGET snapshot-cut: ${kind === 0 ? 'sender' : 'receiver'} ${victim.id} crashes mid-transfer`);
      victim.crash();
      sim.stats.crashes++;
      sim.q.after(1 + rng.int(30), () => {
        if (inSafety() && !victim.up && !victim.retired) victim.start();
      });
    });
  };
}
