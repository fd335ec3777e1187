/**
 * The console's static files by name under /ui/, held in memory (a few tens of KiB). They are
 * TypeScript string modules rather than files copied next to dist: src/api reads no files
 * (DESIGN rule 3: node:fs belongs to storage and server), the build stays `tsc` alone, and the
 * assets ship inside the compiled package like any other module.
 */
import { CONSOLE_APP_SCRIPT } from './console-app-script.js';
import { CONSOLE_CLUSTER_SCRIPT } from './console-cluster-script.js';
import { CONSOLE_FILES_SCRIPT } from './console-files-script.js';
import { CONSOLE_PAGE } from './console-page.js';
import { CONSOLE_STYLE } from './console-style.js';

export interface ConsoleAsset {
  /** Content-Type. */
  type: string;
  body: string;
}

export const CONSOLE_ASSETS: Readonly<Record<string, ConsoleAsset>> = Object.freeze({
  'index.html': { type: 'text/html; charset=utf-8', body: CONSOLE_PAGE },
  'console.css': { type: 'text/css; charset=utf-8', body: CONSOLE_STYLE },
  'app.js': { type: 'text/javascript; charset=utf-8', body: CONSOLE_APP_SCRIPT },
  'cluster.js': { type: 'text/javascript; charset=utf-8', body: CONSOLE_CLUSTER_SCRIPT },
  'files.js': { type: 'text/javascript; charset=utf-8', body: CONSOLE_FILES_SCRIPT },
});
