#!/usr/bin/env python3
"""Client-compatibility scenario: the real pymesos scheduler driver against our
master's v1 scheduler HTTP API (and, through a custom executor, the agent's v1
executor HTTP API).

    python scenario.py <master host:port> <path to executor.py>

Exits 0 only when every step succeeded; otherwise prints what failed or was
still missing on stderr and exits 1.  Bounded by PYMESOS_SCENARIO_TIMEOUT
seconds (default 60).

Steps:
  1. subscribe (pymesos GETs /version first, then POSTs SUBSCRIBE) and get offers;
  2. launch 20 `echo hi` tasks (cpus 0.1, mem 32), each must reach TASK_RUNNING
     and TASK_FINISHED;
  3. launch `sleep 1000`, kill it on TASK_RUNNING, expect TASK_KILLED;
  4. reconcile implicitly and explicitly (killed task + one finished task), and
     expect an UPDATE for each explicitly reconciled task;
  5. launch a task on a custom executor (executor.py, a pymesos executor) and
     expect TASK_RUNNING; send the executor a framework message, which it
     answers with one of its own; then TASK_FINISHED carrying its message, and
     when the executor exits, executorLost (a FAILURE event) with status 0;
  6. driver.stop() (pymesos sends TEARDOWN).
Every UPDATE carrying a uuid must be acknowledged by pymesos (implicit
acknowledgements) with a 2xx answer from the master.
"""
import getpass
import os
import shlex
import socket
import sys
import threading
import time
import traceback

from pymesos import MesosSchedulerDriver, Scheduler, decode_data, encode_data

import tls_patch

N_SHORT = 20
TIMEOUT = float(os.environ.get("PYMESOS_SCENARIO_TIMEOUT", "60"))
REFUSE = {"refuse_seconds": 1.0}
EXECUTOR_MESSAGE = "hello from pymesos executor"
EXECUTOR_DATA = b"pymesos-executor"
PING = b"ping from the scheduler"
PONG = b"pong: " + PING
TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST",
            "TASK_ERROR", "TASK_DROPPED", "TASK_GONE", "TASK_GONE_BY_OPERATOR",
            "TASK_UNKNOWN"}
EPS = 1e-6


def log(msg):
    print("[%6.2fs] %s" % (time.time() - START, msg), flush=True)


START = time.time()


def scalar(name, value):
    return {"name": name, "type": "SCALAR", "scalar": {"value": value}}


def resources(cpus, mem):
    return [scalar("cpus", cpus), scalar("mem", mem)]


def unreserved_scalars(offer):
    """Sums the unreserved cpus and mem of an offer."""
    total = {"cpus": 0.0, "mem": 0.0}
    for r in offer.get("resources", []):
        if r.get("name") not in total or r.get("type", "SCALAR") != "SCALAR":
            continue
        if r.get("reservations") or r.get("reservation") or \
                r.get("role", "*") != "*":
            continue
        total[r["name"]] += float(r.get("scalar", {}).get("value", 0.0))
    return total["cpus"], total["mem"]


class Spec(object):
    def __init__(self, task_id, kind, cpus, mem, command=None, executor=None):
        self.task_id = task_id
        self.kind = kind
        self.cpus = cpus
        self.mem = mem
        self.command = command
        self.executor = executor

    def build(self, agent_id):
        task = {
            "task_id": {"value": self.task_id},
            "agent_id": {"value": agent_id},
            "name": "pymesos-" + self.task_id,
            "resources": resources(0.1, 32),
        }
        if self.executor is not None:
            task["executor"] = self.executor
        else:
            task["command"] = {"value": self.command, "shell": True}
        return task


class CompatScheduler(Scheduler):
    def __init__(self, executor_path):
        self.lock = threading.RLock()
        self.done = threading.Event()
        self.failure = None
        self.phase = "subscribe"
        self.pending = []
        self.launched = {}          # task_id -> agent_id
        self.states = {}            # task_id -> [states]
        self.statuses = {}          # task_id -> [status]
        self.framework_id = None
        self.offers_seen = 0
        self.offers_declined = 0
        self.updates = 0
        self.uuid_updates = 0
        self.acks_ok = 0
        self.seen_uuids = set()
        self.duplicate_uuids = 0
        self.long_id = "long-0"
        self.kill_sent = False
        self.reconcile_targets = []
        self.reconcile_started = None
        self.reconcile_last = None
        self.reconciled = {}        # task_id -> status seen after reconcile
        self.exec_task_id = "pyexec-task"
        self.ping_sent = False
        self.pong = None
        self.executor_lost = None
        self.teardown_ok = None
        command = "%s %s" % (shlex.quote(sys.executable),
                             shlex.quote(os.path.abspath(executor_path)))
        self.executor_info = {
            "executor_id": {"value": "pyexec"},
            "name": "pymesos compat executor",
            "command": {"value": command, "shell": True},
            "resources": resources(0.1, 32),
        }

    # ---- helpers (called with self.lock held) ----------------------------
    def fail(self, msg):
        if self.failure is None:
            self.failure = msg
            log("FAIL: " + msg)
        self.done.set()

    def missing(self):
        """A description of what the current phase still waits for."""
        p = self.phase
        if p == "subscribe":
            return "no SUBSCRIBED event (registered callback never called)"
        if p == "short":
            lacking = []
            for i in range(N_SHORT):
                tid = "short-%02d" % i
                st = self.states.get(tid, [])
                need = [s for s in ("TASK_RUNNING", "TASK_FINISHED")
                        if s not in st]
                if tid not in self.launched:
                    lacking.append("%s (never launched)" % tid)
                elif need:
                    lacking.append("%s (missing %s; got %s)" % (
                        tid, "+".join(need), st))
            return "short tasks incomplete (%d offers seen): %s" % (
                self.offers_seen, "; ".join(lacking))
        if p == "long":
            st = self.states.get(self.long_id, [])
            if self.long_id not in self.launched:
                return "long task never launched (%d offers seen)" % \
                    self.offers_seen
            if "TASK_RUNNING" not in st:
                return "long task never reached TASK_RUNNING (got %s)" % st
            return "long task not TASK_KILLED after killTask (got %s)" % st
        if p == "reconcile":
            return "no UPDATE after reconciliation for %s (got: %s)" % (
                [t for t in self.reconcile_targets if t not in self.reconciled],
                dict((k, v.get("state")) for k, v in self.reconciled.items()))
        if p == "executor":
            st = self.states.get(self.exec_task_id, [])
            if self.exec_task_id not in self.launched:
                return "custom-executor task never launched (%d offers seen)" \
                    % self.offers_seen
            msgs = [s.get("message") for s in
                    self.statuses.get(self.exec_task_id, [])]
            return ("custom-executor task lacks TASK_RUNNING+TASK_FINISHED "
                    "(got %s, messages %s; framework message sent %s, "
                    "answer %r)" % (st, msgs, self.ping_sent, self.pong))
        if p == "executor-exit":
            return "no executorLost (FAILURE event) for the custom executor"

        return "phase %s" % p

    def enter(self, phase, pending=()):
        log("=== phase %s" % phase)
        self.phase = phase
        self.pending = list(pending)

    def send_reconcile(self, driver):
        self.reconcile_last = time.time()
        log("reconcileTasks([]) (implicit)")
        driver.reconcileTasks([])
        explicit = [{"task_id": {"value": t},
                     "agent_id": {"value": self.launched[t]}}
                    for t in self.reconcile_targets]
        log("reconcileTasks(%s) (explicit)" % self.reconcile_targets)
        driver.reconcileTasks(explicit)

    # ---- called from the main thread --------------------------------------
    def tick(self, driver):
        with self.lock:
            if self.phase == "reconcile" and \
                    time.time() - self.reconcile_last > 3.0:
                log("no reconciliation answer yet; reconciling again")
                self.send_reconcile(driver)

    # ---- pymesos callbacks (pymesos IO thread) -----------------------------
    def registered(self, driver, framework_id, master_info):
        with self.lock:
            self.framework_id = framework_id.value
            log("registered: framework %s, master %s" % (
                framework_id.value, dict(master_info)))
            if not framework_id.value:
                self.fail("SUBSCRIBED carried no framework_id.value")
                return
            self.enter("short", [
                Spec("short-%02d" % i, "short", 0.1, 32, command="echo hi")
                for i in range(N_SHORT)])

    def reregistered(self, driver, master_info):
        log("reregistered (the subscription stream was re-established): %s"
            % dict(master_info))

    def disconnected(self, driver):
        log("disconnected")

    def processHeartBeat(self, driver):
        log("heartbeat")

    def error(self, driver, message):
        with self.lock:
            self.fail("master sent ERROR event: %s" % message)

    def offerRescinded(self, driver, offer_id):
        log("offer rescinded: %s" % offer_id.value)

    def slaveLost(self, driver, agent_id):
        log("agent lost: %s" % agent_id.value)

    def executorLost(self, driver, executor_id, agent_id, status):
        log("executor lost: %s on %s status %s" % (
            executor_id.value, agent_id.value, status))
        with self.lock:
            if executor_id.value != "pyexec":
                return
            self.executor_lost = status
            if self.phase == "executor-exit":
                if status != 0:
                    self.fail("custom executor exited with status %r, "
                              "expected 0" % status)
                    return
                self.enter("done")
                self.done.set()

    def frameworkMessage(self, driver, executor_id, agent_id, data):
        log("framework message from %s: %r" % (executor_id.value, data))
        with self.lock:
            if executor_id.value == "pyexec":
                self.pong = decode_data(data)

    def resourceOffers(self, driver, offers):
        with self.lock:
            for offer in offers:
                self.offers_seen += 1
                if not offer.id.value or not offer.agent_id.value:
                    self.fail("offer lacks id.value or agent_id.value: %s"
                              % dict(offer))
                    return
                cpus, mem = unreserved_scalars(offer)
                tasks = []
                while self.pending and not self.done.is_set():
                    spec = self.pending[0]
                    if cpus + EPS < spec.cpus or mem + EPS < spec.mem:
                        break
                    tasks.append(spec.build(offer.agent_id.value))
                    self.launched[spec.task_id] = offer.agent_id.value
                    self.pending.pop(0)
                    cpus -= spec.cpus
                    mem -= spec.mem
                if tasks:
                    log("offer %s (agent %s, cpus %.2f mem %.0f): launching %s"
                        % (offer.id.value, offer.agent_id.value,
                           *unreserved_scalars(offer),
                           [t["task_id"]["value"] for t in tasks]))
                    driver.launchTasks(offer.id, tasks, filters=REFUSE)
                else:
                    self.offers_declined += 1
                    driver.declineOffer(offer.id, filters=REFUSE)

    def statusUpdate(self, driver, status):
        with self.lock:
            self.updates += 1
            tid = status.task_id.value
            state = status.state
            extra = ""
            if status.get("message"):
                extra += " message=%r" % status.message
            if status.get("reason"):
                extra += " reason=%s" % status.reason
            if status.get("source"):
                extra += " source=%s" % status.source
            log("update %s %s%s%s" % (tid, state, extra,
                                      "" if "uuid" in status else " (no uuid)"))
            if not tid or not state:
                self.fail("UPDATE without task_id.value or state: %s"
                          % dict(status))
                return
            if "uuid" in status:
                self.uuid_updates += 1
                if "agent_id" not in status:
                    self.fail("UPDATE with uuid but without agent_id (pymesos "
                              "needs status.agent_id to ACKNOWLEDGE): %s"
                              % dict(status))
                    return
                if status.uuid in self.seen_uuids:
                    self.duplicate_uuids += 1
                    log("note: update uuid %s delivered again (retry; was the "
                        "ACKNOWLEDGE processed?)" % status.uuid)
                self.seen_uuids.add(status.uuid)
            self.states.setdefault(tid, []).append(state)
            self.statuses.setdefault(tid, []).append(status)

            if self.phase == "reconcile" and tid in self.reconcile_targets \
                    and tid not in self.reconciled:
                self.reconciled[tid] = status
                if all(t in self.reconciled for t in self.reconcile_targets):
                    self.enter_executor_phase()
                return

            if tid.startswith("short-"):
                if state in TERMINAL and state != "TASK_FINISHED":
                    self.fail("short task %s ended %s (message %r, reason %s)"
                              % (tid, state, status.get("message"),
                                 status.get("reason")))
                    return
                if self.phase == "short" and self.short_complete():
                    log("all %d short tasks RUNNING+FINISHED" % N_SHORT)
                    self.enter("long", [Spec(self.long_id, "long", 0.1, 32,
                                             command="sleep 1000")])
            elif tid == self.long_id and self.phase == "long":
                if state == "TASK_RUNNING" and not self.kill_sent:
                    self.kill_sent = True
                    log("killTask(%s)" % tid)
                    driver.killTask({"value": tid})
                elif state == "TASK_KILLED":
                    if not self.kill_sent:
                        self.fail("long task TASK_KILLED before killTask")
                        return
                    self.reconcile_targets = [self.long_id, "short-00"]
                    self.enter("reconcile")
                    self.reconcile_started = time.time()
                    self.send_reconcile(driver)
                elif state in TERMINAL:
                    self.fail("long task ended %s (message %r, reason %s), "
                              "expected TASK_KILLED" % (
                                  state, status.get("message"),
                                  status.get("reason")))
            elif tid == self.exec_task_id and self.phase == "executor":
                if state == "TASK_RUNNING" and not self.ping_sent:
                    self.ping_sent = True
                    log("sendFrameworkMessage to pyexec")
                    driver.sendFrameworkMessage(
                        {"value": "pyexec"},
                        {"value": self.launched[tid]}, encode_data(PING))
                if state == "TASK_FINISHED":
                    if self.pong != PONG:
                        self.fail("the executor's answer to the framework "
                                  "message is %r, expected %r"
                                  % (self.pong, PONG))
                        return
                    if "TASK_RUNNING" not in self.states[tid]:
                        self.fail("custom-executor task FINISHED without "
                                  "TASK_RUNNING first (got %s)"
                                  % self.states[tid])
                        return
                    if status.get("message") != EXECUTOR_MESSAGE:
                        self.fail("custom-executor TASK_FINISHED message is %r,"
                                  " expected %r (did it come from executor.py?)"
                                  % (status.get("message"), EXECUTOR_MESSAGE))
                        return
                    if status.get("data"):
                        data = decode_data(status.data)
                        if data != EXECUTOR_DATA:
                            self.fail("custom-executor TASK_FINISHED data is "
                                      "%r, expected %r" % (data, EXECUTOR_DATA))
                            return
                        log("executor data %r arrived intact" % data)
                    else:
                        log("note: TASK_FINISHED carried no data field")
                    if status.get("source") not in (None, "SOURCE_EXECUTOR"):
                        self.fail("custom-executor TASK_FINISHED source is %s"
                                  % status.get("source"))
                        return
                    if self.executor_lost is not None:
                        self.enter("done")
                        self.done.set()
                    else:
                        self.enter("executor-exit")
                elif state in TERMINAL:
                    self.fail("custom-executor task ended %s (message %r, "
                              "reason %s)" % (state, status.get("message"),
                                              status.get("reason")))

    def enter_executor_phase(self):
        for t in self.reconcile_targets:
            s = self.reconciled[t]
            log("reconciled %s: %s reason=%s" % (t, s.state, s.get("reason")))
        self.enter("executor", [Spec(self.exec_task_id, "executor", 0.2, 64,
                                     executor=self.executor_info)])

    def short_complete(self):
        for i in range(N_SHORT):
            st = self.states.get("short-%02d" % i, [])
            if "TASK_RUNNING" not in st or "TASK_FINISHED" not in st:
                return False
        return True


def make_driver_class(sched):
    class CheckingDriver(MesosSchedulerDriver):
        """Counts the ACKNOWLEDGE and TEARDOWN calls the master accepted."""

        def acknowledgeStatusUpdate(self, status):
            try:
                super(CheckingDriver, self).acknowledgeStatusUpdate(status)
            except Exception as e:
                with sched.lock:
                    sched.fail("ACKNOWLEDGE of %s %s rejected: %s" % (
                        status.get("task_id"), status.get("state"), e))
                raise
            if "uuid" in status:
                with sched.lock:
                    sched.acks_ok += 1

        def _teardown(self):
            try:
                sent = self.connected and self.framework_id
                super(CheckingDriver, self)._teardown()
                sched.teardown_ok = bool(sent)
            except Exception as e:
                sched.teardown_ok = False
                log("TEARDOWN failed: %s" % e)
                raise

    return CheckingDriver


def join_driver(driver, timeout):
    t = threading.Thread(target=driver.join, daemon=True)
    t.start()
    t.join(timeout)
    return not t.is_alive()


def main(argv):
    if len(argv) != 3:
        print("usage: %s <master host:port> <executor.py>" % argv[0],
              file=sys.stderr)
        return 2
    master, executor_path = argv[1], argv[2]
    if not os.path.isfile(executor_path):
        print("FAIL: executor script %s not found" % executor_path,
              file=sys.stderr)
        return 2

    if tls_patch.install():
        log("pymesos talks TLS (LIBPROCESS_SSL_* in the environment)")
    sched = CompatScheduler(executor_path)
    framework = {
        "user": os.environ.get("USER") or getpass.getuser(),
        "name": "pymesos-compat",
        "hostname": socket.gethostname(),
    }
    driver = make_driver_class(sched)(sched, framework, master,
                                      use_addict=True,
                                      implicit_acknowledgements=True)
    log("pymesos scheduler driver starting against %s" % master)
    deadline = START + TIMEOUT
    try:
        driver.start()
        log("pymesos read master version %r from GET /version" % driver.version)
        if driver.version is None:
            with sched.lock:
                sched.fail("pymesos could not read the master's version "
                           "(GET /version must answer JSON {\"version\": ...})")
        while not sched.done.wait(0.2):
            if driver.aborted:
                with sched.lock:
                    sched.fail("pymesos IO thread aborted (see its log above) "
                               "while waiting for: " + sched.missing())
                break
            if time.time() > deadline:
                with sched.lock:
                    sched.fail("timed out after %gs waiting for: %s" % (
                        TIMEOUT, sched.missing()))
                break
            sched.tick(driver)
        # Implicit acknowledgements are sent right after statusUpdate returns.
        ack_deadline = time.time() + 5
        while sched.failure is None and time.time() < ack_deadline:
            with sched.lock:
                if sched.acks_ok >= sched.uuid_updates:
                    break
            time.sleep(0.05)
    except BaseException as e:  # pymesos re-raises IO-thread errors here
        with sched.lock:
            sched.fail("pymesos raised %s: %s (while waiting for: %s)\n%s" % (
                type(e).__name__, e, sched.missing(), traceback.format_exc()))

    with sched.lock:
        if sched.failure is None and sched.acks_ok != sched.uuid_updates:
            sched.fail("pymesos acknowledged %d of %d updates carrying a uuid"
                       % (sched.acks_ok, sched.uuid_updates))

    log("driver.stop()")
    try:
        driver.stop()
        if not join_driver(driver, 10):
            sched.fail("pymesos driver did not stop within 10s")
    except BaseException as e:
        sched.fail("driver.stop() raised %s: %s" % (type(e).__name__, e))
    if sched.failure is None and sched.teardown_ok is not True:
        sched.fail("TEARDOWN on driver.stop() was not accepted by the master")

    summary = ("offers %d (declined %d), updates %d (with uuid %d, "
               "acknowledged %d, redelivered %d), teardown %s" % (
                   sched.offers_seen, sched.offers_declined, sched.updates,
                   sched.uuid_updates, sched.acks_ok, sched.duplicate_uuids,
                   sched.teardown_ok))
    log(summary)
    if sched.failure is not None:
        print("pymesos scenario FAILED: %s" % sched.failure, file=sys.stderr)
        print("pymesos scenario state: %s" % summary, file=sys.stderr)
        return 1
    log("pymesos scenario PASSED")
    return 0


if __name__ == "__main__":
    code = main(sys.argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
