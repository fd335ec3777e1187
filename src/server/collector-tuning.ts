/**
 * V8's collector set for a server process that moves bulk data through small JavaScript heaps
 * (`cairn chunk`; the commands call it first thing, the library never does).
 *
 * A chunk server keeps ~10 MiB of JavaScript objects but receives every byte of a PUT as a new
 * Buffer per socket read (Node's HTTP parser copies each body piece out of its own read buffer):
 * ~1 GiB of short-lived memory outside the JavaScript heap per GiB stored. V8 counts such external
 * memory against the old generation's limit, which it sets after each full collection from the
 * live heap (growth factor 1.1–4 chosen by its own heuristics, at least ~8 MiB of slack). With a
 * 10 MiB heap that slack is used up by buffers that are already dead but not yet swept, so a full
 * mark-compact started every ~17 MiB received: 38–48 per chunk server during a 1 GiB put, each
 * marking the whole heap on the main thread and on helper threads (bench/RESULTS.md, thirteenth
 * session: --trace-gc, --trace-incremental-marking "Start (task) … 9MB / 25MB / 16MB").
 *
 * A fixed growth factor of 5 (`--heap-growing-percent=400`) gives the limit ~40 MiB of slack on
 * such a heap: the dead buffers are freed by scavenges long before it is reached, and the same put
 * ran 1–2 full collections per server. The price is a higher ceiling before a full collection
 * for a heap that does grow (5 × its live size): a chunk server's heap holds no per-replica state,
 * so it stays small. Factors 2 and 3 were measured too (41–44 and 27–30 full collections per
 * server): the slack has to outgrow what accumulates between scavenges.
 *
 * The setting is left alone when the operator chose one (`--heap-growing-percent` in the node
 * command line or NODE_OPTIONS).
 */
import { setFlagsFromString } from 'node:v8';

/** The heap-growing percent a bulk-data server runs with (growth factor 1 + percent/100). */
export const BULK_SERVER_HEAP_GROWING_PERCENT = 400;

const FLAG = '--heap-growing-percent';

/** Sets V8's heap growing percent for this process unless its command line or NODE_OPTIONS already set one; returns the percent in force when this call set it, else null. */
export function tuneCollectorForBulkData(percent = BULK_SERVER_HEAP_GROWING_PERCENT, execArgv: readonly string[] = process.execArgv, nodeOptions: string | undefined = process.env.NODE_OPTIONS): number | null {
  const named = (s: string): boolean => s === FLAG || s.startsWith(`${FLAG}=`) || s === '--heap_growing_percent' || s.startsWith('--heap_growing_percent=');
  if (execArgv.some(named) || (nodeOptions ?? '').split(/\s+/).some(named)) return null;
  setFlagsFromString(`${FLAG}=${percent}`);
  return percent;
}
