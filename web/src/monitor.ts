// Monitor page: the broker seen through its HTTP API (stats, clients, sessions, retained messages, bans, bridges,
// cluster) polled every few seconds, rates drawn from the cumulative counters, and $SYS values through an MQTT
// subscription.
import { banClient, loadBans, mountBans } from "./bans";
import { loadBridges } from "./bridges";
import { loadCluster } from "./cluster";
import { TimeChart } from "./chart";
import {
  $,
  api,
  ApiError,
  confirmDialog,
  connectPageClient,
  escapeHtml,
  formatBytes,
  formatDuration,
  formatTimestamp,
  input,
  mountHeader,
  toast,
} from "./common";
import { showAnonymousBanner } from "./security";

interface Stats {
  version: string;
  uptime_s: number;
  workers: number;
  clients_connected: number;
  sessions: number;
  subscriptions: number;
  retained: number;
  messages_received: number;
  messages_sent: number;
  bytes_received: number;
  bytes_sent: number;
  messages_dropped: number;
}
interface ClientInfo {
  client_id: string;
  username?: string;
  address: string;
  listener: string;
  transport: string;
  protocol_version: number;
  connected_since: string;
  keepalive_s: number;
  clean_start: boolean;
  subscriptions: number;
  inflight: number;
  queued: number;
  denied: number; // PUBLISH, SUBSCRIBE and wills refused by the ACL on this connection
  throttled?: number; // times slowed down for its publish rate (absent from brokers before issue 19)
  publish_rate?: number | null; // PUBLISH per second over the last second; null: no rate limit applies
}
interface SessionInfo {
  client_id: string;
  connected: boolean;
  expiry_interval_s: number;
  subscriptions: number;
  inflight: number;
  queued: number;
}
interface Retained {
  topic: string;
  qos: number;
  size: number;
  payload?: string;
  payload_base64?: string;
  content_type?: string;
}

const POLL_MS = 2000;
const statusEl = mountHeader("monitor");
const msgChart = new TimeChart($("#msg-rate-chart"), [
  { label: "received/s", color: "#3454d1" },
  { label: "sent/s", color: "#2f9e44" },
], 300, 200);
const byteChart = new TimeChart($("#byte-rate-chart"), [
  { label: "received B/s", color: "#d9480f" },
  { label: "sent B/s", color: "#6f42c1" },
], 300, 200);
let prev: { t: number; s: Stats } | null = null;
let clients: ClientInfo[] = [];
let authFailed = false;

function versionName(v: number): string {
  return v === 5 ? "5.0" : v === 4 ? "3.1.1" : v === 3 ? "3.1" : String(v);
}

function showError(msg: string | null): void {
  const el = $("#mon-error");
  el.hidden = msg === null;
  el.textContent = msg ?? "";
}

function renderStats(s: Stats): void {
  const items: [string, string][] = [
    ["Version", s.version],
    ["Uptime", formatDuration(s.uptime_s)],
    ["Clients", String(s.clients_connected)],
    ["Sessions", String(s.sessions)],
    ["Subscriptions", String(s.subscriptions)],
    ["Retained", String(s.retained)],
    ["Messages in", s.messages_received.toLocaleString()],
    ["Messages out", s.messages_sent.toLocaleString()],
    ["Bytes in", formatBytes(s.bytes_received)],
    ["Bytes out", formatBytes(s.bytes_sent)],
    ["Dropped", s.messages_dropped.toLocaleString()],
  ];
  $("#stats").innerHTML = items
    .map(([l, v]) => `<div class="stat"><div class="stat-label">${l}</div><div class="stat-value">${escapeHtml(v)}</div></div>`)
    .join("");
  const now = Date.now();
  if (prev) {
    const dt = (now - prev.t) / 1000;
    const rate = (a: number, b: number): number => Math.max(0, (a - b) / dt);
    msgChart.push(now, [rate(s.messages_received, prev.s.messages_received), rate(s.messages_sent, prev.s.messages_sent)]);
    byteChart.push(now, [rate(s.bytes_received, prev.s.bytes_received), rate(s.bytes_sent, prev.s.bytes_sent)]);
  }
  prev = { t: now, s };
}

// Denials stand out: a client refused by the ACL is misconfigured, or trying what it should not.
function deniedCell(denied: number): string {
  const title = denied ? ` title="${denied} PUBLISH, SUBSCRIBE or will refused by the ACL"` : "";
  return `<td class="num denied${denied ? " nonzero" : ""}" data-col="denied"${title}>${denied}</td>`;
}

// Throttling is the broker doing its job, not an alarm: shown, with the client's current rate where a limit applies.
function throttledCell(c: ClientInfo): string {
  const n = c.throttled ?? 0;
  const rate = typeof c.publish_rate === "number" ? `<div class="muted">${c.publish_rate.toFixed(1)}/s</div>` : "";
  const title = n ? ` title="slowed down ${n} times for its publish rate"` : "";
  return `<td class="num throttled${n ? " nonzero" : ""}" data-col="throttled"${title}>${n}${rate}</td>`;
}

function actionButton(label: string, ariaLabel: string, onClick: () => void): HTMLButtonElement {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "btn btn-small";
  b.textContent = label;
  b.setAttribute("aria-label", ariaLabel);
  b.addEventListener("click", onClick);
  return b;
}

function renderClients(): void {
  const q = input("#clients-filter").value.trim().toLowerCase();
  const shown = clients.filter((c) => !q || c.client_id.toLowerCase().includes(q) || c.address.toLowerCase().includes(q));
  const body = $("#clients-table tbody");
  body.replaceChildren(
    ...shown.map((c) => {
      const tr = document.createElement("tr");
      tr.dataset.clientId = c.client_id;
      const since = new Date(c.connected_since);
      tr.innerHTML = `<td class="mono">${escapeHtml(c.client_id)}${c.username ? `<div class="muted">${escapeHtml(c.username)}</div>` : ""}</td>
        <td class="mono">${escapeHtml(c.address)}</td><td>${versionName(c.protocol_version)}</td>
        <td><span class="badge">${escapeHtml(c.transport)}</span></td><td>${escapeHtml(c.listener)}</td>
        <td class="since"><time datetime="${escapeHtml(c.connected_since)}">${Number.isNaN(since.getTime()) ? escapeHtml(c.connected_since) : formatTimestamp(since)}</time></td>
        <td class="num">${c.subscriptions}</td><td class="num">${c.inflight}</td><td class="num">${c.queued}</td>
        ${deniedCell(c.denied)}${throttledCell(c)}<td class="row-actions"></td>`;
      tr.lastElementChild!.append(
        actionButton("Disconnect", `Disconnect ${c.client_id}`, () => void disconnectClient(c.client_id)),
        actionButton("Ban", `Ban ${c.client_id}`, () => void banClient(c.client_id)),
      );
      return tr;
    }),
  );
  $("#clients-count").textContent = String(clients.length);
  $("#clients-empty").hidden = shown.length > 0;
  $("#clients-empty").textContent = clients.length ? "No client matches the filter." : "No clients connected.";
}

async function disconnectClient(id: string): Promise<void> {
  const ok = await confirmDialog(
    "Disconnect client?",
    `Disconnect "${id}"? Its session stays as long as its expiry interval allows; the client may reconnect.`,
    "Disconnect",
  );
  if (!ok) return;
  try {
    await api("DELETE", `/clients/${encodeURIComponent(id)}`);
    toast(`Disconnected ${id}`);
  } catch (e) {
    toast(`Could not disconnect ${id}: ${(e as Error).message}`, "error");
  }
  void poll();
}

function renderSessions(sessions: SessionInfo[]): void {
  $("#sessions-table tbody").innerHTML = sessions
    .map(
      (s) => `<tr data-client-id="${escapeHtml(s.client_id)}"><td class="mono">${escapeHtml(s.client_id)}</td>
        <td>${s.connected ? '<span class="badge" style="background:#e6f4ea;color:#1e7b34">connected</span>' : '<span class="badge">offline</span>'}</td>
        <td class="num">${s.expiry_interval_s === 4294967295 ? "never" : s.expiry_interval_s === 0 ? "at disconnect" : formatDuration(s.expiry_interval_s)}</td>
        <td class="num">${s.subscriptions}</td><td class="num">${s.inflight}</td><td class="num">${s.queued}</td></tr>`,
    )
    .join("");
  $("#sessions-count").textContent = String(sessions.length);
  $("#sessions-empty").hidden = sessions.length > 0;
}

// --- retained browser -------------------------------------------------------------------------------------------

interface TreeNode {
  children: Map<string, TreeNode>;
  msg?: Retained;
  path: string;
}

let selectedTopic: string | null = null;
let retained: Retained[] = [];
let lastTruncated = false;

function buildTree(items: Retained[]): TreeNode {
  const root: TreeNode = { children: new Map(), path: "" };
  for (const r of items) {
    let node = root;
    const parts = r.topic.split("/");
    parts.forEach((p, i) => {
      let next = node.children.get(p);
      if (!next) {
        next = { children: new Map(), path: parts.slice(0, i + 1).join("/") };
        node.children.set(p, next);
      }
      node = next;
    });
    node.msg = r;
  }
  return root;
}

// Branches the user folded; the broker's own $SYS branch starts folded.
const collapsed = new Set<string>(["$SYS"]);

function treeList(node: TreeNode, depth: number): HTMLUListElement {
  const ul = document.createElement("ul");
  if (depth === 0) ul.className = "tree";
  for (const [name, child] of [...node.children.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const li = document.createElement("li");
    if (child.children.size) {
      const open = !collapsed.has(child.path);
      const t = document.createElement("button");
      t.type = "button";
      t.className = "twisty";
      t.textContent = open ? "▾" : "▸";
      t.setAttribute("aria-expanded", String(open));
      t.setAttribute("aria-label", `${open ? "Fold" : "Unfold"} ${child.path}`);
      t.addEventListener("click", () => {
        if (open) collapsed.add(child.path);
        else collapsed.delete(child.path);
        renderRetained();
      });
      li.append(t);
    } else {
      const spacer = document.createElement("span");
      spacer.className = "twisty-space";
      li.append(spacer);
    }
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = name === "" ? "(empty level)" : name;
    b.dataset.topic = child.path;
    if (child.msg) b.classList.add("has-msg");
    b.setAttribute("aria-pressed", String(child.path === selectedTopic));
    b.addEventListener("click", () => {
      selectedTopic = child.path;
      renderRetained();
    });
    li.append(b);
    if (child.children.size && !collapsed.has(child.path)) li.append(treeList(child, depth + 1));
    ul.append(li);
  }
  return ul;
}

function renderRetained(truncated = lastTruncated): void {
  lastTruncated = truncated;
  const tree = treeList(buildTree(retained), 0);
  tree.id = "retained-tree";
  tree.setAttribute("aria-label", "Retained topics");
  $("#retained-tree").replaceWith(tree);
  $("#retained-count").textContent = `${retained.length}${truncated ? "+" : ""}`;
  $("#retained-empty").hidden = retained.length > 0;
  const detail = $("#retained-detail");
  const m = retained.find((r) => r.topic === selectedTopic);
  if (!m) {
    detail.innerHTML = selectedTopic ? `<p class="muted">No retained message on <code>${escapeHtml(selectedTopic)}</code>.</p>` : "";
    return;
  }
  let text = m.payload ?? `(binary, ${m.size} bytes, base64) ${m.payload_base64 ?? ""}`;
  try {
    if (m.payload !== undefined) text = JSON.stringify(JSON.parse(m.payload), null, 2);
  } catch {
    /* not JSON */
  }
  detail.innerHTML = `<h3>${escapeHtml(m.topic)}</h3>
    <div class="muted">QoS ${m.qos} · ${formatBytes(m.size)}${m.content_type ? ` · ${escapeHtml(m.content_type)}` : ""}</div>`;
  const pre = document.createElement("pre");
  pre.textContent = text;
  detail.append(pre);
}

async function loadRetained(): Promise<void> {
  // "#" does not match $-topics [MQTT-4.7.2-1]: the broker's own $SYS messages are asked for separately.
  type Answer = { retained: Retained[]; truncated: boolean };
  const [user, sys] = await Promise.all([
    api<Answer>("GET", "/retained?limit=1000"),
    api<Answer>("GET", `/retained?filter=${encodeURIComponent("$SYS/#")}&limit=1000`),
  ]);
  retained = [...user.retained, ...sys.retained];
  renderRetained(user.truncated || sys.truncated);
}

// --- polling ----------------------------------------------------------------------------------------------------

let polling = false;
async function poll(): Promise<void> {
  if (polling || authFailed) return;
  polling = true;
  try {
    const [stats, cl, sess] = await Promise.all([
      api<Stats>("GET", "/stats"),
      api<{ clients: ClientInfo[] }>("GET", "/clients"),
      api<{ sessions: SessionInfo[] }>("GET", "/sessions"),
    ]);
    renderStats(stats);
    clients = cl.clients;
    renderClients();
    renderSessions(sess.sessions);
    void loadBans();
    void loadBridges();
    void loadCluster();
    showError(null);
    $("#mon-updated").textContent = `updated ${formatTimestamp(new Date())}`;
    document.body.dataset.loaded = "true";
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      authFailed = true;
      showError("The broker API needs credentials. Reload the page to sign in.");
    } else showError(`Cannot reach the broker API: ${(e as Error).message}`);
  } finally {
    polling = false;
  }
}

$("#retained-refresh").addEventListener("click", () => void loadRetained().catch((e) => toast((e as Error).message, "error")));
input("#clients-filter").addEventListener("input", renderClients);
mountBans(() => void poll());

// --- $SYS -------------------------------------------------------------------------------------------------------

const sysValues = new Map<string, string>();
let sysPending = false;
function renderSys(): void {
  sysPending = false;
  $("#sys-body").innerHTML = [...sysValues.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([t, v]) => `<tr><td>${escapeHtml(t)}</td><td class="mono">${escapeHtml(v)}</td></tr>`)
    .join("");
  $("#sys-empty").hidden = sysValues.size > 0;
}

const mq = connectPageClient(statusEl, "moth-monitor-");
mq.on("connect", () => mq.subscribe("$SYS/#", { qos: 0 }));
mq.on("message", (topic, payload) => {
  if (!topic.startsWith("$SYS/")) return;
  sysValues.set(topic, new TextDecoder().decode(payload).slice(0, 200));
  if (!sysPending) {
    sysPending = true;
    requestAnimationFrame(renderSys);
  }
});

void poll().then(() => loadRetained().catch(() => undefined));
void showAnonymousBanner();
setInterval(() => void poll(), POLL_MS);
setInterval(() => void loadRetained().catch(() => undefined), 10_000);
