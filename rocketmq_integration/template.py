"""``RocketMQTemplate``: the one-object send API of the framework layer (rocketmq-spring parity).

Every method takes a ``destination`` written ``topic`` or ``topic:tag`` (split on the first ``:``),
converts the payload with the template's :class:`~rocketmq_integration.converters.MessageConverter`
(``contentType`` user property set), maps ``headers`` to user properties and ``keys`` to the
``KEYS`` property. Blocking methods (``send``, ``send_batch``, ``send_orderly``, ``send_oneway``)
are safe from any thread; ``send_async`` returns a :class:`concurrent.futures.Future` (optionally
calling a :class:`SendCallback`), ``asend`` is awaitable from any event loop.

Why a private loop thread: the async :class:`~rocketmq_integration.client.Producer` must live on
one loop, while callers are Django views, Celery tasks, threads or foreign loops. The template
starts the producer lazily on first use and re-creates loop and producer in a forked child
(gunicorn/Celery prefork), never touching the parent's sockets.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import functools
import os
import threading
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

from broker_core.message.model import Message, MessageExt
from broker_core.message.properties import MessageConst
from rocketmq_integration.client.config import ClientConfig, ProducerConfig
from rocketmq_integration.client.pop_consumer import PopConsumer
from rocketmq_integration.client.producer import Producer
from rocketmq_integration.client.request_reply import request
from rocketmq_integration.client.results import SendResult
from rocketmq_integration.client.sending import set_uniq_id
from rocketmq_integration.client.sync import EventLoopThread
from rocketmq_integration.client.timer import deliver_after, deliver_at
from rocketmq_integration.client.transaction import TransactionProducer, TransactionSendResult
from rocketmq_integration.converters import CONTENT_TYPE_PROPERTY, MessageConverter, get_converter
from rocketmq_integration.errors import MQClientError, ValidationError
from rocketmq_integration.transactions import TransactionListenerRegistry, default_transaction_registry

__all__ = ["ReceivedMessage", "RocketMQTemplate", "SendCallback", "parse_destination"]

T = TypeVar("T")

#: header names with a meaning of their own (everything else becomes a user property)
_KEYS_HEADERS = ("KEYS", "rocketmq_KEYS")
_FLAG_HEADERS = ("FLAG", "rocketmq_FLAG")
_WAIT_HEADERS = ("WAIT_STORE_MSG_OK", "rocketmq_WAIT_STORE_MSG_OK")


def parse_destination(destination: str) -> tuple[str, str]:
    """``"topic:tag"`` -> ``("topic", "tag")``; ``"topic"`` -> ``("topic", "")``."""
    if not destination or not destination.strip():
        raise ValidationError("destination must be 'topic' or 'topic:tag'")
    topic, _, tag = destination.partition(":")
    if not topic:
        raise ValidationError(f"destination {destination!r} has no topic")
    return topic, tag


class SendCallback(Protocol):
    """Callback of :meth:`RocketMQTemplate.send_async` (Spring ``SendCallback``)."""

    def on_success(self, result: SendResult) -> None:
        """The send was stored."""

    def on_exception(self, exc: BaseException) -> None:
        """The send failed after the producer's retries."""


class _LoopHop:
    """Runs coroutines on the template's loop for callers on other loops, coalescing wake-ups.

    ``run_coroutine_threadsafe`` + ``wrap_future`` cost two self-pipe writes and two GIL hand-offs
    per call; with many ``asend`` calls in flight that dominates. Here a burst of submissions wakes
    the template loop once, and a burst of results wakes each caller loop once.
    """

    def __init__(self, target: asyncio.AbstractEventLoop) -> None:
        self.target = target
        self._lock = threading.Lock()
        self._inbox: list[tuple[Callable[[], Coroutine[Any, Any, Any]], asyncio.Future[Any]]] = []
        self._inbox_scheduled = False
        self._outboxes: dict[
            asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any, BaseException | None]]
        ] = {}

    def submit(self, make: Callable[[], Coroutine[Any, Any, T]]) -> asyncio.Future[T]:
        """Schedule ``make()`` on the target loop; the returned future belongs to the running loop."""
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        with self._lock:
            self._inbox.append((make, fut))
            wake = not self._inbox_scheduled
            self._inbox_scheduled = True
        if wake:
            self.target.call_soon_threadsafe(self._drain)
        return fut

    def _drain(self) -> None:
        with self._lock:
            items, self._inbox = self._inbox, []
            self._inbox_scheduled = False
        for make, fut in items:
            task = self.target.create_task(make())
            task.add_done_callback(functools.partial(self._finish, fut))

    def _finish(self, fut: asyncio.Future[Any], task: asyncio.Task[Any]) -> None:
        result: Any = None
        error: BaseException | None
        if task.cancelled():
            error = asyncio.CancelledError()
        else:
            error = task.exception()
            result = None if error is not None else task.result()
        loop = fut.get_loop()
        with self._lock:
            box = self._outboxes.get(loop)
            wake = box is None
            if box is None:
                box = self._outboxes[loop] = []
            box.append((fut, result, error))
        if wake:
            try:
                loop.call_soon_threadsafe(self._deliver, loop)
            except RuntimeError:  # the caller's loop is closed: nobody waits any more
                with self._lock:
                    self._outboxes.pop(loop, None)

    def _deliver(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            box = self._outboxes.pop(loop, [])
        for fut, result, error in box:
            if fut.done():
                continue
            if error is not None:
                fut.set_exception(error)
            else:
                fut.set_result(result)


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """A message leased by :meth:`RocketMQTemplate.receive`; ack it before ``invisible_duration``
    runs out or it is delivered again."""

    payload: Any
    message: MessageExt
    receipt_handle: str
    group: str
    topic: str
    expression: str

    @property
    def msg_id(self) -> str:
        """The client msg id."""
        return self.message.msg_id


class RocketMQTemplate:
    """Sends converted payloads; see the module docstring.

    Args:
        producer_group: group of the template's producer.
        namesrv_addr: NameServer list (``;``-separated); overrides ``client_config``.
        client_config: connection settings.
        producer_config: producer settings (retries, compression, max size).
        converter: converter instance or name (``default``, ``json``, ``str``, ``bytes``).
        send_timeout: default timeout of every send, in seconds.
        name: the template's name in a multi-cluster setup (see ``containers.get_template``).
    """

    def __init__(
        self,
        producer_group: str = "rocketmq_template",
        *,
        namesrv_addr: str | None = None,
        client_config: ClientConfig | None = None,
        producer_config: ProducerConfig | None = None,
        converter: MessageConverter | str | None = None,
        send_timeout: float = 3.0,
        name: str = "default",
    ) -> None:
        self.name = name
        self.producer_group = producer_group
        self.namesrv_addr = namesrv_addr
        self.client_config = client_config
        self.producer_config = producer_config
        self.converter = get_converter(converter)
        self.send_timeout = send_timeout
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._thread: EventLoopThread | None = None
        self._producer: Producer | None = None
        self._closed = False
        self._tx_producers: dict[str, TransactionProducer] = {}
        self._pop_consumers: dict[tuple[str, str, str], PopConsumer] = {}
        self._hop: _LoopHop | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start the producer now (otherwise it starts on the first send)."""
        self._ensure()

    def close(self) -> None:
        """Shut the producer down and stop the loop thread. Idempotent."""
        with self._lock:
            self._closed = True
            thread, producer = self._thread, self._producer
            self._thread = self._producer = None
            tx, self._tx_producers = list(self._tx_producers.values()), {}
            pops, self._pop_consumers = list(self._pop_consumers.values()), {}
        if thread is not None and producer is not None and thread.pid == os.getpid():
            try:
                for p in tx:
                    thread.run(p.shutdown(), 30.0)
                for c in pops:
                    thread.run(c.shutdown(), 30.0)
                thread.run(producer.shutdown(), 30.0)
            finally:
                thread.stop()

    destroy = close

    def __enter__(self) -> RocketMQTemplate:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def producer(self) -> Producer:
        """The underlying async producer (started)."""
        return self._ensure()[1]

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop the producer runs on."""
        return self._ensure()[0].loop

    def _ensure(self) -> tuple[EventLoopThread, Producer]:
        if self._pid != os.getpid():  # forked child: fresh lock, loop and producer
            self._lock, self._pid = threading.Lock(), os.getpid()
            self._thread = self._producer = None
            self._tx_producers = {}
            self._pop_consumers = {}
        with self._lock:
            if self._closed:
                raise MQClientError(f"template {self.name!r} is closed")
            if self._thread is None or self._producer is None:
                thread = EventLoopThread(f"rocketmq-template-{self.name}")
                producer = Producer(
                    self.producer_group,
                    namesrv_addr=self.namesrv_addr,
                    client_config=self.client_config,
                    config=self.producer_config,
                )
                try:
                    thread.run(producer.start(), 60.0)
                except BaseException:
                    thread.stop()
                    raise
                self._thread, self._producer = thread, producer
            return self._thread, self._producer

    def _submit(self, make: Callable[[Producer], Coroutine[Any, Any, T]]) -> concurrent.futures.Future[T]:
        thread, producer = self._thread, self._producer
        if thread is None or producer is None or self._pid != os.getpid():  # the lock only when needed
            thread, producer = self._ensure()
        return asyncio.run_coroutine_threadsafe(make(producer), thread.loop)

    def _wait(self, make: Callable[[Producer], Coroutine[Any, Any, T]], timeout: float | None) -> T:
        thread = self._ensure()[0]
        if threading.current_thread() is thread._thread:
            raise MQClientError("blocking template call from the template's own loop; use asend()")
        return self._submit(make).result((timeout or self.send_timeout) + 5.0)

    # ------------------------------------------------------------------ building messages

    def build_message(
        self,
        destination: str,
        payload: Any,
        *,
        keys: str | Sequence[str] | None = None,
        headers: Mapping[str, Any] | None = None,
        delay_level: int = 0,
    ) -> Message:
        """Convert ``payload`` into a :class:`Message` for ``destination``.

        A :class:`Message` payload is copied, retargeted to the destination's topic/tag, and keeps
        its ``UNIQ_KEY`` msg id (assigned to the original on first use), so sending the same object
        twice is a duplicate that idempotent listeners recognise.
        """
        topic, tag = parse_destination(destination)
        if isinstance(payload, Message):
            set_uniq_id(payload)  # re-sending the same Message object is a re-send of the same msg id
            msg = Message(topic, payload.body, payload.flag, dict(payload.properties))
        else:
            body, content_type = self.converter.to_message(payload)
            msg = Message(topic, body, properties={CONTENT_TYPE_PROPERTY: content_type})
        if tag:
            msg.tags = tag
        for name, value in (headers or {}).items():
            if value is None:
                continue
            if name in _KEYS_HEADERS:
                msg.keys = value if isinstance(value, str) else tuple(str(v) for v in value)
            elif name in _FLAG_HEADERS:
                msg.flag = int(value)
            elif name in _WAIT_HEADERS:
                msg.properties[MessageConst.WAIT] = "true" if value else "false"
            else:
                msg.properties[str(name)] = str(value)
        if keys:
            msg.keys = keys if isinstance(keys, str) else tuple(keys)
        if delay_level:
            if delay_level < 0:
                raise ValidationError(f"delay_level must be >= 0, got {delay_level}")
            msg.delay_time_level = delay_level
        return msg

    # ------------------------------------------------------------------ sending

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
            hop = self._hop = _LoopHop(thread.loop)
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

    # ------------------------------------------------------------------ timer messages

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
    ) -> SendResult:
        """Deliver after an arbitrary ``delay`` (seconds or timedelta) — a timer message, not a level."""
        seconds = delay.total_seconds() if isinstance(delay, dt.timedelta) else float(delay)
        msg = deliver_after(self.build_message(destination, payload, keys=keys, headers=headers), seconds)
        return self._wait(lambda p: self._send_coro(p, msg, timeout, hash_key), timeout)

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
    ) -> SendResult:
        """Deliver at an absolute time (aware datetime, or epoch seconds)."""
        when = (
            deliver_at_time.timestamp()
            if isinstance(deliver_at_time, dt.datetime)
            else float(deliver_at_time)
        )
        msg = deliver_at(self.build_message(destination, payload, keys=keys, headers=headers), when)
        return self._wait(lambda p: self._send_coro(p, msg, timeout, hash_key), timeout)

    # ------------------------------------------------------------------ request-reply

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

    # ------------------------------------------------------------------ transactions

    def send_in_transaction(
        self,
        destination: str,
        payload: Any,
        arg: Any = None,
        *,
        producer_group: str | None = None,
        keys: str | Sequence[str] | None = None,
        headers: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        registry: TransactionListenerRegistry | None = None,
    ) -> TransactionSendResult:
        """Send a half message and run the routed transaction listener (see ``transactions``).

        The listener is chosen by ``producer_group``, else by the destination topic, else the
        template's only listener; ``arg`` is passed to ``execute_local_transaction``.

        Raises:
            MQClientError: no (or an ambiguous) transaction listener for this send.
        """
        reg = registry if registry is not None else default_transaction_registry
        msg = self.build_message(destination, payload, keys=keys, headers=headers)
        spec = reg.route(self.name, msg.topic, producer_group)

        async def go(_p: Producer) -> TransactionSendResult:
            tx = self._tx_producers.get(spec.producer_group)
            if tx is None:
                tx = TransactionProducer(
                    spec.producer_group,
                    reg.adapter(spec, self.converter),
                    namesrv_addr=self.namesrv_addr,
                    client_config=self.client_config,
                    config=self.producer_config,
                )
                await tx.start()
                self._tx_producers[spec.producer_group] = tx
            return await tx.send_message_in_transaction(msg, arg, timeout or self.send_timeout)

        return self._wait(go, timeout)

    # ------------------------------------------------------------------ pull-style receive / ack (POP)

    async def _pop_consumer(self, group: str, topic: str, expression: str) -> PopConsumer:
        key = (group, topic, expression)
        consumer = self._pop_consumers.get(key)
        if consumer is None:
            consumer = PopConsumer(
                group,
                topic,
                namesrv_addr=self.namesrv_addr,
                expression=expression,
                client_config=self.client_config,
            )
            await consumer.start()
            self._pop_consumers[key] = consumer
        return consumer

    def receive(
        self,
        topic: str,
        *,
        group: str,
        expression: str = "*",
        max_messages: int = 16,
        invisible_duration: float = 30.0,
        wait: float = 5.0,
        payload_type: Any = None,
    ) -> list[ReceivedMessage]:
        """Lease up to ``max_messages`` (long-polling up to ``wait`` s); each must be :meth:`ack` ed.

        Uses the broker's POP protocol: the broker keeps the position, unacknowledged messages come
        back after ``invisible_duration``. Payloads are converted to ``payload_type``.
        """

        async def go(_p: Producer) -> list[ReceivedMessage]:
            consumer = await self._pop_consumer(group, topic, expression)
            popped = await consumer.receive(max_messages, invisible_duration, wait)
            return [
                ReceivedMessage(
                    self.converter.from_message(
                        m.body, m.properties.get(CONTENT_TYPE_PROPERTY), payload_type
                    ),
                    m,
                    handle,
                    group,
                    topic,
                    expression,
                )  # fmt: skip
                for m, handle in popped
            ]

        return self._wait(go, wait + 10.0)

    def ack(self, received: ReceivedMessage) -> None:
        """Acknowledge a received message (MQBrokerError if its lease already expired)."""

        async def go(_p: Producer) -> None:
            consumer = await self._pop_consumer(received.group, received.topic, received.expression)
            await consumer.ack(received.receipt_handle)

        self._wait(go, None)

    def change_invisible_duration(self, received: ReceivedMessage, duration: float) -> ReceivedMessage:
        """Extend (or shorten; 0 = redeliver now) the lease; returns the message with its new handle."""

        async def go(_p: Producer) -> ReceivedMessage:
            consumer = await self._pop_consumer(received.group, received.topic, received.expression)
            handle = await consumer.change_invisible_time(received.receipt_handle, duration)
            return replace(received, receipt_handle=handle)

        return self._wait(go, None)

    # ------------------------------------------------------------------ Spring-parity aliases

    def sync_send(self, destination: str, payload: Any, timeout: float | None = None) -> SendResult:
        """Alias of :meth:`send` (Spring ``syncSend``)."""
        return self.send(destination, payload, timeout=timeout)

    def sync_send_orderly(
        self, destination: str, payload: Any, hash_key: str, timeout: float | None = None
    ) -> SendResult:
        """Alias of :meth:`send_orderly` (Spring ``syncSendOrderly``)."""
        return self.send_orderly(destination, payload, hash_key, timeout=timeout)

    def async_send(
        self, destination: str, payload: Any, callback: SendCallback, timeout: float | None = None
    ) -> None:
        """Spring ``asyncSend``: result delivered to ``callback`` only."""
        self.send_async(destination, payload, callback=callback, timeout=timeout)

    def async_send_orderly(
        self,
        destination: str,
        payload: Any,
        hash_key: str,
        callback: SendCallback,
        timeout: float | None = None,
    ) -> None:
        """Spring ``asyncSendOrderly``."""
        self.send_async(destination, payload, callback=callback, timeout=timeout, hash_key=hash_key)

    def sync_send_delay_time_seconds(self, destination: str, payload: Any, delay: float) -> SendResult:
        """Spring ``syncSendDelayTimeSeconds``."""
        return self.send_delayed(destination, payload, delay)

    def sync_send_delay_time_mills(self, destination: str, payload: Any, delay_ms: int) -> SendResult:
        """Spring ``syncSendDelayTimeMills``."""
        return self.send_delayed(destination, payload, delay_ms / 1000.0)

    def sync_send_deliver_time_mills(self, destination: str, payload: Any, deliver_ms: int) -> SendResult:
        """Spring ``syncSendDeliverTimeMills``."""
        return self.send_at(destination, payload, deliver_ms / 1000.0)

    def send_message_in_transaction(
        self, destination: str, payload: Any, arg: Any = None
    ) -> TransactionSendResult:
        """Spring ``sendMessageInTransaction``."""
        return self.send_in_transaction(destination, payload, arg)

    def send_one_way(self, destination: str, payload: Any) -> None:
        """Alias of :meth:`send_oneway` (Spring ``sendOneWay``)."""
        self.send_oneway(destination, payload)

    def send_one_way_orderly(self, destination: str, payload: Any, hash_key: str) -> None:
        """Spring ``sendOneWayOrderly``."""
        self.send_oneway(destination, payload, hash_key=hash_key)
