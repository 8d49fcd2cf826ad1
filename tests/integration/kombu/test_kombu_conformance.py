"""kombu-level conformance of the ``rocketmq://`` transport (modelled on kombu's integration suite):
publish/consume/ack, requeue, dead-lettering, purge, size, prefetch, routing per exchange type and
the broker-side binding table, against the plugin's real broker processes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.message import Message

from rocketmq_integration.kombu.session import Session
from rocketmq_integration.kombu.transport import Channel
from tests.integration.kombu.helpers import REQUEUE_TIMEOUT, wait_dlq


@pytest.fixture
def conn(broker_url: str) -> Iterator[Connection]:
    with Connection(broker_url) as c:
        c.connect()
        yield c


def drain_until(conn: Connection, done: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        left = deadline - time.monotonic()
        assert left > 0, "timed out draining"
        try:
            conn.drain_events(timeout=min(1.0, left))
        except TimeoutError:
            pass


def test_publish_consume_ack_and_qsize(conn: Connection, qname: str) -> None:
    q = conn.SimpleQueue(qname)
    for i in range(5):
        q.put({"n": i})
    deadline = time.monotonic() + 10
    while q.qsize() < 5 and time.monotonic() < deadline:  # a 4.x broker indexes asynchronously
        time.sleep(0.05)
    assert q.qsize() == 5
    got = []
    for _ in range(5):
        m = q.get(timeout=10)
        got.append(m.payload["n"])
        m.ack()
    assert sorted(got) == [0, 1, 2, 3, 4]
    deadline = time.monotonic() + 10
    while q.qsize() and time.monotonic() < deadline:  # acks are sent asynchronously
        time.sleep(0.05)
    assert q.qsize() == 0
    q.close()


def test_requeue_redelivers_with_the_redelivered_flag(conn: Connection, qname: str) -> None:
    q = conn.SimpleQueue(qname)
    q.put("once")
    m = q.get(timeout=10)
    assert not m.delivery_info.get("redelivered")
    m.requeue()
    again = q.get(timeout=REQUEUE_TIMEOUT)
    assert again.payload == "once" and again.delivery_info.get("redelivered") is True
    again.ack()
    q.close()


def test_reject_moves_the_message_to_the_groups_dlq(conn: Connection, qname: str) -> None:
    q = conn.SimpleQueue(qname)
    q.put("poison")
    m = q.get(timeout=10)
    m.reject()
    assert wait_dlq(q.channel, qname, 1) == 1
    q.close()


def test_unacked_messages_are_restored_when_the_channel_closes(broker_url: str, qname: str) -> None:
    with Connection(broker_url) as c1:
        q = c1.SimpleQueue(qname)
        q.put("keep")
        m = q.get(timeout=10)
        assert m.payload == "keep"
        q.close()  # no ack: restored
    with Connection(broker_url) as c2:
        q2 = c2.SimpleQueue(qname)
        again = q2.get(timeout=REQUEUE_TIMEOUT)
        assert again.payload == "keep"
        again.ack()
        q2.close()


def test_purge_counts_and_removes_ready_messages(conn: Connection, qname: str) -> None:
    q = conn.SimpleQueue(qname)
    for i in range(7):
        q.put(i)
    deadline = time.monotonic() + 10
    while q.qsize() < 7 and time.monotonic() < deadline:  # a 4.x broker indexes asynchronously
        time.sleep(0.05)
    assert q.clear() == 7
    assert q.qsize() == 0
    q.close()


def test_prefetch_count_bounds_unacked_deliveries(conn: Connection, qname: str) -> None:
    queue = Queue(qname, Exchange(qname), qname)
    with Producer(conn.channel()) as p:
        for i in range(10):
            p.publish(i, exchange=queue.exchange, routing_key=qname, declare=[queue])
    held: list[Message] = []
    ch = conn.channel()
    with Consumer(ch, [queue], callbacks=[lambda body, m: held.append(m)], prefetch_count=3):
        drain_until(conn, lambda: len(held) >= 3)
        with pytest.raises(TimeoutError):
            conn.drain_events(timeout=1.0)
        assert len(held) == 3
        for m in held[:]:
            m.ack()
        drain_until(conn, lambda: len(held) >= 6)
        for m in held[3:]:
            m.ack()
        drain_until(conn, lambda: len(held) >= 9)
        for m in held[6:]:
            m.ack()
        drain_until(conn, lambda: len(held) >= 10)
        held[-1].ack()


def test_fanout_reaches_every_bound_queue_once(conn: Connection, qname: str) -> None:
    ex = Exchange(f"{qname}.fan", type="fanout")
    queues = [Queue(f"{qname}.a", ex), Queue(f"{qname}.b", ex)]
    got: list[tuple[str, Any]] = []
    with Consumer(
        conn.channel(),
        queues,
        callbacks=[lambda b, m: (got.append((m.delivery_info["routing_key"], b)), m.ack())],
    ):
        with Producer(conn.channel()) as p:
            p.publish({"x": 1}, exchange=ex, routing_key="any", declare=[ex])
        drain_until(conn, lambda: len(got) >= 2)
        with pytest.raises(TimeoutError):
            conn.drain_events(timeout=0.5)
    assert got == [("any", {"x": 1}), ("any", {"x": 1})]


def test_topic_exchange_routes_by_pattern(conn: Connection, qname: str) -> None:
    ex = Exchange(f"{qname}.topic", type="topic")
    q_all = Queue(f"{qname}.all", ex, routing_key="#")
    q_task = Queue(f"{qname}.task", ex, routing_key="task.*")
    got: dict[str, list[str]] = {"all": [], "task": []}

    def cb(which: str) -> Any:
        return lambda body, m: (got[which].append(body), m.ack())

    ch = conn.channel()
    with Consumer(ch, [q_all], callbacks=[cb("all")]), Consumer(ch, [q_task], callbacks=[cb("task")]):
        with Producer(conn.channel()) as p:
            for rk in ("task.sent", "worker.heartbeat", "task.done"):
                p.publish(rk, exchange=ex, routing_key=rk, declare=[ex])
        drain_until(conn, lambda: len(got["all"]) >= 3 and len(got["task"]) >= 2)
    assert sorted(got["all"]) == ["task.done", "task.sent", "worker.heartbeat"]
    assert sorted(got["task"]) == ["task.done", "task.sent"]


def test_direct_bindings_are_stored_broker_side(conn: Connection, qname: str, broker_url: str) -> None:
    ex = Exchange(f"{qname}.direct", type="direct")
    queue = Queue(f"{qname}.bound", ex, routing_key="rk1")
    queue(conn.channel()).declare()
    channel: Channel = conn.default_channel
    # a fresh session (another process would have one) sees the binding and routes by it
    other = Session(channel.session.client_config.namesrv_addr, channel.options, "")
    try:
        rows = other.run(other.bindings())
        assert (ex.name, "direct", "rk1", queue.name) in rows
    finally:
        other.close()
    with Connection(broker_url) as c2:
        ch2 = c2.channel()
        ch2.state.exchanges.clear()
        assert ch2._lookup(ex.name, "rk1") == {queue.name}


def test_priority_steps_deliver_higher_priorities_first(
    broker_url: str, qname: str, broker_has_pop: bool
) -> None:
    if not broker_has_pop:
        pytest.skip("4.x broker: push consumers read every priority topic at once (priorities need POP)")
    with Connection(broker_url, transport_options={"priority_steps": [0, 5, 9]}) as c:
        queue = Queue(qname, Exchange(qname), qname, max_priority=9)
        with Producer(c.channel()) as p:
            for i in range(6):
                p.publish(f"low{i}", exchange=queue.exchange, routing_key=qname, declare=[queue], priority=0)
            for i in range(3):
                p.publish(f"high{i}", exchange=queue.exchange, routing_key=qname, priority=9)
            p.publish("mid", exchange=queue.exchange, routing_key=qname, priority=6)
        got: list[str] = []

        def on(body: str, m: Message) -> None:
            got.append(body)
            m.ack()

        with Consumer(c.channel(), [queue], callbacks=[on], prefetch_count=1):
            drain_until(c, lambda: len(got) >= 10)
    assert sorted(got[:3]) == ["high0", "high1", "high2"]
    assert got[3] == "mid"
    assert sorted(got[4:]) == [f"low{i}" for i in range(6)]


def test_sends_after_the_first_skip_the_loop_thread_and_arrive(conn: Connection, qname: str) -> None:
    """The first send to a queue's topic goes through the session's loop (route lookup, topic
    creation); later ones are sent from the calling thread over its blocking socket."""
    session: Session = conn.default_channel.session
    q = conn.SimpleQueue(qname)
    q.put({"n": 0})
    before = session.direct_sends
    for i in range(1, 4):
        q.put({"n": i})
    assert session.direct_sends - before == 3
    got = []
    for _ in range(4):
        m = q.get(timeout=10)
        got.append(m.payload["n"])
        m.ack()
    assert sorted(got) == [0, 1, 2, 3]
    q.close()
