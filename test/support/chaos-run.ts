/**
 * Whole-cluster chaos: `npm run chaos -- --seed S --duration SECONDS [--dir D] [--quiet] [--big-files]`.
 *
 * Starts a cluster whose processes talk only through fault proxies (chaos-cluster.ts), runs a
 * mixed workload through the gateway (overwrites, create-if-absent, reads, deletes of a small
 * set of paths, files of 0 to 300 KiB over 64 KiB chunks) while a schedule drawn from the seed
 * injects one fault at a time: kill -9 of a metadata or chunk server (then a restart), SIGSTOP
 * and SIGCONT seconds later, the leader cut from its followers (not from clients), one-way
 * links, a chunk server cut from the leader while clients reach it, the gateway cut from the
 * leader alone, slow links. Then every fault heals, every path is read back, and the history is
 * checked (chaos-history.ts). `--big-files`: 1 MiB chunks, and a third of the writes 1 to 3 MiB,
 * so replicas are written around the page cache (src/storage/direct-writes.ts) under the faults. Prints the figures; exits 0 only with 0 lost, 0 corrupt, 0 reads of
 * never-written bytes, a linearizable history and no server that died on its own.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SeededRng } from '../../src/env/rng.js';
import { sleep, systemClock } from '../../src/env/system.js';
import { ChaosCluster } from './chaos-cluster.js';
import { ChaosHistory, versionBytes, type ChaosFigures } from './chaos-history.js';

const PATHS = 12;
/** `--big-files`: the chunk size, and the least of a big file (up to 3 ×). */
const BIG_FILE_BYTES_MIN = 1024 * 1024;
const WORKERS = 4;
/** A request that has not answered by then counts as unknown (it may still take effect). */
const REQUEST_TIMEOUT_MS = 15_000;
/** How long the cluster may take to answer the final reads once healed. */
const FINAL_READ_DEADLINE_MS = 60_000;

export interface ChaosOptions {
  seed: number;
  durationSec: number;
  dir?: string;
  log?: (line: string) => void;
  /** 1 MiB chunks and files up to 3 MiB (direct writes on the chunk servers). */
  bigFiles?: boolean;
}

export interface ChaosReport extends ChaosFigures {
  seed: number;
  durationSec: number;
  faults: number;
  /** Servers that exited on their own (not killed by the schedule). */
  crashed: string[];
  ok: boolean;
}

interface Answer {
  status: number;
  body: Buffer;
}

class Gateway {
  constructor(
    private readonly url: string,
    private readonly token: string,
  ) {}

  async call(method: string, path: string, body?: Buffer, headers: Record<string, string> = {}): Promise<Answer> {
    const r = await fetch(`${this.url}/v1/files${path}`, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...headers },
      ...(body ? { body } : {}),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    return { status: r.status, body: Buffer.from(await r.arrayBuffer()) };
  }
}

const now = (): number => systemClock.nowMs();

async function worker(gw: Gateway, h: ChaosHistory, paths: string[], w: number, seed: number, rng: SeededRng, untilMs: number, bigFiles: boolean): Promise<void> {
  const client = `w${w}`;
  for (let n = 0; now() < untilMs; n++) {
    const path = paths[rng.int(paths.length)]!;
    const r = rng.int(100);
    const tag = `s${seed}.${client}.${n};`;
    const callTime = now();
    const unknown = (op: 'put' | 'cas', value: string): void => h.add({ clientId: client, op, input: op === 'cas' ? { key: path, expected: '', value } : { key: path, value }, output: 'unknown', callTime, returnTime: Infinity });
    if (r < 50) {
      // Overwrite, or create only if absent.
      const create = r >= 40;
      const size = bigFiles && rng.int(3) === 0 ? BIG_FILE_BYTES_MIN + rng.int(2 * BIG_FILE_BYTES_MIN) : rng.int(2) === 0 ? rng.int(2048) : rng.int(300 * 1024);
      h.writing(path, tag);
      try {
        const a = await gw.call('PUT', path, versionBytes(tag, size), create ? { 'if-none-match': '*' } : {});
        const returnTime = now();
        if (a.status === 201) h.add({ clientId: client, op: create ? 'cas' : 'put', input: create ? { key: path, expected: '', value: tag } : { key: path, value: tag }, output: create ? { ok: true } : {}, callTime, returnTime });
        else if (create && a.status === 412) h.add({ clientId: client, op: 'cas', input: { key: path, expected: '', value: tag }, output: { ok: false }, callTime, returnTime });
        else unknown(create ? 'cas' : 'put', tag);
      } catch {
        unknown(create ? 'cas' : 'put', tag);
      }
    } else if (r < 85) {
      try {
        const a = await gw.call('GET', path);
        const returnTime = now();
        if (a.status === 200 || a.status === 404) {
          const v = h.readBytes(path, a.status === 404 ? null : a.body);
          if (v !== null) h.add({ clientId: client, op: 'get', input: { key: path }, output: { value: v }, callTime, returnTime });
        }
      } catch {
        // A read that never answered constrains nothing.
      }
    } else {
      try {
        const a = await gw.call('DELETE', path);
        const returnTime = now();
        if (a.status === 204) h.add({ clientId: client, op: 'put', input: { key: path, value: '' }, output: {}, callTime, returnTime });
        else if (a.status === 404) h.add({ clientId: client, op: 'get', input: { key: path }, output: { value: '' }, callTime, returnTime });
        else unknown('put', '');
      } catch {
        unknown('put', '');
      }
    }
    await sleep(rng.int(30));
  }
}

type Fault = (c: ChaosCluster, rng: SeededRng) => Promise<string>;

const pickOne = <T>(rng: SeededRng, xs: readonly T[]): T => xs[rng.int(xs.length)]!;
const seconds = (rng: SeededRng, lo: number, hi: number): number => (lo + rng.next() * (hi - lo)) * 1000;

/** Each fault starts, lasts, ends, and says what it was. */
const FAULTS: Fault[] = [
  async (c, rng) => {
    const leader = await c.leader();
    const id = leader !== null && rng.int(2) === 0 ? leader : pickOne(rng, c.metaIds);
    const ms = seconds(rng, 1, 4);
    await c.kill(id);
    await sleep(ms);
    c.restart(id);
    return `kill -9 ${id}${id === leader ? ' (leader)' : ''}, restarted after ${(ms / 1000).toFixed(1)} s`;
  },
  async (c, rng) => {
    const id = pickOne(rng, c.chunkIds);
    const ms = seconds(rng, 1, 4);
    await c.kill(id);
    await sleep(ms);
    c.restart(id);
    return `kill -9 ${id}, restarted after ${(ms / 1000).toFixed(1)} s`;
  },
  async (c, rng) => {
    const leader = await c.leader();
    const id = leader !== null && rng.int(2) === 0 ? leader : pickOne(rng, [...c.metaIds, ...c.chunkIds]);
    const ms = seconds(rng, 1, 5);
    c.pause(id);
    await sleep(ms);
    c.resume(id);
    return `SIGSTOP ${id}${id === leader ? ' (leader)' : ''}, SIGCONT after ${(ms / 1000).toFixed(1)} s`;
  },
  async (c, rng) => {
    const leader = await c.leader();
    if (leader === null) return 'leader cut: no leader known, skipped';
    const ms = seconds(rng, 3, 8);
    const followers = c.metaIds.filter((m) => m !== leader);
    c.isolate(leader, followers, true);
    await sleep(ms);
    c.isolate(leader, followers, false);
    return `leader ${leader} cut from its followers (not from clients) for ${(ms / 1000).toFixed(1)} s`;
  },
  async (c, rng) => {
    const ids = [...c.metaIds, ...c.chunkIds];
    const flows: Array<[string, string]> = [];
    for (let i = 0, k = 2 + rng.int(3); i < k; i++) {
      const a = pickOne(rng, ids);
      const b = pickOne(rng, ids.filter((x) => x !== a));
      flows.push([a, b]);
    }
    const ms = seconds(rng, 3, 8);
    for (const [a, b] of flows) c.net.setCut(a, b, true);
    await sleep(ms);
    for (const [a, b] of flows) c.net.setCut(a, b, false);
    return `one-way cuts ${flows.map(([a, b]) => `${a}>${b}`).join(' ')} for ${(ms / 1000).toFixed(1)} s`;
  },
  async (c, rng) => {
    const leader = await c.leader();
    if (leader === null) return 'chunk server cut from the leader: no leader known, skipped';
    const id = pickOne(rng, c.chunkIds);
    const ms = seconds(rng, 3, 9);
    c.isolate(id, [leader], true);
    await sleep(ms);
    c.isolate(id, [leader], false);
    return `${id} cut from the leader ${leader} (clients still reach it) for ${(ms / 1000).toFixed(1)} s`;
  },
  async (c, rng) => {
    const leader = await c.leader();
    if (leader === null) return 'gateway cut from the leader: no leader known, skipped';
    const ms = seconds(rng, 3, 8);
    c.isolate('gateway', [leader], true);
    await sleep(ms);
    c.isolate('gateway', [leader], false);
    return `gateway cut from the leader ${leader} alone for ${(ms / 1000).toFixed(1)} s`;
  },
  async (c, rng) => {
    const ids = [...c.metaIds, ...c.chunkIds, 'gateway'];
    const flows: Array<[string, string, number]> = [];
    for (let i = 0, k = 3 + rng.int(4); i < k; i++) {
      const a = pickOne(rng, ids);
      const b = pickOne(rng, ids.filter((x) => x !== a));
      flows.push([a, b, 50 + rng.int(350)]);
    }
    const ms = seconds(rng, 4, 8);
    for (const [a, b, d] of flows) c.net.setDelay(a, b, d);
    await sleep(ms);
    for (const [a, b] of flows) c.net.setDelay(a, b, 0);
    return `slow links ${flows.map(([a, b, d]) => `${a}>${b}+${d}ms`).join(' ')} for ${(ms / 1000).toFixed(1)} s`;
  },
];

async function finalRead(gw: Gateway, h: ChaosHistory, path: string, untilMs: number): Promise<string | null> {
  while (now() < untilMs) {
    const callTime = now();
    try {
      const a = await gw.call('GET', path);
      if (a.status === 200 || a.status === 404) {
        const v = h.readBytes(path, a.status === 404 ? null : a.body);
        if (v !== null) h.add({ clientId: 'final', op: 'get', input: { key: path }, output: { value: v }, callTime, returnTime: now() });
        return v;
      }
    } catch {
      // not yet
    }
    await sleep(500);
  }
  return null;
}

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const log = o.log ?? ((l: string) => console.log(l));
  const ownDir = o.dir === undefined;
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'cairn-chaos-'));
  const root = new SeededRng(o.seed);
  const cluster = await ChaosCluster.start({ dir, ...(o.bigFiles === true ? { chunkSizeBytes: BIG_FILE_BYTES_MIN } : {}) });
  const crashed: string[] = [];
  let faults = 0;
  try {
    log(`chaos: seed ${o.seed}, ${o.durationSec} s, cluster at ${cluster.gatewayUrl} (${dir})`);
    const gw = new Gateway(cluster.gatewayUrl, cluster.token);
    const paths = Array.from({ length: PATHS }, (_, i) => `/chaos/p${i}`);
    const h = new ChaosHistory(paths);
    const t0 = now();
    const untilMs = t0 + o.durationSec * 1000;
    const workers = Array.from({ length: WORKERS }, (_, w) => worker(gw, h, paths, w, o.seed, root.fork(), untilMs, o.bigFiles === true));
    const frng = root.fork();
    const schedule = (async (): Promise<void> => {
      await sleep(1000);
      // Rounds of every fault kind once, each round in an order drawn from the seed.
      let round: Fault[] = [];
      while (now() < untilMs - 3000) {
        if (round.length === 0) {
          round = [...FAULTS];
          for (let i = round.length - 1; i > 0; i--) {
            const j = frng.int(i + 1);
            [round[i], round[j]] = [round[j]!, round[i]!];
          }
        }
        const f = round.pop()!;
        const at = ((now() - t0) / 1000).toFixed(1);
        const what = await f(cluster, frng);
        faults++;
        log(`  ${at.padStart(6)} s  ${what}`);
        await sleep(seconds(frng, 0.5, 2));
      }
    })();
    await Promise.all([schedule, ...workers]);
    cluster.healAll();
    for (const id of [...cluster.metaIds, ...cluster.chunkIds]) {
      const how = cluster.exitedOnItsOwn(id);
      if (how !== null) {
        crashed.push(id);
        log(`chaos: ${how}`);
      }
    }
    await cluster.dev.waitReady(FINAL_READ_DEADLINE_MS);
    const finals = new Map<string, string>();
    const readBy = now() + FINAL_READ_DEADLINE_MS;
    for (const p of paths) {
      const v = await finalRead(gw, h, p, readBy);
      if (v !== null) finals.set(p, v);
    }
    const fig = h.figures(finals);
    const unread = paths.length - finals.size;
    const ok = fig.lost === 0 && fig.corrupt === 0 && fig.neverWritten === 0 && fig.linearizable && crashed.length === 0 && unread === 0;
    const report: ChaosReport = { ...fig, seed: o.seed, durationSec: o.durationSec, faults, crashed, ok };
    if (unread > 0) report.detail = `${unread} paths could not be read back after healing; ${report.detail ?? ''}`;
    return report;
  } finally {
    await cluster.stop();
    if (ownDir) rmSync(dir, { recursive: true, force: true });
  }
}

function parseArgs(argv: string[]): ChaosOptions & { quiet: boolean } {
  let seed = 1;
  let durationSec = 60;
  let dir: string | undefined;
  let quiet = false;
  let bigFiles = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--seed') seed = Number(argv[++i]);
    else if (a === '--duration') durationSec = Number(argv[++i]);
    else if (a === '--dir') dir = argv[++i];
    else if (a === '--quiet') quiet = true;
    else if (a === '--big-files') bigFiles = true;
    else throw new Error(`unexpected argument ${a}`);
  }
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error('--seed must be a non-negative integer');
  if (!Number.isFinite(durationSec) || durationSec < 5) throw new Error('--duration must be at least 5 seconds');
  return { seed, durationSec, quiet, bigFiles, ...(dir === undefined ? {} : { dir }) };
}

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  const r = await runChaos({ ...o, log: o.quiet ? () => {} : (l) => console.log(l) });
  console.log(
    `chaos: seed ${r.seed}, ${r.durationSec} s, ${r.faults} faults, ops ${r.ops} (acked ${r.acked}, unknown ${r.unknown}), reads ${r.reads}, ` +
      `lost ${r.lost}, corrupt ${r.corrupt}, never-written ${r.neverWritten}, linearizable ${r.linearizable ? 'yes' : 'NO'}, crashed ${r.crashed.length}`,
  );
  if (r.detail) console.log(`chaos: ${r.detail}`);
  console.log(`CHAOS_RESULT ${JSON.stringify(r)}`);
  return r.ok ? 0 : 1;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  process.exitCode = await main();
}
