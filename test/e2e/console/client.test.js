// The console's Client page in Debian's chromium against a real mothd: connect / "connected" / Disconnect,
// subscriptions with colours, publishing, message details, unsubscribe, a wrong port, and messages crossing
// between the page (WebSocket, then secure WebSocket) and `moth pub` / `moth sub` over TCP.
//
// Run: MOTHD=build/dev/apps/mothd/mothd MOTH=build/dev/apps/moth/moth node --test test/e2e/console/client.test.js

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { unique } from '../lib/wait.js';
import {
  closedPort,
  consoleSuite,
  mothPub,
  MothSub,
  publishScreenshot,
  screenshot,
  waitFor,
  HOST,
} from '../lib/console.js';

const suite = consoleSuite({ prefix: 'moth-console-client-' });

const clientPage = () => suite.page('/');

async function connect(page, { port, tls = false } = {}) {
  if (port !== undefined) await page.getByLabel('Port').fill(String(port));
  if (tls) await page.getByLabel('TLS', { exact: true }).check();
  await page.getByRole('button', { name: 'Connect', exact: true }).click();
  await page.locator('#conn-status .status-text', { hasText: /^connected$/ }).waitFor();
  await page.getByRole('button', { name: 'Disconnect' }).waitFor();
}

async function subscribe(page, filter, { color, qos } = {}) {
  await page.getByRole('button', { name: 'Add New Topic Subscription' }).click();
  if (color) await page.locator('#sub-color').fill(color);
  if (qos !== undefined) await page.locator('#sub-qos').selectOption(String(qos));
  await page.locator('#sub-topic').fill(filter);
  await page.getByRole('button', { name: 'Subscribe', exact: true }).click();
}

async function publish(page, topic, payload, { qos = 0, retain = false } = {}) {
  await page.locator('#pub-topic').fill(topic);
  await page.locator('#pub-qos').selectOption(String(qos));
  await page.locator('#pub-retain').setChecked(retain);
  await page.locator('#pub-payload').fill(payload);
  await page.getByRole('button', { name: 'Publish', exact: true }).click();
}

function message(page, topic) {
  return page.locator(`#msg-list li.msg[data-topic="${topic}"]`);
}

test('connects with the page defaults, subscribes, publishes and shows each message with its details', async () => {
  const page = await clientPage();
  // Defaults follow the page's own location: host, port, /mqtt, no TLS over http.
  assert.equal(await page.getByLabel('Host').inputValue(), HOST);
  assert.equal(await page.getByLabel('Port').inputValue(), String(suite.broker.port('http')));
  assert.equal(await page.getByLabel('Path').inputValue(), '/mqtt');
  assert.equal(await page.getByLabel('TLS', { exact: true }).isChecked(), false);
  assert.match(await page.getByLabel('Client ID').inputValue(), /^clientId-[a-z0-9]{10}$/);
  assert.equal(await page.getByLabel('Keep alive (s)').inputValue(), '60');
  assert.equal(await page.locator('#conn-status').getAttribute('data-state'), 'disconnected');

  await connect(page);
  assert.equal(await page.locator('#conn-status').getAttribute('data-state'), 'connected');
  const dot = await page.locator('#conn-status .dot').evaluate((e) => getComputedStyle(e).backgroundColor);
  assert.equal(dot, 'rgb(47, 158, 68)', 'the status dot turns green');

  const base = unique('e2e/client/');
  // A retained message that exists before the subscription is delivered with the retained flag [MQTT-3.3.1-6].
  await publish(page, `${base}/a/state`, 'on', { qos: 1, retain: true });
  await page.getByText(`Published to ${base}/a/state`).first().waitFor();

  // The subscription form: QoS 2 by default, empty and duplicate filters refused.
  await page.getByRole('button', { name: 'Add New Topic Subscription' }).click();
  assert.equal(await page.locator('#sub-qos').inputValue(), '2');
  await page.locator('#sub-topic').fill('');
  await page.getByRole('button', { name: 'Subscribe', exact: true }).click();
  await page.locator('#sub-error', { hasText: 'empty' }).waitFor();
  await page.locator('#sub-topic').fill('bad/#/filter');
  await page.getByRole('button', { name: 'Subscribe', exact: true }).click();
  await page.locator('#sub-error', { hasText: "'#' must be" }).waitFor();
  await page.getByRole('button', { name: 'Cancel' }).click();

  await subscribe(page, `${base}/a/+`, { color: '#d9480f' });
  const retained = message(page, `${base}/a/state`);
  await retained.waitFor();
  assert.equal(await retained.locator('.msg-retained').textContent(), 'retained');
  assert.equal(await retained.locator('.msg-qos').textContent(), 'QoS 1');
  // A second, overlapping subscription gets the retained message again [MQTT-3.8.4-4]: two copies now.
  await subscribe(page, `${base}/#`, { color: '#1864ab', qos: 1 });
  await page.locator(`#sub-list li[data-filter="${base}/#"]`).waitFor();
  await waitFor(async () => (await retained.count()) === 2, { what: 'the retained message for the second filter' });
  await subscribe(page, `${base}/#`);
  await page.locator('#sub-error', { hasText: 'already subscribed' }).waitFor();
  await page.getByRole('button', { name: 'Cancel' }).click();
  assert.equal(await page.locator('#sub-list li').count(), 2);

  await publish(page, `${base}/a/json`, '{"t":21.5,"html":"<img src=x onerror=alert(1)>"}', { qos: 2 });
  await publish(page, `${base}/b/c/deep`, 'only the second filter', { qos: 1 });
  const json = message(page, `${base}/a/json`);
  const deep = message(page, `${base}/b/c/deep`);
  await json.waitFor();
  await deep.waitFor();

  // Newest first; exact MQTT matching picks the colour: a/+ matches a/json (first subscription wins), only # matches
  // b/c/deep.
  const topics = await page.locator('#msg-list li.msg').evaluateAll((els) => els.map((e) => e.dataset.topic));
  assert.deepEqual(topics, [`${base}/b/c/deep`, `${base}/a/json`, `${base}/a/state`, `${base}/a/state`]);
  const border = (l) => l.evaluate((e) => getComputedStyle(e).borderLeftColor);
  assert.equal(await border(json), 'rgb(217, 72, 15)');
  assert.equal(await border(deep), 'rgb(24, 100, 171)');

  // Timestamp, QoS (min of published and subscribed), no retained flag on live messages, payload as text.
  const stamp = await json.locator('.msg-time').textContent();
  assert.match(stamp, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
  const shown = new Date(stamp.replace(' ', 'T'));
  assert.ok(Math.abs(Date.now() - shown.getTime()) < 120_000, `timestamp ${stamp} is now`);
  assert.equal(await json.locator('.msg-qos').textContent(), 'QoS 2');
  assert.equal(await deep.locator('.msg-qos').textContent(), 'QoS 1');
  assert.equal(await json.locator('.msg-retained').count(), 0);
  assert.equal(await json.locator('.msg-payload').textContent(), '{"t":21.5,"html":"<img src=x onerror=alert(1)>"}');
  assert.equal(await page.locator('#msg-list img').count(), 0, 'payload HTML is shown, never parsed');

  // JSON pretty-printing, hex view, filtering.
  await page.getByLabel('Payload view').selectOption('json');
  assert.match(await json.locator('.msg-payload').textContent(), /^\{\n {2}"t": 21\.5,/);
  await page.getByLabel('Payload view').selectOption('hex');
  assert.match(await retained.first().locator('.msg-payload').textContent(), /^6f 6e$/);
  await page.getByLabel('Payload view').selectOption('text');
  await page.getByLabel('Filter messages').fill('deep');
  await waitFor(async () => (await page.locator('#msg-list li.msg').count()) === 1, { what: 'the filter to apply' });
  await page.getByLabel('Filter messages').fill('');

  const file = await screenshot(page, 'client');
  publishScreenshot(file, 'client');

  // Unsubscribing a/+ (confirmed) removes the messages only it matched; a/json also matches # and stays, recoloured.
  await page.getByRole('button', { name: `Unsubscribe from ${base}/a/+` }).click();
  const dialog = page.getByRole('dialog', { name: 'Unsubscribe?' });
  await dialog.getByRole('button', { name: 'Unsubscribe' }).click();
  await page.locator(`#sub-list li[data-filter="${base}/a/+"]`).waitFor({ state: 'detached' });
  assert.equal(await border(json), 'rgb(24, 100, 171)');
  // The first retained copy came for a/+ alone and is gone; the second came while # existed too and stays.
  assert.equal(await retained.count(), 1);
  assert.deepEqual(await page.locator('#msg-list li.msg').evaluateAll((els) => els.map((e) => e.dataset.topic)),
    [`${base}/b/c/deep`, `${base}/a/json`, `${base}/a/state`]);
  await page.getByRole('button', { name: `Unsubscribe from ${base}/#` }).click();
  await dialog.getByRole('button', { name: 'Unsubscribe' }).click();
  await page.locator('#msg-list li.msg').first().waitFor({ state: 'detached' });
  assert.equal(await page.locator('#msg-list li.msg').count(), 0);

  await page.getByRole('button', { name: 'Disconnect' }).click();
  await page.locator('#conn-status .status-text', { hasText: /^disconnected$/ }).waitFor();
  await page.getByRole('button', { name: 'Connect', exact: true }).waitFor();
  assert.deepEqual(page.errors, []);
});

test('a wrong port gives a clear error and the page stays disconnected', async () => {
  const page = await clientPage();
  const port = await closedPort();
  await page.getByLabel('Port').fill(String(port));
  await page.getByRole('button', { name: 'Connect', exact: true }).click();
  const error = page.locator('#conn-error');
  await error.filter({ hasText: 'Could not connect' }).waitFor();
  assert.match(await error.textContent(), new RegExp(`ws://${HOST.replace(/\./g, '\\.')}:${port}/mqtt`));
  assert.equal(await page.locator('#conn-status').getAttribute('data-state'), 'disconnected');
  await page.getByRole('button', { name: 'Connect', exact: true }).waitFor();
});

for (const transport of ['ws', 'wss']) {
  test(`messages cross between the page (${transport}) and moth pub / moth sub over TCP`, async () => {
    const page = await clientPage();
    if (transport === 'wss') await connect(page, { port: suite.broker.port('wss'), tls: true });
    else await connect(page);
    const base = unique(`e2e/cross-${transport}/`);

    // moth pub over TCP -> the page.
    await subscribe(page, `${base}/from-tcp`);
    await page.locator(`#sub-list li[data-filter="${base}/from-tcp"]`).waitFor();
    await mothPub(suite.broker, `${base}/from-tcp`, `hello page over ${transport}`, ['-q', '1']);
    const got = message(page, `${base}/from-tcp`);
    await got.waitFor();
    assert.equal(await got.locator('.msg-payload').textContent(), `hello page over ${transport}`);
    assert.equal(await got.locator('.msg-qos').textContent(), 'QoS 1');

    // The page -> moth sub over TCP.
    const sub = await MothSub.start(suite.broker, `${base}/from-page`, ['-q', '1']);
    try {
      await publish(page, `${base}/from-page`, `hello tcp from ${transport}`, { qos: 1 });
      await waitFor(() => sub.lines().includes(`${base}/from-page hello tcp from ${transport}`), {
        what: 'moth sub to print the page message',
        detail: () => `stdout: ${sub.stdout} stderr: ${sub.stderr}`,
      });
    } finally {
      sub.stop();
    }
    await screenshot(page, `client-${transport}`);
    assert.deepEqual(page.errors, []);
  });
}

test('message tools: MQTT 5 properties, pause, export as JSON lines and the cap', async () => {
  const page = await clientPage();
  await connect(page);
  const base = unique('e2e/tools/');
  await subscribe(page, `${base}/#`);
  await page.locator(`#sub-list li[data-filter="${base}/#"]`).waitFor();

  // MQTT 5 publish properties travel to the subscriber and are listed under the message.
  await page.getByText('MQTT 5 properties').click();
  await page.getByLabel('Content type').fill('application/json');
  await page.getByLabel('Response topic').fill(`${base}/reply`);
  await page.getByLabel(/User properties/).fill('room=kitchen\nunit=C');
  await publish(page, `${base}/props`, '{"t":20}', { qos: 1 });
  const props = message(page, `${base}/props`).locator('.msg-props');
  await props.waitFor();
  const text = await props.textContent();
  assert.match(text, /contentType: "application\/json"/);
  assert.match(text, new RegExp(`responseTopic: "${base}/reply"`));
  assert.match(text, /userProperties: \{"room":"kitchen","unit":"C"\}/);
  await page.getByLabel('Content type').fill('');
  await page.getByLabel('Response topic').fill('');
  await page.getByLabel(/User properties/).fill('');

  // Pause holds new messages back; Resume shows them.
  await page.getByRole('button', { name: 'Pause' }).click();
  await publish(page, `${base}/held`, 'while paused');
  await page.locator('#msg-paused', { hasText: '1 new message held back' }).waitFor();
  assert.equal(await message(page, `${base}/held`).count(), 0);
  await page.getByRole('button', { name: 'Resume' }).click();
  await message(page, `${base}/held`).waitFor();

  // Export: one JSON object per line, oldest first.
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Export' }).click(),
  ]);
  assert.match(download.suggestedFilename(), /^moth-messages-.*\.jsonl$/);
  const lines = (await streamText(await download.createReadStream())).trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => [l.topic, l.payload, l.qos, l.retain]),
    [[`${base}/props`, '{"t":20}', 1, false], [`${base}/held`, 'while paused', 0, false]]);

  // The cap keeps only the newest messages.
  await page.getByLabel('Keep messages').fill('1');
  await page.getByLabel('Keep messages').dispatchEvent('change');
  await waitFor(async () => (await page.locator('#msg-list li.msg').count()) === 1, { what: 'the cap to apply' });
  assert.equal(await page.locator('#msg-list li.msg').first().getAttribute('data-topic'), `${base}/held`);
  assert.deepEqual(page.errors, []);
});

test('a client refused or disconnected by the broker sees why, by reason code name', async () => {
  const page = await clientPage();
  // Longer than limits.max_client_id_length (256): CONNACK 0x85.
  await page.getByLabel('Client ID').fill(`clientId-${'x'.repeat(300)}`);
  await page.getByRole('button', { name: 'Connect', exact: true }).click();
  await page.locator('#conn-error', { hasText: 'Client Identifier not valid (0x85)' }).waitFor();
  assert.equal(await page.locator('#conn-status').getAttribute('data-state'), 'disconnected');

  const id = unique('clientId-');
  await page.getByLabel('Client ID').fill(id);
  await connect(page);
  const res = await fetch(`${suite.broker.baseUrl}/api/v1/clients/${encodeURIComponent(id)}`, { method: 'DELETE' });
  assert.equal(res.status, 200);
  await page.locator('#conn-status .status-text', { hasText: /^disconnected$/ }).waitFor();
  await page.locator('#conn-error', { hasText: 'Administrative action (0x98)' }).waitFor();
  await page.getByRole('button', { name: 'Connect', exact: true }).waitFor();
  assert.deepEqual(page.errors, []);
});

async function streamText(stream) {
  let s = '';
  for await (const chunk of stream) s += chunk;
  return s;
}
