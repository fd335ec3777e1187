/**
 * V8's collector set for Cairn's server processes (`cairn chunk`, `cairn meta`, `cairn gateway`
 * call it as they start; the library never does): small JavaScript heaps that data passes through.
 *
 * A chunk server keeps ~10 MiB of JavaScript objects but receives every byte of a PUT as a new
 * Buffer per socket read (Node's HTTP parser copies each body piece out of its own read buffer):
 * ~1 GiB of short-lived memory outside the JavaScript heap per GiB stored. A metadata server does
 * the same with Raft messages and inline file bodies, the gateway with request bodies. V8 counts
 * such external memory against the old generation's limit, which it sets after each full
 * collection from the live heap (growth factor 1.1–4 by its own heuristics, at least ~8 MiB of
 * slack). With a 10–20 MiB heap that slack is used up by buffers that are already dead but not yet
 * swept, so a full mark-compact started every ~17 MiB received: 38–48 per chunk server during a
 * 1 GiB put, ~200 per metadata server in 20 s of 64 KiB puts, each marking the whole heap on the
 * main thread and on helper threads (bench/RESULTS.md, thirteenth session: --trace-gc and
 * --trace-incremental-marking "Start (task) … 9MB / 25MB / 16MB").
 *
 * A fixed growth factor of 5 (`--heap-growing-percent=400`) gives the limit ~40 MiB of slack on
 * such a heap: the dead buffers are freed by scavenges long before it is reached (the 1 GiB put:
 * 1–2 full collections per chunk server). Factors 2 and 3 were measured too (41–44 and 27–30): the
 * slack has to outgrow what accumulates between scavenges. The price is a higher ceiling before a
 * full collection for a heap that does grow (5 × its live size): these heaps hold no per-file or
 * per-replica state (LMDB and the disk do), so they stay small.
 *
 * The setting is left alone when the operator chose one (`--heap-growing-percent` in the node
 * command line or NODE_OPTIONS).
 */
import { setFlagsFromString } from 'node:v8';

/** The heap-growing percent a server runs with (growth factor 1 + percent/100). */
export const SERVER_HEAP_GROWING_PERCENT = 400;

const FLAG = '--heap-growing-percent';

/** Sets V8's heap growing percent for this process unless its command line or NODE_OPTIONS already set one; returns the percent set, or null when it left the operator's. */
export function tuneServerCollector(percent = SERVER_HEAP_GROWING_PERCENT, execArgv: readonly string[] = process.execArgv, nodeOptions: string | undefined = process.env.NODE_OPTIONS): number | null {
  const named = (s: string): boolean => s === FLAG || s.startsWith(`${FLAG}=`) || s === '--heap_growing_percent' || s.startsWith('--heap_growing_percent=');
  if (execArgv.some(named) || (nodeOptions ?? '').split(/\s+/).some(named)) return null;
  setFlagsFromString(`${FLAG}=${percent}`);
  return percent;
}
