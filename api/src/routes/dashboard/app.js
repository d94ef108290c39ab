// Fleet's ops dashboard: polls GET /v1/ops/queues with the ops key kept in
// sessionStorage, draws the tables and small depth/throughput charts, and
// lists dead jobs with retry and purge buttons. No external code.
"use strict";

const POLL_MS = 2000;
const HISTORY = 90;
const KEY = "fleet-ops-key";
const history = new Map(); // kind -> [{waiting, rate}]
let timer = null;

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const child of children) node.append(child);
  return node;
}

async function api(method, path) {
  const resp = await fetch(path, {
    method,
    headers: { Authorization: "Bearer " + sessionStorage.getItem(KEY) },
  });
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const err = new Error((body.error && body.error.message) || resp.statusText);
    err.status = resp.status;
    throw err;
  }
  return body;
}

function age(secs) {
  if (secs === null || secs === undefined) return "-";
  if (secs < 60) return secs.toFixed(1) + "s";
  if (secs < 3600) return Math.floor(secs / 60) + "m" + String(Math.floor(secs % 60)).padStart(2, "0") + "s";
  return Math.floor(secs / 3600) + "h" + String(Math.floor((secs % 3600) / 60)).padStart(2, "0") + "m";
}

function ms(v) {
  if (v === null || v === undefined) return "-";
  return v < 1000 ? v + "ms" : (v / 1000).toFixed(1) + "s";
}

function cell(field, text, cls = "") {
  return el("td", { "data-field": field, class: cls }, String(text));
}

function spark(values, cls) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "spark " + cls);
  svg.setAttribute("viewBox", `0 0 ${HISTORY} 28`);
  svg.setAttribute("preserveAspectRatio", "none");
  const max = Math.max(1, ...values);
  const points = values.map((v, i) => `${i + HISTORY - values.length},${(26 - (v / max) * 24).toFixed(1)}`);
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", points.join(" "));
  svg.append(line);
  const title = document.createElementNS(ns, "title");
  title.textContent = `last ${values.length} readings, max ${max}`;
  svg.append(title);
  return svg;
}

function drawKinds(report) {
  const body = $("#kinds tbody");
  body.replaceChildren();
  for (const k of report.kinds) {
    const rate = report.queues.filter((q) => q.kind === k.kind).reduce((s, q) => s + q.processed_per_min, 0);
    const h = history.get(k.kind) || [];
    h.push({ waiting: k.waiting, rate });
    if (h.length > HISTORY) h.shift();
    history.set(k.kind, h);
    const short = k.live_workers < k.recommended_replicas;
    body.append(el("tr", { "data-kind": k.kind },
      el("td", {}, k.kind),
      cell("waiting", k.waiting),
      cell("in_flight", k.in_flight),
      cell("live_workers", k.live_workers, short ? "warn" : ""),
      cell("recommended_replicas", k.recommended_replicas),
      cell("range", `${k.min_replicas}–${k.max_replicas}`),
      el("td", {}, spark(h.map((p) => p.waiting), "depth")),
      el("td", {}, spark(h.map((p) => p.rate), "rate"))));
  }
}

function drawQueues(report) {
  const body = $("#queues tbody");
  body.replaceChildren();
  for (const q of report.queues) {
    body.append(el("tr", { "data-queue": q.queue },
      el("td", {}, q.queue),
      el("td", { class: "kind" }, q.kind),
      cell("waiting", q.waiting),
      cell("scheduled", q.scheduled),
      cell("in_flight", q.in_flight),
      cell("dead", q.dead, q.dead > 0 ? "bad" : ""),
      cell("oldest_waiting", age(q.oldest_waiting_secs), q.oldest_waiting_secs > 300 ? "warn" : ""),
      cell("processed_per_min", q.processed_per_min),
      cell("failed_per_min", q.failed_per_min, q.failed_per_min > 0 ? "warn" : ""),
      cell("p50", ms(q.duration_p50_ms)),
      cell("p95", ms(q.duration_p95_ms)),
      cell("processed", q.processed),
      cell("failed", q.failed)));
  }
}

async function act(method, path, what) {
  try {
    const r = await api(method, path);
    $("#notice").textContent = `${what} ${r.count} job(s)`;
  } catch (e) {
    $("#notice").textContent = `${what} failed: ${e.message}`;
  }
  await refresh();
}

async function drawDead(report) {
  const withDead = report.queues.filter((q) => q.dead > 0);
  const box = $("#dead");
  if (withDead.length === 0) {
    box.replaceChildren(el("p", { class: "muted" }, "None."));
    return;
  }
  const parts = [];
  for (const q of withDead) {
    const page = await api("GET", `/v1/ops/queues/${encodeURIComponent(q.queue)}/dead?limit=20`);
    const base = `/v1/ops/queues/${encodeURIComponent(q.queue)}/dead`;
    const rows = page.items.map((job) => el("tr", { "data-job": job.id },
      el("td", {}, el("code", {}, job.id)),
      el("td", {}, job.kind),
      el("td", {}, String(job.attempts)),
      el("td", {}, job.last_error || ""),
      el("td", {},
        el("button", { "data-action": "retry", "data-id": job.id, onclick: () => act("POST", `${base}/${encodeURIComponent(job.id)}/retry`, "retried") }, "Retry"),
        " ",
        el("button", { "data-action": "purge", "data-id": job.id, onclick: () => act("DELETE", `${base}/${encodeURIComponent(job.id)}`, "purged") }, "Purge"))));
    parts.push(el("div", { class: "deadq", "data-dead-queue": q.queue },
      el("h3", {}, `${q.queue}: ${q.dead} dead `,
        el("button", { "data-action": "retry-all", onclick: () => act("POST", `${base}/retry`, "retried") }, "Retry all"),
        " ",
        el("button", { "data-action": "purge-all", onclick: () => confirm(`Delete all ${q.dead} dead jobs of ${q.queue}?`) && act("DELETE", base, "purged") }, "Purge all")),
      el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "job"), el("th", {}, "kind"), el("th", {}, "attempts"), el("th", {}, "last error"), el("th", {}, ""))),
        el("tbody", {}, ...rows))));
  }
  box.replaceChildren(...parts);
}

async function refresh() {
  try {
    const report = await api("GET", "/v1/ops/queues");
    drawKinds(report);
    drawQueues(report);
    await drawDead(report);
    $("#status").dataset.at = report.at_ms;
    $("#status").textContent = "updated " + new Date(report.at_ms).toLocaleTimeString();
  } catch (e) {
    if (e.status === 401 || e.status === 403) return signOut("Your key was refused: " + e.message);
    $("#status").textContent = "cannot refresh: " + e.message;
  }
}

function show(signedIn) {
  $("#login").hidden = signedIn;
  $("#board").hidden = !signedIn;
  $("#logout").hidden = !signedIn;
}

function signOut(message = "") {
  sessionStorage.removeItem(KEY);
  clearInterval(timer);
  timer = null;
  show(false);
  $("#login-error").textContent = message;
}

function start() {
  show(true);
  refresh();
  timer = setInterval(refresh, POLL_MS);
}

$("#login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(KEY, $("#key").value.trim());
  $("#key").value = "";
  try {
    await api("GET", "/v1/ops/queues");
    $("#login-error").textContent = "";
    start();
  } catch (e) {
    signOut(e.status === 403 ? "This key is not an ops key." : "Sign-in failed: " + e.message);
  }
});
$("#logout").addEventListener("click", () => signOut());

if (sessionStorage.getItem(KEY)) start();
else show(false);
