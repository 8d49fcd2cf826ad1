"""``manage.py rocketmq_namesrv``: run a NameServer until SIGTERM/SIGINT (exit 0 after a clean stop)."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from rocketmq_integration.django.conf import get_config


class Command(BaseCommand):
    help = "Run a RocketMQ NameServer (the bundled Python one) until SIGTERM/SIGINT."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        embedded = get_config()["EMBEDDED"]
        parser.add_argument("--host", default=embedded["HOST"], help="interface (default EMBEDDED.HOST)")
        parser.add_argument(
            "--port", type=int, default=embedded["NAMESRV_PORT"], help="port (default EMBEDDED.NAMESRV_PORT)"
        )
        parser.add_argument("-c", "--config", default=None, help="namesrv properties file (Apache key names)")
        parser.add_argument("--log-level", default="info", help="debug, info, warning, error (default info)")

    def handle(self, *args: Any, **options: Any) -> None:
        from broker_core.namesrv.app import run_from_args

        ns = argparse.Namespace(
            host=options["host"],
            port=options["port"],
            config=options["config"],
            log_level=options["log_level"],
        )
        status = run_from_args(ns)
        if status:
            raise CommandError(f"namesrv exited with status {status}", returncode=status)
