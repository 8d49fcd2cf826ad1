"""Consumer offset stores: broker-side for clustering, a local JSON file for broadcasting.

Both keep ``MessageQueue -> next offset to consume`` in memory; :meth:`update` is called after
every consumed batch (cheap, in memory), :meth:`persist_all` every
``persist_consumer_offset_interval`` and at shutdown. The remote store commits with oneway
UPDATE_CONSUMER_OFFSET on the timer and with a synchronous request when a queue is dropped or the
consumer shuts down (so a restarted or rebalanced consumer sees the offset at once).

Local file layout (``<dir>/<client id>/<group>/offsets.json``, replaced atomically, previous copy
kept as ``offsets.json.bak``)::

    {"offsetTable": [{"topic": "T", "brokerName": "broker-a", "queueId": 0, "offset": 12}, ...]}
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from broker_core.message.model import MessageQueue
from rocketmq_integration.client.mq_client import MQClientInstance
from rocketmq_integration.errors import ClientError, MQClientError
from rocketmq_integration.logging import get_logger

__all__ = ["LocalFileOffsetStore", "OffsetStore", "RemoteBrokerOffsetStore"]

log = get_logger(__name__)


class OffsetStore(Protocol):
    async def load(self) -> None: ...

    def update(self, mq: MessageQueue, offset: int, *, increase_only: bool = True) -> None: ...

    def read_memory(self, mq: MessageQueue) -> int:
        """The in-memory offset, -1 if none."""
        ...

    async def read_stored(self, mq: MessageQueue) -> int:
        """The persisted offset (refreshing memory), -1 if none exists."""
        ...

    async def persist(self, mq: MessageQueue) -> None: ...

    async def persist_all(self, mqs: Iterable[MessageQueue], *, sync: bool = False) -> None: ...

    def remove(self, mq: MessageQueue) -> None: ...


class _MemoryTable:
    def __init__(self) -> None:
        self.table: dict[MessageQueue, int] = {}

    def update(self, mq: MessageQueue, offset: int, *, increase_only: bool = True) -> None:
        if offset < 0:
            return
        current = self.table.get(mq)
        if current is None or not increase_only or offset > current:
            self.table[mq] = offset

    def read_memory(self, mq: MessageQueue) -> int:
        return self.table.get(mq, -1)

    def remove(self, mq: MessageQueue) -> None:
        self.table.pop(mq, None)


class RemoteBrokerOffsetStore(_MemoryTable):
    """Offsets kept by the broker (QUERY_/UPDATE_CONSUMER_OFFSET)."""

    def __init__(self, client: MQClientInstance, group: str) -> None:
        super().__init__()
        self.client = client
        self.group = group

    async def load(self) -> None:
        return None

    async def _addr(self, mq: MessageQueue) -> str:
        addr = self.client.broker_addr(mq.broker_name)
        if addr is None:
            await self.client.update_route(mq.topic)
            addr = self.client.broker_addr(mq.broker_name)
        if addr is None:
            raise MQClientError(f"broker {mq.broker_name} not found for {mq.topic}")
        return addr

    async def read_stored(self, mq: MessageQueue) -> int:
        offset = await self.client.api.query_consumer_offset(await self._addr(mq), self.group, mq)
        if offset is None:
            return -1
        self.update(mq, offset, increase_only=False)
        return offset

    async def persist(self, mq: MessageQueue) -> None:
        offset = self.table.get(mq)
        if offset is not None:
            await self.client.api.update_consumer_offset(
                await self._addr(mq), self.group, mq, offset, oneway=False
            )

    async def persist_all(self, mqs: Iterable[MessageQueue], *, sync: bool = False) -> None:
        async def one(mq: MessageQueue, offset: int) -> None:
            try:
                addr = await self._addr(mq)
                await self.client.api.update_consumer_offset(addr, self.group, mq, offset, oneway=not sync)
            except ClientError as exc:
                log.warning("offset commit failed", group=self.group, mq=str(mq), error=str(exc))

        await asyncio.gather(*(one(mq, self.table[mq]) for mq in mqs if mq in self.table))


class LocalFileOffsetStore(_MemoryTable):
    """Offsets in a local JSON file (broadcasting: each client consumes everything)."""

    def __init__(self, directory: Path, client_id: str, group: str) -> None:
        super().__init__()
        self.path = Path(directory) / client_id.replace(":", "_") / group / "offsets.json"

    async def load(self) -> None:
        for candidate in (self.path, self.path.with_suffix(".json.bak")):
            try:
                data = json.loads(await asyncio.to_thread(candidate.read_text, "utf-8"))
            except FileNotFoundError:
                continue
            except (OSError, ValueError) as exc:
                log.warning("unreadable offset file", path=str(candidate), error=str(exc))
                continue
            for e in data.get("offsetTable", []):
                mq = MessageQueue(str(e["topic"]), str(e["brokerName"]), int(e["queueId"]))
                self.table[mq] = int(e["offset"])
            return

    async def read_stored(self, mq: MessageQueue) -> int:
        return self.table.get(mq, -1)

    async def persist(self, mq: MessageQueue) -> None:
        await self.persist_all([mq])

    async def persist_all(self, mqs: Iterable[MessageQueue], *, sync: bool = False) -> None:
        entries = [
            {"topic": mq.topic, "brokerName": mq.broker_name, "queueId": mq.queue_id, "offset": off}
            for mq, off in sorted(self.table.items())
        ]
        text = json.dumps({"offsetTable": entries}, ensure_ascii=False, indent=1)
        await asyncio.to_thread(self._write, text)

    def _write(self, text: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(text, "utf-8")
        if self.path.exists():
            os.replace(self.path, self.path.with_suffix(".json.bak"))
        os.replace(tmp, self.path)


async def open_offset_store(
    client: MQClientInstance, group: str, *, clustering: bool, local_dir: Path
) -> OffsetStore:
    """The group's offset store, loaded: on the brokers (clustering) or in a local file (broadcast)."""
    store: OffsetStore = (
        RemoteBrokerOffsetStore(client, group)
        if clustering
        else LocalFileOffsetStore(local_dir, client.client_id, group)
    )
    await store.load()
    return store
