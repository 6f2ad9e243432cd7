#!/usr/bin/env python3
"""A v1 HTTP framework written only against Mesos's published v1 protos, speaking
protobuf (application/x-protobuf both ways), with Python's own protobuf package:
no pymesos, no JSON.

    python protobuf_framework.py <master host:port> <descriptor set (mesos-v1.pb)>

Steps: SUBSCRIBE; on the first offer launch `sleep 1000` (declining the rest);
acknowledge every update carrying a uuid; on TASK_RUNNING ask the master's and
the agent's operator APIs (GET_TASKS / GET_CONTAINERS, protobuf both ways) and
kill the task; on TASK_KILLED tear down. Exits 0 and prints "protobuf framework
PASSED" only when every step succeeded, bounded by PROTOBUF_FRAMEWORK_TIMEOUT
seconds (default 60).
"""
import http.client
import os
import sys
import threading
import time

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PROTOBUF = "application/x-protobuf"
TIMEOUT = float(os.environ.get("PROTOBUF_FRAMEWORK_TIMEOUT", "60"))


def log(msg):
    print("[%6.2fs] %s" % (time.time() - START, msg), flush=True)


START = time.time()


def load(path):
    fds = descriptor_pb2.FileDescriptorSet.FromString(open(path, "rb").read())
    pool = descriptor_pool.DescriptorPool()
    for f in fds.file:
        pool.Add(f)

    def cls(name):
        return message_factory.GetMessageClass(pool.FindMessageTypeByName(name))

    return cls, pool.FindEnumTypeByName("mesos.v1.TaskState")


def post(addr, path, body, stream_id=None):
    conn = http.client.HTTPConnection(addr, timeout=TIMEOUT)
    headers = {"Content-Type": PROTOBUF, "Accept": PROTOBUF}
    if stream_id:
        headers["Mesos-Stream-Id"] = stream_id
    conn.request("POST", path, body=body, headers=headers)
    return conn, conn.getresponse()


def records(resp):
    """RecordIO: <decimal length>\\n<bytes>, repeated."""
    while True:
        line = b""
        while not line.endswith(b"\n"):
            c = resp.read(1)
            if not c:
                return
            line += c
        n = int(line)
        data = b""
        while len(data) < n:
            chunk = resp.read(n - len(data))
            if not chunk:
                return
            data += chunk
        yield data


def main():
    master, descriptors = sys.argv[1], sys.argv[2]
    cls, task_state = load(descriptors)
    running = task_state.values_by_name["TASK_RUNNING"].number
    killed = task_state.values_by_name["TASK_KILLED"].number
    Call, Event = cls("mesos.v1.scheduler.Call"), cls("mesos.v1.scheduler.Event")
    MasterCall, MasterResponse = cls("mesos.v1.master.Call"), cls("mesos.v1.master.Response")
    AgentCall, AgentResponse = cls("mesos.v1.agent.Call"), cls("mesos.v1.agent.Response")
    Value = cls("mesos.v1.Value")

    sub = Call()
    sub.type = Call.SUBSCRIBE
    sub.subscribe.framework_info.user = "root"
    sub.subscribe.framework_info.name = "protobuf-framework"
    sub.subscribe.framework_info.roles.append("*")
    cap = sub.subscribe.framework_info.capabilities.add()
    cap.type = cap.MULTI_ROLE
    conn, resp = post(master, "/api/v1/scheduler", sub.SerializeToString())
    assert resp.status == 200, "SUBSCRIBE: %d %s" % (resp.status, resp.read())
    ctype = resp.getheader("Content-Type")
    assert ctype == PROTOBUF, "SUBSCRIBE answered in %r" % ctype
    stream_id = resp.getheader("Mesos-Stream-Id")
    framework_id = None
    launched = None
    seen = []
    done = threading.Event()
    acks = 0
    checked_operators = False

    def call(kind, **fields):
        c = Call()
        c.type = kind
        c.framework_id.CopyFrom(framework_id)
        for k, v in fields.items():
            getattr(c, k).CopyFrom(v)
        cc, r = post(master, "/api/v1/scheduler", c.SerializeToString(), stream_id)
        body = r.read()
        cc.close()
        assert r.status in (200, 202), "%s: %d %s" % (Call.Type.Name(kind), r.status, body)

    def operators(agent, task_id):
        mc = MasterCall()
        mc.type = MasterCall.GET_TASKS
        cc, r = post(master, "/api/v1", mc.SerializeToString())
        assert r.status == 200 and r.getheader("Content-Type") == PROTOBUF, r.status
        tasks = MasterResponse.FromString(r.read())
        cc.close()
        assert tasks.type == MasterResponse.GET_TASKS, tasks
        assert any(t.task_id.value == task_id and t.state == running
                   for t in tasks.get_tasks.tasks), tasks
        log("master GET_TASKS (protobuf) lists the task")
        ac = AgentCall()
        ac.type = AgentCall.GET_CONTAINERS
        ip, port, path = agent
        cc, r = post("%s:%d" % (ip, port), path + "/api/v1", ac.SerializeToString())
        assert r.status == 200 and r.getheader("Content-Type") == PROTOBUF, r.status
        containers = AgentResponse.FromString(r.read())
        cc.close()
        assert containers.type == AgentResponse.GET_CONTAINERS, containers
        assert len(containers.get_containers.containers) >= 1, containers
        log("agent GET_CONTAINERS (protobuf) lists %d container(s)"
            % len(containers.get_containers.containers))

    timer = threading.Timer(TIMEOUT, lambda: (log("FAILED: timed out"), os._exit(1)))
    timer.daemon = True
    timer.start()
    for data in records(resp):
        ev = Event.FromString(data)
        if ev.type == Event.SUBSCRIBED:
            framework_id = ev.subscribed.framework_id
            log("subscribed as %s" % framework_id.value)
        elif ev.type == Event.OFFERS:
            for offer in ev.offers.offers:
                if launched is not None:
                    dec = Call.Decline()
                    dec.offer_ids.add().CopyFrom(offer.id)
                    call(Call.DECLINE, decline=dec)
                    continue
                acc = Call.Accept()
                acc.offer_ids.add().CopyFrom(offer.id)
                op = acc.operations.add()
                op.type = op.LAUNCH
                task = op.launch.task_infos.add()
                task.name = "sleeper"
                task.task_id.value = "protobuf-task"
                task.agent_id.CopyFrom(offer.agent_id)
                task.command.value = "sleep 1000"
                for name, amount in (("cpus", 0.1), ("mem", 32.0)):
                    r = task.resources.add()
                    r.name = name
                    r.type = Value.SCALAR
                    r.scalar.value = amount
                    r.allocation_info.role = offer.allocation_info.role or "*"
                launched = (offer.url.address.ip, offer.url.address.port, offer.url.path)
                call(Call.ACCEPT, accept=acc)
                log("launched on %s:%d%s" % launched)
        elif ev.type == Event.UPDATE:
            st = ev.update.status
            state = st.state
            seen.append(state)
            log("update %s" % task_state.values_by_number[state].name)
            if st.uuid:
                ack = Call.Acknowledge()
                ack.agent_id.CopyFrom(st.agent_id)
                ack.task_id.CopyFrom(st.task_id)
                ack.uuid = st.uuid
                call(Call.ACKNOWLEDGE, acknowledge=ack)
                acks += 1
            if state == running and not checked_operators:
                operators(launched, st.task_id.value)
                checked_operators = True
                kill = Call.Kill()
                kill.task_id.CopyFrom(st.task_id)
                kill.agent_id.CopyFrom(st.agent_id)
                call(Call.KILL, kill=kill)
            elif state == killed:
                call(Call.TEARDOWN)
                done.set()
                break
        elif ev.type == Event.HEARTBEAT:
            pass
    conn.close()
    assert done.is_set(), "the stream ended before TASK_KILLED (saw %s)" % seen
    assert checked_operators and acks >= 2, (checked_operators, acks)
    print("protobuf framework PASSED", flush=True)


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        log("FAILED: %s" % e)
        sys.exit(1)
