// The dashboard page's script (served as /dashboard.js; plain browser JavaScript, kept here as text
// so the daemon needs no build step for it). Rules it keeps: text from events (written by the
// processes being guarded) goes into the page with textContent only, never as HTML, and control,
// bidi and invisible characters are shown as marked \uXXXX escapes, so a value cannot spoof what
// is around it (U+202E would render the rest of a line reversed). Every message of the stream has
// an id: a message seen already is not added again, and `reset` (the daemon restarted) starts over.
export const DASHBOARD_SCRIPT = String.raw`'use strict';
const $ = (id) => document.getElementById(id);
const SVG = 'http://www.w3.org/2000/svg';
const NF = new Intl.NumberFormat();
const num = (v) => { try { return NF.format(typeof v === 'string' ? BigInt(v) : v); } catch (e) { return String(v); } };
const pad = (n) => String(n).padStart(2, '0');

// C0 and C1 controls, soft hyphen, bidi marks, embeddings, overrides and isolates, zero-width and
// line/paragraph separators, BOM, interlinear annotations.
const HIDDEN = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]/g;
const SHOWN_CHARS = 200;

/** A fragment showing s as text: hidden characters as marked escapes, past max characters cut with a note. */
function visible(s, max) {
  s = s === null || s === undefined ? '' : String(s);
  const frag = document.createDocumentFragment();
  const cut = max !== undefined && s.length > max;
  const part = cut ? s.slice(0, max) : s;
  let last = 0;
  part.replace(HIDDEN, (ch, i) => {
    if (i > last) frag.appendChild(document.createTextNode(part.slice(last, i)));
    const esc = document.createElement('span');
    esc.className = 'esc';
    esc.textContent = '\\u' + ch.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0');
    esc.title = 'a control or direction character, shown escaped';
    frag.appendChild(esc);
    last = i + 1;
    return ch;
  });
  if (last < part.length) frag.appendChild(document.createTextNode(part.slice(last)));
  if (cut) {
    const more = document.createElement('span');
    more.className = 'more';
    more.textContent = ' … ' + num(s.length - max) + ' more characters';
    frag.appendChild(more);
  }
  return frag;
}

/** What a title attribute may show of s (tooltips render bidi too). */
const plain = (s) => String(s === null || s === undefined ? '' : s).replace(HIDDEN, (ch) => '\\u' + ch.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0'));

function cell(text, cls, pick) {
  const td = document.createElement('td');
  td.appendChild(visible(text, SHOWN_CHARS));
  if (cls) td.className = cls;
  if (pick && pick.value !== undefined && pick.value !== null && pick.value !== '') {
    td.classList.add('pick');
    td.dataset.field = pick.field;
    td.title = 'show only ' + pick.field + ' ' + plain(pick.value).slice(0, 200);
    td.addEventListener('click', () => addFilter(pick.field, String(pick.value)));
  }
  return td;
}
const row = (cells) => { const tr = document.createElement('tr'); for (const c of cells) tr.appendChild(c); return tr; };

function zone(ms) {
  const off = -new Date(ms).getTimezoneOffset();
  const a = Math.abs(off);
  return 'UTC' + (off === 0 ? '' : (off > 0 ? '+' : '-') + pad(Math.floor(a / 60)) + ':' + pad(a % 60));
}
const zoneLabel = () => { const tz = Intl.DateTimeFormat().resolvedOptions().timeZone; return (tz && tz !== 'UTC' ? tz + ', ' : '') + zone(Date.now()); };
function fmtTime(ms, withZone) {
  if (!Number.isFinite(ms)) return '?';
  const d = new Date(ms);
  return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' + pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()) + (withZone ? ' ' + zone(ms) : '');
}

// ---- state ----
const MAX_ITEMS = 5000;
const MAX_ROWS = 300;
/** Events and summaries, in arrival order: { id, e, kind (the grouping key), t (ms), n (accesses it stands for) }. */
let items = [];
const seen = new Set();
let held = [];
let paused = false;
let skipped = 0;
/** Filters set by clicks: { field, value }. */
const filters = [];
const guardInfo = new Map();
const psi = [];

const FIELDS = {
  guard: (e) => e.guard,
  key: (e) => e.key,
  comm: (e) => e.comm,
  cgroup: (e) => e.cgroup || e.cgroupId,
  verdict: (e) => e.verdict,
};
const kindOf = (e) => JSON.stringify([e.guard, e.verdict, e.reason, e.access, e.key, e.cgroupId, e.uid, e.comm, e.rule && e.rule.index]);

function addFilter(field, value) {
  if (!filters.some((f) => f.field === field && f.value === value)) filters.push({ field, value });
  drawChips();
  schedule();
}
function drawChips() {
  $('chips').replaceChildren(...filters.map((f, i) => {
    const chip = document.createElement('span');
    chip.className = 'chip';
    chip.dataset.field = f.field;
    chip.appendChild(document.createTextNode(f.field + ': '));
    chip.appendChild(visible(f.value, 60));
    const x = document.createElement('button');
    x.type = 'button';
    x.textContent = '×';
    x.title = 'remove this filter';
    x.addEventListener('click', () => { filters.splice(i, 1); drawChips(); schedule(); });
    chip.appendChild(x);
    return chip;
  }));
}

// q: the search box's text, lower-cased (read once per redraw, not once per row).
function matches(it, q) {
  const e = it.e;
  for (const f of filters) if (String(FIELDS[f.field](e)) !== f.value) return false;
  if (!q) return true;
  return [e.key, e.comm, e.cgroup, e.cgroupId, e.newValue, e.oldValue, e.guard, e.verdict, e.reason, e.rule && e.rule.key, e.tgid, e.uid]
    .some((v) => v !== undefined && v !== null && String(v).toLowerCase().includes(q));
}

function add(id, e) {
  if (id && seen.has(id)) return;
  if (id) seen.add(id);
  // Accesses the kernel could not attribute to a kind (no key, writer or cgroup): one counted row.
  if (e.type === 'dropped') e = { type: 'summary', time: e.time, to: e.to, from: e.from, count: e.count, guard: e.guard, verdict: 'dropped', reason: e.why, access: 'write', key: '(not attributed)', comm: '?', uid: '?', cgroupId: '', rule: { key: '' } };
  const summary = e.type === 'summary';
  // kind: the row's grouping key, made once (a redraw groups every row again).
  const it = { id, e, kind: kindOf(e), t: Date.parse(summary ? e.to || e.time : e.time), n: summary ? Number(e.count) || 0 : 1 };
  if (paused) held.push(it); else items.push(it);
  if (items.length > MAX_ITEMS) for (const old of items.splice(0, items.length - MAX_ITEMS)) seen.delete(old.id);
  schedule();
}

let scheduled = false;
function schedule() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => { scheduled = false; render(); });
}

const VERDICT_TEXT = { 'would-refuse': 'would refuse (audit)', refused: 'refused', audited: 'audited', allowed: 'allowed', dropped: 'dropped (not attributed)' };

function render() {
  const q = $('filter').value.trim().toLowerCase();
  const shown = items.filter((it) => matches(it, q));
  const total = items.reduce((t, it) => t + it.n, 0);
  const shownTotal = shown.reduce((t, it) => t + it.n, 0);
  let rows;
  if ($('group').checked) {
    const groups = new Map();
    for (const it of shown) {
      const k = it.kind;
      let g = groups.get(k);
      if (!g) groups.set(k, (g = { last: it, lastEvent: undefined, n: 0, values: new Set(), summaries: 0 }));
      g.n += it.n;
      if (it.e.type === 'summary') g.summaries += it.n;
      else { g.values.add(it.e.newValue); if (!g.lastEvent || it.t >= g.lastEvent.t) g.lastEvent = it; }
      if (it.t >= g.last.t) g.last = it;
    }
    rows = [...groups.values()].sort((a, b) => b.last.t - a.last.t);
  } else {
    rows = shown.map((it) => ({ last: it, lastEvent: it.e.type === 'summary' ? undefined : it, n: it.n, values: new Set([it.e.newValue]), summaries: it.e.type === 'summary' ? it.n : 0 })).sort((a, b) => b.last.t - a.last.t);
  }
  const body = $('events');
  body.replaceChildren(...rows.slice(0, MAX_ROWS).map(eventRow));
  $('counts').textContent = 'showing ' + num(shownTotal) + ' of ' + num(total) + ' events' + (rows.length > MAX_ROWS ? ' (newest ' + num(MAX_ROWS) + ' of ' + num(rows.length) + ' rows)' : '') + (paused ? ' · paused' + (held.length ? ', ' + num(held.length) + ' new' : '') : '');
  $('counts').dataset.shown = String(shownTotal);
  $('counts').dataset.total = String(total);
  drawChart(shown);
}

function eventRow(g) {
  const e = (g.lastEvent || g.last).e;
  const s = g.last.e;
  const proc = e.type === 'summary' ? e.comm + ' uid ' + e.uid : e.comm + ' [' + e.tgid + '] uid ' + e.uid;
  const written = e.type === 'summary' ? '' : e.newValue === null ? '' : e.newValue;
  const valueCell = cell(written, 'mono val');
  if (g.values.size > 1) {
    const more = document.createElement('div');
    more.className = 'more';
    more.textContent = '(last of ' + num(g.values.size) + ' values)';
    valueCell.appendChild(more);
  }
  if (g.summaries) {
    const note = document.createElement('div');
    note.className = 'summary';
    note.textContent = num(g.summaries) + ' counted by the kernel, not sent (summary' + (s.type === 'summary' ? ' to ' + fmtTime(Date.parse(s.to)) : '') + ')';
    valueCell.appendChild(note);
  }
  const owner = guardInfo.get(e.guard);
  const tr = row([
    cell(fmtTime(g.last.t), 'mono'), cell(num(g.n), 'num'),
    cell(VERDICT_TEXT[e.verdict] || e.verdict, e.verdict, { field: 'verdict', value: e.verdict }),
    cell(e.access), cell(e.key, 'mono', { field: 'key', value: e.key }), valueCell,
    cell(e.type === 'summary' ? '' : e.oldValue === null ? '(unreadable)' : e.oldValue, 'mono val'),
    cell(proc, 'mono', { field: 'comm', value: e.comm }),
    cell(e.cgroup || e.cgroupId, 'mono', { field: 'cgroup', value: e.cgroup || e.cgroupId }),
    cell(e.guard + (owner && owner.owner ? ' (' + owner.owner + ')' : ''), 'mono', { field: 'guard', value: e.guard }),
    cell((e.rule ? e.rule.key : '?') + (e.reason && e.reason !== 'rule' ? ' (' + e.reason + ')' : ''), 'mono'),
  ]);
  tr.dataset.count = String(g.n);
  tr.dataset.key = e.key;
  return tr;
}

// ---- charts (SVG drawn here: no library, no other origin) ----
const VERDICT_COLOURS = { refused: '#b3261e', 'would-refuse': '#ef8a17', audited: '#c9a227', allowed: '#2e7d32' };
const PALETTE = ['#3366cc', '#dc3912', '#ff9900', '#109618', '#990099', '#0099c6', '#dd4477', '#66aa00', '#b82e2e', '#316395'];
const STEPS_S = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400];
const BUCKETS = 60;

function svgEl(name, attrs, parent) {
  const el = document.createElementNS(SVG, name);
  for (const k in attrs) el.setAttribute(k, String(attrs[k]));
  if (parent) parent.appendChild(el);
  return el;
}
function svgText(parent, x, y, text, anchor) {
  const t = svgEl('text', { x, y, 'font-size': 11, fill: '#5a6475', 'text-anchor': anchor || 'start' }, parent);
  t.textContent = text;
  return t;
}
function legend(id, entries) {
  $(id).replaceChildren(...entries.map(([name, colour]) => {
    const s = document.createElement('span');
    const i = document.createElement('i');
    i.setAttribute('style', 'background:' + colour);
    s.appendChild(i);
    s.appendChild(visible(name, 40));
    return s;
  }));
}
const hm = (ms) => { const d = new Date(ms); return pad(d.getHours()) + ':' + pad(d.getMinutes()); };

function drawChart(shown) {
  const svg = $('chart');
  const W = Math.max(200, svg.clientWidth || 600), H = 160, L = 44, B = 18, T = 8;
  svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
  svg.replaceChildren();
  const now = Date.now();
  let oldest = now;
  for (const it of shown) if (it.t < oldest) oldest = it.t;
  const stepS = STEPS_S.find((s) => s * BUCKETS * 1000 >= Math.min(now - oldest, 86400e3)) || 86400;
  const step = stepS * 1000;
  const end = Math.ceil((now + 1) / step) * step, start = end - BUCKETS * step;
  const by = document.querySelector('input[name=series]:checked').value;
  const series = new Map();
  let charted = 0;
  for (const it of shown) {
    if (!(it.t >= start && it.t < end)) continue;
    const name = by === 'guard' ? it.e.guard : it.e.verdict;
    let s = series.get(name);
    if (!s) series.set(name, (s = new Array(BUCKETS).fill(0)));
    s[Math.floor((it.t - start) / step)] += it.n;
    charted += it.n;
  }
  const names = [...series.keys()].sort();
  const colour = (name, i) => (by === 'verdict' ? VERDICT_COLOURS[name] : undefined) || PALETTE[i % PALETTE.length];
  let max = 1;
  for (let b = 0; b < BUCKETS; b++) { let t = 0; for (const s of series.values()) t += s[b]; if (t > max) max = t; }
  const plotH = H - B - T, bw = (W - L) / BUCKETS;
  svgEl('line', { x1: L, y1: H - B, x2: W, y2: H - B, stroke: '#c5ccd6' }, svg);
  svgText(svg, L - 4, T + 10, num(max), 'end');
  svgText(svg, L - 4, H - B, '0', 'end');
  svgText(svg, L, H - 4, hm(start));
  svgText(svg, W, H - 4, hm(end) + ' · ' + (stepS >= 60 ? stepS / 60 + ' min' : stepS + ' s') + ' a bar', 'end');
  for (let b = 0; b < BUCKETS; b++) {
    let y = H - B;
    names.forEach((name, i) => {
      const v = series.get(name)[b];
      if (!v) return;
      const h = Math.max(1, (v / max) * plotH);
      y -= h;
      const r = svgEl('rect', { x: L + b * bw + 0.5, y, width: Math.max(1, bw - 1), height: h, fill: colour(name, i), 'data-series': name, 'data-count': v }, svg);
      svgEl('title', {}, r).textContent = plain(name) + ': ' + num(v) + ' from ' + fmtTime(start + b * step, true);
    });
  }
  svg.dataset.charted = String(charted);
  legend('chart-legend', names.map((n, i) => [(by === 'verdict' ? VERDICT_TEXT[n] || n : n), colour(n, i)]));
  $('chart-note').textContent = '(shown events of the last ' + (BUCKETS * stepS >= 3600 ? BUCKETS * stepS / 3600 + ' h' : BUCKETS * stepS / 60 + ' min') + '; summaries at their latest access)';
}

const PSI_COLOURS = { cpu: '#3366cc', memory: '#dc3912', io: '#ff9900', irq: '#990099' };
function drawPressure() {
  const svg = $('psi-chart');
  const W = Math.max(200, svg.clientWidth || 400), H = 160, L = 44, B = 18, T = 8;
  svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
  svg.replaceChildren();
  if (!psi.length) { svgText(svg, L, H / 2, 'no pressure figures (this kernel has no PSI)'); return; }
  const resources = Object.keys(psi[psi.length - 1].v);
  let max = 1;
  for (const p of psi) for (const r of resources) if ((p.v[r] || 0) > max) max = p.v[r];
  max = Math.ceil(max);
  const t0 = psi[0].t, t1 = Math.max(psi[psi.length - 1].t, t0 + 1);
  const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L), y = (v) => H - B - (v / max) * (H - B - T);
  svgEl('line', { x1: L, y1: H - B, x2: W, y2: H - B, stroke: '#c5ccd6' }, svg);
  svgText(svg, L - 4, T + 10, max + ' %', 'end');
  svgText(svg, L - 4, H - B, '0', 'end');
  svgText(svg, L, H - 4, hm(t0));
  svgText(svg, W, H - 4, hm(t1) + ' · some, avg 10 s', 'end');
  for (const r of resources) {
    const pts = psi.filter((p) => p.v[r] !== undefined).map((p) => x(p.t).toFixed(1) + ',' + y(p.v[r]).toFixed(1)).join(' ');
    if (pts) svgEl('polyline', { points: pts, fill: 'none', stroke: PSI_COLOURS[r] || '#555', 'stroke-width': 1.5, 'data-resource': r }, svg);
  }
  legend('psi-legend', resources.map((r) => [r, PSI_COLOURS[r] || '#555']));
}

// ---- status ----
async function refresh() {
  try {
    const r = await fetch('/api/status', { cache: 'no-store' });
    const s = await r.json();
    $('health').textContent = s.status === 'ok' ? 'protecting: ' + s.guards.length + ' guard(s)' : s.status;
    $('health').className = s.status === 'ok' ? '' : 'bad';
    const lr = s.lastReload;
    $('reload').textContent = lr ? 'last reload ' + fmtTime(Date.parse(lr.at), true) + ' (' + lr.reason + ')' + (lr.report.errors.length ? ': ' + lr.report.errors.length + ' error(s), last good policies kept' : '') : '';
    $('reload').className = lr && lr.report.errors.length ? 'bad' : 'muted';
    guardInfo.clear();
    for (const g of s.guards) guardInfo.set(g.name, g);
    $('guards').replaceChildren(...(s.guards.length ? s.guards.map((g) => {
      const audit = g.mode === 'audit';
      const refused = cell(num(g.refused) + (audit ? ' would refuse' : ''), 'num ' + (audit ? 'would-refuse' : BigInt(g.refused) > 0n ? 'refused' : ''));
      if (audit) refused.title = 'audit mode refuses nothing: writes a rule would have refused, all of them allowed';
      const tr = row([
        cell(g.name, 'mono', { field: 'guard', value: g.name }), cell(g.owner || '—'), cell(audit ? 'audit (refuses nothing)' : g.mode),
        cell(g.cgroups.join(', ') || '—', 'mono'), cell(num(g.rules), 'num'), refused,
        cell(num(g.audited), 'num'), cell(num(g.allowed), 'num'), cell(num(g.droppedEvents), 'num'),
      ]);
      tr.dataset.guard = g.name;
      return tr;
    }) : [row([cell('no guard in force', 'bad')])]));
    const avgs = (a) => (a ? a.avg10.toFixed(2) + ' / ' + a.avg60.toFixed(2) + ' / ' + a.avg300.toFixed(2) : '—');
    $('pressure').replaceChildren(...(s.pressure ? Object.entries(s.pressure).map(([res, p]) => row([cell(res), cell(avgs(p.some), 'num'), cell(avgs(p.full), 'num')]))
      : [row([cell('this kernel reports no pressure (CONFIG_PSI, psi=1)', 'muted')])]));
    if (s.pressure) {
      const v = {};
      for (const [res, p] of Object.entries(s.pressure)) if (p.some) v[res] = p.some.avg10;
      psi.push({ t: Date.now(), v });
      if (psi.length > 300) psi.shift();
    }
    drawPressure();
    schedule();
  } catch (e) {
    $('health').textContent = 'daemon unreachable (' + e.message + ')';
    $('health').className = 'bad';
  }
}

// ---- wiring ----
$('zone').textContent = 'times in ' + zoneLabel();
$('time-head').textContent = 'last seen (' + zone(Date.now()) + ')';
$('filter').addEventListener('input', schedule);
$('group').addEventListener('change', schedule);
for (const r of document.querySelectorAll('input[name=series]')) r.addEventListener('change', schedule);
$('pause').addEventListener('click', () => {
  paused = !paused;
  $('pause').textContent = paused ? 'resume' : 'pause';
  $('pause').setAttribute('aria-pressed', String(paused));
  if (!paused) { items.push(...held); held = []; if (items.length > MAX_ITEMS) for (const old of items.splice(0, items.length - MAX_ITEMS)) seen.delete(old.id); }
  $('stream').textContent = paused ? '(paused)' : '(live)';
  schedule();
});
const source = new EventSource('/api/events');
source.onopen = () => { $('stream').textContent = paused ? '(paused)' : '(live)'; };
source.onerror = () => { $('stream').textContent = '(reconnecting…)'; };
source.onmessage = (m) => { let e; try { e = JSON.parse(m.data); } catch (err) { return; } if (e && typeof e === 'object') add(m.lastEventId, e); };
// The daemon restarted (or the page was away too long): what it sends next is the whole history.
source.addEventListener('reset', () => { items = []; held = []; seen.clear(); skipped = 0; $('skipped').textContent = ''; schedule(); });
source.addEventListener('skipped', (m) => {
  skipped += Number(m.data);
  $('skipped').textContent = num(skipped) + ' event(s) not shown here during bursts; the audit log has them all';
});
window.addEventListener('resize', () => { drawPressure(); schedule(); });
refresh();
setInterval(refresh, 2000);
`;
