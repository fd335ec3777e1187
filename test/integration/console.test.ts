/**
 * The web console in a real browser (issue 21): headless Chromium (Debian's `chromium`, driven
 * by playwright-core) against `cairn dev`. Sign in (a wrong token is refused), see 3 metadata
 * and 4 chunk servers, upload by the file picker and see the file listed, open its details,
 * download it byte-exact, compare the console's figures with `cairn status --json` taken at
 * the same moment, kill -9 a chunk server and watch the console show it dead and repair
 * bring every chunk back, all with no CSP violation and no request leaving the gateway.
 *
 * Screenshots of each view (1280×800 and phone width) go to a temporary directory, or to
 * docs/screenshots/ with CAIRN_UPDATE_SCREENSHOTS=1 (how the README's pictures are made).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemRng } from '../../src/env/system.js';
import { findFreePortRange } from '../../src/net/index.js';
import { packageRoot } from '../../src/server/local-process.js';
import { assertBuilt, ok, patternBytes, runCli, runDev, type RunningDev } from './cli-harness.js';

const CHROMIUM = process.env.CAIRN_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = process.env.CAIRN_UPDATE_SCREENSHOTS === '1' ? join(packageRoot(), 'docs', 'screenshots') : mkdtempSync(join(tmpdir(), 'cairn-console-shots-'));
const CHUNK = 65536;
const FILE_BYTES = 6 * CHUNK + 1234;

/** What the test reads in the page (its TypeScript has no DOM types; strings would need eval, which the CSP refuses). */
interface BrowserGlobals {
  sessionStorage: { getItem(k: string): string | null; setItem(k: string, v: string): void };
  document: { cookie: string; documentElement: { scrollWidth: number } };
  innerWidth: number;
}

interface ClusterJson {
  token: string;
  gateway: { url: string };
  chunks: Array<{ id: string; pid: number }>;
}

interface StatusJson {
  health: string;
  leader: string;
  meta: Array<{ id: string; role: string }>;
  chunkServers: Array<{ id: string; state: string; chunks: number }>;
  chunks: { total: number; underReplicated: number; lost: number };
}

describe('web console in headless Chromium', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'cairn-console-'));
  let dev: RunningDev | null = null;
  let browser: Browser | null = null;
  let page: Page;
  let cluster: ClusterJson;
  const problems: string[] = [];
  const data = patternBytes(FILE_BYTES, 21);

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`the console test needs Chromium at ${CHROMIUM}: install Debian's \`chromium\` package (apt-get install chromium), or set CAIRN_CHROMIUM to a Chromium binary`);
    }
    assertBuilt();
    mkdirSync(SHOTS, { recursive: true });
    const portBase = await findFreePortRange(1000, (n) => systemRng.int(n));
    dev = await runDev(cwd, ['--port-base', String(portBase), '--chunk-size', String(CHUNK), '--dead-after', '3']);
    cluster = JSON.parse(readFileSync(join(cwd, '.cairn', 'cluster.json'), 'utf8')) as ClusterJson;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], headless: true });
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
    page = await context.newPage();
    page.on('console', (m) => {
      if (/Content[- ]Security[- ]Policy|Refused to/i.test(m.text())) problems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('request', (r) => {
      const u = r.url();
      if (!u.startsWith(cluster.gateway.url + '/') && !u.startsWith('blob:') && !u.startsWith('data:')) problems.push(`request off the gateway: ${u}`);
    });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await dev?.stop();
    rmSync(cwd, { recursive: true, force: true });
    if (process.env.CAIRN_UPDATE_SCREENSHOTS !== '1') rmSync(SHOTS, { recursive: true, force: true });
  }, 30_000);

  const shot = (name: string): Promise<Buffer> => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  const statusJson = async (): Promise<StatusJson> => JSON.parse(ok(await runCli(['status', '--json'], { cwd })).stdout.toString('utf8')) as StatusJson;

  it('refuses a wrong token, then signs in with the right one (kept in sessionStorage only)', async () => {
    await page.goto(`${cluster.gateway.url}/ui/`);
    await page.getByLabel('Access token').fill('not-the-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.locator('#signin-error').textContent()).toMatch(/refused/);
    expect(await page.locator('#cluster-view').isHidden()).toBe(true);
    await shot('sign-in-refused');

    // Keyboard only: type the token, Enter submits.
    await page.getByLabel('Access token').fill('');
    await page.getByLabel('Access token').focus();
    await page.keyboard.type(cluster.token);
    await page.keyboard.press('Enter');
    await page.locator('#cluster-view').waitFor({ state: 'visible' });
    expect(await page.evaluate(() => (globalThis as unknown as BrowserGlobals).sessionStorage.getItem('cairn.console.token'))).toBe(cluster.token);
    expect(await page.evaluate(() => (globalThis as unknown as BrowserGlobals).document.cookie)).toBe('');
    expect(page.url()).not.toContain(cluster.token);
  });

  it('shows 3 metadata servers (one leader) and 4 alive chunk servers with zones, bars and ring shares', async () => {
    await expect.poll(() => page.locator('#meta-rows tr').count(), { timeout: 15_000 }).toBe(3);
    await expect.poll(() => page.locator('#chunk-rows tr[data-state="alive"]').count(), { timeout: 15_000 }).toBe(4);
    expect(await page.locator('#meta-rows .state-leader').count()).toBe(1);
    expect(await page.locator('#ring-shares .share').count()).toBe(4);
    // Health settles once every member has answered a status round since start (a follower the
    // leader has not heard from yet counts as unreachable for a moment): poll, bounded.
    await expect.poll(() => page.locator('#health').textContent(), { timeout: 15_000 }).toBe('healthy');
  });

  it('uploads a file by the picker, lists it, shows its details and replicas, and downloads it byte-exact', async () => {
    await page.getByRole('link', { name: 'Files' }).click();
    await page.locator('#files-view').waitFor({ state: 'visible' });
    await page.getByRole('button', { name: 'New folder…' }).click();
    await page.getByLabel('Folder name').fill('reports');
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: 'Open folder reports' }).click();
    await expect.poll(() => page.locator('#drop-dir').textContent()).toBe('/reports');

    await page.locator('#upload-input').setInputFiles({ name: 'q3.bin', mimeType: 'application/octet-stream', buffer: data });
    await page.locator('#uploads li[data-done="true"]').waitFor({ timeout: 30_000 });
    await page.locator('#file-rows tr[data-name="q3.bin"]').waitFor();
    await shot('files');

    // Open it from the keyboard: focus the name, Enter.
    await page.getByRole('button', { name: 'Details of q3.bin' }).focus();
    await page.keyboard.press('Enter');
    await page.locator('#details').waitFor({ state: 'visible' });
    const stat = JSON.parse(ok(await runCli(['stat', '--json', '/reports/q3.bin'], { cwd })).stdout.toString('utf8')) as { etag: string; size: number; chunks: unknown[] };
    expect(stat.size).toBe(FILE_BYTES);
    expect(await page.locator('#details-list dd[data-fact="ETag"]').textContent()).toBe(stat.etag);
    expect(await page.locator('#details-chunks tr').count()).toBe(7);
    expect(await page.locator('#details-chunks tr').first().textContent()).toMatch(/c\d \(zone|c\d \(/);
    await shot('file-details');

    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#details-download').click()]);
    expect(download.suggestedFilename()).toBe('q3.bin');
    const saved = readFileSync(await download.path());
    expect(saved.equals(data)).toBe(true);
  }, 60_000);

  it('uploads a dropped file, renames it and deletes it after a confirmation', async () => {
    const drop = await page.evaluateHandle(() => {
      const g = globalThis as unknown as { DataTransfer: new () => { items: { add(f: unknown): void } }; File: new (parts: string[], name: string) => unknown };
      const dt = new g.DataTransfer();
      dt.items.add(new g.File(['dropped by the console test'], 'notes.txt'));
      return dt;
    });
    await page.dispatchEvent('#drop-zone', 'drop', { dataTransfer: drop });
    await page.locator('#file-rows tr[data-name="notes.txt"]').waitFor();
    ok(await runCli(['stat', '/reports/notes.txt'], { cwd }));

    await page.getByRole('button', { name: 'Rename notes.txt' }).click();
    await page.getByLabel('New name or path').fill('kept.txt');
    await page.keyboard.press('Enter');
    await page.locator('#file-rows tr[data-name="kept.txt"]').waitFor();
    expect((await runCli(['cat', '/reports/kept.txt'], { cwd })).stdout.toString()).toBe('dropped by the console test');

    await page.getByRole('button', { name: 'Delete kept.txt' }).click();
    await expect.poll(() => page.locator('#dialog-text').textContent()).toMatch(/cannot be undone/);
    await page.getByRole('button', { name: 'Cancel' }).click();
    expect(await page.locator('#file-rows tr[data-name="kept.txt"]').count()).toBe(1);
    await page.getByRole('button', { name: 'Delete kept.txt' }).click();
    await page.locator('#dialog-ok').click();
    await page.locator('#file-rows tr[data-name="kept.txt"]').waitFor({ state: 'detached' });
    expect((await runCli(['stat', '/reports/kept.txt'], { cwd })).code).not.toBe(0);

    // An error in words, then its code: a name the namespace refuses.
    await page.getByRole('button', { name: 'Rename q3.bin' }).click();
    await page.getByLabel('New name or path').fill('bad/../name');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('#files-error').textContent()).toMatch(/^That is not a valid path: .+ \(InvalidPath, HTTP 400\)$/);
  }, 40_000);

  it("shows the same figures as `cairn status --json` taken at the same moment", async () => {
    await page.getByRole('link', { name: 'Cluster' }).click();
    // Replica counts settle once the chunk servers have reported the upload: compare until both agree.
    let last = '';
    await expect
      .poll(
        async () => {
          const before = Number(await page.locator('#cluster-view').getAttribute('data-updates'));
          const s = await statusJson();
          await page.locator('#cluster-refresh').click();
          await expect.poll(async () => Number(await page.locator('#cluster-view').getAttribute('data-updates'))).toBeGreaterThan(before);
          const rows = page.locator('#chunk-rows tr');
          const servers: string[] = [];
          for (let i = 0; i < (await rows.count()); i++) {
            const r = rows.nth(i);
            servers.push(`${await r.getAttribute('data-id')}:${await r.getAttribute('data-state')}:${await r.locator('.replicas').textContent()}`);
          }
          const metaRows = page.locator('#meta-rows tr');
          const meta: string[] = [];
          for (let i = 0; i < (await metaRows.count()); i++) meta.push(`${await metaRows.nth(i).getAttribute('data-id')}:${await metaRows.nth(i).locator('.state').textContent()}`);
          const shown = {
            health: await page.locator('#health').textContent(),
            total: await page.locator('#sum-chunks').textContent(),
            under: await page.locator('#sum-under').textContent(),
            lost: await page.locator('#sum-lost').textContent(),
            leader: await page.locator('#sum-leader').textContent(),
            meta,
            servers,
          };
          const want = {
            health: s.health,
            total: String(s.chunks.total),
            under: String(s.chunks.underReplicated),
            lost: String(s.chunks.lost),
            leader: `leader ${s.leader}`,
            meta: s.meta.map((m) => `${m.id}:${m.role}`),
            servers: s.chunkServers.map((c) => `${c.id}:${c.state}:${c.chunks}`),
          };
          last = JSON.stringify({ shown, want });
          return JSON.stringify(shown) === JSON.stringify(want) && s.chunks.total === 7 && s.health === 'healthy' ? 'same' : last;
        },
        { timeout: 20_000, interval: 500 },
      )
      .toBe('same');
    await shot('cluster');
  }, 40_000);

  it('shows a kill -9 chunk server dead and repair bringing every chunk back', async () => {
    const s = await statusJson();
    const victim = s.chunkServers.find((c) => c.chunks > 0)!;
    const pid = cluster.chunks.find((c) => c.id === victim.id)!.pid;
    const doneBefore = Number(await page.locator('#repair-text').getAttribute('data-done'));
    process.kill(pid, 'SIGKILL');
    const row = page.locator(`#chunk-rows tr[data-id="${victim.id}"]`);
    await expect.poll(() => row.getAttribute('data-state'), { timeout: 20_000 }).toBe('dead');
    expect(await page.locator('#health').textContent()).toBe('degraded');
    await expect.poll(async () => Number(await page.locator('#repair-text').getAttribute('data-done')), { timeout: 30_000 }).toBeGreaterThan(doneBefore);
    await expect.poll(() => page.locator('#sum-under').textContent(), { timeout: 30_000 }).toBe('0');
    expect(await page.locator('#repair-text').textContent()).toMatch(/7 of 7 chunks fully replicated/);
    await shot('cluster-repaired');
  }, 60_000);

  it('is readable at phone width', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.locator('#cluster-refresh').click();
    const overflow = await page.evaluate(() => {
      const g = globalThis as unknown as BrowserGlobals;
      return g.document.documentElement.scrollWidth - g.innerWidth;
    });
    expect(overflow).toBeLessThanOrEqual(0);
    await shot('cluster-phone');
    await page.getByRole('link', { name: 'Files' }).click();
    await page.locator('#file-rows tr').first().waitFor();
    await shot('files-phone');
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  it('a token that stops working signs the tab out; nothing broke the CSP or left the gateway', async () => {
    await page.evaluate(() => (globalThis as unknown as BrowserGlobals).sessionStorage.setItem('cairn.console.token', 'revoked'));
    await page.getByRole('link', { name: 'Cluster' }).click();
    await page.locator('#signin-view').waitFor({ state: 'visible' });
    expect(await page.locator('#signin-error').textContent()).toMatch(/refused/);
    expect(await page.evaluate(() => (globalThis as unknown as BrowserGlobals).sessionStorage.getItem('cairn.console.token'))).toBeNull();
    expect(problems).toEqual([]);
  });
});
