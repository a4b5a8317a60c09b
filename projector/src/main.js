// The embspace web projector: a WebGL map of a space or a collection, wired to the server's index. Every
// question (neighbours, search, analogy) is answered by the server's search, never by distances on the map;
// answers come back with their map rows so they can be drawn.
//
// Drawing: all points are one WebGL draw call (regl), repeated only when the view, the colours or a large
// selection change. Hover, click answers, neighbour lines and the lasso live on a 2-D overlay canvas, and
// picking is a KDBush query, so interacting never redraws the million points (which software-rendered WebGL,
// as in headless or GPU-less browsers, takes a long time to do).
import createREGL from 'regl';
import KDBush from 'kdbush';

// The colour of marks (search and analogy hits, a click's neighbours, the lasso selection, the neighbour
// lines) is reserved: no categorical colour and no step of the numeric ramp comes near it (RGB distance at
// least 100; the browser tests check it), so a hit never looks like a legend entry. No yellow or amber in
// the palette, a blue-grey-red ramp.
const MARK = '#ffd32a';
const PALETTE = ['#4cc2ff', '#ff6b81', '#2ed573', '#a29bfe', '#e056fd', '#00cec9', '#e84118', '#f8a5c2',
  '#98df8a', '#1289a7', '#6c5ce7', '#b53471', '#aec7e8', '#c49c94', '#44bd32', '#0097e6'];
const RAMP = ['#3b4cc0', '#5977e3', '#7b9ff9', '#9ebeff', '#c0d4f5', '#dddcdc', '#f2cbb7', '#f7ac8e', '#ee8468',
  '#d65244', '#b40426'];
const BASE = '#7f8fa6';
// The map opens coloured by the first categorical field with this many values at most (one colour each).
const MAX_OPENING_CATEGORIES = PALETTE.length;
const $ = (id) => document.getElementById(id);

// What the browser tests read: readiness, sizes and measured round trips (ms).
// hoverMs / clickMs: from the pointer event to the frame painted with the answer (two animation frames later).
// colours: the reserved mark colour, the categorical palette and the 256 steps of the numeric ramp.
// axes: what the points are placed by — null for the map, else POST .../axes's description (X-Axes).
const metrics = { ready: false, n: 0, loadMs: null, hoverMs: [], clickMs: [], searchMs: [], errors: [], lines: 0,
  flights: 0, highlighted: 0, colours: null, axes: null };
window.__projector = metrics;

// -- the API ---------------------------------------------------------------------------------------
const params = new URLSearchParams(location.search);
const hash = new URLSearchParams(location.hash.slice(1));
if (hash.get('key')) {
  sessionStorage.setItem('embspace-key', hash.get('key'));
  history.replaceState(null, '', location.pathname + location.search);
}

async function api(path, { body, binary = false } = {}) {
  const headers = {};
  const key = sessionStorage.getItem('embspace-key');
  if (key) headers['X-API-Key'] = key;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, { method: body === undefined ? 'GET' : 'POST', headers,
    body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status === 401) {
    const given = prompt('This server needs its API key:');
    if (given) { sessionStorage.setItem('embspace-key', given); return api(path, { body, binary }); }
  }
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    try { message = (await res.json()).error.message; } catch (e) { /* not JSON */ }
    throw new Error(message);
  }
  return binary ? res : res.json();
}

function status(text, error = false) {
  const el = $('status');
  el.textContent = text;
  el.classList.toggle('error', error);
  if (error) metrics.errors.push(text);
}

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;',
  "'": '&#39;' })[c]);

// -- state -----------------------------------------------------------------------------------------
let source = null; // {source, name}
let base = '';
let info = null;
let n = 0;
let X = null; let Y = null; // map positions, normalised to [-1, 1]
let tree = null; // KDBush over (X, Y)
let selection = []; // lasso selection (rows)
let marked = []; // highlighted rows (search, analogy, neighbours)
let clicked = null;
let hovered = -1;
let lines = []; // [from, to] rows
let lasso = null; // [[x, y]] screen points while drawing
const view = { cx: 0, cy: 0, zoom: 1 };
const labels = new Map(); // row -> point description (hover labels, cached)
let canvas; let overlay; let ctx; let regl; let drawPoints; let drawMarked;
let buffers = {};
let W = 1; let H = 1; let dpr = 1;
let colourMode = 0; // 0 plain, 1 categories, 2 scale
let pointSize = 4;
let redrawQueued = false;
let axes = null; // the two concept axes the points are placed by (null: the map)
let mapXY = null; // the map's own positions, kept while the points are on concept axes

// -- geometry ----------------------------------------------------------------------------------------
const k = () => view.zoom * Math.min(W, H) / 2; // pixels per map unit
const toScreen = (x, y) => [W / 2 + (x - view.cx) * k(), H / 2 - (y - view.cy) * k()];
const toMap = (px, py) => [view.cx + (px - W / 2) / k(), view.cy - (py - H / 2) / k()];

function pick(px, py, radius = 6) {
  const [x, y] = toMap(px, py);
  const r = radius / k();
  let best = -1; let bestD = r * r;
  for (const i of tree.within(x, y, r)) {
    const d = (X[i] - x) ** 2 + (Y[i] - y) ** 2;
    if (d <= bestD) { bestD = d; best = i; }
  }
  return best;
}

function insidePolygon(x, y, poly) {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i]; const [xj, yj] = poly[j];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function normalise(coords, width) {
  const n = coords.length / width;
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (let i = 0; i < n; i++) {
    const x = coords[i * width]; const y = coords[i * width + 1];
    if (x < x0) x0 = x; if (x > x1) x1 = x; if (y < y0) y0 = y; if (y > y1) y1 = y;
  }
  const half = Math.max(x1 - x0, y1 - y0, 1e-12) / 2 * 1.05;
  const cx = (x0 + x1) / 2; const cy = (y0 + y1) / 2;
  const x = new Float32Array(n); const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    x[i] = (coords[i * width] - cx) / half;
    y[i] = (coords[i * width + 1] - cy) / half;
  }
  return { x, y };
}

// Concept axes: each axis to [-1, 1] on its own (two directions' projections, each on its own scale; the order
// of the points along an axis is their projection order).
function normaliseEach(coords) {
  const n = coords.length / 2;
  const out = [new Float32Array(n), new Float32Array(n)];
  for (let j = 0; j < 2; j++) {
    let lo = Infinity; let hi = -Infinity;
    for (let i = 0; i < n; i++) { const v = coords[2 * i + j]; if (v < lo) lo = v; if (v > hi) hi = v; }
    const half = Math.max(hi - lo, 1e-12) / 2 * 1.05; const c = (lo + hi) / 2;
    for (let i = 0; i < n; i++) out[j][i] = (coords[2 * i + j] - c) / half;
  }
  return { x: out[0], y: out[1] };
}

function buildTree() {
  tree = new KDBush(n, 64, Float32Array);
  for (let i = 0; i < n; i++) tree.add(X[i], Y[i]);
  tree.finish();
}

// -- drawing -----------------------------------------------------------------------------------------
function hexRgb(h) { return [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)); }
const rgbHex = (rgb) => `#${rgb.map((v) => v.toString(16).padStart(2, '0')).join('')}`;
const markRgba = (alpha) => `rgba(${hexRgb(MARK).join(', ')}, ${alpha})`;

function paletteTexture(mode) {
  const data = new Uint8Array(256 * 4);
  for (let i = 0; i < 256; i++) {
    let rgb;
    if (mode === 1) rgb = hexRgb(PALETTE[i % PALETTE.length]);
    else if (mode === 2) {
      const t = (i / 255) * (RAMP.length - 1); const a = Math.floor(t); const b = Math.min(a + 1, RAMP.length - 1);
      const [ra, rb] = [hexRgb(RAMP[a]), hexRgb(RAMP[b])];
      rgb = ra.map((v, j) => Math.round(v + (rb[j] - v) * (t - a)));
    } else rgb = hexRgb(BASE);
    data.set([...rgb, 255], i * 4);
  }
  return data;
}

function setupGl() {
  regl = createREGL({ canvas, extensions: ['OES_element_index_uint'],
    attributes: { antialias: false, preserveDrawingBuffer: true, alpha: false } });
  buffers.pos = regl.buffer({ usage: 'static', type: 'float', data: interleave() });
  buffers.val = regl.buffer({ usage: 'dynamic', type: 'float', data: new Float32Array(n) });
  buffers.marked = regl.elements({ usage: 'dynamic', type: 'uint32', primitive: 'points', data: new Uint32Array(0) });
  buffers.palette = regl.texture({ width: 256, height: 1, data: paletteTexture(0) });
  const round = n <= 200000;
  const shared = {
    vert: `precision mediump float;
      attribute vec2 pos; attribute float val;
      uniform vec2 scale, offset; uniform float size, mode;
      varying float v;
      void main() {
        gl_Position = vec4(pos * scale + offset, 0.0, 1.0);
        gl_PointSize = size;
        v = mode > 1.5 ? floor(clamp(val, 0.0, 1.0) * 255.0) : mod(val, 256.0);
      }`,
    frag: `precision mediump float;
      uniform sampler2D palette; uniform vec4 solid; uniform float useSolid;
      varying float v;
      void main() {
        ${round ? 'vec2 c = gl_PointCoord - 0.5; if (dot(c, c) > 0.25) discard;' : ''}
        gl_FragColor = useSolid > 0.5 ? solid : vec4(texture2D(palette, vec2((v + 0.5) / 256.0, 0.5)).rgb, 1.0);
      }`,
    attributes: { pos: buffers.pos, val: buffers.val },
    uniforms: {
      scale: () => [2 * k() / W, 2 * k() / H], offset: () => [-view.cx * 2 * k() / W, -view.cy * 2 * k() / H],
      mode: () => colourMode, palette: buffers.palette,
    },
    depth: { enable: false },
  };
  drawPoints = regl({ ...shared, primitive: 'points', count: n,
    uniforms: { ...shared.uniforms, size: () => pointSize * dpr, solid: [0, 0, 0, 0], useSolid: 0 } });
  drawMarked = regl({ ...shared, elements: buffers.marked,
    uniforms: { ...shared.uniforms, size: () => (pointSize + 3) * dpr, solid: [...hexRgb(MARK).map((v) => v / 255), 1],
      useSolid: 1 } });
}

function interleave() {
  const a = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) { a[2 * i] = X[i]; a[2 * i + 1] = Y[i]; }
  return a;
}

function redraw() {
  if (redrawQueued) return;
  redrawQueued = true;
  requestAnimationFrame(() => {
    redrawQueued = false;
    regl.poll();
    regl.clear({ color: [0.063, 0.075, 0.102, 1] });
    drawPoints();
    if (selection.length) drawMarked();
    drawOverlay();
  });
}

function ring(row, colour, radius) {
  const [px, py] = toScreen(X[row], Y[row]);
  ctx.beginPath();
  ctx.arc(px, py, radius, 0, 2 * Math.PI);
  ctx.strokeStyle = colour;
  ctx.lineWidth = 2;
  ctx.stroke();
}

function drawOverlay() {
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, W, H);
  ctx.lineWidth = 1.5;
  ctx.strokeStyle = markRgba(0.9);
  for (const [a, b] of lines) {
    const [x0, y0] = toScreen(X[a], Y[a]); const [x1, y1] = toScreen(X[b], Y[b]);
    ctx.beginPath(); ctx.moveTo(x0, y0); ctx.lineTo(x1, y1); ctx.stroke();
  }
  ctx.fillStyle = MARK; // the reserved mark colour, outlined in the background's so it stands off its neighbours
  ctx.strokeStyle = '#10131a';
  for (const r of marked) {
    const [px, py] = toScreen(X[r], Y[r]);
    ctx.beginPath(); ctx.arc(px, py, pointSize / 2 + 2.5, 0, 2 * Math.PI); ctx.fill(); ctx.stroke();
  }
  if (clicked !== null) ring(clicked, '#ffffff', pointSize / 2 + 6);
  if (hovered >= 0) ring(hovered, '#4cc2ff', pointSize / 2 + 5);
  if (axes) axisLabels();
  if (lasso && lasso.length > 1) {
    ctx.beginPath();
    ctx.moveTo(...lasso[0]);
    for (const p of lasso.slice(1)) ctx.lineTo(...p);
    ctx.closePath();
    ctx.fillStyle = 'rgba(76, 194, 255, 0.12)';
    ctx.fill();
    ctx.strokeStyle = '#4cc2ff';
    ctx.stroke();
  }
}

// The concept axes' labels at the stage's edges: x from its low end (left) to its high end (right) along the
// bottom, y from its low end (bottom) to its high end (top) along the left edge.
function axisLabels() {
  const cut = (s) => (s.length > 40 ? `${s.slice(0, 39)}…` : s);
  const text = (t, x, y, colour) => { // outlined in the background's colour, to read over points
    ctx.strokeStyle = '#10131a'; ctx.lineWidth = 4; ctx.lineJoin = 'round';
    ctx.strokeText(t, x, y);
    ctx.fillStyle = colour; ctx.fillText(t, x, y);
  };
  ctx.save();
  ctx.font = '600 13px system-ui, sans-serif';
  const yb = H - 30; // above the status line
  ctx.strokeStyle = 'rgba(230, 233, 239, 0.35)';
  ctx.lineWidth = 1;
  ctx.beginPath(); ctx.moveTo(24, yb + 6); ctx.lineTo(W - 12, yb + 6); ctx.stroke(); // the x axis
  ctx.beginPath(); ctx.moveTo(18, yb); ctx.lineTo(18, 12); ctx.stroke(); // the y axis
  ctx.textBaseline = 'bottom';
  ctx.textAlign = 'left';
  if (axes.x.low) text(`← ${cut(axes.x.low)}`, 28, yb, '#e6e9ef');
  ctx.textAlign = 'right';
  text(`${cut(axes.x.high)} →`, W - 12, yb, '#e6e9ef');
  ctx.textAlign = 'center';
  text(`x: ${cut(axes.x.name)}`, W / 2, yb, '#8b93a7');
  ctx.translate(14, 0);
  ctx.rotate(-Math.PI / 2);
  ctx.textBaseline = 'top';
  ctx.textAlign = 'left';
  if (axes.y.low) text(`← ${cut(axes.y.low)}`, -(yb - 4), 0, '#e6e9ef');
  ctx.textAlign = 'right';
  text(`${cut(axes.y.high)} →`, -12, 0, '#e6e9ef');
  ctx.textAlign = 'center';
  text(`y: ${cut(axes.y.name)}`, -H / 2, 0, '#8b93a7');
  ctx.restore();
}

function resize() {
  const box = $('stage').getBoundingClientRect();
  dpr = window.devicePixelRatio || 1;
  W = Math.max(1, box.width); H = Math.max(1, box.height);
  for (const c of [canvas, overlay]) {
    c.width = Math.round(W * dpr); c.height = Math.round(H * dpr);
    c.style.width = `${W}px`; c.style.height = `${H}px`;
  }
  if (regl) redraw();
}

function fly(rows) {
  const on = rows.filter((r) => r >= 0);
  if (!on.length) return;
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (const r of on) { x0 = Math.min(x0, X[r]); x1 = Math.max(x1, X[r]); y0 = Math.min(y0, Y[r]); y1 = Math.max(y1, Y[r]); }
  const span = Math.max(x1 - x0, y1 - y0, 0.02) * 1.6;
  const target = { cx: (x0 + x1) / 2, cy: (y0 + y1) / 2, zoom: Math.min(2 / span, 2000) };
  const from = { ...view }; const t0 = performance.now();
  metrics.flights += 1;
  const step = () => {
    const t = Math.min(1, (performance.now() - t0) / 400); const e = t < 0.5 ? 2 * t * t : 1 - (-2 * t + 2) ** 2 / 2;
    view.cx = from.cx + (target.cx - from.cx) * e; view.cy = from.cy + (target.cy - from.cy) * e;
    view.zoom = Math.exp(Math.log(from.zoom) + (Math.log(target.zoom) - Math.log(from.zoom)) * e);
    redraw();
    if (t < 1) requestAnimationFrame(step);
  };
  requestAnimationFrame(step);
}

const painted = (t0, list) => requestAnimationFrame(() => requestAnimationFrame(() => list.push(performance.now() - t0)));

function highlight(rows, { fly: go = false } = {}) {
  marked = rows.filter((r) => r >= 0);
  metrics.highlighted = marked.length;
  drawOverlay();
  if (go) fly(marked);
}

function hitList(el, hits, { onPick } = {}) {
  el.innerHTML = '';
  for (const h of hits) {
    const li = document.createElement('li');
    li.innerHTML = `<span class="key">${esc(h.key)}</span> <span class="score">${h.score.toFixed(3)}</span>` +
      (h.row < 0 ? ' <span class="off">(not on the map)</span>' : '');
    li.dataset.row = h.row;
    if (h.row >= 0 && onPick) li.addEventListener('click', () => onPick(h.row));
    el.appendChild(li);
  }
}

async function describe(rows) {
  const missing = rows.filter((r) => !labels.has(r));
  if (missing.length) {
    for (const p of await api(`${base}/points`, { body: { rows: missing } })) labels.set(p.row, p);
  }
  return rows.map((r) => labels.get(r));
}

// -- interactions ----------------------------------------------------------------------------------
async function onHover(row, t0) {
  hovered = row;
  drawOverlay();
  const tip = $('tooltip');
  const [p] = await describe([row]);
  if (hovered !== row) return; // the pointer moved on meanwhile
  const [px, py] = toScreen(X[row], Y[row]);
  tip.innerHTML = `<div class="key">${esc(p.key)}</div>` + (p.text ? `<div class="text">${esc(p.text)}</div>` : '');
  tip.style.left = `${Math.round(Math.min(px + 12, W - 200))}px`;
  tip.style.top = `${Math.round(py + 12)}px`;
  tip.hidden = false;
  tip.dataset.row = row;
  painted(t0, metrics.hoverMs);
}

function unhover() {
  if (hovered < 0) return;
  hovered = -1;
  $('tooltip').hidden = true;
  drawOverlay();
}

async function showPoint(row, t0 = performance.now()) {
  clicked = row;
  const [[p], res] = await Promise.all([describe([row]), api(`${base}/query`, { body: { row, k: 10 } })]);
  const meta = p.metadata ? Object.entries(p.metadata).map(([key, v]) => `${esc(key)}: ${esc(v)}`).join('<br>') : '';
  $('details').innerHTML = `<div class="key">${esc(p.key)}</div>` + (p.text ? `<div>${esc(p.text)}</div>` : '') +
    (meta ? `<div class="meta">${meta}</div>` : '');
  $('details').dataset.row = row;
  hitList($('neighbors'), res.hits, { onPick: (r) => showPoint(r) });
  lines = res.hits.filter((h) => h.row >= 0 && h.row !== row).map((h) => [row, h.row]);
  metrics.lines = lines.length;
  highlight([row, ...res.hits.map((h) => h.row)]);
  painted(t0, metrics.clickMs);
}

function clearPoint() {
  clicked = null; lines = []; metrics.lines = 0;
  highlight([]);
}

async function search(text) {
  const t0 = performance.now();
  try {
    const res = await api(`${base}/query`, { body: { text, k: 10 } });
    hitList($('search-results'), res.hits, { onPick: (r) => showPoint(r) });
    lines = []; clicked = null;
    highlight(res.hits.map((h) => h.row), { fly: true });
    status(`${res.hits.length} results for “${text}” (${res.query === 'key' ? 'a key' : 'encoded text'})`);
    metrics.searchMs.push(performance.now() - t0);
  } catch (e) { status(`search: ${e.message}`, true); }
}

async function analogy(a, b, c) {
  try {
    const res = await api(`${base}/query`, { body: { a: b, b: a, c, k: 10 } }); // a − b + c = (b → a) applied to c
    hitList($('analogy-results'), res.hits, { onPick: (r) => showPoint(r) });
    lines = []; clicked = null;
    highlight(res.hits.map((h) => h.row), { fly: true });
    status(`${a} − ${b} + ${c}: ${res.hits.length ? res.hits[0].key : 'no answer'}`);
  } catch (e) { status(`analogy: ${e.message}`, true); }
}

function legend(field) {
  const el = $('legend');
  if (!field) { el.innerHTML = ''; delete el.dataset.field; return; }
  if (field.type === 'categorical') {
    el.innerHTML = field.categories.map((c, i) => `<div class="item"><span class="swatch" style="background:` +
      `${PALETTE[i % PALETTE.length]}"></span>${esc(c)}</div>`).join('');
  } else {
    el.innerHTML = `<div class="ramp" style="background:linear-gradient(to right,${RAMP.join(',')})"></div>` +
      `<div class="item">${field.min?.toPrecision(3)} … ${field.max?.toPrecision(3)}</div>`;
  }
  el.dataset.field = field.name;
}

async function fetchField(name) {
  const res = await api(`${base}/fields/${encodeURIComponent(name)}`, { binary: true });
  return { type: res.headers.get('X-Field-Type'), buf: await res.arrayBuffer() };
}

async function colourBy(name, fetched = null) {
  $('color-by').value = name || '';
  if (!name) {
    colourMode = 0;
    buffers.palette.subimage(paletteTexture(0));
    legend(null);
    redraw();
    return;
  }
  status(`colouring by ${name}…`);
  try {
    const { type, buf } = fetched || await fetchField(name);
    if (type === 'categorical') {
      const field = (await api(base)).fields.find((f) => f.name === name); // categories known once computed
      buffers.val.subdata(Float32Array.from(new Int32Array(buf), (c) => c % PALETTE.length));
      colourMode = 1;
      legend(field);
    } else {
      const v = new Float32Array(buf);
      let lo = Infinity; let hi = -Infinity;
      for (const x of v) if (Number.isFinite(x)) { if (x < lo) lo = x; if (x > hi) hi = x; }
      const span = hi > lo ? hi - lo : 1;
      buffers.val.subdata(Float32Array.from(v, (x) => (Number.isFinite(x) ? (x - lo) / span : 0)));
      colourMode = 2;
      legend({ name, type: 'numeric', min: lo, max: hi });
    }
    buffers.palette.subimage(paletteTexture(colourMode));
    redraw();
    status(`coloured by ${name}`);
  } catch (e) { status(`colour: ${e.message}`, true); }
}

// The field the map opens coloured by: the page's ?colour=NAME (or ?color=; "none" for plain), else the
// first categorical field, in the order the server lists them (the fields saved with the map, then a
// collection's metadata fields by name), that has 2 to 16 values (one colour each: a field with a value per
// point, such as a title or a path, colours nothing). `cluster` is left out: it is a k-means computed on
// request, not the data's. None: plain.
async function openingColour() {
  const asked = params.get('colour') ?? params.get('color');
  if (asked !== null) return { name: asked === 'none' ? '' : asked, fetched: null };
  const candidates = info.fields.filter((f) => f.type === 'categorical' && f.name !== 'cluster' &&
    !(f.categories && (f.categories.length < 2 || f.categories.length > MAX_OPENING_CATEGORIES)));
  for (const f of candidates.slice(0, 4)) { // metadata fields are read on request: try a few at most
    if (f.categories) return { name: f.name, fetched: null };
    const fetched = await fetchField(f.name);
    let count = 0;
    for (const c of new Int32Array(fetched.buf)) if (c >= count) count = c + 1;
    if (fetched.type === 'categorical' && count >= 2 && count <= MAX_OPENING_CATEGORIES) return { name: f.name, fetched };
  }
  return { name: '', fetched: null };
}

// -- concept axes: POST .../axes places every point by its projections on two directions ----------------------
const examples = (s) => s.split(',').map((w) => w.trim()).filter(Boolean);

function place(x, y) {
  X = x; Y = y;
  buildTree();
  buffers.pos.subdata(interleave());
  view.cx = 0; view.cy = 0; view.zoom = 1;
  unhover();
  redraw();
}

function axisText(a) {
  const fig = (v) => (v === null || v === undefined ? '—' : v.toFixed(2));
  return `<div class="axis"><b>${a === axes.x ? 'x' : 'y'}</b> ${esc(a.name)} · held-out accuracy ${fig(a.reliability)}` +
    `, AUC ${fig(a.auc)}${a.encoded ? ' · encoded texts' : ''}` +
    (a.n_missing ? ` · <span class="missing">not keys: ${esc(a.missing.join(', '))}` +
      `${a.n_missing > a.missing.length ? ` (+${a.n_missing - a.missing.length})` : ''}</span>` : '') + '</div>';
}

async function placeOnAxes(x, y, method = 'mean') {
  status('placing the points on the concept axes…');
  try {
    const res = await api(`${base}/axes`, { body: { x, y, method }, binary: true });
    const described = JSON.parse(res.headers.get('X-Axes'));
    const coords = new Float32Array(await res.arrayBuffer());
    if (!mapXY) mapXY = { x: X, y: Y };
    axes = described;
    metrics.axes = described;
    const on = normaliseEach(coords);
    place(on.x, on.y);
    $('axes-info').innerHTML = axisText(axes.x) + axisText(axes.y) +
      (Math.abs(axes.cosine) > 0.5 ? `<div class="missing">the axes are aligned (cosine ${axes.cosine.toFixed(2)})</div>` : '');
    $('axes-map').disabled = false;
    status(`on concept axes: x ${axes.x.name}, y ${axes.y.name}`);
  } catch (e) { status(`axes: ${e.message}`, true); }
}

function backToMap() {
  if (!mapXY) return;
  axes = null; metrics.axes = null;
  place(mapXY.x, mapXY.y);
  mapXY = null;
  $('axes-info').innerHTML = '';
  $('axes-map').disabled = true;
  status('the map');
}

function axesFromForm() {
  const axis = (id) => ({ positive: examples($(`axis-${id}-pos`).value), negative: examples($(`axis-${id}-neg`).value) });
  const x = axis('x'); const y = axis('y');
  if (!x.positive.length || !y.positive.length) {
    status('axes: give each axis at least one example on its “to” side', true);
    return;
  }
  return placeOnAxes(x, y, $('axes-method').value);
}

function setSelection(rows) {
  selection = rows;
  buffers.marked({ primitive: 'points', type: 'uint32', data: Uint32Array.from(rows) });
  $('selection-count').textContent = `${rows.length.toLocaleString()} selected`;
  $('export').disabled = rows.length === 0;
  redraw();
}

async function exportSelection() {
  const keys = await api(`${base}/keys`, { body: { rows: selection } });
  const blob = new Blob([keys.join('\n') + '\n'], { type: 'text/plain' });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = `${source.name}-selection.txt`;
  document.body.appendChild(a);
  a.click();
  a.remove();
  status(`exported ${keys.length.toLocaleString()} ids`);
  return keys;
}

// -- the geometry panel: GET /spaces|collections/{name}/summary, as labelled, rounded figures ------------
const sig = (v, digits = 3) => (v === null || v === undefined || !Number.isFinite(v) ? '—'
  : Number.isInteger(v) ? v.toLocaleString('en') : v.toLocaleString('en', { maximumSignificantDigits: digits }));
const pct = (v) => (v === null || v === undefined ? '—' : `${(100 * v).toFixed(1)} %`);
const signed = (v) => (v === null || v === undefined ? '—' : `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(2)}`);

function summarySections(s) {
  const n = s.norms || {}; const a = s.anisotropy || {}; const d = s.intrinsic_dimension || {}; const h = s.hubness || {};
  const q = n.quantiles || {};
  const pairs = (list, f) => (list && list.length ? list.slice(0, 5).map(f).join(', ') : 'none');
  return [
    { title: 'Space', rows: [['points', sig(s.size)], ['dimensions', sig(s.dim)], ['metric', String(s.metric)]] },
    { title: 'Norms', vectors: n.vectors, reading: n.explanation, rows: [
      ['mean length', `${sig(n.mean)} ± ${sig(n.std, 2)}`], ['median length', sig(q.p50)],
      ['range', `${sig(n.min)} – ${sig(n.max)}`],
      ...(n.frequency_correlation !== null && n.frequency_correlation !== undefined
        ? [['length vs frequency', `${signed(n.frequency_correlation)} (Spearman)`]] : [])] },
    { title: 'Anisotropy', vectors: a.vectors, reading: a.explanation, rows: [
      ['mean cosine of random pairs', sig(a.mean_cosine)], ['isotropy I(W)', `${sig(a.isotropy, 2)} (1 = isotropic)`],
      ['variance in the 1st component', pct(a.top1_variance)], ['variance in the first 10', pct(a.top10_variance)],
      ['rogue dimensions', pairs(a.rogue_dimensions, ([dim, share]) => `${dim} (${pct(share)})`)]] },
    { title: 'Intrinsic dimension', vectors: d.vectors, reading: d.explanation, rows: [
      ['TwoNN', `${sig(d.twonn)} dimensions`], [`MLE (k = ${d.k})`, `${sig(d.mle)} dimensions`],
      ['PCA, 90 % of the variance', `${sig(d.pca90)} of ${sig(d.nominal)} components`],
      ['PCA, 95 % of the variance', `${sig(d.pca95)} of ${sig(d.nominal)} components`],
      ['measured on', `${sig(d.n)} points`]] },
    { title: `Hubness (k = ${h.k})`, vectors: h.vectors, reading: h.explanation, rows: [
      ['k-occurrence skewness', `${sig(h.skewness, 2)}${h.skewness > 1 ? ' (hubs)' : ' (even)'}`],
      ['anti-hubs (nobody\u2019s neighbour)', pct(h.antihub_share)], [`hubs (in over ${2 * h.k} lists)`, pct(h.hub_share)],
      ['top hubs', pairs(h.top_hubs, ([key, count]) => `${key} (${sig(count)})`)]] },
  ];
}

async function summary() {
  $('summary-go').disabled = true;
  status('measuring the geometry (a sample of up to 10,000 points)…');
  try {
    const s = await api(`/${source.source === 'space' ? 'spaces' : 'collections'}/${encodeURIComponent(source.name)}/summary`);
    $('summary').innerHTML = summarySections(s).map((sec) =>
      `<tr class="section"><th colspan="2">${esc(sec.title)}` +
      (sec.vectors ? ` <span class="vectors">${esc(sec.vectors)} vectors</span>` : '') + '</th></tr>' +
      sec.rows.map(([label, value]) => `<tr class="figure"><td>${esc(label)}</td><td>${esc(value)}</td></tr>`).join('') +
      (sec.reading ? `<tr class="reading"><td colspan="2">${esc(sec.reading)}</td></tr>` : '')).join('');
    status('geometry summary ready');
  } catch (e) { status(`summary: ${e.message}`, true); }
  $('summary-go').disabled = false;
}

function lassoMode() { return $('lasso-mode').getAttribute('aria-pressed') === 'true'; }

function wire() {
  let down = null; // {x, y, cx, cy, lasso}
  const local = (e) => { const r = canvas.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
  canvas.addEventListener('pointerdown', (e) => {
    const [px, py] = local(e);
    down = { x: px, y: py, cx: view.cx, cy: view.cy, t: performance.now(), lasso: lassoMode() || e.shiftKey };
    if (down.lasso) lasso = [[px, py]];
    canvas.setPointerCapture(e.pointerId);
  });
  canvas.addEventListener('pointermove', (e) => {
    const t0 = performance.now();
    const [px, py] = local(e);
    if (down) {
      if (down.lasso) { lasso.push([px, py]); drawOverlay(); return; }
      view.cx = down.cx - (px - down.x) / k(); view.cy = down.cy + (py - down.y) / k();
      unhover();
      redraw();
      return;
    }
    const row = pick(px, py);
    if (row < 0) unhover();
    else if (row !== hovered) onHover(row, t0).catch((err) => status(`hover: ${err.message}`, true));
  });
  canvas.addEventListener('pointerup', (e) => {
    const [px, py] = local(e);
    const was = down; down = null;
    if (!was) return;
    if (was.lasso) {
      const poly = lasso.map(([x, y]) => toMap(x, y)); lasso = null;
      if (poly.length >= 3) {
        let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
        for (const [x, y] of poly) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
        setSelection(tree.range(x0, y0, x1, y1).filter((i) => insidePolygon(X[i], Y[i], poly)));
        status(`${selection.length.toLocaleString()} points selected`);
      } else drawOverlay();
      return;
    }
    if (Math.abs(px - was.x) + Math.abs(py - was.y) > 4) return; // a pan, not a click
    const row = pick(px, py);
    if (row >= 0) showPoint(row, was.t).catch((err) => status(`neighbours: ${err.message}`, true));
    else clearPoint();
  });
  canvas.addEventListener('pointerleave', unhover);
  canvas.addEventListener('wheel', (e) => {
    e.preventDefault();
    const [px, py] = local(e);
    const [mx, my] = toMap(px, py);
    view.zoom = Math.min(Math.max(view.zoom * Math.exp(-e.deltaY * 0.0015), 0.2), 5000);
    const [nx, ny] = toMap(px, py);
    view.cx += mx - nx; view.cy += my - ny;
    unhover();
    redraw();
  }, { passive: false });
  window.addEventListener('keydown', (e) => { if (e.key === 'Escape') { clearPoint(); unhover(); } });
  window.addEventListener('resize', resize);

  $('search-form').addEventListener('submit', (e) => { e.preventDefault(); search($('search').value.trim()); });
  $('analogy-form').addEventListener('submit', (e) => {
    e.preventDefault();
    analogy($('analogy-a').value.trim(), $('analogy-b').value.trim(), $('analogy-c').value.trim());
  });
  $('color-by').addEventListener('change', (e) => colourBy(e.target.value));
  $('lasso-mode').addEventListener('click', () => {
    $('lasso-mode').setAttribute('aria-pressed', String(!lassoMode()));
  });
  $('clear-selection').addEventListener('click', () => setSelection([]));
  $('export').addEventListener('click', () => exportSelection().catch((e) => status(`export: ${e.message}`, true)));
  $('summary-go').addEventListener('click', summary);
  $('axes-form').addEventListener('submit', (e) => { e.preventDefault(); axesFromForm(); });
  $('axes-map').addEventListener('click', backToMap);
}

// -- start -----------------------------------------------------------------------------------------
async function main() {
  const t0 = performance.now();
  const maps = await api('/maps');
  const pick0 = params.get('space') ? { source: 'space', name: params.get('space') }
    : params.get('collection') ? { source: 'collection', name: params.get('collection') } : maps[0];
  const sel = $('source');
  for (const m of maps) {
    const o = document.createElement('option');
    o.value = `${m.source}:${m.name}`;
    o.textContent = `${m.name} (${m.source}, ${m.size.toLocaleString()})`;
    sel.appendChild(o);
  }
  sel.addEventListener('change', () => {
    const [kind, name] = sel.value.split(/:(.*)/s);
    location.search = `?${kind}=${encodeURIComponent(name)}`;
  });
  if (!pick0) { status('this server has no spaces or collections to show', true); return; }
  source = pick0;
  sel.value = `${source.source}:${source.name}`;
  base = `/maps/${source.source}/${encodeURIComponent(source.name)}`;
  status(`loading ${source.name}…`);
  info = await api(base);
  const res = await api(`${base}/coords`, { binary: true });
  const width = Number(res.headers.get('X-Components') || info.n_components);
  ({ x: X, y: Y } = normalise(new Float32Array(await res.arrayBuffer()), width));
  n = X.length;
  metrics.n = n;
  $('map-info').textContent = `${n.toLocaleString()} of ${info.total.toLocaleString()} points · ${info.method}` +
    `${info.saved ? '' : ' (computed now)'}${info.encoder ? ` · text search: ${info.encoder}` : ''}`;
  for (const f of info.fields) {
    const o = document.createElement('option');
    o.value = f.name;
    o.textContent = `${f.name}${f.type === 'numeric' ? ' (scale)' : ''}`;
    $('color-by').appendChild(o);
  }
  buildTree();
  pointSize = n > 500000 ? 1.5 : n > 50000 ? 2.5 : n > 5000 ? 4 : 7;
  canvas = $('canvas');
  overlay = $('overlay');
  ctx = overlay.getContext('2d');
  resize();
  setupGl();
  wire();
  // page coordinates of a map row (for the browser tests and for anyone scripting the page)
  metrics.screen = (row) => {
    const [px, py] = toScreen(X[row], Y[row]);
    const r = canvas.getBoundingClientRect();
    return [r.left + px, r.top + py];
  };
  const ramp = paletteTexture(2);
  metrics.colours = { mark: MARK, categorical: [...PALETTE],
    ramp: Array.from({ length: 256 }, (_, i) => rgbHex([...ramp.slice(4 * i, 4 * i + 3)])) };
  redraw(); // the map, plain, at once; then its opening colours
  const opening = await openingColour();
  if (opening.name) await colourBy(opening.name, opening.fetched);
  // ?x=man,he>woman,she&y=poor>rich[&method=pca]: open on those concept axes
  if (params.get('x') && params.get('y')) {
    for (const id of ['x', 'y']) {
      const [from, to] = params.get(id).includes('>') ? params.get(id).split('>') : ['', params.get(id)];
      $(`axis-${id}-neg`).value = from; $(`axis-${id}-pos`).value = to;
    }
    if (params.get('method')) $('axes-method').value = params.get('method');
    await axesFromForm();
  }
  await new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(ok)));
  metrics.loadMs = performance.now() - t0;
  metrics.ready = true;
  status(`${n.toLocaleString()} points in ${(metrics.loadMs / 1000).toFixed(1)} s` +
    `${opening.name ? ` · coloured by ${opening.name}` : ''} · hover a point, click it, search, or shift + drag to select`);
}

main().catch((e) => status(`could not load the map: ${e.message}`, true));
