"""The embedded NameServer + broker of ``rocketmq_broker --with-namesrv`` and ``rocketmq_dev``.

Both servers are the ones ``python -m broker_core`` runs (``NamesrvApp``, ``BrokerApp``), started
on one asyncio loop: in the foreground (:func:`serve`, until SIGTERM/SIGINT) or on a background
loop thread (:class:`BackgroundServers`, for ``rocketmq_dev`` whose main thread runs the
listeners). Defaults come from ``ROCKETMQ["EMBEDDED"]``; the store directory defaults to
``<cwd>/run-data/store``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from broker_core import eventloop
from broker_core.broker.app import BrokerApp, configs_from_args
from broker_core.config.namesrv import NamesrvConfig
from broker_core.namesrv.app import NamesrvApp

__all__ = ["BackgroundServers", "EmbeddedOptions", "Servers", "serve"]


@dataclass(frozen=True)
class EmbeddedOptions:
    """Where the embedded servers listen.

    Attributes:
        host: interface (and the address the broker advertises).
        namesrv_port: NameServer port (0: a free one); ``None``: no embedded NameServer.
        broker_port: broker port (0: a free one).
        namesrv_addr: the NameServer to register with when none is embedded.
        store_dir: store root directory.
        config: an Apache-style ``broker.conf`` (flags win over it).
        cluster / broker_name: broker identity (``None``: the broker's defaults).
    """

    host: str = "127.0.0.1"
    namesrv_port: int | None = 9876
    broker_port: int = 10911
    namesrv_addr: str | None = None
    store_dir: str = "run-data/store"
    config: str | None = None
    cluster: str | None = None
    broker_name: str | None = None


class Servers:
    """A NameServer (optional) and a broker on the running loop."""

    def __init__(self, options: EmbeddedOptions) -> None:
        self.options = options
        self.namesrv: NamesrvApp | None = None
        self.broker: BrokerApp | None = None
        self.namesrv_addr = options.namesrv_addr or ""
        self.broker_addr = ""

    async def start(self) -> None:
        """Start the NameServer (when embedded) and then the broker registered with it."""
        opts = self.options
        if opts.namesrv_port is not None:
            self.namesrv = NamesrvApp(NamesrvConfig(host=opts.host, port=opts.namesrv_port))
            port = await self.namesrv.start()
            self.namesrv_addr = f"{opts.host}:{port}"
        args = argparse.Namespace(
            config=opts.config, namesrv=self.namesrv_addr or None, host=opts.host, port=opts.broker_port,
            store_dir=str(Path(opts.store_dir).resolve()), cluster=opts.cluster, broker_name=opts.broker_name,
            broker_id=None,
        )  # fmt: skip
        broker_cfg, store_cfg = configs_from_args(args)
        self.broker = BrokerApp(broker_cfg, store_cfg)
        try:
            port = await self.broker.start()
        except BaseException:
            await self.stop()
            raise
        self.broker_addr = f"{opts.host}:{port}"

    async def stop(self) -> None:
        """Stop the broker (flushing its store), then the NameServer."""
        broker, self.broker = self.broker, None
        namesrv, self.namesrv = self.namesrv, None
        try:
            if broker is not None:
                await broker.stop()
        finally:
            if namesrv is not None:
                await namesrv.stop()

    def describe(self) -> str:
        """One line for the operator."""
        where = (
            f"NameServer {self.namesrv_addr}"
            if self.namesrv is not None
            else f"registered with {self.namesrv_addr}"
        )
        return f"broker listening on {self.broker_addr} ({where}; store {Path(self.options.store_dir).resolve()})"


async def _serve(options: EmbeddedOptions, say: Any) -> int:
    servers = Servers(options)
    try:
        await servers.start()
    except OSError as exc:
        say(f"cannot start: {exc}")
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled = threading.current_thread() is threading.main_thread()  # not under the autoreloader
    for sig in (signal.SIGTERM, signal.SIGINT) if handled else ():
        loop.add_signal_handler(sig, stop.set)
    say(servers.describe() + ". Ctrl-C to stop.")
    try:
        await stop.wait()
        say("stopping ...")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT) if handled else ():
            loop.remove_signal_handler(sig)
        await servers.stop()
    say("stopped cleanly")
    return 0


def serve(options: EmbeddedOptions, say: Any = None) -> int:
    """Run the servers until SIGTERM/SIGINT; returns the exit status (0 after a clean stop)."""

    def _print(text: str) -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    return eventloop.run(_serve(options, say or _print))


class BackgroundServers:
    """:class:`Servers` on their own loop thread (``start()`` blocks until both listen)."""

    def __init__(self, options: EmbeddedOptions) -> None:
        from rocketmq_integration.client.sync import EventLoopThread

        self.servers = Servers(options)
        self._thread = EventLoopThread("rocketmq-embedded")

    def start(self, timeout: float = 60.0) -> Servers:
        """Start both servers; raises what their start raised."""
        try:
            self._thread.run(self.servers.start(), timeout)
        except BaseException:
            self._thread.stop()
            raise
        return self.servers

    def stop(self, timeout: float = 60.0) -> None:
        """Stop both servers and the loop thread."""
        try:
            self._thread.run(self.servers.stop(), timeout)
        finally:
            self._thread.stop()
