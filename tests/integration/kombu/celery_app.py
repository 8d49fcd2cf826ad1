"""The Celery app the kombu-transport tests run in worker subprocesses and call from the test.

Configured from the environment so one module serves every test: ``KOMBU_TEST_BROKER`` (broker
URL), ``KOMBU_TEST_QUEUE`` (default queue, unique per test), ``KOMBU_TEST_OPTIONS`` (JSON transport
options), ``KOMBU_TEST_ACKS_LATE`` ("1" for ``task_acks_late``).
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from celery import Celery, Task

import rocketmq_integration.kombu  # noqa: F401  (registers the rocketmq:// alias)


def make_app(
    broker: str,
    queue: str,
    options: dict[str, Any] | None = None,
    acks_late: bool = False,
    backend: str = "rpc://",
) -> Celery:
    app = Celery("kombu_tests", broker=broker, backend=backend)
    app.conf.update(
        task_default_queue=queue,
        broker_transport_options=dict(options or {}),
        broker_connection_retry_on_startup=True,
        task_acks_late=acks_late,
        task_reject_on_worker_lost=acks_late,
        worker_prefetch_multiplier=4,
        worker_hijack_root_logger=False,
        result_expires=None,
        event_queue_expires=60,
        worker_send_task_events=True,
        task_send_sent_event=False,
    )
    _register_tasks(app)
    return app


def _append(path: str, line: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")


def _register_tasks(app: Celery) -> None:
    @app.task(name="t.add")
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(name="t.xsum")
    def xsum(values: list[int]) -> int:
        return sum(values)

    @app.task(name="t.record")
    def record(path: str, value: str) -> str:
        _append(path, f"{value} {time.time():.3f} {os.getpid()}")
        return value

    @app.task(name="t.stamp", bind=True)
    def stamp(self: Task, path: str, value: str) -> str:
        """Records when the body started and the task's ETA (epoch seconds, 0 without one)."""
        started = time.time()
        eta = self.request.eta
        due = datetime.fromisoformat(eta).timestamp() if isinstance(eta, str) else 0.0
        _append(path, f"{value} {started:.3f} {due:.3f} {os.getpid()}")
        return value

    @app.task(name="t.work")
    def work(path: str, value: str, seconds: float) -> str:
        """Sleeps, then records one line per finished execution: value, finish time, pid."""
        time.sleep(seconds)
        _append(path, f"{value} {time.time():.3f} {os.getpid()}")
        return value

    @app.task(name="t.slow")
    def slow(path: str, value: str, seconds: float) -> str:
        _append(path, f"start {value} {os.getpid()}")
        time.sleep(seconds)
        _append(path, f"done {value} {os.getpid()}")
        return value

    @app.task(name="t.flaky", bind=True, max_retries=3)
    def flaky(self: Task, path: str, fail_times: int, countdown: float) -> int:
        _append(path, f"try {self.request.retries} {time.time():.3f}")
        if self.request.retries < fail_times:
            raise self.retry(countdown=countdown)
        return int(self.request.retries)


def _from_env() -> Celery:
    return make_app(
        os.environ.get("KOMBU_TEST_BROKER", "rocketmq://127.0.0.1:9876//"),
        os.environ.get("KOMBU_TEST_QUEUE", "celery"),
        json.loads(os.environ.get("KOMBU_TEST_OPTIONS") or "{}"),
        os.environ.get("KOMBU_TEST_ACKS_LATE") == "1",
        os.environ.get("KOMBU_TEST_BACKEND") or "rpc://",
    )


app = _from_env()


def read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []
