// MQTT.js (npm `mqtt` 5.x, as web pages and Node-RED use it) against mothd with a password file (written by Debian's
// mosquitto_passwd) and an ACL (issue 18): user name and password over ws:// and mqtt://, a refused password, and
// denials as MQTT.js reports them (5.0 SUBACK 0x87, PUBACK 0x87; 3.1.1 SUBACK 0x80).
//
// Run: MOTHD=build/dev/apps/mothd/mothd node --test test/e2e/mqttjs_auth.test.js   (CTest: interop_mqttjs_auth)

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { HOST, Mothd } from './lib/mothd.js';
import { connect, end, publish, subscribe, waitForMessage, withPayload } from './lib/mqttjs.js';
import { unique } from './lib/wait.js';

let broker;
let files;
const clients = [];

before(async () => {
  files = fs.mkdtempSync(path.join(os.tmpdir(), 'moth-mqttjs-auth-'));
  const passwd = path.join(files, 'passwd');
  execFileSync('mosquitto_passwd', ['-c', '-b', passwd, 'alice', 'alice-pw']);
  execFileSync('mosquitto_passwd', ['-b', passwd, 'bob', 'bob-pw']);
  fs.writeFileSync(path.join(files, 'acl'), 'user alice\ntopic readwrite home/#\n\nuser bob\ntopic read home/#\n');
  broker = await Mothd.start({
    prefix: 'moth-mqttjs-auth-',
    extraToml: `[auth]\npassword_file = "${passwd}"\nacl_file = "${path.join(files, 'acl')}"\nallow_anonymous = false\n`,
    listeners: [
      { name: 'tcp', kind: 'mqtt' },
      { name: 'ws', kind: 'ws' },
    ],
  });
});

after(async () => {
  await Promise.all(clients.map((c) => end(c)));
  try {
    await broker?.stop();
  } finally {
    broker?.cleanup();
    fs.rmSync(files, { recursive: true, force: true });
  }
});

async function client(transport, user, password, protocolVersion = 5) {
  const url = transport === 'ws' ? `ws://${HOST}:${broker.port('ws')}/mqtt` : `mqtt://${HOST}:${broker.port('tcp')}`;
  const c = await connect(url, { clientId: unique('js'), username: user, password, protocolVersion });
  clients.push(c);
  return c;
}

test('a user of the password file publishes and receives over ws and mqtt', async () => {
  const reader = await client('ws', 'bob', 'bob-pw', 4);
  await subscribe(reader, 'home/#');
  const writer = await client('tcp', 'alice', 'alice-pw');
  await publish(writer, 'home/lamp', 'on', { qos: 1 });
  await waitForMessage(reader, withPayload('home/lamp', 'on'), 'home/lamp on at bob');
});

test('a wrong password and a missing one are refused', async () => {
  await assert.rejects(client('ws', 'alice', 'nope'), (err) => err.code === 0x86 || /bad user name/i.test(err.message));
  await assert.rejects(client('tcp', 'alice', 'nope', 4), (err) => err.code === 4 || /bad user/i.test(err.message));
  await assert.rejects(client('ws', undefined, undefined), (err) => err.code === 0x87 || /not authori/i.test(err.message));
});

test('denials as MQTT.js sees them: SUBACK 0x87 / 0x80, PUBACK 0x87', async () => {
  // MQTT.js rejects a SUBACK with a failure code, the packet attached.
  const bob5 = await client('ws', 'bob', 'bob-pw');
  await assert.rejects(bob5.subscribeAsync('work/#', { qos: 1 }), (err) => err.packet?.granted?.[0] === 0x87);
  const bob4 = await client('tcp', 'bob', 'bob-pw', 4);
  await assert.rejects(bob4.subscribeAsync('work/#', { qos: 1 }), (err) => err.packet?.granted?.[0] === 0x80);
  // "#" can match home/..., which bob may read: granted.
  assert.equal((await subscribe(bob4, '#'))[0].qos, 1);
  await assert.rejects(bob5.publishAsync('home/lamp', 'off', { qos: 1 }), (err) => err.code === 0x87 || /0x87|135|authori/i.test(String(err.message)));
});
