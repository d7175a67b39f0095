// The monitor's Bridges card (issue 21): mothd's [[bridge]] links through GET /api/v1/bridges, polled with the other
// panels: state, the remote address, the store-and-forward backlog, drops, traffic and the last error. The card is
// hidden on a broker without bridges, and on one whose API predates them (404).
import { $, api, escapeHtml, formatBytes, formatTimestamp } from "./common";

export interface Bridge {
  name: string;
  connected: boolean;
  address: string; // the remote it is connected to, or tried last
  last_error: string | null;
  connected_since: string | null; // RFC 3339; null while down
  sent: number;
  received: number;
  refused: number;
  reconnects: number;
  queued_messages: number; // the backlog waiting for the remote
  queued_bytes: number;
  dropped: number; // dropped by the queue's limits
}

function stateCell(b: Bridge): string {
  if (!b.connected) return `<td data-col="state"><span class="badge badge-down">down</span></td>`;
  const since = b.connected_since ? new Date(b.connected_since) : null;
  const when =
    since && !Number.isNaN(since.getTime())
      ? `<div class="muted">since <time datetime="${escapeHtml(b.connected_since!)}">${formatTimestamp(since)}</time></div>`
      : "";
  return `<td data-col="state"><span class="badge badge-up">up</span>${when}</td>`;
}

function backlogCell(b: Bridge): string {
  const n = b.queued_messages;
  const text = `${n.toLocaleString()} message${n === 1 ? "" : "s"}`;
  return `<td class="num backlog${n ? " nonzero" : ""}" data-col="backlog">${text}<div class="muted">${formatBytes(b.queued_bytes)}</div></td>`;
}

// An error while the bridge is down is why it is down: it stands out. Once up again, the last one is history.
function errorCell(b: Bridge): string {
  const err = b.last_error ?? "";
  const cls = err && !b.connected ? "bridge-error down" : "bridge-error muted";
  return `<td class="${cls}" data-col="error">${escapeHtml(err)}</td>`;
}

function renderBridges(bridges: Bridge[]): void {
  $("#bridges-table tbody").innerHTML = bridges
    .map(
      (b) => `<tr data-bridge="${escapeHtml(b.name)}"><td class="mono">${escapeHtml(b.name)}</td>${stateCell(b)}
        <td class="mono" data-col="address">${escapeHtml(b.address)}</td>${backlogCell(b)}
        <td class="num dropped${b.dropped ? " nonzero" : ""}" data-col="dropped">${b.dropped.toLocaleString()}</td>
        <td class="num" data-col="traffic" title="messages sent to the remote / received from it${b.refused ? `; ${b.refused} refused` : ""}">${b.sent.toLocaleString()} / ${b.received.toLocaleString()}</td>
        <td class="num" data-col="reconnects">${b.reconnects.toLocaleString()}</td>${errorCell(b)}</tr>`,
    )
    .join("");
  $("#bridges-count").textContent = String(bridges.length);
}

function showBridgesError(msg: string | null): void {
  const el = $("#bridges-error");
  el.hidden = msg === null;
  el.textContent = msg ?? "";
}

/** Reads the bridges again; the card shows only when there are any. Errors stay in the card. */
export async function loadBridges(): Promise<void> {
  const card = $("#bridges");
  try {
    const answer = await api<{ bridges: Bridge[] } | null>("GET", "/bridges", undefined, { allow404: true });
    const bridges = answer?.bridges ?? [];
    renderBridges(bridges);
    showBridgesError(null);
    card.hidden = bridges.length === 0;
    card.dataset.state = bridges.length ? "some" : "none";
  } catch (e) {
    // Keeps what was shown: a bridge that was there a moment ago has not gone away because one poll failed.
    showBridgesError(`Cannot read the bridges: ${(e as Error).message}`);
  }
}
