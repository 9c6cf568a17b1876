// Screenshots of the web console's main pages at 1280x800 into docs/console/ (issue 16), made from a real
// `edgetwin up` in Debian's Chromium: `npm run screenshots`. Run it again when the console changes.
import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { launchBrowser, startUp } from '../packages/console/test/stack.js';

const OUT = resolve(import.meta.dirname, '../docs/console');
mkdirSync(OUT, { recursive: true });
const up = await startUp(['led-raspberrypi', 'traffic-light', 'parking']);
const browser = await launchBrowser();
try {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  const shot = async (name: string) => {
    await page.screenshot({ path: join(OUT, `${name}.png`) });
    console.log(`docs/console/${name}.png`);
  };
  await page.goto(`${up.controllerUrl}/console/`);
  await page.getByLabel('API token').waitFor();
  await shot('login');
  await page.getByLabel('API token').fill(readFileSync(join(up.dir, '.edgetwin', 'api-token'), 'utf8').trim());
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('link', { name: 'default/traffic-light-01' }).waitFor();

  // the LED set ON, then a value its mapper refuses
  await page.goto(`${up.controllerUrl}/console/#/devices/default/led-light-instance-01`);
  await page.getByLabel('New value for power-status').fill('ON');
  await page.getByRole('button', { name: 'Set power-status' }).click();
  await page.getByTestId('reported-power-status').filter({ hasText: 'ON' }).waitFor({ timeout: 60_000 });
  await page.getByLabel('New value for power-status').fill('BLINK');
  await page.getByRole('button', { name: 'Set power-status' }).click();
  await page
    .getByTestId('write-power-status')
    .filter({ hasText: /failed/ })
    .waitFor({ timeout: 60_000 });
  await shot('device-refused-write');

  // a parking sensor with some readings plotted
  await page.goto(`${up.controllerUrl}/console/#/devices/default/parking-bay-01`);
  const plot = page.getByRole('figure', { name: 'distance: last hour' });
  await plot.waitFor();
  const deadline = Date.now() + 60_000;
  while (Number(await plot.getAttribute('data-points')) < 8 && Date.now() < deadline)
    await page.waitForFunction(
      (n) => Number(document.querySelector('figure.plot')?.getAttribute('data-points')) > n,
      Number(await plot.getAttribute('data-points')),
      { timeout: 30_000 },
    );
  await shot('device-plot');

  await page.goto(`${up.controllerUrl}/console/#/devices`);
  await page.getByRole('link', { name: 'default/parking-bay-04' }).waitFor();
  await shot('devices');
  await page.goto(`${up.controllerUrl}/console/#/nodes`);
  await page.getByRole('cell', { name: 'online' }).waitFor();
  await shot('nodes');
  await page.goto(`${up.controllerUrl}/console/#/models`);
  await page.getByRole('heading', { name: /parking-sensor/ }).waitFor();
  await shot('models');
} finally {
  await browser.close();
  await up.stop();
}
