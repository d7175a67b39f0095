// The console on an open broker and on a closed one (issue 18), in Debian's chromium against a real mothd:
// - with the embedded defaults (no config file: MQTT listeners on all addresses, anonymous clients allowed) the API
//   marks the listeners `anonymous` and the dashboard and monitor show a banner pointing to docs/security.md;
// - the same defaults with auth.allow_anonymous = false, and a broker open to anonymous clients on loopback only,
//   show no banner;
// - the monitor's client list shows each client's ACL denials, highlighted when there are any.
//
// Run: MOTHD=build/dev/apps/mothd/mothd MOTH=build/dev/apps/moth/moth node --test test/e2e/console/security.test.js

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, test } from 'node:test';

import { importPackage } from '../lib/deps.js';
import { Mothd } from '../lib/mothd.js';
import { unique } from '../lib/wait.js';
import { HOST, launchFor, newPage, openConsole, screenshot, stopConsoleBroker, waitFor } from '../lib/console.js';

// What the running test must undo, last registered first: pages, clients and browsers before their broker.
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

// mothd with the embedded defaults (`set`: --set overrides), its console's base URL, and a chromium for it.
async function defaultsBroker(set = []) {
  const broker = await Mothd.startDefaults({ prefix: 'moth-console-defaults-', set });
  cleanups.push(() => stopConsoleBroker(broker));
  const http = [...broker.ports].find(([, p]) => p.kind === 'http');
  assert.ok(http, 'the embedded defaults have an http listener');
  assert.equal(http[1].address, HOST, 'the console listens on loopback only');
  broker.baseUrl = `http://${HOST}:${http[1].port}`;
  return broker;
}

async function browserFor(broker) {
  const browser = await launchFor(broker);
  cleanups.push(() => browser.close());
  return browser;
}

async function listeners(broker) {
  const res = await fetch(`${broker.baseUrl}/api/v1/listeners`);
  assert.equal(res.status, 200);
  return (await res.json()).listeners;
}

// A console page once it has asked the API about anonymous access.
async function checkedPage(browser, broker, pathname) {
  const page = await newPage(browser);
  cleanups.push(() => page.context().close());
  await openConsole(page, broker, pathname);
  await page.locator('body[data-anonymous-checked="true"]').waitFor();
  return page;
}

test('embedded defaults: the API marks the open listeners and both pages show the banner', async () => {
  const broker = await defaultsBroker();
  const all = await listeners(broker);
  assert.deepEqual(all.map((l) => [l.kind, l.address, l.anonymous]), [
    ['mqtt', '0.0.0.0', true],
    ['mqtts', '0.0.0.0', true],
    ['ws', '0.0.0.0', true],
    ['wss', '0.0.0.0', true],
    ['http', '127.0.0.1', true],
    ['mqttsn', '0.0.0.0', true],
  ]);
  // mothd says it at start-up too, for the listeners the network can reach.
  assert.match(broker.log(), /anonymous access on 0\.0\.0\.0:\d+ \(listener mqtt-0\)/);

  const browser = await browserFor(broker);
  for (const pathname of ['/monitor/', '/dashboard/']) {
    const page = await checkedPage(browser, broker, pathname);
    const banner = page.getByRole('region', { name: 'This broker is open to anonymous clients' });
    await banner.waitFor();
    const text = await banner.textContent();
    for (const l of all.filter((x) => x.kind !== 'http')) {
      assert.ok(text.includes(`${l.name} (${l.kind}, 0.0.0.0:${l.port})`), `${pathname} names ${l.name}: ${text}`);
    }
    assert.ok(!text.includes(all[4].name), 'the loopback http listener is not named');
    assert.match(text, /docs\/security\.md/);
    await screenshot(page, `anonymous-banner-${pathname.replaceAll('/', '')}`);
    assert.deepEqual(page.errors, []);
  }
});

test('embedded defaults with auth.allow_anonymous = false: no listener is open, no banner', async () => {
  const broker = await defaultsBroker(['auth.allow_anonymous=false']);
  assert.deepEqual((await listeners(broker)).map((l) => l.anonymous), [false, false, false, false, false, false]);
  const browser = await browserFor(broker);
  for (const pathname of ['/monitor/', '/dashboard/']) {
    const page = await checkedPage(browser, broker, pathname);
    assert.equal(await page.locator('#anonymous-banner').count(), 0, pathname);
  }
});

test('anonymous clients on loopback only: no banner; the monitor shows each client\'s denials', async () => {
  const dir = fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', 'moth-console-acl-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  // The anonymous section (before any "user" line): everything under allowed/, and $SYS for the monitor's client.
  const acl = path.join(dir, 'acl');
  fs.writeFileSync(acl, 'topic readwrite allowed/#\ntopic read $SYS/#\n');
  const broker = await Mothd.start({
    prefix: 'moth-console-denials-',
    extraToml: `[auth]\nallow_anonymous = true\nacl_file = "${acl}"\n`,
    listeners: [{ name: 'tcp', kind: 'mqtt' }, { name: 'wss', kind: 'wss' }, { name: 'http', kind: 'http' }],
  });
  cleanups.push(() => stopConsoleBroker(broker));
  broker.baseUrl = `http://${HOST}:${broker.port('http')}`;
  assert.ok((await listeners(broker)).every((l) => l.anonymous && l.address === HOST));

  const mqtt = await importPackage('mqtt');
  const connect = async (clientId) => {
    const c = await mqtt.connectAsync(`mqtt://${HOST}:${broker.port('tcp')}`,
      { clientId, protocolVersion: 5, reconnectPeriod: 0 });
    cleanups.push(() => c.endAsync(true));
    return c;
  };
  const deniedId = unique('denied-');
  const fineId = unique('fine-');
  const denied = await connect(deniedId);
  const fine = await connect(fineId);
  // Two PUBLISHes the ACL refuses: PUBACK 0x87 Not authorized each (docs/security.md, "Denials").
  for (let i = 0; i < 2; i++) {
    await assert.rejects(denied.publishAsync('forbidden/x', 'no', { qos: 1 }),
      (err) => err.code === 0x87 || /0x87|135|authori/i.test(String(err.message)));
  }
  await fine.publishAsync('allowed/x', 'yes', { qos: 1 });
  const res = await fetch(`${broker.baseUrl}/api/v1/clients/${encodeURIComponent(deniedId)}`);
  assert.equal((await res.json()).denied, 2);

  const browser = await browserFor(broker);
  const page = await checkedPage(browser, broker, '/monitor/');
  assert.equal(await page.locator('#anonymous-banner').count(), 0, 'loopback listeners are not announced');
  assert.equal(await page.locator('#clients-table thead th[data-col="denied"]').textContent(), 'Denied');
  const cell = (id) => page.locator(`#clients-table tbody tr[data-client-id="${id}"] td[data-col="denied"]`);
  await cell(deniedId).waitFor();
  assert.equal(await cell(deniedId).textContent(), '2');
  assert.match(await cell(deniedId).getAttribute('class'), /\bnonzero\b/);
  await waitFor(async () => (await cell(fineId).textContent()) === '0', { what: 'the other client\'s denials' });
  assert.doesNotMatch(await cell(fineId).getAttribute('class'), /\bnonzero\b/);
  await screenshot(page, 'monitor-denials');
  assert.deepEqual(page.errors, []);
});
