"""The official C++ client across a master kill (issue 11, acceptance 4).

Two broker groups: ``broker-a`` = SYNC_MASTER + SLAVE (``slaveReadEnable``), ``broker-b`` = master
only. After ``broker-a``'s master is SIGKILLed:

* a C++ consumer that was running keeps receiving (new messages land on ``broker-b``);
* a C++ producer's sends all succeed, on ``broker-b``;
* a C++ consumer of a new group reads every message, including those stored on ``broker-a`` before
  the kill, which only the slave can serve now.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from broker_core.remoting.blocking import BlockingRemotingClient
from broker_core.remoting.codes import RequestCode
from tests.integration.ha.helpers import read_queue, start_master, start_slave, wait_for
from tests.support import admin
from tests.support.cluster import ServerGroup
from tests.support.cpp import CppProcess, CppResult, CppRunner

pytestmark = [pytest.mark.interop, pytest.mark.slow]


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def produce(cpp: CppRunner, namesrv: str, topic: str, count: int, run: str, start: int) -> CppResult:
    result = cpp.run(
        "produce", namesrv=namesrv, topic=topic, group=unique("cpp_pg"), count=count, run=run,
        start=start, retries=4, deadline=120,
    )  # fmt: skip
    assert result.returncode == 0, result.describe()
    assert len(result.sent) == count and {s["status"] for s in result.sent} == {"OK"}, result.describe()
    return result


def indexes(events: list[dict[str, Any]], run: str) -> set[int]:
    return {
        int(e["properties"]["idx"])
        for e in events
        if e.get("event") == "message" and e["action"] == "success" and e["properties"].get("run") == run
    }


def consumer(cpp: CppRunner, namesrv: str, topic: str, expect: int) -> CppProcess:
    proc = cpp.start(
        "consume", namesrv=namesrv, topic=topic, group=unique("cpp_cg"), expect=expect, timeout=150, linger=1
    )
    proc.wait_for_event("started", timeout=60)
    return proc


def test_cpp_client_keeps_producing_and_consuming_across_a_master_kill(
    servers: ServerGroup, cpp: CppRunner
) -> None:
    namesrv = servers.namesrv()
    master_a = start_master(servers, namesrv, "SYNC_MASTER", broker_name="broker-a")
    slave_a = start_slave(servers, namesrv, broker_name="broker-a")
    master_b = start_master(servers, namesrv, "ASYNC_MASTER", broker_name="broker-b")
    topic, run = unique("HaCpp"), unique("run")
    admin.create_topic(master_a.addr, topic, queues=4)
    admin.create_topic(master_b.addr, topic, queues=4)

    def routed() -> bool:
        route = admin.get_route(namesrv.addr, topic)
        if route is None:
            return False
        addrs = {bd["brokerName"]: bd["brokerAddrs"] for bd in route["brokerDatas"]}
        names = {qd["brokerName"] for qd in route["queueDatas"]}
        return names == {"broker-a", "broker-b"} and len(addrs.get("broker-a", {})) == 2

    wait_for(routed, 40, "topic routed on both groups with broker-a's slave")
    wait_for(  # the slave copies the master's topic table every 10 s (Apache's period)
        lambda: (
            topic
            in admin.invoke(slave_a.addr, RequestCode.GET_ALL_TOPIC_CONFIG).json_body()["topicConfigTable"]
        ),
        30,
        "topic config synced to the slave",
    )
    first, second = 40, 40
    running = consumer(cpp, namesrv.addr, topic, first + second)
    produce(cpp, namesrv.addr, topic, first, run, 0)
    wait_for(lambda: len(indexes(running.events(), run)) >= first, 90, "first batch consumed")

    master_a.kill()
    wait_for(
        lambda: (
            (r := admin.get_route(namesrv.addr, topic)) is not None
            and all("0" not in bd["brokerAddrs"] for bd in r["brokerDatas"] if bd["brokerName"] == "broker-a")
        ),
        30,
        "broker-a's master gone from the route",
    )
    produce(cpp, namesrv.addr, topic, second, run, first)

    result = running.wait(200)
    assert result.returncode == 0, result.describe(nlines=5)
    assert indexes(result.events, run) == set(range(first + second))

    # a new group reads everything; broker-a's share comes from its slave
    late = consumer(cpp, namesrv.addr, topic, first + second).wait(200)
    assert late.returncode == 0, late.describe(nlines=5)
    assert indexes(late.events, run) == set(range(first + second))
    # broker-a did hold part of them, and only its slave is left to serve them
    client = BlockingRemotingClient()
    try:
        on_a = sum(len(read_queue(client, slave_a.addr, topic, q) or []) for q in range(4))
    finally:
        client.close()
    assert 0 < on_a < first
    assert slave_a.running and not master_a.running
