"""``lease_max_hold``: a message a live worker holds but Celery never settles is delivered again.

Celery (5.x, ``celery/app/trace.py``) handles an exception raised *outside* a task's body (storing
the result failed, and storing the failure failed too) by letting it leave the tracer; the threads
pool drops it in a ``concurrent.futures`` future and never calls the request's ``on_success`` /
``on_failure``, so an ``acks_late`` message is never acked, rejected or requeued. The transport's
lease renewal would hold it for as long as the worker lives; ``lease_max_hold`` bounds the hold,
after which the broker delivers the message again, as kombu's Redis and SQS transports do for any
un-acked message after their visibility timeout.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from tests.integration.kombu.celery_app import make_app, read_lines
from tests.integration.kombu.failing_backend import FAILING_STORE
from tests.integration.kombu.workers import CeleryWorker

VISIBILITY = 3.0
MAX_HOLD = 9.0


def test_an_acks_late_message_celery_never_settles_is_delivered_again_after_lease_max_hold(
    broker_url: str, qname: str, tmp_path: Path, workers: list[CeleryWorker], needs_pop: None
) -> None:
    options = {"visibility_timeout": VISIBILITY, "lease_max_hold": MAX_HOLD}
    worker = CeleryWorker(
        broker_url,
        qname,
        tmp_path,
        name="held",
        pool="threads",
        concurrency=2,
        options=options,
        acks_late=True,
        backend=FAILING_STORE,
    )
    workers.append(worker.start())
    app = make_app(broker_url, qname, options, acks_late=True, backend="disabled://")
    runs = tmp_path / "runs.txt"
    try:
        result = app.send_task("t.record", (str(runs), "held"))
        # the first run's result store fails, then storing the failure fails: nothing settles it
        worker.wait_for(f"[{result.id}] received", 60)
        worker.wait_for("the result store is down", 60)
        # the transport makes its last, shortened renewal when the hold reaches lease_max_hold
        worker.wait_for("message held for lease_max_hold", 60)
        # ... and the same, still running worker gets the message again
        worker.wait_for(f"[{result.id}] received", 60, count=2)
        lines = [line for line in read_lines(runs) if line.startswith("held ")]
        assert len(lines) >= 1, worker.log_tail()
        assert worker.running
    finally:
        app.close()
    received = _received_times(worker.log_path.read_text(encoding="utf-8"), result.id)
    assert len(received) >= 2, worker.log_tail()
    held = received[1] - received[0]
    # renewed beyond the 3-s visibility timeout (a lapse of renewal would redeliver after ~3 s) and
    # delivered again once the 9-s hold ended (the next POP long poll, 5 s, included; slow machine margin)
    assert MAX_HOLD - 1.5 <= held <= MAX_HOLD + 20, (held, worker.log_tail())
    assert worker.count("renewal refused") == 0, worker.log_tail()
    assert worker.count("lease renewal failed") == 0, worker.log_tail()


def _received_times(log: str, task_id: str) -> list[float]:
    """Epoch seconds (local time) of the worker's ``Task ...[id] received`` log lines."""
    pattern = (
        r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): INFO/[^\]]*\] Task \S+\["
        + re.escape(task_id)
        + r"\] received"
    )
    return [
        datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp() for m in re.finditer(pattern, log)
    ]
