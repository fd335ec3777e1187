/** The metadata command codec: round trips, and every malformed field refused. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FILE_CHUNKS_MAX, META_COMMAND_VERSION, MetaTag, decodeMetaCommand, encodeMetaCommand, type MetaCommand } from '../../../src/meta/meta-command.js';
import { pack } from '../../../src/proto/msgpack.js';

const id = (n: number) => n.toString(16).padStart(32, '0');
const session = { client: 'cli-1.a:B_x', seq: 7, ackedBelow: 5 };
const commit: MetaCommand = {
  op: 'commitFile',
  session,
  nowMs: 1_700_000_000_000,
  path: '/d/f.bin',
  file: { size: 10, etag: '"abc"', chunks: [{ id: id(1), size: 4, crc: 0 }, { id: id(2), size: 6, crc: 0xffffffff }] },
  overwrite: true,
  createParents: false,
};

describe('meta command codec', () => {
  it('round-trips every command', () => {
    const cmds: MetaCommand[] = [
      { op: 'mkdir', session, nowMs: 0, path: '/a/b', parents: true },
      commit,
      { ...commit, overwrite: false, createParents: true, file: { size: 0, etag: 'e', chunks: [] } },
      { op: 'delete', session: { client: 'c', seq: 1, ackedBelow: 0 }, nowMs: 5, path: '/x', recursive: false },
      { op: 'rename', session, nowMs: 9, from: '/a/é', to: '/😀' },
    ];
    for (const c of cmds) expect(decodeMetaCommand(encodeMetaCommand(c))).toEqual(c);
  });

  it('round-trips random valid commands', () => {
    const name = fc.stringMatching(/^[a-z0-9é]{1,8}$/);
    const p = fc.array(name, { minLength: 1, maxLength: 4 }).map((s) => '/' + s.join('/'));
    const sess = fc.tuple(fc.stringMatching(/^[A-Za-z0-9._:-]{1,20}$/), fc.integer({ min: 1, max: 2 ** 40 }), fc.nat()).map(([client, seq, a]) => ({
      client,
      seq,
      ackedBelow: a % (seq + 1),
    }));
    const cmd: fc.Arbitrary<MetaCommand> = fc.oneof(
      fc.record({ op: fc.constant('mkdir' as const), session: sess, nowMs: fc.nat(), path: p, parents: fc.boolean() }),
      fc.record({ op: fc.constant('delete' as const), session: sess, nowMs: fc.nat(), path: p, recursive: fc.boolean() }),
      fc.record({ op: fc.constant('rename' as const), session: sess, nowMs: fc.nat(), from: p, to: p }),
      fc
        .record({
          session: sess,
          nowMs: fc.nat(),
          path: p,
          sizes: fc.array(fc.integer({ min: 1, max: 2 ** 26 }), { maxLength: 20 }),
          overwrite: fc.boolean(),
          createParents: fc.boolean(),
        })
        .map(({ sizes, ...r }) => ({
          op: 'commitFile' as const,
          ...r,
          file: { size: sizes.reduce((a, b) => a + b, 0), etag: 'x', chunks: sizes.map((s, i) => ({ id: id(i + 1), size: s, crc: (s * 2654435761) >>> 0 })) },
        })),
    );
    fc.assert(
      fc.property(cmd, (c) => {
        expect(decodeMetaCommand(encodeMetaCommand(c))).toEqual(c);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses every malformed field', () => {
    // The wire array of the commit above, field by field.
    const good = [META_COMMAND_VERSION, MetaTag.CommitFile, session.client, 7, 5, 1000, '/d/f', 10, '"abc"', [[id(1), 4, 0], [id(2), 6, 1]], 1];
    expect(decodeMetaCommand(pack(good)).op).toBe('commitFile');
    const at = (i: number, v: unknown) => good.map((x, j) => (j === i ? v : x));
    const bads: Array<[string, unknown]> = [
      ['version', at(0, 2)],
      ['tag unknown', at(1, 99)],
      ['tag reserved for the cluster map', at(1, 16)],
      ['client empty', at(2, '')],
      ['client with /', at(2, 'a/b')],
      ['client too long', at(2, 'x'.repeat(129))],
      ['client not a string', at(2, 5)],
      ['seq 0', at(3, 0)],
      ['seq fraction', at(3, 1.5)],
      ['seq unsafe', at(3, 2 ** 53)],
      ['ackedBelow negative', at(4, -1)],
      ['ackedBelow above seq', at(4, 8)],
      ['nowMs negative', at(5, -5)],
      ['nowMs string', at(5, '1')],
      ['path relative', at(6, 'd/f')],
      ['path with ..', at(6, '/d/../f')],
      ['path with NUL', at(6, '/d/\u0000')],
      ['path with C1 control', at(6, '/d/\u0085')],
      ['path trailing slash', at(6, '/d/')],
      ['path not a string', at(6, ['/d'])],
      ['size negative', at(7, -1)],
      ['size not matching chunks', at(7, 11)],
      ['etag empty', at(8, '')],
      ['etag with space', at(8, 'a b')],
      ['etag too long', at(8, 'e'.repeat(129))],
      ['chunks not an array', at(9, 'x')],
      ['chunk not a triple', at(9, [[id(1), 10]])],
      ['chunk id uppercase', at(9, [[id(1).toUpperCase().replace(/0/g, 'A'), 10, 0]])],
      ['chunk id short', at(9, [['abc', 10, 0]])],
      ['chunk size 0', at(9, [[id(1), 0, 0], [id(2), 10, 0]])],
      ['chunk crc too big', at(9, [[id(1), 10, 2 ** 32]])],
      ['chunk crc negative', at(9, [[id(1), 10, -1]])],
      ['chunk twice', at(9, [[id(1), 5, 0], [id(1), 5, 0]])],
      ['flags unknown', at(10, 4)],
      ['flags not a number', at(10, true)],
      ['extra field', [...good, 0]],
      ['missing field', good.slice(0, -1)],
      ['not an array', { v: 1 }],
      ['mkdir parents not a boolean', [1, MetaTag.Mkdir, 'c', 1, 0, 0, '/a', 1]],
      ['delete recursive missing', [1, MetaTag.Delete, 'c', 1, 0, 0, '/a']],
      ['rename to invalid', [1, MetaTag.Rename, 'c', 1, 0, 0, '/a', '/b//c']],
    ];
    for (const [what, v] of bads) expect(() => decodeMetaCommand(pack(v)), what).toThrow(/meta command|path|name|segment|trailing|absolute|control/);
    expect(() => decodeMetaCommand(Uint8Array.from([0xc1]))).toThrow(/meta command/);
    expect(() => decodeMetaCommand(Uint8Array.from([0x95, 0x01]))).toThrow(/meta command/); // truncated
    expect(() => decodeMetaCommand(new Uint8Array(0))).toThrow(/meta command/);
  });

  it('bounds the chunk list', () => {
    const many = new Array(FILE_CHUNKS_MAX + 1).fill(0);
    const bytes = pack([1, MetaTag.CommitFile, 'c', 1, 0, 0, '/f', FILE_CHUNKS_MAX + 1, 'e', many, 0]);
    expect(() => decodeMetaCommand(bytes)).toThrow(expect.objectContaining({ code: 'TooLarge' }) as unknown as Error);
  });
});
