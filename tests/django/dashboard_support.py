"""Helpers of the dashboard tests: a consumer group that dead-letters chosen messages, lag setup."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from broker_core.message.model import Message, MessageExt
from rocketmq_integration.client import (
    Admin,
    ClientConfig,
    ConsumeFromWhere,
    ConsumerConfig,
    ConsumeResult,
    PullConsumer,
    SyncProducer,
    SyncPushConsumer,
)
from rocketmq_integration.django.dashboard import dlq

# long connect/request timeouts: the test machine may be heavily loaded
CLIENT = ClientConfig(
    poll_name_server_interval=1.0,
    heartbeat_broker_interval=5.0,
    connect_timeout=10.0,
    mq_client_api_timeout=10.0,
)


class DeadLetteringGroup:
    """A push consumer of ``group`` on ``topic`` that fails messages whose key is in ``failing``.

    ``max_reconsume_times=0``: the first failure moves a message to ``%DLQ%<group>``. Every delivery
    is recorded; :meth:`wait_delivery` waits for a key to arrive (again).
    """

    def __init__(self, namesrv: str, topic: str, group: str, failing: set[str]) -> None:
        self.failing = set(failing)
        self.deliveries: list[MessageExt] = []
        self._cond = threading.Condition()
        config = ConsumerConfig(
            consume_from_where=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
            rebalance_interval=2.0,
            max_reconsume_times=0,
        )
        self.consumer = SyncPushConsumer(group, namesrv_addr=namesrv, client_config=CLIENT, config=config)
        self.consumer.subscribe(topic, "*")
        self.consumer.register_listener(self._on_messages)
        self.consumer.start()

    async def _on_messages(self, msgs: list[MessageExt]) -> ConsumeResult:
        with self._cond:
            self.deliveries += msgs
            self._cond.notify_all()
        return (
            ConsumeResult.RECONSUME_LATER
            if any(m.keys in self.failing for m in msgs)
            else ConsumeResult.SUCCESS
        )

    def wait_delivery(self, key: str, count: int = 1, timeout: float = 60.0) -> list[MessageExt]:
        """The deliveries of ``key`` once there are at least ``count`` of them."""
        with self._cond:
            ok = self._cond.wait_for(
                lambda: len([m for m in self.deliveries if m.keys == key]) >= count, timeout
            )
            got = [m for m in self.deliveries if m.keys == key]
        assert ok, f"{len(got)} deliveries of {key!r} within {timeout}s (wanted {count})"
        return got

    def shutdown(self) -> None:
        self.consumer.shutdown()


def send(namesrv: str, topic: str, body: bytes, key: str, **props: str) -> str:
    """Send one message; returns its msgId."""
    producer = SyncProducer("dash_test_pg", namesrv_addr=namesrv, client_config=CLIENT)
    producer.start()
    try:
        msg = Message(topic, body, properties=dict(props))
        msg.keys = key
        return producer.send(msg).msg_id
    finally:
        producer.shutdown()


def wait_dead_letter(namesrv: str, group: str, msg_id: str, timeout: float = 60.0) -> MessageExt:
    """The DLQ record of ``msg_id`` in ``group``'s DLQ, once it is there."""

    async def look() -> MessageExt:
        async with Admin(namesrv, client_config=CLIENT) as admin:
            deadline = time.monotonic() + timeout
            while True:
                found = [m for m in await dlq.browse(admin, group) if m.msg_id == msg_id]
                if found:
                    return found[0]
                assert time.monotonic() < deadline, f"{msg_id} not in the DLQ of {group} after {timeout}s"
                await asyncio.sleep(0.2)

    result: MessageExt = asyncio.run(look())
    return result


def commit_offsets(namesrv: str, topic: str, group: str, offset: int) -> None:
    """Store ``offset`` for ``group`` on every queue of ``topic`` (a group that lags)."""

    async def go() -> None:
        async with PullConsumer(group, namesrv_addr=namesrv, client_config=CLIENT) as pc:
            for mq in await pc.fetch_subscribe_message_queues(topic):
                await pc.update_consume_offset(mq, offset)

    asyncio.run(go())


def wait_indexed(namesrv: str, topic: str, key: str, timeout: float = 30.0) -> Any:
    """Wait until a query by ``key`` finds the message (the index is written after the store)."""

    async def go() -> Any:
        async with Admin(namesrv, client_config=CLIENT) as admin:
            deadline = time.monotonic() + timeout
            while not await admin.query_message(topic, key):
                assert time.monotonic() < deadline, f"key {key!r} not indexed after {timeout}s"
                await asyncio.sleep(0.1)

    return asyncio.run(go())
