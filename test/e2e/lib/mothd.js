// Runs the real mothd for the JavaScript tests, with the conventions of test/interop/broker.py:
//
// - the binary comes from $MOTHD (CTest sets it to $<TARGET_FILE:mothd>);
// - a temporary directory holds the TOML config, data_dir (with the development CA in data_dir/tls), the ports
//   file and mothd's log;
// - every listener binds 127.0.0.1, port 0; `start()` waits, with a deadline, for the ports file mothd writes once
//   every listener is bound and reads the real ports back;
// - `stop()` sends SIGTERM and waits, with a deadline, for exit status 0 (it throws with the log tail otherwise).
//
//   const broker = await Mothd.start({ listeners: [{ name: 'tcp', kind: 'mqtt' }, { name: 'wss', kind: 'wss' }] });
//   broker.port('wss'); broker.caFile; await broker.stop();
//
// `Mothd.startDefaults()` runs it without a config file instead: the embedded defaults (mqtt, mqtts, ws, wss, mqttsn on
// all addresses, http on 127.0.0.1, anonymous clients allowed), with every port 0 and data_dir in the temporary
// directory, set by --set overrides.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { waitFor } from './wait.js';

export const HOST = '127.0.0.1';
const DEFAULT_LISTENERS = 6; // config::default_config(): mqtt, mqtts, ws, wss, http, mqttsn (UDP)
const START_TIMEOUT_MS = 30_000; // a Debug + ASan build on a loaded 2-core machine can be slow to start
const STOP_TIMEOUT_MS = 20_000;

export function mothdPath() {
  const p = process.env.MOTHD ?? '';
  if (!p) throw new Error('set MOTHD to the mothd binary (CTest does: MOTHD=$<TARGET_FILE:mothd>)');
  try {
    fs.accessSync(p, fs.constants.X_OK);
  } catch {
    throw new Error(`MOTHD=${p} is not an executable file`);
  }
  return p;
}

// TOML basic string: quotes and backslashes escaped (temp paths have neither, but be strict).
function tomlString(s) {
  return `"${String(s).replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function tomlValue(v) {
  if (typeof v === 'string') return tomlString(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new Error(`unsupported TOML value ${JSON.stringify(v)}`);
}

export class Mothd {
  // listeners: [{ name, kind, ...other listener keys (web_root, ws_path, cert_file, ...) }]; bind/port are forced
  // to 127.0.0.1:0. extraToml: top-level keys written before the listener tables.
  static async start({ listeners, extraToml = '', prefix = 'moth-e2e-' } = {}) {
    const broker = new Mothd();
    await broker.#start(listeners ?? [{ name: 'mqtt', kind: 'mqtt' }], extraToml, prefix);
    return broker;
  }

  // The embedded defaults (no config file) with every listener on port 0; `set`: more `--set key=value` overrides.
  static async startDefaults({ set = [], prefix = 'moth-e2e-defaults-' } = {}) {
    const broker = new Mothd();
    broker.#anyAddress = true;
    broker.#makeDir(prefix);
    const args = ['--ports-file', broker.#portsFile, '--set', `data_dir=${broker.dataDir}`, '--set', 'workers=2',
      '--log-level', 'debug'];
    for (let i = 0; i < DEFAULT_LISTENERS; i++) args.push('--set', `listener.${i}.port=0`);
    // The MQTT-SN listener on all addresses would broadcast ADVERTISE to the network: tests stay on loopback.
    args.push('--set', 'mqttsn.advertise_interval_s=0');
    for (const s of set) args.push('--set', s);
    await broker.#spawn(args, []);
    return broker;
  }

  dir = null;
  dataDir = null;
  logPath = null;
  ports = new Map(); // name -> { kind, address, port }
  exitCode = null;
  exitSignal = null;
  #proc = null;
  #exited = null;
  #anyAddress = false; // the embedded defaults bind all addresses: the ports file says 0.0.0.0, not 127.0.0.1
  #portsFile = null;

  #makeDir(prefix) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    this.dataDir = path.join(this.dir, 'data');
    this.#portsFile = path.join(this.dir, 'ports');
  }

  async #start(listeners, extraToml, prefix) {
    this.#makeDir(prefix);
    const config = path.join(this.dir, 'mothd.toml');
    let toml =
      (extraToml.includes('allow_anonymous') ? '' : 'auth.allow_anonymous = true\n') +
      `ports_file = ${tomlString(this.#portsFile)}\n` +
      `data_dir = ${tomlString(this.dataDir)}\n` +
      'workers = 2\n' +
      'log_level = "debug"\n' +
      `${extraToml}\n`;
    for (const l of listeners) {
      toml += '\n[[listener]]\n';
      for (const [k, v] of Object.entries({ ...l, bind: HOST, port: 0 })) toml += `${k} = ${tomlValue(v)}\n`;
    }
    fs.writeFileSync(config, toml);
    await this.#spawn(['--config', config], listeners.map((l) => l.name));
  }

  // Runs mothd with `args` and waits for its ports file, which must name every listener in `names`.
  async #spawn(args, names) {
    const portsFile = this.#portsFile;
    this.logPath = path.join(this.dir, 'mothd.log');
    const log = fs.openSync(this.logPath, 'w');
    try {
      this.#proc = spawn(mothdPath(), args, { stdio: ['ignore', log, log] });
    } finally {
      fs.closeSync(log);
    }
    this.#exited = new Promise((resolve) => {
      this.#proc.on('exit', (code, signal) => {
        this.exitCode = code;
        this.exitSignal = signal;
        resolve();
      });
      this.#proc.on('error', (err) => {
        this.exitCode = -1;
        this.spawnError = err;
        resolve();
      });
    });
    try {
      await waitFor(
        () => {
          if (this.exitCode !== null || this.exitSignal !== null) {
            throw new Error(`mothd exited (${this.#describeExit()}) before listening`);
          }
          return this.#readPorts(portsFile);
        },
        { timeoutMs: START_TIMEOUT_MS, what: `mothd's ports file ${portsFile}` },
      );
    } catch (err) {
      this.kill();
      err.message += `\n${this.logTail()}`;
      throw err;
    }
    for (const name of names) {
      if (!this.ports.has(name)) throw new Error(`listener ${name} missing from the ports file\n${this.logTail()}`);
    }
  }

  #readPorts(file) {
    let text;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      if (err.code === 'ENOENT') return false;
      throw err;
    }
    if (!text.endsWith('\n')) return false; // written atomically by mothd, but be strict anyway
    for (const line of text.split('\n').filter(Boolean)) {
      const f = line.split(/\s+/);
      if (f.length !== 4) throw new Error(`bad ports file line ${JSON.stringify(line)}`);
      if (f[2] !== HOST && !this.#anyAddress) throw new Error(`listener ${f[0]} bound to ${f[2]}, expected ${HOST}`);
      this.ports.set(f[0], { kind: f[1], address: f[2], port: Number(f[3]) });
    }
    return true;
  }

  // The port a listener got; throws for an unknown name.
  port(name) {
    const p = this.ports.get(name);
    if (!p) throw new Error(`no listener named ${name}; have ${[...this.ports.keys()].join(', ')}`);
    return p.port;
  }

  // The development CA mothd creates for TLS listeners without cert_file (see docs/configuration.md).
  get caFile() {
    return path.join(this.dataDir, 'tls', 'moth-dev-ca.pem');
  }

  get ca() {
    return fs.readFileSync(this.caFile);
  }

  log() {
    try {
      return fs.readFileSync(this.logPath, 'utf8');
    } catch {
      return '';
    }
  }

  logTail(lines = 80) {
    const tail = this.log().split('\n').slice(-lines);
    return `---- mothd log (last ${tail.length} lines) ----\n${tail.join('\n')}\n---- end of mothd log ----`;
  }

  #describeExit() {
    if (this.spawnError) return `spawn failed: ${this.spawnError.message}`;
    return this.exitSignal ? `signal ${this.exitSignal}` : `exit code ${this.exitCode}`;
  }

  // SIGTERM, then exit status 0 within STOP_TIMEOUT_MS, or an Error carrying the log tail.
  async stop() {
    if (!this.#proc) return;
    const running = this.exitCode === null && this.exitSignal === null;
    if (running) this.#proc.kill('SIGTERM');
    let timer;
    const timedOut = await Promise.race([
      this.#exited.then(() => false),
      new Promise((resolve) => {
        timer = setTimeout(() => resolve(true), STOP_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      this.kill();
      throw new Error(`mothd did not exit within ${STOP_TIMEOUT_MS} ms of SIGTERM\n${this.logTail()}`);
    }
    if (!running || this.exitCode !== 0) {
      throw new Error(`mothd ${running ? 'after SIGTERM' : 'had already'} exited with ${this.#describeExit()}, ` +
        `expected exit code 0 after SIGTERM\n${this.logTail()}`);
    }
  }

  kill() {
    if (this.#proc && this.exitCode === null && this.exitSignal === null) this.#proc.kill('SIGKILL');
  }

  // Removes the temporary directory unless MOTH_KEEP_TEST_LOGS is set (then its path is printed).
  cleanup() {
    if (!this.dir) return;
    if (process.env.MOTH_KEEP_TEST_LOGS) {
      console.log(`# mothd test directory kept: ${this.dir}`);
    } else {
      fs.rmSync(this.dir, { recursive: true, force: true });
    }
    this.dir = null;
  }
}
