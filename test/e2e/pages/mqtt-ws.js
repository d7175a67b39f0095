// Test page logic (plain browser JavaScript, MQTT.js's browser bundle loaded before it as the global `mqtt`).
//
// Query parameters:
//   prefix   topic prefix (required); the page subscribes to <prefix>/to-page/<name> and publishes to
//            <prefix>/from-page/<name> when asked through window.mothPublish
//   ws, wss  URLs of a ws and a wss listener (each optional)
//   path     WebSocket path on this page's own origin (default /mqtt)
// Connections: "own" (this origin, MQTT 5), "ws" (MQTT 3.1: protocol MQIsdp, sub-protocol mqttv3.1, as old browser
// libraries do), "wss" (MQTT 3.1.1).
//
// The test reads window.mothTest: { state: {name: 'connecting'|'subscribed'|'error: ...'}, subprotocol: {name},
// received: [{ via, topic, payload }], errors: [string] }.
(function () {
  'use strict';
  const params = new URLSearchParams(location.search);
  const prefix = params.get('prefix');
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const endpoints = [
    { name: 'own', url: scheme + '//' + location.host + (params.get('path') || '/mqtt'), version: 5 },
    { name: 'ws', url: params.get('ws'), version: 3 },
    { name: 'wss', url: params.get('wss'), version: 4 },
  ].filter(function (e) { return e.url; });

  const test = { state: {}, subprotocol: {}, received: [], errors: [] };
  window.mothTest = test;
  const clients = {};
  const rows = {};

  function render(name) {
    const e = endpoints.find(function (x) { return x.name === name; });
    const cells = [name, e.url, { 3: '3.1', 4: '3.1.1', 5: '5.0' }[e.version], test.subprotocol[name] || '',
      test.state[name]];
    rows[name].replaceChildren.apply(rows[name], cells.map(function (text) {
      const td = document.createElement('td');
      td.textContent = text;
      return td;
    }));
    rows[name].className = test.state[name] === 'subscribed' ? 'connected' :
      (test.state[name].indexOf('error') === 0 ? 'error' : '');
  }

  function fail(name, what, err) {
    const text = name + ': ' + what + ': ' + (err && err.message ? err.message : String(err));
    test.errors.push(text);
    test.state[name] = 'error: ' + what;
    render(name);
  }

  if (!prefix) {
    test.errors.push('missing query parameter prefix');
    return;
  }

  endpoints.forEach(function (e) {
    rows[e.name] = document.createElement('tr');
    document.getElementById('connections').appendChild(rows[e.name]);
    test.state[e.name] = 'connecting';
    render(e.name);
    const options = {
      clientId: 'page-' + e.name + '-' + Math.random().toString(16).slice(2, 10),
      protocolVersion: e.version,
      reconnectPeriod: 0,
      connectTimeout: 20000,
      createWebsocket: function (url, protocols) {
        const socket = new WebSocket(url, protocols);
        socket.addEventListener('open', function () {
          test.subprotocol[e.name] = socket.protocol;
          render(e.name);
        });
        return socket;
      },
    };
    if (e.version === 3) options.protocolId = 'MQIsdp';
    const client = mqtt.connect(e.url, options);
    clients[e.name] = client;
    client.on('connect', function () {
      test.state[e.name] = 'connected';
      render(e.name);
      client.subscribe(prefix + '/to-page/' + e.name, { qos: 1 }, function (err, granted) {
        if (err) return fail(e.name, 'subscribe', err);
        if (!granted || granted.length !== 1 || granted[0].qos !== 1) {
          return fail(e.name, 'subscribe', 'granted ' + JSON.stringify(granted));
        }
        test.state[e.name] = 'subscribed';
        render(e.name);
      });
    });
    client.on('message', function (topic, payload) {
      const text = new TextDecoder().decode(payload);
      test.received.push({ via: e.name, topic: topic, payload: text });
      const li = document.createElement('li');
      li.textContent = '[' + e.name + '] ' + topic + ': ' + text;
      document.getElementById('received').appendChild(li);
    });
    client.on('error', function (err) { fail(e.name, 'connection', err); });
    client.on('close', function () {
      if (client.disconnecting) return;
      test.errors.push(e.name + ': connection closed');
      test.state[e.name] = 'error: closed';
      render(e.name);
    });
  });

  // Publishes at QoS 1; resolves once PUBACK arrived.
  window.mothPublish = function (name, payload) {
    return new Promise(function (resolve, reject) {
      const topic = prefix + '/from-page/' + name;
      clients[name].publish(topic, payload, { qos: 1 }, function (err) {
        if (err) return reject(String(err));
        const li = document.createElement('li');
        li.textContent = '[' + name + '] ' + topic + ': ' + payload;
        document.getElementById('published').appendChild(li);
        resolve(true);
      });
    });
  };
})();
