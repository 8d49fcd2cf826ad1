"""Issue 9's acceptance with real ``celery worker`` subprocesses on the ``rocketmq://`` transport:
1,000 tasks with results over ``rpc://`` on the prefork and the threads pool, groups over
``rpc://``, chords over the Redis result backend (Celery's ``rpc://`` backend cannot join chords)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import chord, group

from tests.integration.framework.redis_server import RedisServer, redis_server_process
from tests.integration.kombu.celery_app import make_app
from tests.integration.kombu.workers import CeleryWorker

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
