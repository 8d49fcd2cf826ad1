"""Our NameServer + broker (real subprocesses) against the official C++ client (PyPI rocketmq 0.4.4).

The C++ client only learns routes on a 30 s poll, so every test creates its topic and waits for
the NameServer to route it *before* a consumer starts (spec: reference-client.md).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.admin import ensure_topic
from tests.support.cluster import Cluster
from tests.support.cpp import CppResult, CppRunner
from tests.support.payloads import make_message

pytestmark = [pytest.mark.interop, pytest.mark.slow]


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def acked_by_index(result: CppResult, run: str) -> dict[int, dict[str, Any]]:
    """Successfully consumed messages of ``run`` keyed by their ``idx`` property."""
    by_idx: dict[int, dict[str, Any]] = {}
    for msg in result.messages:
        if msg["action"] != "success":
            continue
        props = msg["properties"]
        assert props.get("run") == run, f"foreign message {msg}"
        by_idx.setdefault(int(props["idx"]), msg)
    return by_idx


def assert_identical(received: dict[str, Any], idx: int, run: str, topic: str) -> None:
    expected = make_message(idx, run)
    assert received["topic"] == topic
    assert received["body"].encode("utf-8") == expected.body, f"body of #{idx}"
    assert received["tags"] == expected.tags, f"tags of #{idx}"
    assert received["keys"] == expected.keys, f"keys of #{idx}"
    for name, value in expected.properties.items():
        assert received["properties"].get(name) == value, f"property {name} of #{idx}"


def produce_ok(cpp: CppRunner, cluster: Cluster, topic: str, count: int, run: str, **opts: Any) -> CppResult:
    result = cpp.run(
        "produce",
        namesrv=cluster.namesrv_addr,
        topic=topic,
        group=unique("cpp_pg"),
        count=count,
        run=run,
        deadline=300,
        **opts,
    )
    assert result.returncode == 0, result.describe()
    assert len(result.sent) == count, result.describe()
    assert {s["status"] for s in result.sent} == {"OK"}, result.describe()
    return result


COUNT = 1000  # every direction: the same 1,000 messages (every 10th > 4 KiB) and the same checks


@dataclass(frozen=True)
class Delivery:
    """What a consumer (C++ or ours) reported for one message."""

    msg_id: str
    queue_id: int
    queue_offset: int
    store_size: int
    body_len: int
    reconsume_times: int


def assert_delivered_as_sent(got: dict[int, Delivery], sent: dict[int, tuple[str, int]], run: str) -> None:
    """Every message arrived once, with the id and queue offset its send reported, not redelivered;
    the > 4 KiB ones were stored zlib-compressed; per queue the offsets are dense (0..n-1).
    (Content, i.e. body, tags, keys and properties, is checked by the caller.)"""
    missing = sorted(set(range(COUNT)) - set(got))
    assert not missing, f"{len(missing)} messages never arrived, first {missing[:20]}"
    assert set(got) == set(range(COUNT))
    assert len({msg_id for msg_id, _ in sent.values()}) == COUNT  # unique message ids
    for idx, d in got.items():
        assert d.msg_id == sent[idx][0], f"msg id of #{idx}"
        assert d.queue_offset == sent[idx][1], f"queue offset of #{idx}"
        assert d.reconsume_times == 0
        if len(make_message(idx, run).body) > 4096:  # stored zlib-compressed (sysFlag bit 0)
            assert d.store_size < d.body_len, f"#{idx} was not stored compressed"
    per_queue: dict[int, list[int]] = {}
    for d in got.values():
        per_queue.setdefault(d.queue_id, []).append(d.queue_offset)
    for queue_id, offsets in per_queue.items():
        assert sorted(offsets) == list(range(len(offsets))), f"queue {queue_id} offsets not dense"
    assert len(per_queue) == 4  # all four queues were used


def cpp_deliveries(consumed: CppResult, run: str, topic: str) -> dict[int, Delivery]:
    out = {}
    for idx, msg in acked_by_index(consumed, run).items():
        assert_identical(msg, idx, run, topic)
        uniq = msg["properties"].get("UNIQ_KEY") or msg["msg_id"]
        out[idx] = Delivery(
            uniq,
            msg["queue_id"],
            msg["queue_offset"],
            msg["store_size"],
            msg["body_len"],
            msg["reconsume_times"],
        )
    return out


def test_cpp_producer_to_cpp_push_consumer(cluster: Cluster, cpp: CppRunner) -> None:
    """Acceptance (a): 1,000 messages with tags, keys, properties and multi-byte UTF-8 bodies
    (every 10th > 4 KiB, so compressed by the producer) arrive intact at a C++ PushConsumer."""
    run, topic = unique("run"), unique("InteropA")
    ensure_topic(cluster.broker_addr, cluster.namesrv_addr, topic, queues=4)

    consumer = cpp.start(
        "consume",
        namesrv=cluster.namesrv_addr,
        topic=topic,
        group=unique("cpp_cg"),
        expect=COUNT,
        timeout=240,
        linger=1,
    )
    consumer.wait_for_event("started", timeout=60)
    produced = produce_ok(cpp, cluster, topic, COUNT, run)

    consumed = consumer.wait(400)
    assert consumed.returncode == 0, consumed.describe()
    sent = {s["i"]: (s["msg_id"], s["offset"]) for s in produced.sent}
    assert_delivered_as_sent(cpp_deliveries(consumed, run, topic), sent, run)


def test_cpp_tag_expression_filters(cluster: Cluster, cpp: CppRunner) -> None:
    """A ``TagA || TagC`` subscription receives exactly the TagA and TagC messages."""
    count, run = 60, unique("run")
    topic = unique("InteropTags")
    ensure_topic(cluster.broker_addr, cluster.namesrv_addr, topic, queues=2)
    wanted = {i for i in range(count) if make_message(i, run).tags in ("TagA", "TagC")}

    consumer = cpp.start(
        "consume",
        namesrv=cluster.namesrv_addr,
        topic=topic,
        group=unique("cpp_cg"),
        expression="TagA || TagC",
        expect=len(wanted),
        timeout=120,
        linger=3,
    )
    consumer.wait_for_event("started", timeout=60)
    produce_ok(cpp, cluster, topic, count, run)

    consumed = consumer.wait(240)
    assert consumed.returncode == 0, consumed.describe()
    by_idx = acked_by_index(consumed, run)
    assert set(by_idx) == wanted
    for idx, msg in by_idx.items():
        assert_identical(msg, idx, run, topic)


def test_cpp_pull_consumer_explicit_offsets(cluster: Cluster, cpp: CppRunner) -> None:
    """The C++ PullConsumer reads a queue from a chosen offset and sees dense offsets."""
    count, run = 40, unique("run")
    topic = unique("InteropPull")
    ensure_topic(cluster.broker_addr, cluster.namesrv_addr, topic, queues=1)
    produce_ok(cpp, cluster, topic, count, run)

    result = cpp.run(
        "pull", namesrv=cluster.namesrv_addr, topic=topic, group=unique("cpp_pull"), offset=["0=25"]
    )
    assert result.returncode == 0, result.describe()
    assert [q["queue_id"] for q in result.of("queues")[0]["queues"]] == [0]
    offsets = [m["queue_offset"] for m in result.messages]
    assert offsets == list(range(25, count))
    for msg in result.messages:
        assert_identical(msg, int(msg["properties"]["idx"]), run, topic)
    assert result.summary is not None and result.summary["per_queue"] == {"0": count}


# ----------------------------------------------------------------------- with our Python client
async def _send_with_our_producer(
    namesrv_addr: str, topic: str, count: int, run: str
) -> dict[int, tuple[str, int]]:
    from rocketmq_integration.client import Message, Producer

    sent: dict[int, tuple[str, int]] = {}
    async with Producer(unique("py_pg"), namesrv_addr=namesrv_addr) as producer:
        for i in range(count):
            spec = make_message(i, run)
            msg = Message(topic, spec.body, properties=dict(spec.properties))
            msg.tags = spec.tags
            msg.keys = spec.keys
            result = await producer.send(msg)
            assert result.status.name == "SEND_OK", result
            sent[i] = (result.msg_id, result.queue_offset)
    return sent


def test_our_producer_to_cpp_push_consumer(cluster: Cluster, cpp: CppRunner) -> None:
    """Acceptance (b): the 1,000 messages sent by rocketmq_integration.client reach a C++
    PushConsumer intact (same checks as C++ to C++)."""
    run, topic = unique("run"), unique("InteropB")
    ensure_topic(cluster.broker_addr, cluster.namesrv_addr, topic, queues=4)
    consumer = cpp.start(
        "consume",
        namesrv=cluster.namesrv_addr,
        topic=topic,
        group=unique("cpp_cg"),
        expect=COUNT,
        timeout=240,
        linger=1,
    )
    consumer.wait_for_event("started", timeout=60)

    sent = asyncio.run(_send_with_our_producer(cluster.namesrv_addr, topic, COUNT, run))

    consumed = consumer.wait(400)
    assert consumed.returncode == 0, consumed.describe()
    assert_delivered_as_sent(cpp_deliveries(consumed, run, topic), sent, run)


def test_cpp_producer_to_our_push_consumer(cluster: Cluster, cpp: CppRunner, tmp_path: Path) -> None:
    """Acceptance (c): the 1,000 C++-produced messages (every 10th zlib-compressed) reach our
    PushConsumer intact (same checks as C++ to C++)."""
    from rocketmq_integration.client import ConsumerConfig, ConsumeResult, MessageExt, PushConsumer

    count, run = COUNT, unique("run")
    topic = unique("InteropC")
    ensure_topic(cluster.broker_addr, cluster.namesrv_addr, topic, queues=4)
    got: dict[int, MessageExt] = {}

    async def scenario() -> CppResult:
        done = asyncio.Event()

        async def listener(msgs: list[MessageExt]) -> ConsumeResult:
            for m in msgs:
                got.setdefault(int(m.properties["idx"]), m)
            if len(got) >= count:
                done.set()
            return ConsumeResult.SUCCESS

        consumer = PushConsumer(
            unique("py_cg"),
            namesrv_addr=cluster.namesrv_addr,
            config=ConsumerConfig(offset_store_dir=tmp_path / "py-offsets"),
        )
        consumer.subscribe(topic, "*")
        consumer.register_listener(listener)
        await consumer.start()
        try:
            produced = await asyncio.to_thread(produce_ok, cpp, cluster, topic, count, run)
            await asyncio.wait_for(done.wait(), 300)
        finally:
            await consumer.shutdown()
        return produced

    produced = asyncio.run(scenario())
    for idx, m in got.items():
        expected = make_message(idx, run)
        assert m.topic == topic
        assert m.body == expected.body, f"body of #{idx}"
        assert m.tags == expected.tags and m.keys == expected.keys, f"tags/keys of #{idx}"
        for name, value in expected.properties.items():
            assert m.properties.get(name) == value, f"property {name} of #{idx}"
    deliveries = {
        idx: Delivery(m.msg_id, m.queue_id, m.queue_offset, m.store_size, len(m.body), m.reconsume_times)
        for idx, m in got.items()
    }
    assert_delivered_as_sent(deliveries, {s["i"]: (s["msg_id"], s["offset"]) for s in produced.sent}, run)


# ------------------------------------------------------------------- consumption modes (C++ only)
def test_cpp_orderly_producer_and_consumer(cluster: Cluster, cpp: CppRunner) -> None:
    """send_orderly puts one sharding key on one queue; an orderly consumer (LOCK_BATCH_MQ) sees each
    queue's messages in send order."""
    count, shards, run = 60, 3, unique("run")
    topic = unique("InteropOrder")
    ensure_topic(cluster.broker_addr, cluster.namesrv_addr, topic, queues=4)
    consumer = cpp.start(
        "consume",
        namesrv=cluster.namesrv_addr,
        topic=topic,
        group=unique("cpp_ocg"),
        orderly=True,
        expect=count,
        timeout=120,
    )
    consumer.wait_for_event("started", timeout=60)
    produced = produce_ok(cpp, cluster, topic, count, run, orderly=True, shards=shards)

    assert {s["shard"] for s in produced.sent} == set(range(shards))
    queue_of_shard: dict[int, set[int]] = {}
    consumed = consumer.wait(240)
    assert consumed.returncode == 0, consumed.describe()
    order: dict[int, list[int]] = {}
    for msg in consumed.messages:
        idx = int(msg["properties"]["idx"])
        queue_of_shard.setdefault(idx % shards, set()).add(msg["queue_id"])
        order.setdefault(msg["queue_id"], []).append(idx)
    assert all(len(queues) == 1 for queues in queue_of_shard.values()), queue_of_shard
    for queue_id, indices in order.items():
        assert indices == sorted(indices), f"queue {queue_id} consumed out of order: {indices}"
    assert sorted(i for indices in order.values() for i in indices) == list(range(count))


def test_cpp_broadcast_consumers_each_get_everything(cluster: Cluster, cpp: CppRunner) -> None:
    """Two BROADCASTING consumers of one group both receive every message.

    A broadcast consumer without a local offset starts at the queue's max offset, so probes are
    sent until both are demonstrably consuming before the real messages go out.
    """
    count, run = 30, unique("run")
    topic, group = unique("InteropBcast"), unique("cpp_bcg")
    ensure_topic(cluster.broker_addr, cluster.namesrv_addr, topic, queues=2)
    consumers = [
        cpp.start(
            "consume",
            namesrv=cluster.namesrv_addr,
            topic=topic,
            group=group,
            broadcast=True,
            instance_name=f"bcast{n}",
            expect=0,  # collect until killed
            timeout=200,
        )
        for n in range(2)
    ]
    for consumer in consumers:
        consumer.wait_for_event("started", timeout=60)

    def got_probe(proc: Any) -> bool:
        return any(e.get("tags") == "Probe" for e in proc.events() if e.get("event") == "message")

    for attempt in range(60):
        produce_ok(cpp, cluster, topic, 1, f"probe{attempt}", tags="Probe")
        if all(got_probe(c) for c in consumers):
            break
        time.sleep(0.5)
    else:
        pytest.fail("broadcast consumers never started consuming")

    produce_ok(cpp, cluster, topic, count, run)
    deadline = time.monotonic() + 120
    for consumer in consumers:
        while True:
            by_idx = {
                int(e["properties"]["idx"]): e
                for e in consumer.events()
                if e.get("event") == "message" and e["properties"].get("run") == run
            }
            if len(by_idx) == count or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        consumer.kill()
        assert set(by_idx) == set(range(count)), consumer.result().describe()
        for idx, msg in by_idx.items():
            assert_identical(msg, idx, run, topic)


def test_cpp_delay_level_is_honoured(cluster: Cluster, cpp: CppRunner) -> None:
    """Delay level 2 (5 s): the message must not be delivered before it is due."""
    topic = unique("InteropDelay")
    ensure_topic(cluster.broker_addr, cluster.namesrv_addr, topic, queues=2)
    consumer = cpp.start(
        "consume", namesrv=cluster.namesrv_addr, topic=topic, group=unique("cpp_dcg"), expect=2, timeout=60
    )
    consumer.wait_for_event("started", timeout=60)
    produced = produce_ok(cpp, cluster, topic, 2, unique("run"), delay_level=2)
    consumed = consumer.wait(120)
    assert consumed.returncode == 0, consumed.describe()
    sent_at = min(s["at"] for s in produced.of("started"))
    for msg in consumed.messages:
        assert msg["received_at"] - sent_at >= 4.5, "delivered before its delay level was due"
        assert msg["received_at"] - sent_at < 30
