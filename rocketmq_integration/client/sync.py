"""Blocking facade: :class:`SyncProducer` and :class:`SyncPushConsumer` for code without an event loop.

Both run the async client on :class:`EventLoopThread`, the one place in this package where a
thread owns an event loop. The producer is fork-safe: each call checks the process id and, in a
child process, builds a fresh loop thread and producer instead of touching the parent's sockets
(the parent's thread does not exist in the child).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

from broker_core import eventloop
from broker_core.message.model import Message, MessageQueue
from rocketmq_integration.client.config import ClientConfig, ConsumerConfig, ListenerKind, ProducerConfig
from rocketmq_integration.client.consume_service import Listener
from rocketmq_integration.client.consumer import PushConsumer
from rocketmq_integration.client.producer import Producer
from rocketmq_integration.client.results import SendResult
from rocketmq_integration.errors import MQClientError

__all__ = ["EventLoopThread", "SyncProducer", "SyncPushConsumer"]

T = TypeVar("T")


class EventLoopThread:
    """A daemon thread running an asyncio loop; :meth:`run` executes a coroutine on it and blocks.

    The loop is uvloop when it is installed, unless ``ROCKETMQ_EVENT_LOOP`` / ``ROCKETMQ_PURE_PYTHON``
    say otherwise (:mod:`broker_core.eventloop`).
    """

    def __init__(self, name: str = "rocketmq-loop") -> None:
        self.pid = os.getpid()
        self.loop = eventloop.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()
        self._ready.wait()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._ready.set)
        self.loop.run_forever()
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()

    @property
    def alive(self) -> bool:
        return self.pid == os.getpid() and self._thread.is_alive()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and wait for its result (``timeout`` seconds; None = forever)."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise MQClientError("blocking call from the client's own event loop thread would deadlock")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        if self.alive:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5.0)


class SyncProducer:
    """Blocking :class:`~rocketmq_integration.client.producer.Producer`; same arguments.

    The async producer is started lazily on first use (or by :meth:`start`).
    """

    def __init__(
        self,
        group: str,
        *,
        namesrv_addr: str | None = None,
        client_config: ClientConfig | None = None,
        config: ProducerConfig | None = None,
    ) -> None:
        self._factory: Callable[[], Producer] = lambda: Producer(
            group, namesrv_addr=namesrv_addr, client_config=client_config, config=config
        )
        self._lock = threading.Lock()
        self._lock_pid = os.getpid()
        self._thread: EventLoopThread | None = None
        self._producer: Producer | None = None
        self._closed = False

    def _get_lock(self) -> threading.Lock:
        # A lock held by another parent thread at fork time stays locked forever in the child.
        if self._lock_pid != os.getpid():
            self._lock, self._lock_pid = threading.Lock(), os.getpid()
        return self._lock

    def _ensure(self) -> tuple[EventLoopThread, Producer]:
        with self._get_lock():
            if self._closed:
                raise MQClientError("producer is shut down")
            if self._thread is None or self._producer is None or self._thread.pid != os.getpid():
                # first use, or we are a forked child: never reuse the parent's loop or sockets
                thread = EventLoopThread("rocketmq-producer")
                producer = self._factory()
                thread.run(producer.start())
                self._thread, self._producer = thread, producer
            return self._thread, self._producer

    def _call(self, make: Callable[[Producer], Awaitable[T]], timeout: float | None) -> T:
        thread, producer = self._ensure()

        async def call() -> T:
            return await make(producer)

        wait = None if timeout is None else timeout + 5.0
        return thread.run(call(), wait)

    def start(self) -> None:
        self._ensure()

    def send(self, msg: Message, timeout: float | None = None) -> SendResult:
        return self._call(lambda p: p.send(msg, timeout), timeout or 60.0)

    def send_oneway(self, msg: Message) -> None:
        self._call(lambda p: p.send_oneway(msg), 60.0)

    def send_batch(self, msgs: Sequence[Message], timeout: float | None = None) -> SendResult:
        return self._call(lambda p: p.send_batch(msgs, timeout), timeout or 60.0)

    def send_to_queue(self, msg: Message, mq: MessageQueue, timeout: float | None = None) -> SendResult:
        return self._call(lambda p: p.send_to_queue(msg, mq, timeout), timeout or 60.0)

    def send_orderly(self, msg: Message, sharding_key: str, timeout: float | None = None) -> SendResult:
        return self._call(lambda p: p.send_orderly(msg, sharding_key, timeout), timeout or 60.0)

    def shutdown(self) -> None:
        with self._get_lock():
            self._closed = True
            thread, producer = self._thread, self._producer
            self._thread = self._producer = None
        if thread is not None and producer is not None and thread.pid == os.getpid():
            try:
                thread.run(producer.shutdown(), 30.0)
            finally:
                thread.stop()

    def __enter__(self) -> SyncProducer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


class SyncPushConsumer:
    """A :class:`~rocketmq_integration.client.consumer.PushConsumer` running on a background loop thread.

    Configure with :meth:`subscribe` and :meth:`register_listener` (sync listeners run in the
    consumer's thread pool, async ones on the loop), then :meth:`start` / :meth:`shutdown`.
    """

    def __init__(
        self,
        group: str,
        *,
        namesrv_addr: str | None = None,
        client_config: ClientConfig | None = None,
        config: ConsumerConfig | None = None,
    ) -> None:
        self._consumer = PushConsumer(
            group, namesrv_addr=namesrv_addr, client_config=client_config, config=config
        )
        self._thread: EventLoopThread | None = None

    @property
    def consumer(self) -> PushConsumer:
        return self._consumer

    def subscribe(self, topic: str, expression: str = "*") -> None:
        """Subscribe (also allowed while running: the change is applied on the loop thread)."""
        if self._thread is None:
            self._consumer.subscribe(topic, expression)
        else:
            self._thread.loop.call_soon_threadsafe(self._consumer.subscribe, topic, expression)

    def register_listener(self, fn: Listener, kind: ListenerKind = ListenerKind.CONCURRENTLY) -> None:
        self._consumer.register_listener(fn, kind)

    def start(self) -> None:
        if self._thread is not None:
            raise MQClientError("consumer already started")
        self._thread = EventLoopThread("rocketmq-consumer")
        try:
            self._thread.run(self._consumer.start(), 60.0)
        except BaseException:
            self._thread.stop()
            self._thread = None
            raise

    def shutdown(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        try:
            thread.run(self._consumer.shutdown(), self._consumer.config.shutdown_timeout + 30.0)
        finally:
            thread.stop()

    def __enter__(self) -> SyncPushConsumer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
