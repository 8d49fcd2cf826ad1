"""``auto_delete=True`` queues go with the channel that declared them: topic, group and bindings.

Celery declares its per-process queues that way (``celery inspect``'s reply queue, a worker's pidbox
and event queues, the ``rpc://`` reply queue); without deletion every ``celery inspect`` run left a
topic and a consumer group on the brokers. A queue that still holds messages is kept.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path
from typing import Any

from kombu import Connection, Consumer, Exchange, Producer, Queue

from rocketmq_integration.client.admin import Admin
from rocketmq_integration.kombu.transport import Channel
from tests.integration.kombu.workers import CeleryWorker


def _state(namesrv: str, topics: list[str], group: str) -> tuple[set[str], bool]:
    """(which of ``topics`` the brokers and name servers still know, whether ``group`` exists)."""

    async def ask() -> tuple[set[str], bool]:
        async with Admin(namesrv) as admin:
            known = set(await admin.topic_list()) & set(topics)
            groups = await admin.subscription_groups()
            return known, group in groups

    return asyncio.run(ask())


def _names(conn: Connection, queue: str) -> tuple[str, str]:
    channel: Channel = conn.default_channel
    return channel.queue_topic(queue), channel.queue_group(queue)


def _bound_queues(conn: Connection) -> set[str]:
    channel: Channel = conn.default_channel
    return {row[3] for row in channel._remote_bindings(refresh=True)}


def test_an_auto_delete_queue_goes_with_its_channel_and_a_durable_one_stays(
    broker_url: str, rocketmq_cluster: Any, qname: str
) -> None:
    ex = Exchange(f"{qname}.ex", type="direct")
    auto_q = Queue(f"{qname}.reply", ex, routing_key="r", auto_delete=True, durable=False)
    keep_q = Queue(f"{qname}.keep", ex, routing_key="k")
    with Connection(broker_url) as conn:
        auto_topic, auto_group = _names(conn, auto_q.name)
        keep_topic, keep_group = _names(conn, keep_q.name)
        got: list[Any] = []
        channel = conn.channel()
        with Consumer(channel, [auto_q, keep_q], callbacks=[lambda body, m: (got.append(body), m.ack())]):
            with Producer(conn.channel()) as producer:
                producer.publish({"n": 1}, exchange=ex, routing_key="r", declare=[ex])
            deadline = time.monotonic() + 20
            while not got and time.monotonic() < deadline:
                try:
                    conn.drain_events(timeout=1.0)
                except TimeoutError:
                    pass
        assert got == [{"n": 1}]
        assert {auto_q.name, keep_q.name} <= _bound_queues(conn)
        topics, group_exists = _state(rocketmq_cluster.namesrv_addr, [auto_topic, keep_topic], auto_group)
        assert topics == {auto_topic, keep_topic} and group_exists  # consumed from: the group exists
        channel.close()
        topics, group_exists = _state(rocketmq_cluster.namesrv_addr, [auto_topic, keep_topic], auto_group)
        assert topics == {keep_topic}, "the auto-delete queue's topic is deleted, the durable one kept"
        assert not group_exists, "the auto-delete queue's consumer group is deleted"
        bound = _bound_queues(conn)
        assert auto_q.name not in bound and keep_q.name in bound
        # declaring it again (Celery's rpc consumer re-declares after a reconnect) works
        conn.default_channel.queue_declare(auto_q.name, auto_delete=True)
        with Producer(conn.channel()) as producer:
            producer.publish({"n": 2}, routing_key=auto_q.name)
        simple = conn.SimpleQueue(auto_q.name, queue_opts={"auto_delete": True})
        assert simple.get(timeout=20).payload == {"n": 2}
        simple.close()
    _, keep_group_exists = _state(rocketmq_cluster.namesrv_addr, [], keep_group)
    assert keep_group_exists


def test_an_auto_delete_queue_holding_messages_is_kept(
    broker_url: str, rocketmq_cluster: Any, qname: str
) -> None:
    with Connection(broker_url) as conn:
        topic, group = _names(conn, qname)
        channel = conn.channel()
        channel.queue_declare(qname, auto_delete=True)
        with Producer(channel) as producer:
            producer.publish({"pending": True}, routing_key=qname)
        deadline = time.monotonic() + 10
        while channel._size(qname) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)  # the broker dispatches the message to its queue asynchronously
        channel.close()
        topics, _ = _state(rocketmq_cluster.namesrv_addr, [topic], group)
        assert topics == {topic}, "a reply nobody read yet must not be deleted with its queue"
        simple = conn.SimpleQueue(qname)
        message = simple.get(timeout=20)
        assert message.payload == {"pending": True}
        message.ack()
        simple.close()


def test_celery_inspect_leaves_no_reply_queue_behind(
    broker_url: str, rocketmq_cluster: Any, workers: list[Any], qname: str, tmp_path: Path
) -> None:
    worker = CeleryWorker(broker_url, qname, tmp_path, name="autodel", pool="threads", concurrency=1)
    workers.append(worker.start())
    before = _all_topics(rocketmq_cluster.namesrv_addr)
    for _ in range(2):  # each run is a new process with a new reply queue
        ping = subprocess.run(
            [*worker.argv[: worker.argv.index("worker")], "inspect", "ping", "--timeout", "5", "--json",
             "--destination", worker.hostname()],
            env=worker.env, cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        replies = json.loads(ping.stdout.strip().splitlines()[-1])
        assert ping.returncode == 0 and replies == {worker.hostname(): {"ok": "pong"}}, (
            ping.stdout + ping.stderr
        )
    leaked = sorted(t for t in _all_topics(rocketmq_cluster.namesrv_addr) - before if "reply" in t)
    assert not leaked, f"celery inspect left its reply topics behind: {leaked}"


def _all_topics(namesrv: str) -> set[str]:
    async def ask() -> set[str]:
        async with Admin(namesrv) as admin:
            return set(await admin.topic_list())

    return asyncio.run(ask())
