/** fast-check generators shared by the placement tests. */
import fc from 'fast-check';
import type { RingLayout, RingServer, ServerState } from '../../../src/placement/index.js';

/** Servers with unique ids, 1..5 zones, a few weights, mostly 'up'. */
export function arbServers(options: { min?: number; max?: number; zonesMax?: number } = {}): fc.Arbitrary<RingServer[]> {
  const zonesMax = options.zonesMax ?? 5;
  const server = fc.record({
    id: fc.stringMatching(/^[a-z0-9]{1,6}$/),
    zone: fc.integer({ min: 0, max: zonesMax - 1 }).map((z) => `z${z}`),
    weight: fc.constantFrom(0.5, 1, 1.5, 2),
    state: fc.constantFrom<ServerState>('up', 'up', 'up', 'up', 'draining', 'dead'),
  });
  return fc.uniqueArray(server, { minLength: options.min ?? 1, maxLength: options.max ?? 12, selector: (s) => s.id });
}

export function arbLayout(options: { min?: number; max?: number; zonesMax?: number } = {}): fc.Arbitrary<RingLayout> {
  return fc.record({
    version: fc.nat({ max: 1000 }),
    vnodesPerWeight: fc.constantFrom(1, 4, 16, 32),
    servers: arbServers(options),
  });
}

export const arbChunkId = fc.string({ minLength: 1, maxLength: 40 });

/** `n` equal-weight servers named cs0..cs{n-1}, round-robin over `zones` zones. */
export function equalServers(n: number, zones: number, prefix = 'cs'): RingServer[] {
  return Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, zone: `z${i % zones}`, weight: 1, state: 'up' as const }));
}
