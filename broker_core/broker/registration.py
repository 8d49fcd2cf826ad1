"""Broker -> NameServer registration (REGISTER_BROKER every 30 s, at start, on topic change).

Each NameServer is registered with in parallel; a NameServer that is down is logged and retried on
the next round. Topic changes coalesce: several changes in one loop iteration trigger one round.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable

from broker_core.broker.topics import TopicConfigManager
from broker_core.config.broker import BrokerConfig
from broker_core.errors import RemotingError
from broker_core.logsetup import get_logger
from broker_core.remoting.body.register import RegisterBrokerBody, body_crc32
from broker_core.remoting.body.topic_config import PERM_READ, PERM_WRITE, TopicConfigSerializeWrapper
from broker_core.remoting.client import RemotingClient
from broker_core.remoting.codes import RequestCode, ResponseCode
from broker_core.remoting.command import RemotingCommand

log = get_logger(__name__)


class BrokerRegistrar:
    def __init__(self, cfg: BrokerConfig, topics: TopicConfigManager, client: RemotingClient) -> None:
        self.cfg = cfg
        self.topics = topics
        self.client = client
        self._task: asyncio.Task[None] | None = None
        self._pending: asyncio.Task[None] | None = None
        self._dirty = False
        self._log = log.bind(broker_name=cfg.broker_name, broker_addr=cfg.broker_addr)
        #: advertised HA address (``haServerAddr``); None = ``brokerIP1:listenPort+1``
        self.ha_server_addr: str | None = None
        #: told ``(masterAddr, haServerAddr)`` from each NameServer answer (a slave's master)
        self.on_master_info: Callable[[str | None, str | None], None] | None = None

    def _header(self) -> dict[str, str]:
        return {
            "brokerName": self.cfg.broker_name,
            "brokerAddr": self.cfg.broker_addr,
            "clusterName": self.cfg.broker_cluster_name,
            "brokerId": str(self.cfg.broker_id),
        }

    def _body(self) -> bytes:
        wrapper = self.topics.wrapper()
        perm = self.cfg.broker_permission
        if perm & (PERM_READ | PERM_WRITE) != PERM_READ | PERM_WRITE:
            table = {k: dataclasses.replace(v, perm=perm) for k, v in wrapper.topic_config_table.items()}
            wrapper = TopicConfigSerializeWrapper(table, wrapper.data_version)
        return RegisterBrokerBody(wrapper).encode()

    async def register_all(self) -> None:
        addrs = self.cfg.namesrv_addrs
        if not addrs:
            return
        body = self._body()
        ext = self._header()
        ha_addr = self.ha_server_addr or self.cfg.ha_server_addr
        ext.update(haServerAddr=ha_addr, compressed="false", bodyCrc32=str(body_crc32(body)))
        await asyncio.gather(*(self._register_one(a, dict(ext), body) for a in addrs))

    async def _register_one(self, addr: str, ext: dict[str, str], body: bytes) -> None:
        request = RemotingCommand.request(RequestCode.REGISTER_BROKER, ext, body)
        try:
            response = await self.client.invoke(addr, request, self.cfg.register_broker_timeout_ms / 1000)
        except RemotingError as exc:
            self._log.warning("register to namesrv failed", namesrv=addr, error=str(exc))
            return
        if response.code != ResponseCode.SUCCESS:
            self._log.warning(
                "namesrv refused registration", namesrv=addr, code=response.code, remark=response.remark
            )
        elif self.on_master_info is not None:
            fields = response.ext_fields or {}
            self.on_master_info(fields.get("masterAddr") or None, fields.get("haServerAddr") or None)

    async def unregister_all(self) -> None:
        for addr in self.cfg.namesrv_addrs:
            request = RemotingCommand.request(RequestCode.UNREGISTER_BROKER, self._header())
            try:
                await self.client.invoke(addr, request, 3.0)
            except RemotingError as exc:
                self._log.warning("unregister from namesrv failed", namesrv=addr, error=str(exc))

    def register_soon(self) -> None:
        """Schedule a registration round, coalescing bursts of topic changes.

        A change that arrives while a round is in flight (its body already built) marks the table
        dirty, so another round follows; otherwise that topic would wait for the 30 s timer.
        """
        self._dirty = True
        if self._pending is None or self._pending.done():
            self._pending = asyncio.get_running_loop().create_task(self._register_while_dirty())

    async def _register_while_dirty(self) -> None:
        while self._dirty:
            self._dirty = False
            await self.register_all()

    async def start(self) -> None:
        await self.register_all()
        self._task = asyncio.get_running_loop().create_task(self._periodic())

    async def _periodic(self) -> None:
        period = max(10.0, min(self.cfg.register_name_server_period_ms / 1000, 60.0))
        while True:
            await asyncio.sleep(period)
            try:
                await self.register_all()
            except Exception:  # keep the timer alive whatever one round does
                self._log.exception("registration round failed")

    async def stop(self) -> None:
        for task in (self._task, self._pending):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.unregister_all()
