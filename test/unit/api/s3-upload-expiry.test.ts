/** Abandoned multipart uploads expire: the sweep (injected timers and wall clock, an in-memory namespace) and virtual-host paths. */
import { describe, expect, it } from 'vitest';
import { virtualHostPath } from '../../../src/api/s3-context.js';
import { S3UploadExpiry } from '../../../src/api/s3-upload-expiry.js';
import { RemotePath } from '../../../src/proto/path.js';
import { CairnError } from '../../../src/util/errors.js';
import { silentLogger } from '../../../src/util/logger.js';

const HOUR = 3_600_000;

/** Directories and files by path; a file's text is its content. */
function fakeNamespace(files: Record<string, string>, dirMtimes: Record<string, number>) {
  const removed: string[] = [];
  const live = (p: string): boolean => !removed.some((r) => p === r || p.startsWith(`${r}/`));
  const client = {
    async *ls(path: RemotePath) {
      await Promise.resolve();
      const prefix = `${path.text}/`;
      const names = new Map<string, 'dir' | 'file'>();
      for (const p of [...Object.keys(files), ...Object.keys(dirMtimes)]) {
        if (!p.startsWith(prefix) || !live(p)) continue;
        const rest = p.slice(prefix.length).split('/');
        names.set(rest[0]!, rest.length > 1 || dirMtimes[p] !== undefined ? 'dir' : 'file');
      }
      if (names.size === 0 && dirMtimes[path.text] === undefined) throw new CairnError('NotFound', path.text);
      for (const [name, type] of [...names].sort()) yield { name, path: `${prefix}${name}`, type, size: 0, mtime: dirMtimes[`${prefix}${name}`] ?? 0 };
    },
    open(path: RemotePath) {
      const text = files[path.text];
      if (text === undefined || !live(path.text)) return Promise.reject(new CairnError('NotFound', path.text));
      return Promise.resolve({ size: text.length, inline: Buffer.from(text), stream: null });
    },
    rm(path: RemotePath) {
      removed.push(path.text);
      return Promise.resolve();
    },
  };
  return { client: client as unknown as ConstructorParameters<typeof S3UploadExpiry>[0]['client'], removed };
}

function fakeTimers() {
  const intervals: Array<{ fn: () => void; ms: number; cancelled: boolean }> = [];
  return {
    intervals,
    timers: {
      setTimeout: () => ({ cancel: () => undefined }),
      setInterval: (fn: () => void, ms: number) => {
        const t = { fn, ms, cancelled: false };
        intervals.push(t);
        return { cancel: () => (t.cancelled = true) };
      },
    },
  };
}

describe('S3 upload expiry', () => {
  it('removes uploads started longer ago than the expiry (record time, else the directory mtime), on its timer', async () => {
    let now = 1000 * HOUR;
    const U = '/.s3-uploads';
    const { client, removed } = fakeNamespace(
      {
        [`${U}/b1/old/upload`]: JSON.stringify({ key: 'k', attrs: {}, initiated: now - 169 * HOUR }),
        [`${U}/b1/old/p00001-x`]: 'part',
        [`${U}/b1/young/upload`]: JSON.stringify({ key: 'k', attrs: {}, initiated: now - 167 * HOUR }),
        [`${U}/b2/norecord/p00001-x`]: 'part',
        [`${U}/b2/badrecord/upload`]: 'not json',
      },
      { [U]: 0, [`${U}/b1`]: 0, [`${U}/b2`]: 0, [`${U}/b2/norecord`]: now - 200 * HOUR, [`${U}/b2/badrecord`]: now - HOUR, [`${U}/b1/old`]: now, [`${U}/b1/young`]: now },
    );
    const { timers, intervals } = fakeTimers();
    const expiry = new S3UploadExpiry({ client, timers, wallClockMs: () => now, logger: silentLogger }, { expiryMs: 168 * HOUR, intervalMs: HOUR });
    expiry.start();
    expect(intervals.map((t) => t.ms)).toEqual([HOUR]);
    intervals[0]!.fn();
    await new Promise((r) => setTimeout(r, 10));
    expect(removed.sort()).toEqual([`${U}/b1/old`, `${U}/b2/norecord`]);
    now += 2 * HOUR; // the young one is now past the week
    expect(await expiry.sweep()).toBe(1);
    expect(removed).toContain(`${U}/b1/young`);
    expiry.stop();
    expect(intervals[0]!.cancelled).toBe(true);
  });

  it('no uploads area: nothing to do', async () => {
    const { client } = fakeNamespace({}, {});
    const expiry = new S3UploadExpiry({ client, timers: fakeTimers().timers, wallClockMs: () => 0, logger: silentLogger }, { expiryMs: HOUR });
    expect(await expiry.sweep()).toBe(0);
  });
});

describe('virtual-host addressing', () => {
  it('a Host of {bucket}.{domain} names the bucket; anything else is path-style', () => {
    expect(virtualHostPath('photos.s3.example.com:7050', 's3.example.com', '/a/b.jpg')).toBe('/photos/a/b.jpg');
    expect(virtualHostPath('Photos.S3.Example.com', 's3.example.com', '/')).toBe('/photos/');
    expect(virtualHostPath('my.dotted.bucket.s3.example.com', 's3.example.com', '/k')).toBe('/my.dotted.bucket/k');
    expect(virtualHostPath('s3.example.com:7050', 's3.example.com', '/photos/a')).toBe('/photos/a');
    expect(virtualHostPath('127.0.0.1:7050', 's3.example.com', '/photos/a')).toBe('/photos/a');
    expect(virtualHostPath('xs3.example.com', 's3.example.com', '/photos/a')).toBe('/photos/a');
    expect(virtualHostPath('photos.s3.example.com', null, '/a')).toBe('/a');
    expect(virtualHostPath(undefined, 's3.example.com', '/a')).toBe('/a');
  });
});
