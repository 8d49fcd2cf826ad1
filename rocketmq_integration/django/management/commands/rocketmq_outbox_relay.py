"""``manage.py rocketmq_outbox_relay``: send the transactional outbox (at least once, in order).

Runs until SIGTERM/SIGINT (the row in flight finishes, the lease is released, exit 0), or with
``--once`` until the outbox is empty. One relay holds a DB lease at a time; start a second one as
a standby: it takes over when the first one's lease expires.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from rocketmq_integration.django.db import OutboxRelay


class Command(BaseCommand):
    help = "Send pending outbox rows to RocketMQ (at least once, in order per hash key)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=None, help="rows per round (OUTBOX.BATCH_SIZE)")
        parser.add_argument(
            "--poll-interval",
            type=float,
            default=None,
            help="seconds between rounds when idle (OUTBOX.POLL_INTERVAL)",
        )
        parser.add_argument("--lease", type=float, default=None, help="seconds a lease lasts (OUTBOX.LEASE)")
        parser.add_argument("--database", default=None, help="database alias (OUTBOX.DATABASE)")
        parser.add_argument(
            "--mark-every", type=int, default=10,
            help="sends per 'mark sent' commit (default 10; 1 = fewest re-sends after a crash)",
        )  # fmt: skip
        parser.add_argument("--once", action="store_true", help="send what is pending, then exit")

    def handle(self, *args: Any, **options: Any) -> None:
        for name in ("batch_size", "poll_interval", "lease", "mark_every"):
            if options[name] is not None and options[name] <= 0:
                raise CommandError(f"--{name.replace('_', '-')} must be positive", returncode=2)
        relay = OutboxRelay(
            using=options["database"], batch_size=options["batch_size"],
            poll_interval=options["poll_interval"], lease=options["lease"], mark_every=options["mark_every"],
        )  # fmt: skip
        previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                previous[signum] = signal.signal(signum, lambda *_: relay.stop())
        self.stdout.write(f"outbox relay {relay.owner} running (batch {relay.batch_size}); Ctrl-C to stop")
        self.stdout.flush()
        try:
            sent = relay.run(once=options["once"])
        except Exception as exc:
            raise CommandError(f"outbox relay failed: {type(exc).__name__}: {exc}", returncode=1) from exc
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write(f"outbox relay stopped; {sent} message(s) sent")
