"""Celery app of ``bench/celery_bench.py`` (imported by the benchmark's worker subprocesses).

Configured from the environment: ``CB_BROKER`` (URL), ``CB_QUEUE``, ``CB_ACKS_LATE`` ("1"),
``CB_COUNT`` (tasks expected) and ``CB_OUT`` (result file). Tasks are no-ops that record, in
memory shared by the pool processes (created before the pool forks), when each task ran and its
end-to-end latency (run time minus the send time in its argument); the pool process that records
the last expected task writes the figures as JSON to ``CB_OUT``.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from typing import Any

from celery import Celery, signals

import rocketmq_integration.kombu  # noqa: F401  (registers rocketmq://)

COUNT = int(os.environ.get("CB_COUNT", "0") or 0)
#: tasks counted before a ``CB_OUT.warm`` marker is written (the latency run waits for it)
WARM = int(os.environ.get("CB_WARM", "0") or 0)
app = Celery("celery_bench", broker=os.environ.get("CB_BROKER", "memory://"))
app.conf.update(
    task_default_queue=os.environ.get("CB_QUEUE", "celery"),
    task_acks_late=os.environ.get("CB_ACKS_LATE") == "1",
    task_ignore_result=True,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)

_state: dict[str, Any] = {}


@signals.worker_init.connect
def _shared_memory(**_: Any) -> None:
    # created in the worker's main process before the prefork pool forks its children
    _state["done"] = multiprocessing.Value("i", 0)
    _state["first"] = multiprocessing.Value("d", 0.0)
    _state["lat"] = multiprocessing.Array("d", max(COUNT, 1), lock=False)


@app.task(name="b.noop")
def noop(i: int, sent: float) -> None:
    now = time.time()
    lat = _state["lat"]
    lat[i % len(lat)] = now - sent
    done = _state["done"]
    with done.get_lock():
        if done.value == 0:
            _state["first"].value = now
        done.value += 1
        last = done.value == COUNT
        warm = WARM and done.value == WARM
    if warm:
        with open(os.environ["CB_OUT"] + ".warm", "w", encoding="utf-8") as fh:
            fh.write("ok")
    if last:
        out = {"first": _state["first"].value, "last": now, "latencies": list(lat)}
        path = os.environ["CB_OUT"]
        with open(path + ".tmp", "w", encoding="utf-8") as fh:
            json.dump(out, fh)
        os.replace(path + ".tmp", path)  # the benchmark never reads a half-written file
