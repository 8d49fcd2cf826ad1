"""Async producer (Java ``DefaultMQProducer``): send, oneway, batch, to-queue and orderly sends.

Sends use SEND_MESSAGE_V2 (SEND_BATCH_MESSAGE for batches). A failed attempt is retried up to
``retry_times_when_send_failed`` more times, on another broker when one exists, when the broker
answered one of the retryable codes of remoting spec §3 or the network failed; every other error
code is raised as :class:`~rocketmq_integration.errors.MQBrokerError` at once. All attempts share
one deadline (``timeout``).

Any number of coroutines may call :meth:`Producer.send` concurrently: requests are multiplexed
over one connection per broker and matched by opaque.
"""

from __future__ import annotations

import dataclasses
import time
import zlib
from collections.abc import Callable, Sequence
from typing import NamedTuple

from broker_core import errors as core_errors
from broker_core.message.codec import encode_batch
from broker_core.message.model import Message, MessageQueue
from broker_core.message.namespace import unwrap as unwrap_namespace
from broker_core.message.namespace import wrap as wrap_namespace
from broker_core.message.properties import MessageConst, encode_properties
from broker_core.message.sysflag import MessageSysFlag
from broker_core.remoting.blocking import BlockingConnection
from broker_core.remoting.codes import RequestCode, ResponseCode
from rocketmq_integration.client.config import (
    DEFAULT_INSTANCE_NAME,
    ClientConfig,
    ProducerConfig,
    unique_instance_name,
)
from rocketmq_integration.client.mq_client import MQClientInstance
from rocketmq_integration.client.results import SendResult, SendStatus
from rocketmq_integration.client.route import TopicPublishInfo, select_by_hash
from rocketmq_integration.client.sending import (
    build_send_ext_fields,
    now_ms,
    parse_send_response,
    retry_header_values,
    set_uniq_id,
)
from rocketmq_integration.client.trace import TraceDispatcher
from rocketmq_integration.client.validation import (
    ServiceState,
    check_batch,
    check_group,
    check_message,
)
from rocketmq_integration.errors import (
    MQBrokerError,
    MQClientError,
    NoRouteError,
    RemotingError,
    RemotingTimeoutError,
)
from rocketmq_integration.logging import get_logger

__all__ = ["RETRYABLE_SEND_CODES", "Producer"]

log = get_logger(__name__)

#: Response codes after which a send is retried (Java ``retryResponseCodes``).
RETRYABLE_SEND_CODES = frozenset(
    {
        ResponseCode.TOPIC_NOT_EXIST,
        ResponseCode.SERVICE_NOT_AVAILABLE,
        ResponseCode.SYSTEM_ERROR,
        ResponseCode.NO_PERMISSION,
        ResponseCode.NO_BUYER_ID,
        ResponseCode.NOT_IN_CURRENT_UNIT,
    }
)


class _Prepared(NamedTuple):
    """A message ready to send, independent of the target queue."""

    code: int
    topic: str
    body: bytes
    sys_flag: int
    flag: int
    properties: str
    msg_id: str
    batch: bool
    reconsume_times: int
    max_reconsume_times: int | None
    timer: bool = False  # a 5.x timer message (TIMER_DELIVER_MS / TIMER_DELAY_MS)
    #: the original message, kept only when tracing (the Pub record needs tags, keys, body size)
    source: Message | None = None


class Producer:
    """Async producer; see the module docstring.

    Args:
        group: producer group.
        namesrv_addr: overrides ``client_config.namesrv_addr``.
        client_config: connection settings.
        config: producer settings (its ``group`` is replaced by ``group``).
    """

    def __init__(
        self,
        group: str,
        *,
        namesrv_addr: str | None = None,
        client_config: ClientConfig | None = None,
        config: ProducerConfig | None = None,
    ) -> None:
        check_group(group)
        cc = client_config or ClientConfig()
        self.client_config = dataclasses.replace(cc, namesrv_addr=namesrv_addr) if namesrv_addr else cc
        self.namespace = self.client_config.namespace
        self.config = dataclasses.replace(
            config or ProducerConfig(), group=wrap_namespace(self.namespace, group)
        )
        self.state = ServiceState.CREATE_JUST
        self._client: MQClientInstance | None = None
        self.tracer: TraceDispatcher | None = None

    @property
    def group(self) -> str:
        return self.config.group

    @property
    def client(self) -> MQClientInstance:
        self.state.ensure_running(f"producer {self.group}")
        assert self._client is not None
        return self._client

    async def start(self) -> None:
        """Join (or create) the shared client instance and register the group."""
        if self.state is not ServiceState.CREATE_JUST:
            raise MQClientError(f"producer {self.group} was already started (state {self.state.value})")
        name = self.client_config.instance_name
        if name == DEFAULT_INSTANCE_NAME:
            name = unique_instance_name()
        client = MQClientInstance.acquire(self.client_config, name)
        try:
            client.register_producer(self.group)
        except MQClientError:
            await client.release()
            raise
        self._client = client
        self.state = ServiceState.RUNNING
        if self.config.enable_msg_trace:
            self.tracer = TraceDispatcher(
                self.client_config, self.group, "PRODUCE", self.config.customized_trace_topic
            )
            await self.tracer.start()
        await client.send_heartbeat_to_all_brokers()

    async def shutdown(self) -> None:
        """Unregister the group and release the client instance. Idempotent."""
        if self.state is not ServiceState.RUNNING or self._client is None:
            self.state = ServiceState.SHUTDOWN_ALREADY
            return
        self.state = ServiceState.SHUTDOWN_ALREADY
        if self.tracer is not None:
            await self.tracer.shutdown()
            self.tracer = None
        client, self._client = self._client, None
        await client.unregister(producer_group=self.group)
        await client.release()

    async def __aenter__(self) -> Producer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    # --------------------------------------------------------------------------- public API

    async def send(self, msg: Message, timeout: float | None = None) -> SendResult:
        """Send one message, choosing the queue round-robin, retrying per the policy above.

        Raises:
            ValidationError: bad topic or body.
            MQBrokerError: a non-retryable error code, or the last attempt's code.
            RemotingError: the last attempt failed on the network.
            MQClientError: no route, not started, or the deadline passed.
        """
        prepared = self._prepare(msg)
        return await self._send_with_retries(prepared, timeout)

    async def send_batch(self, msgs: Sequence[Message], timeout: float | None = None) -> SendResult:
        """Send messages of one topic as one SEND_BATCH_MESSAGE; ``msg_id`` is comma-joined."""
        prepared = self._prepare_batch(msgs)
        return await self._send_with_retries(prepared, timeout)

    async def send_to_queue(self, msg: Message, mq: MessageQueue, timeout: float | None = None) -> SendResult:
        """Send to one given queue, one attempt."""
        if self.namespace:
            msg.topic = wrap_namespace(self.namespace, msg.topic)
            mq = MessageQueue(wrap_namespace(self.namespace, mq.topic), mq.broker_name, mq.queue_id)
        if mq.topic != msg.topic:
            raise MQClientError(f"message topic {msg.topic!r} differs from queue topic {mq.topic!r}")
        prepared = self._prepare(msg)
        deadline = time.monotonic() + (timeout or self.config.send_msg_timeout)
        addr = await self._master_addr(mq)
        return await self._send_once(prepared, mq, addr, deadline)

    async def send_orderly(self, msg: Message, sharding_key: str, timeout: float | None = None) -> SendResult:
        """Send to the queue chosen by hashing ``sharding_key`` (same key -> same queue)."""
        info = await self._publish_info(wrap_namespace(self.namespace, msg.topic))
        return await self.send_to_queue(msg, select_by_hash(info.queues, sharding_key), timeout)

    async def send_oneway(self, msg: Message) -> None:
        """Fire and forget: no response, no retry."""
        prepared = self._prepare(msg)
        info = await self._publish_info(prepared.topic)
        mq = info.select()
        addr = await self._master_addr(mq)
        cmd = self.client.api.request(
            RequestCode.SEND_MESSAGE_V2, self._ext_fields(prepared, mq), prepared.body
        )
        cmd.flag |= 0x2
        await self.client.api.invoke_oneway(addr, cmd)

    def send_blocking(
        self, msg: Message, connection: Callable[[str], BlockingConnection], timeout: float | None = None
    ) -> SendResult | None:
        """One send attempt from the calling thread, over ``connection(addr)`` (a blocking socket),
        without a hop to the event loop: the fast path of synchronous callers (the kombu transport).

        Returns None, sending nothing, when the attempt needs the loop: no cached route for the
        topic yet, tracing on, or a timer message; then use :meth:`send`. An attempt that fails
        raises (:class:`RemotingError`, :class:`MQBrokerError`) like one attempt of :meth:`send`;
        the caller may retry with :meth:`send` (the message keeps its ``UNIQ_KEY``).
        """
        if self.state is not ServiceState.RUNNING or self.tracer is not None or self._client is None:
            return None
        props = msg.properties
        if MessageConst.TIMER_DELIVER_MS in props or MessageConst.TIMER_DELAY_MS in props:
            return None  # the broker's timer support is checked on the loop
        client = self._client
        info = client.cached_publish_info(wrap_namespace(self.namespace, msg.topic))
        if info is None:
            return None
        mq = info.select()
        addr = client.broker_addr(mq.broker_name, fallback=False)
        if addr is None:
            return None
        p = self._prepare(msg)
        api = client.api
        cmd = api.request(p.code, self._ext_fields(p, mq), p.body)
        if self.client_config.access_key:
            api.sign(cmd)
        try:
            resp = connection(addr).invoke(cmd, timeout or self.config.send_msg_timeout)
        except core_errors.RemotingTimeoutError as exc:
            raise RemotingTimeoutError(f"send to {addr} got no answer: {exc}", addr) from exc
        except core_errors.BrokerCoreError as exc:
            raise RemotingError(f"send to {addr} failed: {exc}", addr) from exc
        return parse_send_response(
            resp, addr, unwrap_namespace(self.namespace, p.topic), mq.broker_name, p.msg_id
        )

    # --------------------------------------------------------------------------- internals

    def _prepare(self, msg: Message) -> _Prepared:
        cfg = self.config
        if self.namespace:  # as Java does, the message keeps its wire topic afterwards
            msg.topic = wrap_namespace(self.namespace, msg.topic)
        check_message(msg, cfg.max_message_size)
        msg_id = set_uniq_id(msg)
        body = bytes(msg.body)
        sys_flag = 0
        if len(body) >= cfg.compress_msg_body_over_howmuch:
            body = zlib.compress(body, cfg.compress_level)
            sys_flag |= MessageSysFlag.COMPRESSED
        reconsume, max_reconsume, props = retry_header_values(msg.topic, msg.properties)
        timer = MessageConst.TIMER_DELIVER_MS in props or MessageConst.TIMER_DELAY_MS in props
        return _Prepared(
            RequestCode.SEND_MESSAGE_V2, msg.topic, body, int(sys_flag), msg.flag, encode_properties(props),
            msg_id, False, reconsume, max_reconsume, timer, msg if self.tracer is not None else None,
        )  # fmt: skip

    def _prepare_batch(self, msgs: Sequence[Message]) -> _Prepared:
        if self.namespace:
            for m in msgs:
                m.topic = wrap_namespace(self.namespace, m.topic)
        topic = check_batch(msgs, self.config.max_message_size)
        ids = [set_uniq_id(m) for m in msgs]
        body = encode_batch(msgs)
        if len(body) > self.config.max_message_size:
            raise MQClientError(f"the batch body size {len(body)} exceeds {self.config.max_message_size}")
        wait = "true" if msgs[0].wait_store_msg_ok else "false"
        props = encode_properties({MessageConst.WAIT: wait})
        return _Prepared(
            RequestCode.SEND_BATCH_MESSAGE, topic, body, 0, 0, props, ",".join(ids), True, 0, None
        )

    def _ext_fields(self, p: _Prepared, mq: MessageQueue) -> dict[str, str]:
        cfg = self.config
        return build_send_ext_fields(
            group=cfg.group, topic=p.topic, queue_id=mq.queue_id, sys_flag=p.sys_flag, born_timestamp=now_ms(),
            flag=p.flag, properties=p.properties, default_topic=cfg.create_topic_key,
            default_topic_queue_nums=cfg.default_topic_queue_nums, broker_name=mq.broker_name, batch=p.batch,
            reconsume_times=p.reconsume_times, max_reconsume_times=p.max_reconsume_times,
        )  # fmt: skip

    async def _publish_info(self, topic: str) -> TopicPublishInfo:
        return await self.client.get_publish_info(
            topic,
            template_topic=self.config.create_topic_key,
            template_queue_nums=self.config.default_topic_queue_nums,
        )

    async def _master_addr(self, mq: MessageQueue) -> str:
        addr = self.client.broker_addr(mq.broker_name, fallback=False)
        if addr is None:
            await self._publish_info(mq.topic)
            addr = self.client.broker_addr(mq.broker_name, fallback=False)
        if addr is None:
            raise NoRouteError(mq.topic, f"no master address for broker {mq.broker_name}")
        return addr

    async def _send_once(self, p: _Prepared, mq: MessageQueue, addr: str, deadline: float) -> SendResult:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise MQClientError(f"send to {p.topic} timed out before the request was sent")
        api = self.client.api
        if p.timer:  # a 4.x broker would ignore the timer and deliver at once: refuse instead
            await self.client.features.require_timer(addr, mq.broker_name, "timer message")
        started = now_ms()
        resp = await api.invoke(addr, api.request(p.code, self._ext_fields(p, mq), p.body), remaining)
        result = parse_send_response(
            resp, addr, unwrap_namespace(self.namespace, p.topic), mq.broker_name, p.msg_id
        )
        if self.tracer is not None and p.source is not None:
            ok = result.status is SendStatus.SEND_OK
            self.tracer.on_send(
                p.source, result.msg_id, result.offset_msg_id, addr, started, ok, resp.ext_fields
            )
        return result

    async def _send_with_retries(self, p: _Prepared, timeout: float | None) -> SendResult:
        deadline = time.monotonic() + (timeout or self.config.send_msg_timeout)
        info = await self._publish_info(p.topic)
        attempts = 1 + max(0, self.config.retry_times_when_send_failed)
        last_broker: str | None = None
        last_error: Exception | None = None
        for attempt in range(attempts):
            mq = info.select(last_broker)
            addr = self.client.broker_addr(mq.broker_name, fallback=False)
            try:
                if addr is None:
                    raise NoRouteError(p.topic, f"no master address for broker {mq.broker_name}")
                return await self._send_once(p, mq, addr, deadline)
            except MQBrokerError as exc:
                if exc.code not in RETRYABLE_SEND_CODES:
                    raise
                last_error = exc
            except (RemotingError, NoRouteError) as exc:
                last_error = exc
            last_broker = mq.broker_name
            if time.monotonic() >= deadline:
                break
            log.debug("send attempt failed, retrying", topic=p.topic, attempt=attempt, error=str(last_error))
        assert last_error is not None
        if isinstance(last_error, MQBrokerError | RemotingError):
            raise last_error
        raise MQClientError(
            f"send to {p.topic} failed after {attempts} attempts: {last_error}"
        ) from last_error
