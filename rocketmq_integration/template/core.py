"""The template's shared core: configuration, the private loop thread, the lazy producer, forks.

Why a private loop thread: the async :class:`~rocketmq_integration.client.Producer` must live on
one loop, while callers are Django views, Celery tasks, threads or foreign loops. The template
starts the producer lazily on first use and re-creates loop and producer in a forked child
(gunicorn/Celery prefork), never touching the parent's sockets.

:class:`TemplateCore` also owns the state of the optional helpers (transaction producers, POP
consumers, the loop hop) so that :meth:`TemplateCore.close` and the fork check reset all of it in
one place; the send flavours in the sibling modules build on :meth:`TemplateCore._submit` and
:meth:`TemplateCore._wait`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, Self, TypeVar

from broker_core.message.model import Message
from rocketmq_integration.client.config import ClientConfig, ProducerConfig
from rocketmq_integration.client.pop_consumer import PopConsumer
from rocketmq_integration.client.producer import Producer
from rocketmq_integration.client.sync import EventLoopThread
from rocketmq_integration.client.transaction import TransactionProducer
from rocketmq_integration.converters import MessageConverter, get_converter
from rocketmq_integration.errors import MQClientError
from rocketmq_integration.template.loop_hop import LoopHop
from rocketmq_integration.template.messages import build_message

__all__ = ["TemplateCore"]

T = TypeVar("T")


class TemplateCore:
    """Life cycle and loop plumbing of :class:`~rocketmq_integration.template.RocketMQTemplate`.

    Args:
        producer_group: group of the template's producer.
        namesrv_addr: NameServer list (``;``-separated); overrides ``client_config``.
        client_config: connection settings.
        producer_config: producer settings (retries, compression, max size).
        converter: converter instance or name (``default``, ``json``, ``str``, ``bytes``).
        send_timeout: default timeout of every send, in seconds.
        name: the template's name in a multi-cluster setup (see ``containers.get_template``).
        access_channel: ``"remoting"`` (default) or ``"grpc"``: send through a 5.x gRPC endpoint
            (``endpoints``) with :class:`~rocketmq_integration.client.grpc_producer.GrpcProducer`.
        endpoints: ``host:port`` of the gRPC endpoint (``access_channel="grpc"``).
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
        access_channel: str = "remoting",
        endpoints: str | None = None,
    ) -> None:
        if access_channel not in ("remoting", "grpc"):
            raise ValueError(f"access_channel must be 'remoting' or 'grpc', not {access_channel!r}")
        if access_channel == "grpc" and not endpoints:
            raise ValueError("access_channel='grpc' needs endpoints='host:port'")
        self.access_channel = access_channel
        self.endpoints = endpoints
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
        self._hop: LoopHop | None = None

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

    def __enter__(self) -> Self:
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
                producer = self._new_producer()
                try:
                    thread.run(producer.start(), 60.0)
                except BaseException:
                    thread.stop()
                    raise
                self._thread, self._producer = thread, producer
            return self._thread, self._producer

    def _new_producer(self) -> Producer:
        if self.access_channel == "grpc":
            from rocketmq_integration.client.grpc_producer import GrpcProducer

            assert self.endpoints is not None
            return GrpcProducer(
                self.producer_group,
                endpoints=self.endpoints,
                client_config=self.client_config,
                config=self.producer_config,
            )
        return Producer(
            self.producer_group,
            namesrv_addr=self.namesrv_addr,
            client_config=self.client_config,
            config=self.producer_config,
        )

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
        """Convert ``payload`` into a :class:`Message` for ``destination`` (see ``messages``)."""
        return build_message(
            self.converter, destination, payload, keys=keys, headers=headers, delay_level=delay_level
        )
