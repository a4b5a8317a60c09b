// The embspace web projector: a WebGL map (regl-scatterplot) of a space or a collection, wired to the
// server's index. Every question (neighbours, search, analogy) is answered by the server's search, never by
// distances on the map; answers come back with their map rows so they can be drawn.
import createScatterplot from 'regl-scatterplot';

const PALETTE = ['#4cc2ff', '#ff9f43', '#2ed573', '#ff6b81', '#a29bfe', '#ffd32a', '#17c0eb', '#ff5e57',
  '#7bed9f', '#e056fd', '#f8a5c2', '#3ae374', '#c8d6e5', '#ffb142', '#70a1ff', '#cd84f1'];
const RAMP = ['#313695', '#4575b4', '#74add1', '#abd9e9', '#e0f3f8', '#fee090', '#fdae61', '#f46d43', '#d73027',
  '#a50026'];
const BASE = '#7f8fa6';
const $ = (id) => document.getElementById(id);

// What the browser tests read: readiness, sizes and measured round trips (ms).
// hoverMs / clickMs: from the pointer event to the frame painted with the answer (two animation frames later).
const metrics = { ready: false, n: 0, loadMs: null, hoverMs: [], clickMs: [], searchMs: [], errors: [], lines: 0,
  flights: 0, highlighted: 0 };
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
let scatter = null;
let points = null; // {x, y, z, w} column arrays in [-1, 1]
let spatialIndex;
let selection = [];
let clicked = null;
let lastMove = 0;
let lastDown = 0;
const labels = new Map(); // row -> point description (hover labels, cached)

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

// -- drawing ---------------------------------------------------------------------------------------
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
  return { x, y, z: new Float32Array(n), w: new Float32Array(n) };
}

const painted = (t0, list) => requestAnimationFrame(() => requestAnimationFrame(() => list.push(performance.now() - t0)));

function lines(from, rows) {
  const on = rows.filter((r) => r >= 0 && r !== from);
  metrics.lines = on.length;
  scatter.drawAnnotations(on.map((r) => ({
    vertices: [[points.x[from], points.y[from]], [points.x[r], points.y[r]]],
    lineColor: [1, 0.85, 0.2, 0.9], lineWidth: 2,
  })));
}

function highlight(rows, { fly = false } = {}) {
  const on = rows.filter((r) => r >= 0);
  scatter.select(on, { preventEvent: true });
  metrics.highlighted = on.length;
  if (fly && on.length) {
    scatter.zoomToPoints(on, { padding: 0.6, transition: true, transitionDuration: 400 });
    metrics.flights += 1;
  }
}

// -- interactions ----------------------------------------------------------------------------------
async function onHover(row) {
  const t0 = lastMove || performance.now();
  const tip = $('tooltip');
  const [p] = await describe([row]);
  const pos = scatter.getScreenPosition(row);
  tip.innerHTML = `<div class="key">${esc(p.key)}</div>` + (p.text ? `<div class="text">${esc(p.text)}</div>` : '');
  tip.style.left = `${Math.round(pos[0] + 12)}px`;
  tip.style.top = `${Math.round(pos[1] + 12)}px`;
  tip.hidden = false;
  tip.dataset.row = row;
  painted(t0, metrics.hoverMs);
}

async function showPoint(row, t0 = performance.now()) {
  clicked = row;
  const [[p], res] = await Promise.all([describe([row]), api(`${base}/query`, { body: { row, k: 10 } })]);
  const meta = p.metadata ? Object.entries(p.metadata).map(([k, v]) => `${esc(k)}: ${esc(v)}`).join('<br>') : '';
  $('details').innerHTML = `<div class="key">${esc(p.key)}</div>` + (p.text ? `<div>${esc(p.text)}</div>` : '') +
    (meta ? `<div class="meta">${meta}</div>` : '');
  $('details').dataset.row = row;
  hitList($('neighbors'), res.hits, { onPick: (r) => showPoint(r) });
  lines(row, res.hits.map((h) => h.row));
  highlight([row, ...res.hits.map((h) => h.row)]);
  painted(t0, metrics.clickMs);
}

async function search(text) {
  const t0 = performance.now();
  try {
    const res = await api(`${base}/query`, { body: { text, k: 10 } });
    hitList($('search-results'), res.hits, { onPick: (r) => showPoint(r) });
    scatter.clearAnnotations();
    highlight(res.hits.map((h) => h.row), { fly: true });
    status(`${res.hits.length} results for “${text}” (${res.query === 'key' ? 'a key' : 'encoded text'})`);
    metrics.searchMs.push(performance.now() - t0);
  } catch (e) { status(`search: ${e.message}`, true); }
}

async function analogy(a, b, c) {
  try {
    const res = await api(`${base}/query`, { body: { a: b, b: a, c, k: 10 } });
    hitList($('analogy-results'), res.hits, { onPick: (r) => showPoint(r) });
    highlight(res.hits.map((h) => h.row), { fly: true });
    status(`${a} − ${b} + ${c}: ${res.hits.length ? res.hits[0].key : 'no answer'}`);
  } catch (e) { status(`analogy: ${e.message}`, true); }
}

function legend(field, values) {
  const el = $('legend');
  if (!field) { el.innerHTML = ''; return; }
  if (field.type === 'categorical') {
    el.innerHTML = field.categories.map((c, i) => `<div class="item"><span class="swatch" style="background:` +
      `${PALETTE[i % PALETTE.length]}"></span>${esc(c)}</div>`).join('');
  } else {
    el.innerHTML = `<div class="ramp" style="background:linear-gradient(to right,${RAMP.join(',')})"></div>` +
      `<div class="item">${field.min?.toPrecision(3)} … ${field.max?.toPrecision(3)}</div>`;
  }
}

async function colourBy(name) {
  const field = info.fields.find((f) => f.name === name);
  const n = metrics.n;
  if (!field) {
    points.z = new Float32Array(n);
    scatter.set({ colorBy: null, pointColor: BASE });
    await scatter.draw(points, { spatialIndex, preventFilterReset: true });
    legend(null);
    return;
  }
  status(`colouring by ${name}…`);
  try {
    const res = await api(`${base}/fields/${encodeURIComponent(name)}`, { binary: true });
    const buf = await res.arrayBuffer();
    if (res.headers.get('X-Field-Type') === 'categorical') {
      const codes = new Int32Array(buf);
      const cats = info.fields.find((f) => f.name === name);
      if (!cats.categories) Object.assign(cats, (await api(base)).fields.find((f) => f.name === name));
      points.z = Float32Array.from(codes, (c) => c % PALETTE.length);
      scatter.set({ colorBy: 'valueA', pointColor: PALETTE });
      await scatter.draw(points, { spatialIndex, zDataType: 'categorical', preventFilterReset: true });
      legend(cats);
    } else {
      const v = new Float32Array(buf);
      let lo = Infinity; let hi = -Infinity;
      for (const x of v) if (Number.isFinite(x)) { if (x < lo) lo = x; if (x > hi) hi = x; }
      const span = hi > lo ? hi - lo : 1;
      points.w = Float32Array.from(v, (x) => (Number.isFinite(x) ? (x - lo) / span : 0));
      scatter.set({ colorBy: 'valueB', pointColor: RAMP });
      await scatter.draw(points, { spatialIndex, wDataType: 'continuous', preventFilterReset: true });
      legend({ ...field, min: lo, max: hi });
    }
    $('legend').dataset.field = name;
    status(`coloured by ${name}`);
  } catch (e) { status(`colour: ${e.message}`, true); }
}

function setSelection(rows) {
  selection = rows;
  $('selection-count').textContent = `${rows.length.toLocaleString()} selected`;
  $('export').disabled = rows.length === 0;
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

async function summary() {
  $('summary-go').disabled = true;
  status('measuring the geometry (a sample of up to 10,000 points)…');
  try {
    const s = await api(`/${source.source === 'space' ? 'spaces' : 'collections'}/${encodeURIComponent(source.name)}/summary`);
    const fmt = (v) => (typeof v === 'number' ? (Number.isInteger(v) ? v.toLocaleString() : v.toPrecision(4))
      : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v));
    $('summary').innerHTML = Object.entries(s).filter(([, v]) => v !== null)
      .map(([k, v]) => `<tr><td>${esc(k.replaceAll('_', ' '))}</td><td>${esc(fmt(v))}</td></tr>`).join('');
    status('geometry summary ready');
  } catch (e) { status(`summary: ${e.message}`, true); }
  $('summary-go').disabled = false;
}

// -- start -----------------------------------------------------------------------------------------
async function main() {
  const t0 = performance.now();
  const maps = await api('/maps');
  const pick = params.get('space') ? { source: 'space', name: params.get('space') }
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
  if (!pick) { status('this server has no spaces or collections to show', true); return; }
  source = pick;
  sel.value = `${source.source}:${source.name}`;
  base = `/maps/${source.source}/${encodeURIComponent(source.name)}`;
  status(`loading ${source.name}…`);
  info = await api(base);
  const res = await api(`${base}/coords`, { binary: true });
  const width = Number(res.headers.get('X-Components') || info.n_components);
  points = normalise(new Float32Array(await res.arrayBuffer()), width);
  const n = points.x.length;
  metrics.n = n;
  $('map-info').textContent = `${n.toLocaleString()} of ${info.total.toLocaleString()} points · ${info.method}` +
    `${info.saved ? '' : ' (computed now)'}${info.encoder ? ` · text search: ${info.encoder}` : ''}`;
  for (const f of info.fields) {
    const o = document.createElement('option');
    o.value = f.name;
    o.textContent = `${f.name}${f.type === 'numeric' ? ' (scale)' : ''}`;
    $('color-by').appendChild(o);
  }
  const big = n > 200000;
  const canvas = $('canvas');
  const box = $('stage').getBoundingClientRect();
  scatter = createScatterplot({
    canvas, width: box.width, height: box.height,
    pointSize: n > 500000 ? 2 : n > 50000 ? 3 : n > 5000 ? 4 : 6,
    pointSizeSelected: 3, pointOutlineWidth: 1,
    pointColor: BASE, pointColorActive: '#ffd32a', pointColorHover: '#ffffff',
    opacity: n > 100000 ? 0.6 : 0.9, backgroundColor: '#10131a',
    lassoColor: [0.3, 0.76, 1, 1], performanceMode: big,
    annotationLineColor: [1, 0.85, 0.2, 0.9], annotationLineWidth: 2,
  });
  await scatter.draw(points);
  spatialIndex = scatter.get('spatialIndex');
  // page coordinates of a map row (for the browser tests and for anyone scripting the page)
  metrics.screen = (row) => {
    const [x, y] = scatter.getScreenPosition(row);
    const r = canvas.getBoundingClientRect();
    return [r.left + x, r.top + y];
  };

  canvas.addEventListener('pointermove', () => { lastMove = performance.now(); }, { capture: true });
  canvas.addEventListener('pointerdown', () => { lastDown = performance.now(); }, { capture: true });
  canvas.addEventListener('pointerleave', () => { $('tooltip').hidden = true; });
  scatter.subscribe('pointOver', (row) => onHover(row).catch((e) => status(`hover: ${e.message}`, true)));
  scatter.subscribe('pointOut', () => { $('tooltip').hidden = true; });
  let lassoing = false;
  scatter.subscribe('lassoStart', () => { lassoing = true; });
  scatter.subscribe('select', ({ points: rows }) => {
    if (lassoing || rows.length > 1) {
      lassoing = false;
      scatter.clearAnnotations();
      setSelection(Array.from(rows));
      return;
    }
    if (rows.length === 1 && rows[0] !== clicked) {
      showPoint(rows[0], lastDown || performance.now()).catch((e) => status(`neighbours: ${e.message}`, true));
    }
  });
  scatter.subscribe('deselect', () => { clicked = null; scatter.clearAnnotations(); setSelection([]); });
  window.addEventListener('resize', () => {
    const b = $('stage').getBoundingClientRect();
    scatter.set({ width: b.width, height: b.height });
  });

  $('search-form').addEventListener('submit', (e) => { e.preventDefault(); search($('search').value.trim()); });
  $('analogy-form').addEventListener('submit', (e) => {
    e.preventDefault();
    analogy($('analogy-a').value.trim(), $('analogy-b').value.trim(), $('analogy-c').value.trim());
  });
  $('color-by').addEventListener('change', (e) => colourBy(e.target.value));
  $('lasso-mode').addEventListener('click', () => {
    const on = $('lasso-mode').getAttribute('aria-pressed') !== 'true';
    $('lasso-mode').setAttribute('aria-pressed', String(on));
    scatter.set({ mouseMode: on ? 'lasso' : 'panZoom' });
  });
  $('clear-selection').addEventListener('click', () => scatter.deselect());
  $('export').addEventListener('click', () => exportSelection().catch((e) => status(`export: ${e.message}`, true)));
  $('summary-go').addEventListener('click', summary);
  if (!info.analogy) $('analogy-go').disabled = true;

  metrics.loadMs = performance.now() - t0;
  metrics.ready = true;
  status(`${n.toLocaleString()} points in ${(metrics.loadMs / 1000).toFixed(1)} s · hover a point, click it, ` +
    'search, or shift + drag to select');
}

main().catch((e) => status(`could not load the map: ${e.message}`, true));
