"""The proxy's remoting side: routes from the NameServer, requests to brokers, check-backs.

The proxy is a remoting client of the cluster (Apache's proxy in "cluster" mode): it learns topic
routes from the NameServer (cached for ``route_ttl`` seconds), sends to the broker masters, and
keeps a heartbeat to every broker it has used with the producer group
:data:`~broker_core.proxy.convert.PROXY_PRODUCER_GROUP`, so that the broker's transaction
check-backs (CHECK_TRANSACTION_STATE) for messages sent through the proxy come to it;
``on_check`` forwards them to a 5.x producer over its Telemetry stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from broker_core.errors import RemotingError
from broker_core.message.codec import decode_records
from broker_core.message.model import MessageExt
from broker_core.proxy.auth import CURRENT, Credentials
from broker_core.proxy.convert import PROXY_PRODUCER_GROUP
from broker_core.remoting import fastjson
from broker_core.remoting.body.heartbeat import HeartbeatData
from broker_core.remoting.body.route import TopicRouteData
from broker_core.remoting.channel import Channel
from broker_core.remoting.client import RemotingClient
from broker_core.remoting.codes import RequestCode, ResponseCode, SerializeType
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.dispatcher import Dispatcher
from broker_core.remoting.headers.base import HeaderError
from broker_core.remoting.headers.namesrv import GetRouteInfoRequestHeader
from broker_core.remoting.headers.transaction import CheckTransactionStateRequestHeader
from broker_core.remoting.signing import sign_request

log = structlog.get_logger(__name__)

__all__ = ["Backend", "CheckRequest", "TopicNotFound"]


class TopicNotFound(LookupError):
    """The NameServer has no route for the topic."""


@dataclass(frozen=True, slots=True)
class CheckRequest:
    """A broker's CHECK_TRANSACTION_STATE, decoded."""

    broker_name: str
    header: CheckTransactionStateRequestHeader
    message: MessageExt


class Backend:
    """Remoting client of the cluster: route cache, broker calls, proxy heartbeat."""

    def __init__(
        self,
        namesrv_addrs: list[str],
        client_id: str,
        on_check: Callable[[CheckRequest], None] | None = None,
        route_ttl: float = 5.0,
        timeout: float = 5.0,
    ) -> None:
        self.namesrv_addrs = namesrv_addrs
        self.client_id = client_id
        self.on_check = on_check
        self.route_ttl = route_ttl
        self.timeout = timeout
        dispatcher = Dispatcher()
        dispatcher.register(RequestCode.CHECK_TRANSACTION_STATE, self._check_state)
        self.client = RemotingClient(dispatcher=dispatcher)
        #: the proxy's own account for its own requests when the brokers enforce ACL
        self.identity: Credentials | None = None
        self._routes: dict[str, tuple[float, TopicRouteData]] = {}
        self._broker_addrs: dict[str, str] = {}
        self._addr_names: dict[str, str] = {}
        self._heartbeat_sent: set[str] = set()
        self._orderly: dict[str, tuple[float, frozenset[str]]] = {}
        self._groups_seen: set[tuple[str, str]] = set()
        self._ns_turn = itertools.count()
        self._task: asyncio.Task[None] | None = None

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._heartbeat_loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.client.close()

    # ----------------------------------------------------------------- routes
    async def route(self, topic: str, *, fresh: bool = False) -> TopicRouteData:
        """The topic's route (cached). Raises TopicNotFound, or RemotingError when no NameServer answers."""
        cached = self._routes.get(topic)
        now = time.monotonic()
        if cached is not None and not fresh and now - cached[0] < self.route_ttl:
            return cached[1]
        header = GetRouteInfoRequestHeader(topic=topic)
        request = RemotingCommand.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, header.to_ext_fields())
        addr = self.namesrv_addrs[next(self._ns_turn) % len(self.namesrv_addrs)]
        resp = await self.client.invoke(addr, request, self.timeout)
        if resp.code == ResponseCode.TOPIC_NOT_EXIST:
            self._routes.pop(topic, None)
            raise TopicNotFound(topic)
        if resp.code != ResponseCode.SUCCESS or not resp.body:
            raise TopicNotFound(topic)
        route = TopicRouteData.from_json(resp.body)
        for bd in route.broker_datas:
            master = bd.master_addr
            if master is not None:
                self._broker_addrs[bd.broker_name] = master
                self._addr_names[master] = bd.broker_name
        self._routes[topic] = (now, route)
        return route

    def known_brokers(self) -> list[str]:
        return sorted(set(self._broker_addrs.values()))

    def broker_addr(self, broker_name: str) -> str | None:
        return self._broker_addrs.get(broker_name)

    async def addr_of(self, broker_name: str, topic: str) -> str | None:
        addr = self._broker_addrs.get(broker_name)
        if addr is None:
            with contextlib.suppress(TopicNotFound):
                await self.route(topic, fresh=True)
            addr = self._broker_addrs.get(broker_name)
        return addr

    async def orderly_groups(self, addr: str, group: str | None = None) -> frozenset[str]:
        """Groups with ``consumeMessageOrderly`` on the broker at ``addr`` (cached like routes).

        The first call naming a ``group`` this proxy has not asked about on that broker reads the
        table afresh: a group is usually created (as FIFO or not) just before its first consumer
        starts, and a table cached earlier for other groups would hand that consumer unordered
        pops until the cache expired. Later changes to a known group follow within ``route_ttl``.
        """
        cached = self._orderly.get(addr)
        now = time.monotonic()
        first_sight = group is not None and (addr, group) not in self._groups_seen
        if group is not None:
            self._groups_seen.add((addr, group))
        if cached is not None and now - cached[0] < self.route_ttl and not first_sight:
            return cached[1]
        groups: frozenset[str] = cached[1] if cached is not None else frozenset()
        try:
            token = CURRENT.set(None)  # an admin request: always as the proxy itself
            try:
                resp = await self.invoke(addr, RequestCode.GET_ALL_SUBSCRIPTIONGROUP_CONFIG, {})
            finally:
                CURRENT.reset(token)
            if resp.code == ResponseCode.SUCCESS and resp.body:
                table = fastjson.loads(resp.body).get("subscriptionGroupTable") or {}
                groups = frozenset(
                    str(name)
                    for name, cfg in table.items()
                    if str(cfg.get("consumeMessageOrderly", "false")).lower() == "true"
                )
        except (RemotingError, ValueError, AttributeError) as exc:
            log.warning("reading subscription groups failed", broker=addr, error=str(exc))
        self._orderly[addr] = (now, groups)
        return groups

    # ----------------------------------------------------------------- calls
    async def invoke(
        self,
        addr: str,
        code: int,
        ext: dict[str, str],
        body: bytes | None = None,
        timeout: float | None = None,
    ) -> RemotingCommand:
        request = RemotingCommand.request(code, ext, body, serialize_type=SerializeType.JSON)
        if addr not in self._heartbeat_sent:
            self._heartbeat_sent.add(addr)
            await self._heartbeat(addr)
        self._sign(request, CURRENT.get())
        resp = await self.client.invoke(addr, request, self.timeout if timeout is None else timeout)
        if resp.code == ResponseCode.SYSTEM_ERROR and "AclException" in (resp.remark or ""):
            resp.code = ResponseCode.NO_PERMISSION  # the broker's ACL said no: FORBIDDEN for the client
        return resp

    def _sign(self, request: RemotingCommand, who: Credentials | None) -> None:
        who = who or self.identity
        if who is not None:
            sign_request(request, who.access_key, who.secret_key)

    async def oneway(self, addr: str, code: int, ext: dict[str, str]) -> None:
        request = RemotingCommand.request(code, ext, oneway=True, serialize_type=SerializeType.JSON)
        await self.client.invoke_oneway(addr, request)

    # ----------------------------------------------------------------- heartbeat / check-back
    async def _heartbeat(self, addr: str) -> None:
        data = HeartbeatData(client_id=self.client_id, producer_groups=[PROXY_PRODUCER_GROUP])
        request = RemotingCommand.request(RequestCode.HEART_BEAT, None, data.encode())
        self._sign(request, None)
        try:
            await self.client.invoke(addr, request, self.timeout)
        except Exception as exc:  # a broker that is down now is retried on the next round
            log.warning("proxy heartbeat failed", broker=addr, error=str(exc))

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(10.0)
            for addr in sorted(self._heartbeat_sent):
                await self._heartbeat(addr)

    def _check_state(self, request: RemotingCommand, channel: Channel) -> None:
        try:
            header = CheckTransactionStateRequestHeader.from_ext_fields(request.ext_fields or {})
            messages = decode_records(request.body or b"", decompress=True)
        except (HeaderError, ValueError) as exc:
            log.warning("bad CHECK_TRANSACTION_STATE", error=str(exc))
            return None
        if not messages or self.on_check is None:
            return None
        name = header.bname or self._addr_names.get(channel.remote_addr, "")
        self.on_check(CheckRequest(name, header, messages[0]))
        return None
