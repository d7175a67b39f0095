// The monitor's Cluster card (issue 23) in Debian's chromium against a real cluster: a nats-server with JetStream and
// two mothd nodes, n1 (whose console is opened) and n2, reporting every second. The card shows n1 with its link to
// NATS up, n2 joins as up, a client connected to n2 shows in n2's clients once reported, and n2 turns down once it is
// stopped (no report for three intervals). The same figures are checked in GET /api/v1/cluster and /metrics, which
// the card and a scraper read. A broker without [cluster] hides the card.
//
// Run: MOTHD=build/ci/apps/mothd/mothd MOTH=build/ci/apps/moth/moth node --test test/e2e/console/cluster.test.js

import assert from 'node:assert/strict';
import path from 'node:path';
import { afterEach, test } from 'node:test';

import { Mothd } from '../lib/mothd.js';
import { NatsServer } from '../lib/nats.js';
import { unique } from '../lib/wait.js';
import {
  launchFor,
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

const REPORT_INTERVAL_S = 1;
// A node is down once its last report is three intervals old; the API is read again within that much more, plus
// the time a Debug + ASan build on a loaded machine may take (a deadline, not a sleep).
const DOWN_DEADLINE_MS = 3 * REPORT_INTERVAL_S * 1000 + 12_000;

// What the running test must undo, last registered first: pages, clients and browsers before their brokers, the
// brokers before NATS.
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

function clusterToml(natsUrl, node) {
  return [
    '[cluster]',
    'enabled = true',
    `servers = ["${natsUrl}"]`,
    `node = "${node}"`,
    `report_interval_s = ${REPORT_INTERVAL_S}`,
    '',
  ].join('\n');
}

// A cluster node: tcp for its clients, and for the console's node wss and http.
async function startNode(nats, node, { withConsole = false } = {}) {
  const listeners = [{ name: 'tcp', kind: 'mqtt' }];
  if (withConsole) {
    const webRoot = process.env.MOTH_CONSOLE_WEB_ROOT; // the console being developed, as startConsoleBroker does
    listeners.push({ name: 'wss', kind: 'wss' },
      { name: 'http', kind: 'http', ...(webRoot ? { web_root: path.resolve(webRoot) } : {}) });
  }
  const broker = await Mothd.start({
    prefix: `moth-console-cluster-${node}-`,
    extraToml: `sys_interval_s = 1\n${clusterToml(nats.url, node)}`,
    listeners,
  });
  if (withConsole) broker.baseUrl = `http://${HOST}:${broker.port('http')}`;
  return broker;
}

async function getJson(broker, path) {
  const res = await fetch(`${broker.baseUrl}${path}`);
  assert.equal(res.status, 200, `GET ${path}`);
  return res.json();
}

async function clusterNode(broker, name) {
  const { nodes } = await getJson(broker, '/api/v1/cluster');
  return nodes.find((n) => n.name === name);
}

test('the monitor shows the nodes of the cluster, their clients, and a node that stopped as down', async () => {
  const nats = await NatsServer.start();
  cleanups.push(async () => {
    try {
      await nats.stop();
    } finally {
      nats.cleanup();
    }
  });
  const n1 = await startNode(nats, 'n1', { withConsole: true });
  cleanups.push(() => stopConsoleBroker(n1));
  const n2 = await startNode(nats, 'n2');
  let n2Stopped = false; // stopped by the test itself: then only its files are left to remove
  cleanups.push(() => (n2Stopped ? n2.cleanup() : stopConsoleBroker(n2)));

  // n1's own view: its link to NATS is up, it lists itself, and n2 once its first report arrives.
  const view = await getJson(n1, '/api/v1/cluster');
  assert.equal(view.enabled, true);
  assert.equal(view.node, 'n1');
  assert.equal(view.link.connected, true);
  assert.match(view.link.server, new RegExp(`:${new URL(nats.url).port}$`));
  const n2Up = await waitFor(async () => (await clusterNode(n1, 'n2'))?.alive, { what: 'n2 up in n1\'s view' });
  assert.ok(n2Up);

  const browser = await launchFor(n1);
  cleanups.push(() => browser.close());
  const page = await newPage(browser);
  await openConsole(page, n1, '/monitor/');
  const card = page.locator('#cluster');
  await card.waitFor({ state: 'visible' });
  assert.equal((await card.locator('[data-field="node"] .stat-value').textContent()).trim(), 'n1');
  await card.locator('[data-field="link"]', { hasText: 'connected' }).waitFor();
  assert.match(await card.locator('[data-field="link"]').textContent(), new RegExp(new URL(nats.url).port));
  const row = (name) => card.locator(`tbody tr[data-node="${name}"]`);
  await row('n1').locator('[data-col="state"]', { hasText: 'up' }).waitFor();
  assert.match(await row('n1').locator('[data-col="name"]').textContent(), /this node/);
  await row('n2').locator('[data-col="state"]', { hasText: 'up' }).waitFor();
  assert.doesNotMatch(await row('n2').locator('[data-col="name"]').textContent(), /this node/);
  assert.match((await row('n2').locator('[data-col="version"]').textContent()).trim(), /^\S+$/);
  assert.equal(await page.locator('#cluster-count').textContent(), '2');

  // A client of n2 is counted in n2's next report, and n1's table shows it (nothing else connects to n2).
  assert.equal((await clusterNode(n1, 'n2')).clients_connected, 0);
  const sub = await MothSub.start(n2, `${unique('e2e/cluster/')}/#`);
  cleanups.push(() => sub.stop());
  await waitFor(async () => (await clusterNode(n1, 'n2')).clients_connected === 1,
    { what: 'n2 reporting its client' });
  await row('n2').locator('[data-col="clients"]', { hasText: /^\s*1\s*$/ }).waitFor();
  await row('n2').locator('[data-col="subscriptions"]', { hasText: /^\s*1\s*$/ }).waitFor();

  let metrics = await (await fetch(`${n1.baseUrl}/metrics`)).text();
  assert.match(metrics, /^moth_cluster_link_up\{node="n1"\} 1$/m);
  assert.match(metrics, /^moth_cluster_nodes\{node="n1"\} 2$/m);
  const file = await screenshot(page, 'monitor-cluster');
  publishScreenshot(file, 'monitor-cluster');

  // n2 stops: with no report for three intervals, n1 counts it down; the table keeps it, marked down.
  sub.stop();
  n2Stopped = true;
  await n2.stop();
  const stoppedAt = Date.now();
  const down = await waitFor(async () => {
    const n = await clusterNode(n1, 'n2');
    return n && !n.alive ? n : null;
  }, { what: 'n2 down in n1\'s view', timeoutMs: DOWN_DEADLINE_MS });
  assert.ok(Date.parse(down.last_seen) <= stoppedAt, 'last seen before it stopped');
  await row('n2').locator('[data-col="state"]', { hasText: 'down' }).waitFor();
  await row('n1').locator('[data-col="state"]', { hasText: 'up' }).waitFor();
  metrics = await (await fetch(`${n1.baseUrl}/metrics`)).text();
  assert.match(metrics, /^moth_cluster_nodes\{node="n1"\} 1$/m);
  assert.deepEqual(page.errors, []);
});

test('without [cluster] the card stays hidden', async () => {
  const broker = await startConsoleBroker({ prefix: 'moth-console-nocluster-' });
  cleanups.push(() => stopConsoleBroker(broker));
  assert.deepEqual(await getJson(broker, '/api/v1/cluster'), { enabled: false, nodes: [] });
  const browser = await launchFor(broker);
  cleanups.push(() => browser.close());
  const page = await newPage(browser);
  await openConsole(page, broker, '/monitor/');
  await page.locator('body[data-loaded="true"]').waitFor();
  await waitFor(async () => (await page.locator('#cluster').getAttribute('data-state')) === 'disabled',
    { what: 'the card to have read a broker alone' });
  assert.equal(await page.locator('#cluster').isVisible(), false);
  assert.deepEqual(page.errors, []);
});
