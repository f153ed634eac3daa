// The daemon's local web dashboard: one page and one script (no framework, no build step, nothing
// from another origin) that shows the guards in force with their owners and counters, the last
// reload, a chart of events over time by verdict or guard beside the host's pressure (PSI), and the
// audit events (history from the audit log, then live), repeated ones grouped with a count,
// filtered by a click on a guard, key, command or cgroup. Served on the daemon's listener (http.ts)
// with its endpoints /api/status and /api/events (event-feed.ts).
import type { ServerResponse } from 'node:http';
import { DASHBOARD_SCRIPT } from './dashboard-script.js';

const SECURITY_HEADERS = {
  // The page's own script only; inline styles (style attributes the script sets on SVG) allowed.
  'content-security-policy': "default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self'; style-src 'self' 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

/** Serve the page (at `/` and `/index.html`) and its script; false when the path is not the dashboard's. */
export function serveDashboard(path: string, res: ServerResponse): boolean {
  if (path === '/' || path === '/index.html') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', ...SECURITY_HEADERS });
    res.end(PAGE);
    return true;
  }
  if (path === '/dashboard.js') {
    res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', ...SECURITY_HEADERS });
    res.end(DASHBOARD_SCRIPT);
    return true;
  }
  return false;
}

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sysward</title>
<style>
  * { box-sizing: border-box; }
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d2430; background: #f6f7f9; }
  header { background: #1d2430; color: #fff; padding: 10px 16px; display: flex; gap: 6px 20px; align-items: baseline; flex-wrap: wrap; }
  header h1 { font-size: 18px; margin: 0; }
  header .muted { color: #b6bfcc; }
  main { padding: 12px 16px; max-width: 100%; }
  section { background: #fff; border: 1px solid #dde1e7; border-radius: 6px; margin-bottom: 12px; padding: 10px 12px; min-width: 0; }
  h2 { font-size: 15px; margin: 0 0 8px; }
  h2 .muted { font-weight: 400; font-size: 13px; }
  .scroll { overflow-x: auto; max-width: 100%; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eef0f3; vertical-align: top; }
  th { font-weight: 600; color: #5a6475; white-space: nowrap; }
  th.num, td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
  td { overflow-wrap: break-word; max-width: 28em; }
  td.val { overflow-wrap: anywhere; min-width: 10em; }
  code, .mono { font-family: ui-monospace, monospace; font-size: 13px; }
  .esc { white-space: nowrap; color: #6a1b9a; background: #f3e5f5; border-radius: 2px; padding: 0 1px; font-family: ui-monospace, monospace; font-size: 12px; }
  .more { color: #8a93a3; font-style: italic; }
  .refused { color: #b3261e; font-weight: 600; }
  .would-refuse { color: #a34f00; font-weight: 600; }
  .audited { color: #8a5a00; font-weight: 600; }
  .allowed { color: #2e7d32; }
  .summary { color: #5a6475; }
  .bad { color: #b3261e; }
  .muted { color: #8a93a3; }
  .pick { cursor: pointer; text-decoration: underline dotted #8a93a3; }
  .pick:hover { background: #eef3fb; }
  .charts { display: flex; flex-wrap: wrap; gap: 12px; }
  .charts > div { flex: 1 1 320px; min-width: 0; }
  .charts svg { width: 100%; height: 160px; display: block; }
  .legend { display: flex; flex-wrap: wrap; gap: 4px 12px; font-size: 12px; margin-top: 4px; }
  .legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; border-radius: 2px; }
  .controls { display: flex; flex-wrap: wrap; gap: 6px 12px; align-items: center; margin-bottom: 8px; }
  .chip { background: #e8eef9; border: 1px solid #c5d3ec; border-radius: 12px; padding: 1px 8px; font-size: 13px; max-width: 100%; overflow-wrap: anywhere; }
  .chip button { border: 0; background: none; cursor: pointer; padding: 0 0 0 4px; font: inherit; }
  input[type=search] { font: inherit; padding: 3px 6px; width: 16em; max-width: 100%; }
  button.toggle { font: inherit; padding: 2px 10px; }
</style>
</head>
<body>
<header><h1>sysward</h1><span id="health" class="muted">connecting…</span><span id="stream" class="muted"></span><span id="reload" class="muted"></span><span id="zone" class="muted"></span></header>
<main>
<section><h2>Guards in force <span class="muted">(click a guard to see its events)</span></h2>
<div class="scroll"><table><thead><tr><th>guard</th><th>owner</th><th>mode</th><th>cgroups</th><th class="num">rules</th><th class="num">refused</th><th class="num">audited</th><th class="num">allowed</th><th class="num">events dropped</th></tr></thead>
<tbody id="guards"><tr><td colspan="9" class="muted">…</td></tr></tbody></table></div></section>
<section><h2>Events over time <span class="muted" id="chart-note"></span></h2>
<div class="controls"><label><input type="radio" name="series" value="verdict" checked> by verdict</label><label><input type="radio" name="series" value="guard"> by guard</label></div>
<div class="charts">
<div><svg id="chart" role="img" aria-label="events over time"></svg><div id="chart-legend" class="legend"></div></div>
<div><svg id="psi-chart" role="img" aria-label="host pressure over time"></svg><div id="psi-legend" class="legend"></div>
<div class="scroll"><table><thead><tr><th>pressure (PSI, % of time stalled)</th><th class="num">some 10 s / 60 s / 300 s</th><th class="num">full</th></tr></thead>
<tbody id="pressure"><tr><td colspan="3" class="muted">…</td></tr></tbody></table></div></div>
</div></section>
<section><h2>Audit events <span id="counts" class="muted"></span></h2>
<div class="controls">
<input id="filter" type="search" placeholder="filter: key, comm, cgroup, value…" aria-label="filter events">
<label><input id="group" type="checkbox" checked> group repeated</label>
<button id="pause" class="toggle" type="button">pause</button>
<span id="chips" class="controls"></span>
<span id="skipped" class="muted"></span>
</div>
<div class="scroll"><table><thead><tr><th id="time-head">last seen</th><th class="num">count</th><th>verdict</th><th>access</th><th>key</th><th>value written</th><th>value before</th><th>process</th><th>cgroup</th><th>guard</th><th>rule (reason)</th></tr></thead>
<tbody id="events"></tbody></table></div></section>
</main>
<script src="/dashboard.js"></script>
</body>
</html>
`;
