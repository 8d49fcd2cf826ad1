"""Prefetching: POP loops on the session's event loop that keep a channel's inbox filled.

One :class:`Pump` per (consumed queue, source topic): the queue's own topic, plus the topic of
every fanout/topic exchange the queue is bound to. A pump long-polls the broker (POP,
``wait_time_seconds``) and puts what it gets into the channel's :class:`Feed` inbox, from which
the kombu side (``Transport.drain_events``) delivers without a network round trip. So the
worker's main thread never waits for the broker while messages are ready, and one POP fetches
up to 32 messages.

Flow control (prefetch): messages consumed with acks hold a *lease* (POP invisible time) from the
moment they are popped until they are acked, rejected or released. A feed never holds more
leases than the channel's window (kombu ``prefetch_count``, or the ``prefetch_limit`` option when
that is 0): leases in the inbox + leases delivered and not yet acked + pops in flight. Pumps
reserve their batch before they pop and share what is free, so several queues of one channel
are served fairly. ``no_ack`` consumers (Celery's pidbox, event receivers, ``rpc://`` results)
do not count against the window and are acked as soon as they are received.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import math
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from broker_core.message.model import Message, MessageExt
from rocketmq_integration.client.pop_consumer import PoppedMessage
from rocketmq_integration.errors import ClientError, MQBrokerError
from rocketmq_integration.kombu import codec
from rocketmq_integration.kombu.eta import TIMER_OUT_MS, eta_seconds, schedule_eta
from rocketmq_integration.logging import get_logger

if TYPE_CHECKING:
    from rocketmq_integration.kombu.session import Session

__all__ = ["Feed", "Lease", "Pump", "Source"]

log = get_logger(__name__)

#: invisible time of messages of no_ack consumers: they are acked right after receipt
NO_ACK_INVISIBLE = 30.0
_tags = itertools.count(1)


@dataclass(eq=False, slots=True)
class Lease:
    """What settling a delivered message needs: its POP group, topic and receipt handle, or (push
    mode, see :mod:`~rocketmq_integration.kombu.push`) the future its listener call waits on.

    A POP lease is renewed while it is held (see :meth:`Feed._renew_loop`): each renewal
    (CHANGE_MESSAGE_INVISIBLETIME) returns a new receipt handle, which replaces ``handle``; the
    ack, reject or release of the message waits for a renewal in flight (:meth:`current_handle`)
    so it always uses the newest handle. Renewal ends at ``hold_until`` (``lease_max_hold`` after
    the pop): the last renewal makes the lease end then, and the broker delivers the message again
    unless it is settled before.
    """

    group: str
    topic: str
    handle: str
    message: MessageExt
    settled: asyncio.Future[str] | None = None
    #: when (``time.monotonic()``) the lease is renewed next
    renew_at: float = math.inf
    #: the renewal in flight (loop thread), done when ``handle`` is the newest one
    renewing: asyncio.Future[None] | None = None
    #: acked / rejected / released on the kombu side: never renewed again
    done: bool = False
    #: when (``time.monotonic()``) the hold ends: the lease is not renewed beyond it
    hold_until: float = math.inf

    async def current_handle(self) -> str:
        """The newest receipt handle, after any renewal in flight (loop thread)."""
        while self.renewing is not None:
            await asyncio.shield(self.renewing)
        return self.handle


@dataclass(frozen=True, slots=True)
class Source:
    """Where a queue's messages come from: a topic read with a POP group.

    ``patterns`` (topic exchanges) filter by routing key; None accepts everything.
    """

    queue: str
    group: str
    topic: str
    patterns: frozenset[str] | None = None
    exchange: str | None = None
    #: priority step of this topic (``priority_steps``), None when priorities are off
    step: int | None = None


@dataclass(eq=False)
class Pump:
    source: Source
    no_ack: bool
    stopped: bool = False
    task: asyncio.Task[None] | None = None
    #: priority steps of a queue, highest first: each pop takes from the highest one that has
    #: messages (long-polling the lowest, default step, for at most 1 s, when all are empty)
    ladder: tuple[Source, ...] = ()


@dataclass(eq=False)
class Feed:
    """The inbox and flow control of one channel (see the module docstring)."""

    session: Session
    channel_id: int
    window: int = 0
    #: delivery tag -> lease, for every ack-mode message popped and not yet settled
    leases: dict[str, Lease] = field(default_factory=dict)
    inbox: collections.deque[tuple[str, dict[str, Any]]] = field(default_factory=collections.deque)
    inbox_no_ack: collections.deque[tuple[str, dict[str, Any]]] = field(default_factory=collections.deque)
    pumps: list[Pump] = field(default_factory=list)
    #: queue -> its push consumers (brokers without POP, ordered queues)
    push_feeds: dict[str, Any] = field(default_factory=dict)
    reserved: int = 0
    #: called (from the loop thread) after messages were added to an inbox
    on_ready: Any = None
    _capacity: asyncio.Event | None = None
    _renewer: asyncio.Task[None] | None = None
    closed: bool = False

    # ------------------------------------------------------------------ kombu side (any thread)
    def consume(self, queue: str, sources: list[Source], no_ack: bool, orderly: bool) -> None:
        """Start feeding ``queue`` from ``sources``: POP pumps, or a push feed (no POP, ordered)."""
        self.session.run(self._consume(queue, sources, no_ack, orderly))

    async def _consume(self, queue: str, sources: list[Source], no_ack: bool, orderly: bool) -> None:
        if self._capacity is None:
            self._capacity = asyncio.Event()
        if not no_ack:
            self.ensure_renewer()
        if orderly or not await self.session.pop_supported():
            from rocketmq_integration.kombu.push import PushFeed

            push = PushFeed(self, queue, sources, no_ack, orderly)
            self.push_feeds[queue] = push
            await push.start()
            return
        ladder = tuple(sorted((s for s in sources if s.step is not None), key=lambda s: -(s.step or 0)))
        if ladder:
            pump = Pump(ladder[0], no_ack, ladder=ladder)
            self.pumps.append(pump)
            self._start(pump)
        for src in sources:
            if src.step is None:
                pump = Pump(src, no_ack)
                self.pumps.append(pump)
                self._start(pump)

    def stop(self, queue: str) -> list[Lease]:
        """Stop feeding ``queue``; returns the leases of its undelivered inbox messages."""
        for pump in [p for p in self.pumps if p.source.queue == queue]:
            pump.stopped = True
            self.pumps.remove(pump)
        push = self.push_feeds.pop(queue, None)
        if push is not None:
            push.stopped = True
            self.session.submit(push.stop)
        kept: collections.deque[tuple[str, dict[str, Any]]] = collections.deque()
        dropped: list[Lease] = []
        while self.inbox:
            item = self.inbox.popleft()
            if item[0] == queue:
                lease = self.leases.pop(item[1]["properties"]["delivery_tag"], None)
                if lease is not None:
                    dropped.append(lease)
            else:
                kept.append(item)
        self.inbox.extend(kept)
        self.wake()
        return dropped

    def close(self) -> None:
        """The channel closed: stop renewing (its leases were released)."""
        self.closed = True
        renewer, self._renewer = self._renewer, None
        if renewer is not None:
            self.session.loop.call_soon_threadsafe(renewer.cancel)

    def settle_soon(self, lease: Lease, how: str) -> None:
        """Ack (``"ack"``), release (``"requeue"``), dead-letter (``"reject"``) or drop
        (``"drop"``: ack without dead-lettering) a popped message, on the loop, with its newest handle."""
        lease.done = True
        self.session.submit(lambda: self._settle(lease, how))

    # ------------------------------------------------------------------ lease renewal (loop side)
    def next_renewal(self) -> float:
        """When a lease taken now is renewed first (inf: renewal off)."""
        interval = self.session.options.renewal_interval()
        return math.inf if interval is None else time.monotonic() + interval

    def ensure_renewer(self) -> None:
        """Start the renewal task of this feed (loop thread) unless renewal is off or it runs."""
        if self._renewer is None and not self.closed and self.session.options.renewal_interval() is not None:
            self._renewer = self.session.loop.create_task(self._renew_loop(), name="kombu-lease-renewal")

    async def _renew_loop(self) -> None:
        """Renew every held POP lease (in the inbox, or delivered and not yet settled) when its
        ``renew_at`` comes, for another ``visibility_timeout``: a task that runs longer than the
        visibility timeout is not delivered to another worker while this one still runs it.

        A lease is renewed up to its ``hold_until`` only (``lease_max_hold``): a message the
        worker never settles (Celery leaves an ``acks_late`` message un-acked for good when the
        task fails outside its body on the threads/solo pools, e.g. its result could not be
        stored) is delivered again then, as kombu's Redis and SQS transports redeliver any
        un-acked message after their visibility timeout."""
        interval = self.session.options.renewal_interval()
        assert interval is not None
        while not self.closed:
            now = time.monotonic()
            leases = list(self.leases.values())  # one C-level copy: the kombu thread may settle meanwhile
            for lease in leases:
                if (
                    lease.renew_at <= now
                    and lease.settled is None
                    and not lease.done
                    and lease.renewing is None
                ):
                    self._start_renewal(lease, interval)
            upcoming = min((le.renew_at for le in leases if le.renewing is None), default=math.inf)
            # a lease taken while this sleeps is due ``interval`` after it was taken: wake often enough
            await asyncio.sleep(min(interval / 4, max(0.05, upcoming - time.monotonic())))

    def _start_renewal(self, lease: Lease, interval: float) -> None:
        # ``renewing`` is set before anything else runs on the loop: a settle from here on waits
        lease.renewing = self.session.loop.create_future()
        self.session.spawn(self._renew(lease, interval))

    async def _renew(self, lease: Lease, interval: float) -> None:
        fut = lease.renewing
        full = self.session.options.visibility_timeout
        # the last renewal is shortened so the lease ends when the hold does
        seconds = max(0.0, min(full, lease.hold_until - time.monotonic()))
        try:
            lease.handle = await self.session.extend(lease.group, lease.topic, lease.handle, seconds)
            if seconds < full:
                lease.renew_at = math.inf
                if not lease.done:
                    log.warning(
                        "message held for lease_max_hold and not settled: its lease is no longer "
                        "renewed and the message will be delivered again",
                        topic=lease.topic,
                        msg_id=lease.message.msg_id,
                        keys=lease.message.keys,
                        in_seconds=round(seconds, 3),
                        lease_max_hold=self.session.options.max_hold(),
                    )
            else:
                lease.renew_at = time.monotonic() + interval
        except MQBrokerError as exc:
            lease.renew_at = math.inf  # the lease is gone (acked meanwhile, or expired): stop
            if not lease.done:
                log.warning(
                    "lease renewal refused; the message may be delivered again",
                    topic=lease.topic,
                    error=str(exc),
                )
        except (ClientError, OSError) as exc:
            lease.renew_at = time.monotonic() + min(interval, 1.0)  # network trouble: try again soon
            log.warning("lease renewal failed, retrying", topic=lease.topic, error=str(exc))
        finally:
            lease.renewing = None
            if fut is not None and not fut.done():
                fut.set_result(None)

    async def _settle(self, lease: Lease, how: str) -> None:
        session = self.session
        handle = await lease.current_handle()
        if how == "ack" or how == "drop":
            await session.ack(lease.group, lease.topic, handle)
        elif how == "requeue":
            await session.release(lease.group, lease.topic, handle)
        else:
            await session.dead_letter(lease.group, lease.topic, handle, lease.message)

    def wake(self) -> None:
        """Capacity may have grown (an ack, a bigger window): let waiting pumps pop again."""
        self.session.loop.call_soon_threadsafe(self._wake)

    # ------------------------------------------------------------------ loop side
    def wake_on_loop(self) -> None:
        """:meth:`wake` for code already on the loop thread."""
        self._wake()

    def _wake(self) -> None:
        if self._capacity is not None:
            self._capacity.set()

    def _start(self, pump: Pump) -> None:
        if not pump.stopped:
            pump.task = self.session.loop.create_task(self._run(pump), name=f"kombu-pump-{pump.source.topic}")

    def _free(self) -> int:
        ack_pumps = sum(1 for p in self.pumps if not p.no_ack) or 1
        free = self.window - len(self.leases) - self.reserved
        if free <= 0:
            return 0
        return max(1, min(32, free // ack_pumps))

    async def _run(self, pump: Pump) -> None:
        opts = self.session.options
        src = pump.source
        assert self._capacity is not None
        failures = 0
        while not pump.stopped:
            if pump.no_ack:
                want, invisible = 32, NO_ACK_INVISIBLE
            else:
                want, invisible = self._free(), opts.visibility_timeout
                if want == 0:
                    self._capacity.clear()
                    await self._capacity.wait()
                    continue
            self.reserved += 0 if pump.no_ack else want
            try:
                src, got = await self._pop(pump, want, invisible)
                failures = 0
            except (ClientError, OSError) as exc:
                failures += 1
                report = log.warning if failures == 1 else log.debug
                report(
                    "pop failed, retrying", topic=src.topic, group=src.group, error=str(exc), attempt=failures
                )
                await asyncio.sleep(min(5.0, 0.2 * failures))  # back-off after a failure only
                continue
            finally:
                self.reserved -= 0 if pump.no_ack else want
            if pump.stopped:
                for _msg, handle in got:
                    self.session.spawn(self.session.release(src.group, src.topic, handle))
                break
            if got:
                self._accept(pump, src, got)
            src = pump.source

    async def _pop(self, pump: Pump, want: int, invisible: float) -> tuple[Source, list[PoppedMessage]]:
        wait = self.session.options.wait_time_seconds
        session = self.session
        if not pump.ladder:
            src = pump.source
            return src, await session.pop(src.group, src.topic, want, invisible, wait)
        for src in pump.ladder:
            got = await session.pop(src.group, src.topic, want, invisible, 0.0)
            if got:
                return src, got
        low = pump.ladder[-1]
        return low, await session.pop(low.group, low.topic, want, invisible, min(wait, 1.0))

    def _accept(self, pump: Pump, src: Source, got: list[PoppedMessage]) -> None:
        opts = self.session.options
        added = False
        for msg, handle in got:
            raw = self.to_raw(msg)
            info = raw["properties"]["delivery_info"]
            if src.patterns is not None and not _matches(src.patterns, str(info.get("routing_key", ""))):
                self._ack_soon(src, handle)
                continue
            if not pump.no_ack and self._early(src, msg, raw):
                self.session.spawn(self._hop(src, msg, handle, raw))
                continue
            if pump.no_ack:
                self._ack_soon(src, handle)
                self.inbox_no_ack.append((src.queue, raw))
            else:
                tag = raw["properties"]["delivery_tag"]
                self.leases[tag] = Lease(
                    src.group,
                    src.topic,
                    handle,
                    msg,
                    renew_at=self.next_renewal(),
                    hold_until=time.monotonic() + opts.max_hold(),
                )
                self.inbox.append((src.queue, raw))
            added = True
        if added and self.on_ready is not None:
            # after this pump has sent its next POP (it does so before it yields): the woken
            # kombu thread then finds this thread idle and takes the GIL at once, instead of
            # waiting for it (up to the 5 ms switch interval) while this one writes the request
            self.session.loop.call_soon(self.on_ready)

    def _early(self, src: Source, msg: MessageExt, raw: dict[str, Any]) -> bool:
        """A timer message that arrived before its ETA: it was due after the broker's maximum
        timer delay and must wait another round (only for the queue's own topic)."""
        opts = self.session.options
        if not opts.native_eta or src.exchange is not None or TIMER_OUT_MS not in msg.properties:
            return False
        eta = eta_seconds(raw["headers"].get("eta"))
        return eta is not None and eta - time.time() > opts.eta_threshold

    async def _hop(self, src: Source, msg: MessageExt, handle: str, raw: dict[str, Any]) -> None:
        again = Message(src.topic, msg.body)
        if msg.keys:
            again.keys = msg.keys
        eta = eta_seconds(raw["headers"].get("eta"))
        assert eta is not None
        schedule_eta(again, eta, self.session.options)
        await self.session.send(again)
        await self.session.ack(src.group, src.topic, handle)
        log.debug("task beyond the broker's timer range parked again", topic=src.topic, eta=eta)

    async def wait_for_capacity(self) -> None:
        """Wait until the window has room for one more lease (push mode)."""
        assert self._capacity is not None
        while self.window - len(self.leases) <= 0:
            self._capacity.clear()
            await self._capacity.wait()

    def accept_pushed(
        self, src: Source, msg: MessageExt, settled: asyncio.Future[str] | None, no_ack: bool
    ) -> bool:
        """Put a message a push consumer received into the inbox; False if its routing key does
        not match the queue's bindings (then it is not delivered)."""
        raw = self.to_raw(msg)
        info = raw["properties"]["delivery_info"]
        if src.patterns is not None and not _matches(src.patterns, str(info.get("routing_key", ""))):
            return False
        if no_ack:
            self.inbox_no_ack.append((src.queue, raw))
        else:
            tag = raw["properties"]["delivery_tag"]
            self.leases[tag] = Lease(src.group, src.topic, "", msg, settled)
            self.inbox.append((src.queue, raw))
        if self.on_ready is not None:
            self.on_ready()
        return True

    def _ack_soon(self, src: Source, handle: str) -> None:
        self.session.spawn(self.session.ack(src.group, src.topic, handle))

    def to_raw(self, msg: MessageExt) -> dict[str, Any]:
        raw = codec.decode(msg.body)
        props = raw["properties"]
        props["delivery_tag"] = f"{self.channel_id}.{next(_tags)}"
        if msg.reconsume_times > 0:
            props["delivery_info"]["redelivered"] = True
            raw["redelivered"] = True
        return raw


def _matches(patterns: frozenset[str], routing_key: str) -> bool:
    return any(re.match(p, routing_key) for p in patterns)
