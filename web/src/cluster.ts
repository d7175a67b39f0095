// The monitor's Cluster card (issue 23): this node's view of its cluster through GET /api/v1/cluster, polled with
// the other panels: its link to NATS, the bus counters, and every node it hears from with the figures of its last
// report. The card is hidden on a broker alone (`enabled: false`), and on one whose API predates clusters (404).
import { $, api, escapeHtml, formatTimestamp } from "./common";

export interface ClusterNode {
  name: string;
  self: boolean; // this node
  alive: boolean; // its last report is at most three report intervals old
  last_seen: string | null; // RFC 3339; null before its first report
  version: string;
  started: string | null;
  clients_connected: number;
  sessions: number;
  subscriptions: number;
  messages_received: number;
  messages_sent: number;
  retained: number;
}

export interface ClusterLink {
  connected: boolean;
  server: string; // the NATS server it is connected to, or tried last
  last_error: string | null;
  reconnects: number;
}

export interface Cluster {
  enabled: boolean;
  node?: string;
  link?: ClusterLink;
  published?: number;
  received?: number;
  duplicates?: number;
  publish_failures?: number;
  interests?: number;
  nodes: ClusterNode[];
}

function badge(up: boolean, upText = "up", downText = "down"): string {
  return up ? `<span class="badge badge-up">${upText}</span>` : `<span class="badge badge-down">${downText}</span>`;
}

function timeOf(rfc3339: string | null): string {
  const d = rfc3339 ? new Date(rfc3339) : null;
  if (!d || Number.isNaN(d.getTime())) return `<span class="muted">never</span>`;
  return `<time datetime="${escapeHtml(rfc3339!)}">${formatTimestamp(d)}</time>`;
}

function stat(field: string, label: string, valueHtml: string, cls = ""): string {
  return `<div class="stat${cls}" data-field="${field}"><div class="stat-label">${label}</div><div class="stat-value">${valueHtml}</div></div>`;
}

function count(n: number | undefined): string {
  return (n ?? 0).toLocaleString();
}

// The link's error while down is why it is down: it stands out. Once up again, the last one is history.
function renderSummary(c: Cluster): void {
  const link = c.link ?? { connected: false, server: "", last_error: null, reconnects: 0 };
  const err = link.last_error ?? "";
  const failures = c.publish_failures ?? 0;
  $("#cluster-summary").innerHTML = [
    stat("node", "This node", `<span class="mono">${escapeHtml(c.node ?? "")}</span>`),
    stat("link", "NATS", `${badge(link.connected, "connected", "down")}<div class="mono muted">${escapeHtml(link.server)}</div>`),
    stat("reconnects", "Reconnects", count(link.reconnects)),
    stat("published", "Published", count(c.published)),
    stat("received", "Received", count(c.received)),
    stat("duplicates", "Duplicates", count(c.duplicates)),
    stat("publish-failures", "Publish failures", count(failures), failures ? " nonzero" : ""),
  ].join("");
  const errEl = $("#cluster-link-error");
  errEl.hidden = err === "";
  errEl.className = err && !link.connected ? "cluster-error down" : "cluster-error muted";
  errEl.textContent = err ? `Last NATS error: ${err}` : "";
}

function renderNodes(nodes: ClusterNode[]): void {
  $("#cluster-table tbody").innerHTML = nodes
    .map(
      (n) => `<tr data-node="${escapeHtml(n.name)}"${n.self ? ` class="self"` : ""}>
        <td class="mono" data-col="name">${escapeHtml(n.name)}${n.self ? ` <span class="badge" title="the node this console is connected to">this node</span>` : ""}</td>
        <td data-col="state">${badge(n.alive)}</td><td data-col="last-seen">${timeOf(n.last_seen)}</td>
        <td class="mono" data-col="version">${escapeHtml(n.version)}</td>
        <td class="num" data-col="clients">${count(n.clients_connected)}</td>
        <td class="num" data-col="sessions">${count(n.sessions)}</td>
        <td class="num" data-col="subscriptions">${count(n.subscriptions)}</td>
        <td class="num" data-col="messages" title="messages received / sent by the node">${count(n.messages_received)} / ${count(n.messages_sent)}</td>
        <td class="num" data-col="retained">${count(n.retained)}</td></tr>`,
    )
    .join("");
  $("#cluster-count").textContent = String(nodes.length);
}

function showClusterError(msg: string | null): void {
  const el = $("#cluster-error");
  el.hidden = msg === null;
  el.textContent = msg ?? "";
}

/** Reads the cluster again; the card shows only on a node of a cluster. Errors stay in the card. */
export async function loadCluster(): Promise<void> {
  const card = $("#cluster");
  try {
    const answer = await api<Cluster | null>("GET", "/cluster", undefined, { allow404: true });
    const enabled = answer?.enabled === true;
    if (enabled) {
      renderSummary(answer);
      renderNodes(answer.nodes ?? []);
    }
    showClusterError(null);
    card.hidden = !enabled;
    card.dataset.state = enabled ? "enabled" : "disabled";
  } catch (e) {
    // Keeps what was shown: the nodes have not gone away because one poll failed.
    showClusterError(`Cannot read the cluster: ${(e as Error).message}`);
  }
}
