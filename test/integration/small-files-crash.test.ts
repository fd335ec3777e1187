/**
 * Small files under kill -9 in the middle of a batch, with real processes (3 metadata servers,
 * 4 chunk servers, R = 3, 64 KiB chunks, the metadata servers' default inline threshold of
 * 64 KiB). Each round runs six writers at once, each putting its own seeded sequence of files:
 * inline ones (many tiny, some exactly at the threshold), chunked ones just above it, empty ones,
 * and overwrites of a path it owns, so Raft proposals arrive in batches. At a seeded moment of the
 * batch (after a drawn number of acknowledgements plus a drawn delay) kill -9 hits one victim:
 *   the metadata leader · a follower · a chunk server · every metadata server at once
 * and the victim is restarted a drawn moment later while the batch goes on; a last round freezes
 * the leader (SIGSTOP, as a long pause or a partition would) until another is elected and then
 * resumes it: a deposed leader with proposals in hand and clients still waiting on it. Then:
 *   - every acknowledged put reads back with exactly its bytes, an overwritten path with its last
 *     acknowledged version or a later attempt, and an unacknowledged put is wholly there or
 *     absent, never partial (test/support/small-file-batch.ts);
 *   - every metadata server's own committed state has the same paths (fs.statLocal), and every
 *     chunk is back at 3 replicas;
 * and at the end, with every server stopped, the three state stores hold the same namespace byte
 * for byte, and every inline file's bytes on each of them are the ones read back.
 * Replay a failure with CAIRN_SEED=<the seed printed at the start>.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCairnClient, type CairnClient } from '../../src/client/index.js';
import { INLINE_BYTES_MAX_DEFAULT } from '../../src/config/defaults.js';
import { SeededRng } from '../../src/env/rng.js';
import { sleep, systemClock, systemRng } from '../../src/env/system.js';
import { findFreePortRange } from '../../src/net/index.js';
import { DevCluster, PORT_SPAN } from '../../src/server/dev-cluster.js';
import { MetaReplicas, namespaceDifferences, namespaceOnDisk, serversDown } from '../support/meta-replicas.js';
import { checkSmallPuts, planSmallPuts, runSmallPuts, type PutRecord } from '../support/small-file-batch.js';
import { assertBuilt } from './cli-harness.js';
import { until } from './wait.js';

const CHUNK = 64 * 1024;
const INLINE_MAX = INLINE_BYTES_MAX_DEFAULT;
const WRITERS = 6;
const PUTS_PER_WRITER = 20;
const PUTS = WRITERS * PUTS_PER_WRITER;
/** Polls for the leader at a kill, 20 ms apart. */
const LEADER_POLLS_MAX = 250;
const SEED = (process.env.CAIRN_SEED === undefined ? systemRng.int(2 ** 31) : Number(process.env.CAIRN_SEED)) >>> 0;

type Victim = 'leader' | 'follower' | 'chunk server' | 'every metadata server' | 'frozen leader';
const VICTIMS: Victim[] = ['leader', 'follower', 'chunk server', 'every metadata server', 'frozen leader'];
const TITLES: Record<Victim, string> = {
  leader: 'kill -9 of the metadata leader',
  follower: 'kill -9 of a metadata follower',
  'chunk server': 'kill -9 of a chunk server',
  'every metadata server': 'kill -9 of every metadata server at once',
  'frozen leader': 'the metadata leader frozen (SIGSTOP) until another is elected, then resumed',
};

describe('small files under kill -9 mid-batch', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-small-crash-'));
  let cluster: DevCluster;
  let replicas: MetaReplicas;
  let reader: CairnClient;
  /** Every path written so far and what the last check read there. */
  const held = new Map<string, Buffer | null>();
  /** Servers stopped with SIGSTOP and not resumed yet. */
  const frozen: string[] = [];
  /** An impatient client gives up on a put within about half a second: its puts may fail after being sent. */
  const newClient = (impatient = false): CairnClient =>
    createCairnClient(
      { metaAddrs: cluster.metaAddrs, token: cluster.token },
      impatient ? { callTimeoutMs: 250, retryDeadlineMs: 600, chunkIdleTimeoutMs: 1000 } : { callTimeoutMs: 2000, retryDeadlineMs: 20_000, chunkIdleTimeoutMs: 3000 },
    );

  beforeAll(async () => {
    assertBuilt();
    console.log(`small-files-crash: seed ${SEED} (replay with CAIRN_SEED=${SEED})`);
    const portBase = await findFreePortRange(PORT_SPAN, (n) => systemRng.int(n));
    cluster = new DevCluster({ dir, portBase, meta: 3, chunks: 4, replicas: 3, chunkSize: CHUNK, inlineBytesMax: INLINE_MAX, heartbeatMs: 200, deadAfterSec: 10, gateway: false });
    cluster.start();
    await cluster.waitReady(60_000);
    replicas = new MetaReplicas(cluster);
    reader = newClient();
  }, 90_000);

  afterAll(async () => {
    for (const id of frozen) process.kill(cluster.member(id).proc.pid!, 'SIGCONT');
    reader?.close();
    replicas?.close();
    await cluster?.stop(5000);
    if (process.env.CAIRN_KEEP_TEST_DIR) console.log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  /** The metadata leader now (polled: there may be an election under way). */
  async function currentLeader(): Promise<string> {
    for (let i = 0; i < LEADER_POLLS_MAX; i++) {
      const id = await replicas.leader();
      if (id !== null) return id;
      await sleep(20);
    }
    throw new Error('no metadata leader to tell leader from follower');
  }

  /** Kills the victim's processes with SIGKILL (a frozen leader: SIGSTOP); returns their ids. */
  async function hit(victim: Victim, rng: SeededRng): Promise<string[]> {
    const metaIds = cluster.meta.map((m) => m.id);
    let ids: string[];
    if (victim === 'every metadata server') ids = metaIds;
    else if (victim === 'chunk server') ids = [cluster.chunks[rng.int(cluster.chunks.length)]!.id];
    else {
      const leader = await currentLeader();
      const followers = metaIds.filter((id) => id !== leader);
      ids = [victim === 'follower' ? followers[rng.int(followers.length)]! : leader];
    }
    if (victim === 'frozen leader') {
      for (const id of ids) process.kill(cluster.member(id).proc.pid!, 'SIGSTOP');
      frozen.push(...ids);
    } else await Promise.all(ids.map((id) => cluster.member(id).proc.kill('SIGKILL')));
    return ids;
  }

  /** Restarts killed servers, resumes frozen ones. */
  function revive(ids: string[]): void {
    for (const id of ids) {
      const i = frozen.indexOf(id);
      if (i < 0) cluster.member(id).proc.start();
      else {
        process.kill(cluster.member(id).proc.pid!, 'SIGCONT');
        frozen.splice(i, 1);
      }
    }
  }

  async function round(index: number, victim: Victim): Promise<void> {
    const rng = new SeededRng(SEED + index * 7919);
    const plan = planSmallPuts(rng, { prefix: `/crash${index}`, writers: WRITERS, putsPerWriter: PUTS_PER_WRITER, inlineBytesMax: INLINE_MAX });
    const killAfterAcks = Math.floor(PUTS * (0.15 + 0.45 * rng.next()));
    const killDelayMs = rng.int(25);
    // How long the victim stays down (a frozen leader: after another was elected).
    const downMs = 200 + rng.int(800);
    // Writers 2 and 5 are impatient: the puts they give up on are the unacknowledged ones.
    const writers = [newClient(), newClient(), newClient(true)];
    const fault: { run: Promise<{ ids: string[]; ackedAtKill: number; doneAtKill: number }> | null } = { run: null };
    let acked = 0;
    let done = 0;
    const t0 = systemClock.nowMs();
    const records: PutRecord[] = await runSmallPuts(writers, plan, {
      onAck: (n) => {
        acked = n;
        if (n !== killAfterAcks || fault.run) return;
        fault.run = (async () => {
          await sleep(killDelayMs);
          const at = { ackedAtKill: acked, doneAtKill: done };
          const ids = await hit(victim, rng);
          if (victim === 'frozen leader') {
            await until('another leader elected while the old one is frozen', 15_000, async () => !ids.includes((await replicas.leader()) ?? ids[0]!), 50);
          }
          await sleep(downMs);
          revive(ids);
          return { ids, ...at };
        })();
      },
      onSettled: () => {
        done++;
      },
    }).finally(() => {
      for (const w of writers) w.close();
    });
    expect(fault.run, `the batch ended before ${killAfterAcks} acknowledgements`).not.toBeNull();
    const f = await fault.run!;
    const ok = records.filter((r) => r.acked).length;
    const errors = new Map<string, number>();
    for (const r of records) if (r.error) errors.set(r.error, (errors.get(r.error) ?? 0) + 1);
    console.log(
      `small-files-crash round ${index} (seed ${SEED}): ${TITLES[victim]}: ${f.ids.join(',')} after ${killAfterAcks} acks + ${killDelayMs} ms ` +
        `(${f.doneAtKill} of ${PUTS} puts settled then), back after ${downMs} ms; ${ok} of ${PUTS} acknowledged in ${Math.round(systemClock.nowMs() - t0)} ms` +
        (errors.size > 0 ? `; failed: ${[...errors].map(([e, n]) => `${e} ×${n}`).join(', ')}` : ''),
    );
    // The kill landed mid-batch: puts were still in flight and more were acknowledged after it.
    expect(f.doneAtKill).toBeLessThan(PUTS);
    expect(ok).toBeGreaterThan(f.ackedAtKill);

    // Every server is back (waitReady does not notice one that failed to restart once the rest are ready).
    await cluster.waitReady(60_000);
    expect(serversDown(cluster)).toEqual([]);
    await replicas.converge(30_000);
    const check = await checkSmallPuts(reader, records);
    console.log(`small-files-crash round ${index}: ${check.contents.size} paths read back; without an acknowledged put ${check.unackedPresent} present, ${check.unackedAbsent} absent`);
    expect(check.problems).toEqual([]);
    for (const [p, b] of check.contents) held.set(p, b);
    // Every metadata server's own committed state has the same paths, the ones read back.
    const paths = [...held.keys()];
    expect(await replicas.disagreements(paths)).toEqual([]);
    const types = await replicas.typesOn(replicas.ids[0]!, paths);
    expect(paths.filter((p, i) => (types[i] === 'file') !== (held.get(p) !== null))).toEqual([]);
    await until('every chunk at 3 live replicas', 30_000, async () => {
      const st = await reader.status();
      return st.chunks.underReplicated === 0 && st.chunks.lost === 0;
    });
  }

  VICTIMS.forEach((victim, i) => {
    it(`${TITLES[victim]}, mid-batch: acknowledged puts are all there, byte-exact, on every server`, () => round(i, victim), 90_000);
  });

  it('with every server stopped, the metadata servers hold the same namespace on disk, inline bytes included', async () => {
    await replicas.converge(30_000);
    reader.close();
    replicas.close();
    await cluster.stop(10_000);
    const disks = await Promise.all(cluster.meta.map(async (m) => [m.id, await namespaceOnDisk(m.dir)] as [string, Awaited<ReturnType<typeof namespaceOnDisk>>]));
    for (const other of disks.slice(1)) expect(namespaceDifferences(disks[0]!, other)).toEqual([]);
    let inline = 0;
    for (const [id, disk] of disks) {
      // The inline counter status reports is exactly the inline files there are (no entry counted twice across the crashes).
      const inlineFiles = [...disk.files.values()].filter((f) => f.inline !== null);
      expect(disk.inline, `inline counter on ${id}`).toEqual({ files: inlineFiles.length, bytes: inlineFiles.reduce((a, f) => a + f.size, 0) });
      for (const [p, want] of held) {
        const f = disk.files.get(p);
        if (want === null) {
          expect(f, `${p} on ${id}`).toBeUndefined();
          continue;
        }
        expect(f?.size, `${p} on ${id}`).toBe(want.length);
        // Up to the threshold the bytes themselves are in this server's state; above it (or empty), chunks.
        expect(f!.inline !== null, `${p} (${want.length} bytes) inline on ${id}`).toBe(want.length > 0 && want.length <= INLINE_MAX);
        if (f!.inline) {
          expect(f!.inline.equals(want), `${p} inline bytes on ${id}`).toBe(true);
          inline++;
        }
      }
    }
    expect(inline).toBeGreaterThan(0);
  }, 60_000);
});
