#include "serve/dashboard.h"

namespace tandem::serve {

namespace {

constexpr const char* kPage = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tandem</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2430}
header{background:#1d2430;color:#fff;padding:10px 20px;display:flex;gap:20px;align-items:center}
header h1{font-size:18px;margin:0}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:14px;padding:14px 20px}
section{background:#fff;border:1px solid #d8dde5;border-radius:6px;padding:10px 14px}
h2{font-size:15px;margin:4px 0 8px}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:3px 6px;border-bottom:1px solid #eef0f3}
tr.current{background:#e6f2ff;font-weight:600}
.bar{background:#eef0f3;height:10px;border-radius:5px;overflow:hidden}.bar div{background:#2f80ed;height:10px}
.bad{color:#b3261e}.ok{color:#1e7b34}#error{color:#b3261e;white-space:pre-wrap}
button{padding:5px 12px;margin-right:6px}#refusal{white-space:pre-wrap;color:#b3261e}
</style></head><body>
<header><h1>tandem</h1><span id="migration"></span>
<span>step <b id="step-number">?</b> <span id="step-name"></span> &middot; version <span id="step-version"></span></span>
<form id="login"><input id="token" type="password" placeholder="admin token" autocomplete="off">
<button>Use token</button></form></header>
<div id="error"></div>
<main>
<section><h2>Plan</h2><table id="plan"><thead><tr><th>#</th><th>step</th><th>roles</th></tr></thead><tbody></tbody></table>
<p><button id="back">Step back</button><button id="next">Step next</button>
<input id="reason" placeholder="reason" size="24"></p><div id="refusal"></div></section>
<section><h2>Instances (<span id="instances-count">0</span> live)</h2><table id="instances"><tbody></tbody></table></section>
<section><h2>Backfill and verify</h2><div id="collections"></div></section>
<section><h2>Repair queue and quarantine</h2>
<p>repair queue: <b id="repair-old">0</b> to old, <b id="repair-new">0</b> to new</p>
<p>quarantine: <b id="quarantine-count">0</b> record(s)</p><table id="quarantine"><tbody></tbody></table></section>
<section><h2>Shadow mismatches</h2><table id="mismatches"><tbody></tbody></table>
<h3>Samples</h3><table id="samples"><tbody></tbody></table></section>
<section><h2>Recent step changes</h2><table id="history"><tbody></tbody></table></section>
</main><script src="/dashboard.js"></script></body></html>
)HTML";

constexpr const char* kScript = R"JS('use strict';
const $ = (id) => document.getElementById(id);
const text = (v) => document.createTextNode(v === null || v === undefined ? '' : String(v));
function row(cells, cls) {
  const tr = document.createElement('tr');
  if (cls) tr.className = cls;
  for (const c of cells) { const td = document.createElement('td'); td.appendChild(text(c)); tr.appendChild(td); }
  return tr;
}
function fill(tbody, rows) { tbody.replaceChildren(...rows); }
function token() { return sessionStorage.getItem('tandem-token') || ''; }
async function api(path, body) {
  const init = {headers: {'Authorization': 'Bearer ' + token()}};
  if (body !== undefined) { init.method = 'POST'; init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json'; }
  const res = await fetch('/admin/v1/' + path, init);
  const json = await res.json();
  if (!res.ok) { const e = new Error(json.message || res.statusText); e.status = res.status; throw e; }
  return json;
}
function seconds(s) {
  if (s === null || s === undefined) return 'unknown';
  if (s < 90) return Math.round(s) + ' s';
  if (s < 5400) return Math.round(s / 60) + ' min';
  return (s / 3600).toFixed(1) + ' h';
}
async function refresh() {
  try {
    const [status, plan, history, quarantine, samples] = await Promise.all(
        [api('status'), api('plan'), api('history?limit=10'), api('quarantine?limit=20'),
         api('shadow-samples?limit=10')]);
    $('error').textContent = '';
    $('migration').textContent = status.migration + (status.finished ? ' (finished)' : '');
    $('step-number').textContent = status.step.number;
    $('step-name').textContent = status.step.name;
    $('step-version').textContent = status.step.version;
    fill($('plan').tBodies[0], plan.steps.map((s) =>
        row([s.number, s.name, s.roles], s.current ? 'current' : '')));
    const live = status.instances.filter((i) => i.live);
    $('instances-count').textContent = live.length;
    fill($('instances').tBodies[0], status.instances.map((i) =>
        row([i.id, 'step ' + i.applied_step + ' (v' + i.applied_version + ')' +
             (i.applied_version === status.step.version ? '' : ' BEHIND'),
             i.live ? 'live' : (i.silent ? 'SILENT' : 'gone'), i.heartbeat_at])));
    const parts = [];
    for (const [name, c] of Object.entries(status.collections)) {
      const b = c.backfill;
      const div = document.createElement('div');
      div.id = 'collection-' + name;
      const pct = b.total_estimate > 0 ? Math.min(100, 100 * b.scanned / b.total_estimate) : (b.complete ? 100 : 0);
      const state = !b.planned ? 'not started' : b.complete ? 'complete' : b.paused ? 'PAUSED' : 'in progress';
      const h = document.createElement('h3'); h.appendChild(text(name + ': backfill ' + state)); div.appendChild(h);
      const bar = document.createElement('div'); bar.className = 'bar';
      const fillDiv = document.createElement('div'); fillDiv.style.width = pct.toFixed(1) + '%';
      bar.appendChild(fillDiv); div.appendChild(bar);
      const p = document.createElement('p');
      p.appendChild(text(b.scanned + ' / ' + b.total_estimate + ' rows read (' + b.copied + ' copied, ' +
          b.present + ' present, ' + b.quarantined + ' quarantined); ' + Math.round(b.rows_per_second) +
          ' rows/s; ETA ' + seconds(b.eta_seconds) + '; ' + b.workers.length + ' worker(s)'));
      div.appendChild(p);
      const v = document.createElement('p');
      v.className = c.verify ? (c.verify.clean ? 'ok' : 'bad') : '';
      v.appendChild(text(!c.verify ? 'verify: never run' : c.verify.clean ?
          'verify: clean, ' + c.verify.records + ' records, at ' + c.verify.at :
          'verify: NOT clean: ' + c.verify.missing + ' missing, ' + c.verify.extra + ' extra, ' +
          c.verify.different + ' different, at ' + c.verify.at));
      div.appendChild(v);
      parts.push(div);
    }
    $('collections').replaceChildren(...parts);
    $('repair-old').textContent = status.repair_queue.old;
    $('repair-new').textContent = status.repair_queue.new;
    $('quarantine-count').textContent = status.quarantine;
    fill($('quarantine').tBodies[0], quarantine.quarantine.map((q) => row([q.collection, q.key, q.field, q.reason])));
    const mm = [];
    for (const [coll, kinds] of Object.entries(status.shadow_mismatches))
      for (const [kind, n] of Object.entries(kinds)) mm.push(row([coll, kind, n]));
    fill($('mismatches').tBodies[0], mm.length ? mm : [row(['none'])]);
    fill($('samples').tBodies[0], samples.samples.map((s) =>
        row([s.collection, s.key, s.kind, 'primary: ' + s.primary, 'secondary: ' + s.secondary])));
    fill($('history').tBodies[0], history.history.map((h) =>
        row([h.at, h.from_step + ' \u2192 ' + h.to_step + (h.forced ? ' FORCED' : ''), h.actor, h.reason])));
  } catch (e) {
    $('error').textContent = e.status === 401 || e.status === 403 ?
        'Type the admin token above (' + e.message + ')' : 'Cannot read the admin API: ' + e.message;
  }
}
async function move(action) {
  $('refusal').textContent = '';
  try {
    await api('step', {action: action, reason: $('reason').value || 'dashboard'});
  } catch (e) {
    $('refusal').textContent = 'Refused: ' + e.message;
  }
  refresh();
}
// A token in the fragment (#token=...; never sent to the server) is taken and removed from the address.
if (location.hash.startsWith('#token=')) {
  sessionStorage.setItem('tandem-token', decodeURIComponent(location.hash.slice(7)));
  history.replaceState(null, '', location.pathname);
}
$('login').addEventListener('submit', (ev) => {
  ev.preventDefault(); sessionStorage.setItem('tandem-token', $('token').value); $('token').value = ''; refresh();
});
$('next').addEventListener('click', () => move('next'));
$('back').addEventListener('click', () => move('back'));
refresh();
setInterval(refresh, 2000);
)JS";

}  // namespace

void install_dashboard(httplib::Server& server) {
  server.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'");
    res.set_content(kPage, "text/html; charset=utf-8");
  });
  server.Get("/dashboard.js", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(kScript, "text/javascript; charset=utf-8");
  });
}

}  // namespace tandem::serve
