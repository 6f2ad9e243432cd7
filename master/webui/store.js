// The cluster as the UI knows it, kept live by the master's operator event stream
// (POST /api/v1 SUBSCRIBE, RecordIO of JSON events): the first event holds the whole state,
// the rest change it one task, agent or framework at a time. Nothing polls /master/state.

import { idOf } from './util.js';

const TERMINAL = new Set(['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_LOST',
  'TASK_ERROR', 'TASK_DROPPED', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR']);

export const isTerminal = (s) => TERMINAL.has(s);

export const store = {
  /** Agent id -> v1 GetAgents.Agent. */
  agents: new Map(),
  /** Framework id -> v1 GetFrameworks.Framework (active, then completed). */
  frameworks: new Map(),
  completedFrameworks: new Map(),
  /** `<framework id>/<task id>` -> v1 Task, in the order they became known. */
  tasks: new Map(),
  /** Tasks by state. */
  counts: {},
  /** v1 GetExecutors.Executor list. */
  executors: [],
  /** 'connecting', 'live' or 'lost'. */
  status: 'connecting',
  /** The whole state has arrived (the stream's first event). */
  synced: false,
  /** Bumped at every change; pages redraw when it moved. */
  version: 0,
  listeners: new Set(),
};

const taskKey = (fid, tid) => `${idOf(fid)}/${idOf(tid)}`;

function count(state, delta) {
  store.counts[state] = (store.counts[state] || 0) + delta;
}

function addTask(t) {
  const key = taskKey(t.framework_id, t.task_id);
  const old = store.tasks.get(key);
  if (old) count(old.state, -1);
  store.tasks.set(key, t);
  count(t.state, 1);
}

function reset(state) {
  store.agents.clear();
  store.frameworks.clear();
  store.completedFrameworks.clear();
  store.tasks.clear();
  store.counts = {};
  const agents = state.get_agents || {};
  for (const a of agents.agents || []) store.agents.set(idOf(a.agent_info.id), a);
  const fws = state.get_frameworks || {};
  for (const f of fws.frameworks || []) store.frameworks.set(idOf(f.framework_info.id), f);
  for (const f of fws.completed_frameworks || []) store.completedFrameworks.set(idOf(f.framework_info.id), f);
  const tasks = state.get_tasks || {};
  for (const list of ['completed_tasks', 'unreachable_tasks', 'tasks', 'pending_tasks', 'orphan_tasks']) {
    for (const t of tasks[list] || []) addTask(t);
  }
  store.executors = (state.get_executors || {}).executors || [];
  store.synced = true;
}

/** Applies one operator event. */
export function apply(ev) {
  switch (ev.type) {
    case 'SUBSCRIBED':
      reset(ev.subscribed.get_state || {});
      break;
    case 'TASK_ADDED':
      addTask(ev.task_added.task);
      break;
    case 'TASK_UPDATED': {
      const u = ev.task_updated;
      const t = store.tasks.get(taskKey(u.framework_id, u.status.task_id));
      if (!t) break;
      count(t.state, -1);
      t.state = u.state;
      count(t.state, 1);
      (t.statuses = t.statuses || []).push(u.status);
      break;
    }
    case 'AGENT_ADDED': {
      const a = ev.agent_added.agent;
      store.agents.set(idOf(a.agent_info.id), a);
      break;
    }
    case 'AGENT_REMOVED':
      store.agents.delete(idOf(ev.agent_removed.agent_id));
      break;
    case 'FRAMEWORK_ADDED':
    case 'FRAMEWORK_UPDATED': {
      const f = (ev.framework_added || ev.framework_updated).framework;
      store.frameworks.set(idOf(f.framework_info.id), f);
      break;
    }
    case 'FRAMEWORK_REMOVED': {
      const info = ev.framework_removed.framework_info;
      const id = idOf(info.id);
      const f = store.frameworks.get(id) || { framework_info: info };
      store.frameworks.delete(id);
      f.active = false;
      f.connected = false;
      store.completedFrameworks.set(id, f);
      break;
    }
    default:
      return; // HEARTBEAT and events the UI does not show.
  }
  changed();
}

function changed() {
  store.version++;
  for (const l of store.listeners) l();
}

/** Asks for a redraw (data a page fetched on its own has arrived). */
export const redraw = changed;

/**
 * Reads RecordIO (`<length>\n<record>`) from a stream, calling `onRecord` with each record's
 * bytes. A large record (the first, the whole state) is joined once, not chunk by chunk.
 */
async function readRecords(reader, onRecord) {
  let head = new Uint8Array(0);
  let need = -1;
  let parts = [];
  let have = 0;
  const take = (bytes) => {
    while (bytes.length) {
      if (need < 0) {
        const nl = bytes.indexOf(10);
        if (nl < 0) {
          const joined = new Uint8Array(head.length + bytes.length);
          joined.set(head);
          joined.set(bytes, head.length);
          head = joined;
          return;
        }
        const line = new Uint8Array(head.length + nl);
        line.set(head);
        line.set(bytes.subarray(0, nl), head.length);
        head = new Uint8Array(0);
        need = parseInt(new TextDecoder().decode(line), 10);
        if (!(need >= 0)) throw new Error('a malformed RecordIO length');
        bytes = bytes.subarray(nl + 1);
        parts = [];
        have = 0;
      }
      const piece = bytes.subarray(0, need - have);
      parts.push(piece);
      have += piece.length;
      bytes = bytes.subarray(piece.length);
      if (have === need) {
        const rec = new Uint8Array(need);
        let at = 0;
        for (const p of parts) { rec.set(p, at); at += p.length; }
        need = -1;
        parts = [];
        onRecord(rec);
      }
    }
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    take(value);
  }
}

/** Requests a page makes for its first render; the subscription waits for them (at most two
 *  seconds), so that the master answers them before it builds the whole state. */
export const firstRequests = [];

/** Subscribes, and subscribes again (a full resync) two seconds after the stream ends. */
export async function connect() {
  const decoder = new TextDecoder();
  await Promise.race([Promise.allSettled(firstRequests), new Promise((done) => setTimeout(done, 2000))]);
  for (;;) {
    try {
      const r = await fetch('/api/v1', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Accept': 'application/json' },
        body: JSON.stringify({ type: 'SUBSCRIBE' }),
      });
      if (!r.ok) throw new Error(`SUBSCRIBE: ${r.status}`);
      // Where the first render's time goes (read by the benchmark).
      window.__mesosTimings = window.__mesosTimings || { subscribed: performance.now() };
      store.status = 'live';
      changed();
      await readRecords(r.body.getReader(), (rec) => {
        const t = window.__mesosTimings;
        if (t && t.firstRecord === undefined) t.firstRecord = performance.now();
        const ev = JSON.parse(decoder.decode(rec));
        if (t && t.parsed === undefined) t.parsed = performance.now();
        apply(ev);
        if (t && t.applied === undefined) t.applied = performance.now();
      });
    } catch (e) {
      console.warn('operator event stream:', e.message);
    }
    store.status = 'lost';
    changed();
    await new Promise((done) => setTimeout(done, 2000));
  }
}
