"""``manage.py rocketmq_dev``: NameServer + broker + the project's listeners in one process.

For local development: the embedded servers (``ROCKETMQ["EMBEDDED"]`` defaults, store under
``./run-data/store``) start first, the topics of the selected listeners are created, then the
listeners run until SIGTERM/SIGINT (drain, then the servers stop; exit 0). ``--reload`` restarts
everything when Python code changes. Point ``ROCKETMQ["NAME_SERVER"]`` of the web process at the
printed NameServer address.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import autoreload

from rocketmq_integration.django.conf import get_config
from rocketmq_integration.django.embedded import BackgroundServers, EmbeddedOptions
from rocketmq_integration.django.management.commands.rocketmq_broker import add_server_arguments
from rocketmq_integration.django.management.commands.rocketmq_listeners import (
    add_listener_arguments,
    configure_logging,
    worker_options,
)
from rocketmq_integration.django.signals import listener_started, listener_stopped
from rocketmq_integration.django.worker import ListenerFilter, build_runner
from rocketmq_integration.worker import Worker


async def _create_topics(namesrv_addr: str, broker_addr: str, topics: set[str]) -> None:
    """Create ``topics`` on every master registered with the NameServer (the embedded broker, plus any
    broker group started with ``--namesrv`` pointing here), so their queues spread over all of them."""
    from rocketmq_integration.client import Admin
    from rocketmq_integration.errors import MQClientError

    async with Admin(namesrv_addr) as admin:
        for topic in sorted(topics):
            try:
                await admin.create_topic(topic)
            except MQClientError:  # the embedded broker has not registered yet: create it there directly
                await admin.create_topic(topic, broker_addr=broker_addr)
        for topic in sorted(topics):
            await admin.wait_for_route(topic, timeout=30)


class Command(BaseCommand):
    help = "Run an embedded NameServer and broker plus the project's listeners (development)."

    def add_arguments(self, parser: CommandParser) -> None:
        add_server_arguments(parser, broker_only=False)
        add_listener_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        configure_logging(options)
        if options["reload"]:
            autoreload.run_with_reloader(self.run_dev, **options)
        else:
            self.run_dev(**options)

    def run_dev(self, **options: Any) -> None:
        """Servers, topics, listeners; raises CommandError with a non-zero exit status."""
        servers = BackgroundServers(
            EmbeddedOptions(
                host=options["host"], namesrv_port=options["namesrv_port"], broker_port=options["broker_port"],
                store_dir=options["store_dir"],
            )
        )  # fmt: skip
        try:
            started = servers.start()
        except OSError as exc:
            raise CommandError(f"embedded servers did not start: {exc}", returncode=1) from exc
        try:
            self.stdout.write(started.describe())
            if get_config()["NAME_SERVER"] != started.namesrv_addr:
                self.stdout.write(
                    f"note: ROCKETMQ['NAME_SERVER'] is {get_config()['NAME_SERVER']!r}; "
                    f"web processes must use {started.namesrv_addr!r} to reach this broker"
                )
            self.stdout.flush()
            status = self._run_listeners(started.namesrv_addr, started.broker_addr, options)
        finally:
            servers.stop()
            self.stdout.write("embedded servers stopped")
        if status:
            raise CommandError(f"rocketmq_dev exited with status {status}", returncode=status)

    def _run_listeners(self, namesrv_addr: str, broker_addr: str, options: dict[str, Any]) -> int:
        in_main = threading.current_thread() is threading.main_thread()
        runner = build_runner(
            ListenerFilter(topics=options["topics"], exclude=options["exclude"]), namesrv_addr=namesrv_addr
        )
        worker = Worker(worker_options(options, install_signal_handlers=in_main), runner=runner)
        specs = worker.specs()
        if not specs:
            self.stdout.write("no listener selected; serving the broker only. Ctrl-C to stop.")
            self.stdout.flush()
            return _wait_for_signal(in_main)
        asyncio.run(_create_topics(namesrv_addr, broker_addr, {s.topic for s in specs}))
        listener_started.send(type(self), specs=specs)
        status = worker.run()
        listener_stopped.send(type(self), specs=specs, status=status)
        return status


def _wait_for_signal(in_main: bool) -> int:
    stop = threading.Event()
    if not in_main:  # under the autoreloader: the reloader ends this process
        stop.wait()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while not stop.wait(3600):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
