"""Lease renewal: an ``acks_late`` task that runs longer than the transport's ``visibility_timeout``
(the POP invisible time), but within ``lease_max_hold``, is not delivered to a second worker while
the first still runs it."""

from __future__ import annotations

import time
from pathlib import Path

from kombu import Connection

from tests.integration.kombu.celery_app import make_app, read_lines
from tests.integration.kombu.workers import CeleryWorker

VISIBILITY = 3.0
TASK_SECONDS = 8.0
MAX_HOLD = 16.0  # the task ends well within the hold (test_kombu_lease_max_hold: beyond it)


def test_a_task_longer_than_the_visibility_timeout_runs_once_and_its_ack_counts(
    broker_url: str, qname: str, tmp_path: Path, workers: list[CeleryWorker], needs_pop: None
) -> None:
    options = {"visibility_timeout": VISIBILITY, "lease_max_hold": MAX_HOLD}
    for name in ("w1", "w2"):
        worker = CeleryWorker(
            broker_url,
            qname,
            tmp_path,
            name=name,
            pool="prefork",
            concurrency=1,
            options=options,
            acks_late=True,
        )
        workers.append(worker.start())
    app = make_app(broker_url, qname, options, acks_late=True)
    runs = tmp_path / "runs.txt"
    try:
        result = app.send_task("t.slow", (str(runs), "long", TASK_SECONDS))
        assert result.get(timeout=60) == "long"
        # the lease was renewed twice per visibility timeout while the task ran (2.7 timeouts long);
        # had the final ack used a stale receipt handle, the message would come back within one
        # visibility timeout after it: wait that long (plus a margin) for a redelivery that must not come
        time.sleep(VISIBILITY + 2.0)
        starts = [line for line in read_lines(runs) if line.startswith("start long")]
        assert len(starts) == 1, f"the task ran {len(starts)} times: {starts}"
        with Connection(broker_url) as conn:
            q = conn.SimpleQueue(qname)
            assert q.qsize() == 0, "the ack did not reach the broker"
            q.close()
        for worker in workers:
            assert worker.count("expired lease") == 0, worker.log_tail()
            assert worker.count("renewal refused") == 0, worker.log_tail()
            assert worker.count("held for lease_max_hold") == 0, worker.log_tail()
    finally:
        app.close()
