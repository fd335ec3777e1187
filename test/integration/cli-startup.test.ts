/**
 * What the CLI loads before it runs a command: client commands and `--version` must not carry
 * the servers (LMDB, pino, the metadata and chunk servers), which cost start-up on every call.
 * A module-resolution hook in the child names every module it loads on stderr.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, runCli } from './cli-harness.js';

const MARK = 'CAIRN-LOADED ';

describe('cairn start-up', () => {
  let dir: string;
  let importFlag: string;

  beforeAll(() => {
    assertBuilt();
    dir = mkdtempSync(join(tmpdir(), 'cairn-cli-startup-'));
    const hooks = join(dir, 'hooks.mjs');
    writeFileSync(
      hooks,
      `export async function resolve(spec, context, next) {\n` +
        `  const r = await next(spec, context);\n` +
        `  if (!r.url.startsWith('node:')) process._rawDebug(${JSON.stringify(MARK)} + r.url);\n` +
        `  return r;\n}\n`,
    );
    const register = join(dir, 'register.mjs');
    writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
    importFlag = `--import=${pathToFileURL(register).href}`;
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function loaded(args: string[]): Promise<{ stdout: string; modules: string[] }> {
    const r = await runCli(args, { env: { NODE_OPTIONS: importFlag } });
    expect(r.code, r.stderr).toBe(0);
    const modules = r.stderr.split('\n').filter((l) => l.startsWith(MARK)).map((l) => l.slice(MARK.length));
    expect(modules.some((m) => m.endsWith('/cli/cairn.js'))).toBe(true); // the hook saw the CLI load
    return { stdout: r.stdout.toString(), modules };
  }

  // A server command's module, as tsc emits it or as a chunk of the bundle (`meta-command-<hash>.js`).
  const serverModule = (m: string) => /\/(meta|chunk|gateway|dev)-command(-[A-Z0-9]+)?\.js$|\/node_modules\/(lmdb|pino)\//.test(m);

  it('--version prints the version and loads no server module', async () => {
    for (const flag of ['--version', '-V']) {
      const { stdout, modules } = await loaded([flag]);
      expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
      expect(modules.filter(serverModule)).toEqual([]);
    }
  });

  it('runs as one bundle: no module of ours is loaded one by one from dist/src or dist/cli', async () => {
    const { modules } = await loaded(['ls', '--help']);
    const ours = modules.filter((m) => m.includes('/dist/') && !m.endsWith('/dist/cli/cairn.js'));
    expect(ours.length).toBeGreaterThan(0); // the bundle's shared chunks
    expect(ours.filter((m) => !/\/dist\/cli\/bundle\/[\w-]+\.js$/.test(m))).toEqual([]);
  });

  it('a client command loads no server module; top-level help loads them to list them', async () => {
    expect((await loaded(['ls', '--help'])).modules.filter(serverModule)).toEqual([]);
    const help = await loaded(['--help']);
    expect(help.stdout).toMatch(/^\s+meta \[options\]/m);
    expect(help.modules.filter(serverModule).length).toBeGreaterThan(0);
  });
});
