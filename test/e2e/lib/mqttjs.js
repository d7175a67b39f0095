// MQTT.js helpers: connect with a deadline, record what a client receives, wait for messages.

import { importPackage } from './deps.js';
import { waitFor, withDeadline, DEFAULT_TIMEOUT_MS } from './wait.js';

const mqtt = await importPackage('mqtt');
export { mqtt };

// Connects and resolves with the client once CONNACK arrived (client.connack holds it); rejects on an error, a close
// before CONNACK, or the deadline. No automatic reconnect: a test must see a failure, not a retry loop.
// Every client gets `client.received`: [{ topic, payload (Buffer), packet }] in arrival order.
export async function connect(url, options = {}) {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: DEFAULT_TIMEOUT_MS, ...options });
  client.received = [];
  client.on('message', (topic, payload, packet) => client.received.push({ topic, payload, packet }));
  const connected = new Promise((resolve, reject) => {
    client.once('connect', (connack) => {
      client.connack = connack;
      resolve(client);
    });
    client.once('error', (err) => reject(err));
    client.once('close', () => reject(new Error(`connection to ${url} closed before CONNACK`)));
  });
  try {
    return await withDeadline(connected, DEFAULT_TIMEOUT_MS, `MQTT.js connect to ${url}`);
  } catch (err) {
    client.end(true);
    throw err;
  }
}

// Subscribes and resolves with the granted list; rejects on an error or a refusal code (>= 0x80).
export async function subscribe(client, topics, options = { qos: 1 }) {
  const granted = await withDeadline(client.subscribeAsync(topics, options), DEFAULT_TIMEOUT_MS,
    `SUBACK for ${JSON.stringify(topics)}`);
  for (const g of granted) {
    if (g.qos >= 0x80) throw new Error(`subscription to ${g.topic} refused with 0x${g.qos.toString(16)}`);
  }
  return granted;
}

// Publishes and resolves once it is acknowledged as its QoS requires (PUBACK, PUBCOMP; at once for QoS 0).
export function publish(client, topic, payload, options = {}) {
  return withDeadline(client.publishAsync(topic, payload, options), DEFAULT_TIMEOUT_MS, `publish to ${topic}`);
}

// Resolves with the first received message matching `predicate` ({ topic, payload, packet } => bool).
export function waitForMessage(client, predicate, what, timeoutMs = DEFAULT_TIMEOUT_MS) {
  return waitFor(() => client.received.find(predicate), {
    timeoutMs,
    what,
    detail: () => `received ${JSON.stringify(client.received.map((m) => [m.topic, m.payload.toString()]))}`,
  });
}

export const onTopic = (topic) => (m) => m.topic === topic;
export const withPayload = (topic, payload) => (m) => m.topic === topic && m.payload.toString() === payload;

// Ends the client gracefully (DISCONNECT), bounded by the deadline.
export async function end(client) {
  if (!client || client.disconnected) return;
  await withDeadline(client.endAsync(), DEFAULT_TIMEOUT_MS, 'MQTT.js end()').catch(() => client.end(true));
}
