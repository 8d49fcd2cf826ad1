# mypy: disable-error-code="no-untyped-call"
"""kombu transport for RocketMQ: ``rocketmq://`` broker URLs for kombu and Celery.

Features
========
* Type: virtual
* Supports Direct: yes (one RocketMQ topic per queue; bindings stored broker-side)
* Supports Topic: yes (one topic per exchange, routing keys matched by each bound queue)
* Supports Fanout: yes (one topic per exchange, one consumer group per bound queue)
* Supports Priority: yes, emulated with priority steps (``priority_steps``; a higher number is a
  higher priority, as in AMQP; needs POP)
* Supports TTL: no
* Acks: per message, in any order (POP receipt handles); unacked messages of a dead worker come
  back after ``visibility_timeout``; ``reject(requeue=True)`` makes the message visible again at
  once, ``reject(requeue=False)`` moves it to the group's dead-letter queue ``%DLQ%<group>``.
* ETA / countdown: held by the broker as timer messages (``native_eta``), so workers hold none.

Each kombu queue ``Q`` is the topic ``<namespace%><queue_name_prefix><encode(Q)>``, read with the
POP consumer group ``<namespace%><consumer_group_prefix><encode(Q)>`` (see
:mod:`rocketmq_integration.kombu.names` for the reversible name encoding). Fanout and topic
exchanges are topics of their own (``|x<encode(exchange)>``); every queue bound to one reads it
with its own group from the moment of the bind, as an AMQP queue would. The binding table lives
in the name servers' KV store (namespace ``KOMBU_BINDINGS<namespace>``), so every process routes
the same way. Consumption is prefetched by POP long polls on a background event loop
(:mod:`rocketmq_integration.kombu.feed`) and bounded by the channel's prefetch count.

Connection string
=================
::

    rocketmq://[ACCESS_KEY:SECRET_KEY@]HOST[:PORT][,HOST2[:PORT]...]/[NAMESPACE]

The port defaults to 9876. Several name servers: a comma list in the host part (kombu keeps
``;`` for its own fail-over URLs: ``rocketmq://h1:9876;rocketmq://h2:9876`` also works).
``/`` or nothing means no namespace; ``/prod`` prefixes topics and groups with ``prod%``.
The alias ``rocketmq`` is registered in ``kombu.transport.TRANSPORT_ALIASES`` when
:mod:`rocketmq_integration.kombu` is imported; without that import use
``transport="rocketmq_integration.kombu.transport:Transport"`` (Celery: ``broker_transport``).

Transport Options
=================
Unknown keys and bad values raise :class:`~rocketmq_integration.kombu.options.InvalidTransportOption`
at connect.

* ``wait_time_seconds`` (5.0): long-poll time of one POP request (0..30).
* ``visibility_timeout`` (3600): seconds a delivered, unacked message stays invisible before
  it is delivered again (the POP invisible time) when its worker stops renewing it (a killed
  worker: its unacked tasks run again after at most this long).
* ``lease_renewal_interval`` (0 = ``visibility_timeout / 3``): while a worker holds a message
  (prefetched, or delivered and not yet acked: a long ``acks_late`` task), it renews the lease
  every this many seconds for another ``visibility_timeout`` (CHANGE_MESSAGE_INVISIBLETIME; later
  acks use the new receipt handle), so a task may run longer than the visibility timeout without
  being delivered to a second worker. Renewal stops when the message is acked, rejected or
  released, or the channel closes. At most half the ``visibility_timeout``; a negative value turns
  renewal off.
* ``lease_max_hold`` (43200 = 12 h, SQS's limit): the longest a worker holds a message by renewal,
  counted from its receipt. The last renewal makes the lease end then and the broker delivers the
  message again: a message Celery never settles (an ``acks_late`` task failing outside its body on
  the threads/solo pools, e.g. its ``rpc://`` result publish failed) comes back as it would on
  kombu's Redis or SQS transports after their visibility timeout. Positive and, when given, at
  least ``visibility_timeout``; a larger ``visibility_timeout`` raises the cap to it.
* ``prefetch_limit`` (64): leases a channel may hold when kombu's prefetch count is 0.
* ``producer_group`` ("celery-producer"), ``consumer_group_prefix`` ("celery-"),
  ``queue_name_prefix`` (""): RocketMQ names.
* ``read_queue_nums`` / ``write_queue_nums`` (4): queues of topics the transport creates.
* ``native_eta`` (True): messages whose ``eta`` header lies more than ``eta_threshold``
  (1.0 s) ahead are sent as timer messages and delivered by the broker at that time.
* ``priority_steps`` (None): e.g. ``[0, 3, 6, 9]``: one topic per step, higher steps first.
* ``supports_fanout`` (True): fanout/topic exchanges as broadcast topics (Celery remote control
  and events need it).
* ``dead_letter_on_reject`` (True): ``reject(requeue=False)`` moves the message to
  ``%DLQ%<group>``; False drops it (acks it).
* ``send_timeout`` (3.0), ``retry_times_when_send_failed`` (2): producer settings.
* ``bindings_cache_seconds`` (5.0): how long a process trusts its copy of the binding table.
* ``ordered_queues`` (()), ``ordering_key_header`` (""): queues whose messages with the same key
  (the header named here, else the routing key) are consumed in send order.
* ``auto_delete_timeout`` (5.0): a queue declared ``auto_delete=True`` (a worker's pidbox and event
  queues, Celery's ``rpc://`` reply queue) is deleted when the channel that declared it closes —
  its topics (brokers and name servers), consumer group and bindings, as ``queue_delete`` does —
  unless it still holds messages. This bounds how long a close may spend on that; a broker that
  cannot be reached leaves them in place (logged). 0 keeps auto-delete queues.
* kombu's own keys (``polling_interval``, ``max_retries``, ``interval_start``, ...) are accepted.
"""

from __future__ import annotations

import os
import re
import threading
import time
from queue import Empty
from typing import Any, cast
from urllib.parse import unquote

from kombu.transport import virtual
from kombu.transport.virtual.exchange import (
    DirectExchange,
    ExchangeType,
    FanoutExchange,
    TopicExchange,
)

from broker_core.message.model import Message
from rocketmq_integration.errors import (
    ClientError,
    MQBrokerError,
    NoRouteError,
    RemotingError,
    ValidationError,
)
from rocketmq_integration.kombu import codec, names
from rocketmq_integration.kombu.eta import eta_seconds, schedule_eta
from rocketmq_integration.kombu.feed import Feed, Lease, Source
from rocketmq_integration.kombu.options import TransportOptions
from rocketmq_integration.kombu.session import Binding, Session, get_session
from rocketmq_integration.logging import get_logger

__all__ = ["Channel", "QoS", "Transport"]

log = get_logger(__name__)

DEFAULT_PORT = 9876
_RETRY_TOPIC_OVERHEAD = len("%RETRY%") + 1
_BROADCAST = ("fanout", "topic")


class _BroadcastTopicExchange(TopicExchange):
    """Topic exchange published once to the exchange's topic; bound queues match the key."""

    def deliver(self, message: Any, exchange: str, routing_key: str, **kwargs: Any) -> None:
        if self.channel.supports_fanout:
            self.channel._put_fanout(exchange, message, routing_key, **kwargs)
        else:
            super().deliver(message, exchange, routing_key, **kwargs)


class QoS(virtual.QoS):
    """Acks, rejects and restores settle the message's POP lease (asynchronously)."""

    def ack(self, delivery_tag: str) -> None:
        self.channel._settle(delivery_tag, "ack")
        self._quick_ack(delivery_tag)

    def reject(self, delivery_tag: str, requeue: bool = False) -> None:
        self.channel._settle(delivery_tag, "requeue" if requeue else "reject")
        self._quick_ack(delivery_tag)


class Channel(virtual.Channel):
    """A kombu channel over the process's :class:`~rocketmq_integration.kombu.session.Session`."""

    QoS = QoS
    do_restore = True
    body_encoding: Any = None  # bodies travel raw (see codec)
    exchange_types = {
        "direct": DirectExchange,
        "topic": _BroadcastTopicExchange,
        "fanout": FanoutExchange,
    }

    connection: Transport

    def __init__(self, connection: Transport, **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)
        self.options: TransportOptions = connection.options
        self.supports_fanout = self.options.supports_fanout
        ns = connection.namespace_prefix
        self._topic_prefix = ns + self.options.queue_name_prefix
        self._group_prefix = ns + self.options.consumer_group_prefix
        budget = 127 - _RETRY_TOPIC_OVERHEAD - len(self._topic_prefix) - len(self._group_prefix)
        steps = self.options.priority_steps
        self._steps: tuple[int, ...] = tuple(steps) if steps else ()
        if self._steps:
            budget -= 2 * (2 + len(str(self._steps[-1])))  # the "|p<step>" suffix of priority topics
        self._max_len = max(24, budget // 2)
        if self._steps:
            self.max_priority = max(self.max_priority, self._steps[-1])
        self.feed = Feed(self.session, self.channel_id)
        self.feed.on_ready = connection.notify_ready
        self._consumed: dict[str, bool] = {}  # queue -> no_ack
        self._pinned: set[tuple[str, str]] = set()
        self._auto_delete: set[str] = set()  # queues declared auto_delete=True on this channel

    @property
    def session(self) -> Session:
        return self.connection.session

    # ------------------------------------------------------------------ names
    def queue_topic(self, queue: str) -> str:
        return self._topic_prefix + names.encode(queue, self._max_len)

    def step_topic(self, queue: str, step: int) -> str:
        """The topic of one priority step of ``queue`` (the lowest step is the queue's topic)."""
        base = self.queue_topic(queue)
        return base if not self._steps or step == self._steps[0] else f"{base}|p{step}"

    def _step_of(self, message: dict[str, Any]) -> int:
        priority = self._get_message_priority(message)
        return max((s for s in self._steps if s <= priority), default=self._steps[0])

    def queue_group(self, queue: str) -> str:
        return self._group_prefix + names.encode(queue, self._max_len)

    def exchange_topic(self, exchange: str) -> str:
        return self._topic_prefix + names.exchange_topic(exchange, self._max_len)

    def _run(self, coro: Any, timeout: float | None = 60.0) -> Any:
        return self.session.run(coro, timeout)

    # ------------------------------------------------------------------ publish
    def _to_message(self, topic: str, message: dict[str, Any]) -> Message:
        msg = Message(topic, codec.encode(message))
        headers = message.get("headers") or {}
        task_id = headers.get("id")
        if task_id:
            msg.keys = str(task_id)
        if self.options.native_eta and self.session.timers_supported():
            eta = eta_seconds(headers.get("eta"))
            if eta is not None:
                schedule_eta(msg, eta, self.options)
        return msg

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        topic = self.step_topic(queue, self._step_of(message)) if self._steps else self.queue_topic(queue)
        msg = self._to_message(topic, message)
        timeout = self.options.send_timeout * 4 + 5
        if queue in self.options.ordered_queues:
            # same key -> same RocketMQ queue -> consumed in send order (see push.py)
            self._run(self.session.send_orderly(msg, self._ordering_key(message)), timeout)
        elif not self.session.send_now(msg):
            self._run(self.session.send(msg), timeout)

    def _ordering_key(self, message: dict[str, Any]) -> str:
        header = self.options.ordering_key_header
        if header:
            value = (message.get("headers") or {}).get(header)
            if value is not None:
                return str(value)
        info = (message.get("properties") or {}).get("delivery_info") or {}
        return str(info.get("routing_key") or "")

    def _put_fanout(self, exchange: str, message: dict[str, Any], routing_key: str, **kwargs: Any) -> None:
        msg = self._to_message(self.exchange_topic(exchange), message)
        if not self.session.send_now(msg):
            self._run(self.session.send(msg), self.options.send_timeout * 4 + 5)

    # ------------------------------------------------------------------ declare / bind
    def _new_queue(self, queue: str, **kwargs: Any) -> None:
        if kwargs.get("auto_delete"):
            self._auto_delete.add(queue)
        for step in self._steps or (0,):
            self._run(self.session.ensure_topic(self.step_topic(queue, step)))

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        return bool(self._run(self.session.has_topic(self.queue_topic(queue))))

    def _size(self, queue: str) -> int:
        total = 0
        for src in self._sources(queue):
            total += int(self._run(self.session.backlog(src.group, src.topic)))
        return total

    def _purge(self, queue: str) -> int:
        return int(self._run(self._purge_async(queue), 300.0))

    async def _purge_async(self, queue: str) -> int:
        count = 0
        if not await self.session.pop_supported():
            for src in self._sources(queue):
                count += await self.session.skip_to_end(src.group, src.topic)
            return count
        for src in self._sources(queue):
            while True:
                got = await self.session.pop(src.group, src.topic, 32, 60.0, 0.0)
                if not got:
                    break
                for _msg, handle in got:
                    await self.session.ack(src.group, src.topic, handle)
                count += len(got)
        return count

    def queue_bind(
        self, queue: str, exchange: str | None = None, routing_key: str = "", arguments: Any = None, **kw: Any
    ) -> None:
        exchange = exchange or "amq.direct"
        super().queue_bind(queue, exchange, routing_key, arguments, **kw)
        typ = str(self.typeof(exchange).type)
        row: Binding = (exchange, typ, routing_key, queue)
        self._run(self._bind_async(row))

    async def _bind_async(self, row: Binding) -> None:
        exchange, typ, _rkey, queue = row
        if row not in await self.session.bindings():
            await self.session.bind(row)
        if typ in _BROADCAST and self.supports_fanout and await self.session.pop_supported():
            await self._pin(queue, exchange)

    def _queue_bind(self, exchange: str, routing_key: str, pattern: Any, queue: str) -> None:
        """Handled by :meth:`queue_bind` (which also stores direct bindings)."""

    async def _pin(self, queue: str, exchange: str) -> None:
        """Start the queue's group on the exchange topic *now* (messages from here on reach it)."""
        key = (queue, exchange)
        if key in self._pinned or not await self.session.pop_supported():
            return
        topic, group = self.exchange_topic(exchange), self.queue_group(queue)
        await self.session.ensure_topic(topic)
        consumer = await self.session.pop_consumer(group, topic)
        got = await consumer.receive(1, invisible_time=1.0, poll_time=0.0, init_mode=1)
        for _msg, handle in got:
            await self.session.release(group, topic, handle)
        self._pinned.add(key)

    def queue_unbind(
        self, queue: str, exchange: str | None = None, routing_key: str = "", arguments: Any = None, **kw: Any
    ) -> None:
        exchange = exchange or "amq.direct"
        typ = str(self.typeof(exchange).type)
        super().queue_unbind(queue, exchange, routing_key, arguments, **kw)
        self._run(self.session.unbind([(exchange, typ, routing_key, queue)]))

    def queue_delete(
        self, queue: str, if_unused: bool = False, if_empty: bool = False, **kwargs: Any
    ) -> None:
        """Purge, then remove the queue's bindings, topics and consumer group. kombu's pidbox calls
        this (``after_reply_message_received``) for the reply queue of every ``celery inspect`` /
        ``control`` request, which would otherwise leave a topic and a group behind each time."""
        if if_empty and self._size(queue):
            return
        rows = [r for r in self._remote_bindings() if r[3] == queue]
        self._purge(queue)
        self.state.queue_bindings_delete(queue)
        self._auto_delete.discard(queue)
        topics = [self.step_topic(queue, step) for step in self._steps or (0,)]
        self._run(self.session.delete_queue(topics, self.queue_group(queue), rows))

    def _remote_bindings(self, refresh: bool = False) -> list[Binding]:
        if not refresh and (rows := self.session.cached_bindings()) is not None:
            return rows  # the hot path of every publish: no hop to the loop thread
        return list(self._run(self.session.bindings(refresh)))

    def get_table(self, exchange: str) -> list[tuple[str, Any, str]]:
        table: list[tuple[str, Any, str]] = []
        try:
            table.extend(self.state.exchanges[exchange]["table"])
        except KeyError:
            pass
        etype = self.typeof(exchange)
        for ex, _typ, rkey, queue in self._remote_bindings():
            if ex == exchange:
                meta = etype.prepare_bind(queue, ex, rkey, None)
                if meta not in table:
                    table.append(meta)
        return table

    def typeof(self, exchange: str, default: str = "direct") -> ExchangeType:
        try:
            typ = self.state.exchanges[exchange]["type"]
        except KeyError:
            typ = next((t for ex, t, _r, _q in self._remote_bindings() if ex == exchange), default)
        # instances after virtual.Channel.__init__ (the class attribute maps to classes)
        return cast(ExchangeType, self.exchange_types[typ])

    def _lookup(self, exchange: str, routing_key: str, default: Any = None) -> Any:
        found = super()._lookup(exchange, routing_key, default)
        if not found and exchange:
            self._remote_bindings(refresh=True)
            found = super()._lookup(exchange, routing_key, default)
        return found

    # ------------------------------------------------------------------ consume
    def _sources(self, queue: str) -> list[Source]:
        group = self.queue_group(queue)
        if self._steps:
            out = [Source(queue, group, self.step_topic(queue, step), step=step) for step in self._steps]
        else:
            out = [Source(queue, group, self.queue_topic(queue))]
        if not self.supports_fanout:
            return out
        patterns: dict[str, set[str] | None] = {}
        for exchange, rkey, _args in self.state.queue_bindings(queue):
            etype = self.typeof(exchange).type
            if etype == "fanout":
                patterns[exchange] = None
            elif etype == "topic" and exchange in patterns and patterns[exchange] is None:
                continue
            elif etype == "topic":
                pattern = _BroadcastTopicExchange(self).key_to_pattern(rkey)
                patterns.setdefault(exchange, set()).add(pattern)  # type: ignore[union-attr]
        for exchange, pats in patterns.items():
            topic = self.exchange_topic(exchange)
            out.append(Source(queue, group, topic, None if pats is None else frozenset(pats), exchange))
        return out

    def basic_consume(self, queue: str, no_ack: bool, callback: Any, consumer_tag: str, **kwargs: Any) -> Any:
        result = super().basic_consume(queue, no_ack, callback, consumer_tag, **kwargs)
        if queue not in self._consumed:
            self._consumed[queue] = no_ack
            self._update_window()
            sources = self._sources(queue)
            for src in sources:
                if src.exchange is not None:
                    self._run(self._pin(queue, src.exchange))
            self.feed.consume(queue, sources, no_ack, queue in self.options.ordered_queues)
        return result

    def basic_cancel(self, consumer_tag: str) -> Any:
        queue = self._tag_to_queue.get(consumer_tag)
        result = super().basic_cancel(consumer_tag)
        if queue is not None and queue not in self._tag_to_queue.values() and queue in self._consumed:
            del self._consumed[queue]
            for lease in self.feed.stop(queue):
                self._release(lease)
        return result

    def basic_qos(self, prefetch_size: int = 0, prefetch_count: int = 0, apply_global: bool = False) -> None:
        super().basic_qos(prefetch_size, prefetch_count, apply_global)
        self._update_window()

    def _update_window(self) -> None:
        self.feed.window = self.qos.prefetch_count or self.options.prefetch_limit
        self.feed.wake()

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        for i, (q, raw) in enumerate(self.feed.inbox):
            if q == queue:
                del self.feed.inbox[i]
                return raw
        src = Source(queue, self.queue_group(queue), self.queue_topic(queue))
        if not self._run(self.session.pop_supported()):
            raise Empty()  # without POP a queue is read by consuming it (basic_consume)
        got = self._run(self.session.pop(src.group, src.topic, 1, self.options.visibility_timeout, 0.0))
        if not got:
            raise Empty()
        msg, handle = got[0]
        feed = self.feed
        raw = feed.to_raw(msg)
        feed.leases[raw["properties"]["delivery_tag"]] = Lease(
            src.group, src.topic, handle, msg, renew_at=feed.next_renewal()
        )
        self.session.submit(feed.ensure_renewer)
        return raw

    def basic_get(self, queue: str, no_ack: bool = False, **kwargs: Any) -> Any:
        message = super().basic_get(queue, no_ack, **kwargs)
        if message is not None and no_ack:
            self._settle(message.delivery_tag, "ack")
        return message

    def drain_inbox(self, limit: int = 64) -> int:
        """Deliver ready messages (no_ack ones first, then as far as the prefetch allows)."""
        if self.closed or not self._consumers:
            return 0
        deliver = self.connection._deliver
        n = 0
        noack, inbox = self.feed.inbox_no_ack, self.feed.inbox
        while noack and n < limit:
            queue, raw = noack.popleft()
            deliver(raw, queue)
            n += 1
        while inbox and n < limit and self.qos.can_consume():
            queue, raw = inbox.popleft()
            deliver(raw, queue)
            n += 1
        return n

    # ------------------------------------------------------------------ settle
    def _settle(self, delivery_tag: str, how: str) -> None:
        lease = self.feed.leases.pop(delivery_tag, None)
        if lease is None:
            return
        session = self.session
        session.submit(self.feed.wake_on_loop)  # rides along with the ack: one loop wake-up per burst
        if self.feed.inbox:
            self.connection.notify_ready()  # the prefetch window may have been what held them back
        settled = lease.settled
        if settled is not None:  # push mode: the listener call waiting for this verdict returns
            session.submit(lambda: None if settled.done() else settled.set_result(how))
        elif how == "reject" and not self.options.dead_letter_on_reject:
            self.feed.settle_soon(lease, "drop")
        else:
            self.feed.settle_soon(lease, how)

    def _release(self, lease: Lease) -> None:
        settled = lease.settled
        if settled is not None:
            self.session.submit(lambda: None if settled.done() else settled.set_result("requeue"))
        else:
            self.feed.settle_soon(lease, "requeue")

    def _restore(self, message: Any) -> None:
        tag = message.delivery_tag
        if tag in self.feed.leases:
            self._settle(tag, "requeue")
        else:
            super()._restore(message)

    def close(self) -> None:
        if not self.closed:
            if self._auto_delete:
                for tag in list(self._consumers):
                    self.basic_cancel(tag)  # its queues stop being fed before they are deleted
                self._delete_auto_delete_queues()  # needs the connection, which super().close() drops
            super().close()
            for lease in list(self.feed.leases.values()):
                self._release(lease)
            self.feed.leases.clear()
            self.feed.close()

    def _delete_auto_delete_queues(self) -> None:
        """AMQP deletes an ``auto_delete`` queue when its last consumer goes; here the channel that
        declared it closing does (as kombu's Redis transport does for its fanout queues). Those are
        per-process queues: ``celery inspect``/``control``'s ``<oid>.reply.celery.pidbox``, a
        worker's pidbox and event queues, the ``rpc://`` reply queue when its connection is closed;
        without this every ``celery inspect`` run would leave a topic, a consumer group and
        bindings behind. Unlike AMQP a queue that still holds messages is kept: a channel also
        closes when its connection broke, and Celery's rpc:// consumer then closes it and
        re-declares the same reply queue, whose replies must not go. A broker that cannot be
        reached leaves them too (logged); all of it bounded by ``auto_delete_timeout``."""
        queues, self._auto_delete = sorted(self._auto_delete), set()
        if not queues or self.options.auto_delete_timeout <= 0:
            return
        deadline = time.monotonic() + self.options.auto_delete_timeout
        for queue in queues:
            left = deadline - time.monotonic()
            if left <= 0:
                log.warning("auto-delete queues left in place: auto_delete_timeout", queues=queues)
                return
            try:
                rows = [r for r in self._remote_bindings() if r[3] == queue]
                topics = [self.step_topic(queue, step) for step in self._steps or (0,)]
                sources = self._sources(queue)
                self._run(self._auto_delete_async(queue, sources, topics, rows), left)
            except (ClientError, OSError, TimeoutError) as exc:
                log.warning("auto-delete queue left in place", queue=queue, error=str(exc))

    async def _auto_delete_async(
        self, queue: str, sources: list[Source], topics: list[str], rows: list[Binding]
    ) -> None:
        await self.session.settle_pending(1.0)  # e.g. the acks of the replies just consumed (no_ack)
        for src in sources:
            if await self.session.backlog(src.group, src.topic):
                log.info("auto-delete queue kept: it still holds messages", queue=queue, topic=src.topic)
                return
        await self.session.delete_queue(topics, self.queue_group(queue), rows)


_HOST_RE = re.compile(r"^[A-Za-z0-9.\-\[\]:]+$")


def parse_hosts(hostname: str | None, port: int | None) -> str:
    """``h1[:p1],h2[:p2]`` (kombu's hostname/port) -> the client's ``h1:p1;h2:p2``.

    Raises:
        ValidationError: an empty or malformed host list.
    """
    if not hostname:
        raise ValidationError("rocketmq URL: no name server host")
    addrs = []
    for part in hostname.split(","):
        part = part.strip()
        if not part or not _HOST_RE.match(part):
            raise ValidationError(f"rocketmq URL: bad name server host {part!r}")
        if ":" in part and not part.endswith("]"):
            host, _, p = part.rpartition(":")
            if not p.isdigit() or not 0 < int(p) < 65536:
                raise ValidationError(f"rocketmq URL: bad port in {part!r}")
            addrs.append(f"{host}:{p}")
        else:
            addrs.append(f"{part}:{port or DEFAULT_PORT}")
    return ";".join(addrs)


_URL_RE = re.compile(
    r"^(?P<scheme>[A-Za-z0-9+.\-]+)://(?:(?P<userid>[^:@/]*)(?::(?P<password>[^@/]*))?@)?"
    r"(?P<hosts>[^/?#]*)(?:/(?P<vhost>[^?#]*))?(?:[?#].*)?$"
)


def split_url(url: str) -> tuple[str | None, str | None, str, str]:
    """``rocketmq://[AK:SK@]h1[:p1][,h2[:p2]...][/NAMESPACE][?...]`` -> (access key, secret key,
    host list, namespace), percent-decoded. kombu's own parser takes one port only.

    Raises:
        ValidationError: not a URL of that shape.
    """
    m = _URL_RE.match(url)
    if m is None:
        raise ValidationError(f"rocketmq URL: cannot parse {maybe_mask(url)!r}")
    userid, password = m["userid"], m["password"]
    return (
        unquote(userid) if userid else None,
        unquote(password) if password else None,
        unquote(m["hosts"]),
        unquote(m["vhost"] or ""),
    )


def maybe_mask(url: str) -> str:
    m = _URL_RE.match(url)
    if m is None or m["password"] is None:
        return re.sub(r":[^:@/]*@", ":**@", url)
    return f"{url[: m.start('password')]}**{url[m.end('password') :]}"


class Transport(virtual.Transport):
    """kombu transport ``rocketmq``; see the module docstring."""

    Channel = Channel
    default_port: Any = DEFAULT_PORT
    driver_type = "rocketmq"
    driver_name = "rocketmq_integration"
    polling_interval = 0.0
    implements = virtual.Transport.implements.extend(
        asynchronous=True,
        exchange_type=frozenset({"direct", "topic", "fanout"}),
        heartbeats=False,
    )
    connection_errors: Any = (*virtual.Transport.connection_errors, RemotingError, NoRouteError, OSError)
    channel_errors: Any = (*virtual.Transport.channel_errors, MQBrokerError, ValidationError)
    recoverable_connection_errors = (RemotingError, NoRouteError, OSError)
    #: kombu hands us the URL unparsed: its parser takes one port only, not ``h1:9876,h2:9877``
    can_parse_url = True

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        raw = dict(client.transport_options or {})
        self.options = TransportOptions.from_mapping(raw)
        conninfo = client
        userid, password, hosts, vhost = (
            conninfo.userid,
            conninfo.password,
            conninfo.hostname,
            conninfo.virtual_host,
        )
        if hosts and "://" in hosts:  # a URL: kombu leaves it to us (can_parse_url)
            userid, password, hosts, vhost = split_url(hosts)
        if bool(userid) != bool(password):
            raise ValidationError(
                "rocketmq URL: give both ACCESS_KEY and SECRET_KEY (ACCESS_KEY:SECRET_KEY@host)"
            )
        credentials = (userid or "", password or "")
        self.namesrv_addr = parse_hosts(hosts, conninfo.port)
        vhost = (vhost or "/").strip("/")
        if vhost and not re.fullmatch(r"[A-Za-z0-9_-]+", vhost):
            raise ValidationError(
                f"rocketmq URL: bad namespace {vhost!r} (allowed: letters, digits, _ and -)"
            )
        self.namespace_prefix = f"{vhost}%" if vhost else ""
        self._session_key = (self.namesrv_addr, self.options, self.namespace_prefix, credentials)
        self._session = get_session(*self._session_key)
        self.wakeup = threading.Event()
        #: event-loop mode (Celery's hub): a pipe the loop thread writes to when messages arrive
        self._pipe: tuple[int, int] | None = None
        self._pipe_armed = False

    @property
    def session(self) -> Session:
        """The process's shared session; a fresh one if this one was closed (``shutdown_sessions``)
        or belongs to the parent of a forked process (a connection kept in ``kombu.pools``)."""
        session = self._session
        if not session.thread.alive:
            session = self._session = get_session(*self._session_key)
        return session

    def notify_ready(self) -> None:
        """Messages may be deliverable now (any thread): wake ``drain_events`` or the hub."""
        self.wakeup.set()
        pipe = self._pipe
        if pipe is not None and not self._pipe_armed:
            self._pipe_armed = True
            try:
                os.write(pipe[1], b"!")
            except (BlockingIOError, OSError):
                pass

    def register_with_event_loop(self, connection: Any, loop: Any) -> None:
        """kombu hub support (Celery's event loop, ``asynchronous=True``): the hub watches a pipe
        that the session's loop thread writes to when it put messages in an inbox, and delivers
        on every tick (after acks freed the prefetch window) without blocking."""
        if self._pipe is None:
            r, w = os.pipe()
            os.set_blocking(r, False)
            os.set_blocking(w, False)
            self._pipe = (r, w)
        loop.add_reader(self._pipe[0], self._on_pipe_readable, self._pipe[0])
        loop.on_tick.add(self._deliver_ready)

    def _on_pipe_readable(self, fileno: int) -> None:
        try:
            while os.read(fileno, 4096):
                pass
        except (BlockingIOError, OSError):
            pass
        # disarm only after emptying the pipe (a byte written meanwhile must not be swallowed with
        # the flag left set), and before delivering (what arrives from here on writes again)
        self._pipe_armed = False
        self._deliver_ready()

    def _deliver_ready(self) -> None:
        for channel in list(self.channels):
            while channel.drain_inbox():
                pass

    def as_uri(self, uri: str, include_password: bool = False, mask: str = "**") -> str:
        """The URL for logs and banners, the SECRET_KEY masked unless ``include_password``."""
        m = _URL_RE.match(uri)
        if include_password or m is None or m["password"] is None:
            return uri
        return f"{uri[: m.start('password')]}{mask}{uri[m.end('password') :]}"

    def driver_version(self) -> str:
        from rocketmq_integration import __version__

        return __version__

    def establish_connection(self) -> Any:
        try:
            self.session.run(self.session.ping(), self.session.client_config.mq_client_api_timeout + 5)
        except ClientError as exc:
            raise RemotingError(f"cannot reach the RocketMQ name server {self.namesrv_addr}: {exc}") from exc
        return super().establish_connection()

    def drain_events(self, connection: Any, timeout: float | None = None, **kwargs: Any) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        wakeup = self.wakeup
        while True:
            wakeup.clear()
            for channel in list(self.channels):
                if channel.drain_inbox():
                    return
            if deadline is None:
                wakeup.wait()
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError()
            wakeup.wait(remaining)

    def close_connection(self, connection: Any) -> None:
        super().close_connection(connection)
        self.wakeup.set()
        pipe, self._pipe = self._pipe, None
        if pipe is not None:
            for fd in pipe:
                try:
                    os.close(fd)
                except OSError:
                    pass
