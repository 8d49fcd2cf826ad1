"""Start offset of a newly assigned queue (storage spec §3.6): stored offset, else consume-from-where."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime
from typing import Any

import pytest

from broker_core.message.model import MessageQueue
from rocketmq_integration.client.config import ConsumeFromWhere, ConsumerConfig
from rocketmq_integration.client.rebalance import compute_pull_from_where

MQ = MessageQueue("T", "broker-a", 0)
RETRY_MQ = MessageQueue("%RETRY%g", "broker-a", 0)


class FakeApi:
    def __init__(self) -> None:
        self.searched: list[int] = []

    async def get_max_offset(self, addr: str, mq: MessageQueue) -> int:
        return 90

    async def search_offset(self, addr: str, mq: MessageQueue, ts: int) -> int:
        self.searched.append(ts)
        return 42


class FakeClient:
    def __init__(self) -> None:
        self.api = FakeApi()

    def broker_addr(self, name: str) -> str:
        return "127.0.0.1:10911"


class FakeStore:
    def __init__(self, stored: int) -> None:
        self.stored = stored

    async def read_stored(self, mq: MessageQueue) -> int:
        return self.stored


def _start(where: ConsumeFromWhere, mq: MessageQueue = MQ, stored: int = -1, ts: str = "") -> tuple[int, Any]:
    client = FakeClient()
    cfg = dataclasses.replace(ConsumerConfig(), consume_from_where=where, consume_timestamp=ts)
    got = asyncio.run(compute_pull_from_where(client, FakeStore(stored), cfg, mq))  # type: ignore[arg-type]
    return got, client.api


@pytest.mark.parametrize("where", list(ConsumeFromWhere))
def test_stored_offset_wins(where: ConsumeFromWhere) -> None:
    assert _start(where, stored=17)[0] == 17


def test_first_last_timestamp() -> None:
    assert _start(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET)[0] == 0
    assert _start(ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET)[0] == 90
    got, api = _start(ConsumeFromWhere.CONSUME_FROM_TIMESTAMP, ts="20260102030405")
    assert got == 42
    assert api.searched == [int(datetime(2026, 1, 2, 3, 4, 5).timestamp() * 1000)]


def test_retry_topic_rules() -> None:
    # a retry queue is read from its start for LAST, from its end for TIMESTAMP (Java's rules)
    assert _start(ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET, RETRY_MQ)[0] == 0
    assert _start(ConsumeFromWhere.CONSUME_FROM_TIMESTAMP, RETRY_MQ)[0] == 90
