"""asyncio remoting client: one connection per address, requests matched by opaque.

Server-initiated requests (NOTIFY_CONSUMER_IDS_CHANGED, CHECK_TRANSACTION_STATE, …) arriving on
a client connection are dispatched through the optional ``dispatcher``.
"""

from __future__ import annotations

import asyncio
import contextlib

from broker_core.config.remoting import RemotingConfig
from broker_core.errors import RemotingConnectError
from broker_core.logsetup import get_logger
from broker_core.remoting.channel import Channel
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.dispatcher import Dispatcher

log = get_logger(__name__)


def split_addr(addr: str) -> tuple[str, int]:
    """``"host:port"`` -> ``(host, port)`` (IPv6 hosts may be bracketed)."""
    host, _, port = addr.rpartition(":")
    return host.strip("[]"), int(port)


class RemotingClient:
    """Connection pool keyed by ``"host:port"``."""

    def __init__(self, config: RemotingConfig | None = None, dispatcher: Dispatcher | None = None) -> None:
        self.config = config or RemotingConfig()
        self.dispatcher = dispatcher
        self._channels: dict[str, Channel] = {}
        self._connecting: dict[str, asyncio.Future[Channel]] = {}
        self._closed = False

    async def get_channel(self, addr: str) -> Channel:
        """The open connection to ``addr``, connecting if needed (concurrent callers share one)."""
        ch = self._channels.get(addr)
        if ch is not None and ch.is_open:
            return ch
        pending = self._connecting.get(addr)
        if pending is not None:
            return await asyncio.shield(pending)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Channel] = loop.create_future()
        self._connecting[addr] = fut
        try:
            ch = await self._connect(addr)
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # mark retrieved
            raise
        finally:
            self._connecting.pop(addr, None)
        fut.set_result(ch)
        return ch

    async def _connect(self, addr: str) -> Channel:
        if self._closed:
            raise RemotingConnectError("client is closed")
        host, port = split_addr(addr)
        loop = asyncio.get_running_loop()

        def factory() -> Channel:
            return Channel(
                self.dispatcher,
                max_frame_length=self.config.max_frame_length,
                on_close=lambda c: self._forget(addr, c),
                role="client",
            )

        try:
            _, ch = await asyncio.wait_for(
                loop.create_connection(factory, host, port), self.config.connect_timeout
            )
        except (TimeoutError, OSError) as exc:
            raise RemotingConnectError(f"cannot connect to {addr}: {exc}") from exc
        self._channels[addr] = ch
        return ch

    def _forget(self, addr: str, ch: Channel) -> None:
        if self._channels.get(addr) is ch:
            del self._channels[addr]

    async def invoke(self, addr: str, request: RemotingCommand, timeout: float = 3.0) -> RemotingCommand:
        """Send ``request`` to ``addr`` and wait for the response (``timeout`` in seconds)."""
        ch = await self.get_channel(addr)
        return await ch.invoke(request, timeout)

    async def invoke_oneway(self, addr: str, request: RemotingCommand) -> None:
        ch = await self.get_channel(addr)
        ch.invoke_oneway(request)

    def close_channel(self, addr: str) -> None:
        ch = self._channels.pop(addr, None)
        if ch is not None:
            ch.close()

    async def close(self) -> None:
        self._closed = True
        channels = list(self._channels.values())
        self._channels.clear()
        for ch in channels:
            ch.close()
        for ch in channels:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(ch.closed), 1.0)
