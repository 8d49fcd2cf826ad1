"""Request-reply through the template (Spring ``sendAndReceive``): send, await the converted reply.

The request/reply correlation itself lives in the client (``client.request_reply``); this module
only builds the request from a payload and converts the reply's body with the template's converter.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Mapping, Sequence
from typing import Any

from rocketmq_integration.client.producer import Producer
from rocketmq_integration.client.request_reply import request
from rocketmq_integration.converters import CONTENT_TYPE_PROPERTY
from rocketmq_integration.template.core import TemplateCore

__all__ = ["RequestReplyOps"]


class RequestReplyOps(TemplateCore):
    """The request-reply methods of :class:`~rocketmq_integration.template.RocketMQTemplate`."""

    def send_and_receive(
        self,
        destination: str,
        payload: Any,
        *,
        reply_type: Any = None,
        timeout: float = 3.0,
        keys: str | Sequence[str] | None = None,
        headers: Mapping[str, Any] | None = None,
    ) -> Any:
        """Send a request and return the converted reply (Spring ``sendAndReceive``).

        Raises:
            RequestTimeoutError: no reply within ``timeout`` (e.g. no reply listener online).
        """
        return self.send_and_receive_async(
            destination, payload, reply_type=reply_type, timeout=timeout, keys=keys, headers=headers
        ).result(timeout + 5.0)

    def send_and_receive_async(
        self,
        destination: str,
        payload: Any,
        *,
        reply_type: Any = None,
        timeout: float = 3.0,
        keys: str | Sequence[str] | None = None,
        headers: Mapping[str, Any] | None = None,
    ) -> concurrent.futures.Future[Any]:
        """Non-blocking :meth:`send_and_receive`: a future of the converted reply."""
        msg = self.build_message(destination, payload, keys=keys, headers=headers)

        async def go(p: Producer) -> Any:
            answer = await request(p, msg, timeout)
            return self.converter.from_message(
                answer.body, answer.properties.get(CONTENT_TYPE_PROPERTY), reply_type
            )

        return self._submit(go)

    async def asend_and_receive(
        self, destination: str, payload: Any, *, reply_type: Any = None, timeout: float = 3.0
    ) -> Any:
        """:meth:`send_and_receive` for asyncio code."""
        if self._thread is None or self._producer is None:
            await asyncio.to_thread(self._ensure)
        fut = self.send_and_receive_async(destination, payload, reply_type=reply_type, timeout=timeout)
        return await asyncio.wrap_future(fut)
