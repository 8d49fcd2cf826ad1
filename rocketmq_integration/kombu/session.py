"""The per-process connection behind every ``rocketmq://`` kombu connection.

kombu and Celery open and close connections freely (a producer pool, the worker's consumer and
event connections, one per ``celery inspect``), so the expensive part lives here, shared: one
event-loop thread (:class:`~rocketmq_integration.client.EventLoopThread`), one client instance
with its sockets, one producer, one admin, the POP consumers (one per group and topic) and the
caches of created topics and of the broker-side binding table. A :class:`Session` is keyed by
(process id, name servers, options) and rebuilt in a forked child, never shared with the parent.

Everything here is ``async`` and runs on the session's loop; the blocking kombu side calls
:meth:`Session.run` (wait for the result) or :meth:`Session.submit` (fire and forget, batched:
acks take this path and never block the worker's main thread).
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import os
import threading
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar

import orjson

from broker_core.message.model import Message, MessageExt
from broker_core.message.namespace import DLQ_PREFIX, RETRY_PREFIX
from broker_core.remoting.blocking import BlockingConnection
from broker_core.remoting.body.kv import KVTable
from broker_core.remoting.body.route import MASTER_ID
from broker_core.remoting.codes import RequestCode, ResponseCode, SerializeType
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.headers.client import ConsumerSendMsgBackRequestHeader
from broker_core.remoting.headers.namesrv import (
    DeleteKVConfigRequestHeader,
    GetKVListByNamespaceRequestHeader,
    PutKVConfigRequestHeader,
)
from broker_core.remoting.headers.pop import PopMessageRequestHeader, ReceiptHandle
from rocketmq_integration.client.admin import Admin
from rocketmq_integration.client.config import ClientConfig, ProducerConfig
from rocketmq_integration.client.pop_consumer import PopConsumer, PoppedMessage
from rocketmq_integration.client.producer import Producer
from rocketmq_integration.client.results import SendResult
from rocketmq_integration.client.sync import EventLoopThread
from rocketmq_integration.errors import (
    ClientError,
    MQBrokerError,
    MQClientError,
    NoRouteError,
    RemotingError,
)
from rocketmq_integration.kombu.options import TransportOptions
from rocketmq_integration.logging import get_logger

__all__ = ["Binding", "Session", "get_session", "shutdown_sessions"]

log = get_logger(__name__)
T = TypeVar("T")

#: a binding row of the broker-side table: (exchange, exchange type, routing key, queue)
Binding = tuple[str, str, str, str]


class Session:
    """Shared client state of one process for one cluster; see the module docstring."""

    def __init__(
        self,
        namesrv_addr: str,
        options: TransportOptions,
        namespace: str,
        credentials: tuple[str, str] = ("", ""),
    ) -> None:
        self.options = options
        self.namespace = namespace
        self.pid = os.getpid()
        access_key, secret_key = credentials
        self.client_config = ClientConfig(
            namesrv_addr=namesrv_addr,
            instance_name=f"kombu-{self.pid}",
            access_key=access_key,
            secret_key=secret_key,
        )
        self.thread = EventLoopThread("rocketmq-kombu")
        self.loop = self.thread.loop
        self._producer: Producer | None = None
        self._admin: Admin | None = None
        self._pop: dict[tuple[str, str], PopConsumer] = {}
        self._topics: set[str] = set()
        self._outbox: collections.deque[Callable[[], Coroutine[Any, Any, Any] | None]] = collections.deque()
        self._flush_scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._pop_supported: bool | None = None
        self._bindings: list[Binding] | None = None
        self._bindings_at = 0.0
        self.kv_namespace = f"KOMBU_BINDINGS{namespace}"
        #: blocking sockets of the send fast path (:meth:`send_now`), one per calling thread and broker
        self._local = threading.local()
        self._blocking: list[BlockingConnection] = []
        self._blocking_lock = threading.Lock()
        #: sends that took the fast path (tests, diagnostics)
        self.direct_sends = 0

    # ------------------------------------------------------------------ thread bridging
    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = 60.0) -> T:
        """Run ``coro`` on the loop and wait for it."""
        return self.thread.run(coro, timeout)

    def submit(self, make: Callable[[], Coroutine[Any, Any, Any] | None]) -> None:
        """Call ``make()`` on the loop soon, and run the coroutine it returns (if any) as a task,
        without waiting; errors are logged. Thread-safe, and cheap: calls submitted before the
        loop gets to them share one wake-up of the loop (the acks of a burst of tasks)."""
        self._outbox.append(make)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon_threadsafe(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        while self._outbox:
            coro = self._outbox.popleft()()
            if coro is not None:
                self.spawn(coro)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Start ``coro`` as a task on the loop (call from the loop thread); errors are logged."""
        task = self.loop.create_task(self._guard(coro))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settle_pending(self, timeout: float) -> None:
        """Wait (at most ``timeout``) for the acks, releases and renewals already handed to the loop:
        until an ack lands the broker still counts its message as held."""
        self._flush()
        me = asyncio.current_task()
        pending = [t for t in self._tasks if t is not me]
        if pending:
            await asyncio.wait(pending, timeout=timeout)

    @staticmethod
    async def _guard(coro: Coroutine[Any, Any, Any]) -> None:
        try:
            await coro
        except Exception as exc:
            log.warning("background request failed", error=str(exc))

    # ------------------------------------------------------------------ clients
    async def producer(self) -> Producer:
        if self._producer is None:
            opts = self.options
            cfg = ProducerConfig(
                send_msg_timeout=opts.send_timeout,
                retry_times_when_send_failed=opts.retry_times_when_send_failed,
                default_topic_queue_nums=opts.write_queue_nums,
            )
            producer = Producer(opts.producer_group, client_config=self.client_config, config=cfg)
            await producer.start()
            self._producer = producer
        return self._producer

    async def admin(self) -> Admin:
        if self._admin is None:
            admin = Admin(client_config=self.client_config)
            await admin.start()
            self._admin = admin
        return self._admin

    async def pop_consumer(self, group: str, topic: str) -> PopConsumer:
        key = (group, topic)
        consumer = self._pop.get(key)
        if consumer is None:
            consumer = PopConsumer(group, topic, client_config=self.client_config)
            await consumer.start()
            self._pop[key] = consumer
        return consumer

    async def pop_supported(self) -> bool:
        """Whether the brokers answer POP_MESSAGE (5.x semantics; 4.x brokers do not). Probed once
        with a POP on a topic that does not exist: TOPIC_NOT_EXIST means yes."""
        if self._pop_supported is None:
            admin = await self.admin()
            deadline = time.monotonic() + 15.0
            while True:  # a broker that just started may not have registered with the name server yet
                info = await admin.cluster_info()
                addrs = [a for bd in info.broker_addr_table.values() if (a := bd.broker_addrs.get(MASTER_ID))]
                if addrs:
                    break
                if time.monotonic() > deadline:
                    raise NoRouteError("-", "no master broker registered with the name server")
                await asyncio.sleep(0.2)  # registration has no event a client could await
            header = PopMessageRequestHeader(
                consumer_group="kombu_pop_probe", topic="kombu_pop_probe_topic", queue_id=-1, max_msg_nums=1,
                invisible_time=1000, poll_time=0, born_time=int(time.time() * 1000), init_mode=0,
                exp_type="TAG", exp="*",
            )  # fmt: skip
            cmd = RemotingCommand.request(
                RequestCode.POP_MESSAGE, header.to_ext_fields(), serialize_type=SerializeType.JSON
            )
            resp = await admin.client.api.invoke(addrs[0], cmd, self.client_config.mq_client_api_timeout)
            self._pop_supported = resp.code != ResponseCode.REQUEST_CODE_NOT_SUPPORTED
            if not self._pop_supported:
                log.info("broker without POP: queues are read by push consumers", broker=addrs[0])
        return self._pop_supported

    def timers_supported(self) -> bool:
        """Whether the brokers take timer messages (5.x semantics, probed with POP); blocking,
        cached after the first call (which must not come from the loop thread)."""
        if self._pop_supported is None:
            self.run(self.pop_supported())
        return bool(self._pop_supported)

    async def skip_to_end(self, group: str, topic: str) -> int:
        """Commit ``group``'s offset of every queue of ``topic`` at its end; returns what it skipped."""
        admin = await self.admin()
        client = admin.client
        if await client.update_route(topic) is None:
            return 0
        skipped = 0
        for mq in client.subscribe_queues(topic) or []:
            addr = client.broker_addr(mq.broker_name)
            if addr is None:
                continue
            high = await client.api.get_max_offset(addr, mq)
            committed = await client.api.query_consumer_offset(addr, group, mq)
            skipped += max(0, high - max(0, committed or 0))
            await client.api.update_consumer_offset(addr, group, mq, high, oneway=False)
        return skipped

    async def ping(self) -> None:
        """Fail fast when no name server answers (raises RemotingError)."""
        await (await self.admin()).cluster_info()

    # ------------------------------------------------------------------ topics
    async def ensure_topic(self, topic: str) -> None:
        """Create ``topic`` on every master unless it is known to exist, and wait for its route."""
        if topic in self._topics:
            return
        admin = await self.admin()
        try:
            route = await admin.client.update_route(topic)
        except RemotingError:
            route = None
        if route is None or not route.queue_datas:
            n = self.options.read_queue_nums
            await admin.create_topic(topic, read_queue_nums=n, write_queue_nums=self.options.write_queue_nums)
            await admin.wait_for_route(topic, timeout=30.0)
        self._topics.add(topic)

    async def delete_queue(self, topics: Iterable[str], group: str, bindings: Iterable[Binding]) -> None:
        """Remove an auto-delete queue: its bindings, its topics (brokers and name servers) and its
        consumer group (subscription config and offsets). Its POP consumer stays: a long poll of
        the cancelled feed may still be parked on the broker, and what it brings back is released
        through that consumer (a consumer shut down meanwhile would leave those messages
        invisible for a whole ``visibility_timeout``). Like ``mqadmin deleteSubGroup`` it also
        deletes the group's ``%RETRY%`` and ``%DLQ%`` topics, which a 4.x broker creates for every
        push-consumer group."""
        await self.settle_pending(2.0)  # a cancelled push consumer's shutdown (4.x) goes first
        await self.unbind(bindings)
        admin = await self.admin()
        await admin.delete_subscription_group(group)
        for topic in [*topics, RETRY_PREFIX + group, DLQ_PREFIX + group]:
            self._topics.discard(topic)
            if await self.has_topic(topic):
                await admin.delete_topic(topic)

    async def has_topic(self, topic: str) -> bool:
        if topic in self._topics:
            return True
        admin = await self.admin()
        try:
            route = await admin.client.update_route(topic)
        except (RemotingError, NoRouteError):
            return False
        return route is not None and bool(route.queue_datas)

    async def backlog(self, group: str, topic: str) -> int:
        """Messages of ``topic`` not yet acknowledged by ``group`` (leased ones included)."""
        admin = await self.admin()
        client = admin.client
        route = await client.update_route(topic)
        if route is None:
            return 0
        queues = client.subscribe_queues(topic) or []
        total = 0
        for mq in queues:
            addr = client.broker_addr(mq.broker_name)
            if addr is None:
                continue
            high = await client.api.get_max_offset(addr, mq)
            committed = await client.api.query_consumer_offset(addr, group, mq)
            low = committed if committed is not None and committed >= 0 else 0
            total += max(0, high - low)
        return total

    # ------------------------------------------------------------------ send / pop
    async def send(self, msg: Message) -> SendResult:
        producer = await self.producer()
        try:
            return await producer.send(msg)
        except MQBrokerError as exc:
            if exc.code != ResponseCode.TOPIC_NOT_EXIST:
                raise
        except NoRouteError:
            pass
        # the broker refuses auto-creation: create the topic and try once more
        await self.ensure_topic(msg.topic)
        return await producer.send(msg)

    def send_now(self, msg: Message) -> bool:
        """Send ``msg`` from the calling thread over a blocking socket (no hop to the loop thread,
        which matters for latency on a busy machine); False, with nothing sent, when the fast path
        does not apply (first send to a topic, a timer message) or its one attempt failed: then
        :meth:`send` does it, with its retries."""
        producer = self._producer
        if producer is None or _in_event_loop():
            return False  # never block a running event loop (the session's own included)
        try:
            if producer.send_blocking(msg, self._connection, self.options.send_timeout) is None:
                return False
        except ClientError as exc:
            log.debug("blocking send failed, retrying on the loop", topic=msg.topic, error=str(exc))
            return False
        self.direct_sends += 1
        return True

    def _connection(self, addr: str) -> BlockingConnection:
        conns: dict[str, BlockingConnection] | None = getattr(self._local, "conns", None)
        if conns is None:
            conns = self._local.conns = {}
        conn = conns.get(addr)
        if conn is None:
            timeout = self.client_config.connect_timeout
            conn = conns[addr] = BlockingConnection(addr, connect_timeout=timeout)
            with self._blocking_lock:
                self._blocking.append(conn)
        return conn

    async def send_orderly(self, msg: Message, key: str) -> SendResult:
        await self.ensure_topic(msg.topic)
        return await (await self.producer()).send_orderly(msg, key)

    async def pop(
        self, group: str, topic: str, max_num: int, invisible: float, poll: float
    ) -> list[PoppedMessage]:
        consumer = await self.pop_consumer(group, topic)
        return await consumer.receive(max_num, invisible_time=invisible, poll_time=poll)

    async def ack(self, group: str, topic: str, handle: str) -> None:
        consumer = await self.pop_consumer(group, topic)
        try:
            await consumer.ack(handle)
        except MQBrokerError as exc:
            if exc.code != ResponseCode.NO_MESSAGE:
                raise
            log.warning("ack of an expired lease ignored (the message was redelivered)", topic=topic)

    async def release(self, group: str, topic: str, handle: str, delay: float = 0.0) -> None:
        """Make a leased message visible again after ``delay`` seconds (requeue)."""
        consumer = await self.pop_consumer(group, topic)
        try:
            await consumer.change_invisible_time(handle, delay)
        except MQBrokerError as exc:
            if exc.code != ResponseCode.NO_MESSAGE:
                raise

    async def dead_letter(self, group: str, topic: str, handle: str, msg: MessageExt) -> None:
        """Move a leased message to ``%DLQ%<group>`` (CONSUMER_SEND_MSG_BACK, level -1), then ack it."""
        consumer = await self.pop_consumer(group, topic)
        broker_name = ReceiptHandle.parse(handle).broker_name
        addr = consumer.client.broker_addr(broker_name)
        if addr is None:
            raise NoRouteError(topic, f"no address for broker {broker_name}")
        header = ConsumerSendMsgBackRequestHeader(
            offset=msg.commit_log_offset, group=group, delay_level=-1, origin_msg_id=msg.msg_id,
            origin_topic=topic, max_reconsume_times=msg.reconsume_times, bname=broker_name,
        )  # fmt: skip
        await consumer.client.api.send_back(addr, header, self.options.send_timeout)
        await self.ack(group, topic, handle)
        log.info("message moved to the dead-letter queue", group=group, topic=topic, msg_id=msg.msg_id)

    async def extend(self, group: str, topic: str, handle: str, seconds: float) -> str:
        consumer = await self.pop_consumer(group, topic)
        return await consumer.change_invisible_time(handle, seconds)

    # ------------------------------------------------------------------ bindings (name-server KV)
    def _ns_addrs(self) -> list[str]:
        return self.client_config.namesrv_addrs

    async def _kv_call(self, addr: str, code: int, ext: dict[str, str]) -> Any:
        admin = await self.admin()
        api = admin.client.api
        return await api.invoke(addr, api.request(code, ext), self.client_config.mq_client_api_timeout)

    async def bind(self, row: Binding) -> None:
        key = orjson.dumps(row).decode()
        ext = PutKVConfigRequestHeader(self.kv_namespace, key, str(time.time())).to_ext_fields()
        await self._each_namesrv(RequestCode.PUT_KV_CONFIG, ext)
        if self._bindings is not None and row not in self._bindings:
            self._bindings.append(row)

    async def unbind(self, rows: Iterable[Binding]) -> None:
        for row in rows:
            key = orjson.dumps(row).decode()
            ext = DeleteKVConfigRequestHeader(self.kv_namespace, key).to_ext_fields()
            await self._each_namesrv(RequestCode.DELETE_KV_CONFIG, ext)
            if self._bindings is not None and row in self._bindings:
                self._bindings.remove(row)

    async def _each_namesrv(self, code: int, ext: dict[str, str]) -> None:
        results = await asyncio.gather(
            *(self._kv_call(a, code, ext) for a in self._ns_addrs()), return_exceptions=True
        )
        ok = [r for r in results if not isinstance(r, BaseException) and r.code == ResponseCode.SUCCESS]
        if not ok:
            first = results[0]
            if isinstance(first, BaseException):
                raise first
            raise MQBrokerError(first.code, first.remark)

    def cached_bindings(self) -> list[Binding] | None:
        """The binding table if the cached copy is fresh (any thread; no I/O), else None."""
        rows = self._bindings
        if rows is not None and time.monotonic() - self._bindings_at < self.options.bindings_cache_seconds:
            return rows
        return None

    async def bindings(self, refresh: bool = False) -> list[Binding]:
        """The broker-side binding table, cached for ``bindings_cache_seconds``."""
        now = time.monotonic()
        cached = self.cached_bindings()
        if cached is not None and not refresh:
            return cached
        ext = GetKVListByNamespaceRequestHeader(self.kv_namespace).to_ext_fields()
        last: Exception | None = None
        for addr in self._ns_addrs():
            try:
                resp = await self._kv_call(addr, RequestCode.GET_KVLIST_BY_NAMESPACE, ext)
            except RemotingError as exc:
                last = exc
                continue
            rows: list[Binding] = []
            if resp.code == ResponseCode.SUCCESS and resp.body:
                for key in KVTable.from_json(resp.body).table:
                    try:
                        ex, typ, rkey, queue = orjson.loads(key)
                    except (orjson.JSONDecodeError, ValueError):
                        continue
                    rows.append((str(ex), str(typ), str(rkey), str(queue)))
            self._bindings, self._bindings_at = rows, now
            return rows
        raise last or MQClientError("no name server configured")

    # ------------------------------------------------------------------ lifecycle
    async def _close(self) -> None:
        me = asyncio.current_task()
        pending = [t for t in asyncio.all_tasks() if t is not me]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for consumer in self._pop.values():
            await consumer.shutdown()
        self._pop.clear()
        if self._producer is not None:
            await self._producer.shutdown()
        if self._admin is not None:
            await self._admin.shutdown()

    def close(self) -> None:
        with self._blocking_lock:
            conns, self._blocking = self._blocking, []
        for conn in conns:
            conn.close()
        if self.thread.alive:
            try:
                self.run(self._close(), 10.0)
            finally:
                self.thread.stop()


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


_sessions: dict[tuple[int, str, TransportOptions, str, tuple[str, str]], Session] = {}
_lock = threading.Lock()
_lock_pid = os.getpid()


def _get_lock() -> threading.Lock:
    # a lock held by another thread of the parent at fork time would stay locked in the child
    global _lock, _lock_pid
    if _lock_pid != os.getpid():
        _lock, _lock_pid = threading.Lock(), os.getpid()
    return _lock


def get_session(
    namesrv_addr: str, options: TransportOptions, namespace: str, credentials: tuple[str, str] = ("", "")
) -> Session:
    """The process's session for this cluster, options and ACL credentials (created on first use)."""
    key = (os.getpid(), namesrv_addr, options, namespace, credentials)
    with _get_lock():
        session = _sessions.get(key)
        if session is None:
            # drop sessions inherited from a parent process: their loop thread does not exist here
            for stale in [k for k in _sessions if k[0] != key[0]]:
                del _sessions[stale]
            if not _sessions:
                atexit.register(shutdown_sessions)
            session = _sessions[key] = Session(namesrv_addr, options, namespace, credentials)
        return session


def shutdown_sessions(namesrv_addr: str | None = None) -> None:
    """Close every session of this process, or only those of the name servers ``namesrv_addr``
    (tests; process exit does not need it). A kombu connection still pooled (``kombu.pools``)
    keeps its closed session: close only sessions whose connections are no longer used."""
    with _get_lock():
        keys = [k for k in _sessions if namesrv_addr is None or k[1] == namesrv_addr]
        mine = [_sessions.pop(k) for k in keys]
        mine = [s for s in mine if s.pid == os.getpid()]
    for session in mine:
        session.close()
