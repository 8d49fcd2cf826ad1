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

#: ``CB_TRACE=1``: the worker's main process records, per measured task (index ``i``), when the
#: message reached it and when it was handed to the pool; written to ``CB_OUT.trace`` at shutdown
TRACE = os.environ.get("CB_TRACE") == "1"
_trace: dict[int, list[float]] = {}


def _index(raw: Any) -> int | None:
    try:
        return int(str(raw["headers"]["argsrepr"]).lstrip("(").split(",")[0])
    except (KeyError, TypeError, ValueError):
        return None


def _install_trace() -> None:
    """Hooks on both transports' delivery path (diagnostics only; see TRACE)."""
    from kombu.transport import virtual

    from rocketmq_integration.kombu import codec, feed

    deliver = virtual.Transport._deliver

    def traced_deliver(self: Any, message: Any, queue: str) -> None:
        i = _index(message)
        if i is not None:
            _trace.setdefault(i, [0.0, 0.0, 0.0])[1] = time.time()
        deliver(self, message, queue)
        if i is not None:
            _trace[i].append(time.time())  # handed to the pool (written to its pipe)

    virtual.Transport._deliver = traced_deliver  # type: ignore[method-assign]
    accept = feed.Feed._accept

    def traced_accept(self: Any, pump: Any, src: Any, got: Any) -> None:
        now = time.time()
        for msg, _handle in got:
            i = _index(codec.decode(msg.body))
            if i is not None:
                row = _trace.setdefault(i, [0.0, 0.0, 0.0])
                row[0], row[2] = now, msg.store_timestamp / 1000.0
        accept(self, pump, src, got)

    feed.Feed._accept = traced_accept  # type: ignore[method-assign]

    def _dump(**_: Any) -> None:
        with open(os.environ["CB_OUT"] + ".trace", "w", encoding="utf-8") as fh:
            json.dump(_trace, fh)

    signals.worker_shutdown.connect(_dump, weak=False)


if TRACE:
    _install_trace()


@signals.worker_init.connect
def _shared_memory(**_: Any) -> None:
    # created in the worker's main process before the prefork pool forks its children
    _state["done"] = multiprocessing.Value("i", 0)
    _state["first"] = multiprocessing.Value("d", 0.0)
    _state["lat"] = multiprocessing.Array("d", max(COUNT, 1), lock=False)
    _state["start"] = multiprocessing.Array("d", max(COUNT, 1), lock=False)


@app.task(name="b.noop")
def noop(i: int, sent: float) -> None:
    now = time.time()
    lat = _state["lat"]
    lat[i % len(lat)] = now - sent
    _state["start"][i % len(lat)] = now
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
        out = {
            "first": _state["first"].value,
            "last": now,
            "latencies": list(lat),
            "starts": list(_state["start"]),
        }
        path = os.environ["CB_OUT"]
        with open(path + ".tmp", "w", encoding="utf-8") as fh:
            json.dump(out, fh)
        os.replace(path + ".tmp", path)  # the benchmark never reads a half-written file
