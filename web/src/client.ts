// Client page: a browser MQTT client with the habits of the HiveMQ websocket client (connection panel, publish,
// colour-coded subscriptions, message list), plus exact filter matching, MQTT 5 properties and message tools.
import mqtt, { type IClientOptions, type IClientPublishOptions, type MqttClient } from "mqtt";
import {
  $,
  confirmDialog,
  escapeHtml,
  formatTimestamp,
  input,
  mountHeader,
  randomId,
  setStatus,
  toast,
} from "./common";
import { filterError, reasonName, topicError, topicMatches } from "./topic";

mountHeader("client");

interface Subscription {
  id: number;
  filter: string;
  qos: 0 | 1 | 2;
  color: string;
  grantedQos?: number;
}

interface Message {
  seq: number;
  time: Date;
  topic: string;
  payload: Uint8Array;
  qos: number;
  retain: boolean;
  subIds: number[];
  properties?: Record<string, unknown>;
}

const PALETTE = ["#6f42c1", "#1f8a70", "#d9480f", "#1864ab", "#c2255c", "#5c940d", "#e67700", "#0b7285"];

let client: MqttClient | null = null;
let everConnected = false;
let userDisconnect = false;
let protocolVersion = 5;
const subs: Subscription[] = [];
let nextSubId = 1;
let messages: Message[] = []; // newest first
let held: Message[] = []; // arrived while paused, newest first
let paused = false;
let seq = 0;

const statusEl = $("#conn-status");
const connBtn = $("#connect-btn") as HTMLButtonElement;
const connError = $("#conn-error");

// --- connection -------------------------------------------------------------------------------------------------

function defaults(): void {
  const tls = location.protocol === "https:";
  input("#host").value = location.hostname || "localhost";
  input("#port").value = location.port || (tls ? "443" : "80");
  input("#tls").checked = tls;
  input("#client-id").value = randomId("clientId-");
}

function connected(): boolean {
  return client?.connected ?? false;
}

function setConnState(state: "connected" | "connecting" | "disconnected", label?: string): void {
  setStatus(statusEl, state, label);
  document.body.dataset.connection = state;
  connBtn.textContent = state === "disconnected" ? "Connect" : "Disconnect";
  connBtn.classList.toggle("btn-danger", state !== "disconnected");
  connBtn.classList.toggle("btn-primary", state === "disconnected");
  for (const el of document.querySelectorAll<HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement>(
    "#conn-form input, #conn-form select, #conn-form textarea",
  ))
    el.disabled = state !== "disconnected";
}

function updateVersionFields(): void {
  protocolVersion = Number(($("#version") as HTMLSelectElement).value);
  document.body.classList.toggle("mqtt-v5", protocolVersion === 5);
}

function brokerUrl(): string {
  const host = input("#host").value.trim();
  const port = input("#port").value.trim();
  let path = input("#path").value.trim() || "/";
  if (!path.startsWith("/")) path = `/${path}`;
  const scheme = input("#tls").checked ? "wss" : "ws";
  const h = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  return `${scheme}://${h}:${port}${path}`;
}

function connect(): void {
  connError.textContent = "";
  const host = input("#host").value.trim();
  const port = Number(input("#port").value);
  if (!host) return void (connError.textContent = "Enter the broker's host name or address.");
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    return void (connError.textContent = "The port must be a number from 1 to 65535.");
  updateVersionFields();
  const url = brokerUrl();
  const opts: IClientOptions = {
    clientId: input("#client-id").value.trim(),
    protocolVersion: protocolVersion as 4 | 5,
    clean: input("#clean").checked,
    keepalive: Number(input("#keepalive").value || 60),
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    resubscribe: false,
  };
  const user = input("#username").value;
  if (user) opts.username = user;
  const pass = input("#password").value;
  if (pass) opts.password = pass;
  if (protocolVersion === 5) {
    const expiry = Number(input("#session-expiry").value || 0);
    if (expiry > 0) opts.properties = { sessionExpiryInterval: expiry };
  }
  const willTopic = input("#will-topic").value.trim();
  if (willTopic) {
    const err = topicError(willTopic);
    if (err) return void (connError.textContent = `Last will: ${err}`);
    opts.will = {
      topic: willTopic,
      payload: new TextEncoder().encode((input("#will-message") as unknown as HTMLTextAreaElement).value) as never,
      qos: Number(($("#will-qos") as HTMLSelectElement).value) as 0 | 1 | 2,
      retain: input("#will-retain").checked,
    };
  }
  everConnected = false;
  userDisconnect = false;
  setConnState("connecting", "connecting…");
  let c: MqttClient;
  try {
    c = mqtt.connect(url, opts);
  } catch (e) {
    setConnState("disconnected");
    connError.textContent = `Cannot connect to ${url}: ${(e as Error).message}`;
    return;
  }
  client = c;
  let lastError = "";
  c.on("connect", () => {
    if (client !== c) return;
    everConnected = true;
    connError.textContent = "";
    setConnState("connected");
    // A session that survived (clean start off) still has its subscriptions; the list here is what we asked for.
    for (const s of subs) void doSubscribe(s);
  });
  c.on("error", (e: Error & { code?: number }) => {
    if (client !== c) return;
    if (typeof e.code === "number") lastError = `The broker refused the connection: ${reasonName(e.code, protocolVersion)}`;
    else lastError = e.message;
  });
  c.on("disconnect", (packet) => {
    if (client !== c) return;
    const code = packet.reasonCode ?? 0;
    lastError = `The broker closed the connection: ${reasonName(code, 5)}${
      packet.properties?.reasonString ? ` (${packet.properties.reasonString})` : ""
    }`;
  });
  c.on("message", (topic, payload, packet) => onMessage(topic, payload, packet.qos, packet.retain, packet.properties));
  c.on("close", () => {
    if (client !== c) return;
    c.end(true);
    client = null;
    setConnState("disconnected");
    if (userDisconnect) return;
    if (!everConnected) {
      connError.textContent =
        lastError && !/^(connack timeout|Connection closed)$/i.test(lastError) && !lastError.includes("WebSocket")
          ? lastError
          : `Could not connect to ${url}: no MQTT broker answered there. Check host, port, path and TLS.`;
    } else {
      connError.textContent = lastError ? `Connection lost. ${lastError}` : "Connection lost.";
    }
  });
}

function disconnect(): void {
  userDisconnect = true;
  const c = client;
  client = null;
  setConnState("disconnected");
  c?.end(false);
}

$("#conn-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  if (document.body.dataset.connection === "disconnected" || !document.body.dataset.connection) connect();
  else disconnect();
});
$("#version").addEventListener("change", updateVersionFields);

// --- publish ----------------------------------------------------------------------------------------------------

const pubError = $("#pub-error");

$("#pub-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  pubError.textContent = "";
  if (!connected() || !client) return void (pubError.textContent = "Connect to a broker first.");
  const topic = input("#pub-topic").value;
  const err = topicError(topic);
  if (err) return void (pubError.textContent = err);
  const payload = ($("#pub-payload") as HTMLTextAreaElement).value;
  const opts: IClientPublishOptions = {
    qos: Number(($("#pub-qos") as HTMLSelectElement).value) as 0 | 1 | 2,
    retain: input("#pub-retain").checked,
  };
  if (protocolVersion === 5) {
    const props: NonNullable<IClientPublishOptions["properties"]> = {};
    const ct = input("#pub-content-type").value.trim();
    if (ct) props.contentType = ct;
    const rt = input("#pub-response-topic").value.trim();
    if (rt) {
      const rtErr = topicError(rt);
      if (rtErr) return void (pubError.textContent = `Response topic: ${rtErr}`);
      props.responseTopic = rt;
    }
    const cd = input("#pub-correlation").value;
    if (cd) props.correlationData = new TextEncoder().encode(cd) as never;
    const exp = input("#pub-expiry").value.trim();
    if (exp) props.messageExpiryInterval = Number(exp);
    const up: Record<string, string> = {};
    for (const line of ($("#pub-user-props") as HTMLTextAreaElement).value.split("\n")) {
      if (!line.trim()) continue;
      const eq = line.indexOf("=");
      if (eq <= 0) return void (pubError.textContent = `User property "${line}" is not key=value.`);
      up[line.slice(0, eq).trim()] = line.slice(eq + 1);
    }
    if (Object.keys(up).length) props.userProperties = up;
    if (Object.keys(props).length) opts.properties = props;
  }
  $("#pub-status").textContent = "";
  client.publish(topic, payload, opts, (e) => {
    if (e) pubError.textContent = `Publish failed: ${e.message}`;
    else $("#pub-status").textContent = `Published to ${topic} at ${formatTimestamp(new Date()).slice(11)}`;
  });
});

// --- subscriptions ----------------------------------------------------------------------------------------------

const subForm = $("#sub-form") as HTMLFormElement;
const subError = $("#sub-error");
const addSubBtn = $("#add-sub-btn");

function showSubForm(show: boolean): void {
  subForm.hidden = !show;
  addSubBtn.setAttribute("aria-expanded", String(show));
  subError.textContent = "";
  if (show) {
    input("#sub-color").value = PALETTE[(nextSubId - 1) % PALETTE.length];
    input("#sub-topic").focus();
    input("#sub-topic").select();
  }
}

addSubBtn.addEventListener("click", () => showSubForm(subForm.hidden));
$("#sub-cancel").addEventListener("click", () => showSubForm(false));

function doSubscribe(s: Subscription): Promise<boolean> {
  return new Promise((resolve) => {
    if (!client) return resolve(false);
    client.subscribe(s.filter, { qos: s.qos }, (err, granted) => {
      const g = granted?.[0]?.qos;
      if (err || g === undefined || g >= 0x80) {
        const why = err ? err.message : g !== undefined ? reasonName(g, protocolVersion) : "no answer";
        toast(`Subscription to ${s.filter} refused: ${why}`, "error");
        resolve(false);
        return;
      }
      s.grantedQos = g;
      renderSubs();
      resolve(true);
    });
  });
}

subForm.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  subError.textContent = "";
  const filter = input("#sub-topic").value;
  const err = filterError(filter);
  if (err) return void (subError.textContent = err);
  if (subs.some((s) => s.filter === filter))
    return void (subError.textContent = `You are already subscribed to "${filter}".`);
  if (!connected()) return void (subError.textContent = "Connect to a broker first.");
  const s: Subscription = {
    id: nextSubId++,
    filter,
    qos: Number(($("#sub-qos") as HTMLSelectElement).value) as 0 | 1 | 2,
    color: input("#sub-color").value,
  };
  subs.push(s);
  if (await doSubscribe(s)) {
    showSubForm(false);
    renderSubs();
    addSubBtn.focus();
  } else {
    subs.splice(subs.indexOf(s), 1);
    subError.textContent = `The broker refused the subscription to "${filter}".`;
  }
});

async function unsubscribe(s: Subscription): Promise<void> {
  const ok = await confirmDialog(
    "Unsubscribe?",
    `Unsubscribe from "${s.filter}" and remove its messages from the list?`,
    "Unsubscribe",
  );
  if (!ok) return;
  client?.unsubscribe(s.filter);
  subs.splice(subs.indexOf(s), 1);
  const keep = (m: Message): boolean => {
    m.subIds = m.subIds.filter((id) => id !== s.id);
    return m.subIds.length > 0;
  };
  messages = messages.filter(keep);
  held = held.filter(keep);
  renderSubs();
  renderMessages();
}

function renderSubs(): void {
  const list = $("#sub-list");
  list.replaceChildren(
    ...subs.map((s) => {
      const li = document.createElement("li");
      li.className = "sub-item";
      li.style.setProperty("--sub-color", s.color);
      li.dataset.filter = s.filter;
      li.innerHTML = `<span class="swatch" aria-hidden="true"></span>
        <span class="sub-filter">${escapeHtml(s.filter)}</span>
        <span class="badge" title="QoS requested${s.grantedQos !== undefined ? `, granted ${s.grantedQos}` : ""}">QoS ${s.qos}</span>`;
      const btn = document.createElement("button");
      btn.type = "button";
      btn.className = "icon-btn";
      btn.setAttribute("aria-label", `Unsubscribe from ${s.filter}`);
      btn.title = "Unsubscribe";
      btn.innerHTML = `<svg viewBox="0 0 16 16" aria-hidden="true"><path d="M4 4l8 8M12 4l-8 8" stroke="currentColor" stroke-width="2" stroke-linecap="round"/></svg>`;
      btn.addEventListener("click", () => void unsubscribe(s));
      li.append(btn);
      return li;
    }),
  );
  $("#sub-empty").hidden = subs.length > 0;
}

// --- messages ---------------------------------------------------------------------------------------------------

function cap(): number {
  const n = Number(input("#msg-cap").value);
  return Number.isFinite(n) && n >= 1 ? Math.floor(n) : 1000;
}

function onMessage(topic: string, payload: Uint8Array, qos: number, retain: boolean, properties?: object): void {
  const ids = subs.filter((s) => topicMatches(s.filter, topic)).map((s) => s.id);
  if (ids.length === 0) return; // a late message for a filter already unsubscribed
  const m: Message = {
    seq: ++seq,
    time: new Date(),
    topic,
    payload: new Uint8Array(payload),
    qos,
    retain,
    subIds: ids,
    properties: properties && Object.keys(properties).length ? (properties as Record<string, unknown>) : undefined,
  };
  if (paused) {
    held.unshift(m);
    held.length = Math.min(held.length, cap());
    renderPaused();
    return;
  }
  messages.unshift(m);
  if (messages.length > cap()) messages.length = cap();
  renderMessages();
}

const decoder = new TextDecoder("utf-8", { fatal: false });

function payloadText(m: Message, view: string): string {
  if (view === "hex") {
    return Array.from(m.payload, (b) => b.toString(16).padStart(2, "0"))
      .join(" ")
      .replace(/((?:\S\S ){16})/g, "$1\n")
      .trim();
  }
  const text = decoder.decode(m.payload);
  if (view === "json") {
    try {
      return JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      return text;
    }
  }
  return text;
}

function visible(m: Message, q: string): boolean {
  if (!q) return true;
  return m.topic.toLowerCase().includes(q) || decoder.decode(m.payload).toLowerCase().includes(q);
}

function renderMessages(): void {
  const q = input("#msg-filter").value.trim().toLowerCase();
  const view = ($("#msg-view") as HTMLSelectElement).value;
  const shown = messages.filter((m) => visible(m, q));
  const list = $("#msg-list");
  list.replaceChildren(
    ...shown.map((m) => {
      const sub = subs.find((s) => s.id === m.subIds[0]);
      const li = document.createElement("li");
      li.className = "msg";
      li.style.setProperty("--sub-color", sub?.color ?? "#888");
      li.dataset.topic = m.topic;
      li.dataset.filter = sub?.filter ?? "";
      li.dataset.color = sub?.color ?? "";
      const head = document.createElement("div");
      head.className = "msg-head";
      head.innerHTML = `<time class="msg-time" datetime="${m.time.toISOString()}">${formatTimestamp(m.time)}</time>
        <span class="msg-topic">${escapeHtml(m.topic)}</span>
        <span class="badge msg-qos">QoS ${m.qos}</span>${m.retain ? '<span class="badge badge-retained msg-retained">retained</span>' : ""}`;
      const pre = document.createElement("pre");
      pre.className = "msg-payload";
      pre.textContent = payloadText(m, view); // textContent: the payload is never parsed as HTML
      if (m.payload.length === 0) pre.classList.add("empty-payload");
      li.append(head, pre);
      if (m.properties) {
        const props = document.createElement("div");
        props.className = "msg-props";
        props.textContent = Object.entries(m.properties)
          .map(([k, v]) => `${k}: ${v instanceof Uint8Array ? decoder.decode(v) : JSON.stringify(v)}`)
          .join(" · ");
        li.append(props);
      }
      return li;
    }),
  );
  $("#msg-count").textContent = String(messages.length);
  $("#msg-empty").hidden = messages.length > 0;
}

function renderPaused(): void {
  const p = $("#msg-paused");
  p.hidden = !paused;
  p.textContent = `Paused: ${held.length} new message${held.length === 1 ? "" : "s"} held back. Press Resume to show them.`;
}

$("#msg-pause").addEventListener("click", (ev) => {
  paused = !paused;
  const b = ev.currentTarget as HTMLButtonElement;
  b.textContent = paused ? "Resume" : "Pause";
  b.setAttribute("aria-pressed", String(paused));
  if (!paused) {
    messages = held.concat(messages).slice(0, cap());
    held = [];
    renderMessages();
  }
  renderPaused();
});

$("#msg-clear").addEventListener("click", () => {
  messages = [];
  held = [];
  renderMessages();
  renderPaused();
});

$("#msg-export").addEventListener("click", () => {
  const lines = messages
    .slice()
    .reverse()
    .map((m) => {
      const text = new TextDecoder("utf-8", { fatal: true });
      let payload: string | undefined;
      try {
        payload = text.decode(m.payload);
      } catch {
        payload = undefined;
      }
      return JSON.stringify({
        time: m.time.toISOString(),
        topic: m.topic,
        qos: m.qos,
        retain: m.retain,
        ...(payload !== undefined ? { payload } : { payload_base64: btoa(String.fromCharCode(...m.payload)) }),
      });
    });
  const blob = new Blob([lines.join("\n") + (lines.length ? "\n" : "")], { type: "application/x-ndjson" });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = `moth-messages-${formatTimestamp(new Date()).replace(/[: ]/g, "-")}.jsonl`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
});

input("#msg-filter").addEventListener("input", renderMessages);
$("#msg-view").addEventListener("change", renderMessages);
input("#msg-cap").addEventListener("change", () => {
  if (messages.length > cap()) messages.length = cap();
  renderMessages();
});

// --- start ------------------------------------------------------------------------------------------------------

defaults();
updateVersionFields();
setConnState("disconnected");
renderSubs();
renderMessages();
