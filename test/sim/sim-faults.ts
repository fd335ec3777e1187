/**
 * The faults of the safety phase, all drawn from the seed's fault stream: crashes and restarts,
 * partitions (symmetric, one node isolated, one-way links), leadership transfers, failed fsyncs
 * (sim-node.ts), and on some seeds a random sequence of membership changes, some of them followed
 * at once by a partition of the leader.
 */
import type { ConfChange, NodeId } from '../../src/raft/types.js';
import { CairnError } from '../../src/util/errors.js';
import type { SimNode } from './sim-node.js';
import type { Simulation } from './simulation.js';

export function scheduleFaults(sim: Simulation): void {
  const p = sim.params;
  const f = sim.rng.faults;
  const exp = (mean: number): number => Math.max(1, Math.round(-Math.log(1 - f.next()) * mean));
  const inSafety = (): boolean => sim.phase === 'safety';

  if (p.crashEvery > 0) {
    const crashLoop = (): void => {
      if (!inSafety()) return;
      const live = [...sim.nodes.values()].filter((n) => n.up && !n.retired);
      if (live.length > 0) {
        const n = live[f.int(live.length)]!;
        n.crash();
        sim.stats.crashes++;
        const down = p.downMin + f.int(p.downMax - p.downMin + 1);
        sim.q.after(down, () => {
          if (inSafety() && !n.up && !n.retired) n.start();
        });
      }
      sim.q.after(exp(p.crashEvery), crashLoop);
    };
    sim.q.after(exp(p.crashEvery), crashLoop);
  }

  if (p.partitionEvery > 0) {
    const partLoop = (): void => {
      if (!inSafety()) return;
      const ids = sim.nodeIds;
      const links: string[] = [];
      const kind = f.int(3);
      if (kind === 0) {
        // Symmetric split into two sides.
        const side = new Set(ids.filter(() => f.int(2) === 0));
        for (const a of ids) for (const b of ids) if (a !== b && side.has(a) !== side.has(b)) links.push(`${a}>${b}`);
        sim.tr(() => `PARTITION {${[...side].join(',')}} | {${ids.filter((i) => !side.has(i)).join(',')}}`);
      } else if (kind === 1) {
        // Isolate one node completely.
        const x = ids[f.int(ids.length)]!;
        for (const b of ids) if (b !== x) links.push(`${x}>${b}`, `${b}>${x}`);
        sim.tr(() => `PARTITION isolate ${x}`);
      } else {
        // One-way: some links lose messages in one direction only.
        for (const a of ids) for (const b of ids) if (a !== b && f.int(4) === 0) links.push(`${a}>${b}`);
        sim.tr(() => `PARTITION one-way ${links.join(' ')}`);
      }
      for (const l of links) sim.net.blocked.add(l);
      sim.stats.partitions++;
      sim.q.after(p.partitionMin + f.int(p.partitionMax - p.partitionMin + 1), () => {
        for (const l of links) sim.net.blocked.delete(l);
        sim.tr(() => `HEAL ${links.length} links`);
      });
      sim.q.after(exp(p.partitionEvery), partLoop);
    };
    sim.q.after(exp(p.partitionEvery), partLoop);
  }

  if (p.transferEvery > 0) {
    const transferLoop = (): void => {
      if (!inSafety()) return;
      const l = sim.currentLeader();
      if (l) {
        const voters = l.node.status().conf.voters.filter((v) => v !== l.id);
        if (voters.length > 0) {
          const to = voters[f.int(voters.length)]!;
          sim.tr(() => `${l.id} transfer leadership to ${to}`);
          try {
            l.node.transferLeadership(to);
            sim.stats.transfers++;
          } catch (err) {
            if (!(err instanceof CairnError)) throw err;
          }
          l.afterStep(false);
        }
      }
      sim.q.after(exp(p.transferEvery), transferLoop);
    };
    sim.q.after(exp(p.transferEvery), transferLoop);
  }

  if (p.fsyncFailEvery > 0) {
    const fsyncLoop = (): void => {
      if (!inSafety()) return;
      const live = [...sim.nodes.values()].filter((n) => n.up && !n.retired && !n.failNextFsync);
      if (live.length > 0) live[f.int(live.length)]!.failNextFsync = true;
      sim.q.after(exp(p.fsyncFailEvery), fsyncLoop);
    };
    sim.q.after(exp(p.fsyncFailEvery), fsyncLoop);
  }

  if (p.membershipChange) scheduleMembership(sim);
}

/**
 * A random sequence of `membershipSteps` membership changes, each proposed on the leader once
 * the previous one is in effect there: a fresh spare joins as a learner, a learner is promoted
 * (once caught up) or removed, a voter is removed (the leader itself one time in three) while
 * more than 3 voters remain, so the cluster ends the safety phase with at least 3. A removed
 * id never returns: a removed server comes back only wiped, as another spare under a fresh id.
 * With probability partitionOnConfChange the leader is cut off right after proposing (alone,
 * or with a minority), healed a random while later.
 */
function scheduleMembership(sim: Simulation): void {
  const p = sim.params;
  const f = sim.rng.faults;
  const unused = [...sim.spares];
  const proposed: string[] = [];
  const next = (l: SimNode): ConfChange | null => {
    const { voters, learners } = l.node.status().conf;
    const options: ConfChange[] = [];
    if (unused.length > 0) options.push({ type: 'addLearner', node: unused[0]! });
    for (const n of learners) options.push({ type: 'addVoter', node: n }, { type: 'addVoter', node: n });
    if (learners.length > 0 && f.int(4) === 0) options.push({ type: 'removeNode', node: learners[f.int(learners.length)]! });
    if (voters.length > 3) {
      const victim = f.int(3) === 0 ? l.id : voters[f.int(voters.length)]!;
      options.push({ type: 'removeNode', node: victim }, { type: 'removeNode', node: victim });
    }
    return options.length === 0 ? null : options[f.int(options.length)]!;
  };
  const attempt = (): void => {
    if (sim.phase !== 'safety' || sim.stats.confChanges >= p.membershipSteps) return;
    const l = sim.currentLeader();
    const cc = l && !l.paused ? next(l) : null;
    if (l && cc) {
      try {
        l.node.proposeConfChange(cc);
        sim.tr(() => `${l.id} propose conf change ${cc.type} ${cc.node}`);
        if (cc.type === 'addLearner') unused.splice(unused.indexOf(cc.node), 1);
        sim.stats.confChanges++;
        proposed.push(`${cc.type}(${cc.node})`);
        sim.stats.membership = proposed.join(' ');
        l.afterStep(false);
        if (f.next() < p.partitionOnConfChange) partitionLeader(sim, l.id);
      } catch (err) {
        if (!(err instanceof CairnError)) throw err;
        sim.tr(() => `${l.id} conf change ${cc.type} ${cc.node} refused: ${err.code}`);
      }
    }
    sim.q.after(100 + f.int(200), attempt);
  };
  sim.q.after(200 + f.int(800), attempt);
}

/** Cut the leader (alone, or with a minority of the others) from the rest, right after a conf change. */
function partitionLeader(sim: Simulation, leader: NodeId): void {
  const p = sim.params;
  const f = sim.rng.faults;
  const others = sim.nodeIds.filter((x) => x !== leader);
  const side = new Set([leader]);
  const withIt = f.int(Math.floor(others.length / 2));
  for (let i = 0; i < withIt; i++) side.add(others[f.int(others.length)]!);
  const links: string[] = [];
  for (const a of sim.nodeIds) for (const b of sim.nodeIds) if (side.has(a) !== side.has(b) && !sim.net.blocked.has(`${a}>${b}`)) links.push(`${a}>${b}`);
  for (const k of links) sim.net.blocked.add(k);
  sim.stats.partitions++;
  sim.stats.confPartitions++;
  sim.tr(() => `PARTITION after conf change: {${[...side].join(',')}} | the rest`);
  sim.q.after(p.partitionMin + f.int(p.partitionMax - p.partitionMin + 1), () => {
    for (const k of links) sim.net.blocked.delete(k);
    sim.tr(() => `HEAL ${links.length} links`);
  });
}
