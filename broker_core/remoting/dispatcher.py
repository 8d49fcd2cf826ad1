"""Request dispatch: request code -> handler, with the Java server's error rules.

A handler receives the request and the channel it came on and returns the response, ``None`` (no
response: oneway or "parked" long-poll requests answer later through ``channel.send_response``),
or an awaitable of either. Returning a plain value keeps the hot path free of task creation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, TypeAlias

from broker_core.remoting.codes import ResponseCode
from broker_core.remoting.command import RemotingCommand

if TYPE_CHECKING:
    from broker_core.remoting.channel import Channel

HandlerResult: TypeAlias = "RemotingCommand | None | Awaitable[RemotingCommand | None]"
Handler: TypeAlias = "Callable[[RemotingCommand, Channel], HandlerResult]"


def not_supported(request: RemotingCommand, channel: Channel) -> RemotingCommand:
    """The answer to an unknown request code (``REQUEST_CODE_NOT_SUPPORTED``)."""
    return request.make_response(
        ResponseCode.REQUEST_CODE_NOT_SUPPORTED, f" request type {request.code} not supported"
    )


class Dispatcher:
    """Maps request codes to handlers; unknown codes go to the default handler."""

    __slots__ = ("_default", "_handlers")

    def __init__(self, default: Handler = not_supported) -> None:
        self._handlers: dict[int, Handler] = {}
        self._default = default

    def register(self, code: int | Iterable[int], handler: Handler) -> None:
        codes = [code] if isinstance(code, int) else list(code)
        for c in codes:
            self._handlers[int(c)] = handler

    def set_default(self, handler: Handler) -> None:
        self._default = handler

    def lookup(self, code: int) -> Handler:
        return self._handlers.get(code, self._default)

    def __contains__(self, code: int) -> bool:
        return code in self._handlers
