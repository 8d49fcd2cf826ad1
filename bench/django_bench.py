#!/usr/bin/env python3
"""Benchmark: sending from Django database transactions.

A fresh NameServer + Broker (the pytest plugin's ``EmbeddedCluster``) and a Django project
configured in-process (SQLite file database in a temp dir, migrations applied). Scenarios, each
``--messages`` messages of a small JSON payload (median of ``--runs``):

============== ===============================================================================
direct         ``get_template().send`` per message (the baseline)
on-commit      one ``transaction.atomic()`` per message with ``send_on_commit`` inside
outbox-write   ``send_via_outbox`` rows, one transaction per message (what a web request pays)
outbox-relay   ``OutboxRelay.run(once=True)`` draining those rows (mark-sent per row included)
============== ===============================================================================

Usage: ``python bench/django_bench.py [--messages 2000] [--runs 3] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from rocketmq_integration.pytest_plugin import EmbeddedCluster  # noqa: E402


def configure_django(db_path: Path, namesrv: str) -> None:
    import django
    from django.conf import settings

    settings.configure(
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "rocketmq_integration.django"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(db_path)}},
        USE_TZ=True,
        ROCKETMQ={"NAME_SERVER": namesrv, "PRODUCER": {"GROUP": "django_bench"}},
    )
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def timed(fn: Any, n: int) -> float:
    start = time.perf_counter()
    fn(n)
    return n / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", default=None, help="write the figures to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="django-bench-") as tmp:
        (Path(tmp) / "cluster").mkdir()
        cluster = EmbeddedCluster(Path(tmp) / "cluster").start()
        try:
            configure_django(Path(tmp) / "db.sqlite3", cluster.namesrv_addr)
            from django.db import transaction

            from rocketmq_integration.django import get_template
            from rocketmq_integration.django.db import OutboxRelay, send_on_commit, send_via_outbox
            from rocketmq_integration.django.models import OutboxMessage

            topic = cluster.create_topic("DjangoBench")
            template = get_template()
            template.send(topic, {"warm": True})

            def direct(n: int) -> None:
                for i in range(n):
                    template.send(topic, {"order": i})

            def on_commit(n: int) -> None:
                for i in range(n):
                    with transaction.atomic():
                        send_on_commit(topic, {"order": i})

            def outbox_write(n: int) -> None:
                for i in range(n):
                    with transaction.atomic():
                        send_via_outbox(topic, {"order": i}, hash_key=str(i % 16))

            def outbox_relay(n: int) -> None:
                sent = OutboxRelay(batch_size=100).run(once=True)
                assert sent == n, (sent, n)

            results: dict[str, list[float]] = {
                k: [] for k in ("direct", "on-commit", "outbox-write", "outbox-relay")
            }
            for _ in range(args.runs):
                results["direct"].append(timed(direct, args.messages))
                results["on-commit"].append(timed(on_commit, args.messages))
                OutboxMessage.objects.all().delete()
                results["outbox-write"].append(timed(outbox_write, args.messages))
                results["outbox-relay"].append(timed(outbox_relay, args.messages))
            template.close()
        finally:
            cluster.stop()
    medians = {k: statistics.median(v) for k, v in results.items()}
    print(f"Django sending, {args.messages} messages, median of {args.runs} run(s):")
    print(f"{'scenario':<14} {'msgs/s':>10}  vs direct")
    for name, rate in medians.items():
        print(f"{name:<14} {rate:>10.0f}  {rate / medians['direct']:>8.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps({"messages": args.messages, "msgs_per_s": medians}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
