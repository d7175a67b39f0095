// The monitor's ban list (issue 19) in Debian's chromium against a real mothd: one click bans a connected MQTT 5
// client (MQTT.js in node, no automatic reconnect), which the broker disconnects and then refuses; the Bans card
// lists the ban and removes it again; the form adds an IPv6 CIDR ban, shown canonical, and says why a bad one is
// refused.
//
// Run: MOTHD=build/ci/apps/mothd/mothd MOTH=build/ci/apps/moth/moth node --test test/e2e/console/bans.test.js

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { connect, end } from '../lib/mqttjs.js';
import { unique } from '../lib/wait.js';
import { consoleSuite, publishScreenshot, screenshot, waitFor, HOST } from '../lib/console.js';

const clients = [];
const suite = consoleSuite({ prefix: 'moth-console-bans-', onClose: () => clients.forEach((c) => c.end(true)) });

function connectDevice(id) {
  return connect(`mqtt://${HOST}:${suite.broker.port('tcp')}`, { clientId: id, protocolVersion: 5, clean: true })
    .then((c) => {
      clients.push(c);
      return c;
    });
}

async function apiBans() {
  const res = await fetch(`${suite.broker.baseUrl}/api/v1/bans`);
  assert.equal(res.status, 200);
  return (await res.json()).bans;
}

test('one click bans a connected client; the Bans card lists it and unbans it', async () => {
  const id = unique('pest-');
  const device = await connectDevice(id);
  let disconnectPacket = null;
  device.on('disconnect', (packet) => (disconnectPacket = packet));

  const page = await suite.page('/monitor/');
  const row = page.locator(`#clients-table tbody tr[data-client-id="${id}"]`);
  await row.waitFor();
  // Throttled sits next to Denied: no publish rate limit is configured, so nothing was throttled.
  assert.equal(await row.locator('td[data-col="throttled"]').textContent(), '0');

  await row.getByRole('button', { name: `Ban ${id}` }).click();
  await page.getByRole('dialog', { name: 'Ban client?' }).getByRole('button', { name: 'Ban' }).click();
  await page.getByText(`Banned ${id}`).waitFor();
  await row.waitFor({ state: 'detached' });
  // MQTT 5 clients are told why: DISCONNECT 0x98 (Administrative action).
  await waitFor(() => disconnectPacket, { what: 'the DISCONNECT packet at the banned client' });
  assert.equal(disconnectPacket.reasonCode, 0x98);

  const banRow = page.locator(`#bans-table tbody tr[data-kind="client_id"][data-value="${id}"]`);
  await banRow.waitFor();
  const cells = await banRow.locator('td').allTextContents();
  assert.deepEqual(cells.slice(0, 5).map((c) => c.trim()),
    ['client id', id, 'banned from the console', 'until removed', 'api']);
  const listed = (await apiBans()).find((b) => b.kind === 'client_id' && b.value === id);
  assert.equal(listed?.source, 'api');
  assert.equal(listed?.until, null);
  // Banned means refused at CONNECT too: CONNACK 0x8A (Banned).
  await assert.rejects(connectDevice(id), (err) => err.code === 0x8a);

  await screenshot(page, 'monitor-bans');
  await banRow.getByRole('button', { name: `Unban ${id}` }).click();
  await page.getByText(`Unbanned ${id}`).waitFor();
  await banRow.waitFor({ state: 'detached' });
  assert.equal((await apiBans()).some((b) => b.value === id), false);
  await connectDevice(id);  // welcome again
  await page.locator(`#clients-table tbody tr[data-client-id="${id}"]`).waitFor();
  await end(clients.at(-1));
  assert.deepEqual(page.errors, []);
});

test('the form adds an IPv6 CIDR ban with an expiry, shown canonical, and explains a refused one', async () => {
  const page = await suite.page('/monitor/');
  const form = page.getByRole('form', { name: 'Add a ban' });
  await form.getByLabel('Kind').selectOption('address');
  await form.getByLabel('Value').fill('10.1.2.3/8');  // host bits set: not a range
  await form.getByRole('button', { name: 'Add ban' }).click();
  await page.locator('#ban-form-error', { hasText: 'CIDR range with zero host bits' }).waitFor();

  const before = Math.floor(Date.now() / 1000);
  await form.getByLabel('Value').fill('fd00:0:0:0::/48');
  await form.getByLabel('Reason').fill('lab network');
  await form.getByLabel('Duration').selectOption('3600');
  await form.getByRole('button', { name: 'Add ban' }).click();
  const banRow = page.locator('#bans-table tbody tr[data-kind="address"][data-value="fd00::/48"]');
  await banRow.waitFor();
  assert.equal(await page.locator('#ban-form-error').textContent(), '');
  assert.match(await banRow.locator('td').nth(3).textContent(), /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
  const listed = (await apiBans()).find((b) => b.kind === 'address' && b.value === 'fd00::/48');
  assert.equal(listed?.reason, 'lab network');
  assert.ok(listed.until >= before + 3600 && listed.until <= Math.floor(Date.now() / 1000) + 3600,
    `until ${listed.until} is an hour from now`);
  assert.equal(listed.until_text, new Date(listed.until * 1000).toISOString().replace('.000Z', 'Z'));
  publishScreenshot(await screenshot(page, 'monitor-bans-form'), 'monitor-bans');

  // Unbanning sends the value percent-encoded (':' and '/' in an IPv6 range).
  await banRow.getByRole('button', { name: 'Unban fd00::/48' }).click();
  await banRow.waitFor({ state: 'detached' });
  assert.equal((await apiBans()).some((b) => b.value === 'fd00::/48'), false);
  // Chromium logs the refused POST (400) as a console error; nothing else may appear.
  assert.deepEqual(page.errors.filter((e) => !/status of 400/.test(e)), []);
});
