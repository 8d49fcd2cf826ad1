"""NameServer composition root: config -> route tables, KV config, processor, server, expiry task.

Embedding (tests, demos)::

    app = NamesrvApp(NamesrvConfig(port=0))
    port = await app.start()
    ...
    await app.stop()

Command line: ``python -m broker_core namesrv [--host H] [--port P] [-c namesrv.properties]``
(:func:`run_from_args`). It prints ``namesrv listening on H:P`` to stdout once the port is bound
and runs until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import signal
import sys

from broker_core import eventloop
from broker_core.config.namesrv import NamesrvConfig
from broker_core.errors import ConfigError
from broker_core.logsetup import configure_logging, get_logger
from broker_core.namesrv.kv_config import KVConfigManager
from broker_core.namesrv.processor import NamesrvProcessor
from broker_core.namesrv.routes import RouteInfoManager
from broker_core.remoting.channel import Channel
from broker_core.remoting.dispatcher import Dispatcher
from broker_core.remoting.server import RemotingServer
from broker_core.tasks import cancel_and_wait

__all__ = ["NamesrvApp", "run_from_args"]

log = get_logger(__name__)

#: Apache starts the expiry scan 5 s after start-up.
_FIRST_SCAN_DELAY = 5.0


class NamesrvApp:
    """A running NameServer. ``start()`` binds and returns the port; ``stop()`` undoes it."""

    def __init__(self, config: NamesrvConfig | None = None) -> None:
        config = config or NamesrvConfig()
        self.routes = RouteInfoManager()
        self.kv = KVConfigManager(config.kv_config_path)
        self.processor = NamesrvProcessor(self.routes, self.kv, config)
        self.dispatcher = Dispatcher()
        self.processor.register_to(self.dispatcher)
        self.server = RemotingServer(
            config.remoting(), self.dispatcher, on_channel_close=self._channel_closed
        )
        self._stopping = asyncio.Event()
        self._scan_task: asyncio.Task[None] | None = None

    @property
    def config(self) -> NamesrvConfig:
        """The current settings (UPDATE_NAMESRV_CONFIG may change them at run time)."""
        return self.processor.config

    @property
    def port(self) -> int:
        return self.server.port

    async def start(self) -> int:
        """Load the KV config, bind, start the expiry scan; returns the bound port."""
        await asyncio.to_thread(self.kv.load)
        self._stopping.clear()
        port = await self.server.start()
        self._scan_task = asyncio.get_running_loop().create_task(self._scan_loop(), name="namesrv-expiry")
        log.info("namesrv started", host=self.config.host, port=port)
        return port

    async def stop(self) -> None:
        """Stop the expiry scan and the server (closing every connection)."""
        self._stopping.set()
        await cancel_and_wait(self._scan_task)
        self._scan_task = None
        await self.server.stop()
        log.info("namesrv stopped")

    def _channel_closed(self, channel: Channel) -> None:
        removed = self.routes.on_channel_destroy(channel)
        if removed:
            log.info("broker connection closed", brokers=removed, peer=channel.remote_addr)

    def scan_not_active_brokers(self) -> int:
        """One expiry pass (also callable from tests); returns how many brokers were removed."""
        expired = self.routes.scan_not_active(self.config.broker_channel_expired_seconds)
        for info in expired:
            if isinstance(info.channel, Channel):
                info.channel.close()
        return len(expired)

    async def _scan_loop(self) -> None:
        delay = min(_FIRST_SCAN_DELAY, self.config.scan_not_active_broker_interval)
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
                return
            try:
                self.scan_not_active_brokers()
            except Exception:  # a bug here must not stop expiry for good
                log.exception("broker expiry scan failed")
            delay = self.config.scan_not_active_broker_interval


def _config_from_args(args: argparse.Namespace) -> NamesrvConfig:
    config = NamesrvConfig()
    if getattr(args, "config", None):
        config, unknown = NamesrvConfig.from_file_checked(args.config)
        for key, hint in sorted(unknown.items()):
            if hint is not None:
                log.warning("unknown namesrv config key ignored", key=key, did_you_mean=hint)
            else:
                log.warning("unknown namesrv config key ignored", key=key)
    overrides: dict[str, object] = {}
    if getattr(args, "host", None):
        overrides["host"] = args.host
    if getattr(args, "port", None) is not None:
        overrides["port"] = args.port
    return dataclasses.replace(config, **overrides)  # type: ignore[arg-type]


async def _serve(config: NamesrvConfig) -> int:
    log.info("event loop", loop=eventloop.loop_name())
    app = NamesrvApp(config)
    port = await app.start()
    print(f"namesrv listening on {config.host}:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
        log.info("namesrv shutting down")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await app.stop()
    return 0


def run_from_args(args: argparse.Namespace) -> int:
    """CLI entry point (``python -m broker_core namesrv``); returns the exit code.

    ``--host``/``--port`` override ``bindAddress``/``listenPort`` from the ``-c`` file.
    """
    try:
        configure_logging(
            getattr(args, "log_level", None) or "info", json=bool(getattr(args, "log_json", False))
        )
        config = _config_from_args(args)
        loop = eventloop.resolve(getattr(args, "loop", None))
    except (OSError, ValueError, ConfigError) as exc:
        print(f"namesrv: configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        return eventloop.run(_serve(config), loop)
    except OSError as exc:  # e.g. the port is taken
        log.error("namesrv failed to start", error=str(exc))
        print(f"namesrv failed: {exc}", file=sys.stderr)
        return 1
