// A real browser (Debian chromium through playwright-core) loads a test page SERVED BY mothd's http listener; the
// page's MQTT.js connects back over WebSocket to the http listener's own /mqtt, to a ws listener (MQTT 3.1, the
// sub-protocol mqttv3.1) and to a wss listener, and exchanges messages with mosquitto_pub/mosquitto_sub over TCP
// in both directions; mothd's /api/v1/clients must show each connection on its listener. A screenshot of the page is
// saved as an artifact.
//
// Cross-site (docs/security.md): a page served by another origin can neither publish through the http listener's
// API nor open its /mqtt, while the listener's own pages can.
//
// wss: chromium trusts mothd's development CA through --ignore-certificate-errors-spki-list with the CA's SPKI hash
// (no ignoreHTTPSErrors), so only certificates chaining to that key are accepted.
//
// Run: MOTHD=build/dev/apps/mothd/mothd node --test test/e2e/browser.test.js   (CTest: e2e_browser)

import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { artifactDir, launchChromium, spkiHash } from './lib/browser.js';
import { E2E_DIR, packageFile } from './lib/deps.js';
import { MosquittoSub, mosquittoPub } from './lib/mosquitto.js';
import { HOST, Mothd } from './lib/mothd.js';
import { unique, DEFAULT_TIMEOUT_MS } from './lib/wait.js';

const ENDPOINTS = ['own', 'ws', 'wss'];
// What the page's MQTT.js offers and mothd must pick: MQTT 3.1 clients ask for mqttv3.1, the others for mqtt.
const SUBPROTOCOL = { own: 'mqtt', ws: 'mqttv3.1', wss: 'mqtt' };

let broker;
let webRoot;
let browser;
let page;
let tcpSub;
const pageLog = [];

before(async () => {
  // web_root: the committed test pages plus MQTT.js's browser bundle from node_modules.
  webRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'moth-webroot-'));
  for (const f of fs.readdirSync(path.join(E2E_DIR, 'pages'))) {
    fs.copyFileSync(path.join(E2E_DIR, 'pages', f), path.join(webRoot, f));
  }
  fs.copyFileSync(packageFile('mqtt', 'dist/mqtt.min.js'), path.join(webRoot, 'mqtt.min.js'));

  try {
    broker = await Mothd.start({
      prefix: 'moth-browser-',
      listeners: [
        { name: 'tcp', kind: 'mqtt' },
        { name: 'ws', kind: 'ws' },
        { name: 'wss', kind: 'wss' },
        { name: 'http', kind: 'http', web_root: webRoot },
      ],
    });
  } catch (err) {
    err.message = 'could not start mothd with an http listener (kind = "http", web_root, WebSocket upgrade at /mqtt; ' +
      `see docs/configuration.md): ${err.message}`;
    throw err;
  }
});

after(async () => {
  if (page) {
    await page.screenshot({ path: path.join(artifactDir(), 'browser-mqtt-ws.png'), fullPage: true }).catch((err) => {
      console.log(`# screenshot failed: ${err.message}`);
    });
  }
  await browser?.close();
  await tcpSub?.stop();
  try {
    await broker?.stop();
  } finally {
    broker?.cleanup();
    if (webRoot) fs.rmSync(webRoot, { recursive: true, force: true });
  }
});

test('mothd serves the test page and MQTT.js bundle from web_root', async () => {
  const base = `http://${HOST}:${broker.port('http')}`;
  const html = await fetch(`${base}/mqtt-ws.html`);
  assert.equal(html.status, 200, `GET /mqtt-ws.html: ${html.status}`);
  assert.match(html.headers.get('content-type') ?? '', /^text\/html/);
  assert.equal(await html.text(), fs.readFileSync(path.join(E2E_DIR, 'pages', 'mqtt-ws.html'), 'utf8'));
  const js = await fetch(`${base}/mqtt.min.js`);
  assert.equal(js.status, 200, `GET /mqtt.min.js: ${js.status}`);
  assert.match(js.headers.get('content-type') ?? '', /javascript/);
  assert.equal((await js.arrayBuffer()).byteLength, fs.statSync(path.join(webRoot, 'mqtt.min.js')).size);
});

test('chromium page exchanges messages with a TCP client over ws, wss and the http listener\'s /mqtt', async (t) => {
  const prefix = unique('browser/');
  tcpSub = await MosquittoSub.start({ port: broker.port('tcp'), topics: `${prefix}/from-page/#`, qos: 1 });

  browser = await launchChromium({ trustSpki: [spkiHash(broker.caFile)] });
  const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
  page = await context.newPage();
  page.setDefaultTimeout(DEFAULT_TIMEOUT_MS);
  page.on('console', (m) => pageLog.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => pageLog.push(`pageerror: ${e.message}`));
  t.after(() => {
    if (pageLog.length) console.log(`# page log:\n# ${pageLog.join('\n# ')}`);
  });

  const query = new URLSearchParams({
    prefix,
    ws: `ws://${HOST}:${broker.port('ws')}/mqtt`,
    wss: `wss://localhost:${broker.port('wss')}/mqtt`,
  });
  const response = await page.goto(`http://${HOST}:${broker.port('http')}/mqtt-ws.html?${query}`);
  assert.equal(response.status(), 200);

  // All three connected and subscribed (or a page error, reported as it is).
  const state = await page.waitForFunction((names) => {
    const s = window.mothTest;
    if (!s) return false;
    if (s.errors.length > 0) return { errors: s.errors };
    return names.every((n) => s.state[n] === 'subscribed') && { subprotocol: s.subprotocol };
  }, ENDPOINTS).then((h) => h.jsonValue());
  assert.deepEqual(state, { subprotocol: SUBPROTOCOL }, 'page connections');
  // mothd's API sees each page connection on the listener it was meant for (the own-origin one on the http listener).
  const api = await (await fetch(`http://${HOST}:${broker.port('http')}/api/v1/clients`)).json();
  const seen = Object.fromEntries(ENDPOINTS.map((name) => {
    const c = api.clients.find((x) => x.client_id.startsWith(`page-${name}-`));
    return [name, c && { listener: c.listener, transport: c.transport, protocol_version: c.protocol_version }];
  }));
  assert.deepEqual(seen, {
    own: { listener: 'http', transport: 'http', protocol_version: 5 },
    ws: { listener: 'ws', transport: 'ws', protocol_version: 3 },
    wss: { listener: 'wss', transport: 'wss', protocol_version: 4 },
  }, `GET /api/v1/clients: ${JSON.stringify(api)}`);

  for (const name of ENDPOINTS) {
    // TCP -> page.
    const text = `to ${name} ${unique('')}`;
    const r = await mosquittoPub({ port: broker.port('tcp'), topic: `${prefix}/to-page/${name}`, message: text,
      args: ['-q', '1'] });
    assert.equal(r.code, 0, `mosquitto_pub: ${r.stderr}`);
    const got = await page.waitForFunction(([via, payload]) => {
      const s = window.mothTest;
      if (s.errors.length > 0) return { errors: s.errors };
      return s.received.find((m) => m.via === via && m.payload === payload);
    }, [name, text]).then((h) => h.jsonValue());
    assert.deepEqual(got, { via: name, topic: `${prefix}/to-page/${name}`, payload: text });

    // Page -> TCP.
    const back = `from ${name} ${unique('')}`;
    assert.equal(await page.evaluate(([n, p]) => window.mothPublish(n, p), [name, back]), true);
    const m = await tcpSub.waitForMessage((x) => x.payload === back, `the page's message over ${name}`);
    assert.equal(m.topic, `${prefix}/from-page/${name}`);
  }

  // Each page client got exactly its own message, nothing else; no page errors.
  const final = await page.evaluate(() => window.mothTest);
  assert.deepEqual(final.errors, []);
  assert.deepEqual(final.received.map((m) => m.via).sort(), [...ENDPOINTS].sort());
  assert.deepEqual(tcpSub.messages.map((m) => m.topic).sort(), ENDPOINTS.map((n) => `${prefix}/from-page/${n}`).sort());
  // The DOM lists them too, for the screenshot.
  await page.locator('#received li').nth(ENDPOINTS.length - 1).waitFor();
  await page.locator('#published li').nth(ENDPOINTS.length - 1).waitFor();
});

// Early Paho JavaScript (mqttws31.js, still in the HiveMQ websocket client page) decodes only the first MQTT packet
// of each WebSocket message. pages/first-packet-only.js does the same: it must still get the retained message sent
// after its SUBACK, the echo of its own QoS 1 PUBLISH next to the PUBACK, and a burst of 200 QoS 0 messages.
test('a client that reads one MQTT packet per WebSocket message gets every message', async () => {
  browser ??= await launchChromium({ trustSpki: [spkiHash(broker.caFile)] });
  const context = await browser.newContext();
  const p = await context.newPage();
  p.setDefaultTimeout(DEFAULT_TIMEOUT_MS);
  const urls = { own: '', ws: `ws://${HOST}:${broker.port('ws')}/mqtt`, wss: `wss://localhost:${broker.port('wss')}/mqtt` };
  for (const [name, url] of Object.entries(urls)) {
    const prefix = unique(`first-only/${name}/`);
    const r = await mosquittoPub({ port: broker.port('tcp'), topic: `${prefix}/retained`, message: 'kept',
      args: ['-q', '1', '-r'] });
    assert.equal(r.code, 0, `mosquitto_pub: ${r.stderr}`);
    const query = new URLSearchParams({ prefix, burst: '200', ...(url ? { url } : {}) });
    const response = await p.goto(`http://${HOST}:${broker.port('http')}/first-packet-only.html?${query}`);
    assert.equal(response.status(), 200);
    const s = await p.waitForFunction(() => {
      const t = window.mothTest;
      return t && (t.done || t.errors.length > 0) && t;
    }).then((h) => h.jsonValue());
    assert.deepEqual(
      { errors: s.errors, dropped: s.dropped, retained: s.retained, echo: s.echo, pubacks: s.pubacks, burst: s.burst },
      { errors: [], dropped: 0, retained: ['kept'], echo: ['echo me'], pubacks: 1, burst: 200 },
      `over ${name}: ${JSON.stringify(s)}`);
  }
  await context.close();
});

// What a page tries against the http listener at `base` (its own origin or another): a "simple" POST that needs no
// preflight (text/plain, mode no-cors: the answer is opaque to the page, so only the broker's side tells), a JSON
// POST (needs a preflight when cross-origin), and a WebSocket to /mqtt.
async function attemptFromPage(p, base, topic) {
  return p.evaluate(async ({ base, topic }) => {
    const out = {};
    try {
      const r = await fetch(`${base}/api/v1/publish`, { method: 'POST', mode: 'no-cors',
        headers: { 'Content-Type': 'text/plain' }, body: JSON.stringify({ topic, payload: 'simple', retain: true }) });
      out.simple = r.type === 'opaque' ? 'opaque' : `status ${r.status}`;
    } catch (e) {
      out.simple = 'failed';
    }
    try {
      const r = await fetch(`${base}/api/v1/publish`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ topic, payload: 'json' }) });
      out.json = `status ${r.status}`;
    } catch (e) {
      out.json = 'failed';
    }
    out.ws = await new Promise((resolve) => {
      const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/mqtt`, ['mqtt']);
      ws.onopen = () => {
        ws.close();
        resolve('open');
      };
      ws.onerror = () => resolve('refused');
      setTimeout(() => resolve('timeout'), 10_000);
    });
    return out;
  }, { base, topic });
}

test('a page from another origin cannot publish through the API nor open /mqtt; the own origin can', async (t) => {
  const prefix = unique('xsite/');
  const sub = await MosquittoSub.start({ port: broker.port('tcp'), topics: `${prefix}/#`, qos: 1 });
  const blank = '<!doctype html><meta charset="utf-8"><title>blank</title>';
  fs.writeFileSync(path.join(webRoot, 'blank.html'), blank);
  // The other origin: a plain HTTP server on another port, reached as "localhost" (another site than 127.0.0.1).
  const foreign = http.createServer((req, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end(blank));
  await new Promise((resolve) => foreign.listen(0, HOST, resolve));
  browser ??= await launchChromium({ trustSpki: [spkiHash(broker.caFile)] });
  const context = await browser.newContext();
  t.after(async () => {
    await context.close();
    await sub.stop();
    await new Promise((resolve) => foreign.close(resolve));
  });
  const p = await context.newPage();
  p.setDefaultTimeout(DEFAULT_TIMEOUT_MS);
  const base = `http://${HOST}:${broker.port('http')}`;

  for (const origin of [`http://localhost:${foreign.address().port}`, `http://${HOST}:${foreign.address().port}`]) {
    assert.equal((await p.goto(`${origin}/`)).status(), 200);
    const got = await attemptFromPage(p, base, `${prefix}/from-${new URL(origin).hostname}`);
    assert.deepEqual(got, { simple: 'opaque', json: 'failed', ws: 'refused' }, `from ${origin}`);
  }

  // The listener's own page: JSON is published, text/plain is refused where the page can see it, /mqtt opens.
  assert.equal((await p.goto(`${base}/blank.html`)).status(), 200);
  const own = await attemptFromPage(p, base, `${prefix}/own`);
  assert.deepEqual(own, { simple: 'status 415', json: 'status 200', ws: 'open' }, 'from the own origin');
  await sub.waitForMessage((m) => m.topic === `${prefix}/own`, 'the own page\'s message');
  // Nothing from the other origins arrived, and nothing was retained.
  const retained = await (await fetch(`${base}/api/v1/retained?filter=${encodeURIComponent(`${prefix}/#`)}`)).json();
  assert.deepEqual(retained.retained, []);
  assert.deepEqual(sub.messages.map((m) => `${m.topic} ${m.payload}`), [`${prefix}/own json`]);
});
