// A real nats-server with JetStream (Debian package nats-server) for the cluster tests: its store and ports file in a
// temporary directory, the client port chosen by the server (-p -1) and read back from the JSON file it writes
// there (nats-server_<pid>.ports: {"nats":["nats://127.0.0.1:<port>"], ...}).
//
//   const nats = await NatsServer.start();
//   nats.url; // nats://127.0.0.1:<port>
//   await nats.stop(); nats.cleanup();

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { HOST } from './mothd.js';
import { waitFor, withDeadline } from './wait.js';

const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 20_000;

export function natsServerPath() {
  return process.env.NATS_SERVER ?? '/usr/sbin/nats-server';
}

export class NatsServer {
  static async start({ prefix = 'moth-e2e-nats-' } = {}) {
    const s = new NatsServer();
    await s.#start(prefix);
    return s;
  }

  dir = null;
  url = null;
  exitCode = null;
  exitSignal = null;
  #proc = null;
  #exited = null;

  async #start(prefix) {
    fs.accessSync(natsServerPath(), fs.constants.X_OK); // a clear error when the package is missing
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    const log = fs.openSync(this.logPath, 'w');
    try {
      this.#proc = spawn(natsServerPath(),
        ['-js', '-a', HOST, '-p', '-1', '-sd', path.join(this.dir, 'js'), '--ports_file_dir', this.dir],
        { stdio: ['ignore', log, log] });
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
    const portsFile = path.join(this.dir, `nats-server_${this.#proc.pid}.ports`);
    try {
      this.url = await waitFor(() => {
        if (this.exitCode !== null || this.exitSignal !== null) throw new Error('nats-server exited before listening');
        return this.#readUrl(portsFile);
      }, { timeoutMs: START_TIMEOUT_MS, what: `nats-server's ports file ${portsFile}` });
    } catch (err) {
      this.kill();
      err.message += `\n${this.logTail()}`;
      throw err;
    }
  }

  // The client URL once the file is complete JSON (it may be caught half written).
  #readUrl(file) {
    let ports;
    try {
      ports = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (err) {
      if (err.code === 'ENOENT' || err instanceof SyntaxError) return null;
      throw err;
    }
    const url = ports.nats?.find((u) => u.startsWith(`nats://${HOST}:`));
    if (!url) throw new Error(`no client URL on ${HOST} in ${file}: ${JSON.stringify(ports)}`);
    return url;
  }

  get logPath() {
    return path.join(this.dir, 'nats-server.log');
  }

  logTail(lines = 40) {
    let text = '';
    try {
      text = fs.readFileSync(this.logPath, 'utf8');
    } catch {
      /* no log yet */
    }
    const tail = text.split('\n').slice(-lines);
    return `---- nats-server log (last ${tail.length} lines) ----\n${tail.join('\n')}\n---- end of nats-server log ----`;
  }

  // SIGINT is nats-server's clean shutdown (exit 0; SIGTERM exits 1); a deadline, then the log tail on failure.
  async stop() {
    if (!this.#proc) return;
    const running = this.exitCode === null && this.exitSignal === null;
    if (running) this.#proc.kill('SIGINT');
    try {
      await withDeadline(this.#exited, STOP_TIMEOUT_MS, 'nats-server to exit after SIGINT');
    } catch (err) {
      this.kill();
      err.message += `\n${this.logTail()}`;
      throw err;
    }
    if (!running || this.exitCode !== 0) {
      throw new Error(`nats-server ${running ? 'after SIGINT' : 'had already'} exited with ` +
        `${this.exitSignal ?? this.exitCode}, expected 0\n${this.logTail()}`);
    }
  }

  kill() {
    if (this.#proc && this.exitCode === null && this.exitSignal === null) this.#proc.kill('SIGKILL');
  }

  // Removes the temporary directory unless MOTH_KEEP_TEST_LOGS is set (then its path is printed).
  cleanup() {
    if (!this.dir) return;
    if (process.env.MOTH_KEEP_TEST_LOGS) console.log(`# nats-server test directory kept: ${this.dir}`);
    else fs.rmSync(this.dir, { recursive: true, force: true });
    this.dir = null;
  }
}
