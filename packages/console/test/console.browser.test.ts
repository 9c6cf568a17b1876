// The web console in a real browser (issue 16 §1): Debian's Chromium driven by playwright-core against a real
// `edgetwin up` (the LED and the parking lot, simulated). Logs in with the link up printed and with the token,
// sees up's devices, opens the LED, sets it ON and sees it reported, watches a parking sensor's plot grow,
// sees a refused write's reason; checks accessible names, header cells, device links, the named navigation,
// the declared favicon, and that the page asks nothing of any host but the controller.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, startUp, type UpStack } from './stack.js';

describe('web console', { timeout: 180_000 }, () => {
  let up: UpStack;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];

  beforeAll(async () => {
    [up, browser] = await Promise.all([startUp(['led-raspberrypi', 'parking']), launchBrowser()]);
  }, 180_000);
  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await up?.stop();
  });

  /** A fresh context (no cookies); console errors, failed requests and outside hosts are collected. */
  async function newPage(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    contexts.push(context);
    const page = await context.newPage();
    const origin = new URL(up.controllerUrl).origin;
    page.on('console', (m) => {
      // the login check answers 401 before a login: the browser logs that as a failed resource
      if (m.type() === 'error' && !/401/.test(m.text())) problems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('request', (r) => {
      if (new URL(r.url()).origin !== origin) problems.push(`request outside the controller: ${r.url()}`);
    });
    return page;
  }

  it('logs in with the link up printed, sets the LED ON, plots a sensor, and shows a refused write', async () => {
    const page = await newPage();
    await page.goto(up.consoleLink);
    // the link is used once and taken out of the address bar
    await page.getByRole('link', { name: 'default/led-light-instance-01' }).waitFor();
    expect(page.url()).not.toContain('ticket=');
    const table = page.getByRole('table');
    for (const name of ['Device', 'Node', 'Model', 'State', 'Last report'])
      await expect(table.getByRole('columnheader', { name, exact: true }).count()).resolves.toBe(1);
    for (const bay of ['01', '02', '03', '04'])
      await page.getByRole('link', { name: `default/parking-bay-${bay}` }).waitFor();

    // search narrows the table
    await page.getByLabel('Search devices').fill('led');
    await expect(page.getByRole('link', { name: /parking-bay/ }).count()).resolves.toBe(0);
    await page.getByLabel('Search devices').fill('');

    await page.getByRole('link', { name: 'default/led-light-instance-01' }).click();
    await page.getByRole('heading', { name: 'default/led-light-instance-01' }).waitFor();
    await page.getByLabel('New value for power-status').fill('ON');
    await page.getByRole('button', { name: 'Set power-status' }).click();
    await page.getByTestId('desired-power-status').filter({ hasText: 'ON' }).waitFor();
    // the simulated pin follows and the edge reports it: the page updates without a reload
    await page.getByTestId('reported-power-status').filter({ hasText: 'ON' }).waitFor({ timeout: 60_000 });

    // a value the model refuses is stopped before it is sent, with the model's reason
    // (a STRING takes anything; the GPIO mapper refuses what is neither onValue nor offValue)
    await page.getByLabel('New value for power-status').fill('BLINK');
    await page.getByRole('button', { name: 'Set power-status' }).click();
    const write = page.getByTestId('write-power-status');
    await write.filter({ hasText: /failed BLINK: .+/ }).waitFor({ timeout: 60_000 });
    expect(await write.textContent()).toMatch(/failed BLINK: .*BLINK.*(ON|OFF)/);
    // the event list says it too
    await page
      .getByRole('row', { name: /WriteFailed/ })
      .first()
      .waitFor();

    // a parking sensor's distance is plotted, and the plot grows as readings arrive
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Devices' }).click();
    await page.getByRole('link', { name: 'default/parking-bay-01' }).click();
    const plot = page.getByRole('figure', { name: 'distance: last hour' });
    await plot.waitFor();
    const count = async () => Number(await plot.getAttribute('data-points'));
    await expect.poll(count, { timeout: 60_000 }).toBeGreaterThan(0);
    const before = await count();
    await expect.poll(count, { timeout: 60_000 }).toBeGreaterThan(before);
    expect(await plot.locator('canvas').count()).toBe(1);
  });

  it('logs in with the token, refuses a wrong one, and is accessible by construction', async () => {
    const page = await newPage();
    await page.goto(`${up.controllerUrl}/console/`);
    await page.getByLabel('API token').fill('not-the-token');
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toMatch(/login refused/);
    const { readFileSync } = await import('node:fs');
    const token = readFileSync(`${up.dir}/.edgetwin/api-token`, 'utf8').trim();
    await page.getByLabel('API token').fill(token);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('link', { name: 'default/led-light-instance-01' }).waitFor();

    // the favicon is declared and served
    const icon = await page.locator('link[rel="icon"]').getAttribute('href');
    expect(icon).toBeTruthy();
    const res = await page.request.get(new URL(icon!, page.url()).href);
    expect(res.status()).toBe(200);
    expect(res.headers()['content-type']).toBe('image/svg+xml');

    const nav = page.getByRole('navigation', { name: 'Main' });
    for (const name of ['Devices', 'Nodes', 'Models']) await nav.getByRole('link', { name }).waitFor();
    for (const route of ['devices', 'nodes', 'models', 'devices/default/led-light-instance-01']) {
      await page.goto(`${up.controllerUrl}/console/#/${route}`);
      await page.getByRole('table').first().waitFor();
      // every control has an accessible name; every table has header cells
      const unnamed = await page.evaluate(() =>
        [...document.querySelectorAll('input, select, button, a')]
          .filter((el) => {
            const labelled = (el as HTMLInputElement).labels?.length;
            const text = (el.getAttribute('aria-label') ?? el.textContent ?? '').trim();
            return !labelled && text === '';
          })
          .map((el) => el.outerHTML.slice(0, 80)),
      );
      expect(unnamed, route).toEqual([]);
      const headless = await page.evaluate(
        () => [...document.querySelectorAll('table')].filter((t) => t.querySelectorAll('thead th').length === 0).length,
      );
      expect(headless, route).toBe(0);
    }
    await page.goto(`${up.controllerUrl}/console/#/nodes`);
    await page.getByRole('cell', { name: 'online' }).waitFor({ timeout: 30_000 });
    await page.getByRole('rowheader', { name: 'edge-node-1' }).waitFor();
    await page.goto(`${up.controllerUrl}/console/#/models`);
    await page.getByRole('heading', { name: /default\/led-light/ }).waitFor();

    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByLabel('API token').waitFor();
    expect(problems).toEqual([]);
  });
});
