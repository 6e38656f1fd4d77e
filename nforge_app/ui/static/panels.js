// NForge analysis panels: the body of gr.HTML's js_on_load for the modality-attribution panel and the
// ROI-attention panel (ui/_sections/panels.py; the template says which: .nfa[data-panel]).
// props.value: JSON {payload (URL of nforge_app/viz/_attribution.py's payload), prediction_id, map} or
// {message}. Both panels download the same payload once per page and follow the viewer's time slider
// (window.nforgeViewer, static/viewer.js): the attribution panel gives the viewer its RGB layer and draws each
// region's modality shares over time; the attention panel draws the heat map region x stimulus time of the
// output time under the slider, and a click on a cell moves the slider (and the player) to that moment.
"use strict";

const root = element.querySelector(".nfa");
const kind = root.dataset.panel;
const message = root.querySelector(".nfa-message");
const INK = "#333", MUTED = "#888";
const CHANNEL_COLORS = ["#d7263d", "#1b9e3a", "#2b59c3"];  // red text, green audio, blue video (the layer's)
const colorOf = (channel) => CHANNEL_COLORS[channel] || "#999";  // -1: a modality the layer does not draw
const shown = { data: null, frame: 0, url: "", loadId: 0 };

function say(text, state) {
  message.textContent = text || "";
  message.hidden = !text;
  root.dataset.state = state;
}

const TYPED = { int8: Int8Array, uint8: Uint8Array, int16: Int16Array, uint16: Uint16Array, int32: Int32Array,
                uint32: Uint32Array, float32: Float32Array };
function parsePayload(buffer) {
  const bytes = new Uint8Array(buffer);
  if (String.fromCharCode(bytes[0], bytes[1], bytes[2], bytes[3]) !== "NFV1") throw new Error("not a panel payload");
  const length = new DataView(buffer).getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
  const arrays = {};
  for (const [name, spec] of Object.entries(header.arrays)) {
    arrays[name] = new TYPED[spec.dtype](buffer, 8 + length + spec.offset, spec.shape.reduce((a, b) => a * b, 1));
  }
  return { meta: header.meta, arrays };
}

// One download per payload for both panels.
window.__nforgeAnalysis = window.__nforgeAnalysis || new Map();
function payloadFor(url) {
  if (!window.__nforgeAnalysis.has(url)) {
    window.__nforgeAnalysis.set(url, fetch(url).then((response) => {
      if (!response.ok) throw new Error("could not download the explanation (HTTP " + response.status + ")");
      return response.arrayBuffer();
    }).then(parsePayload).catch((error) => { window.__nforgeAnalysis.delete(url); throw error; }));
  }
  return window.__nforgeAnalysis.get(url);
}

// The viewer may mount after this panel: wait for it.
function viewer() {
  return new Promise((resolve) => {
    const look = () => (window.nforgeViewer ? resolve(window.nforgeViewer) : setTimeout(look, 50));
    look();
  });
}

function fit(canvas, cssHeight) {
  const ratio = window.devicePixelRatio || 1, width = Math.round(canvas.clientWidth * ratio);
  const height = Math.round(cssHeight * ratio);
  if (width && (canvas.width !== width || canvas.height !== height)) { canvas.width = width; canvas.height = height; }
  return width > 0;
}

// ---------- the modality-attribution panel ----------
function giveLayer(data, value) {
  const meta = data.meta;
  viewer().then((v) => v.setLayer({
    predictionId: value.prediction_id, key: value.payload, nFrames: meta.n_frames, nVertices: meta.n_vertices,
    rgb: data.arrays.rgb, selected: data.arrays.selected, bound: meta.brightness_bound,
    cornerNames: meta.rgb_modalities, cornerChannels: [0, 1, 2],
  }));
}

// One small stacked area chart per region: the modalities' shares (bottom to top) over time. The areas are
// drawn once per size into a layer; a time step copies it and draws the marker.
function drawCharts() {
  const data = shown.data, box = root.querySelector(".nfa-charts");
  if (!data) { box.replaceChildren(); return; }
  const meta = data.meta, regions = meta.regions, M = meta.modalities.length, T = meta.n_frames;
  if (box.dataset.key !== shown.url) {
    box.replaceChildren();
    box.dataset.key = shown.url;
    regions.forEach((name) => {
      const figure = document.createElement("figure"), caption = document.createElement("figcaption");
      figure.className = "nfa-chart";
      caption.textContent = name;
      const canvas = document.createElement("canvas");
      figure.append(caption, canvas);
      box.appendChild(figure);
    });
    root.dataset.charts = String(regions.length);
  }
  const times = meta.times_s, t0 = times[0], t1 = times.length > 1 ? times[T - 1] : t0 + 1;
  box.querySelectorAll("canvas").forEach((canvas, r) => {
    fit(canvas, 92);
    const ratio = window.devicePixelRatio || 1, w = canvas.width / ratio, h = canvas.height / ratio;
    const left = 30, right = w - 6, top = 4, bottom = h - 16;
    const x = (t) => left + (right - left) * (t - t0) / (t1 - t0), y = (share) => bottom - (bottom - top) * share;
    const sizeKey = canvas.width + "x" + canvas.height + shown.url;
    if (canvas.layerKey !== sizeKey) {
      const layer = document.createElement("canvas");
      layer.width = canvas.width; layer.height = canvas.height;
      const ctx = layer.getContext("2d");
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      const below = new Float32Array(T);
      for (let m = 0; m < M; m++) {
        const share = (t) => data.arrays.shares[(r * M + m) * T + t];
        ctx.fillStyle = colorOf(meta.channels[m]);
        ctx.beginPath();
        for (let t = 0; t < T; t++) ctx.lineTo(x(times[t]), y(below[t] + share(t)));
        for (let t = T - 1; t >= 0; t--) ctx.lineTo(x(times[t]), y(below[t]));
        ctx.closePath();
        ctx.fill();
        for (let t = 0; t < T; t++) below[t] += share(t);
      }
      ctx.strokeStyle = "#ccc";
      ctx.strokeRect(left, top, right - left, bottom - top);
      ctx.fillStyle = INK;
      ctx.font = "10px sans-serif";
      ctx.textAlign = "right"; ctx.textBaseline = "middle";
      ctx.fillText("100%", left - 3, top + 3);
      ctx.fillText("0", left - 3, bottom);
      ctx.textAlign = "center"; ctx.textBaseline = "top";
      ctx.fillStyle = MUTED;
      ctx.fillText(t0.toFixed(0) + " s", left + 8, bottom + 3);
      ctx.fillText(t1.toFixed(0) + " s", right - 10, bottom + 3);
      canvas.layer = layer;
      canvas.layerKey = sizeKey;
      canvas.geometry = { x, top, bottom };
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(canvas.layer, 0, 0);
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    const { x: xs, top: yt, bottom: yb } = canvas.geometry, xt = xs(times[Math.min(shown.frame, T - 1)]);
    ctx.strokeStyle = "#111"; ctx.lineWidth = 1.5;
    ctx.beginPath(); ctx.moveTo(xt, yt); ctx.lineTo(xt, yb); ctx.stroke();
  });
  const key = root.querySelector(".nfa-key");
  if (key.dataset.key !== shown.url) {
    key.dataset.key = shown.url;
    key.replaceChildren(...meta.modalities.map((name, m) => {
      const item = document.createElement("span"), swatch = document.createElement("i");
      swatch.style.background = colorOf(meta.channels[m]);
      item.append(swatch, name);
      return item;
    }));
  }
  root.dataset.frame = String(shown.frame);
}

// ---------- the ROI-attention panel ----------
function nearest(values, x) {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (Math.abs(values[i] - x) < Math.abs(values[best] - x)) best = i;
  return best;
}

const HEAT = { left: 120, right: 40, top: 6, rowH: 22, axisH: 60 };
function heatLayout() {
  const att = shown.data.meta.attention, canvas = root.querySelector(".nfa-heat");
  const height = HEAT.top + HEAT.rowH * att.roi_names.length + HEAT.axisH;
  fit(canvas, height);
  const ratio = window.devicePixelRatio || 1, w = canvas.width / ratio;
  const n = att.stimulus_times_s.length, span = n > 1 ? att.stimulus_times_s[1] - att.stimulus_times_s[0] : 1;
  const s0 = att.stimulus_times_s[0], s1 = att.stimulus_times_s[n - 1] + span;
  const x = (s) => HEAT.left + (w - HEAT.left - HEAT.right) * (s - s0) / (s1 - s0);
  return { canvas, ratio, w, height, n, span, s0, s1, x, bottom: HEAT.top + HEAT.rowH * att.roi_names.length };
}

function drawHeat() {
  const canvas = root.querySelector(".nfa-heat");
  if (!shown.data || !shown.data.meta.attention) { canvas.hidden = true; return; }
  canvas.hidden = false;
  const att = shown.data.meta.attention, values = shown.data.arrays.attention;
  const L = heatLayout(), ctx = canvas.getContext("2d");
  const R = att.roi_names.length, Tout = att.times_s.length, n = L.n;
  const row = nearest(att.times_s, (viewerTimes()[shown.frame] ?? att.times_s[0]));
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.setTransform(L.ratio, 0, 0, L.ratio, 0, 0);
  const lut = att.lut;
  // The colours span +- the largest |share| at this output time (the key says how much), so that the pattern
  // of every time step shows; att.bound (over all times) is the floor's reference.
  let largest = 0;
  for (let r = 0; r < R; r++) for (let c = 0; c < n; c++) largest = Math.max(largest, Math.abs(values[(r * Tout + row) * n + c]));
  const bound = Math.max(largest * att.scale, 1e-3 * att.bound, 1e-9);
  for (let r = 0; r < R; r++) {
    for (let c = 0; c < n; c++) {
      const value = values[(r * Tout + row) * n + c] * att.scale;
      const i = 3 * Math.max(0, Math.min(255, Math.round(127.5 + 127.5 * value / bound)));
      ctx.fillStyle = "rgb(" + lut[i] + "," + lut[i + 1] + "," + lut[i + 2] + ")";
      const x0 = L.x(att.stimulus_times_s[c]);
      ctx.fillRect(x0, HEAT.top + r * HEAT.rowH, Math.max(1, L.x(att.stimulus_times_s[c] + L.span) - x0 + 0.5), HEAT.rowH - 1);
    }
  }
  ctx.fillStyle = INK;
  ctx.font = "11px sans-serif";
  ctx.textAlign = "right"; ctx.textBaseline = "middle";
  att.roi_names.forEach((name, r) => {
    ctx.fillText(name.length > 18 ? name.slice(0, 17) + "…" : name, HEAT.left - 6, HEAT.top + (r + 0.5) * HEAT.rowH);
  });
  // the output time under the slider, on the stimulus clock
  const now = att.times_s[row];
  if (now >= L.s0 && now <= L.s1) {
    ctx.strokeStyle = "#111"; ctx.lineWidth = 1.5; ctx.setLineDash([4, 3]);
    ctx.beginPath(); ctx.moveTo(L.x(now), HEAT.top); ctx.lineTo(L.x(now), L.bottom); ctx.stroke();
    ctx.setLineDash([]);
  }
  // the stimulus-time axis: ticks, then the words where they fit (two rows)
  ctx.textAlign = "center"; ctx.textBaseline = "top";
  ctx.fillStyle = MUTED;
  const step = niceStep((L.s1 - L.s0) / 8);
  for (let s = Math.ceil(L.s0 / step) * step; s <= L.s1; s += step) {
    ctx.fillRect(L.x(s), L.bottom, 1, 4);
    ctx.fillText(s.toFixed(step < 1 ? 1 : 0), L.x(s), L.bottom + 5);
  }
  ctx.textAlign = "left";
  ctx.fillText("stimulus time (s) · output time " + now.toFixed(1) + " s (dashed)", 4, L.bottom + 44);
  const ends = [-Infinity, -Infinity];
  ctx.fillStyle = INK;
  let placed = 0;
  for (const [start, , text] of att.words) {
    if (start < L.s0 || start > L.s1) continue;
    const x = L.x(start), width = ctx.measureText(text).width, line = ends[0] <= ends[1] ? 0 : 1;
    if (x < ends[line] + 3) continue;
    ctx.fillText(text, x, L.bottom + 18 + 12 * line);
    ends[line] = x + width;
    placed += 1;
  }
  drawHeatKey(ctx, L, lut, bound);
  root.dataset.rows = String(R);
  root.dataset.cols = String(n);
  root.dataset.words = String(placed);
  root.dataset.outputRow = String(row);
}

// The colours' key, under the map at the right: -bound (blue, takes away) .. 0 .. +bound (red, adds).
function drawHeatKey(ctx, L, lut, bound) {
  const width = 120, x0 = L.w - HEAT.right - width, y0 = L.bottom + 44;
  for (let x = 0; x < width; x++) {
    const i = 3 * Math.round(255 * x / (width - 1));
    ctx.fillStyle = "rgb(" + lut[i] + "," + lut[i + 1] + "," + lut[i + 2] + ")";
    ctx.fillRect(x0 + x, y0, 1, 9);
  }
  ctx.fillStyle = MUTED;
  ctx.font = "10px sans-serif";
  ctx.textBaseline = "middle";
  ctx.textAlign = "right";
  ctx.fillText("share −" + bound.toFixed(2), x0 - 4, y0 + 5);
  ctx.textAlign = "left";
  ctx.fillText("+" + bound.toFixed(2), x0 + width + 3, y0 + 5);
}

function niceStep(raw) {
  const power = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-9)));
  return [1, 2, 5, 10].map((k) => k * power).find((k) => k >= raw) || 10 * power;
}

let times = [];
function viewerTimes() { return times; }

if (kind === "attention") root.querySelector(".nfa-heat").addEventListener("click", (event) => {
  if (!shown.data || !shown.data.meta.attention) return;
  const att = shown.data.meta.attention, L = heatLayout(), box = L.canvas.getBoundingClientRect();
  const px = event.clientX - box.left, py = event.clientY - box.top;
  const r = Math.floor((py - HEAT.top) / HEAT.rowH);
  if (px < HEAT.left || r < 0 || r >= att.roi_names.length) return;
  const c = att.stimulus_times_s.findLastIndex((s) => L.x(s) <= px);
  if (c < 0) return;
  const moment = att.stimulus_times_s[c];
  root.dataset.clicked = moment.toFixed(3);
  viewer().then((v) => v.userFrame(nearest(v.times, moment)));
});

// ---------- both ----------
function draw() {
  if (kind === "attribution") drawCharts(); else drawHeat();
}

async function load(raw) {
  const loadId = ++shown.loadId;
  let value;
  try { value = raw ? JSON.parse(raw) : {}; } catch (error) { value = {}; }
  if (!value.payload) {
    shown.data = null; shown.url = "";
    say(value.message || "", "empty");
    draw();
    return;
  }
  say("Loading the explanation…", "loading");
  try {
    const data = await payloadFor(value.payload);
    if (loadId !== shown.loadId) return;
    const v = await viewer();
    if (value.map) giveLayer(data, value);
    shown.data = data; shown.url = value.payload;
    times = v.times; shown.frame = v.predictionId === value.prediction_id ? v.frame : 0;
    const nothing = kind === "attention" ? !data.meta.attention : !value.map;
    say(nothing ? "" : "", nothing ? "empty" : "ready");
    draw();
  } catch (error) {
    console.error(error);
    if (loadId === shown.loadId) say("The explanation could not be shown: " + error.message, "error");
  }
}

viewer().then((v) => v.onFrame((frame) => {
  times = v.times;
  shown.frame = frame;
  if (shown.data) draw();
}));
new ResizeObserver(() => { if (shown.data) draw(); }).observe(root);
load(props.value);
watch("value", () => load(props.value));
