// The console's Dashboard page in Debian's chromium against a real mothd: the default layout (the course device's
// temperature and humidity) follows `moth pub`, and a layout edited in the page is saved on the broker
// (PUT /api/v1/dashboard) so that a second browser context loads it.
//
// Run: MOTHD=build/dev/apps/mothd/mothd MOTH=build/dev/apps/moth/moth node --test test/e2e/console/dashboard.test.js

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { unique } from '../lib/wait.js';
import {
  consoleSuite,
  mothPub,
  MothSub,
  publishScreenshot,
  screenshot,
  waitFor,
} from '../lib/console.js';

const suite = consoleSuite({ prefix: 'moth-console-dashboard-' });

async function dashboardPage() {
  const page = await suite.page('/dashboard/');
  await page.locator('body[data-loaded="true"]').waitFor();
  await page.locator('#header-status[data-state="connected"]').waitFor();
  return page;
}

const widget = (page, id) => page.locator(`[data-widget-id="${id}"]`);
const points = (page, id) => widget(page, id).locator('.chart-box').getAttribute('data-points');

test('the default dashboard shows the device: gauges and charts follow mytopic/temp and mytopic/humid', async () => {
  const res = await fetch(`${suite.broker.baseUrl}/api/v1/dashboard`);
  assert.equal(res.status, 404, 'no layout stored yet');
  const page = await dashboardPage();
  assert.equal(await page.getByRole('tab', { name: 'Device' }).getAttribute('aria-selected'), 'true');
  for (const id of ['temp-gauge', 'temp-chart', 'humid-gauge', 'humid-chart']) await widget(page, id).waitFor();
  // The page subscribes once connected; the widgets wait for data until then.
  await waitFor(async () => (await widget(page, 'temp-gauge').locator('.updated').textContent()) === 'waiting for data',
    { what: 'the temperature gauge to be rendered' });

  const temps = ['21.5', '22.25', '23'];
  const humids = ['48', '51.5', '50'];
  for (let i = 0; i < temps.length; i++) {
    // The virtual device publishes plain numbers, as the course's ESP32 sketch does.
    await mothPub(suite.broker, 'mytopic/temp', temps[i]);
    await mothPub(suite.broker, 'mytopic/humid', humids[i]);
    await waitFor(async () => Number(await points(page, 'temp-chart')) === i + 1 &&
      Number(await points(page, 'humid-chart')) === i + 1, {
      what: `chart point ${i + 1}`,
      detail: async () => `temp ${await points(page, 'temp-chart')}`,
    });
  }
  await waitFor(async () => (await widget(page, 'temp-gauge').getAttribute('data-value')) === '23', { what: 'gauge' });
  assert.equal(await widget(page, 'temp-gauge').locator('.gauge-value').textContent(), '23');
  assert.equal(await widget(page, 'humid-gauge').locator('.gauge-value').textContent(), '50');
  assert.match(await widget(page, 'temp-gauge').locator('.gauge svg').getAttribute('aria-label'), /Temperature: 23 °C/);
  assert.equal((await widget(page, 'humid-text').locator('.text-value').textContent()).trim(), '50%');

  const file = await screenshot(page, 'dashboard');
  publishScreenshot(file, 'dashboard');
  assert.deepEqual(page.errors, []);
});

test('an edited layout is saved on the broker and survives a reload in a second browser context', async () => {
  const page = await dashboardPage();
  await page.getByRole('button', { name: 'Edit layout' }).click();
  await page.getByRole('button', { name: 'Edit widget Temperature', exact: true }).click();
  const dlg = page.getByRole('dialog', { name: 'Edit widget' });
  await dlg.getByLabel('Title').fill('Kitchen temperature');
  await dlg.getByLabel('Maximum').fill('40');
  await dlg.getByRole('button', { name: 'Apply' }).click();

  // A new widget: last value of a JSON field.
  await page.getByRole('button', { name: '+ Add widget' }).first().click();
  const add = page.getByRole('dialog', { name: 'Add widget' });
  await add.getByLabel('Type').selectOption('text');
  await add.getByLabel('Title').fill('Battery');
  await add.getByLabel('Topic').fill('mytopic/status');
  await add.getByLabel('Unit').fill('V');
  await add.getByLabel(/JSON path/).fill('battery.volts');
  await add.getByRole('button', { name: 'Add', exact: true }).click();
  await page.getByRole('button', { name: 'Save layout' }).click();
  await page.getByText('Dashboard saved on the broker.').waitFor();

  const stored = await (await fetch(`${suite.broker.baseUrl}/api/v1/dashboard`)).json();
  const tempGauge = stored.tabs[0].groups[0].widgets.find((w) => w.id === 'temp-gauge');
  assert.equal(tempGauge.title, 'Kitchen temperature');
  assert.equal(tempGauge.max, 40);

  // Another browser context (no shared storage) loads the saved layout.
  const second = await dashboardPage();
  await second.getByRole('heading', { name: 'Kitchen temperature' }).waitFor();
  const battery = second.locator('section.widget', { has: second.getByRole('heading', { name: 'Battery' }) });
  await battery.waitFor();
  await mothPub(suite.broker, 'mytopic/status', '{"battery":{"volts":3.7},"rssi":-60}');
  await battery.locator('.text-value', { hasText: '3.7V' }).waitFor();
  await screenshot(second, 'dashboard-edited');
  assert.deepEqual(page.errors, []);
  assert.deepEqual(second.errors, []);
});

test('switch, button and slider widgets on a new tab publish, and the switch follows its topic', async () => {
  const page = await dashboardPage();
  const base = unique('e2e/controls/');
  await page.getByRole('button', { name: 'Edit layout' }).click();
  await page.getByRole('button', { name: 'Add tab' }).click();
  const tabDialog = page.getByRole('dialog', { name: 'Add tab' });
  await tabDialog.getByLabel('Tab name').fill('Controls');
  await tabDialog.getByRole('button', { name: 'Add' }).click();
  await page.getByRole('tab', { name: 'Controls' }).waitFor();
  assert.equal(await page.getByRole('tab', { name: 'Controls' }).getAttribute('aria-selected'), 'true');

  const addWidget = async (fields) => {
    await page.getByRole('button', { name: '+ Add widget' }).click();
    const dlg = page.getByRole('dialog', { name: 'Add widget' });
    await dlg.getByLabel('Type').selectOption(fields.type);
    await dlg.getByLabel('Title').fill(fields.title);
    await dlg.getByLabel('Topic').fill(fields.topic);
    for (const [label, value] of fields.more ?? []) await dlg.getByLabel(label, { exact: true }).fill(value);
    await dlg.getByRole('button', { name: 'Add', exact: true }).click();
    await page.getByRole('heading', { name: fields.title }).waitFor();
  };
  await addWidget({ type: 'switch', title: 'Lamp', topic: `${base}/lamp` });
  await addWidget({ type: 'button', title: 'Ping', topic: `${base}/ping`, more: [['Payload', 'ping!']] });
  await addWidget({ type: 'slider', title: 'Fan', topic: `${base}/fan`, more: [['Minimum', '0'], ['Maximum', '10']] });
  await page.getByRole('button', { name: 'Save layout' }).click();
  await page.getByText('Dashboard saved on the broker.').waitFor();

  const sub = await MothSub.start(suite.broker, `${base}/#`);
  try {
    const seen = (line) => waitFor(() => sub.lines().includes(line), { what: line, detail: () => sub.stdout });
    const lamp = page.getByRole('switch', { name: 'Lamp' });
    await lamp.click();
    await seen(`${base}/lamp on`);
    await lamp.click();
    await seen(`${base}/lamp off`);
    await page.getByRole('button', { name: 'Ping', exact: true }).click();
    await seen(`${base}/ping ping!`);
    const fan = page.getByRole('slider', { name: 'Fan' });
    await fan.focus();
    await fan.press('End');
    await seen(`${base}/fan 10`);
    // The switch follows what others publish on its topic.
    await mothPub(suite.broker, `${base}/lamp`, 'on');
    await waitFor(async () => (await lamp.getAttribute('aria-checked')) === 'true', { what: 'the switch to turn on' });
  } finally {
    sub.stop();
  }
  await screenshot(page, 'dashboard-controls');
  assert.deepEqual(page.errors, []);
});
