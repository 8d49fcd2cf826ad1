"""Celery features over the ``rocketmq://`` transport, with real worker subprocesses: broker-held
ETA/countdown and retries, killed-worker redelivery with ``acks_late``, remote control, events,
and dead-lettering of messages that are not Celery tasks."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from kombu import Connection, Producer

from rocketmq_integration.kombu import codec
from tests.integration.kombu.celery_app import make_app, read_lines
from tests.integration.kombu.helpers import dlq_bodies, wait_dlq
from tests.integration.kombu.workers import CeleryWorker


def wait_lines(path: Path, n: int, timeout: float, what: str = "") -> list[str]:
    """Lines of a task's record file once there are ``n`` (the file is written by the tasks)."""
    deadline = time.monotonic() + timeout
    while len(lines := read_lines(path)) < n:
        assert time.monotonic() < deadline, f"{what}: {len(lines)} of {n} lines: {lines}"
        time.sleep(0.05)  # the file is written by another process; there is no event to await
    return lines


@pytest.fixture
def app_factory(broker_url: str, qname: str) -> Iterator[Any]:
    apps: list[Celery] = []

    def make(**kw: Any) -> Celery:
        app = make_app(broker_url, qname, **kw)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.close()


def test_countdown_retry_is_held_by_the_broker_not_the_worker(
    needs_timers: None,
    app_factory: Any,
    broker_url: str,
    qname: str,
    tmp_path: Path,
    workers: list[CeleryWorker],
) -> None:
    app = app_factory()
    w = CeleryWorker(broker_url, qname, tmp_path, name=f"eta-{qname}")
    workers.append(w.start())
    path = tmp_path / "flaky.txt"
    result = app.send_task("t.flaky", (str(path), 2, 3.0))
    wait_lines(path, 1, 30, "first try")
    # while the retry waits for its countdown the broker holds it: the worker has nothing scheduled
    scheduled = app.control.inspect(timeout=2.0, destination=[w.hostname()]).scheduled()
    assert scheduled == {w.hostname(): []}
    assert result.get(timeout=30) == 2
    tries = [float(line.split()[2]) for line in wait_lines(path, 3, 5, "tries")]
    gaps = [b - a for a, b in zip(tries, tries[1:], strict=False)]
    assert all(2.5 <= g <= 4.8 for g in gaps), gaps


def test_countdown_runs_on_time_and_also_when_no_worker_was_up_at_that_time(
    app_factory: Any, broker_url: str, qname: str, tmp_path: Path, workers: list[CeleryWorker]
) -> None:
    app = app_factory()
    path = tmp_path / "eta.txt"
    sent = time.time()
    app.send_task("t.record", (str(path), "late"), countdown=2)
    # no worker until the task's time has passed
    deadline = sent + 2.5
    while time.time() < deadline:
        time.sleep(deadline - time.time())  # waiting for a wall-clock moment is the point here
    w = CeleryWorker(broker_url, qname, tmp_path, name=f"late-{qname}")
    workers.append(w.start())
    late = wait_lines(path, 1, 30, "late task")[0].split()
    assert late[0] == "late" and float(late[1]) >= sent + 2
    due = time.time() + 5
    app.send_task("t.record", (str(path), "ontime"), countdown=5)
    ran = float(wait_lines(path, 2, 30, "on-time task")[1].split()[1])
    assert due - 0.05 <= ran <= due + 1.5, ran - due


def test_acks_late_task_of_a_killed_worker_runs_again_on_another_worker(
    app_factory: Any, broker_url: str, qname: str, tmp_path: Path, workers: list[CeleryWorker]
) -> None:
    options = {"visibility_timeout": 4}
    app = app_factory(options=options, acks_late=True)
    a = CeleryWorker(
        broker_url, qname, tmp_path, name=f"a-{qname}", pool="prefork", concurrency=1,
        options=options, acks_late=True,
    )  # fmt: skip
    workers.append(a.start())
    path = tmp_path / "slow.txt"
    result = app.send_task("t.slow", (str(path), "k", 2.0))
    wait_lines(path, 1, 30, "first start")
    a.kill()
    b = CeleryWorker(
        broker_url, qname, tmp_path, name=f"b-{qname}", pool="prefork", concurrency=1,
        options=options, acks_late=True,
    )  # fmt: skip
    workers.append(b.start())
    assert result.get(timeout=40) == "k"
    lines = read_lines(path)
    assert [line.split()[0] for line in lines] == ["start", "start", "done"], lines
    assert lines[0].split()[2] != lines[2].split()[2]  # another process finished it


def test_inspect_ping_is_answered_by_every_worker(
    app_factory: Any, broker_url: str, qname: str, tmp_path: Path, workers: list[CeleryWorker]
) -> None:
    app = app_factory()
    names = []
    for i in range(2):
        w = CeleryWorker(broker_url, qname, tmp_path, name=f"p{i}-{qname}")
        workers.append(w.start())
        names.append(w.hostname())
    # an external cluster (ROCKETMQ_NAMESRV) is shared by parallel test processes: count this test's workers
    replies = app.control.ping(timeout=3.0)
    assert sorted(name for reply in replies for name in reply if qname in name) == sorted(names)
    stats = app.control.inspect(timeout=3.0).stats() or {}
    assert sorted(name for name in stats if qname in name) == sorted(names)


def test_event_receiver_sees_the_task_lifecycle(
    app_factory: Any, broker_url: str, qname: str, tmp_path: Path, workers: list[CeleryWorker]
) -> None:
    app = app_factory()
    seen: list[tuple[str, str]] = []
    with Connection(broker_url) as conn:
        recv = app.events.Receiver(
            conn, handlers={"*": lambda ev: seen.append((ev["type"], ev.get("uuid", "")))}
        )
        thread = threading.Thread(target=lambda: recv.capture(limit=None, timeout=None, wakeup=False))
        thread.start()
        try:
            w = CeleryWorker(broker_url, qname, tmp_path, name=f"ev-{qname}", extra_args=("-E",))
            workers.append(w.start())
            task_id = app.send_task("t.add", (1, 2)).id
            deadline = time.monotonic() + 30
            want = {"task-received", "task-started", "task-succeeded"}
            while not want <= {t for t, u in seen if u == task_id}:
                assert time.monotonic() < deadline, seen
                time.sleep(0.05)  # the receiver thread appends; polling a list is enough here
            assert any(t == "worker-heartbeat" or t == "worker-online" for t, _ in seen)
        finally:
            recv.should_stop = True
            thread.join(10)


def test_a_message_that_is_not_a_task_goes_to_the_dlq_and_the_worker_keeps_going(
    app_factory: Any,
    broker_url: str,
    qname: str,
    tmp_path: Path,
    workers: list[CeleryWorker],
    rocketmq_cluster: Any,
) -> None:
    app = app_factory()
    w = CeleryWorker(broker_url, qname, tmp_path, name=f"dlq-{qname}")
    workers.append(w.start())
    with Connection(broker_url) as conn:
        with Producer(conn.channel()) as producer:
            producer.publish(b"\x00not a task", routing_key=qname, content_type="application/data",
                             content_encoding="binary")  # fmt: skip
        assert wait_dlq(conn.default_channel, qname, 1) == 1
        group = conn.default_channel.queue_group(qname)
    # not lost: the very message is in the dead-letter queue; logged; the worker goes on
    assert [codec.decode(body)["body"] for body in dlq_bodies(rocketmq_cluster.namesrv_addr, group)] == [
        b"\x00not a task"
    ]
    w.wait_for("unknown message", 10)
    assert app.send_task("t.add", (2, 2)).get(timeout=30) == 4
    assert w.running


def test_ordered_queue_runs_tasks_of_each_key_in_send_order(
    broker_url: str, qname: str, tmp_path: Path, workers: list[CeleryWorker]
) -> None:
    options = {
        "ordered_queues": [qname],
        "ordering_key_header": "okey",
        "read_queue_nums": 8,
        "write_queue_nums": 8,
    }
    app = make_app(broker_url, qname, options=options, acks_late=True)
    try:
        for i in range(2):
            w = CeleryWorker(
                broker_url, qname, tmp_path, name=f"o{i}-{qname}", pool="threads", concurrency=4,
                options=options, acks_late=True,
            )  # fmt: skip
            workers.append(w.start())
        path = tmp_path / "ordered.txt"
        n, keys = 1000, 20
        for i in range(n):
            key = f"k{i % keys}"
            app.send_task("t.record", (str(path), f"{key}:{i}"), headers={"okey": key})
        lines = wait_lines(path, n, 120, "ordered tasks")
    finally:
        app.close()
    per_key: dict[str, list[int]] = {}
    for line in lines:
        key, seq = line.split()[0].split(":")
        per_key.setdefault(key, []).append(int(seq))
    assert len(per_key) == keys
    for key, seqs in per_key.items():
        # every task of the key ran exactly once, in the order it was sent
        assert seqs == sorted(set(seqs)) and len(seqs) == n // keys, (key, seqs)
    pids = {line.split()[2] for line in lines}
    assert len(pids) == 2  # both workers took part
