// Shared by the three console pages: the header and navigation, small DOM helpers, time formatting, the API
// client (with the credentials dialog for a protected API) and the page's own MQTT connection.
import mqtt, { type MqttClient } from "mqtt";
import "./style.css";

export type PageName = "client" | "dashboard" | "monitor";

const PAGES: { name: PageName; href: string; label: string }[] = [
  { name: "client", href: "/", label: "Client" },
  { name: "dashboard", href: "/dashboard/", label: "Dashboard" },
  { name: "monitor", href: "/monitor/", label: "Monitor" },
];

const LOGO = `<svg class="logo" viewBox="0 0 32 32" aria-hidden="true"><rect width="32" height="32" rx="7" fill="#f5b942"/>
<path d="M16 10c-3-3-10-4-11 1s4 9 11 6c7 3 12-1 11-6s-8-4-11-1z" fill="#1f2a44"/>
<path d="M16 10v15" stroke="#f5b942" stroke-width="1.6" stroke-linecap="round"/>
<path d="M16 18c-2 2-6 6-8 4M16 18c2 2 6 6 8 4" stroke="#1f2a44" stroke-width="1.8" fill="none" stroke-linecap="round"/></svg>`;

/** Fills the page's <header> and returns the element where a page shows its connection status. */
export function mountHeader(active: PageName): HTMLElement {
  const header = document.getElementById("app-header")!;
  header.className = "app-header";
  header.innerHTML = `
    <a class="brand" href="/">${LOGO}<span>Moth</span><span class="brand-sub">console</span></a>
    <nav aria-label="Console pages"><ul>
      ${PAGES.map(
        (p) =>
          `<li><a href="${p.href}"${p.name === active ? ' aria-current="page" class="active"' : ""}>${p.label}</a></li>`,
      ).join("")}
    </ul></nav>
    <div class="header-status" id="header-status"></div>`;
  return header.querySelector("#header-status") as HTMLElement;
}

/** `<span class="status">` with the dot and the word; `state` is connected | connecting | disconnected. */
export function setStatus(el: HTMLElement, state: "connected" | "connecting" | "disconnected", label?: string): void {
  el.dataset.state = state;
  el.innerHTML = `<span class="dot" aria-hidden="true"></span><span class="status-text">${escapeHtml(label ?? state)}</span>`;
  el.setAttribute("role", "status");
}

export function $(sel: string, root: ParentNode = document): HTMLElement {
  const el = root.querySelector(sel);
  if (!el) throw new Error(`missing element ${sel}`);
  return el as HTMLElement;
}

export function input(sel: string, root: ParentNode = document): HTMLInputElement {
  return $(sel, root) as HTMLInputElement;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, "0");
}

/** Local time as YYYY-MM-DD HH:mm:ss. */
export function formatTimestamp(d: Date): string {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h ${m}m`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n.toFixed(0) : n.toFixed(1)} ${units[i]}`;
}

export function randomId(prefix: string, length = 10): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  const bytes = new Uint8Array(length);
  crypto.getRandomValues(bytes);
  return prefix + Array.from(bytes, (b) => alphabet[b % alphabet.length]).join("");
}

/** A short-lived notice at the bottom of the page (role=status, so screen readers announce it). */
export function toast(message: string, kind: "info" | "error" = "info"): void {
  let host = document.getElementById("toasts");
  if (!host) {
    host = document.createElement("div");
    host.id = "toasts";
    host.className = "toasts";
    host.setAttribute("role", "status");
    host.setAttribute("aria-live", "polite");
    document.body.append(host);
  }
  const t = document.createElement("div");
  t.className = `toast toast-${kind}`;
  t.textContent = message;
  host.append(t);
  setTimeout(() => t.remove(), 5000);
}

/** A modal yes/no question in a <dialog>; resolves true for the confirming button. */
export function confirmDialog(title: string, message: string, confirmLabel: string): Promise<boolean> {
  return new Promise((resolve) => {
    const dlg = document.createElement("dialog");
    dlg.className = "modal";
    dlg.setAttribute("aria-labelledby", "confirm-title");
    dlg.innerHTML = `<form method="dialog">
      <h2 id="confirm-title">${escapeHtml(title)}</h2>
      <p>${escapeHtml(message)}</p>
      <div class="actions">
        <button value="cancel" class="btn">Cancel</button>
        <button value="ok" class="btn btn-danger" data-confirm>${escapeHtml(confirmLabel)}</button>
      </div></form>`;
    document.body.append(dlg);
    dlg.addEventListener("close", () => {
      resolve(dlg.returnValue === "ok");
      dlg.remove();
    });
    dlg.showModal();
    (dlg.querySelector("[data-confirm]") as HTMLElement).focus();
  });
}

/** Asks for one line of text in a <dialog>; resolves the trimmed text, or null when cancelled or empty. */
export function promptDialog(title: string, label: string, value: string, okLabel = "OK"): Promise<string | null> {
  return new Promise((resolve) => {
    const dlg = document.createElement("dialog");
    dlg.className = "modal";
    dlg.setAttribute("aria-labelledby", "prompt-title");
    dlg.innerHTML = `<form method="dialog" class="form">
      <h2 id="prompt-title">${escapeHtml(title)}</h2>
      <label>${escapeHtml(label)}<input name="value" required value="${escapeHtml(value)}"></label>
      <div class="actions">
        <button value="cancel" class="btn" formnovalidate>Cancel</button>
        <button value="ok" class="btn btn-primary">${escapeHtml(okLabel)}</button>
      </div></form>`;
    document.body.append(dlg);
    const field = dlg.querySelector("input")!;
    dlg.addEventListener("close", () => {
      const text = field.value.trim();
      dlg.remove();
      resolve(dlg.returnValue === "ok" && text ? text : null);
    });
    dlg.showModal();
    field.select();
  });
}

// --- HTTP API ----------------------------------------------------------------------------------------------------

const AUTH_KEY = "moth.api.auth";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function authHeader(): string | null {
  return sessionStorage.getItem(AUTH_KEY);
}

let credentialPrompt: Promise<boolean> | null = null;

/** Asks for an API token or a username and password; stores the Authorization value in sessionStorage. */
function askCredentials(): Promise<boolean> {
  if (credentialPrompt) return credentialPrompt;
  credentialPrompt = new Promise<boolean>((resolve) => {
    const dlg = document.createElement("dialog");
    dlg.className = "modal";
    dlg.id = "api-login";
    dlg.setAttribute("aria-labelledby", "api-login-title");
    dlg.innerHTML = `<form method="dialog" class="form">
      <h2 id="api-login-title">Sign in to the broker API</h2>
      <p class="muted">The broker protects its HTTP API. Enter the API token, or a username and password.
      They are kept in this browser tab only (session storage).</p>
      <label>API token<input name="token" type="password" autocomplete="off"></label>
      <div class="or"><span>or</span></div>
      <div class="row2">
        <label>Username<input name="username" autocomplete="username"></label>
        <label>Password<input name="password" type="password" autocomplete="current-password"></label>
      </div>
      <div class="actions">
        <button value="cancel" class="btn" formnovalidate>Cancel</button>
        <button value="ok" class="btn btn-primary">Sign in</button>
      </div></form>`;
    document.body.append(dlg);
    dlg.addEventListener("close", () => {
      const f = dlg.querySelector("form") as HTMLFormElement;
      const token = (f.elements.namedItem("token") as HTMLInputElement).value.trim();
      const user = (f.elements.namedItem("username") as HTMLInputElement).value;
      const pass = (f.elements.namedItem("password") as HTMLInputElement).value;
      let ok = false;
      if (dlg.returnValue === "ok") {
        if (token) {
          sessionStorage.setItem(AUTH_KEY, `Bearer ${token}`);
          ok = true;
        } else if (user) {
          const bytes = new TextEncoder().encode(`${user}:${pass}`);
          sessionStorage.setItem(AUTH_KEY, `Basic ${btoa(String.fromCharCode(...bytes))}`);
          ok = true;
        }
      }
      dlg.remove();
      credentialPrompt = null;
      resolve(ok);
    });
    dlg.showModal();
  });
  return credentialPrompt;
}

/** Calls the broker's JSON API; on 401 asks for credentials and retries. `null` for 404 when allowed. */
export async function api<T>(method: string, path: string, body?: unknown, opts: { allow404?: boolean } = {}): Promise<T> {
  for (;;) {
    const headers: Record<string, string> = { Accept: "application/json" };
    const auth = authHeader();
    if (auth) headers.Authorization = auth;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(`/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      // No browser credentials: with them a 401 carrying WWW-Authenticate: Basic makes the browser show its own
      // login prompt; this page asks itself and sends the Authorization header.
      credentials: "omit",
    });
    if (res.status === 401) {
      sessionStorage.removeItem(AUTH_KEY);
      if (await askCredentials()) continue;
      throw new ApiError(401, "the broker API needs credentials");
    }
    if (res.status === 404 && opts.allow404) return null as T;
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      /* not JSON: reported below */
    }
    if (!res.ok) {
      const msg = (json as { error?: string } | null)?.error ?? `HTTP ${res.status} ${res.statusText}`;
      throw new ApiError(res.status, msg);
    }
    return json as T;
  }
}

// --- the page's own MQTT connection (dashboard, monitor) ---------------------------------------------------------

/** The broker's WebSocket endpoint on the origin that served the page. */
export function sameOriginMqttUrl(): string {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}/mqtt`;
}

/** Connects to the same-origin broker and mirrors its state into the header status. */
export function connectPageClient(statusEl: HTMLElement, prefix: string): MqttClient {
  setStatus(statusEl, "connecting", "connecting…");
  const client = mqtt.connect(sameOriginMqttUrl(), {
    clientId: randomId(prefix),
    protocolVersion: 5,
    clean: true,
    keepalive: 30,
    reconnectPeriod: 3000,
    connectTimeout: 10000,
  });
  client.on("connect", () => setStatus(statusEl, "connected"));
  client.on("reconnect", () => setStatus(statusEl, "connecting", "reconnecting…"));
  client.on("close", () => setStatus(statusEl, "disconnected"));
  client.on("error", (e) => setStatus(statusEl, "disconnected", `error: ${e.message}`));
  return client;
}
