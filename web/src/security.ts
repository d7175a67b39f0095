// The warning the dashboard and the monitor show while the broker takes anonymous clients from the network (issue
// 18). With no config file mothd runs the course demo: every MQTT listener on all addresses, no passwords, no ACL.
// That is fine on a classroom network and dangerous anywhere else, so the console says so as loudly as mothd's log.
// Listeners on loopback are left out, as in mothd's start-up warning: only this machine can reach them.
import { api, escapeHtml } from "./common";

export interface ListenerInfo {
  name: string;
  kind: string;
  address: string;
  port: number;
  anonymous?: boolean; // absent from brokers older than issue 18: then nothing is known, and nothing is shown
  connections: number;
}

export function isLoopback(address: string): boolean {
  return address.startsWith("127.") || address === "::1" || address === "localhost" || address.startsWith("::ffff:127.");
}

/** The listeners that any client on the network may use without credentials. */
export function openToAnonymous(listeners: ListenerInfo[]): ListenerInfo[] {
  return listeners.filter((l) => l.anonymous === true && !isLoopback(l.address));
}

function endpoint(l: ListenerInfo): string {
  return `${l.address.includes(":") ? `[${l.address}]` : l.address}:${l.port}`;
}

function banner(open: ListenerInfo[]): HTMLElement {
  const el = document.createElement("section");
  el.id = "anonymous-banner";
  el.className = "banner-warning";
  el.setAttribute("aria-labelledby", "anonymous-banner-title");
  const list = open
    .map((l) => `<li><code>${escapeHtml(l.name)}</code> (${escapeHtml(l.kind)}, <code>${escapeHtml(endpoint(l))}</code>)</li>`)
    .join("");
  el.innerHTML = `<h2 id="anonymous-banner-title">This broker is open to anonymous clients</h2>
    <p>These listeners accept clients without a user name or password, on addresses other than loopback:</p>
    <ul>${list}</ul>
    <p>Anyone who can reach them may connect, read every topic and publish to any topic. That is how mothd runs the
    course demo when it starts without a config file; keep it to a network you trust. To close it, start mothd with a
    config file: it refuses anonymous clients unless <code>[auth] allow_anonymous = true</code> says otherwise, and
    <code>auth.password_file</code> and <code>auth.acl_file</code> say who may do what. See <code>docs/security.md</code>
    in Moth's documentation ("Defaults: open for the demo, closed for a config file").</p>`;
  return el;
}

/**
 * Asks the API which listeners take anonymous clients and shows the banner at the top of the page's <main> when any
 * of them is reachable from the network. Sets `data-anonymous-checked` on <body> once the answer is in (or the API
 * could not be asked: the page reports API errors itself).
 */
export async function showAnonymousBanner(): Promise<void> {
  try {
    const { listeners } = await api<{ listeners: ListenerInfo[] }>("GET", "/listeners");
    const open = openToAnonymous(listeners);
    document.getElementById("anonymous-banner")?.remove();
    if (open.length > 0) document.querySelector("main")?.prepend(banner(open));
    document.body.dataset.anonymousChecked = "true";
  } catch {
    document.body.dataset.anonymousChecked = "error";
  }
}
