// The dashboard page: renders each snapshot the server pushes (server-sent events) and sends
// the buttons' actions back. It keeps nothing of its own: every render starts from the last
// snapshot, which the server read from the cluster.
"use strict";

const TOKEN = document.querySelector('meta[name="rollout-token"]').content;
// The same colours, in the same order of first appearance, as the report's SVG charts.
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf"];
const NO_ANSWER_COLOR = "#d62728";
const MARKER_COLOR = "#787878";
const SVG_NS = "http://www.w3.org/2000/svg";

let last = null;

// An element with attributes and children (strings become text: nothing is parsed as HTML).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== null && v !== undefined && v !== false) e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function seconds(s) {
  if (s === null || s === undefined || !isFinite(s)) return "?";
  if (s < 60) return (Math.round(s * 10) / 10) + "s";
  const t = Math.round(s);
  if (t < 3600) return Math.floor(t / 60) + "m" + String(t % 60).padStart(2, "0") + "s";
  return Math.floor(t / 3600) + "h" + String(Math.floor((t % 3600) / 60)).padStart(2, "0") + "m";
}

function pct(p) {
  return (Math.round(p * 10) / 10) + "%";
}

function colorOf(versions, name) {
  const i = versions.indexOf(name);
  return i < 0 ? NO_ANSWER_COLOR : PALETTE[i % PALETTE.length];
}

// Badges for the step markers above the plot: each in the first row where it overlaps no
// badge already placed (the report's charts lay them out the same way).
function layoutBadges(xs) {
  const placed = [];
  const H = 14, GAP = 2;
  return xs.map((x, i) => {
    const w = 8 + 7 * String(i + 1).length;
    let row = 0;
    for (;;) {
      const r = { x: x - w / 2, y: GAP + row * (H + GAP), w, h: H };
      const hit = placed.some(b => r.x - 1 < b.x + b.w && b.x < r.x + r.w + 1 && r.y < b.y + b.h && b.y < r.y + r.h);
      if (!hit) { placed.push(r); return r; }
      row += 1;
    }
  });
}

// One chart: lines (from the server's series) over time, with numbered step markers.
function chart(title, yDesc, lines, yMax, versions, markers, whole) {
  const W = 560, LEFT = 48, RIGHT = 12, PLOT_H = 170, BOTTOM = 34;
  const ts = lines.flatMap(l => l.points.filter(p => p).map(p => p[0])).concat(markers.map(m => m.t));
  const lo = ts.length ? Math.min(0, ...ts) : 0;
  const hi = Math.max(lo + 1, ...ts);
  const xOf = t => LEFT + (t - lo) / (hi - lo) * (W - LEFT - RIGHT);
  const badges = layoutBadges(markers.map(m => xOf(m.t)));
  const strip = badges.reduce((m, b) => Math.max(m, b.y + b.h + 2), 0);
  const TOP = 22 + strip;
  const H = TOP + PLOT_H + BOTTOM;
  const yOf = v => TOP + PLOT_H - (Math.min(v, yMax) / yMax) * PLOT_H;
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title });
  root.append(svg("text", { x: W / 2, y: 15, "text-anchor": "middle", "font-size": 13, "font-weight": "bold" }, title));
  root.append(svg("rect", { x: LEFT, y: TOP, width: W - LEFT - RIGHT, height: PLOT_H, fill: "none", stroke: "#ccc" }));
  for (let k = 0; k <= 4; k++) {
    const v = yMax * k / 4;
    if (whole && v !== Math.round(v)) continue;
    const y = yOf(v);
    root.append(svg("line", { x1: LEFT, x2: W - RIGHT, y1: y, y2: y, stroke: "#eee" }));
    root.append(svg("text", { x: LEFT - 4, y: y + 4, "text-anchor": "end", "font-size": 10 }, String(Math.round(v * 100) / 100)));
  }
  const span = hi - lo;
  const step = [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600].find(s => span / s <= 10) || 1200;
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-9; t += step) {
    root.append(svg("text", { x: xOf(t), y: TOP + PLOT_H + 13, "text-anchor": "middle", "font-size": 10 }, String(Math.round(t * 10) / 10)));
  }
  root.append(svg("text", { x: (LEFT + W - RIGHT) / 2, y: H - 6, "text-anchor": "middle", "font-size": 10, fill: "#555" }, "seconds since the dashboard saw the rollout start · " + yDesc));
  for (const l of lines) {
    let run = [];
    const flush = () => {
      if (run.length) root.append(svg("polyline", { "data-series": l.name, points: run.join(" "), fill: "none", stroke: colorOf(versions, l.name), "stroke-width": 2 }));
      run = [];
    };
    for (const p of l.points) {
      if (p && isFinite(p[0]) && isFinite(p[1])) run.push(xOf(p[0]).toFixed(1) + "," + yOf(p[1]).toFixed(1));
      else flush();
    }
    flush();
  }
  markers.forEach((m, i) => {
    const x = xOf(m.t), b = badges[i];
    root.append(svg("line", { x1: x, x2: x, y1: b.y + b.h, y2: TOP + PLOT_H, stroke: MARKER_COLOR, "stroke-dasharray": "5,4" }));
    root.append(svg("rect", { x: b.x, y: b.y, width: b.w, height: b.h, rx: 2, fill: MARKER_COLOR }));
    root.append(svg("text", { x: x, y: b.y + b.h - 3, "text-anchor": "middle", "font-size": 10, fill: "#fff" }, String(i + 1)));
  });
  return el("figure", { class: "chart", "data-chart": title }, root);
}

async function act(a, action, full) {
  const what = action === "promote" ? (full ? "Promote past every pause and analysis left of" : "Promote (end the current pause of)")
    : action === "abort" ? "Abort (roll back)" : "Resume (go on from the recorded step with)";
  if (!window.confirm(`${what} the rollout of ${a.namespace}/${a.app}?`)) return;
  const url = `/api/rollouts/${encodeURIComponent(a.namespace)}/${encodeURIComponent(a.app)}/${action}` + (full ? "?full=true" : "");
  try {
    const r = await fetch(url, { method: "POST", headers: { "X-Rollout-Token": TOKEN } });
    const body = await r.json().catch(() => ({}));
    if (!r.ok) window.alert(body.error || `${action}: ${r.status}`);
  } catch (e) {
    window.alert(`${action}: ${e}`);
  }
}

function renderApp(a) {
  const s = el("section", { class: "app", "data-namespace": a.namespace, "data-app": a.app });
  s.append(el("h2", { class: "app-name" }, `${a.namespace}/${a.app}`));
  if (a.problem) s.append(el("p", { class: "warn" }, a.problem));
  const r = a.rollout;
  s.append(el("p", { class: "line" }, "image: ", el("code", {}, a.image || "?")));
  if (r) {
    s.append(el("p", { class: "line rollout", "data-phase": r.phase },
      `${r.fromImage} → ${r.toImage} with ${r.strategy} via ${r.router}: `, el("b", { class: "phase" }, r.phase),
      r.reason ? ` — ${r.reason}` : ""));
    const h = a.holder;
    s.append(h ? el("p", { class: h.stale ? "line holder warn" : "line holder muted", "data-stale": h.stale },
      h.stale ? `held by ${h.identity}, NOT RENEWED for ${seconds(h.sinceRenewalSeconds)} (expires in ${seconds(h.remainingSeconds)})`
        : `held by ${h.identity}, renewed ${seconds(h.sinceRenewalSeconds)} ago`)
      : el("p", { class: "line holder warn" }, "held by no live process: resume goes on, abort rolls back"));
  } else {
    const l = a.last;
    s.append(el("p", { class: "line" }, "no rollout running; last: ",
      l ? el("span", { class: "result", "data-result": l.result }, l.result) : "none",
      l ? ` ${l.image || ""} (${l.strategy || "?"})${l.reason ? ": " + l.reason : ""}` : ""));
  }
  const buttons = el("div", { class: "buttons" });
  const button = (label, action, full, cls) => {
    const b = el("button", { type: "button", class: cls || "", "data-action": action + (full ? "-full" : ""), disabled: !r }, label);
    b.addEventListener("click", () => act(a, action, full));
    return b;
  };
  buttons.append(button("Promote", "promote", false), button("Promote fully", "promote", true),
    button("Abort", "abort", false, "danger"), button("Resume", "resume", false));
  s.append(buttons);
  if (r) {
    const versions = (a.charts && a.charts.versions) || [];
    s.append(el("ul", { class: "shares" }, (a.share || []).map(x => {
      const sw = el("span", { class: "swatch" });
      sw.style.background = colorOf(versions.length ? versions : (a.share || []).map(y => y.version), x.version);
      return el("li", { class: "share", "data-version": x.version, "data-percent": x.percent.toFixed(1), "data-source": x.source },
        sw, `${x.version}: `, el("b", {}, pct(x.percent)), el("span", { class: "muted" }, ` of requests (${x.source})`));
    })));
    const cols = el("div", { class: "columns" });
    cols.append(el("div", {}, el("h3", {}, "Steps ", el("span", { class: "current-step", "data-step": r.step + 1 }, `(${r.step + 1} of ${r.steps.length})`)),
      el("ol", { class: "steps" }, r.steps.map((t, i) =>
        el("li", { "data-index": i, "data-state": i < r.step ? "done" : i === r.step ? "current" : "pending" }, t)))));
    const gates = el("table", { class: "gates" }, el("tr", {}, el("th", {}, "gate"), el("th", {}, "verdict"), el("th", {}, "last measurement")));
    for (const g of r.gates) {
      const figs = Object.entries(g.figures || {}).map(([k, v]) => `${k}=${Math.round(v * 1000) / 1000}`).join(" ");
      gates.append(el("tr", { class: "gate", "data-gate": g.name, "data-outcome": g.outcome },
        el("td", {}, g.name), el("td", { class: "verdict" }, g.outcome),
        el("td", {}, g.summary, figs ? el("div", { class: "muted" }, figs) : null)));
    }
    cols.append(el("div", {}, el("h3", {}, "Gates"), r.gates.length ? gates : el("p", { class: "muted" }, "no measurement yet")));
    s.append(cols);
    const c = a.charts;
    const markers = a.markers || [];
    if (c && c.traffic) {
      const charts = el("div", { class: "charts" });
      charts.append(chart("Share of answered requests", "%", c.traffic, 100, versions, markers, false));
      charts.append(chart("Failed requests", "%", c.errors, c.errorMax || 5, versions, markers, false));
      if (c.latency && c.latency.length) charts.append(chart("Latency (95th percentile)", "ms", c.latency, c.latencyMax || 1, versions, markers, false));
      charts.append(chart("Ready pods", "pods", c.pods, c.podsMax || 1, versions, markers, true));
      s.append(charts);
      s.append(el("ol", { class: "marker-legend" }, markers.map((m, i) =>
        el("li", {}, el("span", { class: "badge" }, String(i + 1)), `${seconds(m.t)} ${m.label}`))));
    }
  }
  if (a.routes && a.routes.length) {
    s.append(el("h3", {}, "Routes"), el("ul", { class: "routes" }, a.routes.map(rt =>
      el("li", { class: "route", "data-kind": rt.kind, "data-name": rt.name }, `${rt.kind} ${rt.name}: ${rt.text}`))));
  }
  const pods = el("table", { class: "pods" }, el("tr", {}, el("th", {}, "version"), el("th", {}, "pod"), el("th", {}, "ready"), el("th", {}, "state"), el("th", {}, "restarts"), el("th", {}, "age")));
  for (const v of a.versions || []) {
    for (const p of v.pods) {
      pods.append(el("tr", { class: "pod", "data-version": v.version, "data-ready": p.ready },
        el("td", {}, v.version + (v.role ? ` (${v.role})` : "")), el("td", {}, p.name), el("td", {}, p.ready ? "✓" : "·"),
        el("td", {}, p.state), el("td", {}, String(p.restarts)), el("td", {}, seconds(p.ageSeconds))));
    }
  }
  s.append(el("h3", {}, "Pods ", el("span", { class: "muted" },
    (a.versions || []).map(v => `${v.version}: ${v.ready}/${v.pods.length} ready`).join(" · "))), pods);
  return s;
}

function render(snap) {
  last = snap;
  const apps = document.getElementById("apps");
  apps.replaceChildren();
  if (snap.error) apps.append(el("p", { class: "warn" }, snap.error));
  if (!snap.apps || !snap.apps.length) {
    apps.append(el("p", { class: "empty" }, "No rollout recorded here yet (apps show once a rollout starts)."));
  }
  for (const a of snap.apps || []) apps.append(renderApp(a));
  const actions = document.getElementById("actions");
  actions.replaceChildren(...(snap.actions || []).slice().reverse().map(x =>
    el("li", { class: "action", "data-action": x.action, "data-state": x.state },
      `${x.at} ${x.action} ${x.namespace}/${x.app}: ${x.state}${x.message ? " — " + x.message : ""}`)));
}

function connect() {
  const status = document.getElementById("connection");
  const es = new EventSource("/api/events");
  es.addEventListener("snapshot", e => {
    status.dataset.state = "live";
    status.textContent = "live";
    try { render(JSON.parse(e.data)); } catch (err) { status.textContent = "bad snapshot: " + err; }
  });
  es.onerror = () => {
    status.dataset.state = "lost";
    status.textContent = "connection lost, retrying…";
  };
}

connect();
