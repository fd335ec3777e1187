/**
 * The web console's gateway routes over a stand-in client: the static files are open and carry
 * a strict CSP, every /v1/console route needs the token, bad input is a JSON error, the
 * cluster answer carries the leader's status as /v1/status gives it, and the timeline samples.
 * The browser itself is driven in test/integration/console.test.ts.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { Script } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLE_ASSETS } from '../../../src/api/console/console-assets.js';
import { ConsoleTimeline } from '../../../src/api/console/console-timeline.js';
import { mergeMembers, ringShares } from '../../../src/api/console/console-cluster.js';
import { createGatewayApp } from '../../../src/api/gateway-app.js';
import type { CairnClient, ClusterStatus } from '../../../src/client/index.js';
import type { Timers } from '../../../src/env/clock.js';
import { systemClock } from '../../../src/env/system.js';
import { CairnError } from '../../../src/util/errors.js';
import { silentLogger } from '../../../src/util/logger.js';

const STATUS: ClusterStatus = {
  health: 'healthy',
  leader: 'm1',
  meta: [
    { id: 'm1', addr: null, role: 'leader' },
    { id: 'm2', addr: null, role: 'follower' },
  ],
  chunkServers: [
    { id: 'c1', addr: '127.0.0.1:1', state: 'alive', used: 10, capacity: 100, chunks: 3 },
    { id: 'c2', addr: '127.0.0.1:2', state: 'alive', used: 20, capacity: 100, chunks: 1 },
    { id: 'c3', addr: '127.0.0.1:3', state: 'dead', used: 0, capacity: 100, chunks: 0 },
  ],
  chunks: { total: 2, underReplicated: 0, lost: 0 },
  raft: { term: 4, commit: 17, applied: 17 },
  metaDetail: { m1: { term: 4, commit: 17, applied: 17, lag: 0, lastContactMs: 0 }, m2: { term: null, commit: null, applied: null, lag: 2, lastContactMs: null } },
};
const RING = {
  version: 7,
  replicas: 2,
  servers: [
    { id: 'c1', zone: 'z1', weight: 1, state: 'up' as const },
    { id: 'c2', zone: 'z2', weight: 3, state: 'up' as const },
    { id: 'c3', zone: 'z1', weight: 1, state: 'up' as const },
  ],
};

describe('console routes', () => {
  let server: Server;
  let base: string;
  const stats: string[] = [];
  const client = {
    status: async () => STATUS,
    ring: async () => RING,
    repairStatus: async () => ({ copiesQueued: 0, copiesInFlight: 0, copiesConfirmed: 5, copyBytes: 50, copyBytesPerSec: 0, deletesQueued: 0, deletesScheduled: 0, garbageChunks: 0, ready: true, reportsPending: [], underReplicated: 0, lost: 0 }),
    scrubStatus: async () => {
      throw new CairnError('NotFound', 'no scrub round');
    },
    stat: async (p: { text: string }) => {
      stats.push(p.text);
      if (p.text === '/missing') throw new CairnError('NotFound', `${p.text} does not exist`);
      return { path: p.text, type: 'file', size: 5, mtime: 1000, etag: 'e1', crc32c: 0xabc, attrs: {}, chunks: [{ id: 'k1', size: 5, replicas: ['c1', 'c2'] }] };
    },
    newRequestId: () => 'rid-1',
  } as unknown as CairnClient;

  beforeAll(async () => {
    const { app } = createGatewayApp({ client, token: 'secret', logger: silentLogger, clock: systemClock });
    server = app.listen(0, '127.0.0.1');
    await new Promise<void>((r) => server.once('listening', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  const auth = { authorization: 'Bearer secret' };
  const errorOf = async (res: Response): Promise<{ code: string; message: string }> => ((await res.json()) as { error: { code: string; message: string } }).error;

  it('serves the page and its files without a token, each with a CSP that forbids inline script and other origins', async () => {
    for (const [path, type] of [
      ['/ui/', /text\/html/],
      ['/ui/console.css', /text\/css/],
      ['/ui/app.js', /javascript/],
      ['/ui/cluster.js', /javascript/],
      ['/ui/files.js', /javascript/],
    ] as const) {
      const res = await fetch(base + path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type')).toMatch(type);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:/);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    }
    const page = await (await fetch(`${base}/ui/`)).text();
    expect(page).not.toMatch(/<script>|<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+=|style=|https?:\/\/(?!www\.w3\.org)/);
    const redirect = await fetch(`${base}/ui`, { redirect: 'manual' });
    expect(redirect.status).toBe(301);
    expect(redirect.headers.get('location')).toBe('/ui/');
    const missing = await fetch(`${base}/ui/nope.js`);
    expect(missing.status).toBe(404);
    expect((await errorOf(missing)).code).toBe('NotFound');
    expect((await fetch(`${base}/ui/toString`)).status).toBe(404);
  });

  it('every script asset is valid JavaScript', () => {
    for (const [name, a] of Object.entries(CONSOLE_ASSETS)) if (name.endsWith('.js')) expect(() => new Script(a.body, { filename: name }), name).not.toThrow();
  });

  it('every /v1/console route refuses a missing or wrong token with 401 JSON', async () => {
    for (const path of ['/v1/console/cluster', '/v1/console/timeline', '/v1/console/stat/a.txt']) {
      for (const headers of [{}, { authorization: 'Bearer wrong' }] as Array<Record<string, string>>) {
        const res = await fetch(base + path, { headers });
        expect(res.status, path).toBe(401);
        expect((await errorOf(res)).code).toBe('Unauthorized');
      }
    }
  });

  it('cluster: the leader status as /v1/status gives it, members merged, ring shares expected by weight among alive servers and actual by replicas', async () => {
    const res = await fetch(`${base}/v1/console/cluster`, { headers: auth });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    const plain = (await (await fetch(`${base}/v1/status`, { headers: auth })).json()) as unknown;
    expect(body.status).toEqual(plain);
    expect(body.members).toEqual({
      m1: { reachable: true, raftRole: 'leader', term: 4, commit: 17, applied: 17, lag: 0, lastContactMs: 0 },
      m2: { reachable: false, raftRole: null, term: null, commit: null, applied: null, lag: 2, lastContactMs: null },
    });
    expect(body.ring).toEqual({
      version: 7,
      replicas: 2,
      servers: [
        { id: 'c1', zone: 'z1', weight: 1, ringState: 'up', expectedShare: 0.25, actualShare: 0.75 },
        { id: 'c2', zone: 'z2', weight: 3, ringState: 'up', expectedShare: 0.75, actualShare: 0.25 },
        { id: 'c3', zone: 'z1', weight: 1, ringState: 'up', expectedShare: 0, actualShare: 0 },
      ],
    });
    expect(body.scrub).toBeNull();
    expect((body.repair as { copiesConfirmed: number }).copiesConfirmed).toBe(5);
  });

  it('stat: `cairn stat --json` keys with the CRC as 8 hex digits; a missing file is 404 JSON, a bad path 400 JSON', async () => {
    const res = await fetch(`${base}/v1/console/stat/d%20ir/a.txt`, { headers: auth });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ path: '/d ir/a.txt', type: 'file', size: 5, mtime: 1000, etag: 'e1', crc32c: '00000abc', chunks: [{ id: 'k1', size: 5, replicas: ['c1', 'c2'] }] });
    const missing = await fetch(`${base}/v1/console/stat/missing`, { headers: auth });
    expect(missing.status).toBe(404);
    expect(await errorOf(missing)).toEqual({ code: 'NotFound', message: '/missing does not exist' });
    for (const bad of ['/v1/console/stat/a/%2e%2e%2fb', '/v1/console/stat/%ff', '/v1/console/stat/a//b']) {
      const r = await fetch(base + bad, { headers: auth });
      expect(r.status, bad).toBe(400);
      expect((await errorOf(r)).code).toBe('InvalidPath');
    }
  });

  it('timeline: without timers in the gateway the answer is empty, not an error', async () => {
    const res = await fetch(`${base}/v1/console/timeline`, { headers: auth });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ nowMs: 0, sampleMs: 0, samples: [] });
  });
});

describe('console timeline', () => {
  it('samples rates between samples, keeps at most samplesMax, records nulls when the leader does not answer', async () => {
    let now = 0;
    let bytesIn = 0;
    let fail = false;
    const timers: Timers = { setTimeout: () => ({ cancel() {} }), setInterval: () => ({ cancel() {} }) };
    const tl = new ConsoleTimeline(
      {
        clock: { nowMs: () => now },
        timers,
        repairStats: async () => {
          if (fail) throw new CairnError('Unavailable', 'no leader');
          return { copyBytesPerSec: 7, underReplicated: 3, lost: 1 };
        },
        bytesTotals: async () => ({ bytesIn, bytesOut: 0 }),
      },
      { sampleMs: 1000, samplesMax: 3 },
    );
    await tl.sample();
    now = 2000;
    bytesIn = 4000;
    await tl.sample();
    fail = true;
    now = 3000;
    await tl.sample();
    now = 4000;
    await tl.sample();
    const snap = tl.snapshot();
    expect(snap.samples.map((s) => s.atMs)).toEqual([2000, 3000, 4000]);
    expect(snap.samples[0]).toEqual({ atMs: 2000, bytesInPerSec: 2000, bytesOutPerSec: 0, repairBytesPerSec: 7, underReplicated: 3, lost: 1 });
    expect(snap.samples[1]).toEqual({ atMs: 3000, bytesInPerSec: 0, bytesOutPerSec: 0, repairBytesPerSec: null, underReplicated: null, lost: null });
    expect(snap.nowMs).toBe(4000);
  });
});

describe('console cluster figures', () => {
  it('a member answering for itself wins over the leader view; unknown ring servers get no zone', () => {
    const own = [{ id: 'm2', term: 4, role: 'follower', leader: 'm1', commit: 15, applied: 15, lastIndex: 15, conf: { voters: ['m1', 'm2'], learners: [] }, addrs: {}, leaderContactMs: 12 }] as const;
    const m = mergeMembers(STATUS, own as never);
    expect(m.m2).toEqual({ reachable: true, raftRole: 'follower', term: 4, commit: 15, applied: 15, lag: 2, lastContactMs: 12 });
    const r = ringShares(STATUS, { version: 1, replicas: 2, servers: [RING.servers[0]!] });
    expect(r.servers[1]).toEqual({ id: 'c2', zone: null, weight: null, ringState: null, expectedShare: 0, actualShare: 0.25 });
    expect(r.servers[0]!.expectedShare).toBe(1);
  });
});
