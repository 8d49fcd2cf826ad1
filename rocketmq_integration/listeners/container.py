"""``ListenerContainer``: one :class:`~rocketmq_integration.client.PushConsumer` per listener spec.

The container turns raw message batches into handler calls:

1. with ``idempotent`` set, messages whose dedupe key is already claimed are acknowledged unseen;
2. bodies are converted to ``payload_type``; a :class:`~rocketmq_integration.errors.ConversionError`
   is logged with the msg id and the message goes to the retry path (then the DLQ) — never lost,
   never crashing the container;
3. the handler runs — sync handlers (with steps 1-2) in a pool of exactly ``concurrency`` threads
   (the one knob that really sizes the worker pool), async ones on the loop — wrapped by the
   middleware chain and with the structlog context (``topic``, ``group``, ``msg_id``,
   ``queue_id``) bound;
4. a reply listener's non-``None`` return value is converted and sent back to the requester
   (``send_and_receive``) within ``reply_timeout``;
5. the outcome is settled: success acknowledges; :class:`DiscardMessage` acknowledges with a
   warning; :class:`SendToDeadLetter` sends the message back with level -1 (straight to
   ``%DLQ%<group>``); :class:`ReconsumeLater` with a level (or ``delay_level_when_next_consume``)
   sends it back with that level; anything else is RECONSUME_LATER for the client's default
   send-back. ORDERLY listeners instead suspend the queue for ``suspend_current_queue_time`` (or
   the ``duration`` of a :class:`SuspendQueue`, handed to the client as
   :class:`~rocketmq_integration.client.results.SuspendCurrentQueue`) and retry the same message
   in place (order is kept), except for SendToDeadLetter.

:meth:`ListenerContainer.stop` stops pulling, lets in-flight and already-fetched messages finish
(up to ``await_termination_when_shutdown``), commits offsets synchronously and unregisters — so a
restarted container does not see acknowledged messages again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from broker_core.message.model import MessageExt
from broker_core.message.properties import MessageConst
from rocketmq_integration.client.config import (
    ClientConfig,
    ConsumeFromWhere,
    ConsumerConfig,
    ListenerKind,
)
from rocketmq_integration.client.consumer import PushConsumer
from rocketmq_integration.client.producer import Producer
from rocketmq_integration.client.request_reply import reply
from rocketmq_integration.client.results import ConsumeResult, ListenerResult, SuspendCurrentQueue
from rocketmq_integration.client.sync import EventLoopThread
from rocketmq_integration.converters import CONTENT_TYPE_PROPERTY, MessageConverter, get_converter
from rocketmq_integration.errors import ClientError, ConversionError, ListenerConfigError, MQClientError
from rocketmq_integration.idempotency import IdempotencyStore
from rocketmq_integration.listeners.decorators import ConsumeMode, Handler, ListenerSpec, MessageContext
from rocketmq_integration.listeners.middleware import Middleware, MiddlewareChain
from rocketmq_integration.listeners.outcomes import (
    DiscardMessage,
    ReconsumeLater,
    SendToDeadLetter,
    SuspendQueue,
)
from rocketmq_integration.logging import bound_context, get_logger

__all__ = ["ContainerStats", "ListenerContainer"]

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ContainerStats:
    """Counters of one container since start (messages, not calls)."""

    received: int
    succeeded: int
    failed: int
    discarded: int
    duplicates: int
    conversion_errors: int
    in_flight: int


def _context(m: MessageExt, group: str) -> MessageContext:
    return MessageContext(
        msg_id=m.msg_id, topic=m.topic, tags=m.tags, keys=m.keys, properties=m.properties,
        queue_id=m.queue_id, queue_offset=m.queue_offset, reconsume_times=m.reconsume_times,
        born_timestamp=m.born_timestamp, consumer_group=group, body=m.body,
    )  # fmt: skip


class ListenerContainer:
    """Runs one listener spec; see the module docstring.

    Args:
        spec: the validated declaration.
        namesrv_addr: used unless ``spec.name_server`` is set.
        client_config: connection settings (timers, instance name).
        consumer_config: base consumer settings; the spec's attributes override their fields.
        converter: default converter (``spec.converter`` wins).
        middlewares: hooks around each handler call.
        idempotency_store: required when ``spec.idempotent`` is set.
        loop_thread: shared loop (a runner passes one); otherwise the container owns one.
    """

    def __init__(
        self,
        spec: ListenerSpec,
        *,
        namesrv_addr: str | None = None,
        client_config: ClientConfig | None = None,
        consumer_config: ConsumerConfig | None = None,
        converter: MessageConverter | str | None = None,
        middlewares: Sequence[Middleware] = (),
        idempotency_store: IdempotencyStore | None = None,
        loop_thread: EventLoopThread | None = None,
    ) -> None:
        if spec.idempotent and idempotency_store is None:
            raise ListenerConfigError(
                f"invalid listener attribute 'idempotent' on {spec.name}: no idempotency store configured"
            )
        self.spec = spec
        self.namesrv_addr = spec.name_server or namesrv_addr
        cc = client_config or ClientConfig()
        if spec.instance_name:
            cc = dataclasses.replace(cc, instance_name=spec.instance_name)
        self.client_config = cc
        self.consumer_config = dataclasses.replace(
            consumer_config or ConsumerConfig(),
            group=spec.consumer_group,
            message_model=spec.message_model,
            consume_from_where=ConsumeFromWhere(spec.consume_from.value),
            consume_timestamp=spec.consume_timestamp,
            pull_batch_size=spec.pull_batch_size,
            consume_message_batch_max_size=spec.batch_max_size if spec.batch else 1,
            consume_thread_max=spec.concurrency,
            max_reconsume_times=spec.max_reconsume_times,
            suspend_current_queue_time=spec.suspend_current_queue_time,
            shutdown_timeout=spec.await_termination_when_shutdown,
            consume_timeout=spec.consume_timeout / 60.0,  # the client counts minutes, as Java does
        )
        self.orderly = spec.consume_mode is ConsumeMode.ORDERLY
        self.converter = get_converter(spec.converter if spec.converter else converter)
        self.middleware = MiddlewareChain(middlewares)
        self.idempotency_store = idempotency_store
        self._default_handler = Handler(spec.target, spec.wants_context, spec.payload_type, spec.is_async)
        self._tag_handlers: dict[str, Handler] = dict(spec.extra.get("tag_handlers", {}))
        self._shared_loop = loop_thread
        self._thread: EventLoopThread | None = None
        self._consumer: PushConsumer | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._reply_producer: Producer | None = None
        self._reply_lock: asyncio.Lock | None = None
        self._counts = {k: 0 for k in ContainerStats.__dataclass_fields__}
        self._counts_lock = threading.Condition()
        self._waiters = 0
        self._log = log.bind(listener=spec.name, group=spec.consumer_group, topic=spec.topic)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Create, subscribe and start the consumer (blocks until it runs)."""
        if self._consumer is not None:
            raise MQClientError(f"listener container {self.spec.name} is already running")
        thread = self._shared_loop or EventLoopThread(f"rocketmq-listener-{self.spec.consumer_group}")
        consumer = PushConsumer(
            self.spec.consumer_group,
            namesrv_addr=self.namesrv_addr,
            client_config=self.client_config,
            config=self.consumer_config,
        )
        consumer.subscribe(self.spec.topic, self.spec.selector_expression, self.spec.selector_type.value)
        kind = ListenerKind.ORDERLY if self.orderly else ListenerKind.CONCURRENTLY
        consumer.register_listener(self._on_messages, kind)
        # Spring's RocketMQPushConsumerLifecycleListener: a class listener may adjust the raw consumer
        prepare_start = getattr(getattr(self.spec.target, "__self__", None), "prepare_start", None)
        if callable(prepare_start):
            prepare_start(consumer)
        self._pool = (
            None
            if self.spec.is_async
            else ThreadPoolExecutor(
                self.spec.concurrency, thread_name_prefix=f"rmq-{self.spec.consumer_group}"
            )
        )
        try:
            thread.run(consumer.start(), 60.0)
        except BaseException:
            if self._pool is not None:
                self._pool.shutdown(wait=False)
                self._pool = None
            if thread is not self._shared_loop:
                thread.stop()
            raise
        self._thread, self._consumer = thread, consumer
        self._log.info("listener container started")

    def stop(self, timeout: float | None = None) -> None:
        """Drain in-flight messages, commit offsets, unregister. Idempotent."""
        thread, consumer = self._thread, self._consumer
        self._thread = self._consumer = None
        if thread is None or consumer is None:
            return
        wait = (timeout if timeout is not None else self.spec.await_termination_when_shutdown) + 30.0
        try:
            thread.run(consumer.shutdown(), wait)
            if self._reply_producer is not None:
                thread.run(self._reply_producer.shutdown(), 30.0)
        finally:
            self._reply_producer = None
            if self._pool is not None:
                self._pool.shutdown(wait=True)
            if thread is not self._shared_loop:
                thread.stop()
        self._log.info("listener container stopped", **self._counts)

    def is_running(self) -> bool:
        """Whether the consumer is started."""
        return self._consumer is not None

    @property
    def consumer(self) -> PushConsumer | None:
        """The underlying push consumer while running."""
        return self._consumer

    def stats(self) -> ContainerStats:
        """A snapshot of the counters."""
        with self._counts_lock:
            return ContainerStats(**self._counts)

    def _count(self, **deltas: int) -> None:
        with self._counts_lock:
            for k, v in deltas.items():
                self._counts[k] += v
            if self._waiters:
                self._counts_lock.notify_all()

    def wait_settled(self, count: int, timeout: float = 30.0) -> ContainerStats:
        """Block until ``count`` messages were settled (succeeded, failed, discarded or skipped as
        duplicates) since start; returns the stats. TimeoutError when they were not."""
        c = self._counts

        def settled() -> bool:
            return c["succeeded"] + c["failed"] + c["discarded"] + c["duplicates"] >= count

        with self._counts_lock:
            self._waiters += 1
            try:
                ok = self._counts_lock.wait_for(settled, timeout)
            finally:
                self._waiters -= 1
            if not ok:
                raise TimeoutError(f"{self.spec.name}: {count} messages not settled within {timeout}s: {c}")
            return ContainerStats(**c)

    # ------------------------------------------------------------------ consuming

    async def _on_messages(self, msgs: list[MessageExt]) -> ListenerResult:
        n = len(msgs)
        self._count(received=n, in_flight=n)
        try:
            if self.spec.batch or n == 1:
                return await self._process(msgs)
            for m in msgs:
                result = await self._process([m])
                if result is not ConsumeResult.SUCCESS:
                    return result
            return ConsumeResult.SUCCESS
        finally:
            self._count(in_flight=-n)

    def _dedupe_key(self, m: MessageExt) -> str | None:
        if self.spec.idempotent == "key":
            return (m.keys or "").split(MessageConst.KEY_SEPARATOR)[0] or m.msg_id
        return m.msg_id

    def _bind(self, msgs: list[MessageExt]) -> dict[str, Any]:
        first = msgs[0]
        bind: dict[str, Any] = {
            "topic": first.topic,
            "group": self.spec.consumer_group,
            "queue_id": first.queue_id,
        }
        if len(msgs) == 1:
            bind["msg_id"] = first.msg_id
        else:
            bind["msg_ids"] = [m.msg_id for m in msgs]
        return bind

    def _claim(self, msgs: list[MessageExt]) -> tuple[list[MessageExt], list[str]]:
        """Idempotency: the messages to process and the keys claimed for them."""
        store = self.idempotency_store
        if not self.spec.idempotent or store is None:
            return msgs, []
        fresh, claimed = [], []
        for m in msgs:
            key = self._dedupe_key(m)
            if key is not None and not store.acquire(self.spec.consumer_group, key):
                self._log.info("duplicate message skipped", msg_id=m.msg_id, dedupe_key=key)
                self._count(duplicates=1)
                continue
            if key is not None:
                claimed.append(key)
            fresh.append(m)
        return fresh, claimed

    def _contexts(self, handler: Handler, msgs: list[MessageExt]) -> list[MessageContext]:
        """Message contexts, built only when the handler or a middleware will look at them."""
        if not handler.wants_context and not self.middleware.middlewares:
            return []
        return [_context(m, self.spec.consumer_group) for m in msgs]

    def _run_sync(
        self, msgs: list[MessageExt], bind: dict[str, Any]
    ) -> tuple[list[MessageExt], list[str], BaseException | None, Any]:
        """The whole pipeline of a sync handler, in a pool thread (keeps the client loop free)."""
        with bound_context(**bind):
            fresh, claimed = self._claim(msgs)
            if not fresh:
                return fresh, claimed, None, None
            handler = self._handler_for(fresh[0])
            contexts = self._contexts(handler, fresh)
            try:
                payloads = [self._convert(m, handler.payload_type) for m in fresh]
                return fresh, claimed, None, self._call_sync(handler, payloads, contexts)
            except Exception as exc:
                return fresh, claimed, exc, None

    async def _run_async(
        self, msgs: list[MessageExt]
    ) -> tuple[list[MessageExt], list[str], BaseException | None, Any]:
        fresh, claimed = self._claim(msgs)
        if not fresh:
            return fresh, claimed, None, None
        handler = self._handler_for(fresh[0])
        contexts = self._contexts(handler, fresh)
        try:
            payloads = [self._convert(m, handler.payload_type) for m in fresh]
            return fresh, claimed, None, await self._call_async(handler, payloads, contexts)
        except asyncio.CancelledError:
            self._release(claimed)
            raise
        except Exception as exc:
            return fresh, claimed, exc, None

    async def _process(self, msgs: list[MessageExt]) -> ListenerResult:
        bind = self._bind(msgs)
        if self._pool is None:
            with bound_context(**bind):
                fresh, claimed, error, answer = await self._run_async(msgs)
        else:
            loop = asyncio.get_running_loop()
            fresh, claimed, error, answer = await loop.run_in_executor(self._pool, self._run_sync, msgs, bind)
        if not fresh:
            return ConsumeResult.SUCCESS
        if error is None and answer is None and not claimed:
            self._count(succeeded=len(fresh))
            return ConsumeResult.SUCCESS
        with bound_context(**bind):
            if error is None and answer is not None and not self.spec.batch:
                await self._reply(fresh[0], answer)
            return await self._settle(fresh, claimed, error)

    def _handler_for(self, m: MessageExt) -> Handler:
        """The tag handler for ``m``'s tag (``rocketmq_tag_handler``), else the listener itself."""
        if self._tag_handlers and not self.spec.batch:
            handler = self._tag_handlers.get(m.tags or "")
            if handler is not None:
                return handler
        return self._default_handler

    def _convert(self, m: MessageExt, ptype: Any) -> Any:
        if ptype is MessageExt:
            return m
        try:
            return self.converter.from_message(m.body, m.properties.get(CONTENT_TYPE_PROPERTY), ptype)
        except ConversionError:
            raise
        except Exception as exc:  # a converter bug must not escape as something else
            raise ConversionError(f"conversion of {m.msg_id} failed: {exc}") from exc

    def _args(self, handler: Handler, payloads: list[Any], contexts: list[MessageContext]) -> tuple[Any, ...]:
        if self.spec.batch:
            return (payloads, contexts) if handler.wants_context else (payloads,)
        return (payloads[0], contexts[0]) if handler.wants_context else (payloads[0],)

    def _call_sync(self, handler: Handler, payloads: list[Any], contexts: list[MessageContext]) -> Any:
        self.middleware.before(self.spec, contexts)
        error: BaseException | None = None
        try:
            return handler.target(*self._args(handler, payloads, contexts))
        except BaseException as exc:
            error = exc
            raise
        finally:
            self.middleware.after(self.spec, contexts, error)

    async def _call_async(self, handler: Handler, payloads: list[Any], contexts: list[MessageContext]) -> Any:
        self.middleware.before(self.spec, contexts)
        error: BaseException | None = None
        try:
            async with asyncio.timeout(self.spec.consume_timeout):
                return await handler.target(*self._args(handler, payloads, contexts))
        except BaseException as exc:
            error = exc
            raise
        finally:
            self.middleware.after(self.spec, contexts, error)

    async def _reply(self, request_msg: MessageExt, answer: Any) -> None:
        """Send a reply listener's return value back to the requester (failures are logged only,
        as in rocketmq-spring: the request itself was consumed)."""
        if not request_msg.properties.get(MessageConst.REPLY_TO_CLIENT):
            return
        try:
            body, content_type = self.converter.to_message(answer)
            if self._reply_lock is None:
                self._reply_lock = asyncio.Lock()
            async with self._reply_lock:
                if self._reply_producer is None:
                    producer = Producer(
                        f"{self.spec.consumer_group}_REPLY",
                        namesrv_addr=self.namesrv_addr,
                        client_config=self.client_config,
                    )
                    await producer.start()
                    self._reply_producer = producer
            await reply(
                self._reply_producer,
                request_msg,
                body,
                {CONTENT_TYPE_PROPERTY: content_type},
                self.spec.reply_timeout,
            )
        except Exception as exc:
            self._log.error("sending the reply failed", error=repr(exc))

    def _release(self, claimed: list[str]) -> None:
        if self.idempotency_store is not None:
            for key in claimed:
                self.idempotency_store.release(self.spec.consumer_group, key)

    async def _settle(
        self, msgs: list[MessageExt], claimed: list[str], error: BaseException | None
    ) -> ListenerResult:
        n = len(msgs)
        if error is None or isinstance(error, DiscardMessage):
            if self.idempotency_store is not None:
                for key in claimed:
                    self.idempotency_store.mark_done(self.spec.consumer_group, key)
            if error is None:
                self._count(succeeded=n)
            else:
                self._log.warning("message discarded by listener", reason=str(error))
                self._count(discarded=n)
            return ConsumeResult.SUCCESS
        self._release(claimed)
        self._count(failed=n)
        level = self.spec.delay_level_when_next_consume
        if isinstance(error, ConversionError):
            self._count(conversion_errors=n)
            self._log.error(
                "payload conversion failed; message goes to retry", error=repr(error),
                reconsume_times=msgs[0].reconsume_times,
            )  # fmt: skip
        elif isinstance(error, SendToDeadLetter):
            self._log.warning("listener sent message to the dead-letter queue", reason=str(error))
            level = -1
        elif isinstance(error, ReconsumeLater):
            self._log.info("listener asked to reconsume later", delay_level=error.delay_level)
            if error.delay_level is not None:
                level = error.delay_level
        else:
            self._log.error(
                "listener failed; message goes to retry", error=repr(error),
                reconsume_times=msgs[0].reconsume_times, exc_info=error,
            )  # fmt: skip
        if self.orderly and level != -1:
            # order matters: retry the same message in place after the pause
            if isinstance(error, SuspendQueue) and error.duration is not None:
                self._log.info("listener suspended the queue", duration=error.duration)
                return SuspendCurrentQueue(error.duration)
            return ConsumeResult.SUSPEND_CURRENT_QUEUE_A_MOMENT
        if level == 0:
            return ConsumeResult.RECONSUME_LATER  # the client's send-back, broker-chosen back-off
        for m in msgs:
            if not await self._send_back(m, level):
                return ConsumeResult.RECONSUME_LATER
        return ConsumeResult.SUCCESS

    async def _send_back(self, m: MessageExt, delay_level: int) -> bool:
        """Send-back with an explicit level (-1 = DLQ) through the consumer's public send-back path."""
        consumer = self._consumer
        if consumer is None:
            return False
        try:
            await consumer.send_back(m, delay_level)
            return True
        except ClientError as exc:
            self._log.warning("send back failed; falling back to the default retry", error=str(exc))
            return False
