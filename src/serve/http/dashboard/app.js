// The VOIDX dashboard (docs/dashboard.md). Plain JS, no build step.
// Pages and charts come from GET /v1/dashboard; each chart's rows from
// GET /v1/dashboard/{chart}?from=&to=. The browser never sends SQL. Data
// text is only ever set with textContent, never parsed as HTML.
"use strict";

const state = { list: null, page: null, timer: null, plots: new Map(), generation: 0 };

// ---- credentials ---------------------------------------------------------

function authHeader() {
  const key = localStorage.getItem("voidx.key");
  if (key) return "Bearer " + key;
  const user = localStorage.getItem("voidx.user");
  if (user) return "Basic " + btoa(user + ":" + (localStorage.getItem("voidx.password") || ""));
  return null;
}

function showSignin(message) {
  const form = document.getElementById("signin");
  form.hidden = false;
  if (message) document.getElementById("signin-message").textContent = message;
}

function setupSignin() {
  const form = document.getElementById("signin");
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const key = document.getElementById("apikey").value;
    const user = document.getElementById("user").value;
    localStorage.removeItem("voidx.key");
    localStorage.removeItem("voidx.user");
    localStorage.removeItem("voidx.password");
    if (key) localStorage.setItem("voidx.key", key);
    else if (user) {
      localStorage.setItem("voidx.user", user);
      localStorage.setItem("voidx.password", document.getElementById("password").value);
    }
    form.hidden = true;
    start();
  });
  document.getElementById("signout").addEventListener("click", () => {
    ["voidx.key", "voidx.user", "voidx.password"].forEach((k) => localStorage.removeItem(k));
    showSignin("Credentials forgotten.");
  });
  document.getElementById("signin-toggle").addEventListener("click", () => {
    form.hidden = !form.hidden;
  });
}

// Resolves to {status, body}; never rejects, so a failed chart is drawn as such.
async function getJSON(url) {
  const headers = { accept: "application/json" };
  const auth = authHeader();
  if (auth) headers.authorization = auth;
  try {
    const response = await fetch(url, { headers });
    const body = await response.json().catch(() => ({ message: "not JSON (HTTP " + response.status + ")" }));
    return { status: response.status, body };
  } catch (e) {
    return { status: 0, body: { message: "the server did not answer: " + e.message } };
  }
}

// ---- range ---------------------------------------------------------------

function range() {
  const value = document.getElementById("range").value;
  const to = new Date();
  const from = value === "all" ? new Date(0) : new Date(to.getTime() - Number(value) * 1000);
  return { from: from.toISOString(), to: to.toISOString() };
}

// ---- formatting ----------------------------------------------------------

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined && text !== null) e.textContent = text;
  return e;
}

function fmtNumber(v) {
  if (v === null || v === undefined) return "";
  if (Number.isInteger(v)) return v.toLocaleString("en-US");
  const abs = Math.abs(v);
  return v.toLocaleString("en-US", { maximumFractionDigits: abs >= 100 ? 1 : abs >= 1 ? 3 : 4 });
}

function fmtTime(ms) {
  return ms === null || ms === undefined ? "" : new Date(ms).toISOString().replace("T", " ").replace(/\.000Z$|Z$/, "");
}

function fmtCell(v, type) {
  if (v === null || v === undefined) return "";
  if (type === "time") return fmtTime(v);
  if (type === "number") return fmtNumber(v);
  return String(v);
}

// ---- renderers: each returns the number of data points it drew ------------

const PALETTE = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"];

function xValue(v, type) {
  return type === "time" ? v / 1000 : v;
}

// One distinct x (a single minute of traffic) would stretch uPlot's axis
// over years; such a chart gets half an hour either side of its point.
function xScale(xType, xs) {
  const values = xs.filter((v) => v !== null && v !== undefined);
  const min = Math.min(...values);
  const max = Math.max(...values);
  if (values.length === 0 || min !== max) return { time: xType === "time" };
  const pad = xType === "time" ? 1800 : Math.max(1, Math.abs(min) / 10);
  return { time: xType === "time", auto: false, range: [min - pad, max + pad] };
}

function uplot(target, xType, names, data, options) {
  const width = Math.max(320, target.clientWidth || 520);
  const series = [{}].concat(
    names.map((name, i) => Object.assign({ label: name, stroke: PALETTE[i % PALETTE.length], width: 2, spanGaps: true }, (options.series || [])[i] || {}))
  );
  const opts = {
    width,
    height: 240,
    scales: { x: xScale(xType, data[0]) },
    series,
    axes: [{}, { size: 72 }],
    legend: { show: true },
  };
  const plot = new uPlot(opts, data, target);
  state.plots.set(target, plot);
  let points = 0;
  for (let s = 1; s < data.length; s++) points += data[s].filter((v) => v !== null && v !== undefined).length;
  return points;
}

function drawLine(target, d) {
  const xType = d.columns[0].type;
  const cols = d.columns.slice(1).filter((c) => c.type === "number");
  const idx = cols.map((c) => d.columns.indexOf(c));
  const data = [d.rows.map((r) => xValue(r[0], xType))].concat(idx.map((i) => d.rows.map((r) => r[i])));
  return uplot(target, xType, cols.map((c) => c.name), data, {});
}

function drawLineBySeries(target, d) {
  const xType = d.columns[0].type;
  const xs = [...new Set(d.rows.map((r) => r[0]))].sort((a, b) => a - b);
  const keys = [...new Set(d.rows.map((r) => String(r[1])))].sort();
  const at = new Map(xs.map((x, i) => [x, i]));
  const data = [xs.map((x) => xValue(x, xType))].concat(keys.map(() => xs.map(() => null)));
  for (const r of d.rows) data[1 + keys.indexOf(String(r[1]))][at.get(r[0])] = r[2];
  return uplot(target, xType, keys, data, {});
}

function drawScatter(target, d) {
  const rows = d.rows.filter((r) => r[0] !== null && r[1] !== null).sort((a, b) => a[0] - b[0]);
  const xs = rows.map((r) => r[0]);
  const data = [xs, rows.map((r) => r[1]), xs.slice()];
  const none = () => null;
  const drawn = uplot(target, "number", [d.columns[1].name, d.columns[1].name + " = " + d.columns[0].name], data, {
    series: [
      { paths: none, points: { show: true, size: 5, fill: PALETTE[0] } },
      { stroke: "#9ca3af", width: 1, dash: [4, 4], points: { show: false } },
    ],
  });
  return drawn - xs.length; // the reference line is not data
}

function drawBar(target, d) {
  const values = d.rows.map((r) => r[1]).filter((v) => v !== null);
  const max = Math.max(...values.map(Math.abs), 1e-12);
  const box = el("div", { class: "bars" });
  let points = 0;
  for (const r of d.rows) {
    if (r[1] === null) continue;
    const row = el("div", { class: "row" });
    row.append(el("span", { class: "label", title: String(r[0]) }, String(r[0])));
    const bar = el("div", { class: r[1] < 0 ? "bar neg" : "bar" });
    bar.style.width = ((100 * Math.abs(r[1])) / max).toFixed(1) + "%";
    row.append(bar, el("span", { class: "value" }, fmtNumber(r[1])));
    box.append(row);
    points++;
  }
  target.append(box);
  return points;
}

function heatColour(v) {
  // PSI: green below 0.1 (stable), amber to 0.25 (warn), red above (alert).
  const t = Math.min(1, Math.max(0, v / 0.25));
  const hue = 130 - 130 * t;
  return "hsl(" + hue.toFixed(0) + ", 70%, " + (v >= 0.25 ? 55 : 75) + "%)";
}

function drawHeatmap(target, d) {
  const xType = d.columns[0].type;
  const xs = [...new Set(d.rows.map((r) => r[0]))].sort((a, b) => a - b);
  const ys = [...new Set(d.rows.map((r) => String(r[1])))].sort();
  const value = new Map(d.rows.map((r) => [r[0] + "|" + r[1], r[2]]));
  const table = el("table", { class: "heat" });
  const head = el("tr");
  head.append(el("th", {}, d.columns[1].name));
  for (const x of xs) head.append(el("th", {}, xType === "time" ? fmtTime(x).slice(0, 10) : String(x)));
  table.append(head);
  let points = 0;
  for (const y of ys) {
    const tr = el("tr");
    tr.append(el("th", {}, y));
    for (const x of xs) {
      const v = value.get(x + "|" + y);
      const td = el("td", { class: "cell" }, v === undefined || v === null ? "" : fmtNumber(v));
      if (v !== undefined && v !== null) {
        td.style.background = heatColour(v);
        td.title = y + " " + fmtCell(x, xType) + ": PSI " + v;
        points++;
      }
      tr.append(td);
    }
    table.append(tr);
  }
  target.append(table);
  return points;
}

function drawTable(target, d) {
  const table = el("table");
  const head = el("tr");
  for (const c of d.columns) head.append(el("th", {}, c.name));
  table.append(head);
  for (const r of d.rows) {
    const tr = el("tr");
    r.forEach((v, i) => {
      const type = d.columns[i].type;
      const cls = type === "number" ? "num" : /^(status|last_status)$/.test(d.columns[i].name) ? "status-" + v : "";
      tr.append(el("td", cls ? { class: cls } : {}, fmtCell(v, type)));
    });
    table.append(tr);
  }
  target.append(table);
  return d.rows.length;
}

const RENDERERS = {
  line: drawLine,
  line_by_series: drawLineBySeries,
  scatter: drawScatter,
  bar: drawBar,
  heatmap: drawHeatmap,
  table: drawTable,
};

// ---- pages -----------------------------------------------------------------

function chartBox(chart) {
  const box = el("section", { class: "chart", id: "chart-" + chart.id, "data-chart": chart.id, "data-kind": chart.kind, "data-state": "loading" });
  if (chart.kind === "table" || chart.kind === "heatmap") box.classList.add("wide");
  box.append(el("h3", {}, chart.title), el("div", { class: "plot" }));
  const details = el("details", { class: "sql-behind" });
  details.append(el("summary", {}, "The SQL behind this"), el("pre", { class: "sql" }, chart.sql));
  box.append(details);
  return box;
}

async function loadChart(chart, generation) {
  const box = document.getElementById("chart-" + chart.id);
  if (!box) return;
  const r = range();
  const { status, body } = await getJSON("/v1/dashboard/" + encodeURIComponent(chart.id) + "?from=" + encodeURIComponent(r.from) + "&to=" + encodeURIComponent(r.to));
  if (generation !== state.generation || !document.body.contains(box)) return; // overtaken
  const plot = box.querySelector(".plot");
  // uPlot listens on window: a redrawn chart's old instance must go.
  if (state.plots.has(plot)) {
    state.plots.get(plot).destroy();
    state.plots.delete(plot);
  }
  plot.replaceChildren();
  if (status === 401) {
    showSignin(body.message);
  }
  if (status !== 200) {
    plot.append(el("p", { class: "error" }, (body.code ? body.code + ": " : "") + (body.message || "HTTP " + status)));
    box.dataset.state = "error";
    box.dataset.points = "0";
    return;
  }
  box.querySelector("pre.sql").textContent = body.sql;
  let points = 0;
  if (body.rows.length === 0) {
    plot.append(el("p", { class: "empty" }, chart.empty));
  } else {
    points = RENDERERS[chart.kind](plot, body);
  }
  box.dataset.points = String(points);
  box.dataset.state = points > 0 ? "ok" : "empty";
}

async function loadHealth(container) {
  const { status, body } = await getJSON("/health");
  const box = el("section", { class: "chart wide", id: "health", "data-state": status === 200 ? "ok" : "error" });
  box.append(el("h3", {}, "Server health (GET /health)"));
  const line = el("div", { class: "health" });
  if (status === 200) {
    line.append(el("span", { class: "status-" + body.status }, "status: " + body.status));
    line.append(el("span", {}, "storage: " + body.storage));
    line.append(el("span", {}, "tables: " + body.tables));
    line.append(el("span", {}, "prediction log: " + body.prediction_log.written + " written, " + body.prediction_log.dropped + " dropped"));
    for (const j of body.jobs) {
      line.append(el("span", { class: "status-" + j.status }, "job " + j.name + ": " + j.status + " (" + Math.round(j.staleness_seconds) + " s since success, " + j.failures + " failures)"));
    }
  } else {
    line.append(el("span", { class: "error" }, "HTTP " + status));
  }
  box.append(line);
  container.prepend(box);
}

// data-ready on <body> names the page once all its charts are drawn; a
// refresh overtaken by a newer one (a tab click, the range) leaves it alone.
async function refresh() {
  const generation = ++state.generation;
  const charts = state.list.charts.filter((c) => c.page === state.page);
  document.body.dataset.ready = "";
  await Promise.all(charts.map((c) => loadChart(c, generation)));
  if (generation === state.generation) document.body.dataset.ready = state.page;
}

function showPage(page) {
  if (!state.list) return;
  if (!state.list.pages.some((p) => p.id === page)) page = state.list.pages[0].id;
  state.page = page;
  state.plots.forEach((p) => p.destroy());
  state.plots.clear();
  for (const a of document.querySelectorAll("#tabs a")) a.classList.toggle("active", a.dataset.page === page);
  const info = state.list.pages.find((p) => p.id === page);
  document.getElementById("about").textContent = info.about;
  document.title = "VOIDX · " + info.title;
  const container = document.getElementById("charts");
  container.replaceChildren(...state.list.charts.filter((c) => c.page === page).map(chartBox));
  if (page === "pipelines") loadHealth(container);
  refresh();
}

async function start() {
  const { status, body } = await getJSON("/v1/dashboard");
  if (status === 401 || status === 403) {
    showSignin(body.message);
    return;
  }
  if (status !== 200) {
    document.getElementById("about").textContent = "GET /v1/dashboard answered HTTP " + status + ": " + (body.message || "");
    return;
  }
  state.list = body;
  const tabs = document.getElementById("tabs");
  tabs.replaceChildren(...body.pages.map((p) => el("a", { href: "#" + p.id, "data-page": p.id }, p.title)));
  showPage(location.hash.slice(1));
}

function setupControls() {
  window.addEventListener("hashchange", () => showPage(location.hash.slice(1)));
  document.getElementById("range").addEventListener("change", () => state.list && refresh());
  document.getElementById("refresh").addEventListener("click", () => state.list && refresh());
  document.getElementById("autorefresh").addEventListener("change", (e) => {
    clearInterval(state.timer);
    state.timer = e.target.checked ? setInterval(() => state.list && refresh(), 30000) : null;
  });
}

setupSignin();
setupControls();
start();
