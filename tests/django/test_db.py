"""DB-transaction-aware sending: ``send_on_commit``, the outbox and its relay, the atomic
transaction listener — against the plugin's real broker."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import override_settings

from rocketmq_integration.django.db import OutboxRelay, send_on_commit, send_via_outbox
from rocketmq_integration.django.models import OutboxMessage
from rocketmq_integration.django.signals import message_sent
from rocketmq_integration.listeners import ConsumeMode
from rocketmq_integration.pytest_plugin import MessageCollector
from tests.django.helpers import ManagePy

pytestmark = pytest.mark.django_db(transaction=True)


def stored(cluster: Any, topic: str) -> int:
    """Messages stored in ``topic`` (sum of the queues' max offsets)."""
    from rocketmq_integration.client import Admin

    async def go() -> int:
        async with Admin(cluster.namesrv_addr) as admin:
            return sum([await admin.get_max_offset(mq) for mq in await admin.message_queues(topic)])

    return asyncio.run(go())


@pytest.fixture
def rocketmq(rocketmq_cluster: Any) -> Any:
    with override_settings(ROCKETMQ={"NAME_SERVER": rocketmq_cluster.namesrv_addr}):
        yield rocketmq_cluster


def wait_distinct(collector: MessageCollector, n: int, timeout: float) -> list[Any]:
    """Wait until ``n`` distinct items arrived (at-least-once delivery may add duplicates)."""
    deadline = time.monotonic() + timeout
    got = collector.wait_for(n, timeout)
    while len(set(got)) < n:
        got = collector.wait_for(len(got) + 1, max(0.1, deadline - time.monotonic()))
    return got


def test_send_on_commit_rolled_back_sends_nothing(rocketmq: Any) -> None:
    topic = rocketmq.create_topic(rocketmq.unique("DjOnCommitRb"))
    with pytest.raises(RuntimeError), transaction.atomic():
        send_on_commit(topic, {"order": 1})
        raise RuntimeError("rollback")
    assert stored(rocketmq, topic) == 0


def test_send_on_commit_committed_sends_once(rocketmq: Any) -> None:
    topic = rocketmq.create_topic(rocketmq.unique("DjOnCommit"))
    sent: list[Any] = []

    def on_sent(sender: Any, result: Any, **kw: Any) -> None:
        sent.append(result)

    message_sent.connect(on_sent)
    try:
        with transaction.atomic():
            send_on_commit(topic, {"order": 2}, keys="order-2")
            assert stored(rocketmq, topic) == 0  # not before COMMIT
        assert stored(rocketmq, topic) == 1
    finally:
        message_sent.disconnect(on_sent)
    assert len(sent) == 1


def test_send_via_outbox_rolled_back_writes_no_row(rocketmq: Any) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        send_via_outbox("SomeTopic", {"x": 1})
        raise RuntimeError("rollback")
    assert OutboxMessage.objects.count() == 0


def test_outbox_relay_once_sends_in_order_with_stable_msg_ids(rocketmq: Any, rocketmq_listeners: Any) -> None:
    topic = rocketmq.create_topic(rocketmq.unique("DjOutbox"), queues=2)
    with transaction.atomic():
        rows = [send_via_outbox(f"{topic}:TagA", {"n": i}, hash_key="k", keys=f"key-{i}") for i in range(5)]
    collector = MessageCollector()

    def record(payload: dict[str, int], ctx: Any) -> None:
        collector((payload["n"], ctx.msg_id, ctx.tags, ctx.keys))

    rocketmq_listeners.run(
        record, topic=topic, consumer_group=rocketmq.unique("DjOutboxG"), consume_mode=ConsumeMode.ORDERLY
    )
    assert OutboxRelay(batch_size=2).run(once=True) == 5
    got = collector.wait_for(5)
    assert [g[0] for g in got] == [0, 1, 2, 3, 4]
    assert [g[1] for g in got] == [r.msg_id for r in rows]  # fixed at enqueue time
    assert {g[2] for g in got} == {"TagA"}
    assert [g[3] for g in got] == [f"key-{i}" for i in range(5)]
    assert OutboxMessage.objects.filter(sent_at__isnull=True).count() == 0


def test_outbox_relay_sigkill_mid_batch_then_restart_delivers_all_in_order(
    rocketmq: Any, rocketmq_listeners: Any, tmp_path: Path
) -> None:
    topic = rocketmq.create_topic(rocketmq.unique("DjOutboxKill"), queues=4)
    keys = ["a", "b", "c"]
    total = 60
    with transaction.atomic():
        for i in range(total):
            send_via_outbox(topic, {"key": keys[i % 3], "seq": i // 3}, hash_key=keys[i % 3])
    env = {
        "ROCKETMQ_TEST_DB": str(connection.settings_dict["NAME"]),
        "ROCKETMQ_TEST_NAMESRV": rocketmq.namesrv_addr,
    }
    relay = ManagePy(tmp_path, "rocketmq_outbox_relay", "--batch-size", "4", "--lease", "2", env=env)
    try:
        deadline = time.monotonic() + 90
        while OutboxMessage.objects.filter(sent_at__isnull=False).count() < 10:  # mid-batch, some sent
            assert relay.proc.poll() is None, relay.output()
            assert time.monotonic() < deadline, relay.output()
            time.sleep(0.05)  # progress is a DB row written by another process
        relay.proc.send_signal(signal.SIGKILL)
        relay.wait(30)
    finally:
        relay.kill()
    sent_before = OutboxMessage.objects.filter(sent_at__isnull=False).count()
    assert sent_before < total, "the relay finished before it was killed; nothing was tested"
    restarted = ManagePy(tmp_path, "rocketmq_outbox_relay", "--once", "--poll-interval", "0.2", env=env)
    assert restarted.wait(120) == 0, restarted.output()
    assert OutboxMessage.objects.filter(sent_at__isnull=True).count() == 0

    collector = MessageCollector()
    rocketmq_listeners.run(
        lambda p: collector((p["key"], p["seq"])), topic=topic, consumer_group=rocketmq.unique("DjOutboxKillG"),
        consume_mode=ConsumeMode.ORDERLY,
    )  # fmt: skip
    got = wait_distinct(collector, total, timeout=90)
    for key in keys:
        seqs = [s for k, s in got if k == key]
        first_seen = list(dict.fromkeys(seqs))
        assert first_seen == list(range(total // 3)), (key, seqs)  # every row, in order per key


def test_outbox_relay_call_command_once(rocketmq: Any) -> None:
    import io

    from django.core.management import call_command

    topic = rocketmq.create_topic(rocketmq.unique("DjOutboxCmd"))
    for i in range(3):
        send_via_outbox(topic, {"n": i})
    out = io.StringIO()
    call_command("rocketmq_outbox_relay", "--once", "--batch-size", "2", stdout=out)
    assert "3 message(s) sent" in out.getvalue()
    assert stored(rocketmq, topic) == 3
    assert OutboxMessage.objects.filter(sent_at__isnull=True).count() == 0
