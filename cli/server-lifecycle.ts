/**
 * How a server command (`cairn meta`, `cairn chunk`, `cairn gateway`) ends: SIGINT or SIGTERM
 * stops it cleanly, and so does the death of the process that launched it when that process
 * asked for it (CAIRN_PARENT_PID, set by LocalProcess, i.e. by `cairn dev` and the test
 * harnesses). Without the parent watch, a `cairn dev` killed with SIGKILL would leave its
 * servers running with nobody to stop them. A server started by hand from cluster.json's argv
 * has no CAIRN_PARENT_PID and runs until signalled.
 */
import { PARENT_PID_ENV } from '../src/server/local-process.js';

const PARENT_POLL_MS = 1000;

export function stopOnSignalOrParentExit(stop: (why: string) => void): void {
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  const parent = Number(process.env[PARENT_PID_ENV]);
  // Only when the launcher is still our parent now: otherwise it is already gone (or the
  // variable leaked in from elsewhere) and the watch would stop a server nobody asked to stop.
  if (!Number.isSafeInteger(parent) || parent <= 1 || process.ppid !== parent) return;
  const timer = setInterval(() => {
    if (process.ppid !== parent) {
      clearInterval(timer);
      stop(`parent process ${parent} exited`);
    }
  }, PARENT_POLL_MS);
  timer.unref();
}
