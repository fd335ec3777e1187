import { describe, expect, it } from 'vitest';
import { JitMap, codeKind, formatSummary, frameName, parsePerfScript, renameJitFrames, summarizeSamples } from '../../../bench/perf-script.js';

// `perf script -F pid,tid,time,period,ip,sym,dso` of a `perf record -g`, as perf 6.1 prints it.
const TEXT = `
100/100 27662.289027:     500000 
\t         150c245 Builtins_LoadIC (/usr/bin/node)
\t    7f15480b0e08 JS:^Socket._writeGeneric node:net:927:42 (/tmp/perf-100.map)
\t    7f15481a9ff9 JS:* file:///work/main/dist/cli/bundle/chunk-FRURTNOM.js:412:19 (/tmp/perf-100.map)
\t          7bb11b node::InternalMakeCallback (/usr/bin/node)

100/100 27662.290027:     500000 
\t    7f154815da2a JS:*getDentry file:///work/main/dist/cli/bundle/meta-command-C6A4755I.js:608:19 (/tmp/perf-100.map)
\t    7f15481a9ff9 JS:* file:///work/main/dist/cli/bundle/chunk-FRURTNOM.js:412:19 (/tmp/perf-100.map)
\t    7f15481a9ff9 JS:* file:///work/main/dist/cli/bundle/chunk-FRURTNOM.js:412:19 (/tmp/perf-100.map)

100/105 27662.291027:     500000 
\tffffffff8230b789 copy_folio_from_iter_atomic ([kernel.kallsyms])
\t    7f0000001000 mdb_page_flush (/work/main/node_modules/@lmdb/lmdb-linux-x64/node.abi115.glibc.node)
\t          14b0000 worker (/usr/bin/node)
\t    7f0000002000 start_thread (/usr/lib/x86_64-linux-gnu/libc.so.6)

100/105 27662.292027:     500000 
\t    7f0000003000 __memmove_evex_unaligned_erms (/usr/lib/x86_64-linux-gnu/libc.so.6)
\t    7f0000004000 [unknown] ([unknown])

100/107 27662.293027:     500000 
\t          c00000 v8::internal::Scavenger::ScavengeObject<v8::internal::FullHeapObjectSlot> (/usr/bin/node)
\t          c00001 node::(anonymous namespace)::PlatformWorkerThread (/usr/bin/node)
\t    7f0000002000 start_thread (/usr/lib/x86_64-linux-gnu/libc.so.6)

200/200 27662.289500:    1000000 
\t    7f0000005000 crc32c (/work/main/node_modules/@node-rs/crc32-linux-x64-gnu/crc32.linux-x64-gnu.node)
`;

describe('perf script summary', () => {
  it('names JavaScript frames by function and file line, without tier marks, columns or offsets', () => {
    expect(frameName('JS:*getDentry file:///work/main/dist/cli/bundle/meta-command-C6A4755I.js:608:19')).toBe('getDentry dist/cli/bundle/meta-command-C6A4755I.js:608');
    expect(frameName('JS:^Socket._writeGeneric node:net:927:42')).toBe('Socket._writeGeneric node:net:927');
    expect(frameName('JS:~ file:///x/node_modules/lmdb/write.js:357:10')).toBe('(anonymous) node_modules/lmdb/write.js:357');
    expect(frameName('Builtins_LoadIC+0x585')).toBe('Builtins_LoadIC');
  });

  it('reads every sample with its thread, period and frames, leaf first', () => {
    const samples = [...parsePerfScript(TEXT.split('\n'))];
    expect(samples.map((s) => [s.pid, s.tid, s.periodNs, s.frames.length])).toEqual([
      [100, 100, 500000, 4],
      [100, 100, 500000, 3],
      [100, 105, 500000, 4],
      [100, 105, 500000, 2],
      [100, 107, 500000, 3],
      [200, 200, 1000000, 1],
    ]);
    expect(samples[2]!.frames[0]).toBe('copy_folio_from_iter_atomic');
    expect(samples[2]!.dsos[0]).toBe('[kernel.kallsyms]');
  });

  it('sorts code by the object it is in, then by name', () => {
    expect(codeKind('copy_folio_from_iter_atomic', '[kernel.kallsyms]')).toBe('kernel');
    expect(codeKind('getDentry dist/x.js:1', '/tmp/perf-100.map')).toBe('js');
    expect(codeKind('mdb_page_flush', '/x/node_modules/@lmdb/lmdb-linux-x64/node.abi115.glibc.node')).toBe('lmdb');
    expect(codeKind('v8::internal::Scavenger::ScavengeObject<x>', '/usr/bin/node')).toBe('gc');
    expect(codeKind('Builtins_LoadIC', '/usr/bin/node')).toBe('v8-builtins');
    expect(codeKind('node::InternalMakeCallback', '/usr/bin/node')).toBe('v8-node-runtime');
    expect(codeKind('crc32c', '/x/crc32.linux-x64-gnu.node')).toBe('other');
  });

  it('splits each process by thread kind (a truncated stack takes its thread’s kind) and code kind', () => {
    const [a, b] = summarizeSamples(parsePerfScript(TEXT.split('\n')));
    expect(a!.pid).toBe(100);
    expect(a!.samples).toBe(5);
    expect(a!.cpuMs).toBeCloseTo(2.5);
    expect(a!.threads).toEqual({ main: 0.4, pool: 0.4, v8: 0.2, other: 0 });
    expect(a!.kinds.kernel).toBeCloseTo(0.2);
    expect(a!.kinds.libc).toBeCloseTo(0.2);
    expect(a!.kinds.js).toBeCloseTo(0.2);
    expect(a!.kinds.gc).toBeCloseTo(0.2);
    expect(a!.kinds['v8-builtins']).toBeCloseTo(0.2);
    // Inclusive: JavaScript frames of the main thread, each counted once per sample (recursion too).
    expect(new Map(a!.mainInclusiveTop).get('(anonymous) dist/cli/bundle/chunk-FRURTNOM.js:412')).toBeCloseTo(0.4);
    expect(new Map(a!.mainInclusiveTop).get('getDentry dist/cli/bundle/meta-command-C6A4755I.js:608')).toBeCloseTo(0.2);
    expect(a!.mainInclusiveTop.some(([f]) => f.startsWith('node::'))).toBe(false);
    expect(b!.pid).toBe(200);
    expect(b!.threads.main).toBe(1);
    expect(b!.selfTop).toEqual([['crc32c', 1]]);
    expect(formatSummary(a!, 'meta --id m1').split('\n')[0]).toBe('== pid 100 (meta --id m1): 5 samples, 0.00 s of CPU');
  });

  it('names a JavaScript frame by the last code a perf map put at its address, not a stale entry', () => {
    // V8 reused 0x1000..0x1100: planChunk lived there first, then applyOnce over part of it.
    const map = new JitMap(['1000 100 JS:*planChunk file:///x/dist/a.js:5:1', '1080 40 JS:*applyOnce file:///x/dist/b.js:7:2', '2000 10 JS:~tiny node:net:3:4', 'junk'].join('\n'));
    expect(map.name(0x1000n)).toBe('JS:*planChunk file:///x/dist/a.js:5:1');
    expect(map.name(0x1085n)).toBe('JS:*applyOnce file:///x/dist/b.js:7:2');
    expect(map.name(0x10c0n)).toBe('JS:*planChunk file:///x/dist/a.js:5:1');
    expect(map.name(0x10ffn)).toBe('JS:*planChunk file:///x/dist/a.js:5:1');
    expect(map.name(0x1100n)).toBeUndefined();
    expect(map.name(0x2005n)).toBe('JS:~tiny node:net:3:4');
    expect(map.name(0xfffn)).toBeUndefined();
    const [s] = [...parsePerfScript(['1/1 1.0: 1000', '\t1085 JS:*planChunk file:///x/dist/a.js:5:1 (/tmp/perf-1.map)', '\t10c0 JS:*planChunk file:///x/dist/a.js:5:1 (/tmp/perf-1.map)', '\t1085 Builtins_LoadIC (/usr/bin/node)'])];
    renameJitFrames(s!, map);
    expect(s!.frames).toEqual(['applyOnce dist/b.js:7', 'planChunk dist/a.js:5', 'Builtins_LoadIC']);
  });
});
