#!/usr/bin/env python3
"""A pymesos (v1 HTTP executor API) executor for the client-compatibility test.

On each launched task it sends TASK_RUNNING, then TASK_FINISHED with the
message "hello from pymesos executor" (and data b"pymesos-executor"), then
stops its driver shortly after.  Launched by the agent with the MESOS_*
environment; it needs MESOS_AGENT_ENDPOINT, MESOS_FRAMEWORK_ID and
MESOS_EXECUTOR_ID (read by pymesos's MesosExecutorDriver).
"""
import os
import sys
import threading
import time
import traceback

from addict import Dict
from pymesos import Executor, MesosExecutorDriver, decode_data, encode_data

import tls_patch

MESSAGE = "hello from pymesos executor"
DATA = b"pymesos-executor"


def log(msg):
    print("pyexec: %s" % msg, file=sys.stderr, flush=True)


class PyExecutor(Executor):
    def __init__(self):
        self.messaged = threading.Event()

    def registered(self, driver, executor_info, framework_info, agent_info):
        log("registered: executor %s framework %s agent %s" % (
            executor_info.executor_id.value, framework_info.id.value,
            agent_info.id.value))

    def reregistered(self, driver, agent_info):
        log("reregistered on agent %s" % agent_info.id.value)

    def disconnected(self, driver):
        log("disconnected")

    def launchTask(self, driver, task):
        log("launchTask %s" % task.task_id.value)

        def run():
            try:
                update = Dict()
                update.task_id.value = task.task_id.value
                update.state = "TASK_RUNNING"
                update.message = "pymesos executor running"
                driver.sendStatusUpdate(update)
                # The scheduler sends a framework message once it sees
                # TASK_RUNNING; the answer goes out before TASK_FINISHED.
                if not self.messaged.wait(20):
                    log("no framework message within 20s")

                update = Dict()
                update.task_id.value = task.task_id.value
                update.state = "TASK_FINISHED"
                update.message = MESSAGE
                update.data = encode_data(DATA)
                driver.sendStatusUpdate(update)
                log("sent TASK_RUNNING and TASK_FINISHED for %s" % task.task_id.value)
                # Give the agent a moment to acknowledge before we go away.
                time.sleep(0.5)
            except Exception:
                log("failed sending updates:\n" + traceback.format_exc())
            finally:
                driver.stop()

        threading.Thread(target=run, name="pyexec-task", daemon=True).start()

    def killTask(self, driver, task_id):
        log("killTask %s" % task_id.value)
        update = Dict()
        update.task_id.value = task_id.value
        update.state = "TASK_KILLED"
        driver.sendStatusUpdate(update)
        driver.stop()

    def frameworkMessage(self, driver, message):
        data = decode_data(message)
        log("frameworkMessage %r" % (data,))
        driver.sendFrameworkMessage(encode_data(b"pong: " + data))
        self.messaged.set()

    def shutdown(self, driver):
        log("shutdown")

    def error(self, driver, message):
        log("error: %s" % message)


def main():
    log("environment: %s" % " ".join(
        "%s=%s" % (k, v) for k, v in sorted(os.environ.items())
        if k.startswith("MESOS_")))
    if tls_patch.install():
        log("pymesos talks TLS (LIBPROCESS_SSL_* inherited from the agent)")
    driver = MesosExecutorDriver(PyExecutor(), use_addict=True)
    driver.run()
    log("driver stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
