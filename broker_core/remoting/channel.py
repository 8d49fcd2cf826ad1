"""One TCP connection, server or client side, driven by asyncio.

Both peers of a RocketMQ connection may send requests (the broker asks consumers to rebalance and
producers to check transactions), so a single protocol class serves both roles: it resolves
responses to our own requests by opaque and dispatches the peer's requests to a
:class:`~broker_core.remoting.dispatcher.Dispatcher`.

Writes produced while handling one ``data_received`` call are coalesced into one ``writelines``.
When more than ``max_inflight`` requests of the connection are being processed asynchronously,
reading pauses; the kernel's socket buffer then pushes back on the peer.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import time
from collections.abc import Callable, Coroutine
from typing import Any, cast

from broker_core.errors import (
    RemoteProtocolError,
    RemotingClosedError,
    RemotingTimeoutError,
)
from broker_core.logsetup import get_logger
from broker_core.pending import Pending
from broker_core.remoting import eager
from broker_core.remoting.codes import ResponseCode
from broker_core.remoting.command import FLAG_RESPONSE, RemotingCommand
from broker_core.remoting.connection import RemotingConnection, next_opaque
from broker_core.remoting.dispatcher import Dispatcher
from broker_core.remoting.frame import encode_frame, encode_frame_parts

log = get_logger(__name__)

_channel_ids = itertools.count(1)


class Channel(asyncio.Protocol):
    """A remoting connection; see the module docstring."""

    def __init__(
        self,
        dispatcher: Dispatcher | None,
        *,
        max_frame_length: int,
        max_inflight: int = 4096,
        on_close: Callable[[Channel], None] | None = None,
        role: str = "server",
    ) -> None:
        self.id = next(_channel_ids)
        self.role = role
        self.dispatcher = dispatcher
        self.remote_addr = "?"
        self.local_addr = "?"
        self.attributes: dict[str, Any] = {}
        self.last_activity = time.monotonic()
        self._conn = RemotingConnection(max_frame_length)
        self._transport: asyncio.Transport | None = None
        self._pending: dict[int, asyncio.Future[RemotingCommand]] = {}
        self._close_reason = ""
        self._outbox: list[bytes | memoryview] | None = None
        self._wbuf: list[bytes | memoryview] | None = None
        self._inflight = 0
        self._max_inflight = max_inflight
        self._paused = False
        self._on_close = on_close
        self._loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[None] = self._loop.create_future()
        self._tasks: set[asyncio.Task[None]] = set()

    # ----------------------------------------------------------------------- asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream transport; uvloop's TCPTransport does not subclass asyncio.Transport, so no isinstance
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        sock = transport.get_extra_info("sockname")
        if peer:
            self.remote_addr = f"{peer[0]}:{peer[1]}"
        if sock:
            self.local_addr = f"{sock[0]}:{sock[1]}"

    def data_received(self, data: bytes) -> None:
        self.last_activity = time.monotonic()
        try:
            commands = self._conn.receive_data(data)
        except RemoteProtocolError as exc:
            log.warning("closing connection: bad frame", peer=self.remote_addr, reason=str(exc))
            self._close_reason = str(exc)
            self.close()
            return
        if not commands:
            return
        outbox: list[bytes | memoryview] = []
        self._outbox = outbox
        try:
            for cmd in commands:
                if cmd.flag & FLAG_RESPONSE:
                    fut = self._pending.pop(cmd.opaque, None)
                    if fut is not None and not fut.done():
                        fut.set_result(cmd)
                    elif fut is None:
                        log.debug("response for unknown opaque", peer=self.remote_addr, opaque=cmd.opaque)
                else:
                    self._dispatch(cmd)
        finally:
            self._outbox = None
            if outbox and self._transport is not None and not self._transport.is_closing():
                self._transport.writelines(outbox)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        reason = f": {self._close_reason}" if self._close_reason else ""
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(RemotingClosedError(f"connection to {self.remote_addr} closed{reason}"))
        self._pending.clear()
        if not self.closed.done():
            self.closed.set_result(None)
        if self._on_close is not None:
            try:
                self._on_close(self)
            except Exception:  # a listener bug must not break connection teardown
                log.exception("on_close callback failed", peer=self.remote_addr)

    # ----------------------------------------------------------------------------- dispatch

    def _dispatch(self, cmd: RemotingCommand) -> None:
        if self.dispatcher is None:
            if not cmd.is_oneway:
                self.send_response(
                    cmd.make_response(
                        ResponseCode.REQUEST_CODE_NOT_SUPPORTED, f" request type {cmd.code} not supported"
                    )
                )
            return
        handler = self.dispatcher.lookup(cmd.code)
        try:
            result = handler(cmd, self)
        except Exception as exc:
            self._handler_failed(cmd, exc)
            return
        if result is None:
            return
        if type(result) is bytes:  # a response already encoded (the send hot path)
            if not cmd.is_oneway:
                self._write(result)
            return
        if isinstance(result, RemotingCommand):
            if not cmd.is_oneway:
                self.send_response(result)
            return
        if isinstance(result, Pending):
            # The SYNC_FLUSH send path: the group commit resolves it and the answer is written from
            # there, no task and no loop turn per request.
            self._hold()
            result.listen(functools.partial(self._pending_done, cmd))
            return
        if isinstance(result, asyncio.Future):  # answered by a done-callback, no task per request
            self._hold()
            result.add_done_callback(functools.partial(self._future_done, cmd))
            return
        if isinstance(result, Coroutine):
            try:
                value, yielded = eager.step(result)
            except Exception as exc:
                self._handler_failed(cmd, exc)
                return
            if eager.is_done(value):
                if value is not None and not cmd.is_oneway:
                    self._reply(value)
                return
            result = eager.finish(result, yielded)
        self._hold()
        task = self._loop.create_task(self._await_result(cmd, result))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _hold(self) -> None:
        """One more request answered later; past ``max_inflight`` of them, stop reading."""
        self._inflight += 1
        if self._inflight >= self._max_inflight and not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()

    def _release(self) -> None:
        """A held request was answered; resume reading once half of the limit is free again."""
        self._inflight -= 1
        if self._paused and self._inflight <= self._max_inflight // 2 and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()

    async def _await_result(self, cmd: RemotingCommand, awaitable: Any) -> None:
        try:
            response = await awaitable
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._handler_failed(cmd, exc)
            response = None
        finally:
            self._release()
        if response is not None and not cmd.is_oneway:
            self._reply(response)

    def _future_done(self, cmd: RemotingCommand, fut: asyncio.Future[Any]) -> None:
        if fut.cancelled():  # as a cancelled task: no answer (the peer times out)
            self._release()
            return
        exc = fut.exception()
        self._pending_done(cmd, None if exc is not None else fut.result(), exc)

    def _pending_done(self, cmd: RemotingCommand, response: Any, exc: BaseException | None) -> None:
        self._release()
        if exc is not None:
            if isinstance(exc, Exception):
                self._handler_failed(cmd, exc)
            return
        if response is not None and not cmd.is_oneway:
            self._reply(response)

    def _handler_failed(self, cmd: RemotingCommand, exc: Exception) -> None:
        # exc_info=exc: also called from a future's callback, where no exception is being handled
        log.error(
            "request handler failed", code=cmd.code, opaque=cmd.opaque, peer=self.remote_addr, exc_info=exc
        )
        if not cmd.is_oneway:
            self.send_response(cmd.make_response(ResponseCode.SYSTEM_ERROR, f"{type(exc).__name__}: {exc}"))

    # ------------------------------------------------------------------------------ sending

    @property
    def is_open(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    def _reply(self, response: RemotingCommand | bytes) -> None:
        if type(response) is bytes:
            self._write(response)
        else:
            self.send_response(cast(RemotingCommand, response))

    def send_response(self, response: RemotingCommand) -> None:
        """Write a response (its opaque already mirrors the request)."""
        response.flag |= FLAG_RESPONSE
        if response.body_parts is None:
            self._write(encode_frame(response))
        else:  # the body's buffers go to the transport as they are (one gather write)
            for part in encode_frame_parts(response):
                self._write(part)

    def _write(self, data: bytes | memoryview) -> None:
        if self._outbox is not None:
            self._outbox.append(data)
        elif self._wbuf is not None:
            self._wbuf.append(data)
        elif self._transport is not None and not self._transport.is_closing():
            # Coalesce the frames written by many coroutines in one loop turn into one syscall.
            self._wbuf = [data]
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        buf, self._wbuf = self._wbuf, None
        if buf and self._transport is not None and not self._transport.is_closing():
            self._transport.writelines(buf)

    async def invoke(self, request: RemotingCommand, timeout: float) -> RemotingCommand:
        """Send a request and wait for its response.

        Raises:
            RemotingTimeoutError: no response within ``timeout`` seconds.
            RemotingClosedError: the connection closed first.
        """
        if not self.is_open:
            raise RemotingClosedError(f"connection to {self.remote_addr} is closed")
        opaque = request.opaque = next_opaque()
        fut: asyncio.Future[RemotingCommand] = self._loop.create_future()
        self._pending[opaque] = fut
        self._write(encode_frame(request))
        handle = self._loop.call_later(timeout, self._expire, opaque)
        try:
            return await fut
        finally:
            handle.cancel()
            self._pending.pop(opaque, None)

    def _expire(self, opaque: int) -> None:
        fut = self._pending.pop(opaque, None)
        if fut is not None and not fut.done():
            fut.set_exception(RemotingTimeoutError(f"no response from {self.remote_addr} (opaque {opaque})"))

    def invoke_oneway(self, request: RemotingCommand) -> None:
        """Send a oneway request (no response expected)."""
        if not self.is_open:
            raise RemotingClosedError(f"connection to {self.remote_addr} is closed")
        request.opaque = next_opaque()
        request.flag |= 0x2
        self._write(encode_frame(request))

    def close(self) -> None:
        if self._transport is not None:
            self._flush()
            self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()
