"""Request dispatch: request code -> handler, with the Java server's error rules.

A handler receives the request and the channel it came on and returns the response, ``None`` (no
response: oneway or "parked" long-poll requests answer later through ``channel.send_response``),
or an awaitable of either. Returning a plain value keeps the hot path free of task creation. A
response may also be given as its whole frame (``bytes``, e.g. from
:func:`~broker_core.remoting.frame.encode_response_frame`): the send hot path skips building a
response command only to serialise it at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, TypeAlias

from broker_core.remoting.codes import ResponseCode
from broker_core.remoting.command import RemotingCommand

if TYPE_CHECKING:
    from broker_core.remoting.channel import Channel

#: a response: the command, or its whole encoded frame
Reply: TypeAlias = "RemotingCommand | bytes"
HandlerResult: TypeAlias = "Reply | None | Awaitable[Reply | None]"
Handler: TypeAlias = "Callable[[RemotingCommand, Channel], HandlerResult]"
#: runs before every handler (request, peer "ip:port"); a returned command is the answer instead
Guard: TypeAlias = "Callable[[RemotingCommand, str], RemotingCommand | None]"


def not_supported(request: RemotingCommand, channel: Channel) -> RemotingCommand:
    """The answer to an unknown request code (``REQUEST_CODE_NOT_SUPPORTED``)."""
    return request.make_response(
        ResponseCode.REQUEST_CODE_NOT_SUPPORTED, f" request type {request.code} not supported"
    )


def _guarded(guard: Guard, handler: Handler) -> Handler:
    def run(request: RemotingCommand, channel: Channel) -> HandlerResult:
        rejection = guard(request, channel.remote_addr)
        if rejection is not None:
            return rejection
        return handler(request, channel)

    return run


class Dispatcher:
    """Maps request codes to handlers; unknown codes go to the default handler."""

    __slots__ = ("_default", "_guard", "_guarded", "_handlers")

    def __init__(self, default: Handler = not_supported) -> None:
        self._handlers: dict[int, Handler] = {}
        self._default = default
        self._guard: Guard | None = None
        self._guarded: dict[int, Handler] = {}

    def register(self, code: int | Iterable[int], handler: Handler) -> None:
        codes = [code] if isinstance(code, int) else list(code)
        for c in codes:
            self._handlers[int(c)] = handler
        self._guarded.clear()

    def set_default(self, handler: Handler) -> None:
        self._default = handler
        self._guarded.clear()

    def set_guard(self, guard: Guard | None) -> None:
        """Run ``guard`` before every request (the RPC-hook place, e.g. ACL validation)."""
        self._guard = guard
        self._guarded.clear()

    def lookup(self, code: int) -> Handler:
        if self._guard is None:
            return self._handlers.get(code, self._default)
        wrapped = self._guarded.get(code)
        if wrapped is None:
            wrapped = self._guarded[code] = _guarded(self._guard, self._handlers.get(code, self._default))
        return wrapped

    def __contains__(self, code: int) -> bool:
        return code in self._handlers
