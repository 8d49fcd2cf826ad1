"""Real Celery workers (subprocesses) consuming through the ``rocketmq://`` transport."""

from __future__ import annotations

from pathlib import Path

from celery import Celery

from tests.integration.kombu.workers import CeleryWorker


def test_threads_worker_runs_tasks_and_returns_results_over_rpc(
    celery_client: Celery, broker_url: str, qname: str, tmp_path: Path, workers: list[CeleryWorker]
) -> None:
    worker = CeleryWorker(broker_url, qname, tmp_path, pool="threads", concurrency=2)
    workers.append(worker.start())
    results = [celery_client.send_task("t.add", (i, i)) for i in range(20)]
    assert [r.get(timeout=30) for r in results] == [2 * i for i in range(20)]
    assert worker.count("succeeded") >= 20


def test_prefork_worker_with_acks_late_runs_a_batch(
    broker_url: str, qname: str, tmp_path: Path, workers: list[CeleryWorker]
) -> None:
    from tests.integration.kombu.celery_app import make_app

    app = make_app(broker_url, qname, acks_late=True)
    worker = CeleryWorker(broker_url, qname, tmp_path, pool="prefork", concurrency=2, acks_late=True)
    workers.append(worker.start())
    try:
        results = [app.send_task("t.add", (i, 1)) for i in range(100)]
        assert sum(r.get(timeout=60) for r in results) == sum(range(100)) + 100
    finally:
        app.close()
