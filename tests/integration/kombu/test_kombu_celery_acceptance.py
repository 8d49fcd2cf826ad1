"""Issue 9's acceptance with real ``celery worker`` subprocesses on the ``rocketmq://`` transport:
1,000 tasks with results over ``rpc://`` on the prefork and the threads pool, groups over
``rpc://``, chords over the Redis result backend (Celery's ``rpc://`` backend cannot join chords)."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from celery import chord, group

from rocketmq_integration.errors import ValidationError
from rocketmq_integration.kombu.session import shutdown_sessions
from tests.integration.framework.redis_server import RedisServer, redis_server_process
from tests.integration.kombu.celery_app import make_app, read_lines
from tests.integration.kombu.workers import CeleryWorker
from tests.support.cluster import ServerGroup

N_TASKS = 1000


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A throw-away ``redis-server`` (loopback, free port, no persistence), killed by PID."""
    with redis_server_process(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.mark.parametrize(("pool", "concurrency"), [("prefork", 2), ("threads", 4)])
def test_a_thousand_tasks_return_their_results_over_rpc(
    pool: str, concurrency: int, broker_url: str, qname: str, tmp_path: Path, workers: list[CeleryWorker]
) -> None:
    app = make_app(broker_url, qname)
    try:
        worker = CeleryWorker(broker_url, qname, tmp_path, pool=pool, concurrency=concurrency)
        workers.append(worker.start())
        results = [app.send_task("t.add", (i, 1)) for i in range(N_TASKS)]
        values = [r.get(timeout=120) for r in results]
    finally:
        app.close()
    assert values == [i + 1 for i in range(N_TASKS)]
    assert worker.count("succeeded") >= N_TASKS


def test_a_group_collects_its_results_over_rpc(
    broker_url: str, qname: str, tmp_path: Path, workers: list[CeleryWorker]
) -> None:
    app = make_app(broker_url, qname)
    try:
        workers.append(CeleryWorker(broker_url, qname, tmp_path, pool="threads", concurrency=4).start())
        add = app.signature("t.add")
        result = group(add.clone((i, i)) for i in range(50)).apply_async()
        assert result.get(timeout=60) == [2 * i for i in range(50)]
    finally:
        app.close()


def test_a_chord_joins_on_the_redis_result_backend(
    redis_server: RedisServer, broker_url: str, qname: str, tmp_path: Path, workers: list[CeleryWorker]
) -> None:
    backend = redis_server.url
    app = make_app(broker_url, qname, backend=backend)
    try:
        w = CeleryWorker(broker_url, qname, tmp_path, pool="prefork", concurrency=2, backend=backend)
        workers.append(w.start())
        add, xsum = app.signature("t.add"), app.signature("t.xsum")
        result = chord(add.clone((i, i)) for i in range(40))(xsum)
        assert result.get(timeout=60) == sum(2 * i for i in range(40))
        # and a group on the same backend, for good measure
        assert group(add.clone((i, 1)) for i in range(10)).apply_async().get(timeout=60) == list(range(1, 11))
    finally:
        app.close()


def _stamps(path: Path, n: int, timeout: float, what: str) -> dict[str, tuple[float, float]]:
    """``value -> (body started, eta)`` from the lines ``t.stamp`` wrote, once there are ``n``."""
    deadline = time.monotonic() + timeout
    while len(lines := read_lines(path)) < n:
        assert time.monotonic() < deadline, f"{what}: {len(lines)} of {n} tasks ran: {lines}"
        time.sleep(0.05)  # the file is written by the worker; there is no event to await
    out: dict[str, tuple[float, float]] = {}
    for line in lines:
        value, started, eta, _pid = line.split()
        assert value not in out, f"{value} ran twice: {lines}"
        out[value] = (float(started), float(eta))
    return out


#: how late an ETA task may start (body start - eta)
ETA_LATENESS = 1.0


def test_eta_tasks_run_on_time_are_held_by_the_broker_and_wait_for_a_late_worker(
    needs_timers: None, broker_url: str, qname: str, tmp_path: Path, workers: list[CeleryWorker]
) -> None:
    """countdown=5 and eta=now+65: on a queue with a worker they start within ``ETA_LATENESS``
    of their time, while the worker holds none of them (``inspect scheduled``/``reserved`` empty
    with 100 more ETA tasks parked); on a queue whose worker only starts after both were due,
    they run as soon as it is up. One test for all, as the 65 s wait is the cost."""
    qoff = f"{qname}.off"
    on_path, off_path = tmp_path / "on.txt", tmp_path / "off.txt"
    app = make_app(broker_url, qname)
    try:
        a = CeleryWorker(broker_url, qname, tmp_path, name="on", pool="threads", concurrency=4)
        workers.append(a.start())
        t0 = time.time()
        eta65 = datetime.fromtimestamp(t0 + 65, tz=UTC)
        app.send_task("t.stamp", (str(on_path), "on5"), countdown=5)
        app.send_task("t.stamp", (str(on_path), "on65"), eta=eta65)
        app.send_task("t.stamp", (str(off_path), "off5"), countdown=5, queue=qoff)
        app.send_task("t.stamp", (str(off_path), "off65"), eta=eta65, queue=qoff)
        bulk_eta = datetime.fromtimestamp(t0 + 60, tz=UTC)
        for i in range(100):
            app.send_task("t.stamp", (str(on_path), f"bulk{i}"), eta=bulk_eta)

        on = _stamps(on_path, 1, 30, "countdown 5 s")
        # the broker holds the other 101: the worker has nothing scheduled, nothing reserved
        inspect = app.control.inspect(timeout=3.0, destination=[a.hostname()])
        assert inspect.scheduled() == {a.hostname(): []}
        assert inspect.reserved() == {a.hostname(): []}
        assert len(read_lines(on_path)) == 1 and not read_lines(off_path)

        on = _stamps(on_path, 102, 100, "eta tasks with a worker up")
        off_seen_before = read_lines(off_path)
        assert time.time() > t0 + 65
        b = CeleryWorker(broker_url, qoff, tmp_path, name="off", pool="threads", concurrency=2)
        workers.append(b.start())
        up = time.time()
        off = _stamps(off_path, 2, 30, "eta tasks due before their worker started")
        # while both workers are up: the `celery inspect ping` command is answered by each
        names = [a.hostname(), b.hostname()]
        ping = subprocess.run(
            [*a.argv[: a.argv.index("worker")], "inspect", "ping", "--timeout", "5", "--json",
             "--destination", ",".join(names)],
            env=a.env, cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        app.close()

    lateness = {v: started - eta for v, (started, eta) in on.items() if not v.startswith("bulk")}
    assert on["on5"][1] == pytest.approx(t0 + 5, abs=2) and on["on65"][1] == pytest.approx(t0 + 65, abs=0.01)
    assert all(0 <= late <= ETA_LATENESS for late in lateness.values()), lateness
    assert all(started >= eta for v, (started, eta) in on.items()), "an ETA task ran early"
    assert off_seen_before == []
    assert all(started >= eta for started, eta in off.values())
    assert all(started - up <= 5.0 for started, _eta in off.values()), (up, off)
    replies = json.loads(ping.stdout.strip().splitlines()[-1])
    assert ping.returncode == 0 and sorted(replies) == sorted(names), ping.stdout + ping.stderr
    assert all(reply == {"ok": "pong"} for reply in replies.values()), replies


#: a task that finished this long before the broker was killed has had its ack answered
ACK_WINDOW = 2.0


def _executions(path: Path) -> dict[str, list[float]]:
    """``value -> finish times`` of every execution ``t.work`` recorded."""
    out: dict[str, list[float]] = {}
    for line in read_lines(path):
        value, finished, _pid = line.split()
        out.setdefault(value, []).append(float(finished))
    return out


def test_a_broker_restart_under_load_loses_no_acked_task(
    servers: ServerGroup, tmp_path: Path, workers: list[CeleryWorker]
) -> None:
    """A worker runs a stream of ``acks_late`` tasks; the broker is SIGKILLed mid-stream and
    restarted on the same port and store. The worker (same process) reconnects and finishes the
    stream; every task sent runs (none lost), and a task runs twice only if it finished too
    late before the kill for its ack to have been answered (or ran while the broker was down:
    then its ``rpc://`` result publish may fail, Celery leaves the message unsettled, and the
    transport delivers it again after ``lease_max_hold``)."""
    namesrv = servers.namesrv()
    broker = servers.broker(namesrv)
    url = f"rocketmq://{namesrv.addr}//"
    queue = "restart.q"
    # a task whose rpc:// result publish fails while the broker is down fails outside its body:
    # Celery never settles its message (threads pool); lease_max_hold brings it back (runs twice)
    options = {"visibility_timeout": 8, "lease_max_hold": 16}
    path = tmp_path / "work.txt"
    n = 240
    app = make_app(url, queue, options=options, acks_late=True)
    sent: list[str] = []
    resent: set[str] = set()  # a failed send may still have reached the broker: may run twice
    stop = threading.Event()

    def send_stream() -> None:
        for i in range(n):
            task_id = f"task-{i}"
            deadline = time.monotonic() + 60
            while not stop.is_set():
                try:
                    app.send_task("t.work", (str(path), task_id, 0.01), task_id=task_id)
                    break
                except Exception:  # the broker is down: send the same task again
                    assert time.monotonic() < deadline, f"{task_id} could not be sent for 60 s"
                    resent.add(task_id)
                    stop.wait(0.2)
            sent.append(task_id)
            stop.wait(0.005)

    sender = threading.Thread(target=send_stream, name="restart-sender")
    try:
        worker = CeleryWorker(
            url, queue, tmp_path, name="rs", pool="threads", concurrency=4, options=options, acks_late=True
        )
        workers.append(worker.start())
        sender.start()
        deadline = time.monotonic() + 90
        while len(_executions(path)) < 80:
            assert time.monotonic() < deadline and worker.running, worker.log_tail()
            time.sleep(0.05)  # the record file is written by the worker; no event to await
        killed_at = time.time()
        broker.kill()
        broker.restart()
        restarted_at = time.time()
        sender.join(120)
        assert not sender.is_alive() and len(sent) == n
        # every task ran, and nothing is left leased or ready on the broker (late redeliveries included)
        with app.connection_for_read() as conn:
            channel = conn.default_channel
            deadline = time.monotonic() + 90
            while len(runs := _executions(path)) < n or channel._size(queue):
                assert time.monotonic() < deadline, f"{len(runs)} of {n} ran\n{worker.log_tail()}"
                time.sleep(0.2)  # polling the record file and the broker's backlog
        assert worker.running, "the worker exited instead of reconnecting"
    finally:
        stop.set()
        if sender.ident is not None:
            sender.join(10)
        app.close()
        shutdown_sessions(namesrv.addr)  # this test's cluster goes away: no reconnects to it later

    assert sorted(runs) == sorted(sent), "a task that was sent never ran"
    after = [t for times in runs.values() for t in times if t > restarted_at]
    assert len(after) >= 40, "the worker did not carry on after the restart"
    twice = {v: times for v, times in runs.items() if len(times) > 1 and v not in resent}
    acked_then_rerun = {v: t for v, t in twice.items() if min(t) < killed_at - ACK_WINDOW}
    assert not acked_then_rerun, (killed_at, acked_then_rerun)


@pytest.mark.parametrize(
    ("url", "options", "expected", "start_worker"),
    [
        (
            "{broker}",
            {"visibilty_timeout": 5},
            "rocketmq transport option 'visibilty_timeout': unknown option",
            True,
        ),
        ("{broker}", {"wait_time_seconds": 99}, "rocketmq transport option 'wait_time_seconds'", False),
        ("rocketmq://127.0.0.1:notaport//", {}, "rocketmq URL: bad port in '127.0.0.1:notaport'", True),
        ("rocketmq://AK@127.0.0.1:9876//", {}, "give both ACCESS_KEY and SECRET_KEY", False),
    ],
)
def test_a_bad_url_or_transport_option_stops_a_celery_app_and_a_worker_at_connect(
    url: str,
    options: dict[str, object],
    expected: str,
    start_worker: bool,
    broker_url: str,
    qname: str,
    tmp_path: Path,
) -> None:
    url = url.format(broker=broker_url)
    app = make_app(url, qname, options=options)
    try:
        with pytest.raises(ValidationError, match=re.escape(expected)):
            with app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1)
    finally:
        app.close()
    if start_worker:  # `celery worker` exits at once, saying why (two cases: each start costs seconds)
        worker = CeleryWorker(url, qname, tmp_path, options=options)
        proc = subprocess.run(
            worker.argv, env=worker.env, cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True,
            text=True, timeout=60,
        )  # fmt: skip
        assert proc.returncode != 0 and expected in proc.stdout + proc.stderr, proc.stdout + proc.stderr
