import { open } from 'node:fs/promises';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { CHUNK_FOOTER_BYTES, CorruptReplica, SegmentCrcs, encodeTrailer, fileBytesOf, readTrailer } from '../../../src/storage/chunk-format.js';
import { crc32c } from '../../../src/util/crc32c.js';
import { bytes, tempDir } from '../chunk/helpers.js';

const { dir, cleanup } = tempDir('chunk-format');
afterAll(() => cleanup());

describe('SegmentCrcs', () => {
  it('gives each segment its CRC and the whole chunk its CRC, however the bytes arrive', () => {
    fc.assert(
      fc.property(fc.nat(5000), fc.integer({ min: 1, max: 700 }), fc.integer({ min: 1, max: 900 }), (size, seg, piece) => {
        const data = bytes(size, size + seg);
        const crcs = new SegmentCrcs(seg);
        for (let i = 0; i < size; i += piece) crcs.update(data.subarray(i, Math.min(size, i + piece)));
        const t = crcs.finish();
        expect(t.size).toBe(size);
        expect(t.crc).toBe(crc32c(data));
        expect(t.table.length).toBe(Math.ceil(size / seg));
        for (let s = 0; s < t.table.length; s++) expect(t.table[s]).toBe(crc32c(data.subarray(s * seg, Math.min(size, (s + 1) * seg))));
      }),
      { numRuns: 200 },
    );
  });
});

describe('replica layout', () => {
  async function roundTrip(file: Buffer, wholeBytesMax = 0): Promise<Awaited<ReturnType<typeof readTrailer>>> {
    const p = join(dir, `r-${file.length}-${wholeBytesMax}`);
    writeFileSync(p, file);
    const fh = await open(p, 'r');
    try {
      return await readTrailer(fh, wholeBytesMax);
    } finally {
      await fh.close();
    }
  }

  it('data ‖ table ‖ footer reads back, in one read or three', async () => {
    const data = bytes(3000, 9);
    const crcs = new SegmentCrcs(1024);
    crcs.update(data);
    const t = crcs.finish();
    const file = Buffer.concat([data, encodeTrailer(t)]);
    expect(file.length).toBe(fileBytesOf(3000, 1024));
    expect(file.length).toBe(3000 + 3 * 4 + CHUNK_FOOTER_BYTES);
    const back = await roundTrip(file);
    expect({ size: back.size, crc: back.crc, segmentBytes: back.segmentBytes, table: [...back.table] }).toEqual({ ...t, table: [...t.table] });
    expect(back.data).toBeUndefined();
    const whole = await roundTrip(file, file.length);
    expect(whole.data?.equals(data)).toBe(true);
  });

  it('a flipped byte in the table or footer, or a truncated file, is a CorruptReplica', async () => {
    const crcs = new SegmentCrcs(1024);
    crcs.update(bytes(2000, 3));
    const file = Buffer.concat([bytes(2000, 3), encodeTrailer(crcs.finish())]);
    for (const at of [2000, 2005, file.length - 20, file.length - 1]) {
      const bad = Buffer.from(file);
      bad[at] = bad[at]! ^ 0x01;
      await expect(roundTrip(bad)).rejects.toBeInstanceOf(CorruptReplica);
    }
    await expect(roundTrip(file.subarray(1))).rejects.toBeInstanceOf(CorruptReplica);
    await expect(roundTrip(file.subarray(0, 10))).rejects.toBeInstanceOf(CorruptReplica);
  });
});
