"""Shared helpers for the client integration tests (real namesrv + broker subprocesses)."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

from broker_core.message.model import Message, MessageExt
from rocketmq_integration.client import Admin, ClientConfig, ConsumeFromWhere, ConsumerConfig, ConsumeResult
from tests.support.payloads import TestMessage, make_message

T = TypeVar("T")
_ids = itertools.count()

#: fast timers so nothing in a test waits for a 30 s default
CLIENT = ClientConfig(
    poll_name_server_interval=1.0, heartbeat_broker_interval=5.0, persist_consumer_offset_interval=1.0
)
CONSUMER = ConsumerConfig(
    consume_from_where=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET, rebalance_interval=2.0
)


def unique(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{next(_ids)}"


def run(coro: Coroutine[Any, Any, T], timeout: float = 90.0) -> T:
    """Run a scenario with a hard bound."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def create_topic(namesrv: str, broker: str, topic: str, queues: int = 4) -> None:
    async with Admin(namesrv) as admin:
        await admin.create_topic(topic, broker_addr=broker, read_queue_nums=queues, write_queue_nums=queues)
        await admin.wait_for_route(topic, min_write_queues=queues, timeout=30.0)


def to_message(topic: str, tm: TestMessage) -> Message:
    msg = Message(topic, tm.body, properties=dict(tm.properties))
    msg.tags = tm.tags
    msg.keys = tm.keys
    return msg


def assert_same_content(got: MessageExt, run_id: str) -> None:
    idx = int(got.properties["idx"])
    want = make_message(idx, run_id)
    assert got.body == want.body
    assert got.tags == want.tags
    assert got.keys == want.keys
    for k, v in want.properties.items():
        assert got.properties[k] == v


class Collector:
    """An async listener that records messages by ``idx`` and signals when ``expected`` are in."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.by_idx: dict[int, MessageExt] = {}
        self.deliveries = 0
        self.done = asyncio.Event()
        self._arrived = asyncio.Event()

    async def __call__(self, msgs: list[MessageExt]) -> ConsumeResult:
        for m in msgs:
            self.deliveries += 1
            self.by_idx[int(m.properties.get("idx", "-1"))] = m
        if len(self.by_idx) >= self.expected:
            self.done.set()
        self._arrived.set()
        return ConsumeResult.SUCCESS

    async def wait_for_idx(self, idxs: set[int], timeout: float = 60.0) -> None:
        """Wait until every ``idx`` in ``idxs`` has been delivered: the positive control of a "never
        arrives" check (controls sent after the unwanted messages, one per queue, to an orderly
        listener: once each has arrived, everything stored before it in its queue has been seen)."""

        async def until() -> None:
            while not idxs <= self.by_idx.keys():
                self._arrived.clear()
                await self._arrived.wait()

        try:
            await asyncio.wait_for(until(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"controls {sorted(idxs - self.by_idx.keys())} not delivered in {timeout}s"
            ) from None

    async def wait(self, timeout: float = 60.0) -> None:
        try:
            await asyncio.wait_for(self.done.wait(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"received {len(self.by_idx)} of {self.expected} messages in {timeout}s"
            ) from None
