"""A slave copies its master's metadata (Apache's ``SlaveSynchronize``, storage spec §7.5).

Every ``interval`` seconds (Apache: 10 s; the first round runs as soon as the master's address is
known), once the master address is known and is not this broker's own:

=====================  ===================================  =============================================
part                   request to the master                applied how
=====================  ===================================  =============================================
topic configs          GET_ALL_TOPIC_CONFIG (21)            if the data version differs: replace the whole
                                                            table, copy the version, persist
consumer offsets       GET_ALL_CONSUMER_OFFSET (43)         entries added/overwritten, persisted
delay offsets          GET_ALL_DELAY_OFFSET (45)            the schedule service's offsets replaced and
                                                            ``config/delayOffset.json`` written
subscription groups    GET_ALL_SUBSCRIPTIONGROUP_CONFIG     if the data version differs: replace table,
                       (201)                                copy the version, persist
=====================  ===================================  =============================================

A failed part is logged and retried on the next round; the others still run.
"""

from __future__ import annotations

import asyncio
from typing import Any

from broker_core.broker.context import BrokerContext
from broker_core.broker.groups import SubscriptionGroupConfig
from broker_core.broker.schedule import ScheduleMessageService
from broker_core.errors import RemotingError
from broker_core.logsetup import get_logger
from broker_core.remoting import fastjson
from broker_core.remoting.body.topic_config import DataVersion, TopicConfigSerializeWrapper
from broker_core.remoting.client import RemotingClient
from broker_core.remoting.codes import RequestCode, ResponseCode
from broker_core.remoting.command import RemotingCommand
from broker_core.tasks import cancel_and_wait

__all__ = ["SlaveSynchronizer"]

log = get_logger(__name__)


class SlaveSynchronizer:
    """Pulls topics, offsets, delay offsets and groups from the master; see module docstring."""

    def __init__(
        self,
        ctx: BrokerContext,
        schedule: ScheduleMessageService,
        client: RemotingClient,
        *,
        interval: float = 10.0,
    ) -> None:
        self.ctx = ctx
        self.schedule = schedule
        self.client = client
        self.interval = interval
        self.master_addr: str | None = None
        self.rounds = 0
        self._known = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def update_master_address(self, addr: str | None) -> None:
        """The master's broker address (from registration); the first one starts the rounds."""
        if addr and addr != self.master_addr:
            self.master_addr = addr
            self._known.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="slave-sync")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        await self._known.wait()
        while True:
            try:
                await self.sync_all()
            except Exception:  # keep the timer alive whatever one round does
                log.exception("slave metadata sync failed")
            await asyncio.sleep(self.interval)

    async def sync_all(self) -> None:
        """One round of all four parts."""
        addr = self.master_addr
        if not addr or addr == self.ctx.config.broker_addr:
            return
        parts = (
            ("topics", RequestCode.GET_ALL_TOPIC_CONFIG, self._apply_topics),
            ("consumer offsets", RequestCode.GET_ALL_CONSUMER_OFFSET, self._apply_offsets),
            ("delay offsets", RequestCode.GET_ALL_DELAY_OFFSET, self._apply_delay_offsets),
            ("subscription groups", RequestCode.GET_ALL_SUBSCRIPTIONGROUP_CONFIG, self._apply_groups),
        )
        for name, code, apply in parts:
            try:
                apply(await self._fetch(addr, code))
            except (RemotingError, ValueError, TypeError, KeyError, AttributeError) as exc:
                log.warning("slave sync part failed", part=name, master=addr, error=str(exc))
        self.rounds += 1

    async def _fetch(self, addr: str, code: RequestCode) -> bytes:
        response = await self.client.invoke(addr, RemotingCommand.request(code, {}), 3.0)
        if response.code != ResponseCode.SUCCESS:
            raise RemotingError(f"{code.name} answered {response.code}: {response.remark}")
        return response.body or b"{}"

    # ---- parts --------------------------------------------------------------------------------
    def _apply_topics(self, body: bytes) -> None:
        wrapper = TopicConfigSerializeWrapper.from_json(body)
        topics = self.ctx.topics
        if wrapper.data_version != topics.data_version:
            topics.table = dict(wrapper.topic_config_table)
            topics.data_version = wrapper.data_version
            topics.persist()
            log.info("topics synced from master", count=len(topics.table))

    def _apply_offsets(self, body: bytes) -> None:
        raw: dict[str, Any] = fastjson.loads(body).get("offsetTable") or {}
        offsets = self.ctx.offsets
        for key, queues in raw.items():
            offsets.table[str(key)] = {int(q): int(o) for q, o in queues.items()}
        offsets.persist(force=True)

    def _apply_delay_offsets(self, body: bytes) -> None:
        raw: dict[str, Any] = fastjson.loads(body).get("offsetTable") or {}
        self.schedule.offsets = {int(k): int(v) for k, v in raw.items()}
        self.schedule.persist(force=True)

    def _apply_groups(self, body: bytes) -> None:
        obj = fastjson.loads(body)
        version = DataVersion.from_json_dict(obj.get("dataVersion"))
        groups = self.ctx.groups
        if version != groups.data_version:
            raw: dict[str, Any] = obj.get("subscriptionGroupTable") or {}
            groups.table = {str(k): SubscriptionGroupConfig.from_json_dict(v) for k, v in raw.items()}
            groups.data_version = version
            groups.persist()
            log.info("subscription groups synced from master", count=len(groups.table))
