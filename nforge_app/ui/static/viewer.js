// NForge brain viewer: the body of gr.HTML's js_on_load (runs once per mount).
// In scope: element (the component's root), props (props.value: JSON string {geometry, payload, title,
// message}), watch (runs a callback after a prop changes). Everything after the first load happens here:
// the mesh is fetched once per page, every frame of a prediction once; a time step recolours the vertices
// in the browser (no request to the server).
"use strict";

const root = element.querySelector(".nfv");
const $ = (selector) => root.querySelector(selector);
const glCanvas = $(".nfv-gl");
const ui = {
  surface: $(".nfv-surface"), hemi: $(".nfv-hemi"), cmap: $(".nfv-cmap"), thr: $(".nfv-thr"),
  thrValue: $(".nfv-thr-value"), outline: $(".nfv-outline"), outlineLabel: $(".nfv-outline-label"),
  layer: $(".nfv-layer"), layerLabel: $(".nfv-layer-label"),
  play: $(".nfv-play"), time: $(".nfv-time"), speed: $(".nfv-speed"), clock: $(".nfv-clock"),
  axisNote: $(".nfv-axis-note"), title: $(".nfv-title"), message: $(".nfv-message"), colorbar: $(".nfv-colorbar"),
  glass: $(".nfv-glass"), glassWhat: $(".nfv-glass-what"), lines: $(".nfv-lines"), linesWhat: $(".nfv-lines-what"),
  linesTitle: $(".nfv-lines-title"), linesKey: $(".nfv-lines-key"),
  pick: $(".nfv-pick"), pickWhat: $(".nfv-pick-what"), marker: $(".nfv-marker"), orient: $(".nfv-orient"), hover: $(".nfv-hover"),
};
const LINE_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
                     "#7f7f7f", "#bcbd22", "#393b79", "#ad494a"];
const INK = "#333", MUTED = "#888", NO_VALUE = 255;

function say(text, state) {
  ui.message.textContent = text || "";
  ui.message.style.display = text ? "flex" : "none";
  if (state) root.dataset.state = state;
}

// ---------- payloads (see nforge_app/viz/_viewer.py) ----------
const TYPED = { int8: Int8Array, uint8: Uint8Array, int16: Int16Array, uint16: Uint16Array, int32: Int32Array,
                uint32: Uint32Array, float32: Float32Array };

function parsePayload(buffer) {
  const bytes = new Uint8Array(buffer);
  if (String.fromCharCode(bytes[0], bytes[1], bytes[2], bytes[3]) !== "NFV1") throw new Error("not a viewer payload");
  const length = new DataView(buffer).getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
  const arrays = {};
  for (const [name, spec] of Object.entries(header.arrays)) {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    arrays[name] = new TYPED[spec.dtype](buffer, 8 + length + spec.offset, count);
  }
  return { meta: header.meta, arrays };
}

async function fetchPayload(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error("could not download " + url.split("/").pop() + " (HTTP " + response.status + ")");
  return parsePayload(await response.arrayBuffer());
}

// The mesh is the same for every prediction: one download per page, shared by every viewer.
window.__nforgeGeometry = window.__nforgeGeometry || new Map();
function geometryFor(url) {
  if (!window.__nforgeGeometry.has(url)) {  // a failed download is forgotten, so the next load tries again
    window.__nforgeGeometry.set(url, fetchPayload(url).catch((error) => {
      window.__nforgeGeometry.delete(url);
      throw error;
    }));
  }
  return window.__nforgeGeometry.get(url);
}

// ---------- WebGL ----------
// Opaque (the stage is white): the compositor copies the picture instead of blending it over the page.
const gl = glCanvas.getContext("webgl2", { antialias: false, alpha: false });
if (!gl) {
  say("This browser cannot draw WebGL2, which the 3D view needs. The exports (GIF, MP4) still work.", "error");
  return;
}

// Each vertex's colour is worked out in JavaScript when the time step, the colours or the threshold change
// (a 256-entry table per byte value, then one look-up per vertex). The mesh's shaders light and write it;
// while the camera stays still, a time step is drawn from the vertex map instead (see drawFromMap).
// Light: direction in camera space; lit = colour * (base + gain * lambert), data (alpha 1) or anatomy (alpha 0).
const LIGHT = [-0.26, 0.39, 0.88], DATA_LIGHT = [0.62, 0.38], ANATOMY_LIGHT = [0.42, 0.58];
const glsl = (values) => values.map((v) => v.toFixed(2)).join(", ");
const VERTEX_SHADER = `#version 300 es
in vec3 a_position;
in vec3 a_normal;
in vec4 a_color;
uniform mat4 u_mvp;
uniform mat3 u_rotation;
out vec3 v_color;
void main() {
  float lambert = max(dot(u_rotation * a_normal, vec3(${glsl(LIGHT)})), 0.0);
  vec2 light = a_color.a > 0.5 ? vec2(${glsl(DATA_LIGHT)}) : vec2(${glsl(ANATOMY_LIGHT)});
  v_color = a_color.rgb * (light.x + light.y * lambert);
  gl_Position = u_mvp * vec4(a_position, 1.0);
}`;

// The vertex map (see drawFromMap): for every pixel, the three vertices of the triangle seen there (GPU
// numbers) and the pixel's weights of the second and third, as float bits. Drawn without indices: each
// corner carries its triangle's three vertices, and knows which corner it is from its number.
const MAP_VERTEX_SHADER = `#version 300 es
in vec3 a_position;
in uvec3 a_corners;
uniform mat4 u_mvp;
flat out uvec3 v_corners;
out vec2 v_weights;
void main() {
  int corner = gl_VertexID % 3;
  v_corners = a_corners;
  v_weights = vec2(corner == 1 ? 1.0 : 0.0, corner == 2 ? 1.0 : 0.0);
  gl_Position = u_mvp * vec4(a_position, 1.0);
}`;

const MAP_FRAGMENT_SHADER = `#version 300 es
precision highp float;
flat in uvec3 v_corners;
in vec2 v_weights;
out uvec4 map;
void main() {
  map = uvec4(v_corners.x | (v_corners.y << 16), v_corners.z, floatBitsToUint(v_weights.x), floatBitsToUint(v_weights.y));
}`;

// A time step from the vertex map: each pixel mixes the lit colours of its three vertices (a texture, 256
// vertices per row); pixels without a triangle are the white background. One triangle covers the viewport.
const RECOLOUR_VERTEX_SHADER = `#version 300 es
void main() {
  vec2 corner = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));
  gl_Position = vec4(corner * 2.0 - 1.0, 0.0, 1.0);
}`;

const RECOLOUR_FRAGMENT_SHADER = `#version 300 es
precision highp float;
precision highp usampler2D;
uniform usampler2D u_map;
uniform sampler2D u_lit;
out vec4 color;
vec3 lit(uint vertex) { return texelFetch(u_lit, ivec2(int(vertex & 255u), int(vertex >> 8u)), 0).rgb; }
void main() {
  uvec4 map = texelFetch(u_map, ivec2(gl_FragCoord.xy), 0);
  if (map.y > 65535u) { color = vec4(1.0); return; }
  float w1 = uintBitsToFloat(map.z), w2 = uintBitsToFloat(map.w);
  color = vec4(lit(map.x & 65535u) * (1.0 - w1 - w2) + lit(map.x >> 16u) * w1 + lit(map.y) * w2, 1.0);
}`;

const FRAGMENT_SHADER = `#version 300 es
precision mediump float;
in vec3 v_color;
out vec4 color;
void main() { color = vec4(v_color, 1.0); }`;

function compile(type, source) {
  const shader = gl.createShader(type);
  gl.shaderSource(shader, source);
  gl.compileShader(shader);
  if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(shader));
  return shader;
}
function link(vertexShader, fragmentShader) {
  const linked = gl.createProgram();
  gl.attachShader(linked, compile(gl.VERTEX_SHADER, vertexShader));
  gl.attachShader(linked, compile(gl.FRAGMENT_SHADER, fragmentShader));
  gl.linkProgram(linked);
  if (!gl.getProgramParameter(linked, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(linked));
  return linked;
}
const program = link(VERTEX_SHADER, FRAGMENT_SHADER);
const loc = {};
for (const name of ["a_position", "a_normal", "a_color"]) loc[name] = gl.getAttribLocation(program, name);
for (const name of ["u_mvp", "u_rotation"]) {
  loc[name] = gl.getUniformLocation(program, name);
}
const mapProgram = link(MAP_VERTEX_SHADER, MAP_FRAGMENT_SHADER);
const mapLoc = { a_position: gl.getAttribLocation(mapProgram, "a_position"),
                 a_corners: gl.getAttribLocation(mapProgram, "a_corners"),
                 u_mvp: gl.getUniformLocation(mapProgram, "u_mvp") };
const recolourProgram = link(RECOLOUR_VERTEX_SHADER, RECOLOUR_FRAGMENT_SHADER);
gl.useProgram(recolourProgram);
gl.uniform1i(gl.getUniformLocation(recolourProgram, "u_map"), 1);
gl.uniform1i(gl.getUniformLocation(recolourProgram, "u_lit"), 2);

// ---------- state ----------
const state = {
  geometry: null,       // {meta, arrays, positions: {surface: Float32Array}, vaos, bounds}
  data: null,           // {meta, arrays} of the prediction
  colorKey: "", colorTableKey: "", colors: null, colorVersion: 0, uploadedVersion: -1, camera: "", colormaps: {},
  layers: {}, colorbarKey: "",
  rgbLayer: null,       // the modality-attribution layer (setLayer), shown on the prediction it was made for
  predictionId: "", frameListeners: [], notifiedFrame: -1,
  frame: 0, picked: -1, view: "lateral", user: identity3(), zoom: 1, panes: [],
  playing: false, lastStep: 0, drawQueued: false, loadId: 0,
};
const colorBuffer = gl.createBuffer();
const indexBuffer = gl.createBuffer();
// The vertex map and what recolours it: see drawFromMap.
const vertexMap = { key: "", texture: null, depth: gl.createRenderbuffer(), framebuffer: gl.createFramebuffer(),
                    vao: gl.createVertexArray(), positions: gl.createBuffer(), corners: gl.createBuffer(),
                    boxes: [], shade: null, lit: null, litTexture: null, litKey: "" };

// ---------- small linear algebra (row-major 3x3 as arrays of rows) ----------
function identity3() { return [[1, 0, 0], [0, 1, 0], [0, 0, 1]]; }
function mul3(a, b) {
  return a.map((row) => [0, 1, 2].map((j) => row[0] * b[0][j] + row[1] * b[1][j] + row[2] * b[2][j]));
}
function rotX(angle) { const c = Math.cos(angle), s = Math.sin(angle); return [[1, 0, 0], [0, c, -s], [0, s, c]]; }
function rotY(angle) { const c = Math.cos(angle), s = Math.sin(angle); return [[c, 0, s], [0, 1, 0], [-s, 0, c]]; }
const dot3 = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];

// Rows: screen right, screen up, toward the viewer, in RAS mm (x left->right, y back->front, z down->up).
const FROM = {
  left: [[0, -1, 0], [0, 0, 1], [-1, 0, 0]],
  right: [[0, 1, 0], [0, 0, 1], [1, 0, 0]],
  above: [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
  below: [[-1, 0, 0], [0, 1, 0], [0, 0, -1]],
};
// view -> hemisphere -> camera; "both" in lateral/medial views means two panes side by side.
const LAYOUTS = {
  lateral: { lh: "left", rh: "right" },
  medial: { lh: "right", rh: "left" },
  dorsal: { lh: "above", rh: "above", both: "above" },
  ventral: { lh: "below", rh: "below", both: "below" },
};

// ---------- geometry ----------
function uploadGeometry(geometry) {
  const { meta, arrays } = geometry;
  const n = meta.n_vertices;
  geometry.positions = {};
  geometry.vaos = {};
  geometry.ranges = { lh: [0, meta.n_faces_lh], rh: [meta.n_faces_lh, meta.n_faces - meta.n_faces_lh],
                      both: [0, meta.n_faces] };
  // On the GPU, vertices are numbered in the order the triangles (ordered by place) first use them: a
  // software renderer's vertex cache, indexed by the low bits of these numbers, then keeps the vertices of
  // neighbouring triangles. gpuVertex: GPU number -> vertex; gpuFaces: the triangles in GPU numbers.
  const gpuNumber = new Int32Array(n).fill(-1), gpuVertex = new Uint32Array(n);
  let numbered = 0;
  for (const vertex of arrays.faces) if (gpuNumber[vertex] < 0) { gpuNumber[vertex] = numbered; gpuVertex[numbered++] = vertex; }
  for (let vertex = 0; vertex < n; vertex++) if (gpuNumber[vertex] < 0) { gpuNumber[vertex] = numbered; gpuVertex[numbered++] = vertex; }
  geometry.gpuVertex = gpuVertex;
  geometry.gpuNumber = gpuNumber;
  geometry.gpuPositions = {};
  vertexMap.key = state.camera = "";
  geometry.gpuFaces = arrays.faces.map((vertex) => gpuNumber[vertex]);
  const inGpuOrder = (values, size) => {
    const out = new values.constructor(values.length);
    for (let j = 0; j < n; j++) for (let k = 0; k < size; k++) out[size * j + k] = values[size * gpuVertex[j] + k];
    return out;
  };
  // The index buffer holds the triangles the panes draw (see visibleFaces), rewritten when the view turns.
  geometry.visible = new Uint16Array(arrays.faces.length);
  geometry.visibleKey = "";
  geometry.faceNormals = {};
  gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, indexBuffer);
  gl.bufferData(gl.ELEMENT_ARRAY_BUFFER, arrays.faces.byteLength, gl.DYNAMIC_DRAW);
  gl.bindBuffer(gl.ARRAY_BUFFER, colorBuffer);
  gl.bufferData(gl.ARRAY_BUFFER, new Uint8Array(4 * n), gl.DYNAMIC_DRAW);
  // The bare brain: sulci dark, gyri light (alpha 0: lit as anatomy).
  const anatomy = new Uint8Array(4 * n);
  for (let i = 0; i < n; i++) anatomy.fill(Math.round(204 - 82 * arrays.sulc[i] / 255), 4 * i, 4 * i + 3);
  geometry.anatomy = new Uint32Array(anatomy.buffer);
  for (const [surface, info] of Object.entries(meta.surfaces)) {
    const quantised = arrays[surface + ":position"];
    const positions = new Float32Array(quantised.length);
    for (let i = 0; i < quantised.length; i++) positions[i] = quantised[i] * info.scale + info.offset[i % 3];
    geometry.positions[surface] = positions;
    geometry.faceNormals[surface] = faceNormals(positions, arrays.faces);
    const vao = gl.createVertexArray();
    gl.bindVertexArray(vao);
    const attribute = (location, data, size, type, normalized) => {
      const buffer = gl.createBuffer();
      gl.bindBuffer(gl.ARRAY_BUFFER, buffer);
      gl.bufferData(gl.ARRAY_BUFFER, data, gl.STATIC_DRAW);
      gl.enableVertexAttribArray(location);
      gl.vertexAttribPointer(location, size, type, normalized, 0, 0);
    };
    geometry.gpuPositions[surface] = inGpuOrder(positions, 3);
    attribute(loc.a_position, geometry.gpuPositions[surface], 3, gl.FLOAT, false);
    attribute(loc.a_normal, inGpuOrder(arrays[surface + ":normal"], 3), 3, gl.BYTE, true);
    gl.bindBuffer(gl.ARRAY_BUFFER, colorBuffer);
    gl.enableVertexAttribArray(loc.a_color);
    gl.vertexAttribPointer(loc.a_color, 4, gl.UNSIGNED_BYTE, true, 0, 0);
    gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, indexBuffer);
    gl.bindVertexArray(null);
    geometry.vaos[surface] = vao;
  }
  for (const [name, table] of Object.entries(meta.colormaps)) state.colormaps[name] = { lut: table.lut, name: table.name };
  state.geometry = geometry;
}

// The outward normal (unit length) of every triangle.
function faceNormals(positions, faces) {
  const normals = new Float32Array(faces.length);
  for (let f = 0; f < faces.length; f += 3) {
    const a = 3 * faces[f], b = 3 * faces[f + 1], c = 3 * faces[f + 2];
    const e1x = positions[b] - positions[a], e1y = positions[b + 1] - positions[a + 1], e1z = positions[b + 2] - positions[a + 2];
    const e2x = positions[c] - positions[a], e2y = positions[c + 1] - positions[a + 1], e2z = positions[c + 2] - positions[a + 2];
    const x = e1y * e2z - e1z * e2y, y = e1z * e2x - e1x * e2z, z = e1x * e2y - e1y * e2x;
    const length = Math.hypot(x, y, z) || 1;
    normals[f] = x / length; normals[f + 1] = y / length; normals[f + 2] = z / length;
  }
  return normals;
}

// The triangles each pane draws: those that face its camera. The others would be culled, but only after a
// software renderer (a browser without a GPU) has processed their vertices, which costs about as much as
// drawing them. Written into the index buffer when the surface, the panes or the rotation change; a time
// step leaves it as it is. Triangles within EDGE_ON of edge-on are kept and left to the GPU's own culling
// (snapped to pixels, a few of them still cover one): the picture is the same as when every one is drawn.
const EDGE_ON = 0.05;  // cosine: 3 degrees
function visibleFaces() {
  const geometry = state.geometry, surface = ui.surface.value;
  const rotations = state.panes.map(paneRotation);
  const key = surface + ":" + state.panes.map((pane, i) => pane.hemi + rotations[i].join()).join(";");
  if (key === geometry.visibleKey) return;
  const normals = geometry.faceNormals[surface], faces = geometry.gpuFaces, visible = geometry.visible;
  let n = 0;
  state.panes.forEach((pane, i) => {
    const [tx, ty, tz] = rotations[i][2];  // toward the viewer
    const [first, count] = pane.range;
    pane.first = n / 3;
    for (let f = 3 * first; f < 3 * (first + count); f += 3) {
      if (normals[f] * tx + normals[f + 1] * ty + normals[f + 2] * tz > -EDGE_ON) {
        visible[n] = faces[f]; visible[n + 1] = faces[f + 1]; visible[n + 2] = faces[f + 2];
        n += 3;
      }
    }
    pane.count = n / 3 - pane.first;
  });
  gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, indexBuffer);
  gl.bufferSubData(gl.ELEMENT_ARRAY_BUFFER, 0, visible, 0, n);
  geometry.visibleKey = key;
}

function vertexRange(hemi) {
  const meta = state.geometry.meta;
  return hemi === "lh" ? [0, meta.n_lh] : hemi === "rh" ? [meta.n_lh, meta.n_vertices] : [0, meta.n_vertices];
}

// Panes side by side, each a hemisphere (or both) seen by one camera; fitted to the base view.
function layout() {
  if (!state.geometry) return;
  state.geometry.visibleKey = "";  // new panes: visibleFaces() fills them in
  const hemi = ui.hemi.value;
  const cameras = LAYOUTS[state.view];
  const hemis = hemi !== "both" ? [hemi] : cameras.both ? ["both"] : ["lh", "rh"];
  const positions = state.geometry.positions[ui.surface.value];
  const aspect = (glCanvas.width / hemis.length) / Math.max(1, glCanvas.height);
  state.panes = hemis.map((h) => {
    const base = FROM[cameras[h]];
    const [start, end] = vertexRange(h);
    const lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
    for (let i = start; i < end; i++) {
      for (let k = 0; k < 3; k++) {
        const value = positions[3 * i + k];
        if (value < lo[k]) lo[k] = value;
        if (value > hi[k]) hi[k] = value;
      }
    }
    const centre = [0, 1, 2].map((k) => (lo[k] + hi[k]) / 2);
    const half = [0, 1, 2].map((k) => (hi[k] - lo[k]) / 2);
    const extentX = Math.abs(base[0][0]) * half[0] + Math.abs(base[0][1]) * half[1] + Math.abs(base[0][2]) * half[2];
    const extentY = Math.abs(base[1][0]) * half[0] + Math.abs(base[1][1]) * half[1] + Math.abs(base[1][2]) * half[2];
    const halfHeight = Math.max(extentY, extentX / aspect) * 1.06;
    return { hemi: h, base, centre, halfHeight, halfWidth: halfHeight * aspect,
             depth: Math.hypot(half[0], half[1], half[2]) * 1.05, range: state.geometry.ranges[h] };
  });
}

function paneRotation(pane) { return mul3(state.user, pane.base); }

function paneMatrix(pane) {
  const r = paneRotation(pane);
  const sx = pane.halfWidth / state.zoom, sy = pane.halfHeight / state.zoom, sz = pane.depth;
  const c = pane.centre;
  // Row-major: clip = [R0/sx; R1/sy; -R2/sz] (p - c); uploaded column-major.
  const rows = [r[0].map((v) => v / sx), r[1].map((v) => v / sy), r[2].map((v) => -v / sz)];
  const t = rows.map((row) => -dot3(row, c));
  return new Float32Array([rows[0][0], rows[1][0], rows[2][0], 0, rows[0][1], rows[1][1], rows[2][1], 0,
                           rows[0][2], rows[1][2], rows[2][2], 0, t[0], t[1], t[2], 1]);
}

// ---------- colours ----------
function limits() {
  const meta = state.data.meta, stats = meta.stats;
  const fraction = Number(ui.thr.value) / 100;
  if (ui.cmap.value === "symmetric") {
    const bound = stats.abs_p99 > 0 ? stats.abs_p99 : Math.max(Math.abs(stats.min), Math.abs(stats.max), 1e-9);
    return { vmin: -bound, vmax: bound, threshold: fraction * bound, symmetric: true };
  }
  const top = stats.p99 > 0 ? stats.p99 : Math.max(stats.max, 1e-9);
  const threshold = fraction * top;
  return { vmin: threshold, vmax: Math.max(top, threshold + 1e-9), threshold, symmetric: false };
}

function lutColor(lut, x) {
  const i = 3 * Math.max(0, Math.min(255, Math.round(x * 255)));
  return "rgb(" + lut[i] + "," + lut[i + 1] + "," + lut[i + 2] + ")";
}

function formatNumber(value) {
  const magnitude = Math.abs(value);
  return magnitude !== 0 && (magnitude < 0.01 || magnitude >= 1000) ? value.toExponential(1) : value.toFixed(2);
}

function drawColorbar(lim, lut) {
  const canvas = ui.colorbar, ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, barH = 12, pad = 30;
  ctx.clearRect(0, 0, w, h);
  ctx.fillStyle = "rgba(255,255,255,0.85)";
  ctx.fillRect(0, 0, w, h);
  for (let x = pad; x < w - pad; x++) {
    const value = lim.vmin + (lim.vmax - lim.vmin) * (x - pad) / (w - 2 * pad - 1);
    const hidden = lim.symmetric ? Math.abs(value) < lim.threshold : value < lim.threshold;
    ctx.fillStyle = hidden ? "#c8c8c8" : lutColor(lut, (value - lim.vmin) / (lim.vmax - lim.vmin));
    ctx.fillRect(x, 3, 1, barH);
  }
  ctx.fillStyle = INK;
  ctx.font = "11px sans-serif";
  ctx.textBaseline = "top";
  ctx.textAlign = "left";
  ctx.fillText(formatNumber(lim.vmin), 2, barH + 6);
  ctx.textAlign = "right";
  ctx.fillText(formatNumber(lim.vmax), w - 2, barH + 6);
  ctx.textAlign = "center";
  ctx.fillText(lim.symmetric ? "0" : "grey: below threshold", w / 2, barH + 6);
  ctx.fillStyle = MUTED;
  ctx.fillText(unitOf(state.data.meta), w / 2, barH + 19);
}

// What the values are (the colour bars' and the plots' unit).
function unitOf(meta) { return meta.unit || "predicted value"; }

// ---------- orientation: which way is left, right, anterior... at the edges of each pane ----------
const AXIS_LETTERS = [["L", "R"], ["P", "A"], ["I", "S"]];
const AXIS_WORDS = { L: "left", R: "right", A: "anterior", P: "posterior", S: "superior", I: "inferior" };
function direction(v) {  // a direction in the mesh's RAS space -> its letter ("" when no axis dominates)
  let k = 0;
  for (let j = 1; j < 3; j++) if (Math.abs(v[j]) > Math.abs(v[k])) k = j;
  return Math.abs(v[k]) < 0.75 ? "" : AXIS_LETTERS[k][v[k] > 0 ? 1 : 0];
}

function drawOrientation() {
  const key = state.panes.map((pane) => paneRotation(pane).join()).join(";");
  if (key === state.orientKey) return;
  state.orientKey = key;
  ui.orient.querySelectorAll("span").forEach((span) => span.remove());
  const n = state.panes.length, minus = (v) => v.map((x) => -x);
  const edges = state.panes.map((pane) => {
    const [right, up] = paneRotation(pane);
    return { left: direction(minus(right)), right: direction(right), top: direction(up), bottom: direction(minus(up)) };
  });
  const put = (letter, side, x, y) => {
    if (!letter) return;
    const span = document.createElement("span");
    span.textContent = letter;
    span.title = AXIS_WORDS[letter];
    span.dataset.side = side;
    span.style.left = (100 * x / n) + "%";
    span.style.top = (100 * y) + "%";
    ui.orient.appendChild(span);
  };
  edges.forEach((edge, i) => {
    // two panes that meet on the same letter (the posterior ends of two lateral views) share it
    const sharedLeft = i > 0 && edges[i - 1].right === edge.left;
    const sharedRight = i + 1 < n && edges[i + 1].left === edge.right;
    if (!sharedLeft) put(edge.left, "left", i + 0.025, 0.5);
    if (sharedRight) put(edge.right, "between", i + 1, 0.5); else put(edge.right, "right", i + 0.975, 0.5);
    put(edge.top, "top", i + 0.5, 0.035);
    put(edge.bottom, "bottom", i + 0.5, 0.965);
  });
}

// ROI outlines: dark grey, lit as the anatomy is (alpha 0).
const OUTLINE_RGBA = new Uint32Array(new Uint8Array([26, 26, 26, 0]).buffer)[0];

// The colour of every vertex at the current time step, in GPU order (RGBA; alpha 255 where the data show, 0
// for anatomy), into state.colors; state.colorKey says what they show.
function vertexColors(lim, lut) {
  const data = state.data, meta = data.meta, n = meta.n_vertices;
  const outline = ui.outline.checked && !meta.whole_space;
  if (rgbShown()) { layerColors(outline); return; }
  const tableKey = [lim.vmin, lim.vmax, lim.threshold, lim.symmetric].join();
  const key = [tableKey, state.frame, outline].join(";");
  if (key === state.colorKey) return;
  // Byte value -> colour (0, transparent, where the anatomy shows): made again only when the limits change.
  if (tableKey !== state.colorTableKey) {
    const table = new Uint8Array(256 * 4);
    for (let byte = 0; byte < NO_VALUE; byte++) {
      const value = meta.offset + byte * meta.scale;
      if (lim.symmetric ? Math.abs(value) < lim.threshold : value < lim.threshold) continue;
      const row = 3 * Math.max(0, Math.min(255, Math.round(255 * (value - lim.vmin) / (lim.vmax - lim.vmin || 1))));
      table.set([lut[row], lut[row + 1], lut[row + 2], 255], 4 * byte);
    }
    state.colorTable = new Uint32Array(table.buffer);
    state.colorTableKey = tableKey;
  }
  const table32 = state.colorTable, anatomy = state.geometry.anatomy, order = state.geometry.gpuVertex;
  const frame = data.arrays.frames.subarray(state.frame * n, (state.frame + 1) * n), lines = data.arrays.outline;
  if (!state.colors || state.colors.length !== n) state.colors = new Uint32Array(n);
  const colors = state.colors;
  for (let j = 0; j < n; j++) {  // in GPU order
    const i = order[j];
    colors[j] = outline && lines[i] ? OUTLINE_RGBA : table32[frame[i]] || anatomy[i];
  }
  state.colorKey = key;
  state.colorVersion += 1;
}

// ---------- the modality-attribution layer (set by static/panels.js) ----------
// Whether the RGB layer is shown: asked for, and made for the prediction on screen (same id and time steps).
function rgbShown() {
  const layer = state.rgbLayer, data = state.data;
  return !!layer && !!data && ui.layer.value === "attribution" && layer.predictionId === state.predictionId &&
    !data.meta.map && layer.nFrames === data.meta.n_frames && layer.nVertices === data.meta.n_vertices;
}

// Every vertex at the current time step: its RGB (alpha 255, lit as data) where the attribution has a value.
function layerColors(outline) {
  const layer = state.rgbLayer, n = layer.nVertices;
  // The threshold slider hides the weak points here too: the strongest channel is the brightness (0..255).
  const threshold = 255 * Number(ui.thr.value) / 100;
  const key = ["rgb", layer.key, state.frame, outline, threshold].join(";");
  if (key === state.colorKey) return;
  const rgb = layer.rgb, selected = layer.selected, anatomy = state.geometry.anatomy, order = state.geometry.gpuVertex;
  const lines = state.data.arrays.outline, base = 3 * n * state.frame;
  if (!state.colors || state.colors.length !== n) state.colors = new Uint32Array(n);
  const colors = state.colors;
  for (let j = 0; j < n; j++) {
    const i = order[j], k = base + 3 * i, r = rgb[k], g = rgb[k + 1], b = rgb[k + 2];
    colors[j] = outline && lines[i] ? OUTLINE_RGBA : !selected[i] || Math.max(r, g, b) < threshold ? anatomy[i] :
      (r | (g << 8) | (b << 16) | 0xff000000) >>> 0;
  }
  state.colorKey = key;
  state.colorVersion += 1;
}

// The colour triangle in place of the colour bar: each corner a modality, the mix in between, darker = weaker.
function drawTriangleLegend() {
  const layer = state.rgbLayer, canvas = ui.colorbar, ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height;
  ctx.clearRect(0, 0, w, h);
  ctx.fillStyle = "rgba(255,255,255,0.85)";
  ctx.fillRect(0, 0, w, h);
  const side = h - 6, x0 = 6, y0 = h - 3, corners = [[x0, y0], [x0 + side, y0], [x0 + side / 2, y0 - side * 0.87]];
  const image = ctx.getImageData(0, 0, w, h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w / 2; x++) {
      // barycentric weights of (x, y) in the triangle: the shares of its corners' modalities
      const [[ax, ay], [bx, by], [cx, cy]] = corners;
      const det = (by - cy) * (ax - cx) + (cx - bx) * (ay - cy);
      const wa = ((by - cy) * (x - cx) + (cx - bx) * (y - cy)) / det;
      const wb = ((cy - ay) * (x - cx) + (ax - cx) * (y - cy)) / det, wc = 1 - wa - wb;
      if (wa < 0 || wb < 0 || wc < 0) continue;
      const rgb = [0, 0, 0], top = Math.max(wa, wb, wc);
      [wa, wb, wc].forEach((weight, corner) => { rgb[layer.cornerChannels[corner]] += weight / top; });
      image.data.set([255 * rgb[0], 255 * rgb[1], 255 * rgb[2], 255].map(Math.round), 4 * (y * w + x));
    }
  }
  ctx.putImageData(image, 0, 0);
  ctx.fillStyle = INK;
  ctx.font = "11px sans-serif";
  ctx.textBaseline = "top";
  ctx.textAlign = "left";
  const names = layer.cornerNames;
  ctx.fillText(names.map((name, i) => ["R", "G", "B"][layer.cornerChannels[i]] + " " + name).join(" · "), x0 + side + 8, 3);
  ctx.fillStyle = MUTED;
  ctx.fillText("hue: the mix · dark: weak", x0 + side + 8, 16);
  ctx.fillText("full: " + formatNumber(layer.bound) + " · grey: < threshold", x0 + side + 8, 28);
}

// ---------- drawing ----------
function drawBrain() {
  const geometry = state.geometry, data = state.data;
  gl.viewport(0, 0, glCanvas.width, glCanvas.height);
  gl.clearColor(1, 1, 1, 1);
  gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
  if (!geometry || !data) return;
  const lim = limits();
  const lut = state.colormaps[lim.symmetric ? "symmetric" : "one-sided"];
  gl.disable(gl.DITHER);  // a no-op on 8-bit colour, which a software renderer still pays for
  visibleFaces();
  vertexColors(lim, lut.lut);
  // A camera that has not moved since the last picture: the triangles cover the same pixels, the vertex map
  // holds them. While it moves (orbit, zoom, another surface or layout), the mesh is drawn.
  const matrices = state.panes.map(paneMatrix);
  const camera = [glCanvas.width, glCanvas.height, ui.surface.value, ...matrices.map((m) => m.join())].join(";");
  if (camera === state.camera) drawFromMap(camera, matrices); else drawMesh(matrices);
  state.camera = camera;
  const colorbarKey = rgbShown() ? "rgb:" + state.rgbLayer.key : [lim.vmin, lim.vmax, lim.threshold, lim.symmetric].join();
  if (colorbarKey !== state.colorbarKey) {
    if (rgbShown()) drawTriangleLegend(); else drawColorbar(lim, lut.lut);
    state.colorbarKey = colorbarKey;
  }
  drawOrientation();
  placeMarker();
}

// The mesh, pane by pane (the triangles that face each camera).
function drawMesh(matrices) {
  if (state.uploadedVersion !== state.colorVersion) {
    gl.bindBuffer(gl.ARRAY_BUFFER, colorBuffer);
    gl.bufferSubData(gl.ARRAY_BUFFER, 0, new Uint8Array(state.colors.buffer));
    state.uploadedVersion = state.colorVersion;
  }
  gl.useProgram(program);
  gl.enable(gl.DEPTH_TEST);
  gl.enable(gl.CULL_FACE);
  gl.cullFace(gl.BACK);
  gl.frontFace(gl.CCW);
  gl.bindVertexArray(state.geometry.vaos[ui.surface.value]);
  const paneWidth = Math.floor(glCanvas.width / state.panes.length);
  state.panes.forEach((pane, i) => {
    gl.viewport(i * paneWidth, 0, paneWidth, glCanvas.height);
    gl.uniformMatrix4fv(loc.u_mvp, false, matrices[i]);
    const r = paneRotation(pane);
    gl.uniformMatrix3fv(loc.u_rotation, false, new Float32Array([r[0][0], r[1][0], r[2][0], r[0][1], r[1][1],
                                                                 r[2][1], r[0][2], r[1][2], r[2][2]]));
    gl.drawElements(gl.TRIANGLES, pane.count * 3, gl.UNSIGNED_SHORT, pane.first * 6);
  });
  gl.bindVertexArray(null);
}

// A time step without drawing the mesh again. Once per camera, the vertex map is drawn: for every pixel, the
// three vertices of the triangle seen there and the pixel's weights between them (the same triangles, the
// same pixels as the mesh). A time step then mixes the lit colours of those vertices in one pass over the
// brain's pixels. A software renderer (a browser without a GPU) pays for each triangle it draws, so this
// takes it less than half the time; the pixels are the mesh's, give or take one level of rounding.
function drawFromMap(camera, matrices) {
  const map = vertexMap;
  if (map.key !== camera) drawVertexMap(matrices);
  map.key = camera;
  const litKey = camera + "|" + state.colorVersion;
  gl.activeTexture(gl.TEXTURE2);
  gl.bindTexture(gl.TEXTURE_2D, map.litTexture);
  if (map.litKey !== litKey) {  // the lit colour of every vertex: VERTEX_SHADER's sums, in JavaScript
    const colors = new Uint8Array(state.colors.buffer), shade = map.shade, lit = map.lit;
    for (let j = 0; j < shade.length / 2; j++) {
      const factor = colors[4 * j + 3] > 127 ? shade[2 * j] : shade[2 * j + 1];
      lit[4 * j] = colors[4 * j] / 255 * factor;
      lit[4 * j + 1] = colors[4 * j + 1] / 255 * factor;
      lit[4 * j + 2] = colors[4 * j + 2] / 255 * factor;
    }
    gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, 256, lit.length / 1024, gl.RGBA, gl.FLOAT, lit);
    map.litKey = litKey;
  }
  gl.activeTexture(gl.TEXTURE1);
  gl.bindTexture(gl.TEXTURE_2D, map.texture);
  gl.activeTexture(gl.TEXTURE0);
  gl.useProgram(recolourProgram);
  gl.disable(gl.DEPTH_TEST);
  gl.disable(gl.CULL_FACE);
  gl.viewport(0, 0, glCanvas.width, glCanvas.height);
  gl.enable(gl.SCISSOR_TEST);
  for (const [x, y, width, height] of map.boxes) {
    gl.scissor(x, y, width, height);
    gl.drawArrays(gl.TRIANGLES, 0, 3);
  }
  gl.disable(gl.SCISSOR_TEST);
}

function nearestTexture(texture, format, width, height) {
  gl.bindTexture(gl.TEXTURE_2D, texture);
  gl.texStorage2D(gl.TEXTURE_2D, 1, format, width, height);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);  // integer and float: fetched, not filtered
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
}

// Draw the vertex map for the panes' cameras, the box of brain pixels in each pane, and the light of each
// vertex (its pane's camera).
function drawVertexMap(matrices) {
  const map = vertexMap, geometry = state.geometry, surface = ui.surface.value;
  const width = glCanvas.width, height = glCanvas.height, n = geometry.meta.n_vertices;
  if (!map.texture || map.width !== width || map.height !== height) {
    if (map.texture) gl.deleteTexture(map.texture);
    map.texture = gl.createTexture();
    nearestTexture(map.texture, gl.RGBA32UI, width, height);
    gl.bindRenderbuffer(gl.RENDERBUFFER, map.depth);
    gl.renderbufferStorage(gl.RENDERBUFFER, gl.DEPTH_COMPONENT24, width, height);
    gl.bindFramebuffer(gl.FRAMEBUFFER, map.framebuffer);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, map.texture, 0);
    gl.framebufferRenderbuffer(gl.FRAMEBUFFER, gl.DEPTH_ATTACHMENT, gl.RENDERBUFFER, map.depth);
    map.width = width; map.height = height;
  }
  if (!map.litTexture) {
    const rows = Math.ceil(n / 256);
    map.litTexture = gl.createTexture();
    nearestTexture(map.litTexture, gl.RGBA32F, 256, rows);
    map.lit = new Float32Array(256 * rows * 4);
    map.shade = new Float32Array(2 * n);
    gl.bindVertexArray(map.vao);
    gl.bindBuffer(gl.ARRAY_BUFFER, map.positions);
    gl.enableVertexAttribArray(mapLoc.a_position);
    gl.vertexAttribPointer(mapLoc.a_position, 3, gl.FLOAT, false, 0, 0);
    gl.bindBuffer(gl.ARRAY_BUFFER, map.corners);
    gl.enableVertexAttribArray(mapLoc.a_corners);
    gl.vertexAttribIPointer(mapLoc.a_corners, 3, gl.UNSIGNED_SHORT, 0, 0);
    gl.bindVertexArray(null);
  }
  // Every corner of the drawn triangles, pane after pane: its position and its triangle's three vertices.
  const visible = geometry.visible, gpuPositions = geometry.gpuPositions[surface];
  const corners = 3 * state.panes.reduce((sum, pane) => sum + pane.count, 0);
  const positions = new Float32Array(3 * corners), triangles = new Uint16Array(3 * corners);
  let c = 0;
  map.boxes = state.panes.map((pane, i) => {
    const m = matrices[i];
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (let t = pane.first; t < pane.first + pane.count; t++) {
      for (let k = 0; k < 3; k++, c++) {
        const vertex = 3 * visible[3 * t + k];
        const x = gpuPositions[vertex], y = gpuPositions[vertex + 1], z = gpuPositions[vertex + 2];
        positions[3 * c] = x; positions[3 * c + 1] = y; positions[3 * c + 2] = z;
        triangles[3 * c] = visible[3 * t]; triangles[3 * c + 1] = visible[3 * t + 1]; triangles[3 * c + 2] = visible[3 * t + 2];
        const sx = m[0] * x + m[4] * y + m[8] * z + m[12], sy = m[1] * x + m[5] * y + m[9] * z + m[13];
        x0 = Math.min(x0, sx); x1 = Math.max(x1, sx); y0 = Math.min(y0, sy); y1 = Math.max(y1, sy);
      }
    }
    // Pixels (with a pixel to spare) within the pane's viewport.
    const paneWidth = Math.floor(width / state.panes.length), left = i * paneWidth;
    const bx0 = Math.max(left, Math.floor(left + (x0 + 1) / 2 * paneWidth) - 1);
    const bx1 = Math.min(left + paneWidth, Math.ceil(left + (x1 + 1) / 2 * paneWidth) + 1);
    const by0 = Math.max(0, Math.floor((y0 + 1) / 2 * height) - 1), by1 = Math.min(height, Math.ceil((y1 + 1) / 2 * height) + 1);
    return [bx0, by0, Math.max(0, bx1 - bx0), Math.max(0, by1 - by0)];
  });
  gl.bindBuffer(gl.ARRAY_BUFFER, map.positions);
  gl.bufferData(gl.ARRAY_BUFFER, positions, gl.DYNAMIC_DRAW);
  gl.bindBuffer(gl.ARRAY_BUFFER, map.corners);
  gl.bufferData(gl.ARRAY_BUFFER, triangles, gl.DYNAMIC_DRAW);
  gl.bindFramebuffer(gl.FRAMEBUFFER, map.framebuffer);
  gl.viewport(0, 0, width, height);
  gl.clearBufferuiv(gl.COLOR, 0, new Uint32Array([0, 0xFFFFFFFF, 0, 0]));  // y above 65535: no triangle
  gl.clearBufferfv(gl.DEPTH, 0, new Float32Array([1]));
  gl.useProgram(mapProgram);
  gl.enable(gl.DEPTH_TEST);
  gl.enable(gl.CULL_FACE);
  gl.cullFace(gl.BACK);
  gl.frontFace(gl.CCW);
  gl.bindVertexArray(map.vao);
  const paneWidth = Math.floor(width / state.panes.length);
  state.panes.forEach((pane, i) => {
    gl.viewport(i * paneWidth, 0, paneWidth, height);
    gl.uniformMatrix4fv(mapLoc.u_mvp, false, matrices[i]);
    gl.drawArrays(gl.TRIANGLES, 3 * pane.first, 3 * pane.count);
  });
  gl.bindVertexArray(null);
  gl.bindFramebuffer(gl.FRAMEBUFFER, null);
  // The light of each vertex in its pane: VERTEX_SHADER's, for data (even) and anatomy (odd).
  const normals = geometry.arrays[surface + ":normal"], number = geometry.gpuNumber;
  for (const pane of state.panes) {
    const r = paneRotation(pane), [first, end] = vertexRange(pane.hemi);
    for (let vertex = first; vertex < end; vertex++) {
      const i = 3 * vertex, j = number[vertex];
      const nx = Math.max(normals[i] / 127, -1), ny = Math.max(normals[i + 1] / 127, -1), nz = Math.max(normals[i + 2] / 127, -1);
      const lambert = Math.max(0, LIGHT[0] * (r[0][0] * nx + r[0][1] * ny + r[0][2] * nz)
        + LIGHT[1] * (r[1][0] * nx + r[1][1] * ny + r[1][2] * nz) + LIGHT[2] * (r[2][0] * nx + r[2][1] * ny + r[2][2] * nz));
      map.shade[2 * j] = DATA_LIGHT[0] + DATA_LIGHT[1] * lambert;
      map.shade[2 * j + 1] = ANATOMY_LIGHT[0] + ANATOMY_LIGHT[1] * lambert;
    }
  }
  map.litKey = "";
}

// A ring over the clicked vertex, hidden when the vertex faces away from the camera. Placed in percent of
// the stage (which the canvas fills), so that drawing a frame never waits for a layout.
function placeMarker() {
  const vertex = state.picked;
  const hemi = vertex < 0 || !state.geometry ? null : vertex < state.geometry.meta.n_lh ? "lh" : "rh";
  const paneIndex = hemi ? state.panes.findIndex((pane) => pane.hemi === hemi || pane.hemi === "both") : -1;
  if (paneIndex < 0) { ui.marker.style.display = "none"; return; }
  const pane = state.panes[paneIndex], m = paneMatrix(pane), r = paneRotation(pane);
  const surface = ui.surface.value, p = state.geometry.positions[surface], n = state.geometry.arrays[surface + ":normal"];
  const i = 3 * vertex;
  const facing = r[2][0] * n[i] + r[2][1] * n[i + 1] + r[2][2] * n[i + 2] > 0;
  const x = m[0] * p[i] + m[4] * p[i + 1] + m[8] * p[i + 2] + m[12];
  const y = m[1] * p[i] + m[5] * p[i + 1] + m[9] * p[i + 2] + m[13];
  ui.marker.style.display = facing && Math.abs(x) <= 1 && Math.abs(y) <= 1 ? "block" : "none";
  ui.marker.style.left = (100 * (paneIndex + (x + 1) / 2) / state.panes.length) + "%";
  ui.marker.style.top = (100 * (1 - y) / 2) + "%";
}

function valueAt(frame, vertex) {
  const meta = state.data.meta;
  const byte = state.data.arrays.frames[frame * meta.n_vertices + vertex];
  return byte === NO_VALUE ? NaN : meta.offset + byte * meta.scale;
}

function fitCanvas(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
  const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
    return true;
  }
  return false;
}

// 2-D plots of time series: the lines are drawn once into a layer (when the data, the clicked point or the
// size change); a time step only copies the layer and draws the marker. series: [{name, color, values}].
function seriesLayer(canvas, series, times, xLabel, legend, yLabel) {
  const layer = document.createElement("canvas");
  layer.width = canvas.width;
  layer.height = canvas.height;
  const ctx = layer.getContext("2d");
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.width / ratio, h = canvas.height / ratio;
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  let lo = Infinity, hi = -Infinity;
  for (const s of series) for (const v of s.values) if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  if (!Number.isFinite(lo)) { lo = -1; hi = 1; }
  if (hi - lo < 1e-12) { lo -= 1; hi += 1; }
  const margin = (hi - lo) * 0.08;
  lo -= margin; hi += margin;
  const legendW = legend ? Math.min(150, w * 0.3) : 0;
  const left = 58, right = w - 10 - legendW, top = 8, bottom = h - 30;
  const t0 = times[0], t1 = times.length > 1 ? times[times.length - 1] : times[0] + 1;
  const x = (t) => left + (right - left) * (t - t0) / (t1 - t0);
  const y = (v) => bottom - (bottom - top) * (v - lo) / (hi - lo);
  ctx.strokeStyle = "#ddd";
  ctx.lineWidth = 1;
  ctx.strokeRect(left, top, right - left, bottom - top);
  if (lo < 0 && hi > 0) {
    ctx.beginPath(); ctx.moveTo(left, y(0)); ctx.lineTo(right, y(0)); ctx.stroke();
  }
  ctx.fillStyle = INK;
  ctx.font = "11px sans-serif";
  ctx.textAlign = "right"; ctx.textBaseline = "middle";
  ctx.fillText(formatNumber(hi - margin), left - 4, y(hi - margin));
  ctx.fillText(formatNumber(lo + margin), left - 4, y(lo + margin));
  ctx.textAlign = "center"; ctx.textBaseline = "top";
  ctx.fillText(t0.toFixed(1), left, bottom + 3);
  ctx.fillText(t1.toFixed(1), right, bottom + 3);
  ctx.fillStyle = MUTED;
  ctx.fillText(xLabel, (left + right) / 2, bottom + 15);
  if (yLabel) {  // the values' unit, along the y axis
    ctx.save();
    ctx.translate(10, (top + bottom) / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textBaseline = "middle";
    ctx.fillText(yLabel.length > 34 ? yLabel.slice(0, 33) + "…" : yLabel, 0, 0);
    ctx.restore();
  }
  for (const s of series) {
    ctx.strokeStyle = s.color;
    ctx.lineWidth = 1.6;
    ctx.beginPath();
    let pen = false;
    s.values.forEach((v, i) => {
      if (!Number.isFinite(v)) { pen = false; return; }
      if (pen) ctx.lineTo(x(times[i]), y(v)); else ctx.moveTo(x(times[i]), y(v));
      pen = true;
    });
    ctx.stroke();
  }
  if (legend) {
    ctx.textAlign = "left"; ctx.textBaseline = "middle";
    const rowH = Math.min(15, (bottom - top) / series.length);
    series.forEach((s, i) => {
      const ly = top + rowH * (i + 0.5);
      ctx.fillStyle = s.color;
      ctx.fillRect(right + 10, ly - 1.5, 12, 3);
      ctx.fillStyle = INK;
      ctx.fillText(s.name.length > 22 ? s.name.slice(0, 21) + "…" : s.name, right + 26, ly);
    });
  }
  return { image: layer, series, times, x, y, top, bottom };
}

// What each plot canvas shows: a redraw that would change nothing is skipped (the compositor would still
// repaint the canvas, which costs a browser without a GPU time that the 3D view needs).
const plotShown = new WeakMap();

function drawSeries(canvas, layer, frame) {
  const shown = [layer && layer.image, layer ? frame : -1, canvas.width, canvas.height];
  const before = plotShown.get(canvas);
  if (before && shown.every((value, i) => value === before[i])) return;
  plotShown.set(canvas, shown);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!layer) return;
  ctx.drawImage(layer.image, 0, 0);
  const ratio = window.devicePixelRatio || 1;
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  const xt = layer.x(layer.times[frame]);
  ctx.strokeStyle = "rgba(0,0,0,0.55)";
  ctx.lineWidth = 1;
  ctx.beginPath(); ctx.moveTo(xt, layer.top); ctx.lineTo(xt, layer.bottom); ctx.stroke();
  for (const s of layer.series) {
    const v = s.values[frame];
    if (!Number.isFinite(v)) continue;
    ctx.fillStyle = s.color;
    ctx.beginPath(); ctx.arc(xt, layer.y(v), 3.2, 0, 2 * Math.PI); ctx.fill();
  }
}

// The layer of a plot, rebuilt only when what it shows (its key) changes.
function cachedLayer(name, key, build) {
  const cache = state.layers[name];
  if (cache && cache.key === key) return cache.layer;
  const layer = build();
  state.layers[name] = { key, layer };
  return layer;
}

function drawRoiLines() {
  const meta = state.data.meta;
  const layer = cachedLayer("lines", state.loadId + ":" + ui.lines.width + "x" + ui.lines.height, () => {
    const values = state.data.arrays.roi_lines, n = meta.roi_lines.names.length, T = meta.n_frames;
    const series = meta.roi_lines.names.map((name, j) => ({
      name, color: LINE_COLORS[j % LINE_COLORS.length],
      values: Array.from({ length: T }, (_, t) => values[t * n + j]),
    }));
    return series.length ? seriesLayer(ui.lines, series, meta.times_s, meta.time_label, true,
                                       unitOf(meta)) : null;
  });
  drawSeries(ui.lines, layer, state.frame);
}

// A map's histogram: bars coloured as the brain is (grey below the threshold), a dashed line at the mean.
function drawHistogram() {
  const canvas = ui.lines, map = state.data.meta.map, edges = map.histogram.edges, counts = map.histogram.counts;
  const lim = limits(), lut = state.colormaps[lim.symmetric ? "symmetric" : "one-sided"].lut;
  const shown = ["histogram", state.loadId, canvas.width, canvas.height, lim.vmin, lim.vmax, lim.threshold];
  const before = plotShown.get(canvas);
  if (before && shown.every((value, i) => value === before[i])) return;
  plotShown.set(canvas, shown);
  const ratio = window.devicePixelRatio || 1, ctx = canvas.getContext("2d");
  const w = canvas.width / ratio, h = canvas.height / ratio, n = counts.length;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  const left = 46, right = w - 10, top = 8, bottom = h - 30, most = Math.max(1, ...counts);
  const x = (v) => left + (right - left) * (v - edges[0]) / (edges[n] - edges[0]);
  const y = (c) => bottom - (bottom - top) * c / most;
  for (let i = 0; i < n; i++) {
    const centre = (edges[i] + edges[i + 1]) / 2;
    const hidden = lim.symmetric ? Math.abs(centre) < lim.threshold : centre < lim.threshold;
    ctx.fillStyle = hidden ? "#c8c8c8" : lutColor(lut, (centre - lim.vmin) / (lim.vmax - lim.vmin));
    ctx.fillRect(x(edges[i]), y(counts[i]), Math.max(1, x(edges[i + 1]) - x(edges[i]) - 1), bottom - y(counts[i]));
  }
  ctx.strokeStyle = "#ddd";
  ctx.lineWidth = 1;
  ctx.strokeRect(left, top, right - left, bottom - top);
  ctx.strokeStyle = INK;
  ctx.setLineDash([4, 3]);
  ctx.beginPath(); ctx.moveTo(x(map.mean), top); ctx.lineTo(x(map.mean), bottom); ctx.stroke();
  ctx.setLineDash([]);
  ctx.fillStyle = INK;
  ctx.font = "11px sans-serif";
  ctx.textAlign = "right"; ctx.textBaseline = "top";
  ctx.fillText(String(most), left - 4, top);
  const meanLeft = x(map.mean) < (left + right) / 2;  // the mean's label on the emptier side of its line
  ctx.textAlign = meanLeft ? "left" : "right";
  ctx.strokeStyle = "#fff";
  ctx.lineWidth = 3;
  ctx.strokeText(" mean " + formatNumber(map.mean) + " ", x(map.mean), top + 2);
  ctx.fillText(" mean " + formatNumber(map.mean) + " ", x(map.mean), top + 2);
  ctx.textAlign = "left";
  ctx.fillText(formatNumber(edges[0]), left, bottom + 3);
  ctx.textAlign = "right";
  ctx.fillText(formatNumber(edges[n]), right, bottom + 3);
  ctx.textAlign = "center";
  if (edges[0] < 0 && edges[n] > 0) ctx.fillText("0", x(0), bottom + 3);
  ctx.fillStyle = MUTED;
  ctx.fillText(map.label + " (outputs per bar)", (left + right) / 2, bottom + 15);
}

function drawPick() {
  const meta = state.data.meta;
  const key = state.loadId + ":" + state.picked + ":" + ui.pick.width + "x" + ui.pick.height;
  const layer = cachedLayer("pick", key, () => {
    if (state.picked < 0) return null;
    const values = Array.from({ length: meta.n_frames }, (_, t) => valueAt(t, state.picked));
    if (!values.some(Number.isFinite)) return null;  // a point outside the selection has no time course
    return seriesLayer(ui.pick, [{ name: "", color: "#0a8a3a", values }], meta.times_s, meta.time_label, false,
                       unitOf(meta));
  });
  drawSeries(ui.pick, layer, state.frame);
}

// ---------- glass brain (2-D, three projections; the pial vertices make the glass) ----------
// Points are discs of a fixed size stamped into the pixels of a copy of the background (far ones first).
const GLASS_VIEWS = [
  { label: ["A", "P"], u: (p) => -p[1], v: (p) => p[2], depth: (p) => -p[0] },  // sagittal, seen from the left
  { label: ["L", "R"], u: (p) => p[0], v: (p) => p[2], depth: (p) => -p[1] },   // coronal, seen from behind
  { label: ["L", "R"], u: (p) => p[0], v: (p) => p[1], depth: (p) => p[2] },    // axial, seen from above
];

function glassLayout() {
  const canvas = ui.glass;
  const positions = state.geometry.positions.pial;
  const n = state.geometry.meta.n_vertices;
  const ratio = window.devicePixelRatio || 1;
  const boxes = GLASS_VIEWS.map((view) => {
    let u0 = Infinity, u1 = -Infinity, v0 = Infinity, v1 = -Infinity;
    for (let i = 0; i < n; i++) {
      const p = [positions[3 * i], positions[3 * i + 1], positions[3 * i + 2]];
      const u = view.u(p), v = view.v(p);
      u0 = Math.min(u0, u); u1 = Math.max(u1, u); v0 = Math.min(v0, v); v1 = Math.max(v1, v);
    }
    return { u0, u1, v0, v1 };
  });
  const w = canvas.width - GLASS_BAR_W * ratio, h = canvas.height, gap = 18 * ratio;
  const totalU = boxes.reduce((sum, b) => sum + b.u1 - b.u0, 0);
  const maxV = Math.max(...boxes.map((b) => b.v1 - b.v0));
  const scale = Math.min((w - 4 * gap) / totalU, (h - 2 * gap) / maxV);
  let x = gap;
  const panels = boxes.map((b) => {
    const panel = { ...b, x, y: (h - (b.v1 - b.v0) * scale) / 2, scale };
    x += (b.u1 - b.u0) * scale + gap;
    return panel;
  });
  // The glass: how many pial vertices fall on each pixel, turned into a soft grey.
  const counts = new Float32Array(canvas.width * h);
  panels.forEach((panel, k) => {
    const view = GLASS_VIEWS[k];
    for (let i = 0; i < n; i++) {
      const p = [positions[3 * i], positions[3 * i + 1], positions[3 * i + 2]];
      const px = Math.round(panel.x + (view.u(p) - panel.u0) * scale);
      const py = Math.round(panel.y + (panel.v1 - view.v(p)) * scale);
      if (px >= 0 && px < w && py >= 0 && py < h) counts[py * canvas.width + px] += 1;
    }
  });
  const image = new ImageData(canvas.width, h);
  const density = 0.9 / Math.max(1, scale * scale);
  for (let i = 0; i < canvas.width * h; i++) {
    const alpha = 1 - Math.exp(-counts[i] * density);
    const grey = Math.round(255 - 165 * 0.6 * alpha);
    image.data.set([grey, grey, grey, 255], 4 * i);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.putImageData(image, 0, 0);
  ctx.fillStyle = MUTED;
  ctx.font = Math.round(11 * ratio) + "px sans-serif";
  ctx.textBaseline = "top";
  panels.forEach((panel, k) => {
    ctx.textAlign = "left";
    ctx.fillText(GLASS_VIEWS[k].label[0], panel.x, 2);
    ctx.textAlign = "right";
    ctx.fillText(GLASS_VIEWS[k].label[1], panel.x + (panel.u1 - panel.u0) * panel.scale, 2);
  });
  const base = ctx.getImageData(0, 0, canvas.width, h);
  // A disc stamp: pixel offsets inside the radius, and whether each is on the rim.
  const radius = Math.max(2, Math.round(2.6 * ratio));
  const stamp = [];
  for (let dy = -radius; dy <= radius; dy++) {
    for (let dx = -radius; dx <= radius; dx++) {
      const r2 = dx * dx + dy * dy;
      if (r2 <= radius * radius) stamp.push([dx, dy, r2 > (radius - 1) * (radius - 1)]);
    }
  }
  return { panels, base: new Uint32Array(base.data.buffer.slice(0)), image: base, stamp, width: canvas.width, height: h };
}

// Per panel, the points' centre pixels ordered far to near.
function glassPoints() {
  const xyz = state.data.arrays.glass_xyz, n = state.data.meta.glass.names.length;
  return state.glass.panels.map((panel, k) => {
    const view = GLASS_VIEWS[k];
    const points = Array.from({ length: n }, (_, i) => {
      const p = [xyz[3 * i], xyz[3 * i + 1], xyz[3 * i + 2]];
      return { i, depth: view.depth(p), x: Math.round(panel.x + (view.u(p) - panel.u0) * panel.scale),
               y: Math.round(panel.y + (panel.v1 - view.v(p)) * panel.scale) };
    });
    return points.sort((a, b) => a.depth - b.depth);
  });
}

function drawGlass() {
  if (!state.glass) return;
  const glass = state.glass, meta = state.data.meta, info = meta.glass, bytes = state.data.arrays.glass;
  const n = info.names.length, w = glass.width, h = glass.height;
  const pixels = new Uint32Array(glass.image.data.buffer);
  pixels.set(glass.base);
  if (n) {
    const lim = limits();
    const lut = state.colormaps[lim.symmetric ? "symmetric" : "one-sided"].lut;
    // The points have their own range (region means are smaller than vertex values); same threshold share.
    const bound = state.glassBound, share = Number(ui.thr.value) / 100;
    const low = lim.symmetric ? -bound : share * bound, threshold = share * bound;
    const fill = new Uint32Array(256), rim = new Uint32Array(256), rgba = new Uint8Array(4);
    const rgba32 = new Uint32Array(rgba.buffer);
    for (let byte = 0; byte < NO_VALUE; byte++) {
      const value = info.offset + byte * info.scale;
      if (lim.symmetric ? Math.abs(value) < threshold : value < threshold) continue;
      const row = 3 * Math.max(0, Math.min(255, Math.round(255 * (value - low) / (bound - low || 1))));
      rgba.set([lut[row], lut[row + 1], lut[row + 2], 255]);
      fill[byte] = rgba32[0];
      rgba.set([lut[row] * 0.75, lut[row + 1] * 0.75, lut[row + 2] * 0.75, 255]);
      rim[byte] = rgba32[0];
    }
    const row = state.frame * n;
    for (const points of state.glassPoints) {
      for (const point of points) {
        const byte = bytes[row + point.i];
        if (!fill[byte]) continue;
        for (const [dx, dy, edge] of glass.stamp) {
          const px = point.x + dx, py = point.y + dy;
          if (px >= 0 && px < w && py >= 0 && py < h) pixels[py * w + px] = edge ? rim[byte] : fill[byte];
        }
      }
    }
  }
  ui.glass.getContext("2d").putImageData(glass.image, 0, 0);
  if (n) drawGlassBar();
}

// The glass brain's own colour bar (its points are region means, with a range of their own), at its right.
const GLASS_BAR_W = 64;
function drawGlassBar() {
  const canvas = ui.glass, ctx = canvas.getContext("2d"), ratio = window.devicePixelRatio || 1;
  const lim = limits(), lut = state.colormaps[lim.symmetric ? "symmetric" : "one-sided"].lut;
  const bound = state.glassBound, share = Number(ui.thr.value) / 100;
  const low = lim.symmetric ? -bound : share * bound, threshold = share * bound;
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  const h = canvas.height / ratio, x = canvas.width / ratio - GLASS_BAR_W + 8, top = 14, bottom = h - 14;
  for (let y = top; y < bottom; y++) {
    const value = bound - (bound - low) * (y - top) / (bottom - top - 1);
    const hidden = lim.symmetric ? Math.abs(value) < threshold : value < threshold;
    ctx.fillStyle = hidden ? "#c8c8c8" : lutColor(lut, (value - low) / (bound - low || 1));
    ctx.fillRect(x, y, 10, 1);
  }
  ctx.fillStyle = INK;
  ctx.font = "10px sans-serif";
  ctx.textAlign = "left";
  ctx.textBaseline = "middle";
  ctx.fillText(formatNumber(bound), x + 12, top + 3);
  ctx.fillText(formatNumber(low), x + 12, bottom - 3);
  if (lim.symmetric) ctx.fillText("0", x + 12, (top + bottom) / 2);
  ctx.save();
  ctx.fillStyle = MUTED;
  ctx.translate(x + GLASS_BAR_W - 16, (top + bottom) / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.textAlign = "center";
  const unit = unitOf(state.data.meta);
  ctx.fillText(unit.length > 30 ? unit.slice(0, 29) + "…" : unit, 0, 0);
  ctx.restore();
  ctx.setTransform(1, 0, 0, 1, 0, 0);
}

// Text is set only when it changes: each change costs the page a layout.
function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function drawClock() {
  const meta = state.data.meta;
  player.shown(state.frame);
  setText(ui.clock, "t = " + meta.times_s[state.frame].toFixed(1) + " s  (" + (state.frame + 1) + " / " + meta.n_frames + ")");
  if (ui.time.value !== String(state.frame)) ui.time.value = String(state.frame);
  root.dataset.frame = String(state.frame);
  if (state.notifiedFrame !== state.frame) {  // the analysis panels follow the slider
    state.notifiedFrame = state.frame;
    for (const listener of state.frameListeners) listener(state.frame);
  }
  const lim = limits();
  setText(ui.thrValue, rgbShown() ? "≥ " + ui.thr.value + "% of full" :
    (lim.symmetric ? "|v| ≥ " : "v ≥ ") + formatNumber(lim.threshold));
}

function drawAll() {
  state.drawQueued = false;
  drawBrain();
  if (!state.data) return;
  drawClock();
  drawGlass();
  if (state.data.meta.map) drawHistogram(); else drawRoiLines();
  drawPick();
}

function requestDraw() {
  if (state.drawQueued) return;
  state.drawQueued = true;
  requestAnimationFrame(drawAll);
}

// ---------- time ----------
function setFrame(frame) {
  if (!state.data) return;
  const n = state.data.meta.n_frames;
  state.frame = Math.max(0, Math.min(n - 1, Math.round(frame)));
  requestDraw();
}

function tick(now) {
  if (!state.playing || !state.data) return;
  const stepMs = 1000 * state.data.meta.tr_s / Number(ui.speed.value);
  if (now - state.lastStep >= stepMs) {
    state.lastStep = now;
    setFrame((state.frame + 1) % state.data.meta.n_frames);
  }
  requestAnimationFrame(tick);
}

// The play button's label (the stimulus player calls it too: while its media plays, the media drives the frames).
function showPlaying(playing) {
  ui.play.textContent = playing ? "❚❚" : "▶";
  ui.play.setAttribute("aria-label", playing ? "Pause" : "Play");
}

function setPlaying(playing) {
  state.playing = playing && !!state.data;
  showPlaying(state.playing);
  if (state.playing) { state.lastStep = performance.now(); requestAnimationFrame(tick); }
}

// ---------- picking: a ray through the clicked pixel against the pane's triangles ----------
function pickAt(clientX, clientY) {
  if (!state.geometry || !state.data) return -1;
  const rect = glCanvas.getBoundingClientRect();
  const fx = (clientX - rect.left - glCanvas.clientLeft) / glCanvas.clientWidth;
  const fy = (clientY - rect.top - glCanvas.clientTop) / glCanvas.clientHeight;
  if (fx < 0 || fx >= 1 || fy < 0 || fy >= 1) return -1;
  const paneIndex = Math.floor(fx * state.panes.length);
  const pane = state.panes[paneIndex];
  const ndcX = (fx * state.panes.length - paneIndex) * 2 - 1, ndcY = 1 - 2 * fy;
  const r = paneRotation(pane);
  const vx = ndcX * pane.halfWidth / state.zoom, vy = ndcY * pane.halfHeight / state.zoom;
  const origin = [0, 1, 2].map((k) => pane.centre[k] + vx * r[0][k] + vy * r[1][k] + 2 * pane.depth * r[2][k]);
  const dir = [-r[2][0], -r[2][1], -r[2][2]];
  const positions = state.geometry.positions[ui.surface.value], faces = state.geometry.arrays.faces;
  let best = Infinity, bestFace = -1, bestU = 0, bestV = 0;
  const [first, count] = pane.range;
  for (let f = first; f < first + count; f++) {
    const a = 3 * faces[3 * f], b = 3 * faces[3 * f + 1], c = 3 * faces[3 * f + 2];
    const e1x = positions[b] - positions[a], e1y = positions[b + 1] - positions[a + 1], e1z = positions[b + 2] - positions[a + 2];
    const e2x = positions[c] - positions[a], e2y = positions[c + 1] - positions[a + 1], e2z = positions[c + 2] - positions[a + 2];
    const px = dir[1] * e2z - dir[2] * e2y, py = dir[2] * e2x - dir[0] * e2z, pz = dir[0] * e2y - dir[1] * e2x;
    const det = e1x * px + e1y * py + e1z * pz;
    if (det < 1e-12) continue;  // back-facing (culled when drawn) or edge-on
    const tx = origin[0] - positions[a], ty = origin[1] - positions[a + 1], tz = origin[2] - positions[a + 2];
    const u = (tx * px + ty * py + tz * pz) / det;
    if (u < 0 || u > 1) continue;
    const qx = ty * e1z - tz * e1y, qy = tz * e1x - tx * e1z, qz = tx * e1y - ty * e1x;
    const v = (dir[0] * qx + dir[1] * qy + dir[2] * qz) / det;
    if (v < 0 || u + v > 1) continue;
    const t = (e2x * qx + e2y * qy + e2z * qz) / det;
    if (t > 0 && t < best) { best = t; bestFace = f; bestU = u; bestV = v; }
  }
  if (bestFace < 0) return -1;
  const weights = [1 - bestU - bestV, bestU, bestV];
  const corner = weights.indexOf(Math.max(...weights));
  return faces[3 * bestFace + corner];
}

function showPick(vertex) {
  state.picked = vertex;
  if (vertex < 0) {
    ui.pickWhat.textContent = "(nothing under the pointer: click the brain)";
  } else {
    const meta = state.data.meta, geometry = state.geometry.meta;
    const region = state.data.arrays.region[vertex];
    const hemi = vertex < geometry.n_lh ? "left" : "right";
    const described = region >= 0 && meta.region_descriptions ? meta.region_descriptions[region] : "";
    const name = region >= 0 ? meta.region_names[region] + (described ? " (" + described + ")" : "") : "medial wall";
    const value = valueAt(state.frame, vertex);
    ui.pickWhat.textContent = "vertex " + vertex + " (" + hemi + "), " + meta.region_kind + " " + name +
      (!Number.isFinite(value) ? ": not in the selection" : meta.map ? ": " + meta.map.label + " = " + formatNumber(value) : "");
  }
  root.dataset.picked = String(vertex);
  requestDraw();
}

// ---------- loading a prediction ----------
function glassBound(data) {
  const glass = data.meta.glass, bytes = data.arrays.glass;
  let bound = 0;
  for (const byte of bytes) if (byte !== NO_VALUE) bound = Math.max(bound, Math.abs(glass.offset + byte * glass.scale));
  return bound || 1;
}

async function load(raw) {
  const loadId = ++state.loadId;
  let value;
  try { value = raw ? JSON.parse(raw) : {}; } catch (error) { value = {}; }
  if (!value.payload) {
    if (!state.data) say(value.message || "Run a prediction, or pick an example: the brain appears here.", "empty");
    return;
  }
  setPlaying(false);
  if (player.media) player.media.pause();
  say("Loading the prediction…", "loading");
  try {
    const [geometry, data] = await Promise.all([geometryFor(value.geometry), fetchPayload(value.payload)]);
    if (loadId !== state.loadId) return;  // a newer prediction arrived meanwhile
    if (state.geometry !== geometry) uploadGeometry(geometry);
    state.colorKey = state.colorTableKey = "";
    state.data = data;
    state.frame = 0;
    state.picked = -1;
    state.glassBound = glassBound(data);
    fitCanvas(ui.glass);
    state.glass = glassLayout();
    state.glassPoints = glassPoints();
    ui.time.max = String(data.meta.n_frames - 1);
    ui.title.textContent = value.title || data.meta.model_id;
    state.predictionId = value.prediction_id || "";
    state.notifiedFrame = -1;
    showLayerChoice();
    const map = data.meta.map;  // a one-frame map (an r map), shown with a histogram instead of ROI time series
    root.dataset.kind = map ? "map" : "series";
    ui.axisNote.textContent = map ? map.what + "." :
      "Time axis: " + data.meta.time_label + ". TR " + data.meta.tr_s + " s, " + data.meta.n_frames + " steps.";
    ui.glassWhat.textContent = "— " + data.meta.glass.what;
    ui.linesTitle.textContent = map ? "Histogram of " + map.label : "ROI time series";
    ui.linesWhat.textContent = "— " + (map ? map.histogram.what : data.meta.roi_lines.what);
    ui.outlineLabel.style.display = data.meta.whole_space ? "none" : "";
    showLinesKey(data.meta);
    root.dataset.unit = unitOf(data.meta);
    ui.pickWhat.textContent = "(click the brain)";
    root.dataset.picked = "-1";
    player.load(value.player || null, data.meta);
    layout();
    say("", "ready");
    drawAll();
  } catch (error) {
    console.error(error);
    if (loadId === state.loadId) say("The viewer could not load this prediction: " + error.message, "error");
  }
}

// What the region codes of the ROI lines mean (their full names, or network and hemisphere).
function showLinesKey(meta) {
  ui.linesKey.replaceChildren();
  if (meta.map || !meta.region_descriptions) return;
  const described = new Map(meta.region_names.map((name, i) => [name, meta.region_descriptions[i]]));
  for (const line of meta.roi_lines.names) {
    for (const code of line.split(" = ")) {
      const words = described.get(code);
      if (!words || words === code) continue;
      const row = document.createElement("div"), b = document.createElement("b");
      b.textContent = code;
      row.append(b, ": " + words);
      ui.linesKey.appendChild(row);
    }
  }
}

// The layer picker shows when a layer fits the prediction on screen.
function showLayerChoice() {
  const layer = state.rgbLayer, data = state.data;
  const fits = !!layer && !!data && layer.predictionId === state.predictionId && !data.meta.map;
  ui.layerLabel.hidden = !fits;
  root.dataset.layer = rgbShown() ? "attribution" : "prediction";
}

// ---------- events ----------
// The stimulus player (static/player.js): its media, when there is one, plays the frames.
const player = makeNforgePlayer(root, { setFrame, playing: showPlaying });
function userFrame(frame) {  // a frame the user asked for: the media goes there too
  setFrame(frame);
  player.seek(state.frame);
}
ui.time.addEventListener("input", () => userFrame(Number(ui.time.value)));
ui.play.addEventListener("click", () => {
  if (player.hasMedia()) player.toggle(Number(ui.speed.value)); else setPlaying(!state.playing);
});
ui.speed.addEventListener("change", () => player.setRate(Number(ui.speed.value)));
for (const select of [ui.surface, ui.hemi]) select.addEventListener("change", () => { layout(); requestDraw(); });
for (const control of [ui.cmap, ui.thr, ui.outline]) control.addEventListener("input", requestDraw);
ui.layer.addEventListener("change", () => { showLayerChoice(); requestDraw(); });
ui.cmap.addEventListener("change", requestDraw);
root.querySelectorAll(".nfv-views button").forEach((button) => {
  button.addEventListener("click", () => {
    state.view = button.dataset.view;
    state.user = identity3();
    state.zoom = 1;
    root.querySelectorAll(".nfv-views button").forEach((b) => b.classList.toggle("nfv-on", b === button));
    layout();
    requestDraw();
  });
});

let drag = null;
glCanvas.addEventListener("pointerdown", (event) => {
  drag = { x: event.clientX, y: event.clientY, startX: event.clientX, startY: event.clientY };
  glCanvas.setPointerCapture(event.pointerId);
});
// Hovering names the region under the pointer (its code in words), at most every HOVER_MS.
const HOVER_MS = 80;
let hoverAt = 0;
function showHover(event) {
  if (!state.data || event.timeStamp - hoverAt < HOVER_MS) return;
  hoverAt = event.timeStamp;
  const vertex = pickAt(event.clientX, event.clientY);
  const region = vertex < 0 ? -1 : state.data.arrays.region[vertex];
  if (region < 0) { ui.hover.hidden = true; return; }
  const meta = state.data.meta, described = meta.region_descriptions ? meta.region_descriptions[region] : "";
  const value = valueAt(state.frame, vertex);
  ui.hover.textContent = meta.region_names[region] + (described ? " — " + described : "") +
    (Number.isFinite(value) ? " · " + formatNumber(value) : "");
  const box = ui.orient.getBoundingClientRect();
  ui.hover.style.left = Math.min(event.clientX - box.left + 14, box.width - 10) + "px";
  ui.hover.style.top = (event.clientY - box.top + 14) + "px";
  ui.hover.hidden = false;
}
glCanvas.addEventListener("pointerleave", () => { ui.hover.hidden = true; });
glCanvas.addEventListener("pointermove", (event) => {
  if (!drag) { showHover(event); return; }
  ui.hover.hidden = true;
  const dx = event.clientX - drag.x, dy = event.clientY - drag.y;
  drag.x = event.clientX; drag.y = event.clientY;
  if (Math.abs(event.clientX - drag.startX) + Math.abs(event.clientY - drag.startY) < 4) return;
  state.user = mul3(mul3(rotX(-dy * 0.01), rotY(dx * 0.01)), state.user);
  requestDraw();
});
glCanvas.addEventListener("pointerup", (event) => {
  if (drag && Math.abs(event.clientX - drag.startX) + Math.abs(event.clientY - drag.startY) < 4) {
    showPick(pickAt(event.clientX, event.clientY));
  }
  drag = null;
});
glCanvas.addEventListener("wheel", (event) => {
  event.preventDefault();
  state.zoom = Math.max(0.5, Math.min(8, state.zoom * Math.exp(-event.deltaY * 0.0015)));
  requestDraw();
}, { passive: false });
glCanvas.addEventListener("keydown", (event) => {
  if (event.key === "ArrowRight") userFrame(state.frame + 1);
  else if (event.key === "ArrowLeft") userFrame(state.frame - 1);
  else if (event.key === " ") { event.preventDefault(); ui.play.click(); }
});

new ResizeObserver(() => {
  const resized = [glCanvas, ui.lines, ui.pick].map(fitCanvas).some(Boolean);
  if (fitCanvas(ui.glass) && state.data) {
    state.glass = glassLayout();
    state.glassPoints = glassPoints();
  }
  if (resized || state.data) { layout(); requestDraw(); }
}).observe(root);

// Hooks for tests and benchmarks (window.nforgeViewer).
const api = {
  get state() { return root.dataset.state; },
  get frame() { return state.frame; },
  get nFrames() { return state.data ? state.data.meta.n_frames : 0; },
  setFrame,
  get player() { return player; },
  // Change to `frame`, draw everything now and wait for the pixels (reading one back forces the GPU to
  // finish): the cost of one scrubbing step, in ms.
  drawFrameTimed(frame) {
    const start = performance.now();
    state.frame = frame;
    drawAll();
    gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array(4));
    return performance.now() - start;
  },
  pickAt(clientX, clientY) { const vertex = pickAt(clientX, clientY); showPick(vertex); return vertex; },
  get predictionId() { return state.predictionId; },
  get times() { return state.data ? state.data.meta.times_s : []; },
  get timeAxis() { return state.data ? state.data.meta.time_axis : ""; },
  userFrame,
  // The analysis panels (static/panels.js): listener(frame) after each change of the frame shown.
  onFrame(listener) { state.frameListeners.push(listener); },
  // The modality-attribution layer: {predictionId, key, nFrames, nVertices, rgb (T*V*3 bytes), selected (V),
  // cornerNames, cornerChannels, bound}; shown at once when it fits the prediction on screen.
  setLayer(layer) {
    const same = state.rgbLayer && layer && state.rgbLayer.key === layer.key;
    state.rgbLayer = layer;
    if (!same && layer && layer.predictionId === state.predictionId) ui.layer.value = "attribution";
    showLayerChoice();
    requestDraw();
  },
  // Show another prediction: {geometry, payload, title} as the server sends them.
  load(value) { return load(JSON.stringify(value)); },
};
element.nforgeViewer = api;
window.nforgeViewer = api;

load(props.value);
watch("value", () => load(props.value));
