// The monitor's Bridges panel (issue 21) in Debian's chromium against real brokers: mothd with three bridges, "cloud"
// to a second mothd (up, forwarding), "lost" to a third mothd that is stopped once the bridge is up (down, with a
// backlog of the QoS 1 messages it could not forward) and "dead" to a closed port (down, with its last error). The
// same numbers are checked in GET /api/v1/bridges and /metrics, which the panel reads. A broker without bridges
// hides the panel.
//
// Run: MOTHD=build/ci/apps/mothd/mothd MOTH=build/ci/apps/moth/moth node --test test/e2e/console/bridges.test.js

import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';

import { Mothd } from '../lib/mothd.js';
import { unique } from '../lib/wait.js';
import {
  closedPort,
  launchFor,
  mothPub,
  MothSub,
  newPage,
  openConsole,
  publishScreenshot,
  screenshot,
  startConsoleBroker,
  stopConsoleBroker,
  waitFor,
  HOST,
} from '../lib/console.js';

// What the running test must undo, last registered first: pages, clients and browsers before their brokers.
let cleanups = [];
afterEach(async () => {
  const undo = cleanups.reverse();
  cleanups = [];
  let failure = null;
  for (const u of undo) {
    try {
      await u();
    } catch (err) {
      failure ??= err; // the rest is still undone (a broker left running would outlive the test)
    }
  }
  if (failure) throw failure;
});

function bridgeToml(name, address, topic) {
  return [
    '[[bridge]]',
    `name = "${name}"`,
    `addresses = ["${address}"]`,
    'protocol = "5.0"',
    'reconnect_min_ms = 200',
    'reconnect_max_ms = 1000',
    `topics = ["${topic} out 1"]`,
    '',
  ].join('\n');
}

async function getJson(broker, path) {
  const res = await fetch(`${broker.baseUrl}${path}`);
  assert.equal(res.status, 200, `GET ${path}`);
  return res.json();
}

// The session that is a bridge's queue, once the bridge has subscribed it (messages published before that are not
// the bridge's to forward).
async function waitForBridgeSession(broker, name) {
  await waitFor(async () => {
    const { sessions } = await getJson(broker, '/api/v1/sessions');
    return sessions.find((s) => s.client_id === `$bridge/${name}` && s.subscriptions > 0);
  }, { what: `the session $bridge/${name} with its subscription`, timeoutMs: 30_000 });
}

async function bridgeInfo(broker, name) {
  const { bridges } = await getJson(broker, '/api/v1/bridges');
  return bridges.find((b) => b.name === name);
}

test('the monitor shows bridges up and down with their last error and backlog', async () => {
  const remote = await Mothd.start({ prefix: 'moth-console-remote-', listeners: [{ name: 'tcp', kind: 'mqtt' }] });
  cleanups.push(() => stopConsoleBroker(remote));
  const gone = await Mothd.start({ prefix: 'moth-console-gone-', listeners: [{ name: 'tcp', kind: 'mqtt' }] });
  let goneStopped = false; // stopped by the test itself: then only its files are left to remove
  cleanups.push(() => (goneStopped ? gone.cleanup() : stopConsoleBroker(gone)));
  const deadPort = await closedPort();
  const up = unique('e2e/up/');
  const down = unique('e2e/down/');
  const local = await Mothd.start({
    prefix: 'moth-console-bridges-',
    extraToml: 'sys_interval_s = 1\n' +
      bridgeToml('cloud', `mqtt://${HOST}:${remote.port('tcp')}`, `${up}/#`) +
      bridgeToml('lost', `mqtt://${HOST}:${gone.port('tcp')}`, `${down}/#`) +
      bridgeToml('dead', `mqtt://${HOST}:${deadPort}`, 'e2e/never/#'),
    listeners: [{ name: 'tcp', kind: 'mqtt' }, { name: 'wss', kind: 'wss' }, { name: 'http', kind: 'http' }],
  });
  cleanups.push(() => stopConsoleBroker(local));
  local.baseUrl = `http://${HOST}:${local.port('http')}`;

  // "cloud" forwards to the remote: a subscriber there gets the message, and the bridge counts it sent.
  const sub = await MothSub.start(remote, `${up}/#`);
  cleanups.push(() => sub.stop());
  await waitForBridgeSession(local, 'cloud');
  await waitFor(async () => (await bridgeInfo(local, 'cloud'))?.connected, { what: 'bridge cloud up' });
  await mothPub(local, `${up}/t`, 'to-the-cloud', ['-q', '1']);
  await waitFor(() => sub.lines().some((l) => l.includes('to-the-cloud')), { what: 'the message at the remote' });
  await waitFor(async () => (await bridgeInfo(local, 'cloud')).sent >= 1, { what: 'bridge cloud counting it sent' });

  // "lost" was up, then its remote stopped: three QoS 1 messages wait in its queue (its session, subscribed while it
  // was up, keeps them).
  await waitForBridgeSession(local, 'lost');
  await waitFor(async () => (await bridgeInfo(local, 'lost'))?.connected, { what: 'bridge lost up' });
  goneStopped = true;
  await gone.stop();
  await waitFor(async () => (await bridgeInfo(local, 'lost')).connected === false, { what: 'bridge lost down' });
  for (const n of [1, 2, 3]) await mothPub(local, `${down}/m${n}`, `backlog-${n}`, ['-q', '1']);
  const lost = await waitFor(async () => {
    const b = await bridgeInfo(local, 'lost');
    return b.queued_messages === 3 && b.last_error ? b : null;
  }, { what: 'bridge lost with three queued messages and a last error', timeoutMs: 30_000 });
  assert.equal(lost.connected_since, null);
  assert.ok(lost.queued_bytes > 0, 'the backlog has a size');
  assert.equal(lost.dropped, 0);

  // "dead" never got through: down, with why, and nothing queued (its session starts with its first connection).
  const dead = await waitFor(async () => {
    const b = await bridgeInfo(local, 'dead');
    return b.last_error ? b : null;
  }, { what: 'bridge dead with a last error' });
  assert.equal(dead.connected, false);
  assert.equal(dead.address, `mqtt://${HOST}:${deadPort}`);
  assert.equal(dead.queued_messages, 0);

  const metrics = await (await fetch(`${local.baseUrl}/metrics`)).text();
  assert.match(metrics, /^moth_bridge_connected\{bridge="cloud"\} 1$/m);
  assert.match(metrics, /^moth_bridge_connected\{bridge="dead"\} 0$/m);
  assert.match(metrics, /^moth_bridge_queued_messages\{bridge="lost"\} 3$/m);
  assert.match(metrics, /^moth_bridge_sent_total\{bridge="cloud"\} [1-9]\d*$/m);

  const browser = await launchFor(local);
  cleanups.push(() => browser.close());
  const page = await newPage(browser);
  await openConsole(page, local, '/monitor/');
  const panel = page.locator('#bridges');
  await panel.waitFor({ state: 'visible' });
  const row = (name) => panel.locator(`tbody tr[data-bridge="${name}"]`);
  await row('cloud').locator('[data-col="state"]', { hasText: 'up' }).waitFor();
  await row('lost').locator('[data-col="state"]', { hasText: 'down' }).waitFor();
  await row('dead').locator('[data-col="state"]', { hasText: 'down' }).waitFor();
  await row('lost').locator('[data-col="backlog"]', { hasText: /^3 messages/ }).waitFor();
  assert.match(await row('cloud').locator('[data-col="traffic"]').textContent(), /^\s*[1-9]\d*\s*\/\s*0\s*$/);
  assert.equal((await row('dead').locator('[data-col="address"]').textContent()).trim(), dead.address);
  // The error shown is the API's (it may have changed since: read both again).
  await waitFor(async () => {
    const shown = (await row('dead').locator('[data-col="error"]').textContent()).trim();
    return shown !== '' && shown === (await bridgeInfo(local, 'dead')).last_error;
  }, { what: "the dead bridge's last error on the page" });
  assert.equal(await page.locator('#bridges-count').textContent(), '3');
  const file = await screenshot(page, 'monitor-bridges');
  publishScreenshot(file, 'monitor-bridges');
  assert.deepEqual(page.errors, []);
});

test('without bridges the panel stays hidden', async () => {
  const broker = await startConsoleBroker({ prefix: 'moth-console-nobridge-' });
  cleanups.push(() => stopConsoleBroker(broker));
  assert.deepEqual(await getJson(broker, '/api/v1/bridges'), { bridges: [] });
  const browser = await launchFor(broker);
  cleanups.push(() => browser.close());
  const page = await newPage(browser);
  await openConsole(page, broker, '/monitor/');
  await page.locator('body[data-loaded="true"]').waitFor();
  await waitFor(async () => (await page.locator('#bridges').getAttribute('data-state')) === 'none',
    { what: 'the panel to have read an empty bridge list' });
  assert.equal(await page.locator('#bridges').isVisible(), false);
  assert.deepEqual(page.errors, []);
});
