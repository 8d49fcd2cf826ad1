"""Send flavours of the template: blocking, future/callback, awaitable, one-way, batch, timer.

Blocking methods (``send``, ``send_batch``, ``send_orderly``, ``send_oneway``) are safe from any
thread; ``send_async`` returns a :class:`concurrent.futures.Future` (optionally calling a
:class:`SendCallback`), ``asend`` is awaitable from any event loop. ``send_delayed``/``send_at``
send timer messages (an arbitrary delay or deliver time, not a fixed delay level).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from broker_core.message.model import Message
from broker_core.message.properties import MessageConst
from rocketmq_integration.client.producer import Producer
from rocketmq_integration.client.results import SendResult
from rocketmq_integration.client.timer import deliver_after, deliver_at
from rocketmq_integration.errors import UnsupportedFeatureError, ValidationError
from rocketmq_integration.listeners.outcomes import delay_to_level
from rocketmq_integration.logging import get_logger
from rocketmq_integration.template.core import TemplateCore
from rocketmq_integration.template.loop_hop import LoopHop

__all__ = ["SendCallback", "SendingOps"]


log = get_logger(__name__)


class SendCallback(Protocol):
    """Callback of :meth:`RocketMQTemplate.send_async` (Spring ``SendCallback``)."""

    def on_success(self, result: SendResult) -> None:
        """The send was stored."""

    def on_exception(self, exc: BaseException) -> None:
        """The send failed after the producer's retries."""


class SendingOps(TemplateCore):
    """The send methods of :class:`~rocketmq_integration.template.RocketMQTemplate`."""

    def send(
        self,
        destination: str,
        payload: Any,
        *,
        keys: str | Sequence[str] | None = None,
        headers: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        delay_level: int = 0,
        hash_key: str | None = None,
    ) -> SendResult:
        """Send one message and wait for the broker's answer (Spring ``syncSend``).

        ``hash_key`` picks the queue by hash (ordered per key); ``delay_level`` is a fixed
        broker delay level (1..18 with the default ``messageDelayLevel``).
        """
        msg = self.build_message(destination, payload, keys=keys, headers=headers, delay_level=delay_level)
        return self._wait(lambda p: self._send_coro(p, msg, timeout, hash_key), timeout)

    def send_orderly(
        self,
        destination: str,
        payload: Any,
        hash_key: str,
        *,
        keys: str | Sequence[str] | None = None,
        headers: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        delay_level: int = 0,
    ) -> SendResult:
        """Send to the queue selected by ``hash_key`` (Spring ``syncSendOrderly``)."""
        return self.send(
            destination, payload, keys=keys, headers=headers, timeout=timeout, delay_level=delay_level,
            hash_key=hash_key,
        )  # fmt: skip

    def send_batch(
        self,
        destination: str,
        payloads: Iterable[Any],
        *,
        keys: str | Sequence[str] | None = None,
        headers: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> SendResult:
        """Send payloads (or Messages) to one topic as one batch; ``msg_id`` is comma-joined."""
        msgs = [self.build_message(destination, p, keys=keys, headers=headers) for p in payloads]
        if not msgs:
            raise ValidationError("send_batch needs at least one payload")
        return self._wait(lambda p: p.send_batch(msgs, timeout or self.send_timeout), timeout)

    def send_oneway(
        self,
        destination: str,
        payload: Any,
        *,
        keys: str | Sequence[str] | None = None,
        headers: Mapping[str, Any] | None = None,
        hash_key: str | None = None,
    ) -> None:
        """Fire and forget (Spring ``sendOneWay``/``sendOneWayOrderly``): no answer, no retry."""
        msg = self.build_message(destination, payload, keys=keys, headers=headers)

        async def go(p: Producer) -> None:
            if hash_key is None:
                await p.send_oneway(msg)
            else:
                await p.send_orderly(msg, hash_key, self.send_timeout)

        self._wait(go, None)

    def send_async(
        self,
        destination: str,
        payload: Any,
        *,
        callback: SendCallback | None = None,
        keys: str | Sequence[str] | None = None,
        headers: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        delay_level: int = 0,
        hash_key: str | None = None,
    ) -> concurrent.futures.Future[SendResult]:
        """Send without blocking; the future (and ``callback``) completes on the loop thread."""
        msg = self.build_message(destination, payload, keys=keys, headers=headers, delay_level=delay_level)
        future = self._submit(lambda p: self._send_coro(p, msg, timeout, hash_key))
        if callback is not None:

            def done(f: concurrent.futures.Future[SendResult]) -> None:
                exc = f.exception()
                if exc is None:
                    callback.on_success(f.result())
                else:
                    callback.on_exception(exc)

            future.add_done_callback(done)
        return future

    async def asend(
        self,
        destination: str,
        payload: Any,
        *,
        keys: str | Sequence[str] | None = None,
        headers: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        delay_level: int = 0,
        hash_key: str | None = None,
    ) -> SendResult:
        """``send`` for asyncio code, on any event loop (awaits the template's loop)."""
        msg = self.build_message(destination, payload, keys=keys, headers=headers, delay_level=delay_level)
        thread = self._thread
        if thread is not None and asyncio.get_running_loop() is thread.loop and self._producer is not None:
            return await self._send_coro(self._producer, msg, timeout, hash_key)
        producer = self._producer
        if thread is None or producer is None or self._pid != os.getpid():
            await asyncio.to_thread(self._ensure)
            thread, producer = self._ensure()
        hop = self._hop
        if hop is None or hop.target is not thread.loop:
            hop = self._hop = LoopHop(thread.loop)
        return await hop.submit(lambda: self._send_coro(producer, msg, timeout, hash_key))

    async def _send_coro(
        self, producer: Producer, msg: Message, timeout: float | None, hash_key: str | None
    ) -> SendResult:
        t = timeout or self.send_timeout
        if hash_key is not None:
            return await producer.send_orderly(msg, hash_key, t)
        return await producer.send(msg, t)

    def convert_and_send(
        self,
        destination: str,
        payload: Any,
        headers: Mapping[str, Any] | None = None,
        post_processor: Callable[[Message], Message] | None = None,
    ) -> SendResult:
        """Spring ``convertAndSend``: convert, let ``post_processor`` adjust the Message, send."""
        msg = self.build_message(destination, payload, headers=headers)
        if post_processor is not None:
            msg = post_processor(msg)
        return self._wait(lambda p: self._send_coro(p, msg, None, None), None)

    def send_delayed(
        self,
        destination: str,
        payload: Any,
        delay: float | dt.timedelta,
        *,
        keys: str | Sequence[str] | None = None,
        headers: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        hash_key: str | None = None,
        nearest_delay_level: bool = False,
    ) -> SendResult:
        """Deliver after an arbitrary ``delay`` (seconds or timedelta) — a timer message, not a level.

        Timer messages need RocketMQ >= 5.0 (a 4.x broker would deliver at once): against an older
        broker this raises :class:`~rocketmq_integration.errors.UnsupportedFeatureError`, unless
        ``nearest_delay_level`` is set, which sends with the smallest delay level not shorter than
        ``delay`` instead (default levels ``1s 5s 10s 30s 1m ... 2h``).
        """
        seconds = delay.total_seconds() if isinstance(delay, dt.timedelta) else float(delay)
        msg = deliver_after(self.build_message(destination, payload, keys=keys, headers=headers), seconds)
        return self._send_timer(msg, seconds, timeout, hash_key, nearest_delay_level)

    def send_at(
        self,
        destination: str,
        payload: Any,
        deliver_at_time: dt.datetime | float,
        *,
        keys: str | Sequence[str] | None = None,
        headers: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        hash_key: str | None = None,
        nearest_delay_level: bool = False,
    ) -> SendResult:
        """Deliver at an absolute time (aware datetime, or epoch seconds); RocketMQ >= 5.0, see
        :meth:`send_delayed` for ``nearest_delay_level``."""
        when = (
            deliver_at_time.timestamp()
            if isinstance(deliver_at_time, dt.datetime)
            else float(deliver_at_time)
        )
        msg = deliver_at(self.build_message(destination, payload, keys=keys, headers=headers), when)
        return self._send_timer(msg, when - time.time(), timeout, hash_key, nearest_delay_level)

    def _send_timer(
        self, msg: Message, seconds: float, timeout: float | None, hash_key: str | None, fallback: bool
    ) -> SendResult:
        async def go(p: Producer) -> SendResult:
            try:
                return await self._send_coro(p, msg, timeout, hash_key)
            except UnsupportedFeatureError:
                if not fallback:
                    raise
            msg.properties.pop(MessageConst.TIMER_DELAY_MS, None)
            msg.properties.pop(MessageConst.TIMER_DELIVER_MS, None)
            msg.delay_time_level = delay_to_level(max(0.0, seconds))
            log.info(
                "timer messages unsupported; sent with the nearest delay level", level=msg.delay_time_level
            )
            return await self._send_coro(p, msg, timeout, hash_key)

        return self._wait(go, timeout)
