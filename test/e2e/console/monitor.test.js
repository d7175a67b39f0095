// The console's Monitor page in Debian's chromium against a real mothd: it lists an MQTT 5 client connected over
// TCP (MQTT.js in node, no automatic reconnect, so its disconnection is final) with the columns of the issue,
// disconnects it, browses retained messages and shows $SYS.
//
// Run: MOTHD=build/dev/apps/mothd/mothd MOTH=build/dev/apps/moth/moth node --test test/e2e/console/monitor.test.js

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { importPackage } from '../lib/deps.js';
import { unique } from '../lib/wait.js';
import {
  consoleSuite,
  mothPub,
  publishScreenshot,
  screenshot,
  startConsoleBroker,
  stopConsoleBroker,
  waitFor,
  HOST,
} from '../lib/console.js';

let device;
const suite = consoleSuite({ prefix: 'moth-console-monitor-', onClose: () => device?.end(true) });

test('the monitor lists a connected client, disconnects it, and shows retained messages and $SYS', async () => {
  const id = unique('sensor-');
  const topic = unique('e2e/monitor/');
  await mothPub(suite.broker, `${topic}/config`, '{"interval":5}', ['-r', '-q', '1']);
  const mqtt = await importPackage('mqtt');
  device = await mqtt.connectAsync(`mqtt://${HOST}:${suite.broker.port('tcp')}`, {
    clientId: id,
    protocolVersion: 5,
    clean: true,
    properties: { sessionExpiryInterval: 300 },
    reconnectPeriod: 0,
  });
  let disconnectPacket = null;
  device.on('disconnect', (packet) => (disconnectPacket = packet));
  await device.subscribeAsync(`${topic}/#`, { qos: 1 });

  const page = await suite.page('/monitor/');
  const row = page.locator(`#clients-table tbody tr[data-client-id="${id}"]`);
  await row.waitFor();
  const cells = await row.locator('td').allTextContents();
  assert.equal(cells[0].trim(), id);
  assert.match(cells[1], /^127\.0\.0\.1:\d+$/);
  assert.equal(cells[2], '5.0');
  assert.equal(cells[3], 'mqtt');
  assert.equal(cells[4], 'tcp');
  assert.match(cells[5], /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
  assert.equal(cells[6], '1', 'one subscription');

  // Rates: the charts gain points as the page polls /api/v1/stats.
  await waitFor(async () => Number(await page.locator('#msg-rate-chart').getAttribute('data-points')) >= 3,
    { what: 'three message-rate samples', timeoutMs: 30_000 });
  // Retained browser: the topic tree holds the retained message; selecting it shows the payload.
  await page.locator(`#retained-tree button[data-topic="${topic}/config"]`).click();
  await page.locator('#retained-detail pre', { hasText: '"interval": 5' }).waitFor();
  // $SYS values arrive over the page's own MQTT connection.
  await page.locator('#sys-body tr').first().waitFor();
  assert.match(await page.locator('#sys-body td').first().textContent(), /^\$SYS\//);
  // The session list shows the client's session.
  await page.locator(`#sessions-table tbody tr[data-client-id="${id}"]`).waitFor();

  const file = await screenshot(page, 'monitor');
  publishScreenshot(file, 'monitor');

  await row.getByRole('button', { name: `Disconnect ${id}` }).click();
  await page.getByRole('dialog', { name: 'Disconnect client?' }).getByRole('button', { name: 'Disconnect' }).click();
  await page.getByText(`Disconnected ${id}`).waitFor();
  await row.waitFor({ state: 'detached' });
  const res = await fetch(`${suite.broker.baseUrl}/api/v1/clients/${encodeURIComponent(id)}`);
  assert.equal(res.status, 404, 'the client is no longer connected');
  // Its session stays (expiry 300 s) and shows as offline.
  await page.locator(`#sessions-table tbody tr[data-client-id="${id}"]`, { hasText: 'offline' }).waitFor();
  // MQTT 5 clients are told why: DISCONNECT with reason code 0x98 Administrative action.
  await waitFor(() => disconnectPacket, { what: 'the DISCONNECT packet at the client' });
  assert.equal(disconnectPacket.reasonCode, 0x98);
  assert.deepEqual(page.errors, []);
});

test('a protected API makes the monitor ask for the token, kept in session storage', async () => {
  const token = unique('token-');
  const secured = await startConsoleBroker({ prefix: 'moth-console-auth-', http: { api_token: token } });
  try {
    const anonymous = await fetch(`${secured.baseUrl}/api/v1/stats`);
    assert.equal(anonymous.status, 401);
    const page = await suite.page('/monitor/', { broker: secured });
    const login = page.getByRole('dialog', { name: 'Sign in to the broker API' });
    // A wrong token is refused and the question comes again.
    await login.getByLabel('API token').fill('not-the-token');
    await login.getByRole('button', { name: 'Sign in' }).click();
    await login.getByLabel('API token').waitFor();
    await login.getByLabel('API token').fill(token);
    await login.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#clients-table tbody tr').first().waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('moth.api.auth')), `Bearer ${token}`);
    await screenshot(page, 'monitor-auth');
    assert.deepEqual(page.errors.filter((e) => !/status of 401/.test(e)), []);
  } finally {
    await stopConsoleBroker(secured);
  }
});
