// MQTT.js (npm `mqtt` 5.x, the client web pages and Node-RED use) against the real mothd, over ws:// and wss://,
// with MQTT 3.1, 3.1.1 and 5.0, plus exchanges with TCP clients (mosquitto_pub/sub and MQTT.js over mqtt://).
//
// One mothd for the file (listeners mqtt, ws, wss on 127.0.0.1:0; wss uses the development certificate mothd creates
// in data_dir/tls), each test with its own topics and client ids. wss clients verify the server certificate against
// the development CA with server name "localhost"; a test proves the verification is real.
//
// Run: MOTHD=build/dev/apps/mothd/mothd node --test test/e2e/mqttjs.test.js   (CTest: interop_mqttjs)

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { importPackage } from './lib/deps.js';
import { MosquittoSub, mosquittoPub } from './lib/mosquitto.js';
import { HOST, Mothd } from './lib/mothd.js';
import { connect, end, onTopic, publish, subscribe, waitForMessage, withPayload } from './lib/mqttjs.js';
import { unique } from './lib/wait.js';

const WebSocket = await importPackage('ws');

// MQTT.js connect options per protocol version; `subprotocol` is what MQTT.js must offer and mothd must accept.
const VERSIONS = {
  '3.1': { options: { protocolId: 'MQIsdp', protocolVersion: 3 }, subprotocol: 'mqttv3.1' },
  '3.1.1': { options: { protocolVersion: 4 }, subprotocol: 'mqtt' },
  '5.0': { options: { protocolVersion: 5 }, subprotocol: 'mqtt' },
};

let broker;
const clients = [];
const subs = [];

before(async () => {
  broker = await Mothd.start({
    prefix: 'moth-mqttjs-',
    listeners: [
      { name: 'tcp', kind: 'mqtt' },
      { name: 'ws', kind: 'ws' },
      { name: 'wss', kind: 'wss' }, // no cert_file: the development certificate, signed by data_dir/tls's CA
    ],
  });
});

after(async () => {
  await Promise.all(clients.map((c) => end(c)));
  await Promise.all(subs.map((s) => s.stop()));
  try {
    await broker?.stop();
  } finally {
    broker?.cleanup();
  }
});

// Connects MQTT.js over `transport` ('ws', 'wss' or 'tcp') with protocol `version`; the WebSocket MQTT.js opens is
// kept in client.websocket so a test can read the sub-protocol the server chose.
async function client(transport, version = '3.1.1', options = {}) {
  const holder = {};
  const base = { clientId: unique('js'), ...VERSIONS[version].options };
  let url;
  if (transport === 'tcp') {
    url = `mqtt://${HOST}:${broker.port('tcp')}`;
  } else {
    url = `${transport}://${HOST}:${broker.port(transport)}/mqtt`;
    base.createWebsocket = (u, protocols, opts) => {
      holder.websocket = new WebSocket(u, protocols, opts.wsOptions);
      return holder.websocket;
    };
    if (transport === 'wss') base.wsOptions = { ca: broker.ca, servername: 'localhost' };
  }
  const c = await connect(url, { ...base, ...options });
  clients.push(c);
  c.websocket = holder.websocket;
  return c;
}

function connackOk(c, version) {
  if (version === '5.0') assert.equal(c.connack.reasonCode, 0, 'CONNACK reason code');
  else assert.equal(c.connack.returnCode, 0, 'CONNACK return code');
}

for (const transport of ['ws', 'wss']) {
  describe(`MQTT.js over ${transport}://`, () => {
    for (const version of Object.keys(VERSIONS)) {
      const name = `MQTT ${version}: connect, sub-protocol ${VERSIONS[version].subprotocol}, subscribe, QoS 0/1/2`;
      test(name, async () => {
        const sub = await client(transport, version);
        connackOk(sub, version);
        // MQTT.js offers one sub-protocol; mothd must select it (RFC 6455 4.2.2; [MQTT-6.0.0-4]).
        assert.equal(sub.websocket.protocol, VERSIONS[version].subprotocol, 'negotiated WebSocket sub-protocol');
        const topic = unique(`rt/${transport}/`);
        const granted = await subscribe(sub, topic, { qos: 2 });
        assert.deepEqual(granted.map((g) => g.qos), [2]);

        const pub = await client(transport, version);
        for (const qos of [0, 1, 2]) await publish(pub, topic, `qos ${qos}`, { qos });
        for (const qos of [0, 1, 2]) await waitForMessage(sub, withPayload(topic, `qos ${qos}`), `"qos ${qos}"`);
        // Once each, at the publisher's QoS (the subscription granted 2) (3.1.1 [MQTT-3.8.4-6]). Sorted: MQTT.js
        // hands a QoS 2 message to the application only on PUBREL, so arrival order across QoS levels is not mothd's.
        const got = sub.received.filter(onTopic(topic)).map((m) => [m.payload.toString(), m.packet.qos]).sort();
        assert.deepEqual(got, [['qos 0', 0], ['qos 1', 1], ['qos 2', 2]]);
      });
    }

    test('retained message reaches a later subscriber with RETAIN set', async () => {
      for (const version of ['3.1.1', '5.0']) {
        const topic = unique(`retained/${transport}/`);
        const pub = await client(transport, version);
        await publish(pub, topic, `kept ${version}`, { qos: 1, retain: true });
        const sub = await client(transport, version);
        await subscribe(sub, topic, { qos: 1 });
        // Sent on the new subscription with RETAIN 1 (3.1.1 [MQTT-3.3.1-6] [MQTT-3.3.1-8]; 5.0 [MQTT-3.3.1-9]).
        const m = await waitForMessage(sub, onTopic(topic), `the retained message on ${topic}`);
        assert.equal(m.payload.toString(), `kept ${version}`);
        assert.equal(m.packet.retain, true, 'RETAIN flag on a message sent for a new subscription');
        // A live message to the established subscription has RETAIN 0, even when published retained (3.1.1
        // [MQTT-3.3.1-9]; MQTT.js subscribes without Retain As Published on 5.0).
        await publish(pub, topic, 'live', { qos: 1, retain: true });
        const live = await waitForMessage(sub, withPayload(topic, 'live'), `"live" on ${topic}`);
        assert.equal(live.packet.retain, false, 'RETAIN flag on a message to an established subscription');
        // An empty retained payload deletes it (3.1.1 [MQTT-3.3.1-10], 5.0 [MQTT-3.3.1-6]).
        await publish(pub, topic, '', { qos: 1, retain: true });
      }
    });

    test('will message is published when the connection closes without DISCONNECT', async () => {
      for (const version of ['3.1', '3.1.1', '5.0']) {
        const topic = unique(`will/${transport}/`);
        const watcher = await client(transport, '5.0');
        await subscribe(watcher, topic, { qos: 1 });
        const will = { topic, payload: Buffer.from(`gone ${version}`), qos: 1, retain: false };
        if (version === '5.0') will.properties = { userProperties: { reason: 'abrupt' }, contentType: 'text/plain' };
        const dying = await client(transport, version, { will });
        // Tear the TCP connection down without a WebSocket close or MQTT DISCONNECT [MQTT-3.1.2-8] (both versions).
        dying.stream.destroy();
        const m = await waitForMessage(watcher, onTopic(topic), `the will of an abruptly closed ${version} client`);
        assert.equal(m.payload.toString(), `gone ${version}`);
        assert.equal(m.packet.qos, 1);
        if (version === '5.0') {
          assert.deepEqual({ ...m.packet.properties?.userProperties }, { reason: 'abrupt' });
          assert.equal(m.packet.properties?.contentType, 'text/plain');
        }
      }
    });

    test('MQTT 5 properties reach a v5 subscriber unaltered', async () => {
      const topic = unique(`props/${transport}/`);
      const v5 = await client(transport, '5.0');
      const v311 = await client(transport, '3.1.1');
      await subscribe(v5, topic, { qos: 1 });
      await subscribe(v311, topic, { qos: 1 });
      const pub = await client(transport, '5.0');
      const properties = {
        userProperties: { site: 'lab', tag: ['a', 'b'] }, // a repeated key keeps both values, in order
        contentType: 'application/json',
        messageExpiryInterval: 3600,
        payloadFormatIndicator: true,
        responseTopic: `${topic}/reply`,
        correlationData: Buffer.from([1, 2, 3, 255]),
      };
      await publish(pub, topic, '{"t":21.5}', { qos: 1, properties });
      const m = await waitForMessage(v5, onTopic(topic), `the v5 message on ${topic}`);
      const p = m.packet.properties ?? {};
      assert.deepEqual({ ...p.userProperties }, properties.userProperties,
        'user properties [MQTT-3.3.2-17] [MQTT-3.3.2-18]');
      assert.equal(p.contentType, 'application/json', 'content type [MQTT-3.3.2-20]');
      assert.equal(p.payloadFormatIndicator, true, 'payload format indicator [MQTT-3.3.2-4]');
      assert.equal(p.responseTopic, `${topic}/reply`, 'response topic [MQTT-3.3.2-15]');
      assert.deepEqual(p.correlationData, properties.correlationData, 'correlation data [MQTT-3.3.2-16]');
      // Forwarded with the received value minus the time it waited in the broker [MQTT-3.3.2-6].
      assert.ok(p.messageExpiryInterval > 3500 && p.messageExpiryInterval <= 3600,
        `message expiry interval ${p.messageExpiryInterval}, expected (3500, 3600]`);
      // A 3.1.1 subscriber gets the same payload without properties.
      const old = await waitForMessage(v311, onTopic(topic), `the message on ${topic} for the 3.1.1 client`);
      assert.equal(old.payload.toString(), '{"t":21.5}');
    });

    test('exchange with TCP clients both ways: mosquitto_pub/sub and MQTT.js over mqtt://', async () => {
      const toWeb = unique('demo/to-web/');
      const fromWeb = unique('demo/from-web/');
      const web = await client(transport, '5.0');
      await subscribe(web, toWeb, { qos: 1 });
      const tcpSub = await MosquittoSub.start({ port: broker.port('tcp'), topics: fromWeb, qos: 1 });
      subs.push(tcpSub);

      // TCP (mosquitto_pub) -> web.
      const r = await mosquittoPub({ port: broker.port('tcp'), topic: toWeb, message: 'reading 1', args: ['-q', '1'] });
      assert.equal(r.code, 0, `mosquitto_pub failed: ${r.stderr}`);
      await waitForMessage(web, withPayload(toWeb, 'reading 1'), `mosquitto_pub's message over ${transport}`);

      // Web -> TCP (mosquitto_sub).
      await publish(web, fromWeb, 'command 1', { qos: 1 });
      const got = await tcpSub.waitForMessage((m) => m.payload === 'command 1', `the ${transport} client's message`);
      assert.equal(got.topic, fromWeb);

      // MQTT 5 properties from a TCP publisher (mosquitto_pub -V mqttv5 -D) reach the web subscriber.
      const r5 = await mosquittoPub({
        port: broker.port('tcp'), topic: toWeb, message: 'reading 2', version: 'mqttv5',
        args: ['-q', '1', '-D', 'publish', 'user-property', 'unit', 'celsius', '-D', 'publish', 'content-type',
          'text/plain'],
      });
      assert.equal(r5.code, 0, `mosquitto_pub -V mqttv5 failed: ${r5.stderr}`);
      const m5 = await waitForMessage(web, withPayload(toWeb, 'reading 2'), 'the v5 message from mosquitto_pub');
      assert.deepEqual({ ...m5.packet.properties?.userProperties }, { unit: 'celsius' });
      assert.equal(m5.packet.properties?.contentType, 'text/plain');

      // MQTT.js over TCP, both ways, in the same topic space.
      const tcp = await client('tcp', '3.1.1');
      await subscribe(tcp, fromWeb, { qos: 2 });
      await publish(tcp, toWeb, 'reading 3', { qos: 2 });
      await waitForMessage(web, withPayload(toWeb, 'reading 3'), 'MQTT.js-over-TCP message');
      await publish(web, fromWeb, 'command 2', { qos: 2 });
      await waitForMessage(tcp, withPayload(fromWeb, 'command 2'), `the ${transport} client's message over TCP`);
    });
  });
}

describe('WebSocket sub-protocol negotiation', () => {
  // What browsers and other MQTT clients offer. mothd answers with one of the offered MQTT sub-protocols.
  for (const [offer, chosen] of [
    [['mqtt'], 'mqtt'],
    [['mqttv3.1'], 'mqttv3.1'],
    [['mqttv3.1.1'], 'mqttv3.1.1'],
    [['mqttv5'], 'mqttv5'],
    [['chat', 'mqttv3.1'], 'mqttv3.1'],
  ]) {
    test(`offer ${offer.join(', ')} -> ${chosen}`, async () => {
      const ws = new WebSocket(`ws://${HOST}:${broker.port('ws')}/mqtt`, offer);
      try {
        const protocol = await new Promise((resolve, reject) => {
          ws.once('open', () => resolve(ws.protocol));
          ws.once('error', reject);
        });
        assert.equal(protocol, chosen);
      } finally {
        ws.terminate();
      }
    });
  }

  test('an upgrade offering no MQTT sub-protocol is refused with HTTP 400', async () => {
    const ws = new WebSocket(`ws://${HOST}:${broker.port('ws')}/mqtt`, ['chat']);
    const status = await new Promise((resolve, reject) => {
      ws.once('unexpected-response', (req, res) => {
        resolve(res.statusCode);
        req.destroy();
      });
      ws.once('open', () => reject(new Error(`upgrade accepted with sub-protocol ${ws.protocol}`)));
      ws.once('error', () => {}); // the destroyed request errors after the status was seen
    });
    assert.equal(status, 400);
  });
});

describe('wss:// certificate verification is real', () => {
  test('the development CA and server name localhost verify; no CA or another name fails', async () => {
    const ok = await client('wss', '5.0');
    connackOk(ok, '5.0');
    const url = `wss://${HOST}:${broker.port('wss')}/mqtt`;
    // Without the CA: the chain does not verify.
    await assert.rejects(connect(url, { clientId: unique('noca'), wsOptions: { servername: 'localhost' } }),
      (err) => /SELF_SIGNED|UNABLE_TO_VERIFY|self.signed|unable to verify/i.test(`${err.code} ${err.message}`));
    // With the CA but a name the certificate does not carry: hostname check fails.
    await assert.rejects(
      connect(url, { clientId: unique('badname'), wsOptions: { ca: broker.ca, servername: 'wrong.example' } }),
      (err) => /ERR_TLS_CERT_ALTNAME_INVALID|altnames/i.test(`${err.code} ${err.message}`));
    // mothd is unaffected by the refused handshakes.
    const again = await client('wss', '3.1.1');
    connackOk(again, '3.1.1');
  });
});

// No sanitizer report in mothd's log (UBSan reports do not stop the process; ASan's are also caught by stop()).
test('mothd logged no sanitizer report', () => {
  assert.doesNotMatch(broker.log(), /AddressSanitizer|LeakSanitizer|runtime error:/);
});
