import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { launch, type Browser, type Page } from 'puppeteer-core';
import {
  createNetwork,
  docker,
  onCleanup,
  runContainer,
  STATUS_URL,
  testDpid,
  testSubnet,
  uniqueName,
  waitFor,
  waitPing,
} from './harness.js';

/**
 * The live view at `/` in a real browser: Debian's chromium, headless, driven over the DevTools
 * protocol by puppeteer-core (which downloads no browser). The screenshot is kept as an
 * artifact (test-artifacts/, or DOVESNAP_TEST_ARTIFACTS).
 */

const CHROMIUM = process.env['CHROMIUM'] ?? '/usr/bin/chromium';
const ARTIFACTS =
  process.env['DOVESNAP_TEST_ARTIFACTS'] ?? new URL('../../../test-artifacts', import.meta.url).pathname;

/** The little of the DOM the page functions below use (they run in the browser, not here). */
interface DomElement {
  readonly textContent: string | null;
  querySelector(selector: string): DomElement | null;
}
declare const document: {
  querySelector(selector: string): DomElement | null;
  getElementById(id: string): DomElement | null;
};

interface RowView {
  readonly mac: string;
  readonly ip: string;
  readonly ofport: string;
  readonly rxPackets: number;
  readonly txPackets: number;
}

async function row(page: Page, container: string): Promise<RowView | undefined> {
  return page.evaluate((name) => {
    const tr = document.querySelector(`tr[data-container="${name}"]`);
    if (tr === null) return undefined;
    const cell = (cls: string): string => tr.querySelector(`td.${cls}`)?.textContent ?? '';
    return {
      mac: cell('mac'),
      ip: cell('ip'),
      ofport: cell('ofport'),
      rxPackets: Number(cell('rx-packets') || 0),
      txPackets: Number(cell('tx-packets') || 0),
    };
  }, container);
}

async function openBrowser(): Promise<Browser> {
  const profile = mkdtempSync(path.join(tmpdir(), 'dovesnap-chromium-'));
  const browser = await launch({
    executablePath: CHROMIUM,
    headless: true,
    userDataDir: profile,
    // Root has no user namespace sandbox for Chromium here; the page is our own.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
  });
  onCleanup(async () => {
    await browser.close().catch(() => undefined);
    rmSync(profile, { recursive: true, force: true });
  });
  return browser;
}

describe('live view', () => {
  it('shows a container started during the test with its MAC, IP and traffic, pushed without a reload, and drops it when it is removed', async () => {
    const browser = await openBrowser();
    const page = await browser.newPage();
    await page.setViewport({ width: 1500, height: 1000 });
    const consoleErrors: string[] = [];
    page.on('pageerror', (err) => consoleErrors.push(String(err)));
    page.on('console', (msg) => {
      if (msg.type() === 'error') consoleErrors.push(msg.text());
    });
    const response = await page.goto(`${STATUS_URL}/`, { waitUntil: 'domcontentloaded' });
    assert.equal(response?.status(), 200);
    await page.waitForFunction(() => document.getElementById('conn')?.textContent === 'live', { timeout: 10_000 });
    // A marker that a reload would lose: the updates must come by push.
    await page.evaluate(() => {
      (globalThis as unknown as { dovesnapMarker: number }).dovesnapMarker = 42;
    });

    const net = uniqueName('live');
    await createNetwork(net, { 'ovs.bridge.dpid': testDpid(), 'ovs.bridge.mode': 'nat' }, [
      '--subnet',
      testSubnet().subnet,
    ]);
    const a = `${net}-a`;
    const b = `${net}-b`;
    await runContainer(a, net);
    await runContainer(b, net);
    const inspect = async (name: string): Promise<{ mac: string; ip: string }> => {
      const out = await docker(
        'inspect',
        '-f',
        `{{with index .NetworkSettings.Networks "${net}"}}{{.MacAddress}} {{.IPAddress}}{{end}}`,
        name,
      );
      const [mac = '', ip = ''] = out.trim().split(' ');
      return { mac, ip };
    };
    const bAddr = await inspect(b);
    const started = Date.now();
    const shown = await waitFor(
      `${b} in the page`,
      async () => {
        const r = await row(page, b);
        return r !== undefined && r.mac === bAddr.mac && r.ip === bAddr.ip && r.ofport !== '?' ? r : undefined;
      },
      10_000,
      100,
    );
    assert.match(shown.ofport, /^\d+$/);
    const appearedMs = Date.now() - started;

    // Traffic between the two test containers shows in both rows (OVS updates its counters every 5 s).
    // A first ARP sent before FAUCET has installed a fresh switch's port flows is lost and the
    // kernel retries only after 1 s: one single ping can miss (seen in CI), so wait for a reply.
    await waitPing(a, bAddr.ip);
    await waitFor(
      'traffic counters in the page',
      async () => {
        const r = await row(page, b);
        return r !== undefined && r.rxPackets > 0 && r.txPackets > 0;
      },
      20_000,
      250,
    );
    // The diagram is drawn and names the container; FAUCET's last load is shown.
    const diagram = await page.evaluate(() =>
      (document.querySelector('#diagram svg')?.textContent ?? '').replace(/\u2010|&#45;/g, '-'),
    );
    assert.ok(diagram.includes(b), 'the diagram shows the container');
    await page.waitForFunction(() => document.getElementById('faucet')?.textContent === 'loaded', { timeout: 30_000 });

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'live-view.png'), fullPage: true });

    await docker('rm', '-f', b);
    const removedAt = Date.now();
    await waitFor(`${b} gone from the page`, async () => (await row(page, b)) === undefined, 10_000, 100);
    const goneMs = Date.now() - removedAt;
    assert.ok((await row(page, a)) !== undefined, `${a} is still shown`);
    const marker = await page.evaluate(() => (globalThis as unknown as { dovesnapMarker?: number }).dovesnapMarker);
    assert.equal(marker, 42, 'the page was updated in place, not reloaded');
    assert.deepEqual(consoleErrors, []);
    process.stdout.write(
      `# live view: container shown ${appearedMs} ms after docker run returned, gone ${goneMs} ms after docker rm\n`,
    );
  });

  it('serves the snapshot and the event stream as JSON and text/event-stream', async () => {
    const snap = (await (await fetch(`${STATUS_URL}/live/snapshot`)).json()) as {
      Networks: unknown;
      Faucet: { Outcome: string };
      Svg: string | null;
    };
    assert.equal(typeof snap.Networks, 'object');
    assert.match(snap.Faucet.Outcome, /^(none|confirmed|rejected|timeout|invalid|failed)$/);
    assert.match(snap.Svg ?? '', /<svg/);
    const ac = new AbortController();
    const res = await fetch(`${STATUS_URL}/live/events`, { signal: ac.signal });
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const reader = res.body?.getReader();
    assert.ok(reader !== undefined);
    let text = '';
    while (!text.includes('event: snapshot')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    ac.abort();
    assert.match(text, /event: snapshot\ndata: \{"At":/);
  });
});
