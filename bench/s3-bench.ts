/**
 * The S3-compatible API against the client library it sits on (issue 20's figures): a real
 * DevCluster (3 metadata servers, 4 chunk servers, replication 3, the gateway serving S3) and,
 * in the same run, side by side:
 *   big      a SIZE-byte object PUT (the AWS SDK's streamed PutObject: aws-chunked with a
 *            trailing checksum, as the SDKs send a stream) and GET (checked as it streams), and
 *            the same transfer through the client library (`direct_*`: put from a file stream,
 *            open + read)
 *   small    4 KiB PUT, then 4 KiB GET, by 16 concurrent clients (16 S3Client instances, and 16
 *            CairnClient instances for `direct_*`): ops/s, p50/p99, errors, and the CPU time per
 *            operation of every process together (servers and gateway from /proc, the clients =
 *            this process) and of the clients alone
 * with the machine's ceilings measured in the same run (synced disk writes, loopback TCP).
 *
 * Before the small-object loads, `--warmup-seconds` (default 30; 0: none) of the same PUTs and
 * GETs through both, unmeasured (closed-loop.ts, warm-up): without it the S3 loads, which run
 * first, met code V8 had not optimized yet and the direct ones met it warmer.
 *
 * Output: one `name value` per line (as bench/data-bench.ts).
 * Usage: npm run bench:s3 [-- --mib 1024 --seconds 5 --warmup-seconds 30]
 */
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createCairnClient, type CairnClient } from '../src/client/index.js';
import { systemRng } from '../src/env/system.js';
import { findFreePortRange } from '../src/net/index.js';
import { DevCluster } from '../src/server/dev-cluster.js';
import { arg, ceilings, closedLoop, measured, out, report, warmupSeconds } from './closed-loop.js';
import { checkStream, feedStream } from './cli-child.js';
import { checkBenchArgs } from './bench-args.js';

checkBenchArgs('bench:s3', [
  { name: 'mib', value: 'number', help: 'large object size (default 1024)' },
  { name: 'seconds', value: 'number', help: 'seconds per small-object load (default 5)' },
  { name: 'warmup-seconds', value: 'number', help: 'unmeasured small-object load first (default 30; 0: none)' },
]);

const MIB = arg('mib', 1024);
const SECONDS = arg('seconds', 5);
const CLIENTS = 16;
const SMALL_BYTES = 4096;
const WARMUP_SECONDS = warmupSeconds('bench:s3', 30);
const dir = mkdtempSync(join(tmpdir(), 'cairn-bench-s3-'));

async function timed(work: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await work();
  return (performance.now() - t0) / 1000;
}

async function drain(body: AsyncIterable<Buffer>, want: number): Promise<void> {
  let got = 0;
  for await (const b of body) got += b.length;
  if (got !== want) throw new Error(`read ${got} bytes, not ${want}`);
}

async function main(): Promise<void> {
  await ceilings(dir);

  const portBase = await findFreePortRange(1000, (n) => systemRng.int(n));
  const cluster = new DevCluster({ dir: join(dir, 'cluster'), portBase, meta: 3, chunks: 4, replicas: 3 });
  cluster.start();
  const direct: CairnClient[] = [];
  const s3: S3Client[] = [];
  try {
    await cluster.waitReady(60_000);
    const json = cluster.clusterJson();
    const key = json.s3!;
    for (let i = 0; i < CLIENTS; i++) {
      direct.push(createCairnClient({ metaAddrs: cluster.metaAddrs, token: cluster.token }));
      s3.push(new S3Client({ endpoint: key.url, region: key.region, credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey }, forcePathStyle: true, maxAttempts: 1 }));
    }
    await s3[0]!.send(new CreateBucketCommand({ Bucket: 'bench' }));
    const pids = [...json.meta, ...json.chunks, ...(json.gateway ? [json.gateway] : [])].map((s) => s.pid).filter((p): p is number => p !== null);

    const local = join(dir, 'local.bin');
    await feedStream(createWriteStream(local), MIB);
    const size = MIB * 1024 * 1024;
    out('file_mib', MIB);
    const s3Put = await timed(async () => {
      await s3[0]!.send(new PutObjectCommand({ Bucket: 'bench', Key: 'big.bin', Body: createReadStream(local), ContentLength: size }));
    });
    const s3Get = await timed(async () => {
      const g = await s3[0]!.send(new GetObjectCommand({ Bucket: 'bench', Key: 'big.bin' }));
      await checkStream(g.Body as NodeJS.ReadableStream, MIB);
    });
    const directPut = await timed(async () => {
      await direct[0]!.put('/bench/direct-big.bin', createReadStream(local), { expectedSize: size });
    });
    const directGet = await timed(async () => {
      await checkStream((await direct[0]!.open('/bench/direct-big.bin')).stream, MIB);
    });
    out('s3_put_mib_per_s', MIB / s3Put);
    out('direct_put_mib_per_s', MIB / directPut);
    out('s3_get_mib_per_s', MIB / s3Get);
    out('direct_get_mib_per_s', MIB / directGet);
    out('s3_put_ratio_to_direct', directPut / s3Put);
    out('s3_get_ratio_to_direct', directGet / s3Get);
    rmSync(local, { force: true });

    const body = Buffer.alloc(SMALL_BYTES, 0x42);
    if (WARMUP_SECONDS > 0) {
      // New objects only, each read back: through S3 on even turns, through the library on odd.
      const warm = await closedLoop(CLIENTS, WARMUP_SECONDS, async (w, n) => {
        if (n % 2 === 0) {
          const k = `small/warm-w${w}-${n}`;
          await s3[w]!.send(new PutObjectCommand({ Bucket: 'bench', Key: k, Body: body }));
          const g = await s3[w]!.send(new GetObjectCommand({ Bucket: 'bench', Key: k }));
          await drain(g.Body as AsyncIterable<Buffer>, SMALL_BYTES);
        } else {
          const p = `/bench/small/warm-w${w}-${n}`;
          await direct[w]!.put(p, [body]);
          await drain((await direct[w]!.open(p)).stream as AsyncIterable<Buffer>, SMALL_BYTES);
        }
      });
      out('small_warmup_s', WARMUP_SECONDS);
      if (warm.errors > 0) out('small_warmup_errors', warm.errors);
    }
    const s3Keys: string[][] = s3.map(() => []);
    report(
      's3_put_4k_c16',
      await measured(pids, () =>
        closedLoop(CLIENTS, SECONDS, async (w, n) => {
          const k = `small/s3-w${w}-${n}`;
          await s3[w]!.send(new PutObjectCommand({ Bucket: 'bench', Key: k, Body: body }));
          s3Keys[w]!.push(k);
        }),
      ),
    );
    report(
      's3_get_4k_c16',
      await measured(pids, () =>
        closedLoop(CLIENTS, SECONDS, async (w, n) => {
          const mine = s3Keys[w]!;
          const g = await s3[w]!.send(new GetObjectCommand({ Bucket: 'bench', Key: mine[n % mine.length] }));
          await drain(g.Body as AsyncIterable<Buffer>, SMALL_BYTES);
        }),
      ),
    );
    const paths: string[][] = direct.map(() => []);
    report(
      'direct_put_4k_c16',
      await measured(pids, () =>
        closedLoop(CLIENTS, SECONDS, async (w, n) => {
          const p = `/bench/small/direct-w${w}-${n}`;
          await direct[w]!.put(p, [body]);
          paths[w]!.push(p);
        }),
      ),
    );
    report(
      'direct_get_4k_c16',
      await measured(pids, () =>
        closedLoop(CLIENTS, SECONDS, async (w, n) => {
          const mine = paths[w]!;
          await drain((await direct[w]!.open(mine[n % mine.length]!)).stream as AsyncIterable<Buffer>, SMALL_BYTES);
        }),
      ),
    );
    out('load_average_1m', loadavg()[0]!);
  } finally {
    for (const c of direct) c.close();
    for (const c of s3) c.destroy();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
