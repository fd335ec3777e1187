/**
 * Property-based fuzzing (fast-check) of every metadata RPC method against a real metadata group
 * (3 `cairn meta` processes, started once for the file): malformed request bodies (junk of any
 * shape, and valid-looking templates with one field broken, dropped or an unknown one added) with
 * the client token and, for the cluster-service methods, with the cluster secret; then whole frames
 * of random bytes before and after the handshake. Each call gets an answer or a typed RPC error
 * (a known code, never Internal); afterwards the leader is the same and answers, the namespace
 * listing and a stat of a fixed directory are unchanged, and the leader holds no more open file
 * descriptors than before (no leaked connections). Seeds are printed on failure (fast-check).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep, systemRng, systemTimers } from '../../src/env/system.js';
import { findFreePortRange, RpcClient, splitAddr } from '../../src/net/index.js';
import { META_METHODS } from '../../src/proto/meta-requests.js';
import { ERROR_CODES, isCairnError } from '../../src/util/errors.js';
import { LocalMetaCluster } from '../support/local-meta-cluster.js';

const CHUNK_ID = '0123456789abcdef0123456789abcdef';
/** Per method; 30 methods × 2 roles. */
const RUNS_PER_METHOD = 25;
const FRAME_RUNS = 40;
const FD_SLACK = 8;

/** A plausible body per method; write methods name an invalid (relative) path, so none can succeed. */
const TEMPLATES: Record<string, Record<string, unknown>> = {
  'fs.stat': { path: '/fixed' },
  'fs.list': { path: '/', limit: 10, cursor: null },
  'fs.walk': { path: '/', limit: 10 },
  'fs.mkdir': { path: 'rel/dir', parents: true, s: ['cl-fuzz', 1, 0] },
  'fs.rm': { path: 'rel/x', recursive: true, s: ['cl-fuzz', 2, 0] },
  'fs.mv': { from: 'rel/x', to: 'rel/y', s: ['cl-fuzz', 3, 0] },
  'fs.copy': { from: 'rel/x', to: 'rel/y', overwrite: true, parents: true, s: ['cl-fuzz', 4, 0] },
  'fs.view': {},
  'fs.alloc': { count: 1 },
  'fs.retarget': { id: CHUNK_ID, exclude: ['c1'] },
  'fs.commit': { path: 'rel/f', size: 1, etag: 'x', chunks: [[CHUNK_ID, 1, 0]], overwrite: true, parents: true, s: ['cl-fuzz', 5, 0] },
  'fs.put': { path: 'rel/f', data: new Uint8Array(3), crc: 0, overwrite: true, parents: true, s: ['cl-fuzz', 6, 0] },
  'fs.open': { path: '/fixed', first: 0, count: 1 },
  'fs.bad': { id: CHUNK_ID, server: 'c1' },
  'cluster.status': {},
  'fs.statLocal': { paths: ['/fixed'] },
  'cs.register': { addr: '127.0.0.1:1', zone: 'z', capacityBytes: 1 },
  'cs.heartbeat': { usedBytes: 0, capacityBytes: 1, freeBytes: 1, chunks: 0, full: false },
  'cs.reportBegin': { report: 1 },
  'cs.reportPage': { report: 1, ids: [CHUNK_ID] },
  'cs.reportEnd': { report: 1 },
  'cs.update': { added: [CHUNK_ID], removed: [] },
  'cs.work': { waitMs: 0 },
  'raft.status': {},
  'cluster.drain': { id: 'c-none' },
  'cluster.remove': { id: 'c-none', force: false },
  'cluster.repair': {},
  'cluster.scrub': { server: 'c-none' },
  'cluster.scrubStatus': { round: 'none' },
  'cs.scrubReport': { round: 'none', page: 1, verified: [], corrupt: [], done: false },
  // Two invalid paths: one broken field cannot make a request that succeeds.
  'fs.concat': { dir: 'rel/d', names: ['a'], to: 'rel/y', overwrite: true, parents: true, s: ['cl-fuzz', 7, 0] },
  'cluster.backupOpen': {},
  'cluster.backupNext': { cursor: 'none', seq: 1 },
  'cluster.backupClose': { cursor: 'none' },
  // Membership: an invalid id and address, so no fuzzed body adds or removes a real member.
  'meta.add': { id: 'bad id', addr: 'no-port' },
  'meta.remove': { id: 'bad id' },
  'meta.transferLeader': { id: 'bad id' },
};

/**
 * Bodies that are valid requests which change the group (not malformed): a transfer with no `id`
 * (or a nil body) hands leadership to any voter — a real leader change, which this test must not cause.
 */
function legitimate(method: string, body: unknown): boolean {
  if (method !== 'meta.transferLeader') return false;
  // A nil body reads as {} (no arguments), as for every method.
  if (body === null || body === undefined) return true;
  return typeof body === 'object' && !Array.isArray(body) && !(body instanceof Uint8Array) && typeof (body as { id?: unknown }).id !== 'string';
}

/** Values of the wrong kind or out of range for any field. */
const junk = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 }),
  fc.double(),
  fc.constantFrom('', '.', '..', '/a/../b', '/a\u0000b', '/\u202e', 'x'.repeat(70_000), '/' + 'd/'.repeat(300)),
  fc.string({ maxLength: 40 }),
  fc.uint8Array({ maxLength: 64 }),
  fc.array(fc.anything({ maxDepth: 2 }), { maxLength: 5 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.anything({ maxDepth: 1 }), { maxKeys: 4 }),
);

/** A body: junk of any shape, or the method's template with one field broken, dropped, or one added. */
function bodyFor(method: string): fc.Arbitrary<unknown> {
  const t = TEMPLATES[method]!;
  const keys = Object.keys(t);
  const broken = keys.length === 0 ? fc.constant({ unexpected: 1 }) : fc.tuple(fc.constantFrom(...keys), junk).map(([k, v]) => ({ ...t, [k]: v }));
  const dropped = keys.length === 0 ? fc.constant(t) : fc.constantFrom(...keys).map((k) => Object.fromEntries(Object.entries(t).filter(([x]) => x !== k)));
  const added = fc.tuple(fc.string({ minLength: 1, maxLength: 10 }), junk).map(([k, v]) => ({ [k]: v, ...t }));
  return fc.oneof(fc.anything({ maxDepth: 3 }), broken, dropped, added, junk);
}

function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

describe('fuzzing the metadata RPC', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-fuzz-meta-'));
  let cluster: LocalMetaCluster;
  let leader: string;
  let client: RpcClient;
  let service: RpcClient;

  const snapshot = async (): Promise<unknown> => [await client.call('fs.list', { path: '/' }, { timeoutMs: 5000 }), await client.call('fs.stat', { path: '/fixed' }, { timeoutMs: 5000 })];

  beforeAll(async () => {
    const basePort = await findFreePortRange(10, (n) => systemRng.int(n));
    cluster = new LocalMetaCluster({ dir, basePort, tickMs: 50, electionTicks: 10 });
    cluster.startAll();
    leader = await cluster.waitForLeader(20_000);
    client = cluster.client(leader);
    const secret = readFileSync(join(dir, 'cluster.secret'), 'utf8').trim();
    service = new RpcClient({ timers: systemTimers }, { addr: cluster.addrs.get(leader)!, clientToken: secret, serviceId: 'c-fuzz', connectTimeoutMs: 1000 });
    await cluster.session({ retryDeadlineMs: 10_000 }).call('fs.mkdir', { path: '/fixed', parents: true, s: ['cl-setup', 1, 0] });
  }, 40_000);

  afterAll(async () => {
    service?.close();
    await cluster?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** An answer, or a typed error that is not Internal. */
  const expectClearAnswer = async (p: Promise<unknown>, what: string): Promise<void> => {
    try {
      await p;
    } catch (e) {
      if (!isCairnError(e) || !(e.code in ERROR_CODES) || e.code === 'Internal') throw new Error(`${what}: not a clear RPC error: ${String(e)}`);
      expect(e.code).not.toBe('Timeout');
    }
  };

  it('answers every method with malformed bodies clearly, and changes nothing', async () => {
    const before = await snapshot();
    const term = (await cluster.status(leader))!.term;
    const pid = cluster.proc(leader).pid!;
    const fds = fdCount(pid);
    for (const method of META_METHODS) {
      const callers = method.startsWith('cs.') ? [client, service] : [client];
      for (const caller of callers) {
        await fc.assert(
          fc.asyncProperty(bodyFor(method).filter((b) => !legitimate(method, b)), async (body) => {
            await expectClearAnswer(caller.call(method, body, { timeoutMs: 5000 }), `${method} ${JSON.stringify(body, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))?.slice(0, 200)}`);
          }),
          { numRuns: RUNS_PER_METHOD },
        );
      }
    }
    // Unknown methods too.
    await fc.assert(fc.asyncProperty(fc.string({ maxLength: 30 }), fc.anything({ maxDepth: 2 }), async (m, body) => expectClearAnswer(client.call(`x.${m}`, body, { timeoutMs: 5000 }), `x.${m}`)), { numRuns: 20 });
    expect(await snapshot()).toEqual(before);
    expect(await cluster.status(leader)).toMatchObject({ role: 'leader', term });
    expect(fdCount(pid)).toBeLessThanOrEqual(fds + FD_SLACK);
  }, 120_000);

  it('survives frames of random bytes before and after the handshake', async () => {
    const before = await snapshot();
    const term = (await cluster.status(leader))!.term;
    const pid = cluster.proc(leader).pid!;
    const fds = fdCount(pid);
    const { host, port } = splitAddr(cluster.addrs.get(leader)!);
    /** Send `bytes` on a fresh connection; resolves when the server closes it (or after 300 ms). */
    const sendRaw = (bytes: Uint8Array): Promise<void> =>
      new Promise((resolve) => {
        const s = createConnection({ host, port });
        s.on('error', () => {});
        const done = (): void => {
          s.destroy();
          resolve();
        };
        s.on('close', done);
        s.write(bytes);
        void sleep(300).then(done);
      });
    const frame = fc.oneof(
      fc.uint8Array({ maxLength: 512 }),
      // A length header then garbage (a claimed size up to 4 GiB).
      fc.tuple(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.uint8Array({ maxLength: 256 })).map(([n, b]) => {
        const h = Buffer.alloc(4);
        h.writeUInt32BE(n);
        return Buffer.concat([h, b]);
      }),
    );
    await fc.assert(fc.asyncProperty(frame, sendRaw), { numRuns: FRAME_RUNS });
    // And the same after a good handshake: an authenticated client sending garbage.
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 256 }), async (b) => {
        const c = new RpcClient({ timers: systemTimers }, { addr: cluster.addrs.get(leader)!, clientToken: cluster.token, connectTimeoutMs: 1000 });
        try {
          await c.call('fs.stat', { path: '/' }, { timeoutMs: 5000 });
          // A well-formed frame of junk through the client's own connection.
          await expectClearAnswer(c.call('fs.stat', b, { timeoutMs: 5000 }), 'fs.stat raw bytes');
        } finally {
          c.close();
        }
      }),
      { numRuns: FRAME_RUNS },
    );
    await sleep(500);
    expect(await snapshot()).toEqual(before);
    expect(await cluster.status(leader)).toMatchObject({ role: 'leader', term });
    expect(fdCount(pid)).toBeLessThanOrEqual(fds + FD_SLACK);
  }, 120_000);
});
