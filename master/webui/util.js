// Small helpers shared by the pages: building elements, formatting, resources, paged tables.

/** An element: h('td', {class: 'num'}, 'text', child, ...). Attributes starting with 'on' are
 *  listeners; null and false children are skipped. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/** A link to a page of the UI. */
export const link = (hash, text) => h('a', { href: '#' + hash }, text);

/** 'value' of a v1 id ({value: ...}) or the string itself. */
export const idOf = (x) => (x && typeof x === 'object' ? x.value : x) ?? '';

/** Sums the scalar resources of a v1 resource list by name, and the reserved part of each. */
export function scalars(resources) {
  const out = { cpus: 0, mem: 0, disk: 0, gpus: 0 };
  const reserved = { cpus: 0, mem: 0, disk: 0, gpus: 0 };
  for (const r of resources || []) {
    if (r.type !== 'SCALAR' || !r.scalar) continue;
    out[r.name] = (out[r.name] || 0) + r.scalar.value;
    const isReserved = (r.reservations && r.reservations.length) || (r.role && r.role !== '*');
    if (isReserved) reserved[r.name] = (reserved[r.name] || 0) + r.scalar.value;
  }
  out.reserved = reserved;
  return out;
}

/** CPUs with at most two decimals. */
export const cpus = (v) => (Math.round((v || 0) * 100) / 100).toString();

/** Megabytes as Mesos's UI writes them (MB, GB, TB). */
export function mb(v) {
  v = v || 0;
  if (v >= 1024 * 1024) return (v / (1024 * 1024)).toFixed(1) + ' TB';
  if (v >= 1024) return (v / 1024).toFixed(1) + ' GB';
  return Math.round(v) + ' MB';
}

/** Bytes for the sandbox browser. */
export function bytes(v) {
  v = v || 0;
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i ? v.toFixed(1) : v) + ' ' + units[i];
}

/** A duration in seconds as '3d 4h', '5m 2s'. */
export function duration(s) {
  s = Math.max(0, Math.floor(s || 0));
  const d = Math.floor(s / 86400), hr = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60), sec = s % 60;
  if (d) return `${d}d ${hr}h`;
  if (hr) return `${hr}h ${m}m`;
  if (m) return `${m}m ${sec}s`;
  return `${sec}s`;
}

/** A v1 TimeInfo ({nanoseconds}) or seconds (a number) as a local date and time. */
export function time(t) {
  if (t === null || t === undefined) return '';
  const secs = typeof t === 'number' ? t : Number(t.nanoseconds || 0) / 1e9;
  if (!secs) return '';
  return new Date(secs * 1000).toLocaleString();
}

/** A task state without its TASK_ prefix, in a badge. */
export const state = (s) => h('span', { class: 'state ' + String(s || '').toLowerCase() },
  String(s || '').replace(/^TASK_/, ''));

/**
 * A paged table of `rows` (an array, or a function giving the rows, computed only when drawn):
 * columns are [title, row => cell, optional class]. Returns the element; `page` is kept on it
 * across redraws by the caller passing the previous element's state.
 */
export function pagedTable(columns, rows, opts = {}) {
  const size = opts.pageSize || 50;
  const total = rows.length;
  const pages = Math.max(1, Math.ceil(total / size));
  const page = Math.min(opts.page || 0, pages - 1);
  const start = page * size;
  const body = h('tbody', null);
  for (const r of rows.slice(start, start + size)) {
    body.append(h('tr', null, columns.map(([, cell, cls]) => h('td', { class: cls || null }, cell(r)))));
  }
  const pager = h('div', { class: 'pager' },
    h('button', { disabled: page === 0, onclick: () => opts.onPage && opts.onPage(page - 1) }, '‹ Previous'),
    h('span', null, total ? ` ${start + 1}–${Math.min(start + size, total)} of ${total} ` : ' none '),
    h('button', { disabled: page >= pages - 1, onclick: () => opts.onPage && opts.onPage(page + 1) }, 'Next ›'));
  return h('div', { class: 'table' },
    h('table', null,
      h('thead', null, h('tr', null, columns.map(([title, , cls]) => h('th', { class: cls || null }, title)))),
      body),
    total > size ? pager : h('div', { class: 'count' }, `${total} shown`));
}

/** A definition list of [term, value] pairs. */
export const facts = (pairs) => h('dl', { class: 'facts' },
  pairs.filter(([, v]) => v !== undefined && v !== null && v !== '').map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));

/** GET (or POST with a JSON body) on the master, as JSON. */
export async function api(path, body) {
  const init = body === undefined ? {} : {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Accept': 'application/json' },
    body: JSON.stringify(body),
  };
  const r = await fetch(path, init);
  if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  return r.json();
}

let jsonpSeq = 0;

/**
 * JSON from an agent's endpoint: fetched when the agent shares the UI's origin, else through
 * JSONP (`?jsonp=`), as Mesos's UI reaches agents on other hosts.
 */
export function agentJson(pid, path, params = {}) {
  const at = pid.indexOf('@');
  const id = pid.slice(0, at), addr = pid.slice(at + 1);
  const query = new URLSearchParams(params);
  const url = `//${addr}/${id}/${path}`;
  if (addr === location.host) {
    return fetch(`${url}?${query}`).then(async (r) => {
      if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
      return r.json();
    });
  }
  return new Promise((resolve, reject) => {
    const cb = `mesosJsonp${++jsonpSeq}`;
    query.set('jsonp', cb);
    const s = document.createElement('script');
    const done = () => { delete window[cb]; s.remove(); };
    window[cb] = (v) => { done(); resolve(v); };
    s.onerror = () => { done(); reject(new Error(`cannot reach the agent at ${addr}`)); };
    s.src = `${location.protocol}${url}?${query}`;
    document.head.append(s);
  });
}
