"""``manage.py rocketmq_listeners``: run the project's ``@rocketmq_listener`` listeners.

A thin wrapper over :func:`rocketmq_integration.worker.run_worker` with the runner configured from
``settings.ROCKETMQ``. SIGTERM/SIGINT drain (in-flight messages finish within
``--shutdown-timeout``) and exit 0; a second signal stops at once. ``--health-port`` serves
``/livez`` and ``/readyz``. Exit statuses: 0 clean drain, 1 a listener did not start or the drain
overran, 2 nothing selected, 128 + N after a second signal N.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import autoreload

from rocketmq_integration.django.conf import get_config
from rocketmq_integration.django.signals import listener_started, listener_stopped
from rocketmq_integration.django.worker import ListenerFilter, build_runner
from rocketmq_integration.worker import Worker, WorkerOptions


def add_listener_arguments(parser: CommandParser) -> None:
    """The listener selection and worker options (shared with ``rocketmq_dev``)."""
    parser.add_argument(
        "-l", "--listener", action="append", default=[], dest="listeners", metavar="NAME",
        help="run only the listener with this name (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "-g", "--group", action="append", default=[], dest="groups", metavar="GROUP",
        help="run only listeners of this consumer group (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "-t", "--topic", action="append", default=[], dest="topics", metavar="TOPIC",
        help="run only listeners of this topic (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "-x", "--exclude", action="append", default=[], metavar="NAME",
        help="do not run the listener with this name (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "-c", "--concurrency", type=int, default=None, metavar="N",
        help="threads per listener for sync handlers (overrides each listener's concurrency)",
    )  # fmt: skip
    parser.add_argument(
        "--shutdown-timeout", "--drain-timeout", type=float, default=30.0, dest="shutdown_timeout",
        metavar="SECONDS", help="how long in-flight messages may take to finish on SIGTERM (default 30)",
    )  # fmt: skip
    parser.add_argument(
        "--health-port", type=int, default=None, metavar="PORT",
        help="serve GET /livez and /readyz on this port (0: a free one; default off)",
    )  # fmt: skip
    parser.add_argument(
        "--health-host", default="127.0.0.1", help="interface of the health endpoint (default 127.0.0.1)"
    )
    parser.add_argument(
        "--reload", action="store_true",
        help="restart when Python code changes (development; the drain on SIGTERM is not guaranteed)",
    )  # fmt: skip
    parser.add_argument(
        "--log-level", default=None, choices=["debug", "info", "warning", "error"],
        help="configure library logging on stderr at this level (default: leave Django LOGGING alone)",
    )  # fmt: skip


def worker_options(options: dict[str, Any], *, install_signal_handlers: bool = True) -> WorkerOptions:
    """:class:`WorkerOptions` from the parsed command options."""
    try:
        return WorkerOptions(
            groups=tuple(options["groups"]), listeners=tuple(options["listeners"]),
            concurrency=options["concurrency"], drain_timeout=options["shutdown_timeout"],
            health_port=options["health_port"], health_host=options["health_host"],
            install_signal_handlers=install_signal_handlers,
        )  # fmt: skip
    except ValueError as exc:
        raise CommandError(str(exc), returncode=2) from exc


def configure_logging(options: dict[str, Any]) -> None:
    """Library logging when asked for (``--log-level`` or ``LOGGING.CONFIGURE_STRUCTLOG``)."""
    level = options.get("log_level")
    if level or get_config()["LOGGING"].get("CONFIGURE_STRUCTLOG"):
        from rocketmq_integration.logging import configure_logging as configure

        configure(level or "info")


class Command(BaseCommand):
    help = "Run the @rocketmq_listener listeners of the installed apps until SIGTERM/SIGINT, then drain."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--namesrv", default=None, help="NameServer address (default: ROCKETMQ['NAME_SERVER'])"
        )
        add_listener_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        configure_logging(options)
        if options["reload"]:
            autoreload.run_with_reloader(self.run_worker, **options)
        else:
            self.run_worker(**options)

    def run_worker(self, **options: Any) -> None:
        """Run until a signal; raises CommandError with the worker's non-zero exit status."""
        in_main = not options["reload"]
        runner = build_runner(
            ListenerFilter(topics=options["topics"], exclude=options["exclude"]),
            namesrv_addr=options["namesrv"],
        )
        worker = Worker(worker_options(options, install_signal_handlers=in_main), runner=runner)
        specs = worker.specs()
        if specs:
            listener_started.send(type(self), specs=specs)
        try:
            status = worker.run()
        except OSError as exc:  # e.g. the health port is taken
            raise CommandError(f"listener worker could not start: {exc}", returncode=1) from exc
        if specs:
            listener_stopped.send(type(self), specs=specs, status=status)
        if status != 0:
            raise CommandError(f"listener worker exited with status {status}", returncode=status)
