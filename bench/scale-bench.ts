/**
 * Namespace scale: FILES empty files in a 3-server metadata group (real processes, fsync on), then
 *   create     files/s while building it (fs.commit, CONC concurrent callers, one Raft entry each)
 *   size       each metadata server's RSS (VmRSS) and its LMDB files on disk (allocated bytes)
 *   status     one `cluster.status` (what `cairn status` asks the leader), seconds, and the
 *              elections around it (a leader that stops too long is replaced)
 *   rm         `rm -r` of the directory of BIG entries: seconds until it answered, until status
 *              no longer counts its files (the leader purges them in bounded steps), and the
 *              elections around it
 *   list       a directory of BIG entries read page by page (1,000 per page), seconds
 *   snapshot   a follower stopped LAG files before the end (the leader's log is compacted past
 *              it meanwhile) and started again: seconds from its start until it has applied
 *              what the leader committed — the time to stream and install a snapshot of the
 *              whole namespace. (A follower whose disk was wiped cannot rejoin under its old id:
 *              Raft needs it removed and added again, a membership change.)
 * Empty files keep the figure about the namespace itself (a file's inode, its directory entry,
 * the exactly-once session record), not about data.
 *
 * With `--file-bytes N` (N ≤ the inline threshold, 64 KiB by default) every file holds N bytes
 * stored inline with its metadata (one fs.put each), so the state, its snapshot and the catch-up
 * carry the data too. Those runs print their figures under `scale_inline_…` (the empty-file
 * names keep their meaning), plus the inline bytes the leader counts and the snapshot the
 * leader streamed to the follower (`…_snapshot_mib`, `…_snapshot_send_seconds`, from its log).
 *
 * Output: one `name value` per line.
 * Usage: npm run bench:scale [-- --files 1000000 --big-dir 100000 --conc 64 --file-bytes 4096]
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, statSync, mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { sleep, systemRng, systemTimers } from '../src/env/system.js';
import { findFreePortRange, RpcClient } from '../src/net/index.js';
import { INLINE_BYTES_MAX_DEFAULT } from '../src/config/defaults.js';
import { decodeClusterStatus, decodeList, decodeRaftStatus, decodeRepairStatus } from '../src/proto/meta-answers.js';
import { DevCluster } from '../src/server/dev-cluster.js';
import { crc32c } from '../src/util/crc32c.js';
import { checkBenchArgs } from './bench-args.js';

checkBenchArgs('bench:scale', [
  { name: 'files', value: 'number', help: 'files in the namespace (default 1000000)' },
  { name: 'big-dir', value: 'number', help: 'entries of the one big directory listed (default 100000)' },
  { name: 'conc', value: 'number', help: 'concurrent creates (default 64)' },
  { name: 'catch-up-timeout-sec', value: 'number', help: 'longest wait for the new follower (default 600)' },
  { name: 'file-bytes', value: 'number', help: 'bytes in each file, stored inline (default 0: empty files)' },
]);

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}

const FILES = arg('files', 1_000_000);
const BIG = Math.min(FILES, arg('big-dir', 100_000));
const CONC = arg('conc', 64);
const CATCH_UP_SECONDS = arg('catch-up-timeout-sec', 600);
const FILE_BYTES = arg('file-bytes', 0);
if (!Number.isSafeInteger(FILE_BYTES) || FILE_BYTES < 0 || FILE_BYTES > INLINE_BYTES_MAX_DEFAULT)
  throw new Error(`--file-bytes: 0 to ${INLINE_BYTES_MAX_DEFAULT} (files stored inline)`);
/** Figure names: the empty-file run's, or the inline run's beside them. */
const FIG = FILE_BYTES > 0 ? 'scale_inline' : 'scale';
/** Entries written while the follower is down: more than the leader's snapshot interval (10,000) plus its compaction lag (1,000). */
const LAG = 15_000;
const CONNS = 8;
const PER_DIR = 1000;
const dir = mkdtempSync(join(tmpdir(), 'cairn-bench-scale-'));

function out(name: string, value: number): void {
  console.log(`${name.replace(/^scale_/, `${FIG}_`)} ${Number.isInteger(value) ? value : value.toFixed(3)}`);
}

/** The leader's last "snapshot sent" log record (pino JSON lines): the image it streamed. */
function lastSnapshotSent(logFile: string): { bytes: number; ms: number } | null {
  let found: { bytes: number; ms: number } | null = null;
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    if (!line.includes('"snapshot sent"')) continue;
    const r = JSON.parse(line) as { bytes?: unknown; ms?: unknown };
    if (typeof r.bytes === 'number' && typeof r.ms === 'number') found = { bytes: r.bytes, ms: r.ms };
  }
  return found;
}

/** The call that makes the i-th file: an empty commit, or an inline put of FILE_BYTES. */
function fileCall(w: number, seq: number, i: number, body: Buffer): [string, Record<string, unknown>] {
  const s = [`scale-w${w}`, seq, seq - 1];
  if (FILE_BYTES === 0) return ['fs.commit', { path: pathOf(i), size: 0, etag: 'empty', chunks: [], overwrite: false, parents: true, s }];
  body.writeUInt32BE(i, 0); // every file's bytes differ
  return ['fs.put', { path: pathOf(i), data: body, crc: crc32c(body), overwrite: false, parents: true, s }];
}

function rssMib(pid: number | null): number {
  if (pid === null) return 0;
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

/** Bytes allocated on disk under `p` (sparse files count what they hold). */
function diskBytes(p: string): number {
  const st = statSync(p);
  if (!st.isDirectory()) return st.blocks * 512;
  let sum = 0;
  for (const name of readdirSync(p)) sum += diskBytes(join(p, name));
  return sum;
}

/** The i-th file: the first BIG in /big, the rest PER_DIR to a directory under /d. */
function pathOf(i: number): string {
  return i < BIG ? `/big/f${i}` : `/d/${Math.floor((i - BIG) / PER_DIR)}/f${i}`;
}

async function main(): Promise<void> {
  const portBase = await findFreePortRange(1000, (n) => systemRng.int(n));
  const cluster = new DevCluster({ dir: join(dir, 'cluster'), portBase, meta: 3, chunks: 0, gateway: false, ...(FILE_BYTES > 0 ? { inlineBytesMax: INLINE_BYTES_MAX_DEFAULT } : {}) });
  cluster.start();
  const conns: RpcClient[] = [];
  try {
    await cluster.waitReady(30_000);
    const session = cluster.session();
    const { leader } = decodeClusterStatus(await session.call('cluster.status', {}, { idempotent: true }));
    session.close();
    if (leader === null) throw new Error('no leader');
    const leaderAddr = cluster.member(leader).addr;
    for (let i = 0; i < CONNS; i++) conns.push(new RpcClient({ timers: systemTimers }, { addr: leaderAddr, clientToken: cluster.token }));
    const json = cluster.clusterJson();
    const follower = json.meta.find((m) => m.id !== leader)!;
    const member = cluster.member(follower.id);
    let stopped: Promise<unknown> | null = null;

    let next = 0;
    let lastReport = performance.now();
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: CONC }, async (_, w) => {
        const conn = conns[w % CONNS]!;
        const body = randomBytes(Math.max(4, FILE_BYTES));
        for (let seq = 1; ; seq++) {
          const i = next++;
          if (i >= FILES) return;
          if (i === FILES - LAG) stopped = member.proc.kill('SIGTERM');
          await conn.call(...fileCall(w, seq, i, body));
          if (w === 0 && performance.now() - lastReport > 10_000) {
            lastReport = performance.now();
            console.error(`# ${next} of ${FILES} files, ${Math.round(next / ((lastReport - t0) / 1000))}/s`);
          }
        }
      }),
    );
    const createSecs = (performance.now() - t0) / 1000;
    out('scale_files', FILES);
    out('scale_create_files_per_s', Math.round(FILES / createSecs));
    if (FILE_BYTES > 0) {
      out('scale_file_bytes', FILE_BYTES);
      const repair = decodeRepairStatus(await conns[0]!.call('cluster.repair', {}));
      if (repair.inlineBytes !== FILES * FILE_BYTES) throw new Error(`the leader counts ${repair.inlineBytes} inline bytes, not ${FILES * FILE_BYTES}`);
      out('scale_bytes_total_mib', repair.inlineBytes / 2 ** 20);
    }

    for (const m of json.meta) {
      if (stopped !== null && m.id === follower.id) continue;
      out(`scale_meta_${m.id}_rss_mib`, rssMib(m.pid));
      out(`scale_meta_${m.id}_lmdb_mib`, diskBytes(m.dir) / 2 ** 20);
    }

    // Listing the big directory, page by page, as `cairn ls` does.
    const tl = performance.now();
    let listed = 0;
    let cursor: string | null = null;
    do {
      const page = decodeList(await conns[0]!.call('fs.list', { path: '/big', limit: 1000, ...(cursor ? { cursor } : {}) }));
      listed += page.entries.length;
      cursor = page.cursor;
    } while (cursor !== null);
    if (listed !== BIG) throw new Error(`listed ${listed} of ${BIG}`);
    out('scale_list_big_dir_entries', BIG);
    out('scale_list_big_dir_seconds', (performance.now() - tl) / 1000);

    // The stopped follower catches up through a snapshot.
    if (stopped !== null) {
      await stopped;
      const commit = decodeRaftStatus(await conns[0]!.call('raft.status', {})).commit;
      const ts = performance.now();
      member.proc.start();
      const probe = new RpcClient({ timers: systemTimers }, { addr: follower.addr, clientToken: cluster.token });
      try {
        for (;;) {
          const applied = await probe
            .call('raft.status', {})
            .then((a) => decodeRaftStatus(a).applied)
            .catch(() => 0);
          if (applied >= commit) break;
          if (performance.now() - ts > CATCH_UP_SECONDS * 1000) {
            const log = readFileSync(join(cluster.dir, 'logs', `${follower.id}.log`), 'utf8');
            throw new Error(`the restarted follower did not catch up within ${CATCH_UP_SECONDS} s; the end of its log:\n${log.slice(-3000)}`);
          }
          await sleep(100);
        }
      } finally {
        probe.close();
      }
      const seconds = (performance.now() - ts) / 1000;
      // The figure means something only if the follower did catch up through a snapshot.
      if (!readFileSync(join(cluster.dir, 'logs', `${follower.id}.log`), 'utf8').includes('installed snapshot')) throw new Error('the restarted follower caught up without a snapshot: raise LAG');
      out('scale_snapshot_catch_up_seconds', seconds);
      const sent = lastSnapshotSent(join(cluster.dir, 'logs', `${leader}.log`));
      if (sent === null) throw new Error('the leader logged no "snapshot sent"');
      out('scale_snapshot_mib', sent.bytes / 2 ** 20);
      out('scale_snapshot_send_seconds', sent.ms / 1000);
      out(`scale_meta_${follower.id}_rss_mib`, rssMib(member.proc.pid ?? null));
      out(`scale_meta_${follower.id}_lmdb_mib`, diskBytes(member.dir) / 2 ** 20);
    }
    // `cairn status` on this namespace: the leader's answer includes the namespace's totals.
    // With every member up again: a leader that stops to count misses its heartbeats, and the
    // followers elect another; count the elections the call caused.
    const highestTerm = async (): Promise<number> => {
      const terms = await Promise.all(
        json.meta.map(async (m) => {
          const c = new RpcClient({ timers: systemTimers }, { addr: m.addr, clientToken: cluster.token });
          try {
            return decodeRaftStatus(await c.call('raft.status', {})).term;
          } finally {
            c.close();
          }
        }),
      );
      return Math.max(...terms);
    };
    const termBefore = await highestTerm();
    const tst = performance.now();
    await conns[0]!.call('cluster.status', {});
    out('scale_status_seconds', (performance.now() - tst) / 1000);
    await sleep(2000);
    out('scale_status_elections', (await highestTerm()) - termBefore);

    // `cairn rm -r` of the big directory: the call unlinks it; the leader deletes its entries in bounded steps.
    const termBeforeRm = await highestTerm();
    const trm = performance.now();
    await conns[0]!.call('fs.rm', { path: '/big', recursive: true, s: ['scale-rm', 1, 0] });
    out('scale_rm_big_dir_seconds', (performance.now() - trm) / 1000);
    // The tree leaves the namespace at once; the leader purges its entries in bounded steps after.
    for (;;) {
      const st = decodeClusterStatus(await conns[0]!.call('cluster.status', {}));
      if (st.totals !== undefined && st.totals.files <= FILES - BIG) break;
      if (performance.now() - trm > 120_000) throw new Error(`the removed directory's files still count after 120 s (${st.totals?.files})`);
      await sleep(100);
    }
    out('scale_rm_big_dir_purged_seconds', (performance.now() - trm) / 1000);
    await sleep(2000);
    out('scale_rm_big_dir_elections', (await highestTerm()) - termBeforeRm);

    out('load_average_1m', loadavg()[0]!);
  } finally {
    for (const c of conns) c.close();
    await cluster.stop(5000);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
