/**
 * The faults of the safety phase, all drawn from the seed's fault stream: crashes and restarts,
 * partitions (symmetric, one node isolated, one-way links), leadership transfers, and one
 * membership change (add a learner, promote it, remove an original voter) on some seeds.
 */
import type { ConfChange, NodeId } from '../../src/raft/types.js';
import { CairnError } from '../../src/util/errors.js';
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

  if (sim.spare !== null) scheduleMembership(sim, sim.spare);
}

/** add learner → promote → remove an original voter, each step retried until the leader accepts it. */
function scheduleMembership(sim: Simulation, spare: NodeId): void {
  const f = sim.rng.faults;
  const victim = sim.nodeIds[f.int(sim.params.voters)]!;
  const steps: ConfChange[] = [
    { type: 'addLearner', node: spare },
    { type: 'addVoter', node: spare },
    { type: 'removeNode', node: victim },
  ];
  let i = 0;
  const attempt = (): void => {
    if (sim.phase !== 'safety' || i >= steps.length) return;
    const cc = steps[i]!;
    const l = sim.currentLeader();
    const conf = l?.node.status().conf;
    // The previous step must be in effect on the leader first.
    const prevDone =
      i === 0 ||
      (i === 1 && conf !== undefined && conf.learners.includes(spare)) ||
      (i === 2 && conf !== undefined && conf.voters.includes(spare));
    if (l && prevDone) {
      try {
        if (cc.type === 'removeNode') sim.removed = victim;
        l.node.proposeConfChange(cc);
        sim.tr(() => `${l.id} propose conf change ${cc.type} ${cc.node}`);
        sim.stats.membership = steps
          .slice(0, i + 1)
          .map((s) => `${s.type}(${s.node})`)
          .join(' ');
        i++;
        l.afterStep(false);
      } catch (err) {
        if (!(err instanceof CairnError)) throw err;
        sim.tr(() => `${l.id} conf change ${cc.type} ${cc.node} refused: ${err.code}`);
      }
    }
    sim.q.after(100 + f.int(200), attempt);
  };
  sim.q.after(200 + f.int(800), attempt);
}
