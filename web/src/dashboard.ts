// Dashboard page: widgets bound to topics (gauge, line chart, last value, switch, button, slider), arranged in
// groups on tabs, edited in the page and saved on the broker (PUT /api/v1/dashboard) so every browser sees the same.
import type { MqttClient } from "mqtt";
import { TimeChart } from "./chart";
import {
  $,
  api,
  ApiError,
  connectPageClient,
  escapeHtml,
  formatTimestamp,
  mountHeader,
  promptDialog,
  randomId,
  toast,
} from "./common";
import { showAnonymousBanner } from "./security";
import { filterError, topicError, topicMatches } from "./topic";

type WidgetType = "gauge" | "chart" | "text" | "switch" | "button" | "slider";

interface Widget {
  id: string;
  type: WidgetType;
  title: string;
  topic: string;
  unit?: string;
  min?: number;
  max?: number;
  step?: number;
  jsonPath?: string;
  onPayload?: string;
  offPayload?: string;
  payload?: string;
  retain?: boolean;
}
interface Group {
  name: string;
  widgets: Widget[];
}
interface Tab {
  name: string;
  groups: Group[];
}
interface Layout {
  version: 1;
  tabs: Tab[];
}

const TYPE_LABELS: Record<WidgetType, string> = {
  gauge: "Gauge",
  chart: "Line chart",
  text: "Last value",
  switch: "Switch",
  button: "Button",
  slider: "Slider",
};

export function defaultLayout(): Layout {
  return {
    version: 1,
    tabs: [
      {
        name: "Device",
        groups: [
          {
            name: "Temperature",
            widgets: [
              { id: "temp-gauge", type: "gauge", title: "Temperature", topic: "mytopic/temp", unit: "°C", min: -10, max: 50 },
              { id: "temp-text", type: "text", title: "Last reading", topic: "mytopic/temp", unit: "°C" },
              { id: "temp-chart", type: "chart", title: "Temperature over time", topic: "mytopic/temp", unit: "°C" },
            ],
          },
          {
            name: "Humidity",
            widgets: [
              { id: "humid-gauge", type: "gauge", title: "Humidity", topic: "mytopic/humid", unit: "%", min: 0, max: 100 },
              { id: "humid-text", type: "text", title: "Last reading", topic: "mytopic/humid", unit: "%" },
              { id: "humid-chart", type: "chart", title: "Humidity over time", topic: "mytopic/humid", unit: "%" },
            ],
          },
        ],
      },
    ],
  };
}

const statusEl = mountHeader("dashboard");
let layout: Layout = defaultLayout();
let saved: string = JSON.stringify(layout);
let activeTab = 0;
let editing = false;
const charts = new Map<string, TimeChart>();
const lastValues = new Map<string, { raw: string; time: Date }>(); // by widget id
const series = new Map<string, { t: number[]; v: number[] }>(); // chart samples by widget id, kept across renders
const MAX_POINTS = 600;
let client: MqttClient | null = null;
let subscribed = new Set<string>();

// --- values -----------------------------------------------------------------------------------------------------

/** Follows a path like `sensor.values[0].t` into a parsed JSON document. */
export function jsonPathGet(doc: unknown, path: string): unknown {
  let cur: unknown = doc;
  for (const part of path.replace(/\[(\d+)\]/g, ".$1").split(".").filter(Boolean)) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function extract(w: Widget, payload: string): string | undefined {
  if (!w.jsonPath) return payload;
  try {
    const v = jsonPathGet(JSON.parse(payload), w.jsonPath);
    if (v === undefined) return undefined;
    return typeof v === "object" ? JSON.stringify(v) : String(v);
  } catch {
    return undefined;
  }
}

function numeric(s: string): number | null {
  const n = Number(s.trim());
  return s.trim() !== "" && Number.isFinite(n) ? n : null;
}

function allWidgets(): Widget[] {
  return layout.tabs.flatMap((t) => t.groups.flatMap((g) => g.widgets));
}

function onMessage(topic: string, payloadBytes: Uint8Array): void {
  const payload = new TextDecoder().decode(payloadBytes);
  const now = new Date();
  for (const w of allWidgets()) {
    if (w.type === "button" || !topicMatches(w.topic, topic)) continue;
    const v = extract(w, payload);
    if (v === undefined) continue;
    lastValues.set(w.id, { raw: v, time: now });
    if (w.type === "chart") {
      const n = numeric(v);
      if (n !== null) {
        const s = series.get(w.id) ?? { t: [], v: [] };
        s.t.push(now.getTime());
        s.v.push(n);
        if (s.t.length > MAX_POINTS) (s.t.shift(), s.v.shift());
        series.set(w.id, s);
        charts.get(w.id)?.push(now.getTime(), [n]);
      }
    }
    updateWidget(w);
  }
}

function syncSubscriptions(): void {
  const want = new Set(
    allWidgets()
      .filter((w) => w.type !== "button" && w.topic && filterError(w.topic) === null)
      .map((w) => w.topic),
  );
  if (!client?.connected) {
    subscribed = new Set();
    return;
  }
  const add = [...want].filter((t) => !subscribed.has(t));
  const remove = [...subscribed].filter((t) => !want.has(t));
  if (remove.length) client.unsubscribe(remove);
  if (add.length) client.subscribe(add, { qos: 0 });
  subscribed = want;
}

function publish(w: Widget, payload: string): void {
  if (!client?.connected) return void toast("Not connected to the broker.", "error");
  const err = topicError(w.topic);
  if (err) return void toast(`${w.title}: ${err}`, "error");
  client.publish(w.topic, payload, { qos: 1, retain: !!w.retain });
}

// --- rendering --------------------------------------------------------------------------------------------------

function polar(cx: number, cy: number, r: number, deg: number): [number, number] {
  const rad = ((deg - 90) * Math.PI) / 180;
  return [cx + r * Math.cos(rad), cy + r * Math.sin(rad)];
}

function arc(cx: number, cy: number, r: number, from: number, to: number): string {
  const [x1, y1] = polar(cx, cy, r, from);
  const [x2, y2] = polar(cx, cy, r, to);
  const large = to - from > 180 ? 1 : 0;
  return `M ${x1.toFixed(2)} ${y1.toFixed(2)} A ${r} ${r} 0 ${large} 1 ${x2.toFixed(2)} ${y2.toFixed(2)}`;
}

function fmt(n: number): string {
  return String(Math.abs(n) >= 100 ? Math.round(n) : +n.toFixed(1));
}

function gaugeSvg(w: Widget, value: number | null): string {
  const min = w.min ?? 0;
  const max = w.max ?? 100;
  const frac = value === null || max <= min ? 0 : Math.min(1, Math.max(0, (value - min) / (max - min)));
  const start = -120;
  const end = 120;
  const color = frac > 0.85 ? "#c92a2a" : frac > 0.65 ? "#e8a317" : "#3454d1";
  const valuePath = frac > 0 ? `<path d="${arc(100, 100, 80, start, start + (end - start) * frac)}" stroke="${color}" stroke-width="16" fill="none" stroke-linecap="round"/>` : "";
  return `<svg viewBox="0 0 200 170" role="img" aria-label="${escapeHtml(w.title)}: ${value === null ? "no value yet" : `${value} ${w.unit ?? ""}`}">
    <path d="${arc(100, 100, 80, start, end)}" stroke="#e6e9f0" stroke-width="16" fill="none" stroke-linecap="round"/>
    ${valuePath}
    <text x="100" y="102" text-anchor="middle" class="gauge-value">${value === null ? "–" : escapeHtml(fmt(value))}</text>
    <text x="100" y="124" text-anchor="middle" class="gauge-unit">${escapeHtml(w.unit ?? "")}</text>
    <text x="38" y="162" text-anchor="middle" class="gauge-range">${escapeHtml(fmt(min))}</text>
    <text x="162" y="162" text-anchor="middle" class="gauge-range">${escapeHtml(fmt(max))}</text>
  </svg>`;
}

function updateWidget(w: Widget): void {
  const el = document.querySelector<HTMLElement>(`[data-widget-id="${CSS.escape(w.id)}"]`);
  if (!el) return;
  const last = lastValues.get(w.id);
  const body = el.querySelector<HTMLElement>(".widget-body")!;
  const updated = el.querySelector<HTMLElement>(".updated");
  if (updated) updated.textContent = last ? `updated ${formatTimestamp(last.time)}` : "waiting for data";
  if (last) el.dataset.value = last.raw;
  switch (w.type) {
    case "gauge":
      body.querySelector(".gauge")!.innerHTML = gaugeSvg(w, last ? numeric(last.raw) : null);
      break;
    case "text": {
      const v = body.querySelector(".text-value")!;
      v.innerHTML = `${escapeHtml(last ? last.raw : "–")}${w.unit ? `<span class="unit">${escapeHtml(w.unit)}</span>` : ""}`;
      break;
    }
    case "switch": {
      const sw = body.querySelector<HTMLElement>(".switch")!;
      if (last) sw.setAttribute("aria-checked", String(last.raw === (w.onPayload ?? "on")));
      break;
    }
    case "slider": {
      const r = body.querySelector<HTMLInputElement>("input")!;
      const n = last ? numeric(last.raw) : null;
      if (n !== null && document.activeElement !== r) r.value = String(n);
      body.querySelector(".slider-value")!.textContent = `${r.value}${w.unit ? ` ${w.unit}` : ""}`;
      break;
    }
    default:
      break;
  }
}

function widgetElement(w: Widget): HTMLElement {
  const el = document.createElement("section");
  el.className = `widget w-${w.type}`;
  el.dataset.widgetId = w.id;
  el.dataset.type = w.type;
  el.setAttribute("aria-label", `${w.title} (${TYPE_LABELS[w.type]})`);
  el.innerHTML = `<div class="widget-head"><h3 class="widget-title">${escapeHtml(w.title)}</h3>
      <button type="button" class="icon-btn edit-only" data-act="edit" aria-label="Edit widget ${escapeHtml(w.title)}" title="Edit">
        <svg viewBox="0 0 16 16" aria-hidden="true"><path d="M3 11.5V13h1.5l7-7L10 4.5l-7 7zM11 3.5l1.5 1.5" stroke="currentColor" stroke-width="1.5" fill="none"/></svg></button>
      <button type="button" class="icon-btn edit-only" data-act="delete" aria-label="Delete widget ${escapeHtml(w.title)}" title="Delete">
        <svg viewBox="0 0 16 16" aria-hidden="true"><path d="M4 4l8 8M12 4l-8 8" stroke="currentColor" stroke-width="2" stroke-linecap="round"/></svg></button>
    </div>
    <div class="widget-body"></div>
    <div class="widget-topic">${escapeHtml(w.topic)}${w.jsonPath ? ` · ${escapeHtml(w.jsonPath)}` : ""}</div>`;
  const body = el.querySelector<HTMLElement>(".widget-body")!;
  switch (w.type) {
    case "gauge":
      body.innerHTML = `<div class="gauge"></div>`;
      break;
    case "text":
      body.innerHTML = `<div class="text-value" aria-live="polite"></div><div class="updated"></div>`;
      break;
    case "chart": {
      const box = document.createElement("div");
      box.className = "chart-box";
      body.append(box);
      requestAnimationFrame(() => {
        if (!box.isConnected) return;
        charts.get(w.id)?.destroy();
        const c = new TimeChart(box, [{ label: w.title, color: "#3454d1" }], MAX_POINTS, 190, w.unit ?? "", false);
        const s = series.get(w.id);
        if (s) c.load(s.t, [s.v]);
        charts.set(w.id, c);
      });
      break;
    }
    case "switch": {
      const sw = document.createElement("button");
      sw.type = "button";
      sw.className = "switch";
      sw.setAttribute("role", "switch");
      sw.setAttribute("aria-checked", "false");
      sw.setAttribute("aria-label", w.title);
      sw.addEventListener("click", () => {
        const on = sw.getAttribute("aria-checked") !== "true";
        sw.setAttribute("aria-checked", String(on));
        publish(w, on ? (w.onPayload ?? "on") : (w.offPayload ?? "off"));
      });
      body.append(sw);
      break;
    }
    case "button": {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "btn btn-primary";
      b.textContent = w.title;
      b.addEventListener("click", () => publish(w, w.payload ?? ""));
      body.append(b);
      break;
    }
    case "slider": {
      body.innerHTML = `<input type="range" min="${w.min ?? 0}" max="${w.max ?? 100}" step="${w.step ?? 1}" aria-label="${escapeHtml(w.title)}">
        <div class="slider-value text-value"></div>`;
      const r = body.querySelector("input")!;
      r.addEventListener("input", () => (body.querySelector(".slider-value")!.textContent = `${r.value}${w.unit ? ` ${w.unit}` : ""}`));
      r.addEventListener("change", () => publish(w, r.value));
      break;
    }
    default:
      break;
  }
  if (w.type !== "chart" && w.type !== "button" && w.type !== "text") {
    const u = document.createElement("div");
    u.className = "updated";
    body.append(u);
  }
  el.querySelector('[data-act="edit"]')!.addEventListener("click", () => void editWidget(w));
  el.querySelector('[data-act="delete"]')!.addEventListener("click", () => {
    for (const t of layout.tabs) for (const g of t.groups) g.widgets = g.widgets.filter((x) => x !== w);
    charts.get(w.id)?.destroy();
    charts.delete(w.id);
    render();
  });
  return el;
}

function render(): void {
  document.body.classList.toggle("editing", editing);
  if (activeTab >= layout.tabs.length) activeTab = Math.max(0, layout.tabs.length - 1);
  const tabs = $("#tabs");
  tabs.replaceChildren(
    ...layout.tabs.map((t, i) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "tab";
      b.id = `tab-${i}`;
      b.setAttribute("role", "tab");
      b.setAttribute("aria-selected", String(i === activeTab));
      b.setAttribute("aria-controls", `panel-${i}`);
      b.tabIndex = i === activeTab ? 0 : -1;
      b.textContent = t.name;
      b.addEventListener("click", () => {
        activeTab = i;
        render();
      });
      b.addEventListener("keydown", (ev) => {
        if (ev.key !== "ArrowRight" && ev.key !== "ArrowLeft") return;
        activeTab = (activeTab + (ev.key === "ArrowRight" ? 1 : layout.tabs.length - 1)) % layout.tabs.length;
        render();
        document.getElementById(`tab-${activeTab}`)?.focus();
      });
      return b;
    }),
  );
  if (editing && layout.tabs.length) {
    const rename = document.createElement("button");
    rename.className = "btn btn-small";
    rename.type = "button";
    rename.textContent = "Rename tab";
    rename.addEventListener("click", async () => {
      const name = await promptDialog("Rename tab", "Tab name", layout.tabs[activeTab].name, "Rename");
      if (name) layout.tabs[activeTab].name = name;
      render();
    });
    const del = document.createElement("button");
    del.className = "btn btn-small";
    del.type = "button";
    del.textContent = "Delete tab";
    del.addEventListener("click", () => {
      layout.tabs.splice(activeTab, 1);
      render();
    });
    tabs.append(rename, del);
  }
  const panels = $("#panels");
  const tab = layout.tabs[activeTab];
  const panel = document.createElement("div");
  panel.id = `panel-${activeTab}`;
  panel.setAttribute("role", "tabpanel");
  panel.setAttribute("aria-labelledby", `tab-${activeTab}`);
  panel.className = "groups";
  if (!tab) {
    panel.innerHTML = `<p class="empty">This dashboard has no tabs. Press <b>Edit layout</b>, then <b>Add tab</b>.</p>`;
  } else {
    tab.groups.forEach((g) => {
      const card = document.createElement("section");
      card.className = "card group";
      card.setAttribute("aria-label", g.name);
      card.innerHTML = `<div class="card-head"><h2>${escapeHtml(g.name)}</h2>
        <button type="button" class="btn btn-small edit-only" data-act="rename">Rename</button>
        <button type="button" class="btn btn-small edit-only" data-act="remove">Remove group</button></div>
        <div class="widgets"></div>`;
      const box = card.querySelector(".widgets")!;
      for (const w of g.widgets) box.append(widgetElement(w));
      if (editing) {
        const add = document.createElement("button");
        add.type = "button";
        add.className = "add-widget";
        add.textContent = "+ Add widget";
        add.addEventListener("click", () => void editWidget(null, g));
        box.append(add);
      }
      card.querySelector('[data-act="rename"]')!.addEventListener("click", async () => {
        const name = await promptDialog("Rename group", "Group name", g.name, "Rename");
        if (name) g.name = name;
        render();
      });
      card.querySelector('[data-act="remove"]')!.addEventListener("click", () => {
        tab.groups.splice(tab.groups.indexOf(g), 1);
        render();
      });
      panel.append(card);
    });
    if (tab.groups.length === 0)
      panel.innerHTML = `<p class="empty">No groups on this tab yet.${editing ? " Press <b>Add group</b>." : ""}</p>`;
  }
  panels.replaceChildren(panel);
  for (const w of allWidgets()) updateWidget(w);
  syncSubscriptions();
}

// --- editor -----------------------------------------------------------------------------------------------------

function editWidget(w: Widget | null, group?: Group): Promise<void> {
  return new Promise((resolve) => {
    const cur: Widget = w ?? { id: randomId("w-", 8), type: "gauge", title: "New widget", topic: "mytopic/temp" };
    const dlg = document.createElement("dialog");
    dlg.className = "modal wide-modal";
    dlg.setAttribute("aria-labelledby", "widget-dlg-title");
    const v = (x: unknown): string => (x === undefined || x === null ? "" : escapeHtml(String(x)));
    dlg.innerHTML = `<form method="dialog" class="form" id="widget-form">
      <h2 id="widget-dlg-title">${w ? "Edit widget" : "Add widget"}</h2>
      <div class="grid pub-props-grid">
        <label>Type<select name="type">${Object.entries(TYPE_LABELS)
          .map(([k, l]) => `<option value="${k}"${k === cur.type ? " selected" : ""}>${l}</option>`)
          .join("")}</select></label>
        <label>Title<input name="title" required value="${v(cur.title)}"></label>
        <label class="wide">Topic<input name="topic" required spellcheck="false" value="${v(cur.topic)}"></label>
        <label data-for="gauge chart text slider">Unit<input name="unit" value="${v(cur.unit)}"></label>
        <label data-for="gauge chart text switch slider">JSON path <span class="hint">(e.g. sensor.temp)</span><input name="jsonPath" spellcheck="false" value="${v(cur.jsonPath)}"></label>
        <label data-for="gauge slider">Minimum<input name="min" type="number" step="any" value="${v(cur.min ?? 0)}"></label>
        <label data-for="gauge slider">Maximum<input name="max" type="number" step="any" value="${v(cur.max ?? 100)}"></label>
        <label data-for="slider">Step<input name="step" type="number" step="any" value="${v(cur.step ?? 1)}"></label>
        <label data-for="switch">On payload<input name="onPayload" value="${v(cur.onPayload ?? "on")}"></label>
        <label data-for="switch">Off payload<input name="offPayload" value="${v(cur.offPayload ?? "off")}"></label>
        <label data-for="button">Payload<input name="payload" value="${v(cur.payload ?? "")}"></label>
        <label class="check" data-for="switch button slider"><input name="retain" type="checkbox"${cur.retain ? " checked" : ""}> Retain published value</label>
      </div>
      <p class="error-text" role="alert" id="widget-error"></p>
      <div class="actions">
        <button value="cancel" class="btn" formnovalidate>Cancel</button>
        <button value="ok" class="btn btn-primary" id="widget-ok">${w ? "Apply" : "Add"}</button>
      </div></form>`;
    document.body.append(dlg);
    const form = dlg.querySelector("form")!;
    const field = (n: string) => form.elements.namedItem(n) as HTMLInputElement;
    const showFields = (): void => {
      const type = field("type").value;
      for (const l of form.querySelectorAll<HTMLElement>("[data-for]")) l.hidden = !l.dataset.for!.split(" ").includes(type);
    };
    field("type").addEventListener("change", showFields);
    showFields();
    form.addEventListener("submit", (ev) => {
      const submitter = (ev as SubmitEvent).submitter as HTMLButtonElement | null;
      if (submitter?.value !== "ok") return;
      const type = field("type").value as WidgetType;
      const topic = field("topic").value.trim();
      const err = !field("title").value.trim()
        ? "Give the widget a title."
        : ["switch", "button", "slider"].includes(type)
          ? topicError(topic)
          : filterError(topic);
      if (err) {
        ev.preventDefault();
        dlg.querySelector("#widget-error")!.textContent = err;
        return;
      }
      const num = (n: string): number | undefined => (field(n).value === "" ? undefined : Number(field(n).value));
      const next: Widget = { id: cur.id, type, title: field("title").value.trim(), topic };
      const set = <K extends keyof Widget>(k: K, val: Widget[K] | undefined | ""): void => {
        if (val !== undefined && val !== "") next[k] = val as Widget[K];
      };
      const visibleField = (n: string) => !(field(n).closest("[data-for]") as HTMLElement | null)?.hidden;
      if (visibleField("unit")) set("unit", field("unit").value);
      if (visibleField("jsonPath")) set("jsonPath", field("jsonPath").value.trim());
      if (visibleField("min")) set("min", num("min"));
      if (visibleField("max")) set("max", num("max"));
      if (visibleField("step")) set("step", num("step"));
      if (visibleField("onPayload")) set("onPayload", field("onPayload").value);
      if (visibleField("offPayload")) set("offPayload", field("offPayload").value);
      if (visibleField("payload")) set("payload", field("payload").value);
      if (visibleField("retain") && field("retain").checked) next.retain = true;
      if (w && (w.topic !== next.topic || w.jsonPath !== next.jsonPath)) {
        series.delete(w.id);
        lastValues.delete(w.id);
      }
      if (w) Object.keys(w).forEach((k) => delete (w as unknown as Record<string, unknown>)[k]);
      if (w) Object.assign(w, next);
      else group?.widgets.push(next);
      if (w && (w.type !== "chart" || w.topic !== cur.topic)) {
        charts.get(w.id)?.destroy();
        charts.delete(w.id);
      }
    });
    dlg.addEventListener("close", () => {
      dlg.remove();
      render();
      resolve();
    });
    dlg.showModal();
  });
}

function setEditing(on: boolean): void {
  editing = on;
  $("#edit-btn").hidden = on;
  render();
}

$("#edit-btn").addEventListener("click", () => setEditing(true));
$("#cancel-btn").addEventListener("click", () => {
  layout = JSON.parse(saved) as Layout;
  setEditing(false);
});
$("#reset-btn").addEventListener("click", () => {
  layout = defaultLayout();
  render();
});
$("#add-tab-btn").addEventListener("click", async () => {
  const name = await promptDialog("Add tab", "Tab name", `Tab ${layout.tabs.length + 1}`, "Add");
  if (!name) return;
  layout.tabs.push({ name, groups: [{ name: "Group", widgets: [] }] });
  activeTab = layout.tabs.length - 1;
  render();
});
$("#add-group-btn").addEventListener("click", async () => {
  const name = await promptDialog("Add group", "Group name", "Group", "Add");
  if (!name) return;
  if (!layout.tabs.length) layout.tabs.push({ name: "Tab 1", groups: [] });
  layout.tabs[activeTab].groups.push({ name, widgets: [] });
  render();
});
$("#save-btn").addEventListener("click", async () => {
  try {
    await api("PUT", "/dashboard", layout);
    saved = JSON.stringify(layout);
    setEditing(false);
    toast("Dashboard saved on the broker.");
  } catch (e) {
    toast(`Could not save the dashboard: ${(e as Error).message}`, "error");
  }
});

function valid(doc: unknown): doc is Layout {
  const l = doc as Layout | null;
  return !!l && Array.isArray(l.tabs) && l.tabs.every((t) => t && Array.isArray(t.groups) && t.groups.every((g) => Array.isArray(g.widgets)));
}

async function load(): Promise<void> {
  const notice = $("#dash-notice");
  try {
    const doc = await api<unknown>("GET", "/dashboard", undefined, { allow404: true });
    if (doc === null) layout = defaultLayout();
    else if (valid(doc)) layout = doc;
    else {
      layout = defaultLayout();
      notice.hidden = false;
      notice.textContent = "The dashboard stored on the broker is not a layout this console understands; showing the default.";
    }
  } catch (e) {
    layout = defaultLayout();
    notice.hidden = false;
    notice.textContent = `Could not load the saved dashboard (${(e as ApiError).message}); showing the default.`;
  }
  saved = JSON.stringify(layout);
  document.body.dataset.loaded = "true";
  render();
}

client = connectPageClient(statusEl, "moth-dashboard-");
client.on("connect", () => {
  subscribed = new Set();
  syncSubscriptions();
});
client.on("message", (topic, payload) => onMessage(topic, payload));
void load();
void showAnonymousBanner();
