"""MQClientInstance: what all producers and consumers of one (NameServer, client id) share.

It owns the remoting connections, the route cache (refreshed every ``poll_name_server_interval``
with NameServer fail-over; a subscribed topic that has no route yet is re-queried after 0.5 s,
then every ``route_discovery_max_delay`` (1 s), so a listener started before its topic exists
gets the first message within about 1.5 s of the send that creates it), the heartbeat timer, and
the handler for broker-initiated requests
(NOTIFY_CONSUMER_IDS_CHANGED -> immediate rebalance; the admin requests about a consumer are
answered by ``client_handlers``). Producers and consumers register their
group here so the heartbeat carries all of them.

Instances are bound to the event loop that created them: :meth:`MQClientInstance.acquire` returns
the running loop's instance for a key, and :meth:`release` closes it when the last user leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterable
from typing import ClassVar, Protocol

from broker_core.config.remoting import RemotingConfig
from broker_core.message.model import MessageQueue
from broker_core.remoting.body.heartbeat import ConsumerData, HeartbeatData
from broker_core.remoting.body.route import MASTER_ID, TopicRouteData
from broker_core.remoting.channel import Channel
from broker_core.remoting.client import RemotingClient
from broker_core.remoting.codes import RequestCode
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.dispatcher import Dispatcher
from rocketmq_integration.client import client_handlers
from rocketmq_integration.client.api import MQClientAPI
from rocketmq_integration.client.config import ClientConfig
from rocketmq_integration.client.features import BrokerFeatures
from rocketmq_integration.client.request_reply import ReplyFutureTable
from rocketmq_integration.client.route import (
    TopicPublishInfo,
    broker_addr_table,
    cap_template_route,
    subscribe_queues,
)
from rocketmq_integration.errors import MQClientError, NoRouteError, RemotingError
from rocketmq_integration.logging import get_logger

__all__ = ["ConsumerMember", "MQClientInstance", "local_ip"]

log = get_logger(__name__)

CLIENT_INNER_PRODUCER = "CLIENT_INNER_PRODUCER"


class ConsumerMember(Protocol):
    """What the instance needs from a registered consumer."""

    @property
    def group(self) -> str: ...

    def consumer_data(self) -> ConsumerData: ...

    def subscribed_topics(self) -> Iterable[str]: ...

    def trigger_rebalance(self) -> None: ...


def local_ip() -> str:
    """Best-effort outward IPv4 (a UDP ``connect`` sends no packet); ``127.0.0.1`` if none."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))
            return str(s.getsockname()[0])
    except OSError:
        return "127.0.0.1"


class MQClientInstance:
    """Shared connections, routes and heartbeats; see the module docstring."""

    _registry: ClassVar[dict[tuple[int, str, str], MQClientInstance]] = {}

    def __init__(self, config: ClientConfig, client_id: str) -> None:
        self.config = config
        self.client_id = client_id
        dispatcher = Dispatcher()
        dispatcher.register(RequestCode.NOTIFY_CONSUMER_IDS_CHANGED, self._on_notify_ids_changed)
        client_handlers.install(dispatcher, self)
        #: request-reply: pending requests, completed by the broker's PUSH_REPLY_MESSAGE_TO_CLIENT
        self.reply_futures = ReplyFutureTable()
        dispatcher.register(RequestCode.PUSH_REPLY_MESSAGE_TO_CLIENT, self.reply_futures.on_push_reply)
        self.remoting = RemotingClient(RemotingConfig(connect_timeout=config.connect_timeout), dispatcher)
        self.api = MQClientAPI(self.remoting, config)
        #: what each broker supports (5.x timer messages and POP), probed on first need
        self.features = BrokerFeatures(self.api)
        self._namesrvs = config.namesrv_addrs
        if not self._namesrvs:
            raise MQClientError("no NameServer address configured")
        self._ns_index = 0
        self._routes: dict[str, TopicRouteData] = {}
        self._publish: dict[str, TopicPublishInfo] = {}
        self._subscribe: dict[str, list[MessageQueue]] = {}
        self._brokers: dict[str, dict[int, str]] = {}
        self._inflight: dict[str, asyncio.Future[TopicRouteData | None]] = {}
        self._producers: set[str] = set()
        self._consumers: dict[str, ConsumerMember] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._route_wakeup = asyncio.Event()
        self._refs = 0
        self._key: tuple[int, str, str] | None = None
        self._log = log.bind(client_id=client_id)

    # ----------------------------------------------------------------------- lifecycle

    @classmethod
    def acquire(cls, config: ClientConfig, instance_name: str) -> MQClientInstance:
        """The running loop's instance for (namesrv, client id), created and started if needed."""
        loop = asyncio.get_running_loop()
        ip = config.client_ip or local_ip()
        client_id = f"{ip}@{instance_name}" + (f"@{config.unit_name}" if config.unit_name else "")
        key = (id(loop), config.namesrv_addr, client_id)
        inst = cls._registry.get(key)
        if inst is None:
            inst = cls(config, client_id)
            inst._key = key
            cls._registry[key] = inst
            inst._start()
        inst._refs += 1
        return inst

    def _start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._route_loop(), name=f"rmq-route-{self.client_id}"),
            asyncio.create_task(self._heartbeat_loop(), name=f"rmq-heartbeat-{self.client_id}"),
        ]

    async def release(self) -> None:
        """Drop one reference; the last one stops the timers and closes connections."""
        self._refs -= 1
        if self._refs > 0:
            return
        if self._key is not None and self._registry.get(self._key) is self:
            del self._registry[self._key]
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.remoting.close()

    # ------------------------------------------------------------------- registration

    def register_producer(self, group: str) -> None:
        if group in self._producers:
            raise MQClientError(f"producer group {group!r} is already registered on client {self.client_id}")
        self._producers.add(group)

    def register_consumer(self, consumer: ConsumerMember) -> None:
        if consumer.group in self._consumers:
            raise MQClientError(
                f"consumer group {consumer.group!r} is already registered on client {self.client_id}"
            )
        self._consumers[consumer.group] = consumer
        self._route_wakeup.set()  # its topics may have no route yet: start discovery now

    def find_consumer(self, group: str) -> ConsumerMember | None:
        return self._consumers.get(group)

    async def unregister(
        self, *, producer_group: str | None = None, consumer_group: str | None = None
    ) -> None:
        """Remove a group locally and send UNREGISTER_CLIENT to every known broker (best effort)."""
        if producer_group:
            self._producers.discard(producer_group)
        if consumer_group:
            self._consumers.pop(consumer_group, None)
        addrs = [a for addrs in self._brokers.values() for a in addrs.values()]
        results = await asyncio.gather(
            *(
                self.api.unregister_client(
                    a, self.client_id, producer_group=producer_group, consumer_group=consumer_group
                )
                for a in addrs
            ),
            return_exceptions=True,
        )
        for addr, res in zip(addrs, results, strict=True):
            if isinstance(res, Exception):
                self._log.warning("unregister failed", broker=addr, error=str(res))

    # ---------------------------------------------------------------------------- routes

    async def _fetch_route(self, topic: str) -> TopicRouteData | None:
        """GET_ROUTEINFO_BY_TOPIC from the sticky NameServer, failing over to the others."""
        last: Exception | None = None
        for _ in range(len(self._namesrvs)):
            addr = self._namesrvs[self._ns_index % len(self._namesrvs)]
            try:
                return await self.api.get_route(addr, topic)
            except RemotingError as exc:
                last = exc
                self._ns_index += 1
                self._log.warning("namesrv request failed, trying the next", namesrv=addr, error=str(exc))
        assert last is not None
        raise last

    async def update_route(self, topic: str) -> TopicRouteData | None:
        """Fetch and apply the route of ``topic`` (concurrent callers share one request)."""
        pending = self._inflight.get(topic)
        if pending is not None:
            return await asyncio.shield(pending)
        fut: asyncio.Future[TopicRouteData | None] = asyncio.get_running_loop().create_future()
        self._inflight[topic] = fut
        try:
            route = await self._fetch_route(topic)
            if route is not None:
                new_brokers, rebalance = self._apply_route(topic, route)
                if new_brokers:
                    # a broker we never talked to must know our groups before a rebalance asks it
                    # for the group's consumer ids ("no consumer for this group" otherwise) and
                    # before it must push a reply to this client (request-reply)
                    await self.send_heartbeat_to_all_brokers()
                for consumer in rebalance:
                    consumer.trigger_rebalance()
            fut.set_result(route)
            return route
        except BaseException as exc:
            # waiters sharing this fetch must not see *our* cancellation as theirs
            shared = (
                MQClientError(f"route fetch for {topic} was cancelled")
                if isinstance(exc, asyncio.CancelledError)
                else exc
            )
            fut.set_exception(shared)
            fut.exception()
            raise
        finally:
            del self._inflight[topic]

    def _apply_route(self, topic: str, route: TopicRouteData) -> tuple[bool, list[ConsumerMember]]:
        """Cache ``route``; returns (whether a broker address is new, the consumers to rebalance)."""
        old = self._routes.get(topic)
        self._routes[topic] = route
        if old == route and topic in self._subscribe:
            return False, []
        known = {a for addrs in self._brokers.values() for a in addrs.values()}
        self._brokers.update(broker_addr_table(route))
        new_brokers = any(a not in known for addrs in self._brokers.values() for a in addrs.values())
        if topic in self._publish:
            info = TopicPublishInfo.from_route(topic, route)
            if info.ok:
                self._publish[topic] = info
        queues = subscribe_queues(topic, route)
        if self._subscribe.get(topic) == queues:
            return new_brokers, []
        self._subscribe[topic] = queues
        return new_brokers, [c for c in self._consumers.values() if topic in c.subscribed_topics()]

    def cached_publish_info(self, topic: str) -> TopicPublishInfo | None:
        """The publish queues of ``topic`` if a usable route is cached (any thread, no I/O)."""
        info = self._publish.get(topic)
        return info if info is not None and info.ok and not info.from_template else None

    async def get_publish_info(
        self, topic: str, *, template_topic: str, template_queue_nums: int
    ) -> TopicPublishInfo:
        """Publish queues of ``topic``; for an unknown topic, the capped template route.

        Raises:
            NoRouteError: neither the topic nor the template has a route.
        """
        info = self._publish.get(topic)
        if info is not None and info.ok:
            return info
        route = await self.update_route(topic)
        if route is not None:
            info = TopicPublishInfo.from_route(topic, route)
            if info.ok:
                self._publish[topic] = info
                return info
        if route is None and template_topic:
            template = await self.update_route(template_topic)
            if template is not None:
                info = TopicPublishInfo.from_route(
                    topic, cap_template_route(template, template_queue_nums), from_template=True
                )
                if info.ok:
                    self._publish[topic] = info
                    return info
        known = self._routes.get(topic)
        if known is not None and known.broker_datas:
            names = ", ".join(sorted(bd.broker_name for bd in known.broker_datas))
            raise NoRouteError(
                topic,
                f"no broker serves it now (it was served by {names}): are the brokers down or "
                "unregistered from the NameServer?",
            )
        if route is not None:
            raise NoRouteError(
                topic, "the topic exists but has no writable queue (brokers down or read-only)"
            )
        raise NoRouteError(
            topic,
            "the NameServer knows no broker serving it: either the topic does not exist (create it with "
            "Admin.create_topic or mqadmin updateTopic, or set autoCreateTopicEnable=true on the brokers) "
            "or every broker serving it is down",
        )

    def subscribe_queues(self, topic: str) -> list[MessageQueue] | None:
        return self._subscribe.get(topic)

    def broker_addr(
        self, broker_name: str, broker_id: int = MASTER_ID, *, fallback: bool = True
    ) -> str | None:
        """Address of ``broker_name``/``broker_id``; with ``fallback`` any address of that group."""
        addrs = self._brokers.get(broker_name)
        if not addrs:
            return None
        addr = addrs.get(broker_id)
        if addr is None and fallback:
            addr = addrs.get(MASTER_ID) or addrs[min(addrs)]
        return addr

    def any_broker_addr(self, topic: str) -> str | None:
        """A master address serving ``topic`` (for group-level requests like the consumer list)."""
        route = self._routes.get(topic)
        if route is None:
            return None
        for bd in sorted(route.broker_datas, key=lambda b: b.broker_name):
            addr = self.broker_addr(bd.broker_name)
            if addr:
                return addr
        return None

    def all_broker_addrs(self) -> dict[str, str]:
        """``addr -> broker name`` of every master known from routes."""
        return {a[MASTER_ID]: name for name, a in self._brokers.items() if MASTER_ID in a}

    def _topics_without_route(self) -> set[str]:
        """Subscribed topics with no readable queue known (not created yet, or no broker serves them)."""
        topics: set[str] = set()
        for consumer in self._consumers.values():
            topics.update(t for t in consumer.subscribed_topics() if not self._subscribe.get(t))
        return topics

    async def _route_loop(self) -> None:
        """Refresh every route each poll interval; between polls, re-query the routes that are
        missing with a short back-off (``route_discovery_first_delay`` doubling up to
        ``route_discovery_max_delay``, never beyond the poll interval)."""
        loop = asyncio.get_running_loop()
        poll = self.config.poll_name_server_interval
        first = min(self.config.route_discovery_first_delay, poll)
        cap = max(first, min(self.config.route_discovery_max_delay, poll))
        next_poll = loop.time() + poll
        backoff = first
        while True:
            missing = self._topics_without_route()
            wait = max(0.0, next_poll - loop.time())
            if missing:
                wait = min(wait, backoff)
                backoff = min(backoff * 2, cap)
            self._route_wakeup.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._route_wakeup.wait()
            if self._route_wakeup.is_set():  # a consumer registered: begin its discovery promptly
                backoff = first
            if loop.time() >= next_poll:
                await self.refresh_routes()
                next_poll = loop.time() + poll
            else:
                await self.refresh_routes(self._topics_without_route())

    async def refresh_routes(self, only: Iterable[str] | None = None) -> None:
        """Re-query the route of every used topic (or of ``only``)."""
        if only is not None:
            await self._refresh(set(only))
            return
        topics = set(self._publish)
        for consumer in self._consumers.values():
            topics.update(consumer.subscribed_topics())
        await self._refresh(topics)

    async def _refresh(self, topics: set[str]) -> None:
        for topic in topics:
            try:
                route = await self.update_route(topic)
                if route is not None and topic in self._publish and self._publish[topic].from_template:
                    self._publish[topic] = TopicPublishInfo.from_route(topic, route)
            except Exception as exc:  # keep the timer alive whatever one topic does
                self._log.debug("route refresh failed", topic=topic, error=str(exc))

    # ------------------------------------------------------------------------ heartbeat

    def heartbeat_data(self) -> HeartbeatData:
        producers = sorted(self._producers | {CLIENT_INNER_PRODUCER})
        return HeartbeatData(self.client_id, producers, [c.consumer_data() for c in self._consumers.values()])

    async def send_heartbeat_to_all_brokers(self) -> None:
        """HEART_BEAT to every master (and, when consumers exist, every slave). Failures are logged."""
        if not self._producers and not self._consumers:
            return
        data = self.heartbeat_data()
        addrs = [
            addr
            for ids in self._brokers.values()
            for bid, addr in ids.items()
            if bid == MASTER_ID or self._consumers
        ]
        results = await asyncio.gather(*(self.api.heartbeat(a, data) for a in addrs), return_exceptions=True)
        for addr, res in zip(addrs, results, strict=True):
            if isinstance(res, Exception):
                self._log.warning("heartbeat failed", broker=addr, error=str(res))

    async def _heartbeat_loop(self) -> None:
        await asyncio.sleep(1.0)
        while True:
            await self.send_heartbeat_to_all_brokers()
            await asyncio.sleep(self.config.heartbeat_broker_interval)

    # ------------------------------------------------------------- broker-initiated calls

    def _on_notify_ids_changed(self, cmd: RemotingCommand, channel: Channel) -> None:
        group = cmd.field("consumerGroup")
        self._log.info("consumer ids changed, rebalancing", group=group, broker=channel.remote_addr)
        for consumer in self._consumers.values():
            consumer.trigger_rebalance()
