"""Consumption features with the official C++ client (PyPI rocketmq 0.4.4) against our broker:
ordered consumption over 8 queues with 2 consumers (LOCK_BATCH_MQ), retries through
CONSUMER_SEND_MSG_BACK + SCHEDULE_TOPIC_XXXX (short and default delay levels), and the PullConsumer
reading every queue from min to max.

The module's broker runs with 1 s delay levels so retries take seconds; the default-levels test
overrides ``broker_conf`` to check that level 3 really waits 10 s.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from broker_core.remoting.body.consumer_admin import ConsumerConnection, ConsumeStats
from broker_core.remoting.codes import RequestCode, ResponseCode
from tests.support.admin import ensure_topic, invoke
from tests.support.cluster import Cluster
from tests.support.cpp import CppProcess, CppResult, CppRunner

pytestmark = [pytest.mark.interop, pytest.mark.slow]

SHORT_LEVELS = " ".join(["1s"] * 18)


@pytest.fixture
def broker_conf() -> dict[str, str]:
    return {"messageDelayLevel": SHORT_LEVELS}


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def produce_ok(cpp: CppRunner, cluster: Cluster, topic: str, count: int, run: str, **opts: Any) -> CppResult:
    result = cpp.run(
        "produce", namesrv=cluster.namesrv_addr, topic=topic, group=unique("cpp_pg"), count=count, run=run,
        deadline=120, **opts,
    )  # fmt: skip
    assert result.returncode == 0, result.describe()
    assert len(result.sent) == count and {s["status"] for s in result.sent} == {"OK"}, result.describe()
    return result


def of_run(proc: CppProcess, run: str) -> list[dict[str, Any]]:
    return [e for e in proc.events() if e.get("event") == "message" and e["properties"].get("run") == run]


def wait_for_members(cluster: Cluster, group: str, count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        resp = invoke(cluster.broker_addr, RequestCode.GET_CONSUMER_CONNECTION_LIST, {"consumerGroup": group})
        members = ConsumerConnection.decode(resp.body).connections if resp.code == 0 and resp.body else []
        if len(members) >= count:
            return
        assert time.monotonic() < deadline, f"{len(members)}/{count} consumers of {group} registered"
        time.sleep(0.1)


def test_cpp_orderly_two_consumers_eight_queues(cluster: Cluster, cpp: CppRunner) -> None:
    """Per-key order holds across 8 queues shared by 2 orderly consumers (queue locks)."""
    count, shards, run = 160, 8, unique("run")
    topic, group = unique("OrderTwo"), unique("cpp_ocg")
    ensure_topic(cluster.broker_addr, cluster.namesrv_addr, topic, queues=8)
    consumers = [
        cpp.start(
            "consume",
            namesrv=cluster.namesrv_addr,
            topic=topic,
            group=group,
            orderly=True,
            instance_name=f"ord{n}",
            expect=0,
            timeout=150,
        )  # fmt: skip
        for n in range(2)
    ]
    for consumer in consumers:
        consumer.wait_for_event("started", timeout=60)
    wait_for_members(cluster, group, 2)  # both registered: the broker has told them to rebalance
    produced = produce_ok(cpp, cluster, topic, count, run, orderly=True, shards=shards)
    assert {s["shard"] for s in produced.sent} == set(range(shards))

    deadline = time.monotonic() + 120
    while True:
        seen = {int(e["properties"]["idx"]) for c in consumers for e in of_run(c, run)}
        if len(seen) == count or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    for consumer in consumers:
        consumer.kill()
    assert seen == set(range(count)), [c.result().describe() for c in consumers]
    queue_of_shard: dict[int, set[int]] = {}
    for consumer in consumers:
        per_queue: dict[int, list[int]] = {}
        for e in of_run(consumer, run):
            idx = int(e["properties"]["idx"])
            queue_of_shard.setdefault(idx % shards, set()).add(e["queue_id"])
            per_queue.setdefault(e["queue_id"], []).append(idx)
        assert per_queue, f"{consumer.name} consumed nothing: queues were not shared"
        for queue_id, indices in per_queue.items():  # a queue's messages in send order
            assert indices == sorted(indices), f"queue {queue_id} out of order: {indices}"
    assert all(len(q) == 1 for q in queue_of_shard.values()), queue_of_shard


def _retry_run(cluster: Cluster, cpp: CppRunner, later_times: int, timeout: float) -> list[dict[str, Any]]:
    """One message; the consumer answers RECONSUME_LATER ``later_times`` times, then succeeds."""
    run, topic, group = unique("run"), unique("Retry"), unique("cpp_rcg")
    ensure_topic(cluster.broker_addr, cluster.namesrv_addr, topic, queues=2)
    # Routed before the consumer starts, so the C++ client pulls its retry queue from the beginning
    # instead of after its next route refresh (the broker would create it at the first heartbeat).
    ensure_topic(cluster.broker_addr, cluster.namesrv_addr, f"%RETRY%{group}", queues=1)
    consumer = cpp.start(
        "consume", namesrv=cluster.namesrv_addr, topic=topic, group=group, expect=1,
        reconsume_later_times=later_times, timeout=timeout,
    )  # fmt: skip
    consumer.wait_for_event("started", timeout=60)
    produce_ok(cpp, cluster, topic, 1, run)
    result = consumer.wait(timeout + 30)
    assert result.returncode == 0, result.describe()
    deliveries = [m for m in result.messages if m["properties"].get("run") == run]
    assert [m["attempt"] for m in deliveries] == list(range(1, later_times + 2)), result.describe()
    for m in deliveries:
        assert m["topic"] == topic  # the client restores RETRY_TOPIC
    return deliveries


def test_cpp_reconsume_later_twice_then_third_delivery(cluster: Cluster, cpp: CppRunner) -> None:
    """RECONSUME_LATER twice → CONSUMER_SEND_MSG_BACK → %RETRY% via the schedule topic → third
    delivery with reconsumeTimes 2 (1 s levels)."""
    deliveries = _retry_run(cluster, cpp, later_times=2, timeout=60)
    assert [m["reconsume_times"] for m in deliveries] == [0, 1, 2]
    assert [m["action"] for m in deliveries] == ["reconsume_later", "reconsume_later", "success"]
    gaps = [b["received_at"] - a["received_at"] for a, b in zip(deliveries, deliveries[1:], strict=False)]
    assert all(g >= 0.9 for g in gaps), gaps


@pytest.mark.parametrize("broker_conf", [{}])
def test_cpp_first_retry_waits_default_level_3(cluster: Cluster, cpp: CppRunner) -> None:
    """Default levels: the first redelivery uses level 3 (10 s) and must not come earlier."""
    deliveries = _retry_run(cluster, cpp, later_times=1, timeout=60)
    gap = deliveries[1]["received_at"] - deliveries[0]["received_at"]
    assert 9.9 <= gap < 25, f"redelivered after {gap:.2f} s"
    assert deliveries[1]["reconsume_times"] == 1


def test_cpp_delay_level_with_short_levels(cluster: Cluster, cpp: CppRunner) -> None:
    """A producer-set delay level parks messages in SCHEDULE_TOPIC_XXXX and releases them when due."""
    count, run, topic = 5, unique("run"), unique("Delay")
    ensure_topic(cluster.broker_addr, cluster.namesrv_addr, topic, queues=2)
    consumer = cpp.start(
        "consume",
        namesrv=cluster.namesrv_addr,
        topic=topic,
        group=unique("cpp_dcg"),
        expect=count,
        timeout=60,
    )
    consumer.wait_for_event("started", timeout=60)
    produced = produce_ok(cpp, cluster, topic, count, run, delay_level=4)
    consumed = consumer.wait(90)
    assert consumed.returncode == 0, consumed.describe()
    msgs = [m for m in consumed.messages if m["properties"].get("run") == run]
    assert sorted(int(m["properties"]["idx"]) for m in msgs) == list(range(count))
    first_send = min(e["at"] for e in produced.of("started"))
    for m in msgs:
        assert m["received_at"] - first_send >= 0.9
        assert m["topic"] == topic and m["reconsume_times"] == 0
        assert "DELAY" not in m["properties"] and m["properties"].get("REAL_TOPIC") == topic


def test_cpp_pull_consumer_min_to_max_all_queues(cluster: Cluster, cpp: CppRunner) -> None:
    """The C++ PullConsumer reads every queue from its min offset to its max offset."""
    count, run, topic = 30, unique("run"), unique("PullAll")
    ensure_topic(cluster.broker_addr, cluster.namesrv_addr, topic, queues=3)
    produce_ok(cpp, cluster, topic, count, run)

    result = cpp.run("pull", namesrv=cluster.namesrv_addr, topic=topic, group=unique("cpp_pull"))
    assert result.returncode == 0, result.describe()
    assert sorted(q["queue_id"] for q in result.of("queues")[0]["queues"]) == [0, 1, 2]
    assert sorted(int(m["properties"]["idx"]) for m in result.messages) == list(range(count))
    by_queue: dict[int, list[int]] = {}
    for m in result.messages:
        by_queue.setdefault(m["queue_id"], []).append(m["queue_offset"])
    for queue_id, offsets in by_queue.items():
        assert offsets == list(range(len(offsets))), f"queue {queue_id} not read min->max: {offsets}"
    summary = result.summary
    assert summary is not None
    assert {int(q): n for q, n in summary["per_queue"].items()} == {q: len(o) for q, o in by_queue.items()}


def test_cpp_consumer_admin_relay_and_lag(cluster: Cluster, cpp: CppRunner) -> None:
    """Connection list, GET_CONSUMER_RUNNING_INFO relayed to the C++ client, and zero lag after
    consumption (GET_CONSUME_STATS)."""
    count, run = 10, unique("run")
    topic, group = unique("Admin"), unique("cpp_acg")
    ensure_topic(cluster.broker_addr, cluster.namesrv_addr, topic, queues=2)
    produce_ok(cpp, cluster, topic, count, run)
    consumer = cpp.start(
        "consume", namesrv=cluster.namesrv_addr, topic=topic, group=group, expect=0, timeout=60
    )
    consumer.wait_for_event("message", timeout=60, count=count)

    conn_resp = invoke(
        cluster.broker_addr, RequestCode.GET_CONSUMER_CONNECTION_LIST, {"consumerGroup": group}
    )
    assert conn_resp.code == ResponseCode.SUCCESS, conn_resp.remark
    conn = ConsumerConnection.decode(conn_resp.body or b"")
    assert [c.language for c in conn.connections] == ["CPP"] and topic in conn.subscriptions
    client_id = conn.connections[0].client_id

    ext = {"consumerGroup": group, "clientId": client_id, "jstackEnable": "false"}
    info = invoke(cluster.broker_addr, RequestCode.GET_CONSUMER_RUNNING_INFO, ext, timeout=10)
    assert info.code == ResponseCode.SUCCESS, info.remark
    assert info.body and b"properties" in info.body  # ConsumerRunningInfo JSON from the client

    deadline = time.monotonic() + 20  # the C++ client commits offsets every 5 s
    while True:
        stats_resp = invoke(
            cluster.broker_addr, RequestCode.GET_CONSUME_STATS, {"consumerGroup": group, "topic": topic}
        )
        stats = ConsumeStats.decode(stats_resp.body or b"")
        if stats.diff_total == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert sum(w.broker_offset for w in stats.offset_table.values()) == count
    assert stats.diff_total == 0, stats

    # reset to the beginning: the broker pushes RESET_CONSUMER_CLIENT_OFFSET, the client re-consumes
    reset = {"topic": topic, "group": group, "timestamp": "0", "isForce": "true"}
    resp = invoke(cluster.broker_addr, RequestCode.INVOKE_BROKER_TO_RESET_OFFSET, reset)
    assert resp.code == ResponseCode.SUCCESS, resp.remark
    again = consumer.wait_for_event("message", timeout=40, count=2 * count)
    consumer.kill()
    assert {int(m["properties"]["idx"]) for m in again[count:]} == set(range(count))
