// The monitor's Bans card (issue 19): the broker's ban list through /api/v1/bans, an Unban button per ban, a small
// form to add one, and the one-click ban of a connected client. The broker disconnects whatever a new ban matches,
// so the page only has to poll again to see the client gone.
import { $, api, ApiError, confirmDialog, escapeHtml, formatTimestamp, input, toast } from "./common";

export interface Ban {
  kind: "client_id" | "username" | "address";
  value: string;
  reason: string;
  until: number | null; // Unix seconds; null: until removed
  until_text: string | null;
  source: "config" | "api" | "flapping";
  created: number;
}

const KIND_LABEL: Record<Ban["kind"], string> = { client_id: "client id", username: "user name", address: "address" };

let onChange: () => void = () => undefined;

function showBansError(msg: string | null): void {
  const el = $("#bans-error");
  el.hidden = msg === null;
  el.textContent = msg ?? "";
}

function untilCell(b: Ban): string {
  if (b.until === null) return `<td class="muted">until removed</td>`;
  return `<td><time datetime="${escapeHtml(b.until_text ?? "")}">${formatTimestamp(new Date(b.until * 1000))}</time></td>`;
}

function renderBans(bans: Ban[]): void {
  $("#bans-table tbody").replaceChildren(
    ...bans.map((b) => {
      const tr = document.createElement("tr");
      tr.dataset.kind = b.kind;
      tr.dataset.value = b.value;
      tr.innerHTML = `<td>${KIND_LABEL[b.kind] ?? escapeHtml(b.kind)}</td><td class="mono">${escapeHtml(b.value)}</td>
        <td>${escapeHtml(b.reason)}</td>${untilCell(b)}<td><span class="badge">${escapeHtml(b.source)}</span></td><td></td>`;
      const button = document.createElement("button");
      button.type = "button";
      button.className = "btn btn-small";
      button.textContent = "Unban";
      button.setAttribute("aria-label", `Unban ${b.value}`);
      // A config file's ban comes back at the next reload: removing it here lasts until then.
      if (b.source === "config") button.title = "From the config file: it comes back when mothd reloads its config";
      button.addEventListener("click", () => void unban(b));
      tr.lastElementChild!.append(button);
      return tr;
    }),
  );
  $("#bans-count").textContent = String(bans.length);
  $("#bans-empty").hidden = bans.length > 0;
}

/** Reads the ban list again; a broker without a ban list (503) says so in the card and hides the form. */
export async function loadBans(): Promise<void> {
  try {
    const answer = await api<{ bans: Ban[] }>("GET", "/bans");
    renderBans(answer.bans);
    showBansError(null);
    $("#ban-form").hidden = false;
  } catch (e) {
    if (e instanceof ApiError && e.status === 503) {
      renderBans([]);
      $("#ban-form").hidden = true;
    }
    showBansError(`Cannot read the ban list: ${(e as Error).message}`);
  }
}

async function unban(b: Ban): Promise<void> {
  try {
    await api("DELETE", `/bans/${b.kind}/${encodeURIComponent(b.value)}`);
    toast(`Unbanned ${b.value}`);
  } catch (e) {
    toast(`Could not unban ${b.value}: ${(e as Error).message}`, "error");
  }
  await loadBans();
}

/** Bans a connected client's id after a confirmation; the broker disconnects it. */
export async function banClient(id: string): Promise<void> {
  const ok = await confirmDialog(
    "Ban client?",
    `Ban the client id "${id}"? The broker disconnects it now and refuses it until the ban is removed.`,
    "Ban",
  );
  if (!ok) return;
  try {
    await api("POST", "/bans", { kind: "client_id", value: id, reason: "banned from the console" });
    toast(`Banned ${id}`);
  } catch (e) {
    toast(`Could not ban ${id}: ${(e as Error).message}`, "error");
  }
  await loadBans();
  onChange();
}

async function addBan(event: SubmitEvent): Promise<void> {
  event.preventDefault();
  const kind = (document.querySelector("#ban-kind") as HTMLSelectElement).value;
  const value = input("#ban-value").value.trim();
  const reason = input("#ban-reason").value.trim();
  const duration = (document.querySelector("#ban-duration") as HTMLSelectElement).value;
  const body: Record<string, unknown> = { kind, value };
  if (reason) body.reason = reason;
  if (duration) body.duration_s = Number(duration);
  const errorEl = $("#ban-form-error");
  try {
    const added = await api<Ban>("POST", "/bans", body);
    errorEl.textContent = "";
    (event.target as HTMLFormElement).reset();
    toast(`Banned ${added.value}`);
  } catch (e) {
    errorEl.textContent = (e as Error).message;
    return;
  }
  await loadBans();
  onChange();
}

/** Wires the card; `changed` runs after a ban was added (the client list changes with it). */
export function mountBans(changed: () => void): void {
  onChange = changed;
  ($("#ban-form") as HTMLFormElement).addEventListener("submit", (e) => void addBan(e));
}
