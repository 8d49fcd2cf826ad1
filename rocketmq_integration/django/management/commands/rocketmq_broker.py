"""``manage.py rocketmq_broker``: run a broker (``--with-namesrv``: and a NameServer) until SIGTERM/SIGINT.

Defaults come from ``ROCKETMQ["EMBEDDED"]`` (host, ports, store directory) and ``NAME_SERVER``.
Exit statuses: 0 after a clean stop, 1 when a server cannot start, 2 for a bad configuration.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import autoreload

from rocketmq_integration.django.conf import get_config
from rocketmq_integration.django.embedded import EmbeddedOptions, serve


def add_server_arguments(parser: CommandParser, *, broker_only: bool) -> None:
    """Host, ports and store options (shared with ``rocketmq_dev``, which adds its own ``--reload``
    and ``--log-level`` with the listener options)."""
    cfg = get_config()
    embedded = cfg["EMBEDDED"]
    parser.add_argument("--host", default=embedded["HOST"], help="interface and advertised address")
    parser.add_argument(
        "--port", "--broker-port", type=int, default=embedded["BROKER_PORT"], dest="broker_port",
        help="broker port (0: a free one; default EMBEDDED.BROKER_PORT)",
    )  # fmt: skip
    parser.add_argument(
        "--namesrv-port", type=int, default=embedded["NAMESRV_PORT"],
        help="port of the embedded NameServer (0: a free one; default EMBEDDED.NAMESRV_PORT)",
    )  # fmt: skip
    parser.add_argument(
        "--store-dir", default=embedded["STORE_DIR"] or "run-data/store",
        help="store root directory (default EMBEDDED.STORE_DIR or ./run-data/store)",
    )  # fmt: skip
    if broker_only:
        parser.add_argument(
            "--namesrv", default=cfg["NAME_SERVER"],
            help="NameServer to register with (default ROCKETMQ['NAME_SERVER']; ignored with --with-namesrv)",
        )  # fmt: skip
        parser.add_argument(
            "--with-namesrv", action="store_true", help="also run a NameServer in this process"
        )
        parser.add_argument("-c", "--config", default=None, help="broker.conf (Apache key names)")
        parser.add_argument("--cluster", default=None, help="brokerClusterName (default DefaultCluster)")
        parser.add_argument("--broker-name", default=None, help="brokerName (default broker-a)")
        parser.add_argument("--reload", action="store_true", help="restart when Python code changes")
        parser.add_argument("--log-level", default="info", help="debug, info, warning, error (default info)")


class Command(BaseCommand):
    help = (
        "Run a RocketMQ broker (the bundled Python one), optionally with a NameServer, until SIGTERM/SIGINT."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        add_server_arguments(parser, broker_only=True)

    def handle(self, *args: Any, **options: Any) -> None:
        from broker_core.logsetup import configure_logging

        configure_logging(options["log_level"])
        opts = EmbeddedOptions(
            host=options["host"], broker_port=options["broker_port"],
            namesrv_port=options["namesrv_port"] if options["with_namesrv"] else None,
            namesrv_addr=None if options["with_namesrv"] else options["namesrv"],
            store_dir=options["store_dir"], config=options["config"], cluster=options["cluster"],
            broker_name=options["broker_name"],
        )  # fmt: skip
        if options["reload"]:
            autoreload.run_with_reloader(self._serve, opts)
        else:
            self._serve(opts)

    def _serve(self, opts: EmbeddedOptions) -> None:
        try:
            status = serve(opts, self._say)
        except Exception as exc:  # configuration errors of the broker
            raise CommandError(f"broker: {exc}", returncode=2) from exc
        if status:
            raise CommandError(f"broker exited with status {status}", returncode=status)

    def _say(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()
