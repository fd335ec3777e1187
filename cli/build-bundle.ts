/**
 * `npm run build`, after tsc: bundles the built CLI (dist/cli/main.js and every module of ours it
 * imports) into dist/cli/cairn.js, the file `cairn` runs, so a command starts without resolving
 * and loading each of our ~90–190 modules one by one (Node 20 has no compile cache). A `cairn get`
 * of a tiny file took 0.34–0.42 s unbundled and 0.28–0.34 s bundled (bench/RESULTS.md, twelfth
 * session); every server that `cairn dev` or an operator starts runs the same bundle. Packages
 * stay outside (`packages: 'external'`: native LMDB, msgpackr, CRC-32C load from node_modules as
 * before), and the server commands stay separate chunks (`splitting`), imported only by the
 * command that runs them, as in main.ts.
 */
import { build } from 'esbuild';
import { chmodSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const cliDir = dirname(fileURLToPath(import.meta.url)); // dist/cli
const CHUNKS = 'bundle';

rmSync(join(cliDir, CHUNKS), { recursive: true, force: true }); // chunks of an earlier build
await build({
  entryPoints: [join(cliDir, 'main.js')],
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  outdir: cliDir,
  entryNames: 'cairn',
  chunkNames: `${CHUNKS}/[name]-[hash]`,
  allowOverwrite: true, // dist/cli/cairn.js, tsc's two-line entry, becomes the bundle
  banner: { js: '#!/usr/bin/env node' },
  sourcemap: true,
  logLevel: 'warning',
});
chmodSync(join(cliDir, 'cairn.js'), 0o755);
