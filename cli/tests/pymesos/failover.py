#!/usr/bin/env python3
"""pymesos across a master failover: the real pymesos scheduler driver finds the
leading master through ZooKeeper (kazoo reads the lowest `json.info_*` znode),
launches tasks, and must keep them through the leader's death.

    python failover.py <zk://host:port/path> <go file> <number of tasks>

Each task waits for <go file> to exist, then exits 0. The test that runs this
script reads its stdout, a line per step:
  ALL RUNNING <framework id>   every task is TASK_RUNNING (the test then kills
                               the leading master);
  REREGISTERED <framework id>  pymesos resubscribed to the new leader with the
                               same framework id (the test then creates the go
                               file);
  pymesos failover PASSED      every task reached TASK_FINISHED and none any
                               other terminal state.
Anything else ends the script with a message on stderr and exit status 1.
Bounded by PYMESOS_SCENARIO_TIMEOUT seconds (default 90).
"""
import getpass
import os
import shlex
import socket
import sys
import threading
import time

from pymesos import MesosSchedulerDriver, Scheduler

TIMEOUT = float(os.environ.get("PYMESOS_SCENARIO_TIMEOUT", "90"))
TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST",
            "TASK_ERROR", "TASK_DROPPED", "TASK_GONE", "TASK_GONE_BY_OPERATOR",
            "TASK_UNKNOWN"}


def say(line):
    print(line, flush=True)


def scalar(name, value):
    return {"name": name, "type": "SCALAR", "scalar": {"value": value}}


class Failover(Scheduler):
    def __init__(self, go_file, n):
        self.go_file = go_file
        self.n = n
        self.lock = threading.Lock()
        self.launched = 0
        self.states = {}
        self.framework_id = None
        self.reregistered_as = None
        self.failure = None
        self.done = threading.Event()

    def fail(self, msg):
        with self.lock:
            if self.failure is None:
                self.failure = msg
        self.done.set()

    def registered(self, driver, framework_id, master_info):
        self.framework_id = framework_id["value"]

    def reregistered(self, driver, master_info):
        fid = driver.framework_id
        self.reregistered_as = fid
        if fid != self.framework_id:
            self.fail("reregistered as %s, not %s" % (fid, self.framework_id))
            return
        say("REREGISTERED %s" % fid)

    def error(self, driver, message):
        self.fail("error from the master: %s" % message)

    def resourceOffers(self, driver, offers):
        for offer in offers:
            with self.lock:
                todo = self.n - self.launched
            if todo <= 0:
                driver.declineOffer(offer["id"], {"refuse_seconds": 3600})
                continue
            cpus = sum(r["scalar"]["value"] for r in offer["resources"]
                       if r["name"] == "cpus")
            mem = sum(r["scalar"]["value"] for r in offer["resources"]
                      if r["name"] == "mem")
            tasks = []
            while todo > 0 and cpus >= 0.1 - 1e-6 and mem >= 32:
                with self.lock:
                    i = self.launched
                    self.launched += 1
                todo -= 1
                cpus -= 0.1
                mem -= 32
                wait = "while [ ! -e %s ]; do sleep 0.2; done" % shlex.quote(
                    self.go_file)
                tasks.append({
                    "task_id": {"value": "wait-%d" % i},
                    "agent_id": offer["agent_id"],
                    "name": "wait-%d" % i,
                    "resources": [scalar("cpus", 0.1), scalar("mem", 32)],
                    "command": {"shell": True, "value": wait},
                })
            driver.launchTasks(offer["id"], tasks, {"refuse_seconds": 1})

    def statusUpdate(self, driver, status):
        tid = status["task_id"]["value"]
        state = status["state"]
        with self.lock:
            self.states[tid] = state
            states = dict(self.states)
        if state in TERMINAL and state != "TASK_FINISHED":
            self.fail("%s became %s: %s" % (tid, state, status.get("message")))
            return
        if len(states) == self.n and all(s == "TASK_RUNNING"
                                         for s in states.values()):
            if not getattr(self, "said_running", False):
                self.said_running = True
                say("ALL RUNNING %s" % self.framework_id)
        if len(states) == self.n and all(s == "TASK_FINISHED"
                                         for s in states.values()):
            if self.reregistered_as is None:
                self.fail("every task finished, but pymesos never "
                          "reregistered with a new leader")
            self.done.set()


def main(argv):
    if len(argv) != 4:
        sys.stderr.write(__doc__)
        return 2
    zk, go_file, n = argv[1], argv[2], int(argv[3])
    sched = Failover(go_file, n)
    framework = {
        "user": getpass.getuser(),
        "name": "pymesos-failover",
        "hostname": socket.gethostname(),
        "failover_timeout": 300,
    }
    driver = MesosSchedulerDriver(sched, framework, zk, use_addict=True)
    driver.start()
    finished = sched.done.wait(TIMEOUT)
    driver.stop()
    if sched.failure:
        sys.stderr.write("pymesos failover FAILED: %s\n" % sched.failure)
        return 1
    if not finished:
        sys.stderr.write("pymesos failover FAILED: not done within %ss; "
                         "task states: %s\n" % (TIMEOUT, sched.states))
        return 1
    say("pymesos failover PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
