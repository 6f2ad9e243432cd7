// The master's /metrics/snapshot every two seconds (a few hundred numbers, not the state):
// the overview's totals and the last ten minutes of CPU and memory use for its chart.

import { api } from './util.js';
import { firstRequests } from './store.js';

const EVERY = 2000;
const KEEP = 10 * 60 * 1000;

export const metrics = {
  latest: {},
  /** The first poll answered. */
  loaded: false,
  history: [],
  master: null,
  version: '',
  listeners: new Set(),
};

async function poll() {
  try {
    const m = await api('/metrics/snapshot');
    metrics.latest = m;
    metrics.loaded = true;
    const now = Date.now();
    metrics.history.push({ t: now, cpus: m['master/cpus_percent'] || 0, mem: m['master/mem_percent'] || 0 });
    while (metrics.history.length && metrics.history[0].t < now - KEEP) metrics.history.shift();
    for (const l of metrics.listeners) l();
  } catch (e) {
    console.warn('metrics:', e.message);
  }
  setTimeout(poll, EVERY);
}

/** Starts polling; the master's identity and version are asked once. */
export function start() {
  firstRequests.push(api('/api/v1', { type: 'GET_MASTER' }).then((r) => {
    metrics.master = r.get_master;
    for (const l of metrics.listeners) l();
  }).catch(() => {}));
  firstRequests.push(api('/version').then((v) => { metrics.version = v.version; }).catch(() => {}));
  poll();
}
