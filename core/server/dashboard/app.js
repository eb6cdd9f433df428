// Sluice's dashboard: plain browser ES modules, no build step. Preact renders (htm tagged
// templates instead of JSX), uPlot draws the charts. Everything shown comes from /api/* with the
// admin key the user types in, kept in sessionStorage (gone with the tab), never in a URL.
// Server strings are rendered as text only (Preact escapes them); nothing uses innerHTML.
// Lists are paged by the server and the live tail keeps a bounded window: the page stays fast
// whatever the size of the log.

import { h, render } from "preact";
import { useCallback, useEffect, useMemo, useRef, useState } from "preact/hooks";
import htm from "htm";
import uPlot from "uplot";

const html = htm.bind(h);
const STORE = "sluice.admin-key";
const HOUR = 3_600_000;

// ---------------------------------------------------------------------------------------------
// The admin API

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let unauthorized = () => {};

async function api(path, { method = "GET", body, signal } = {}) {
  const headers = { authorization: `Bearer ${sessionStorage.getItem(STORE) ?? ""}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(`/api${path}`, {
    method, headers, signal, cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer",
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  let json = null;
  try {
    json = await res.json();
  } catch {
    // not JSON: the status says enough
  }
  if (!res.ok) {
    const message = json?.error?.message ?? `${res.status} ${res.statusText}`;
    if (res.status === 401) unauthorized(message);
    throw new ApiError(res.status, message);
  }
  return json;
}

/** GET `path` (null: nothing yet); again every `refreshMs` while mounted, and on reload(). */
function useApi(path, refreshMs = 0) {
  const [state, setState] = useState({ data: null, error: null, loading: path !== null });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (path === null) return undefined;
    const control = new AbortController();
    let timer;
    setState((s) => ({ ...s, loading: true }));
    api(path, { signal: control.signal }).then(
      (data) => setState({ data, error: null, loading: false }),
      (error) => {
        if (!control.signal.aborted) setState((s) => ({ data: s.data, error: error.message, loading: false }));
      },
    ).finally(() => {
      if (refreshMs > 0 && !control.signal.aborted) timer = setTimeout(() => setTick((t) => t + 1), refreshMs);
    });
    return () => {
      control.abort();
      clearTimeout(timer);
    };
  }, [path, tick, refreshMs]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, reload };
}

// ---------------------------------------------------------------------------------------------
// Formatting

const int = (n) => (n ?? 0).toLocaleString("en-US");
function usd(n) {
  if (n === null || n === undefined) return "–";
  if (n === 0) return "$0";
  if (Math.abs(n) >= 1) return `$${n.toFixed(2)}`;
  if (Math.abs(n) >= 0.01) return `$${n.toFixed(4)}`;
  return `$${n.toPrecision(2)}`;
}
/** 812 ms, 1.9 s, 2.5 min (as `sluice replay` says it) */
function duration(ms) {
  if (ms === null || ms === undefined) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}
const pad = (n, w = 2) => String(n).padStart(w, "0");
function stamp(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
/** Today: 14:59:27; before: 11-22 14:59:27 */
function shortStamp(ms) {
  const d = new Date(ms);
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return d.toDateString() === new Date().toDateString() ? time : `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
}
function clockTime(ms) {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}
function ago(ms) {
  if (!ms) return "never";
  const s = Math.round((Date.now() - ms) / 1000);
  if (s < 0) return `in ${duration(-s * 1000)}`;
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${(s / 3600).toFixed(1)} h ago`;
  return `${(s / 86400).toFixed(1)} d ago`;
}
const left = (until) => duration(Math.max(0, until - Date.now()));
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

// ---------------------------------------------------------------------------------------------
// A request's decision trail: the server words each step (core/routing/explain.ts, as `sluice replay` does).

const statusWords = (status, reason) =>
  status === undefined || status === 0 ? `no response${reason ? ` (${reason})` : ""}` : `${status}${reason ? ` ${reason}` : ""}`;

function stepClass(step) {
  if (step.step === "attempt") return step.result === "ok" ? "ok" : step.result === "failed" ? "bad" : "warn";
  if (step.step === "skipped" || step.step === "health" || step.step === "probe") return "warn";
  if (step.step === "outcome") return step.outcome === "completed" ? "ok" : "bad";
  return "";
}

// ---------------------------------------------------------------------------------------------
// Small pieces

function Loading({ what }) {
  return html`<p class="muted">Loading ${what}…</p>`;
}

function Failure({ error }) {
  return error ? html`<p class="error" role="alert">${error}</p>` : null;
}

function Card({ label, value, note }) {
  return html`<div class="card"><div class="card-label">${label}</div><div class="card-value">${value}</div>${note ? html`<div class="card-note">${note}</div>` : null}</div>`;
}

function Availability({ available }) {
  if (!available) return html`<span class="pill">–</span>`;
  if (available.ok) return available.probe ? html`<span class="pill warn">probing</span>` : html`<span class="pill ok">available</span>`;
  return html`<span class="pill bad" title=${`until ${stamp(available.until)}`}>${available.reason} · ${left(available.until)} left</span>`;
}

function HealthCells({ health }) {
  if (!health) return html`<td class="num">0</td><td class="num">0</td><td>–</td><td class="num">–</td>`;
  const last = health.lastFailureAt
    ? `${statusWords(health.lastFailureStatus, health.lastFailureReason)} ${ago(health.lastFailureAt)}`
    : "–";
  return html`
    <td class="num">${int(health.successes)}</td>
    <td class="num">${int(health.failures)}${health.consecutiveFailures ? html` <span class="muted">(${health.consecutiveFailures} in a row)</span>` : null}</td>
    <td>${last}</td>
    <td class="num">${health.latencyMs !== undefined ? duration(health.latencyMs) : "–"}</td>`;
}

const outcomeClass = (outcome) => (outcome === "completed" ? "ok" : outcome === "in_flight" ? "warn" : "bad");

// ---------------------------------------------------------------------------------------------
// Charts (uPlot): one series per line; data changes are pushed with setData

function Chart({ title, xs, series, height = 220 }) {
  const box = useRef(null);
  const plot = useRef(null);
  const shape = series.map((s) => `${s.label}:${s.bars ? 1 : 0}`).join(",");
  const data = useMemo(() => [xs, ...series.map((s) => s.values)], [xs, series]);
  useEffect(() => {
    const el = box.current;
    const axis = { stroke: "#5b6472", grid: { stroke: "#e8ebf0", width: 1 }, ticks: { stroke: "#e8ebf0", width: 1 } };
    const opts = {
      width: Math.max(200, el.clientWidth),
      height,
      scales: {
        // Bars are centred on their hour: half an hour more on each side keeps the edge ones whole.
        x: { time: true, range: (_u, min, max) => (series.some((s) => s.bars) ? [min - 1800, max + 1800] : [min, max]) },
        y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] },
      },
      series: [
        {},
        ...series.map((s) => ({
          label: s.label,
          stroke: s.color,
          fill: `${s.color}33`,
          width: 1.5,
          value: (_u, v) => (v === null || v === undefined ? "–" : s.format ? s.format(v) : int(v)),
          ...(s.bars ? { paths: uPlot.paths.bars({ size: [0.7, 40] }), points: { show: false } } : {}),
        })),
      ],
      axes: [axis, { ...axis, size: 64, values: (_u, ticks) => ticks.map((v) => (series[0]?.format ? series[0].format(v) : int(v))) }],
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
    };
    plot.current = new uPlot(opts, data, el);
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(200, el.clientWidth), height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [shape, height]);
  useEffect(() => {
    plot.current?.setData(data);
  }, [data]);
  const total = series.reduce((sum, s) => sum + s.values.reduce((a, v) => a + (v ?? 0), 0), 0);
  return html`<section class="chart-box">
    <h3>${title}</h3>
    <div class="chart" ref=${box} data-chart=${title} data-points=${xs.length} data-total=${total}></div>
  </section>`;
}

// ---------------------------------------------------------------------------------------------
// Overview

const WINDOWS = [
  { id: "24h", label: "Last 24 hours", ms: 24 * HOUR },
  { id: "7d", label: "Last 7 days", ms: 7 * 24 * HOUR },
  { id: "30d", label: "Last 30 days", ms: 30 * 24 * HOUR },
];

function WindowPicker({ value, onChange }) {
  return html`<label class="inline">Window
    <select value=${value} onChange=${(e) => onChange(e.currentTarget.value)}>
      ${WINDOWS.map((w) => html`<option value=${w.id}>${w.label}</option>`)}
    </select></label>`;
}

/** The first hour of a window ending now (hours are UTC-aligned: whole hours since the epoch). */
const sinceOf = (windowId) => Math.floor((Date.now() - WINDOWS.find((w) => w.id === windowId).ms) / HOUR) * HOUR + HOUR;

function Overview() {
  const [windowId, setWindowId] = useState("24h");
  const [since, setSince] = useState(() => sinceOf("24h"));
  useEffect(() => setSince(sinceOf(windowId)), [windowId]);
  const usage = useApi(`/usage?group=hour&since=${since}`, 15_000);
  const series = useMemo(() => {
    const rows = usage.data?.data ?? [];
    const byHour = new Map(rows.map((r) => [Date.parse(r.hour), r]));
    const last = Math.max(Math.floor(Date.now() / HOUR) * HOUR, ...byHour.keys());
    const xs = [];
    const requests = [];
    const errors = [];
    const cost = [];
    for (let hour = since; hour <= last; hour += HOUR) {
      const row = byHour.get(hour);
      xs.push(hour / 1000);
      requests.push(row?.requests ?? 0);
      errors.push(row ? row.failed : 0);
      cost.push(row?.cost_usd ?? 0);
    }
    return {
      xs,
      traffic: [
        { label: "requests", color: "#2f6fde", values: requests, bars: true },
        { label: "errors", color: "#d64545", values: errors, bars: true },
      ],
      cost: [{ label: "cost (USD)", color: "#1f9d6b", values: cost, format: usd }],
    };
  }, [usage.data, since]);
  const t = usage.data?.totals;
  return html`<div>
    <div class="toolbar"><h2>Overview</h2><${WindowPicker} value=${windowId} onChange=${setWindowId} /></div>
    <${Failure} error=${usage.error} />
    ${!usage.data ? html`<${Loading} what="usage" />` : html`
      <div class="cards">
        <${Card} label="Requests" value=${int(t.requests)} note=${`${int(t.completed)} completed · ${int(t.fallback_requests)} with fallback`} />
        <${Card} label="Errors" value=${int(t.failed)} note=${t.requests ? `${((t.failed / t.requests) * 100).toFixed(1)}% of requests · ${int(t.cancelled)} cancelled` : "no requests"} />
        <${Card} label="Cost" value=${usd(t.cost_usd)} note=${t.unpriced_requests ? `${int(t.unpriced_requests)} requests without a price` : "all requests priced"} />
        <${Card} label="Tokens" value=${int(t.input_tokens + t.output_tokens)} note=${`${int(t.input_tokens)} in · ${int(t.output_tokens)} out`} />
        <${Card} label="Saved" value=${usd(t.saved_usd + t.cache_saved_usd)} note=${`${int(t.tokens_saved)} tokens compressed away · ${int(t.cache_hits)} cache hits`} />
        <${Card} label="Latency p50 / p99" value=${`${duration(t.total_ms.p50)} / ${duration(t.total_ms.p99)}`} note=${`first byte p50 ${duration(t.ttfb_ms.p50)}`} />
      </div>
      <div class="charts">
        <${Chart} title="Requests and errors per hour" xs=${series.xs} series=${series.traffic} />
        <${Chart} title="Cost per hour" xs=${series.xs} series=${series.cost} />
      </div>
      ${usage.data.warnings.length ? html`<ul class="warnings">${usage.data.warnings.map((w) => html`<li>${w}</li>`)}</ul>` : null}`}
  </div>`;
}

// ---------------------------------------------------------------------------------------------
// Providers and routes

function Providers() {
  const { data, error } = useApi("/providers", 5000);
  return html`<div>
    <div class="toolbar"><h2>Providers</h2><span class="muted">refreshed every 5 s</span></div>
    <${Failure} error=${error} />
    ${!data ? html`<${Loading} what="providers" />` : data.data.length === 0 ? html`<p class="muted">No providers configured.</p>` : data.data.map((p) => html`
      <section class="panel" key=${p.id}>
        <div class="panel-head">
          <h3>${p.id}</h3><span class="pill">${p.kind}</span><${Availability} available=${p.available} />
          <span class="muted mono">${p.base_url ?? "(default endpoint)"}</span>
          ${p.has_api_key ? html`<span class="muted">api key set</span>` : html`<span class="muted">no api key</span>`}
          ${p.headers.length ? html`<span class="muted">headers: ${p.headers.join(", ")}</span>` : null}
        </div>
        <p class="muted">models: ${p.models.join(", ") || "–"}</p>
        <table>
          <thead><tr><th>scope</th><th>state</th><th class="num">successes</th><th class="num">failures</th><th>last failure</th><th class="num">latency</th><th>cooldown / ejection</th></tr></thead>
          <tbody>
            <tr><td>provider</td><td><${Availability} available=${p.available} /></td><${HealthCells} health=${p.health} /><td>${coolText(p.health)}</td></tr>
            ${Object.entries(p.targets).map(([target, health]) => html`
              <tr key=${target}><td class="mono">${target}</td><td>${targetState(health)}</td><${HealthCells} health=${health} /><td>${coolText(health)}</td></tr>`)}
          </tbody>
        </table>
      </section>`)}
  </div>`;
}

function coolText(health) {
  if (!health) return "–";
  const now = Date.now();
  const parts = [];
  if (health.coolUntil && health.coolUntil > now) parts.push(`cooling down until ${stamp(health.coolUntil)}`);
  if (health.ejectedUntil && health.ejectedUntil > now) parts.push(`ejected until ${stamp(health.ejectedUntil)} (×${health.ejections})`);
  else if (health.ejections) parts.push(`${plural(health.ejections, "ejection")} in a row`);
  return parts.join("; ") || "–";
}

function targetState(health) {
  const now = Date.now();
  if (health?.coolUntil > now) return html`<span class="pill bad">cooldown · ${left(health.coolUntil)} left</span>`;
  if (health?.ejectedUntil > now) return html`<span class="pill bad">ejected · ${left(health.ejectedUntil)} left</span>`;
  return html`<span class="pill ok">ok</span>`;
}

function Routes() {
  const { data, error } = useApi("/routes", 5000);
  return html`<div>
    <div class="toolbar"><h2>Routes</h2></div>
    <${Failure} error=${error} />
    ${!data ? html`<${Loading} what="routes" />` : html`
      ${data.data.length === 0 ? html`<p class="muted">No routes configured: models are asked for as provider/model.</p>` : null}
      ${data.data.map((route) => html`
        <section class="panel" key=${route.name}>
          <div class="panel-head"><h3>${route.name}</h3><span class="pill">${route.strategy}</span>${route.affinity ? html`<span class="pill">affinity</span>` : null}</div>
          ${route.lists.map((list) => html`
            <div key=${list.path}>
              ${route.lists.length > 1 ? html`<h4 class="mono">${list.path}</h4>` : null}
              <table>
                <thead><tr><th>#</th><th>target</th><th class="num">weight</th><th class="num">context</th><th>state</th><th class="num">successes</th><th class="num">failures</th><th>last failure</th><th class="num">latency</th></tr></thead>
                <tbody>${list.targets.map((t, i) => html`
                  <tr key=${t.target}><td class="num">${i + 1}</td><td class="mono">${t.target}</td><td class="num">${t.weight ?? "–"}</td>
                  <td class="num">${t.context ? int(t.context) : "–"}</td><td><${Availability} available=${t.available} /></td><${HealthCells} health=${t.health} /></tr>`)}
                </tbody>
              </table>
            </div>`)}
        </section>`)}
      ${Object.keys(data.aliases ?? {}).length ? html`<section class="panel"><h3>Aliases</h3><table><tbody>
        ${Object.entries(data.aliases).map(([name, to]) => html`<tr key=${name}><td class="mono">${name}</td><td class="mono">${typeof to === "string" ? to : JSON.stringify(to)}</td></tr>`)}
      </tbody></table></section>` : null}`}
  </div>`;
}

// ---------------------------------------------------------------------------------------------
// Keys

function keyState(k) {
  if (k.revoked_at) return html`<span class="pill bad">revoked ${ago(k.revoked_at)}</span>`;
  if (k.expires_at && k.expires_at <= Date.now()) return html`<span class="pill warn">expired</span>`;
  return html`<span class="pill ok">active</span>`;
}

function limitsText(k) {
  const parts = [];
  if (k.models?.length) parts.push(`models ${k.models.join(", ")}`);
  if (k.rpm) parts.push(`${k.rpm} rpm`);
  if (k.tpm) parts.push(`${int(k.tpm)} tpm`);
  if (k.concurrency) parts.push(`${k.concurrency} at once`);
  if (k.budget_usd !== undefined) parts.push(`budget ${usd(k.budget_usd)} per ${k.budget_period ?? "total"}`);
  if (k.expires_at) parts.push(`expires ${stamp(k.expires_at)}`);
  if (k.ips?.length) parts.push(`from ${k.ips.join(", ")}`);
  return parts.join(" · ") || "no limits";
}

function Keys() {
  const { data, error, reload } = useApi("/keys");
  const [created, setCreated] = useState(null);
  const [confirming, setConfirming] = useState(null);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState(null);

  async function create(event) {
    event.preventDefault();
    const element = event.currentTarget;
    const form = new FormData(element);
    const body = { name: String(form.get("name")).trim() };
    const models = String(form.get("models")).split(",").map((m) => m.trim()).filter(Boolean);
    if (models.length) body.models = models;
    for (const field of ["rpm", "tpm", "concurrency"]) {
      const value = String(form.get(field)).trim();
      if (value) body[field] = Number(value);
    }
    const budget = String(form.get("budget_usd")).trim();
    if (budget) {
      body.budget_usd = Number(budget);
      body.budget_period = String(form.get("budget_period"));
    }
    setBusy(true);
    setProblem(null);
    try {
      setCreated(await api("/keys", { method: "POST", body }));
      element.reset();
      reload();
    } catch (e) {
      setProblem(e.message);
    } finally {
      setBusy(false);
    }
  }

  async function revoke(id) {
    setBusy(true);
    setProblem(null);
    try {
      await api(`/keys/${encodeURIComponent(id)}`, { method: "DELETE" });
      setConfirming(null);
      reload();
    } catch (e) {
      setProblem(e.message);
    } finally {
      setBusy(false);
    }
  }

  const keys = [...(data?.data ?? [])].sort((a, b) => (a.revoked_at ? 1 : 0) - (b.revoked_at ? 1 : 0) || b.created_at - a.created_at);
  return html`<div>
    <div class="toolbar"><h2>Caller keys</h2></div>
    <section class="panel">
      <h3>Create a key</h3>
      <form class="form-grid" onSubmit=${create}>
        <label>Name <input name="name" required maxlength="128" autocomplete="off" placeholder="ci-bot" /></label>
        <label>Models <input name="models" autocomplete="off" placeholder="all (or: smart, openai/*)" /></label>
        <label>Requests / min <input name="rpm" type="number" min="1" step="1" /></label>
        <label>Tokens / min <input name="tpm" type="number" min="1" step="1" /></label>
        <label>At once <input name="concurrency" type="number" min="1" step="1" /></label>
        <label>Budget (USD) <input name="budget_usd" type="number" min="0" step="any" /></label>
        <label>per <select name="budget_period"><option value="month">month</option><option value="day">day</option><option value="total">total</option></select></label>
        <div><button type="submit" class="primary" disabled=${busy}>Create key</button></div>
      </form>
      ${created ? html`<div class="secret" role="status">
        <p><strong>Key “${created.name}” created.</strong> Copy it now: it is not shown again.</p>
        <code class="mono" id="new-key">${created.key}</code>
        <button type="button" onClick=${() => navigator.clipboard?.writeText(created.key)}>Copy</button>
        <button type="button" onClick=${() => setCreated(null)}>Done</button>
      </div>` : null}
      <${Failure} error=${problem} />
    </section>
    <${Failure} error=${error} />
    ${!data ? html`<${Loading} what="keys" />` : keys.length === 0 ? html`<p class="muted">No caller keys: the gateway answers loopback callers without one.</p>` : html`
      <table class="keys">
        <thead><tr><th>name</th><th>id</th><th>prefix</th><th>created</th><th>limits</th><th class="num">spent</th><th>state</th><th></th></tr></thead>
        <tbody>${keys.map((k) => html`
          <tr key=${k.id} data-key=${k.id}>
            <td>${k.name}</td><td class="mono">${k.id}</td><td class="mono">${k.prefix}…</td><td>${stamp(k.created_at)}</td>
            <td>${limitsText(k)}</td><td class="num">${usd(k.spent_usd)}</td><td>${keyState(k)}</td>
            <td><div class="actions">${k.revoked_at ? null : confirming === k.id ? html`
              <span>Revoke “${k.name}”?</span>
              <button type="button" class="danger" disabled=${busy} onClick=${() => revoke(k.id)}>Yes, revoke</button>
              <button type="button" onClick=${() => setConfirming(null)}>Cancel</button>` : html`
              <button type="button" onClick=${() => setConfirming(k.id)}>Revoke</button>`}
            </div></td>
          </tr>`)}
        </tbody>
      </table>`}
  </div>`;
}

// ---------------------------------------------------------------------------------------------
// Usage

const DIMENSIONS = ["provider", "model", "caller", "route"];

function Usage() {
  const [group, setGroup] = useState(["provider", "model"]);
  const [period, setPeriod] = useState("");
  const [windowId, setWindowId] = useState("7d");
  const since = useMemo(() => sinceOf(windowId), [windowId]);
  const query = new URLSearchParams({ since: String(since) });
  const parts = [...(period ? [period] : []), ...group];
  if (parts.length) query.set("group", parts.join(","));
  const { data, error } = useApi(`/usage?${query}`, 30_000);
  const toggle = (d) => setGroup((g) => (g.includes(d) ? g.filter((x) => x !== d) : [...g, d]));
  const columns = data?.group ?? [];
  const label = (row, column) => {
    if (column === "caller") return row.caller_name ? `${row.caller_name} (${row.caller})` : row.caller || "(no key)";
    if (column === "route") return row.route || "(no route)";
    return row[column] || "–";
  };
  const cells = (row) => html`
    <td class="num">${int(row.requests)}</td><td class="num">${int(row.failed)}</td><td class="num">${int(row.fallback_requests)}</td>
    <td class="num">${int(row.input_tokens)}</td><td class="num">${int(row.output_tokens)}</td><td class="num">${usd(row.cost_usd)}</td>
    <td class="num">${duration(row.ttfb_ms.p50)}</td><td class="num">${duration(row.total_ms.p50)}</td>
    <td class="num">${duration(row.total_ms.p90)}</td><td class="num">${duration(row.total_ms.p99)}</td>`;
  return html`<div>
    <div class="toolbar">
      <h2>Usage</h2>
      <fieldset class="inline"><legend>Group by</legend>
        ${DIMENSIONS.map((d) => html`<label class="check"><input type="checkbox" checked=${group.includes(d)} onChange=${() => toggle(d)} /> ${d}</label>`)}
        <select value=${period} onChange=${(e) => setPeriod(e.currentTarget.value)} aria-label="period">
          <option value="">whole window</option><option value="day">per day</option><option value="hour">per hour</option>
        </select>
      </fieldset>
      <${WindowPicker} value=${windowId} onChange=${setWindowId} />
    </div>
    <${Failure} error=${error} />
    ${!data ? html`<${Loading} what="usage" />` : html`
      <div class="scroll"><table class="usage">
        <thead><tr>${columns.map((c) => html`<th>${c}</th>`)}<th class="num">requests</th><th class="num">errors</th><th class="num">fallbacks</th>
          <th class="num">tokens in</th><th class="num">tokens out</th><th class="num">cost</th><th class="num">ttfb p50</th>
          <th class="num">p50</th><th class="num">p90</th><th class="num">p99</th></tr></thead>
        <tbody>${data.data.map((row, i) => html`<tr key=${i}>${columns.map((c) => html`<td class=${c === "hour" || c === "day" ? "mono" : ""}>${label(row, c)}</td>`)}${cells(row)}</tr>`)}</tbody>
        <tfoot><tr>${columns.length ? html`<th colspan=${columns.length}>total</th>` : null}${cells(data.totals)}</tr></tfoot>
      </table></div>
      ${data.data.length === 0 ? html`<p class="muted">No requests in this window.</p>` : null}
      ${data.warnings.length ? html`<ul class="warnings">${data.warnings.map((w) => html`<li>${w}</li>`)}</ul>` : null}`}
  </div>`;
}

// ---------------------------------------------------------------------------------------------
// Requests: the log (paged by cursor) and one request's trail and events

const OUTCOMES = ["", "completed", "failed", "cancelled", "in_flight", "interrupted"];
const FILTERS = ["model", "provider", "route", "caller", "status"];

function Requests({ openId, setOpenId }) {
  const [filter, setFilter] = useState({});
  const [pages, setPages] = useState({ rows: [], cursor: null, loading: true, error: null });
  const [tick, setTick] = useState(0);
  const control = useRef(null);

  const load = useCallback(async (cursor) => {
    control.current?.abort();
    const abort = (control.current = new AbortController());
    const query = new URLSearchParams({ limit: "50" });
    for (const [name, value] of Object.entries(filter)) if (value) query.set(name, value);
    if (cursor) query.set("cursor", cursor);
    setPages((p) => ({ ...p, loading: true, error: null }));
    try {
      const page = await api(`/requests?${query}`, { signal: abort.signal });
      setPages((p) => ({ rows: cursor ? [...p.rows, ...page.data] : page.data, cursor: page.next_cursor, loading: false, error: null }));
    } catch (e) {
      if (!abort.signal.aborted) setPages((p) => ({ ...p, loading: false, error: e.message }));
    }
  }, [filter]);

  useEffect(() => {
    load(null);
    return () => control.current?.abort();
  }, [load, tick]);

  function apply(event) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const next = {};
    for (const name of [...FILTERS, "outcome"]) {
      const value = String(form.get(name) ?? "").trim();
      if (value) next[name] = value;
    }
    setFilter(next);
  }

  return html`<div class=${openId ? "split" : ""}>
    <div class="split-main">
      <div class="toolbar"><h2>Requests</h2><button type="button" onClick=${() => setTick((t) => t + 1)}>Refresh</button></div>
      <form class="filters" onSubmit=${apply}>
        ${FILTERS.map((name) => html`<label>${name}<input name=${name} autocomplete="off" placeholder=${name === "status" ? "429, 5xx, error" : ""} /></label>`)}
        <label>outcome<select name="outcome">${OUTCOMES.map((o) => html`<option value=${o}>${o || "any"}</option>`)}</select></label>
        <button type="submit">Filter</button>
      </form>
      <${Failure} error=${pages.error} />
      <div class="scroll"><table class="requests">
        <thead><tr><th>time</th><th>model</th><th>route</th><th>served by</th><th class="num">status</th><th>outcome</th><th class="num">attempts</th><th class="num">total</th><th class="num">tokens</th><th class="num">cost</th></tr></thead>
        <tbody>${pages.rows.map((r) => html`
          <tr key=${r.id} class=${`clickable${r.id === openId ? " selected" : ""}`} tabindex="0" data-request=${r.id}
            onClick=${() => setOpenId(r.id)} onKeyDown=${(e) => (e.key === "Enter" || e.key === " ") && (e.preventDefault(), setOpenId(r.id))}>
            <td class="nowrap" title=${`${r.id} · ${stamp(r.at)}`}>${shortStamp(r.at)}</td><td class="mono">${r.model}</td><td>${r.route ?? "–"}</td><td class="mono">${r.target ?? "–"}</td>
            <td class="num">${r.status ?? "–"}</td><td><span class=${`pill ${outcomeClass(r.outcome)}`}>${r.outcome}</span>${r.fallbacks ? html` <span class="pill warn">fallback</span>` : null}${r.cached ? html` <span class="pill">cached</span>` : null}</td>
            <td class="num">${r.attempts}</td><td class="num">${duration(r.total_ms)}</td>
            <td class="num">${r.usage ? `${int(r.usage.input_tokens)} / ${int(r.usage.output_tokens)}` : "–"}</td><td class="num">${usd(r.cost_usd)}</td>
          </tr>`)}
        </tbody>
      </table></div>
      ${pages.loading ? html`<${Loading} what="requests" />` : pages.rows.length === 0 ? html`<p class="muted">No requests match.</p>` : null}
      ${pages.cursor && !pages.loading ? html`<button type="button" class="more" onClick=${() => load(pages.cursor)}>Load more</button>` : null}
    </div>
    ${openId ? html`<${RequestDetail} id=${openId} onClose=${() => setOpenId(null)} />` : null}
  </div>`;
}

function RequestDetail({ id, onClose }) {
  const { data, error } = useApi(`/requests/${encodeURIComponent(id)}`);
  const first = data?.events[0]?.at ?? 0;
  return html`<aside class="detail" aria-label="request detail">
    <div class="toolbar"><h3 class="mono">${id}</h3><button type="button" onClick=${onClose} aria-label="close">Close</button></div>
    <${Failure} error=${error} />
    ${!data ? html`<${Loading} what="the request" />` : html`
      <h4>Decision trail</h4>
      <ol class="trail">${data.trail.map((step, i) => html`<li key=${i} class=${stepClass(step)}>${step.text}</li>`)}</ol>
      <h4>Events (${data.events.length})</h4>
      <ol class="timeline">${data.events.map((e) => html`
        <li key=${e.seq}>
          <details>
            <summary><span class="mono muted">#${e.seq}</span> <span class="mono">+${duration(e.at - first)}</span> <strong>${e.type}</strong> <span class="muted">${clockTime(e.at)}</span></summary>
            <pre>${JSON.stringify(e.data, null, 2)}</pre>
          </details>
        </li>`)}
      </ol>`}
  </aside>`;
}

// ---------------------------------------------------------------------------------------------
// Live: the event stream, read with fetch (EventSource cannot send the Authorization header)

const LIVE_MAX = 500;
const LIVE_TYPES = [
  { value: "", label: "all events" },
  { value: "request.*", label: "requests" },
  { value: "attempt.*", label: "attempts" },
  { value: "upstream.*", label: "upstream health" },
  { value: "key.*", label: "keys" },
];

/** Parse server-sent events from a byte stream, calling onEvent({ id, event, data }) for each. */
async function readSse(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const message = { id: undefined, event: "message", data: [] };
      for (const line of block.split("\n")) {
        if (line === "" || line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "data") message.data.push(text);
        else if (field === "event") message.event = text;
        else if (field === "id") message.id = text;
      }
      if (message.data.length) onEvent({ ...message, data: message.data.join("\n") });
    }
  }
}

function eventSummary(record) {
  const d = record.data ?? {};
  const bits = [];
  if (d.model) bits.push(d.model);
  if (d.target) bits.push(`→ ${d.target}`);
  if (d.status !== undefined) bits.push(String(d.status));
  if (d.reason) bits.push(d.reason);
  if (d.total_ms !== undefined) bits.push(duration(d.total_ms));
  if (d.name && !d.model) bits.push(d.name);
  return bits.join(" · ");
}

function Live({ openRequest }) {
  const [events, setEvents] = useState([]);
  const [status, setStatus] = useState("connecting");
  const [paused, setPaused] = useState(false);
  const [type, setType] = useState("request.*");
  const pausedRef = useRef(false);
  pausedRef.current = paused;

  useEffect(() => {
    const control = new AbortController();
    let after = null;
    let retry;
    // Events are shown in batches (at most every 250 ms): a busy gateway sends thousands a second.
    let batch = [];
    let flushing;
    const flush = () => {
      flushing = undefined;
      const fresh = batch.reverse();
      batch = [];
      setEvents((list) => [...fresh, ...list].slice(0, LIVE_MAX));
    };
    setEvents([]);
    async function connect() {
      setStatus("connecting");
      const query = new URLSearchParams();
      if (after !== null) query.set("after", String(after));
      if (type) query.set("type", type);
      try {
        const res = await fetch(`/api/events/stream${query.size ? `?${query}` : ""}`, {
          headers: { authorization: `Bearer ${sessionStorage.getItem(STORE) ?? ""}`, accept: "text/event-stream" },
          signal: control.signal, cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer",
        });
        if (res.status === 401) {
          unauthorized("the admin key was refused");
          return;
        }
        if (!res.ok || !res.body) throw new Error(`${res.status}`);
        setStatus("live");
        await readSse(res.body, (message) => {
          if (message.event === "gap" || message.event === "overflow") return;
          let record;
          try {
            record = JSON.parse(message.data);
          } catch {
            return;
          }
          after = record.seq;
          if (pausedRef.current) return;
          batch.push(record);
          if (batch.length > LIVE_MAX) batch = batch.slice(-LIVE_MAX);
          flushing ??= setTimeout(flush, 250);
        });
      } catch {
        // dropped or aborted: below
      }
      if (control.signal.aborted) return;
      setStatus("reconnecting");
      retry = setTimeout(connect, 2000);
    }
    connect();
    return () => {
      control.abort();
      clearTimeout(retry);
      clearTimeout(flushing);
    };
  }, [type]);

  return html`<div>
    <div class="toolbar">
      <h2>Live</h2>
      <span class=${`pill ${status === "live" ? "ok" : "warn"}`} id="live-status">${status}</span>
      <label class="inline">Show <select value=${type} onChange=${(e) => setType(e.currentTarget.value)}>
        ${LIVE_TYPES.map((t) => html`<option value=${t.value}>${t.label}</option>`)}
      </select></label>
      <button type="button" onClick=${() => setPaused((p) => !p)}>${paused ? "Resume" : "Pause"}</button>
      <button type="button" onClick=${() => setEvents([])}>Clear</button>
      <span class="muted">the newest ${LIVE_MAX} events are kept</span>
    </div>
    ${events.length === 0 ? html`<p class="muted">Waiting for events…</p>` : null}
    <table class="live">
      <thead><tr><th>time</th><th class="num">seq</th><th>type</th><th>request</th><th>details</th></tr></thead>
      <tbody>${events.map((e) => html`
        <tr key=${e.seq} data-type=${e.type}>
          <td class="mono">${clockTime(e.at)}</td><td class="num mono">${e.seq}</td><td>${e.type}</td>
          <td class="mono">${e.data?.request ? html`<a href="#requests" onClick=${(ev) => (ev.preventDefault(), openRequest(e.data.request))}>${e.data.request}</a>` : "–"}</td>
          <td>${eventSummary(e)}</td>
        </tr>`)}
      </tbody>
    </table>
  </div>`;
}

// ---------------------------------------------------------------------------------------------
// Login and the shell

function Login({ onLogin, message }) {
  const [error, setError] = useState(message);
  const [busy, setBusy] = useState(false);
  async function submit(event) {
    event.preventDefault();
    const key = String(new FormData(event.currentTarget).get("key") ?? "").trim();
    if (!key) return;
    setBusy(true);
    setError(null);
    try {
      const res = await fetch("/api/providers", { headers: { authorization: `Bearer ${key}` }, cache: "no-store", credentials: "omit" });
      if (res.ok) {
        sessionStorage.setItem(STORE, key);
        onLogin();
        return;
      }
      const body = await res.json().catch(() => null);
      setError(body?.error?.message ?? `${res.status} ${res.statusText}`);
    } catch (e) {
      setError(`the gateway did not answer: ${e.message}`);
    } finally {
      setBusy(false);
    }
  }
  return html`<main class="login">
    <form onSubmit=${submit} class="panel">
      <h1>Sluice</h1>
      <p class="muted">Enter the admin key (<span class="mono">admin_key</span> in the config). It is kept in this tab only.</p>
      <label>Admin key <input name="key" type="password" autocomplete="current-password" required autofocus /></label>
      <button type="submit" class="primary" disabled=${busy}>Sign in</button>
      <${Failure} error=${error} />
    </form>
  </main>`;
}

const TABS = [
  { id: "overview", label: "Overview" },
  { id: "providers", label: "Providers" },
  { id: "routes", label: "Routes" },
  { id: "keys", label: "Keys" },
  { id: "usage", label: "Usage" },
  { id: "requests", label: "Requests" },
  { id: "live", label: "Live" },
];

const tabOf = () => {
  const id = location.hash.replace(/^#/, "");
  return TABS.some((t) => t.id === id) ? id : "overview";
};

function App() {
  const [signedIn, setSignedIn] = useState(() => sessionStorage.getItem(STORE) !== null);
  const [message, setMessage] = useState(null);
  const [tab, setTab] = useState(tabOf);
  const [openId, setOpenId] = useState(null);

  useEffect(() => {
    unauthorized = (why) => {
      sessionStorage.removeItem(STORE);
      setMessage(`Signed out: ${why}`);
      setSignedIn(false);
    };
    const onHash = () => setTab(tabOf());
    addEventListener("hashchange", onHash);
    return () => removeEventListener("hashchange", onHash);
  }, []);

  const go = (id) => {
    if (location.hash !== `#${id}`) location.hash = id;
    setTab(id);
  };
  const signOut = () => {
    sessionStorage.removeItem(STORE);
    setMessage(null);
    setSignedIn(false);
  };

  if (!signedIn) return html`<${Login} message=${message} onLogin=${() => (setMessage(null), setSignedIn(true))} />`;
  const view = {
    overview: html`<${Overview} />`,
    providers: html`<${Providers} />`,
    routes: html`<${Routes} />`,
    keys: html`<${Keys} />`,
    usage: html`<${Usage} />`,
    requests: html`<${Requests} openId=${openId} setOpenId=${setOpenId} />`,
    live: html`<${Live} openRequest=${(id) => (setOpenId(id), go("requests"))} />`,
  }[tab];
  return html`<div class="shell">
    <header>
      <strong class="brand">Sluice</strong>
      <nav role="tablist">${TABS.map((t) => html`
        <a role="tab" href=${`#${t.id}`} aria-selected=${tab === t.id} class=${tab === t.id ? "active" : ""}
          onClick=${(e) => (e.preventDefault(), go(t.id))}>${t.label}</a>`)}
      </nav>
      <button type="button" class="signout" onClick=${signOut}>Sign out</button>
    </header>
    <main>${view}</main>
  </div>`;
}

render(html`<${App} />`, document.getElementById("app"));
