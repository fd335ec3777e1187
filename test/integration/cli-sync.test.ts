/**
 * The built `cairn` CLI against a real DevCluster: `sync` both ways (copies what is missing or
 * differs in size or CRC-32C, --delete, --dry-run), `checksum`, stat's etag and crc32c, and
 * `get --verify` (a mismatch, driven through getCommand with a client whose file lies about its
 * CRC, fails and leaves no file).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getCommand } from '../../cli/transfer-commands.js';
import type { CairnClient } from '../../src/client/index.js';
import { systemRng } from '../../src/env/system.js';
import { findFreePortRange } from '../../src/net/index.js';
import { RemotePath } from '../../src/proto/path.js';
import { DevCluster } from '../../src/server/dev-cluster.js';
import { crc32c, crcToHex } from '../../src/util/crc32c.js';
import { isCairnError } from '../../src/util/errors.js';
import { assertBuilt, failureLine, ok, patternBytes, runCli, type RunOptions } from './cli-harness.js';

const C = 65536;

/** A file's stdout lines, sorted (a real sync prints each action as it completes). */
const lines = (r: { stdout: Buffer }): string[] =>
  r.stdout
    .toString()
    .split('\n')
    .filter((l) => l !== '')
    .sort();

describe('cairn sync, checksum and get --verify', () => {
  const root = mkdtempSync(join(tmpdir(), 'cairn-sync-'));
  const src = join(root, 'src');
  let cluster: DevCluster;
  let env: Record<string, string>;
  const cli = (args: string[], o: RunOptions = {}) => runCli(args, { env, timeoutMs: 60_000, ...o });
  const remoteBytes = async (p: string): Promise<Buffer> => ok(await cli(['cat', p])).stdout;

  beforeAll(async () => {
    assertBuilt();
    const portBase = await findFreePortRange(1000, (n) => systemRng.int(n));
    cluster = new DevCluster({ dir: join(root, 'cluster'), portBase, meta: 3, chunks: 3, replicas: 2, chunkSize: C, heartbeatMs: 200 });
    cluster.start();
    await cluster.waitReady(60_000);
    env = { CAIRN_META: cluster.metaAddrs.join(','), CAIRN_TOKEN: cluster.token };
    mkdirSync(join(src, 'sub', 'deep'), { recursive: true });
    mkdirSync(join(src, 'empty'));
    writeFileSync(join(src, 'a.txt'), 'alpha\n');
    writeFileSync(join(src, 'sub', 'b.bin'), patternBytes(3 * C + 17, 1));
    writeFileSync(join(src, 'sub', 'deep', 'c.txt'), 'see\n');
    writeFileSync(join(src, 'zero'), '');
  }, 90_000);

  afterAll(async () => {
    await cluster?.stop();
    rmSync(root, { recursive: true, force: true });
  }, 30_000);

  it('local → remote: copies the tree, then only what changed (size or CRC), and nothing when in step', async () => {
    const first = ok(await cli(['sync', src, '/s/dst']));
    expect(lines(first)).toEqual(
      [
        `mkdir: /s/dst/empty`,
        `upload: ${join(src, 'a.txt')} to /s/dst/a.txt`,
        `upload: ${join(src, 'sub', 'b.bin')} to /s/dst/sub/b.bin`,
        `upload: ${join(src, 'sub', 'deep', 'c.txt')} to /s/dst/sub/deep/c.txt`,
        `upload: ${join(src, 'zero')} to /s/dst/zero`,
      ].sort(),
    );
    expect((await remoteBytes('/s/dst/sub/b.bin')).equals(patternBytes(3 * C + 17, 1))).toBe(true);
    expect(ok(await cli(['ls', '/s/dst/empty'])).stdout.toString()).toBe('');
    expect(ok(await cli(['sync', src, '/s/dst'])).stdout.toString()).toBe('');
    // Same size, other bytes: only the CRC tells; another size: the size tells.
    writeFileSync(join(src, 'a.txt'), 'ALPHA\n');
    writeFileSync(join(src, 'sub', 'deep', 'c.txt'), 'seen!\n');
    expect(lines(ok(await cli(['sync', src, '/s/dst'])))).toEqual([`upload: ${join(src, 'a.txt')} to /s/dst/a.txt`, `upload: ${join(src, 'sub', 'deep', 'c.txt')} to /s/dst/sub/deep/c.txt`]);
    expect((await remoteBytes('/s/dst/a.txt')).toString()).toBe('ALPHA\n');
    // Relative local paths work too (cwd).
    expect(ok(await cli(['sync', 'src', '/s/dst'], { cwd: root })).stdout.toString()).toBe('');
  });

  it('--dry-run prints the plan and changes nothing; --delete removes what SRC lacks', async () => {
    writeFileSync(join(src, 'new.txt'), 'new');
    ok(await cli(['put', '-', '/s/dst/extra.txt'], { input: 'x' }));
    ok(await cli(['mkdir', '-p', '/s/dst/olddir/inner']));
    ok(await cli(['put', '-', '/s/dst/olddir/inner/f'], { input: 'y' }));
    const dry = ok(await cli(['sync', '--delete', '--dry-run', src, '/s/dst']));
    expect(lines(dry)).toEqual(
      [`(dryrun) upload: ${join(src, 'new.txt')} to /s/dst/new.txt`, '(dryrun) delete: /s/dst/extra.txt', '(dryrun) delete: /s/dst/olddir'].sort(),
    );
    failureLine(await cli(['stat', '/s/dst/new.txt']), 'NotFound');
    ok(await cli(['stat', '/s/dst/extra.txt']));
    // Without --delete nothing is removed.
    expect(lines(ok(await cli(['sync', src, '/s/dst'])))).toEqual([`upload: ${join(src, 'new.txt')} to /s/dst/new.txt`]);
    ok(await cli(['stat', '/s/dst/extra.txt']));
    expect(lines(ok(await cli(['sync', '--delete', src, '/s/dst'])))).toEqual(['delete: /s/dst/extra.txt', 'delete: /s/dst/olddir']);
    failureLine(await cli(['stat', '/s/dst/extra.txt']), 'NotFound');
    failureLine(await cli(['stat', '/s/dst/olddir']), 'NotFound');
    expect(ok(await cli(['sync', '--delete', src, '/s/dst'])).stdout.toString()).toBe('');
  });

  it('remote → local: downloads into a new directory, then only what changed; --delete and --dry-run too', async () => {
    const back = join(root, 'back');
    const first = ok(await cli(['sync', '/s/dst', back]));
    expect(lines(first)).toContain(`download: /s/dst/sub/b.bin to ${join(back, 'sub', 'b.bin')}`);
    expect(lines(first)).toContain(`mkdir: ${join(back, 'empty')}`);
    expect(readFileSync(join(back, 'sub', 'b.bin')).equals(patternBytes(3 * C + 17, 1))).toBe(true);
    expect(readFileSync(join(back, 'a.txt'), 'utf8')).toBe('ALPHA\n');
    expect(readFileSync(join(back, 'zero'), 'utf8')).toBe('');
    expect(readdirSync(join(back, 'empty'))).toEqual([]);
    expect(ok(await cli(['sync', '/s/dst', back])).stdout.toString()).toBe('');
    ok(await cli(['put', '-f', '-', '/s/dst/a.txt'], { input: 'alpha\n' }));
    writeFileSync(join(back, 'local-only'), 'z');
    const dry = ok(await cli(['sync', '--dry-run', '--delete', '/s/dst', back]));
    expect(lines(dry)).toEqual([`(dryrun) delete: ${join(back, 'local-only')}`, `(dryrun) download: /s/dst/a.txt to ${join(back, 'a.txt')}`]);
    expect(readFileSync(join(back, 'a.txt'), 'utf8')).toBe('ALPHA\n');
    expect(existsSync(join(back, 'local-only'))).toBe(true);
    expect(lines(ok(await cli(['sync', '--delete', '/s/dst', back])))).toEqual([`delete: ${join(back, 'local-only')}`, `download: /s/dst/a.txt to ${join(back, 'a.txt')}`]);
    expect(readFileSync(join(back, 'a.txt'), 'utf8')).toBe('alpha\n');
    expect(existsSync(join(back, 'local-only'))).toBe(false);
    // An explicit remote prefix; errors are one line.
    expect(ok(await cli(['sync', 'cairn:/s/dst', back])).stdout.toString()).toBe('');
    failureLine(await cli(['sync', '/s/nope', join(root, 'never')]), 'NotFound');
    expect(existsSync(join(root, 'never'))).toBe(false);
    failureLine(await cli(['sync', 'rel-a', 'rel-b'], { cwd: root }), 'InvalidArgument');
    failureLine(await cli(['sync', '/s/dst/a.txt', join(root, 'f')]), 'NotADirectory');
  });

  it('checksum prints the CRC-32C of the bytes; stat --json gives it and an etag the bytes decide', async () => {
    const data = patternBytes(2 * C + 5, 9);
    ok(await cli(['put', '-', '/sum/one'], { input: data }));
    ok(await cli(['put', '-', '/sum/two'], { input: data }));
    const want = crcToHex(crc32c(data));
    expect(ok(await cli(['checksum', '/sum/one'])).stdout.toString()).toBe(`crc32c ${want} /sum/one\n`);
    const one = JSON.parse(ok(await cli(['stat', '--json', '/sum/one'])).stdout.toString()) as { etag: string; crc32c: string };
    const two = JSON.parse(ok(await cli(['stat', '--json', '/sum/two'])).stdout.toString()) as { etag: string; crc32c: string };
    expect(one.crc32c).toBe(want);
    expect(one.crc32c).toMatch(/^[0-9a-f]{8}$/);
    expect(two.etag).toBe(one.etag);
    ok(await cli(['put', '-', '/sum/small'], { input: 'hi' }));
    expect(ok(await cli(['checksum', '/sum/small'])).stdout.toString()).toBe(`crc32c ${crcToHex(crc32c(Buffer.from('hi')))} /sum/small\n`);
    ok(await cli(['put', '-', '/sum/empty'], { input: '' }));
    expect(ok(await cli(['checksum', '/sum/empty'])).stdout.toString()).toBe('crc32c 00000000 /sum/empty\n');
    failureLine(await cli(['checksum', '/sum']), 'IsADirectory');
    failureLine(await cli(['checksum', '/sum/nope']), 'NotFound');
  });

  it('get --verify writes the file when its CRC matches; a mismatch fails and leaves no file', async () => {
    const data = patternBytes(C + 3, 4);
    ok(await cli(['put', '-', '/v/f'], { input: data }));
    const out = join(root, 'verified');
    ok(await cli(['get', '--verify', '/v/f', out]));
    expect(readFileSync(out).equals(data)).toBe(true);
    expect(ok(await cli(['get', '--verify', '/v/f', '-'])).stdout.equals(data)).toBe(true);
    // A file whose bytes do not have the CRC it names: Corrupt, and nothing left behind.
    const dir = join(root, 'mismatch');
    mkdirSync(dir);
    const lying = {
      open: () => Promise.resolve({ size: data.length, etag: 'e', mtime: 0, attrs: {}, crc32c: (crc32c(data) ^ 1) >>> 0, start: 0, end: data.length, stream: Readable.from([data]), inline: null }),
    } as unknown as CairnClient;
    const err = await getCommand(lying, RemotePath.parse('/v/f'), join(dir, 'f'), { verify: true }).catch((e: unknown) => e);
    expect(isCairnError(err, 'Corrupt')).toBe(true);
    expect(readdirSync(dir)).toEqual([]);
    // Without --verify the same bytes are written.
    const plain = { open: () => Promise.resolve({ size: data.length, etag: 'e', mtime: 0, attrs: {}, crc32c: 1, start: 0, end: data.length, stream: Readable.from([data]), inline: null }) } as unknown as CairnClient;
    await getCommand(plain, RemotePath.parse('/v/f'), join(dir, 'f'));
    expect(readdirSync(dir)).toEqual(['f']);
  });
});
