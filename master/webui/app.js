// The web UI: a router over the pages in views.js, fed live by the operator event stream
// (store.js) and the metrics poller (metrics.js). Pages redraw at most every 250 ms.

import { store, connect } from './store.js';
import { metrics, start as startMetrics } from './metrics.js';
import * as views from './views.js';

const routes = [
  [/^\/?$/, views.overview, 'overview'],
  [/^\/agents$/, views.agents, 'agents'],
  [/^\/agents\/([^/]+)$/, views.agent, 'agents'],
  [/^\/agents\/([^/]+)\/browse$/, views.sandbox, 'agents'],
  [/^\/frameworks$/, views.frameworks, 'frameworks'],
  [/^\/frameworks\/([^/]+)$/, views.framework, 'frameworks'],
  [/^\/tasks$/, views.tasks, 'tasks'],
  [/^\/tasks\/([^/]+)\/([^/]+)$/, views.task, 'tasks'],
  [/^\/roles$/, views.roles, 'roles'],
  [/^\/offers$/, views.offers, 'offers'],
];

const root = document.getElementById('view');
let current = null;
let pending = false;
let poller = null;

function show() {
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path, qs] = hash.split('?');
  if (current && current.leave) current.leave();
  if (poller) clearInterval(poller);
  poller = null;
  root.replaceChildren();
  const found = routes.find(([re]) => re.test(path));
  document.querySelectorAll('nav a[data-nav]').forEach((a) => a.classList.toggle('active', found && a.dataset.nav === found[2]));
  if (!found) {
    root.append(Object.assign(document.createElement('p'), { textContent: `No page at ${path}.` }));
    current = null;
    return;
  }
  const params = path.match(found[0]).slice(1).map(decodeURIComponent);
  current = found[1](root, params, new URLSearchParams(qs || ''));
  if (current.every) poller = setInterval(current.poll, current.every);
  current.refresh();
}

/** Redraws the page at once when it was not drawn in the last 250 ms, else at the end of
 *  those 250 ms: at most four redraws a second, however many events arrive. */
let last = -Infinity;
function schedule() {
  if (pending) return;
  pending = true;
  setTimeout(draw, Math.max(0, last + 250 - performance.now()));
}

function draw() {
  pending = false;
  last = performance.now();
  const live = document.getElementById('live');
  live.textContent = store.status === 'live' ? '● live' : store.status === 'lost' ? '● reconnecting' : '● connecting';
  live.className = store.status;
  const t = window.__mesosTimings;
  if (t && store.synced && t.drawStart === undefined) t.drawStart = performance.now();
  const complete = current ? current.refresh() : false;
  if (t && store.synced && t.drawEnd === undefined) t.drawEnd = performance.now();
  rendered(complete);
}

/** For the benchmark (`scale webui`): when the page was first drawn complete (a page's refresh
 *  says whether it was; one that says nothing is complete once the whole state is in). */
function rendered(complete) {
  if ((complete === true || (complete === undefined && store.synced)) && window.__mesosFirstFullRender === undefined) {
    window.__mesosFirstFullRender = performance.now();
  }
}

store.listeners.add(schedule);
metrics.listeners.add(() => current && current.onMetrics && rendered(current.onMetrics()));
window.addEventListener('hashchange', show);
show();
startMetrics();
connect();
