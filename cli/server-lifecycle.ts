/**
 * How a server command (`cairn meta`, `cairn chunk`, `cairn gateway`) ends: SIGINT or SIGTERM
 * stops it cleanly, and so does the death of the process that launched it when that process
 * asked for it (CAIRN_PARENT_PID, set by LocalProcess, i.e. by `cairn dev` and the test
 * harnesses). Without the parent watch, a `cairn dev` killed with SIGKILL would leave its
 * servers running with nobody to stop them. A server started by hand from cluster.json's argv
 * has no CAIRN_PARENT_PID and runs until signalled.
 *
 * Stopping is a drain: the server finishes or aborts its in-flight work, flushes its stores and
 * the process exits 0 (a metadata leader hands leadership over first). The drain is bounded: a
 * server still stopping after SERVER_DRAIN_MS_DEFAULT exits 1 with one line on stderr. A server
 * whose launcher died gets ORPHAN_DRAIN_MS_DEFAULT instead: the launcher's other servers stop at
 * the same moment, so a drain's calls to them could only wait out their deadlines.
 */
import { PARENT_PID_ENV } from '../src/server/local-process.js';
import { ORPHAN_DRAIN_MS_DEFAULT, SERVER_DRAIN_MS_DEFAULT } from '../src/config/defaults.js';

const PARENT_POLL_MS = 1000;

export function stopOnSignalOrParentExit(stop: (why: string) => void, drainMs: number = SERVER_DRAIN_MS_DEFAULT, orphanDrainMs: number = ORPHAN_DRAIN_MS_DEFAULT): void {
  let stopping = false;
  const onStop = (why: string, boundMs = drainMs): void => {
    // A second signal changes nothing: Ctrl-C on `cairn dev` reaches each server from the
    // terminal and again from dev's own stop, and the drain must still finish (LMDB flushed).
    if (stopping) return;
    stopping = true;
    setTimeout(() => {
      process.stderr.write(`cairn: still stopping after ${boundMs} ms (${why}): exiting without finishing the drain\n`);
      process.exit(1);
    }, boundMs).unref();
    stop(why);
  };
  process.on('SIGINT', () => onStop('SIGINT'));
  process.on('SIGTERM', () => onStop('SIGTERM'));
  const parent = Number(process.env[PARENT_PID_ENV]);
  if (!Number.isSafeInteger(parent) || parent <= 1) return;
  const orphanBoundMs = Math.min(drainMs, orphanDrainMs);
  // The launcher sets the variable for the children it spawns itself (LocalProcess), so a
  // parent other than the one named means the launcher died while this server was starting
  // (a `cairn dev` killed during its start): without this, such a server would run forever.
  if (process.ppid !== parent) {
    onStop(`parent process ${parent} exited before this server started`, orphanBoundMs);
    return;
  }
  const timer = setInterval(() => {
    if (process.ppid !== parent) {
      clearInterval(timer);
      onStop(`parent process ${parent} exited`, orphanBoundMs);
    }
  }, PARENT_POLL_MS);
  timer.unref();
}
