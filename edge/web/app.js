// The live page: polls the device's JSON endpoints once a second and draws the last minutes.
"use strict";

const WINDOW_S = 300;   // longest plotted time span (the plots grow to it a minute at a time)
const POLL_MS = 1000;
const VITALS = [
  { id: "hr", key: "heart_rate_bpm", status: "status", quality: "quality", empty: [60, 80],
    minSpan: 20, color: "--hr" },
  { id: "br", key: "breathing_rate_bpm", status: "breathing_status", quality: "breathing_quality",
    empty: [10, 20], minSpan: 8, color: "--br" },
  { id: "spo2", key: "spo2_pct", status: "spo2_status", quality: "spo2_quality", empty: [94, 100],
    minSpan: 6, color: "--spo2" },
];
const STATUS_CLASS = { ok: "ok", warming_up: "", low_quality: "warn", resync: "warn", no_face: "bad" };

let readings = [];   // oldest first, trimmed to WINDOW_S

const $ = (id) => document.getElementById(id);

function setStatus(el, status) {
  el.textContent = status ? status.replace("_", " ") : "–";
  el.className = "status " + (STATUS_CLASS[status] || "");
}

function fmt(value, digits) {
  return value === null || value === undefined ? "--" : value.toFixed(digits);
}

async function getJson(url) {
  const response = await fetch(url, { cache: "no-store" });
  if (response.status === 204) return null;
  if (!response.ok && response.status !== 503) throw new Error(url + ": HTTP " + response.status);
  return response.json();
}

function renderVitals(latest) {
  for (const v of VITALS) {
    const section = $(v.id);
    section.dataset.timestampS = latest ? String(latest.timestamp_s) : "";
    $(v.id + "-value").textContent = latest ? fmt(latest[v.key], 0) : "--";
    setStatus($(v.id + "-status"), latest ? latest[v.status] : null);
    const quality = latest ? latest[v.quality] : 0;
    $(v.id + "-quality").textContent = latest ? quality.toFixed(2) : "–";
    const bar = $(v.id + "-bar");
    bar.style.width = Math.round(100 * quality) + "%";
    bar.style.background = quality >= 0.5 ? "var(--ok)" : quality > 0 ? "var(--warn)" : "var(--line)";
    drawPlot($(v.id + "-plot"), v);
  }
  const hr = latest ? latest.heart_rate_bpm : null;
  document.title = (hr === null ? "" : fmt(hr, 0) + " bpm · ") + "edge-vitals live";
  const note = latest && latest.spo2_pct !== null && !latest.spo2_calibrated ? "uncalibrated" : "";
  $("spo2-note").textContent = note;
}

function renderDevice(latest, health) {
  const face = $("face");
  if (!latest) {
    face.textContent = "–";
  } else {
    const found = latest.status !== "no_face" && latest.face_box !== null;
    face.textContent = found ? "found" : "not found";
    face.className = found ? "" : "bad-text";
  }
  if (latest) {
    const lat = readings.map((r) => r.latency_ms).sort((a, b) => a - b);
    const p95 = lat[Math.min(lat.length - 1, Math.floor(0.95 * lat.length))];
    $("latency").textContent = latest.latency_ms.toFixed(1) + " ms";
    $("latency-p95").textContent = "p95 " + p95.toFixed(1) + " ms";
    $("hrv").textContent = latest.sdnn_ms === null ? "--"
      : fmt(latest.sdnn_ms, 0) + " / " + fmt(latest.rmssd_ms, 0) + " ms";
  }
  if (health) {
    $("dropped").textContent = String(health.frames_dropped);
    $("count").textContent = String(health.readings_published);
    const age = health.seconds_since_reading;
    $("age").textContent = age === null ? "none yet" : age < 1.5 ? "just now" : Math.round(age) + " s ago";
  }
}

function drawPlot(canvas, vital) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth, height = canvas.clientHeight;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const ctx = canvas.getContext("2d");
  ctx.scale(ratio, ratio);
  const css = getComputedStyle(document.documentElement);
  const ink = css.getPropertyValue("--muted"), line = css.getPropertyValue("--line");
  const now = readings.length ? readings[readings.length - 1].timestamp_s : 0;
  const points = readings.map((r) => [r.timestamp_s - now, r[vital.key]]);
  const values = points.filter((p) => p[1] !== null).map((p) => p[1]);
  let [lo, hi] = values.length ? [Math.min(...values), Math.max(...values)] : vital.empty;
  const pad = Math.max(0, vital.minSpan - (hi - lo)) / 2 + 0.1 * (hi - lo);
  lo = Math.floor(lo - pad); hi = Math.ceil(hi + pad);
  const heldS = readings.length ? now - readings[0].timestamp_s : 0;
  const spanS = Math.min(WINDOW_S, 60 * Math.max(1, Math.ceil(heldS / 60)));
  const left = 34, right = width - 6, top = 6, bottom = height - 18;
  const x = (t) => left + (right - left) * (1 + t / spanS);
  const y = (v) => bottom - (bottom - top) * (v - lo) / (hi - lo);
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = ink; ctx.strokeStyle = line; ctx.lineWidth = 1;
  for (const v of [lo, (lo + hi) / 2, hi]) {
    ctx.beginPath(); ctx.moveTo(left, y(v)); ctx.lineTo(right, y(v)); ctx.stroke();
    ctx.textAlign = "right"; ctx.textBaseline = "middle";
    ctx.fillText(v.toFixed(0), left - 4, y(v));
  }
  ctx.textBaseline = "alphabetic";
  const stepS = spanS > 60 ? 60 : 15;
  for (let t = spanS - stepS; t >= 0; t -= stepS) {
    ctx.textAlign = t === 0 ? "right" : "center";
    const label = t === 0 ? "now" : stepS === 60 ? "-" + t / 60 + " min" : "-" + t + " s";
    ctx.fillText(label, x(-t), height - 3);
  }
  ctx.strokeStyle = css.getPropertyValue(vital.color); ctx.lineWidth = 2; ctx.lineJoin = "round";
  ctx.beginPath();
  const steps = points.slice(1).map((p, i) => p[0] - points[i][0]).sort((a, b) => a - b);
  const gapS = 3 * (steps.length ? steps[Math.floor(steps.length / 2)] : 1);  // no line across
  let pen = false, lastT = -Infinity;
  for (const [t, v] of points) {
    if (v === null || t < -spanS) { pen = false; continue; }
    if (pen && t - lastT <= gapS) ctx.lineTo(x(t), y(v)); else ctx.moveTo(x(t), y(v));
    pen = true;
    lastT = t;
  }
  ctx.stroke();
}

function setConnection(text, cls) {
  const pill = $("connection");
  pill.textContent = text;
  pill.className = "pill " + cls;
}

async function poll() {
  try {
    const since = readings.length ? "?since=" + readings[readings.length - 1].timestamp_s : "";
    const [fresh, health] = await Promise.all([getJson("/api/history" + since), getJson("/api/health")]);
    readings = readings.concat(fresh);
    const newest = readings.length ? readings[readings.length - 1].timestamp_s : 0;
    readings = readings.filter((r) => r.timestamp_s >= newest - WINDOW_S);
    const latest = readings.length ? readings[readings.length - 1] : null;
    renderVitals(latest);
    renderDevice(latest, health);
    const state = { ok: ["live", "ok"], starting: ["starting…", ""], stale: ["no new readings", "warn"] };
    setConnection(...(state[health.status] || [health.status, "warn"]));
  } catch (err) {
    setConnection("offline", "bad");
  }
  setTimeout(poll, POLL_MS);
}

window.addEventListener("resize", () => renderVitals(readings.length ? readings[readings.length - 1] : null));
poll();
