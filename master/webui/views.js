// The pages. Each is a function (root, params, query) that builds its page once and returns
// { refresh }, which redraws only what the store's changes touch (the visible page of a table,
// the counts), so a burst of events costs a few small redraws, never the whole state.

import { h, link, idOf, scalars, cpus, mb, bytes, duration, time, state, pagedTable, facts, api, agentJson } from './util.js';
import { store, isTerminal, redraw, firstRequests } from './store.js';
import { metrics } from './metrics.js';
import { drawChart } from './chart.js';

const STATES = ['TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_FINISHED',
  'TASK_FAILED', 'TASK_KILLED', 'TASK_LOST', 'TASK_ERROR', 'TASK_DROPPED', 'TASK_UNREACHABLE',
  'TASK_GONE', 'TASK_GONE_BY_OPERATOR'];

/** A section that is redrawn in place: replace(content) swaps its children. */
function slot() {
  const el = h('div', null);
  el.replace = (...c) => el.replaceChildren(...c.flat().filter((x) => x !== null && x !== undefined));
  return el;
}

const agentName = (aid) => {
  const a = store.agents.get(aid);
  return a ? a.agent_info.hostname : aid;
};

const frameworkOf = (fid) => store.frameworks.get(fid) || store.completedFrameworks.get(fid);

const frameworkName = (fid) => {
  const f = frameworkOf(fid);
  return f ? f.framework_info.name : fid;
};

/** CPUs and memory of the tasks not yet ended, by agent and by framework (the live figures:
 *  the agents' and frameworks' own records are as they were when the stream began). */
function usage() {
  const byAgent = new Map(), byFramework = new Map();
  const add = (m, k, r) => {
    const u = m.get(k) || { cpus: 0, mem: 0 };
    u.cpus += r.cpus || 0;
    u.mem += r.mem || 0;
    m.set(k, u);
  };
  for (const t of store.tasks.values()) {
    if (isTerminal(t.state)) continue;
    const r = scalars(t.resources);
    add(byAgent, idOf(t.agent_id), r);
    add(byFramework, idOf(t.framework_id), r);
  }
  return { byAgent, byFramework };
}

const taskHref = (t) => `/tasks/${encodeURIComponent(idOf(t.framework_id))}/${encodeURIComponent(idOf(t.task_id))}`;

// ---- Overview --------------------------------------------------------------------------------

export function overview(root) {
  const cards = slot(), res = slot(), byState = slot();
  const canvas = h('canvas', { class: 'chart', id: 'usage-chart' });
  root.append(h('h1', null, 'Cluster'), cards,
    h('div', { class: 'columns' },
      h('section', null, h('h2', null, 'Resources'), res),
      h('section', null, h('h2', null, 'Tasks by state'), byState)),
    h('section', null, h('h2', null, 'CPU and memory in use (last 10 minutes)'), canvas));
  const refresh = () => {
    const m = metrics.latest;
    const info = metrics.master;
    // Until the whole state has arrived (it can take seconds on a large cluster), the counts
    // come from the master's metrics; then from the live state.
    const counts = store.synced ? store.counts : Object.fromEntries(STATES.map((s) =>
      [s, m[`master/${s.replace(/^TASK_/, '').toLowerCase().replace(/^/, 'tasks_')}`] || 0]));
    const total = Object.values(counts).reduce((n, c) => n + c, 0);
    const active = total - STATES.filter(isTerminal).reduce((n, s) => n + (counts[s] || 0), 0);
    const leader = info ? `${info.master_info.hostname || info.master_info.address?.ip}:${info.master_info.port}` : '';
    cards.replace(h('div', { class: 'cards' },
      card('Leader', leader, 'leader'),
      card('Version', metrics.version || ''),
      card('Uptime', m['master/uptime_secs'] !== undefined ? duration(m['master/uptime_secs']) : ''),
      card('Agents', store.synced ? store.agents.size : (m['master/slaves_active'] ?? ''), 'agents-count'),
      card('Frameworks', store.synced ? `${store.frameworks.size} active, ${store.completedFrameworks.size} completed`
        : `${m['master/frameworks_active'] ?? ''} active`),
      card('Tasks', `${active} active, ${total - active} done`, 'tasks-count')));
    const row = (name, fmt) => h('tr', null, h('th', null, name),
      ['total', 'used', 'offered', 'reserved'].map((k) => h('td', { class: 'num' }, fmt(m[`master/${name}_${k}`] || 0))),
      h('td', { class: 'num' }, fmt(Math.max(0, (m[`master/${name}_total`] || 0) - (m[`master/${name}_used`] || 0) - (m[`master/${name}_offered`] || 0)))));
    res.replace(h('table', { class: 'resources' },
      h('thead', null, h('tr', null, h('th', null, ''), ['Total', 'Used', 'Offered', 'Reserved', 'Idle'].map((t) => h('th', { class: 'num' }, t)))),
      h('tbody', null, row('cpus', cpus), row('mem', mb), row('disk', mb), row('gpus', cpus))));
    byState.replace(h('table', { id: 'tasks-by-state' }, h('tbody', null,
      STATES.filter((s) => counts[s]).map((s) =>
        h('tr', null, h('td', null, link(`/tasks?state=${s}`, state(s))), h('td', { class: 'num' }, counts[s]))))),
    total ? null : h('p', { class: 'muted' }, 'No tasks yet.'));
    drawChart(canvas, [
      { label: 'CPUs', color: '#2c7be5', points: metrics.history.map((p) => [p.t, p.cpus]) },
      { label: 'Memory', color: '#e5532c', points: metrics.history.map((p) => [p.t, p.mem]) },
    ], 10 * 60 * 1000);
    // Complete once the metrics and the master's identity are in.
    return metrics.loaded && info !== null;
  };
  return { refresh, onMetrics: refresh };
}

const card = (title, value, id) => h('div', { class: 'card', id: id || null }, h('div', { class: 'card-title' }, title), h('div', { class: 'card-value' }, value));

// ---- Agents ----------------------------------------------------------------------------------

export function agents(root, params, query) {
  let page = 0;
  const filter = h('input', { type: 'search', placeholder: 'Filter by id, hostname or attribute', value: query.get('q') || '' });
  const table = slot();
  root.append(h('h1', null, 'Agents'), h('div', { class: 'filters' }, filter), table);
  const refresh = () => {
    const q = filter.value.trim().toLowerCase();
    const used = usage().byAgent;
    const usedOf = (a) => used.get(idOf(a.agent_info.id)) || { cpus: 0, mem: 0 };
    const rows = [...store.agents.values()].filter((a) => !q ||
      idOf(a.agent_info.id).toLowerCase().includes(q) ||
      (a.agent_info.hostname || '').toLowerCase().includes(q) ||
      JSON.stringify(a.agent_info.attributes || []).toLowerCase().includes(q));
    table.replace(pagedTable([
      ['ID', (a) => link(`/agents/${idOf(a.agent_info.id)}`, idOf(a.agent_info.id))],
      ['Hostname', (a) => a.agent_info.hostname],
      ['CPUs (used / total)', (a) => `${cpus(usedOf(a).cpus)} / ${cpus(scalars(a.total_resources).cpus)}`, 'num'],
      ['Memory (used / total)', (a) => `${mb(usedOf(a).mem)} / ${mb(scalars(a.total_resources).mem)}`, 'num'],
      ['Disk', (a) => mb(scalars(a.total_resources).disk), 'num'],
      ['Attributes', (a) => attributes(a.agent_info.attributes)],
      ['State', (a) => (a.deactivated ? 'Deactivated' : 'Active')],
      ['Registered', (a) => time(a.registered_time)],
    ], rows, { page, onPage: (p) => { page = p; refresh(); } }));
  };
  filter.addEventListener('input', () => { page = 0; refresh(); });
  return { refresh };
}

function attributes(attrs) {
  return (attrs || []).map((a) => {
    const v = a.text ? a.text.value : a.scalar ? a.scalar.value
      : a.ranges ? (a.ranges.range || []).map((r) => `[${r.begin}-${r.end}]`).join(',')
      : a.set ? `{${(a.set.item || []).join(',')}}` : '';
    return `${a.name}:${v}`;
  }).join('; ');
}

export function agent(root, [aid]) {
  const info = slot(), state_ = slot();
  root.append(h('h1', null, 'Agent ', h('span', { class: 'mono' }, aid)), info,
    h('h2', null, 'Frameworks and executors'), state_);
  let loaded = false;
  const refresh = () => {
    const a = store.agents.get(aid);
    if (!a) {
      info.replace(h('p', { class: 'muted' }, 'This agent is not registered (anymore).'));
      return;
    }
    const total = scalars(a.total_resources);
    const used = usage().byAgent.get(aid) || { cpus: 0, mem: 0 };
    info.replace(facts([
      ['Hostname', a.agent_info.hostname],
      ['PID', a.pid],
      ['Registered', time(a.registered_time)],
      ['State', a.deactivated ? 'Deactivated' : 'Active'],
      ['CPUs', `${cpus(used.cpus)} used by tasks, ${cpus(total.cpus)} total`],
      ['Memory', `${mb(used.mem)} used by tasks, ${mb(total.mem)} total`],
      ['Disk', `${mb(total.disk)} total`],
      ['Attributes', attributes(a.agent_info.attributes)],
    ]));
    if (!loaded) {
      loaded = true;
      loadAgentState(a, state_);
    }
  };
  return { refresh };
}

async function loadAgentState(a, into) {
  into.replace(h('p', { class: 'muted' }, 'Asking the agent…'));
  let st;
  try {
    st = await agentJson(a.pid, 'state');
  } catch (e) {
    into.replace(h('p', { class: 'error' }, `The agent did not answer: ${e.message}`));
    return;
  }
  const aid = idOf(a.agent_info.id);
  const rows = [];
  for (const f of [...(st.frameworks || []), ...(st.completed_frameworks || [])]) {
    for (const e of [...(f.executors || []), ...(f.completed_executors || [])]) {
      rows.push({ f, e, done: (f.completed_executors || []).includes(e) });
    }
  }
  let page = 0;
  const draw = () => into.replace(pagedTable([
    ['Framework', (r) => link(`/frameworks/${r.f.id}`, r.f.name || r.f.id)],
    ['Executor', (r) => r.e.id],
    ['Name', (r) => r.e.name || ''],
    ['Tasks', (r) => (r.e.tasks || []).length + (r.e.completed_tasks || []).length, 'num'],
    ['State', (r) => (r.done ? 'Completed' : 'Running')],
    ['Sandbox', (r) => link(browseHref(aid, r.e.directory), 'Browse')],
  ], rows, { page, onPage: (p) => { page = p; draw(); } }));
  draw();
}

const browseHref = (aid, path) => `/agents/${encodeURIComponent(aid)}/browse?path=${encodeURIComponent(path)}`;

// ---- Sandbox browser -------------------------------------------------------------------------

export function sandbox(root, [aid], query) {
  const path = query.get('path') || '';
  const file = query.get('file');
  const body = slot();
  const crumbs = h('div', { class: 'crumbs mono' });
  root.append(h('h1', null, 'Sandbox'), crumbs, body);
  const parts = path.split('/').filter(Boolean);
  crumbs.append(...parts.map((p, i) => [i ? ' / ' : '/', link(browseHref(aid, '/' + parts.slice(0, i + 1).join('/')), p)]).flat());
  if (file) crumbs.append(' / ', h('b', null, file));
  let timer = null;
  let left = false;
  const stop = () => { left = true; if (timer) clearTimeout(timer); };
  let started = false;
  // The agent's address comes with the store's first state: start once it is known.
  const start = () => {
    const a = store.agents.get(aid);
    if (started) return;
    if (!a) {
      body.replace(h('p', { class: 'muted' }, store.status === 'live' ? 'This agent is not registered.' : 'Waiting for the cluster state…'));
      return;
    }
    started = true;
    show(a);
  };
  const show = (a) => {
    if (file) {
      const target = `${path}/${file}`;
      const pre = h('pre', { class: 'file', id: 'file-content' });
      const at = a.pid.indexOf('@');
      body.replace(h('div', { class: 'filebar' },
        h('span', { class: 'live' }, 'following the end of the file'), ' ',
        h('a', { href: `//${a.pid.slice(at + 1)}/${a.pid.slice(0, at)}/files/download?path=${encodeURIComponent(target)}` }, 'Download')), pre);
      let offset = -1;
      const tail = async () => {
        try {
          if (offset < 0) {
            const size = (await agentJson(a.pid, 'files/read', { path: target, offset: -1 })).offset;
            offset = Math.max(0, size - 64 * 1024);
          }
          const r = await agentJson(a.pid, 'files/read', { path: target, offset, length: 64 * 1024 });
          // Offsets are in bytes; what came back is text (its UTF-8 length is what was read).
          const read = r.data ? new TextEncoder().encode(r.data).length : 0;
          if (read) {
            const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
            pre.append(r.data);
            // Only the last megabyte is kept on the page.
            if (pre.textContent.length > 2 * 1024 * 1024) pre.textContent = pre.textContent.slice(-1024 * 1024);
            offset = r.offset + read;
            if (atEnd) pre.scrollTop = pre.scrollHeight;
          }
          if (!left) timer = setTimeout(tail, read >= 64 * 1024 ? 0 : 1000);
        } catch (e) {
          // Try again a little later (the agent may be restarting).
          if (!left) timer = setTimeout(tail, 3000);
        }
      };
      tail();
    } else {
      agentJson(a.pid, 'files/browse', { path }).then((entries) => {
        entries.sort((x, y) => (y.mode[0] === 'd') - (x.mode[0] === 'd') || x.path.localeCompare(y.path));
        body.replace(h('table', { class: 'listing', id: 'listing' },
          h('thead', null, h('tr', null, ['Mode', 'Name', 'Size', 'Modified'].map((t) => h('th', null, t)))),
          h('tbody', null, entries.map((e) => {
            const name = e.path.split('/').pop();
            const dir = e.mode[0] === 'd';
            const href = dir ? browseHref(aid, e.path) : `${browseHref(aid, path)}&file=${encodeURIComponent(name)}`;
            return h('tr', null, h('td', { class: 'mono' }, e.mode), h('td', null, link(href, name + (dir ? '/' : ''))),
              h('td', { class: 'num' }, dir ? '' : bytes(e.size)), h('td', null, time(e.mtime)));
          }))));
      }).catch((e) => body.replace(h('p', { class: 'error' }, e.message)));
    }
  };
  return { refresh: start, leave: stop };
}

// ---- Frameworks ------------------------------------------------------------------------------

function activeTasksOf(fid) {
  let n = 0;
  for (const t of store.tasks.values()) if (idOf(t.framework_id) === fid && !isTerminal(t.state)) n++;
  return n;
}

export function frameworks(root) {
  const active = slot(), done = slot();
  let pa = 0, pd = 0;
  root.append(h('h1', null, 'Frameworks'), h('h2', null, 'Active'), active, h('h2', null, 'Completed'), done);
  const cols = (withTasks) => [
    ['ID', (f) => link(`/frameworks/${idOf(f.framework_info.id)}`, idOf(f.framework_info.id))],
    ['Name', (f) => f.framework_info.name],
    ['User', (f) => f.framework_info.user],
    ['Roles', (f) => (f.framework_info.roles || [f.framework_info.role]).filter(Boolean).join(', ')],
    ['Principal', (f) => f.framework_info.principal || ''],
    withTasks ? ['Active tasks', (f) => activeTasksOf(idOf(f.framework_info.id)), 'num'] : null,
    withTasks ? ['CPUs', (f) => cpus((used.get(idOf(f.framework_info.id)) || {}).cpus), 'num'] : null,
    withTasks ? ['Memory', (f) => mb((used.get(idOf(f.framework_info.id)) || {}).mem), 'num'] : null,
    ['Registered', (f) => time(f.registered_time)],
  ].filter(Boolean);
  let used = new Map();
  const refresh = () => {
    used = usage().byFramework;
    active.replace(pagedTable(cols(true), [...store.frameworks.values()], { page: pa, onPage: (p) => { pa = p; refresh(); } }));
    done.replace(pagedTable(cols(false), [...store.completedFrameworks.values()], { page: pd, onPage: (p) => { pd = p; refresh(); } }));
  };
  return { refresh };
}

export function framework(root, [fid]) {
  const info = slot();
  const tasks = taskTable({ framework: fid });
  root.append(h('h1', null, 'Framework ', h('span', { class: 'mono' }, fid)), info, h('h2', null, 'Tasks'), tasks.el);
  const refresh = () => {
    const f = frameworkOf(fid);
    if (!f) {
      info.replace(h('p', { class: 'muted' }, 'Unknown framework.'));
    } else {
      const fi = f.framework_info;
      const used = usage().byFramework.get(fid) || { cpus: 0, mem: 0 };
      info.replace(facts([
        ['Name', fi.name], ['User', fi.user], ['Principal', fi.principal],
        ['Roles', (fi.roles || [fi.role]).filter(Boolean).join(', ')],
        ['Hostname', fi.hostname],
        // A framework names its own web UI: linked only when it is an http(s) address.
        ['Web UI', /^https?:\/\//i.test(fi.webui_url || '') ? h('a', { href: fi.webui_url, rel: 'noopener noreferrer' }, fi.webui_url) : (fi.webui_url || '')],
        ['State', store.frameworks.has(fid) ? (f.connected ? 'Connected' : 'Disconnected') : 'Completed'],
        ['Registered', time(f.registered_time)],
        ['Used by tasks', `${cpus(used.cpus)} CPUs, ${mb(used.mem)}`],
        ['Failover timeout', fi.failover_timeout ? duration(fi.failover_timeout) : ''],
      ]));
    }
    tasks.refresh();
  };
  return { refresh };
}

// ---- Tasks -----------------------------------------------------------------------------------

/** A filterable, paged table of tasks; `fixed` filters that the page sets (its framework). */
function taskTable(fixed, query = new URLSearchParams()) {
  let page = 0;
  const stateSel = h('select', { 'aria-label': 'State', id: 'state-filter' },
    h('option', { value: '' }, 'Any state'), h('option', { value: 'active' }, 'Active'),
    STATES.map((s) => h('option', { value: s }, s.replace(/^TASK_/, ''))));
  stateSel.value = query.get('state') || '';
  const name = h('input', { type: 'search', placeholder: 'Name or id', id: 'name-filter', value: query.get('q') || '' });
  const fw = fixed.framework ? null : h('input', { type: 'search', placeholder: 'Framework', value: query.get('framework') || '' });
  const ag = h('input', { type: 'search', placeholder: 'Agent', value: query.get('agent') || '' });
  const table = slot();
  const el = h('div', null, h('div', { class: 'filters' }, stateSel, name, fw, ag), table);
  // Until the whole state has arrived, the newest tasks from the classic /master/tasks (one
  // page, at once even on a large cluster).
  let first = null;
  if (!store.synced) {
    const q = new URLSearchParams({ limit: 50, order: 'des' });
    if (fixed.framework) q.set('framework_id', fixed.framework);
    firstRequests.push(api(`/master/tasks?${q}`).then((r) => {
      first = (r.tasks || []).map((t) => ({
        task_id: { value: t.id }, name: t.name, state: t.state,
        framework_id: { value: t.framework_id }, agent_id: { value: t.slave_id },
        resources: Object.entries(t.resources || {}).filter(([, v]) => typeof v === 'number')
          .map(([k, v]) => ({ name: k, type: 'SCALAR', scalar: { value: v } })),
        statuses: t.statuses || [],
      }));
      redraw();
    }).catch(() => {}));
  }
  const refresh = () => {
    if (!store.synced) {
      if (!first) {
        table.replace(h('p', { class: 'muted' }, 'Loading the tasks…'));
        return false;
      }
      table.replace(taskRows(first, 0, () => {}), h('p', { class: 'muted' }, 'The newest tasks; the rest follow with the cluster state.'));
      return true;
    }
    const st = stateSel.value, q = name.value.trim().toLowerCase();
    const f = fixed.framework || (fw ? fw.value.trim().toLowerCase() : '');
    const a = ag.value.trim().toLowerCase();
    const rows = [];
    for (const t of store.tasks.values()) {
      if (st === 'active' ? isTerminal(t.state) : st && t.state !== st) continue;
      const fid = idOf(t.framework_id), aid = idOf(t.agent_id);
      if (fixed.framework ? fid !== f : f && !fid.toLowerCase().includes(f) && !frameworkName(fid).toLowerCase().includes(f)) continue;
      if (a && !aid.toLowerCase().includes(a) && !agentName(aid).toLowerCase().includes(a)) continue;
      if (q && !idOf(t.task_id).toLowerCase().includes(q) && !(t.name || '').toLowerCase().includes(q)) continue;
      rows.push(t);
    }
    rows.reverse(); // newest first
    table.replace(taskRows(rows, page, (p) => { page = p; refresh(); }));
    return true;
  };
  for (const c of [stateSel, name, fw, ag].filter(Boolean)) c.addEventListener('input', () => { page = 0; refresh(); });
  return { el, refresh };
}

/** A paged table of v1 tasks. */
function taskRows(rows, page, onPage) {
  return pagedTable([
      ['ID', (t) => link(taskHref(t), idOf(t.task_id))],
      ['Name', (t) => t.name],
      ['State', (t) => state(t.state)],
      ['Framework', (t) => link(`/frameworks/${idOf(t.framework_id)}`, frameworkName(idOf(t.framework_id)))],
      ['Agent', (t) => link(`/agents/${idOf(t.agent_id)}`, agentName(idOf(t.agent_id)))],
      ['CPUs', (t) => cpus(scalars(t.resources).cpus), 'num'],
      ['Memory', (t) => mb(scalars(t.resources).mem), 'num'],
      ['Updated', (t) => { const s = (t.statuses || []).at(-1); return s ? time(s.timestamp) : ''; }],
  ], rows, { page, onPage });
}

export function tasks(root, params, query) {
  const t = taskTable({}, query);
  t.el.id = 'tasks';
  root.append(h('h1', null, 'Tasks'), t.el);
  return { refresh: t.refresh };
}

export function task(root, [fid, tid]) {
  const info = slot(), history = slot(), sandboxLink = slot();
  root.append(h('h1', null, 'Task ', h('span', { class: 'mono' }, tid)), info, sandboxLink,
    h('h2', null, 'Status history'), history);
  let looked = false;
  let page = 0;
  const refresh = () => {
    const t = store.tasks.get(`${fid}/${tid}`);
    if (!t) {
      info.replace(h('p', { class: 'muted' }, 'Unknown task.'));
      return;
    }
    const r = scalars(t.resources);
    const last = (t.statuses || []).at(-1) || {};
    const ports = (t.resources || []).filter((x) => x.name === 'ports').flatMap((x) => (x.ranges?.range || []).map((g) => `${g.begin}-${g.end}`));
    info.replace(facts([
      ['Name', t.name],
      ['State', state(t.state)],
      ['Framework', link(`/frameworks/${fid}`, frameworkName(fid))],
      ['Agent', link(`/agents/${idOf(t.agent_id)}`, agentName(idOf(t.agent_id)))],
      ['Executor', idOf(t.executor_id)],
      ['Resources', `${cpus(r.cpus)} CPUs, ${mb(r.mem)} memory, ${mb(r.disk)} disk${ports.length ? ', ports ' + ports.join(',') : ''}`],
      ['Health', last.healthy === undefined ? '' : last.healthy ? 'Healthy' : 'Unhealthy'],
      ['Labels', ((t.labels || {}).labels || []).map((l) => `${l.key}=${l.value ?? ''}`).join(', ')],
    ]));
    history.replace(pagedTable([
      ['State', (s) => state(s.state)],
      ['Time', (s) => time(s.timestamp)],
      ['Source', (s) => (s.source || '').replace(/^SOURCE_/, '')],
      ['Reason', (s) => (s.reason || '').replace(/^REASON_/, '')],
      ['Message', (s) => s.message || ''],
      ['Healthy', (s) => (s.healthy === undefined ? '' : String(s.healthy))],
    ], [...(t.statuses || [])].reverse(), { page, onPage: (p) => { page = p; refresh(); } }));
    if (!looked && store.agents.get(idOf(t.agent_id))) {
      looked = true;
      findSandbox(t, sandboxLink);
    }
  };
  return { refresh };
}

/** Asks the task's agent for its executor's directory and links to the sandbox browser. */
async function findSandbox(t, into) {
  const aid = idOf(t.agent_id), tid = idOf(t.task_id), fid = idOf(t.framework_id);
  try {
    const st = await agentJson(store.agents.get(aid).pid, 'state');
    for (const f of [...(st.frameworks || []), ...(st.completed_frameworks || [])]) {
      if (f.id !== fid) continue;
      for (const e of [...(f.executors || []), ...(f.completed_executors || [])]) {
        const all = [...(e.tasks || []), ...(e.queued_tasks || []), ...(e.completed_tasks || [])];
        if (all.some((x) => x.id === tid)) {
          into.replace(h('p', null, link(browseHref(aid, e.directory), 'Sandbox'), h('span', { class: 'muted mono' }, ' ' + e.directory)));
          return;
        }
      }
    }
    into.replace(h('p', { class: 'muted' }, 'The agent no longer has this task\'s sandbox.'));
  } catch (e) {
    into.replace(h('p', { class: 'error' }, `The agent did not answer: ${e.message}`));
  }
}

// ---- Roles and offers ------------------------------------------------------------------------

export function roles(root) {
  const body = slot();
  root.append(h('h1', null, 'Roles'), body);
  const load = async () => {
    const [r, q] = await Promise.all([api('/master/roles'), api('/api/v1', { type: 'GET_QUOTA' })]);
    const quota = new Map();
    const configs = q.get_quota?.status?.configs || [];
    for (const c of configs) quota.set(c.role, c);
    const scalar = (m) => Object.entries(m || {}).map(([k, v]) => `${k}:${k === 'mem' || k === 'disk' ? mb(v.value) : cpus(v.value)}`).join(', ');
    const list = (r.roles || []).sort((a, b) => a.name.localeCompare(b.name));
    body.replace(h('table', { class: 'roles' },
      h('thead', null, h('tr', null, ['Role', 'Weight', 'Frameworks', 'Allocated CPUs', 'Allocated memory', 'Quota guarantees', 'Quota limits'].map((t) => h('th', null, t)))),
      h('tbody', null, list.map((role) => {
        const depth = role.name === '*' ? 0 : role.name.split('/').length - 1;
        const c = quota.get(role.name);
        return h('tr', null,
          h('td', { style: `padding-left:${0.5 + depth * 1.5}em` }, role.name.split('/').pop()),
          h('td', { class: 'num' }, role.weight),
          h('td', { class: 'num' }, (role.frameworks || []).length),
          h('td', { class: 'num' }, cpus(role.resources?.cpus)),
          h('td', { class: 'num' }, mb(role.resources?.mem)),
          h('td', null, c ? scalar(c.guarantees) : ''),
          h('td', null, c ? scalar(c.limits) : ''));
      }))),
    list.length ? null : h('p', { class: 'muted' }, 'No role has a framework, a weight or a quota yet.'));
  };
  const refresh = () => load().catch((e) => body.replace(h('p', { class: 'error' }, e.message)));
  refresh();
  return { refresh: () => {}, every: 5000, poll: refresh };
}

export function offers(root) {
  const body = slot();
  root.append(h('h1', null, 'Outstanding offers'), body);
  let page = 0;
  const load = async () => {
    const r = await api('/api/v1', { type: 'GET_FRAMEWORKS' });
    const rows = [];
    for (const f of r.get_frameworks?.frameworks || []) {
      for (const o of f.offers || []) rows.push({ f, o });
    }
    body.replace(pagedTable([
      ['Offer', ({ o }) => idOf(o.id)],
      ['Framework', ({ f }) => link(`/frameworks/${idOf(f.framework_info.id)}`, f.framework_info.name)],
      ['Agent', ({ o }) => link(`/agents/${idOf(o.agent_id)}`, o.hostname || idOf(o.agent_id))],
      ['CPUs', ({ o }) => cpus(scalars(o.resources).cpus), 'num'],
      ['Memory', ({ o }) => mb(scalars(o.resources).mem), 'num'],
      ['Disk', ({ o }) => mb(scalars(o.resources).disk), 'num'],
    ], rows, { page, onPage: (p) => { page = p; poll(); } }));
  };
  const poll = () => load().catch((e) => body.replace(h('p', { class: 'error' }, e.message)));
  poll();
  return { refresh: () => {}, every: 5000, poll };
}
