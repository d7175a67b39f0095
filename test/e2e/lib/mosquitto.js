// Debian's mosquitto_sub / mosquitto_pub (package mosquitto-clients) as the TCP (or TLS) client of the tests.

import { spawn } from 'node:child_process';

import { HOST } from './mothd.js';
import { waitFor, withDeadline, DEFAULT_TIMEOUT_MS } from './wait.js';

// Starts every message line; free of mosquitto_sub's -F escape characters @ % \.
const MARK = 'MOTH-MSG|';

function connectionArgs({ port, cafile, version = 'mqttv311', id }) {
  const args = ['-h', HOST, '-p', String(port), '-V', version];
  if (cafile) args.push('--cafile', cafile);
  if (id) args.push('-i', id);
  return args;
}

// A running mosquitto_sub, line-buffered through coreutils' stdbuf so its output arrives as it is printed.
// `start()` resolves once the broker has granted the subscription (mosquitto_sub -d prints "Subscribed (mid: 1): 1"
// on SUBACK), so nothing published afterwards can be missed; a refusal (128) fails it. Each message is one line
// "<MARK><topic><TAB><payload>" (payloads must not contain newlines); `messages` holds { topic, payload }.
export class MosquittoSub {
  static async start({ port, topics, qos = 1, cafile, version, id, timeoutMs = DEFAULT_TIMEOUT_MS }) {
    const sub = new MosquittoSub();
    const args = [...connectionArgs({ port, cafile, version, id }), '-d', '-q', String(qos), '-F', `${MARK}%t\t%p`];
    for (const t of [].concat(topics)) args.push('-t', t);
    sub.#proc = spawn('stdbuf', ['-oL', 'mosquitto_sub', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    sub.#exited = new Promise((resolve) => {
      sub.#proc.on('close', (code, signal) => resolve({ code, signal }));
      sub.#proc.on('error', (err) => resolve({ code: -1, error: err }));
    });
    sub.#exited.then((status) => {
      sub.exitStatus = status;
    });
    let buffered = '';
    sub.#proc.stdout.setEncoding('utf8');
    sub.#proc.stdout.on('data', (chunk) => {
      buffered += chunk;
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        sub.output.push(line);
        if (line.startsWith(MARK)) {
          const body = line.slice(MARK.length);
          const tab = body.indexOf('\t');
          sub.messages.push({ topic: body.slice(0, tab), payload: body.slice(tab + 1) });
        } else {
          const granted = /^Subscribed \(mid: \d+\): (.*)$/.exec(line);
          if (granted) sub.granted = granted[1].split(',').map((q) => Number(q.trim()));
        }
      }
    });
    sub.#proc.stderr.setEncoding('utf8');
    sub.#proc.stderr.on('data', (chunk) => {
      sub.stderr += chunk;
    });
    try {
      await waitFor(
        () => {
          if (sub.exitStatus) throw new Error(`mosquitto_sub exited early: ${sub.describe()}`);
          if (sub.granted?.some((q) => q >= 0x80)) throw new Error(`subscription refused: ${sub.describe()}`);
          return sub.granted !== null;
        },
        { timeoutMs, what: 'mosquitto_sub to receive its SUBACK', detail: () => sub.describe() },
      );
    } catch (err) {
      await sub.stop();
      throw err;
    }
    return sub;
  }

  output = [];
  messages = [];
  stderr = '';
  granted = null; // granted QoS list of the SUBACK
  exitStatus = null;
  #proc = null;
  #exited = null;

  // Resolves with the first message matching `predicate` ({ topic, payload } => bool).
  async waitForMessage(predicate, what, timeoutMs = DEFAULT_TIMEOUT_MS) {
    return waitFor(() => this.messages.find(predicate), {
      timeoutMs,
      what: `mosquitto_sub to receive ${what}`,
      detail: () => this.describe(),
    });
  }

  describe() {
    return `mosquitto_sub status ${JSON.stringify(this.exitStatus)}, granted ${JSON.stringify(this.granted)}, ` +
      `messages ${JSON.stringify(this.messages)}, stderr ${JSON.stringify(this.stderr.slice(-2000))}`;
  }

  async stop() {
    if (!this.exitStatus) this.#proc.kill('SIGTERM');
    await withDeadline(this.#exited, DEFAULT_TIMEOUT_MS, 'mosquitto_sub to exit after SIGTERM');
  }
}

// Runs mosquitto_pub to completion; resolves with { code, stdout, stderr } (code 0 = published and, for QoS > 0,
// acknowledged). `args` are extra arguments (-r, -q 2, ...).
export function mosquittoPub({ port, topic, message, args = [], cafile, version, id, timeoutMs = DEFAULT_TIMEOUT_MS }) {
  const proc = spawn('mosquitto_pub', [...connectionArgs({ port, cafile, version, id }), '-t', topic, '-m', message,
    ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8').on('data', (c) => { stdout += c; });
  proc.stderr.setEncoding('utf8').on('data', (c) => { stderr += c; });
  const done = new Promise((resolve) => {
    proc.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    proc.on('error', (err) => resolve({ code: -1, stdout, stderr: `${stderr}${err.message}` }));
  });
  return withDeadline(done, timeoutMs, `mosquitto_pub -t ${topic}`).catch((err) => {
    proc.kill('SIGKILL');
    throw err;
  });
}
