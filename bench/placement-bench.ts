/**
 * Placement speed: ring build time and place() / preferenceList() lookups per second for rings of
 * 10, 100 and 1000 servers of weight 1 (DEFAULT_VNODES_PER_WEIGHT vnodes each, 5 zones), R = 3.
 * The ceiling measured in the same run is hash32 alone on the same chunk ids (every lookup hashes
 * its id once), so `place_*_ratio_to_hash` says how much the ring walk costs on top.
 *
 * Output: one `name value` per line.
 * Usage: npm run build && node dist/bench/placement-bench.js [--seconds 1]
 */
import { performance } from 'node:perf_hooks';
import { DEFAULT_VNODES_PER_WEIGHT, place, preferenceList, Ring, type RingServer } from '../src/placement/index.js';
import { hash32 } from '../src/util/hash.js';
import { checkBenchArgs } from './bench-args.js';

checkBenchArgs('placement-bench', [{ name: 'seconds', value: 'number', help: 'seconds per measurement (default 1)' }]);

const secondsArg = process.argv.indexOf('--seconds');
const seconds = secondsArg > 0 ? Number(process.argv[secondsArg + 1]) : 1;
const ids = Array.from({ length: 1 << 16 }, (_, i) => `${hash32(`c${i}`).toString(16)}${hash32(`d${i}`).toString(16)}-${i}`);

function out(name: string, value: number): void {
  console.log(`${name} ${Number.isInteger(value) ? value : value.toFixed(3)}`);
}

/** Calls f over the chunk ids for about `seconds`; returns calls per second. */
function rate(f: (id: string) => unknown): number {
  let n = 0;
  let sink = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 4096; i++) {
      const r = f(ids[(n + i) & (ids.length - 1)]!);
      if (r !== undefined) sink++;
    }
    n += 4096;
  }
  if (sink < 0) console.log(sink);
  return n / ((performance.now() - start) / 1000);
}

const hashRate = rate((id) => hash32(id));
out('hash32_per_s', Math.round(hashRate));
for (const n of [10, 100, 1000]) {
  const servers: RingServer[] = Array.from({ length: n }, (_, i) => ({ id: `cs${i}`, zone: `z${i % 5}`, weight: 1, state: 'up' }));
  const t0 = performance.now();
  const ring = Ring.build({ version: 1, vnodesPerWeight: DEFAULT_VNODES_PER_WEIGHT, servers });
  out(`ring_build_n${n}_ms`, performance.now() - t0);
  out(`ring_vnodes_n${n}`, ring.vnodeTotal);
  const placeRate = rate((id) => place(ring, id, 3));
  out(`place_n${n}_r3_lookups_per_s`, Math.round(placeRate));
  out(`place_n${n}_r3_ratio_to_hash`, placeRate / hashRate);
  out(`preference_list_n${n}_first8_per_s`, Math.round(rate((id) => preferenceList(ring, id, 8))));
}
