#!/usr/bin/env node
/**
 * The `cairn` command. `npm run build` replaces this file in dist/ with one bundle of the
 * program (cli/main.ts and everything of ours it imports; build-bundle.ts says why); unbundled,
 * as tsc emits it, it runs the same program module by module.
 */
import './main.js';
