// Shared by the console specs (test/e2e/console): a real mothd serving the console (embedded in mothd, or
// MOTH_CONSOLE_WEB_ROOT while developing), chromium pages with their errors collected, screenshots, and
// `moth pub` / `moth sub` over TCP. consoleSuite() sets all of it up for a spec and tears it down after.
//
// Listeners (all 127.0.0.1, port 0): tcp (mqtt), wss (development certificate), http (console, API, /mqtt).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before } from 'node:test';

import { artifactDir, launchChromium, spkiHash } from './browser.js';
import { HOST, Mothd } from './mothd.js';
import { waitFor, withDeadline, DEFAULT_TIMEOUT_MS } from './wait.js';

export { HOST, waitFor, DEFAULT_TIMEOUT_MS };

export function mothPath() {
  const p = process.env.MOTH ?? '';
  if (!p) throw new Error('set MOTH to the moth binary (CTest does: MOTH=$<TARGET_FILE:moth>)');
  return p;
}

// Starts mothd with the console; `http` adds keys to the http listener (api_token, ...).
export async function startConsoleBroker({ http = {}, prefix = 'moth-console-' } = {}) {
  const webRoot = process.env.MOTH_CONSOLE_WEB_ROOT;
  const httpListener = { name: 'http', kind: 'http', ...(webRoot ? { web_root: path.resolve(webRoot) } : {}), ...http };
  const broker = await Mothd.start({
    prefix,
    extraToml: 'sys_interval_s = 1',
    listeners: [{ name: 'tcp', kind: 'mqtt' }, { name: 'wss', kind: 'wss' }, httpListener],
  });
  broker.baseUrl = `http://${HOST}:${broker.port('http')}`;
  return broker;
}

// Chromium trusting exactly mothd's development CA (for the wss listener).
export function launchFor(broker) {
  return launchChromium({ trustSpki: [spkiHash(broker.caFile)] });
}

// A page in its own context; uncaught page errors and console errors are collected in `page.errors`.
export async function newPage(browser, { viewport = { width: 1280, height: 900 } } = {}) {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  const page = await context.newPage();
  page.setDefaultTimeout(DEFAULT_TIMEOUT_MS);
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    // A 404 is how GET /api/v1/dashboard says "no layout stored yet"; chromium logs every 404 as an error.
    if (m.type() === 'error' && !/status of 404/.test(m.text())) page.errors.push(`console: ${m.text()}`);
  });
  return page;
}

// Loads a console page and checks it is the console, not mothd's placeholder.
export async function openConsole(page, broker, pathname) {
  const res = await page.goto(`${broker.baseUrl}${pathname}`);
  assert.equal(res.status(), 200, `GET ${pathname}`);
  const header = page.locator('header.app-header');
  await header.waitFor({ state: 'visible' }).catch(() => {
    throw new Error(`${pathname} is not the web console (mothd serves its placeholder? build web/dist before ` +
      'configuring mothd, or set MOTH_CONSOLE_WEB_ROOT=web/dist)');
  });
}

// Stops a broker from startConsoleBroker and removes its files, even when stopping fails.
export async function stopConsoleBroker(broker) {
  try {
    await broker?.stop();
  } finally {
    broker?.cleanup();
  }
}

// Registers a spec's before/after hooks: one mothd with the console (startConsoleBroker options) and one chromium
// trusting its CA. `suite.page(pathname)` opens a console page in a new context (of `broker` when given); after the spec, `onClose` runs,
// then the pages, chromium and mothd are closed. suite.broker and suite.browser are set once `before` has run.
export function consoleSuite({ onClose, ...brokerOptions } = {}) {
  const pages = [];
  const suite = {
    broker: null,
    browser: null,
    async page(pathname, { broker = suite.broker, ...options } = {}) {
      const page = await newPage(suite.browser, options);
      pages.push(page);
      await openConsole(page, broker, pathname);
      return page;
    },
  };
  before(async () => {
    suite.broker = await startConsoleBroker(brokerOptions);
    suite.browser = await launchFor(suite.broker);
  });
  after(async () => {
    await onClose?.();
    for (const p of pages) await p.context().close().catch(() => {});
    await suite.browser?.close();
    await stopConsoleBroker(suite.broker);
  });
  return suite;
}

export async function screenshot(page, name) {
  const file = path.join(artifactDir(), `console-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

// A TCP port nothing listens on: bound to 0, read back, closed.
export async function closedPort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, HOST, resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function run(args, what, timeoutMs = DEFAULT_TIMEOUT_MS) {
  return withDeadline(
    new Promise((resolve, reject) => {
      const proc = spawn(mothPath(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      proc.stdout.on('data', (d) => (out += d));
      proc.stderr.on('data', (d) => (out += d));
      proc.on('error', reject);
      proc.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${what} exited ${code}: ${out}`))));
    }),
    timeoutMs,
    what,
  );
}

// `moth pub` over TCP to the broker's tcp listener.
export function mothPub(broker, topic, message, extra = []) {
  return run(['pub', '-h', HOST, '-p', String(broker.port('tcp')), '-t', topic, '-m', message, ...extra],
    `moth pub -t ${topic}`);
}

// A running `moth sub -v` over TCP; `start` resolves once its subscription is acknowledged.
export class MothSub {
  static async start(broker, topic, extra = []) {
    const s = new MothSub();
    s.proc = spawn(mothPath(), ['sub', '-d', '-v', '-h', HOST, '-p', String(broker.port('tcp')), '-t', topic, ...extra],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    s.proc.stdout.setEncoding('utf8');
    s.proc.stderr.setEncoding('utf8');
    s.proc.stdout.on('data', (d) => (s.stdout += d));
    s.proc.stderr.on('data', (d) => (s.stderr += d));
    s.proc.on('close', (code) => (s.exitCode = code ?? -1));
    await waitFor(() => {
      if (s.exitCode !== null) throw new Error(`moth sub exited early (${s.exitCode}): ${s.stderr}`);
      return s.stderr.includes('Client subscribed');
    }, { what: 'moth sub to be subscribed', detail: () => s.stderr });
    return s;
  }

  stdout = '';
  stderr = '';
  exitCode = null;
  proc = null;

  lines() {
    return this.stdout.split('\n').filter(Boolean);
  }

  stop() {
    if (this.exitCode === null) this.proc.kill('SIGTERM');
  }
}

// Copies the final screenshots to docs/screenshots when MOTH_UPDATE_SCREENSHOTS is set (done by hand, not in CI).
export function publishScreenshot(file, name) {
  if (!process.env.MOTH_UPDATE_SCREENSHOTS) return;
  const dir = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..', '..', 'docs', 'screenshots');
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(file, path.join(dir, `${name}.png`));
}
