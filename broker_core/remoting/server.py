"""asyncio remoting server: accepts connections and hands each to a :class:`Channel`."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from broker_core.config.remoting import RemotingConfig
from broker_core.logsetup import get_logger
from broker_core.remoting.channel import Channel
from broker_core.remoting.dispatcher import Dispatcher

log = get_logger(__name__)


class RemotingServer:
    """Listen on ``config.host:config.port`` and serve requests through ``dispatcher``.

    Args:
        config: listen address and limits.
        dispatcher: request code -> handler.
        on_channel_close: called when a connection ends (client tables drop the channel).
    """

    def __init__(
        self,
        config: RemotingConfig,
        dispatcher: Dispatcher,
        *,
        on_channel_close: Callable[[Channel], None] | None = None,
    ) -> None:
        self.config = config
        self.dispatcher = dispatcher
        self._on_channel_close = on_channel_close
        self._server: asyncio.Server | None = None
        self.channels: set[Channel] = set()
        self._idle_task: asyncio.Task[None] | None = None
        self.port = config.port

    def _make_channel(self) -> Channel:
        ch = Channel(
            self.dispatcher,
            max_frame_length=self.config.max_frame_length,
            max_inflight=self.config.max_inflight_per_connection,
            on_close=self._channel_closed,
        )
        self.channels.add(ch)
        return ch

    def _channel_closed(self, ch: Channel) -> None:
        self.channels.discard(ch)
        if self._on_channel_close is not None:
            self._on_channel_close(ch)

    async def start(self) -> int:
        """Bind and start accepting; returns the bound port."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._make_channel, self.config.host, self.config.port, reuse_address=True, backlog=1024
        )
        self.port = self._server.sockets[0].getsockname()[1]
        if self.config.channel_max_idle_seconds > 0:
            self._idle_task = loop.create_task(self._close_idle())
        log.info("remoting server listening", host=self.config.host, port=self.port)
        return self.port

    async def _close_idle(self) -> None:
        limit = self.config.channel_max_idle_seconds
        while True:
            await asyncio.sleep(min(limit / 4, 10.0))
            now = time.monotonic()
            for ch in list(self.channels):
                if now - ch.last_activity > limit:
                    log.info("closing idle connection", peer=ch.remote_addr)
                    ch.close()

    async def stop(self) -> None:
        if self._idle_task is not None:
            self._idle_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._idle_task
        if self._server is not None:
            self._server.close()
            for ch in list(self.channels):
                ch.close()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None
