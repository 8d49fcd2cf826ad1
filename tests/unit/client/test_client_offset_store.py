"""Local file offset store round trip and the in-memory increase-only rule."""

from __future__ import annotations

import asyncio
from pathlib import Path

from broker_core.message.model import MessageQueue
from rocketmq_integration.client.offset_store import LocalFileOffsetStore


def test_local_file_round_trip(tmp_path: Path) -> None:
    mq0, mq1 = MessageQueue("T", "b", 0), MessageQueue("T", "b", 1)

    async def scenario() -> dict[MessageQueue, int]:
        store = LocalFileOffsetStore(tmp_path, "127.0.0.1@DEFAULT", "g")
        store.update(mq0, 10)
        store.update(mq0, 5)  # increase-only ignores going back
        store.update(mq1, 3)
        store.update(mq1, 2, increase_only=False)
        await store.persist_all([mq0, mq1])
        store.update(mq0, 11)
        await store.persist_all([mq0, mq1])  # second write keeps a .bak of the first
        again = LocalFileOffsetStore(tmp_path, "127.0.0.1@DEFAULT", "g")
        await again.load()
        return {mq0: await again.read_stored(mq0), mq1: await again.read_stored(mq1)}

    assert asyncio.run(scenario()) == {mq0: 11, mq1: 2}
    files = sorted(p.name for p in (tmp_path / "127.0.0.1@DEFAULT" / "g").iterdir())
    assert files == ["offsets.json", "offsets.json.bak"]
