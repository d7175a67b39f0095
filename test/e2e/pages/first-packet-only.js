// A minimal MQTT 3.1.1 client over a browser WebSocket that, like early Paho JavaScript, decodes only the FIRST
// MQTT packet of each WebSocket message (what follows it in the same message is lost).
//
// Query parameters: prefix (required), url (default: this origin's /mqtt), burst (default 200).
// Steps: CONNECT; SUBSCRIBE <prefix>/retained (QoS 1, a retained message waits there), <prefix>/echo (QoS 1),
// <prefix>/burst (QoS 0); PUBLISH QoS 1 to <prefix>/echo; PUBLISH `burst` QoS 0 messages to <prefix>/burst.
// The test reads window.mothTest: { messages, dropped, connack, subacks, pubacks, retained: [payload],
// echo: [payload], burst: count, errors: [string], done }.
(function () {
  'use strict';
  const params = new URLSearchParams(location.search);
  const prefix = params.get('prefix');
  const url = params.get('url') || (location.protocol === 'https:' ? 'wss:' : 'ws:') + '//' + location.host + '/mqtt';
  const burst = Number(params.get('burst') || 200);
  const test = { messages: 0, dropped: 0, connack: false, subacks: 0, pubacks: 0, retained: [], echo: [], burst: 0,
    errors: [], done: false };
  window.mothTest = test;
  const enc = new TextEncoder();
  const dec = new TextDecoder();

  function show() { document.getElementById('state').textContent = JSON.stringify(test, null, 2); }
  function str(s) { const b = enc.encode(s); return [b.length >> 8, b.length & 255, ...b]; }
  function packet(first, body) {
    const len = [];
    let n = body.length;
    do { let b = n & 127; n >>= 7; if (n) b |= 128; len.push(b); } while (n);
    return new Uint8Array([first, ...len, ...body]);
  }
  function publish(topic, payload, qos, id) {
    return packet(0x30 | (qos << 1), [...str(topic), ...(qos ? [id >> 8, id & 255] : []), ...enc.encode(payload)]);
  }

  // The first packet of `data` only, as mqttws31.js's early _on_socket_message did.
  function first(data) {
    let len = 0;
    let mult = 1;
    let i = 1;
    for (;;) { const b = data[i++]; len += (b & 127) * mult; mult *= 128; if (!(b & 128)) break; }
    if (i + len < data.length) test.dropped += 1;  // more bytes in this message: a real early Paho loses them
    return { type: data[0] >> 4, flags: data[0] & 15, body: data.subarray(i, i + len) };
  }

  function onPacket(ws, p) {
    if (p.type === 2) {
      test.connack = p.body[1] === 0;
      ws.send(packet(0x82, [0, 1, ...str(prefix + '/retained'), 1]));
      ws.send(packet(0x82, [0, 2, ...str(prefix + '/echo'), 1]));
      ws.send(packet(0x82, [0, 3, ...str(prefix + '/burst'), 0]));
    } else if (p.type === 9) {
      test.subacks += 1;
      if (test.subacks === 3) {
        ws.send(publish(prefix + '/echo', 'echo me', 1, 10));
        for (let i = 0; i < burst; i++) ws.send(publish(prefix + '/burst', String(i), 0, 0));
      }
    } else if (p.type === 4) {
      test.pubacks += 1;
    } else if (p.type === 3) {
      const tlen = (p.body[0] << 8) | p.body[1];
      const topic = dec.decode(p.body.subarray(2, 2 + tlen));
      const qos = (p.flags >> 1) & 3;
      const off = 2 + tlen + (qos ? 2 : 0);
      const payload = dec.decode(p.body.subarray(off));
      if (qos === 1) ws.send(new Uint8Array([0x40, 2, p.body[2 + tlen], p.body[3 + tlen]]));
      if (topic.endsWith('/retained')) test.retained.push(payload);
      else if (topic.endsWith('/echo')) test.echo.push(payload);
      else if (topic.endsWith('/burst')) test.burst += 1;
    }
    test.done = test.connack && test.subacks === 3 && test.pubacks === 1 && test.retained.length === 1 &&
      test.echo.length === 1 && test.burst === burst;
  }

  if (!prefix) {
    test.errors.push('missing query parameter prefix');
    show();
    return;
  }
  const ws = new WebSocket(url, ['mqtt']);
  ws.binaryType = 'arraybuffer';
  ws.onopen = function () {
    ws.send(packet(0x10, [...str('MQTT'), 4, 2, 0, 60, ...str('first-only-' + Date.now())]));
  };
  ws.onmessage = function (ev) {
    test.messages += 1;
    try {
      onPacket(ws, first(new Uint8Array(ev.data)));
    } catch (e) {
      test.errors.push(String(e));
    }
    show();
  };
  ws.onerror = function () { test.errors.push('WebSocket error'); show(); };
  ws.onclose = function (ev) { if (!test.done) test.errors.push('closed: ' + ev.code); show(); };
})();
