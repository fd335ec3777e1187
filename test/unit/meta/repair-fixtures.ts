/** Rings and repair views shared by the planner's and the scheduler's tests. */
import { addServer, emptyRing, type Ring } from '../../../src/placement/index.js';
import type { RepairView } from '../../../src/meta/repair-planner.js';

/** n servers c1..cn, each in its own zone z1..zn, weight 1, 64 virtual nodes each. */
export function ring(n: number): Ring {
  let r = emptyRing(64);
  for (let i = 1; i <= n; i++) r = addServer(r, { id: `c${i}`, zone: `z${i}`, weight: 1 });
  return r;
}

/** R = 3 over `r`; `where` maps chunk id → holders; `dead`/`full` name servers so marked. */
export function view(r: Ring, where: Record<string, string[]>, dead: string[] = [], full: string[] = []): RepairView {
  return { ring: r, replicas: 3, isAlive: (s) => !dead.includes(s), isFull: (s) => full.includes(s), locations: (id) => where[id] ?? [] };
}

export const ID = 'ab'.repeat(16);
