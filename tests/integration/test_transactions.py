"""Transactional messages with our TransactionProducer against a real broker (storage spec 6).

Short ``transactionTimeOut``/``transactionCheckInterval`` make the check-back happen within about a
second. One consumer watches the real topic for the whole scenario: committed messages arrive,
rolled-back ones never do, an UNKNOW one arrives only after the broker asked the producer, and a
check for a message sent by a producer that has since been replaced reaches the new instance.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from broker_core.message.model import Message, MessageExt
from rocketmq_integration.client import (
    ListenerKind,
    LocalTransactionState,
    MessageQueue,
    PushConsumer,
    TransactionProducer,
)
from tests.integration.client.helpers import CLIENT, CONSUMER, Collector, create_topic, run, unique
from tests.support.cluster import Cluster

pytestmark = [pytest.mark.timeout(120)]

S = LocalTransactionState
CONTROLS = {100, 101}


@pytest.fixture
def broker_conf() -> dict[str, str]:
    return {"transactionTimeOut": "1000", "transactionCheckInterval": "500"}


class Listener:
    """Local transaction = the message's ``decide`` property; check-backs answer ``check_answer``."""

    def __init__(self, check_answer: LocalTransactionState = S.COMMIT_MESSAGE) -> None:
        self.check_answer = check_answer
        self.executed: list[str] = []
        self.checked: dict[str, float] = {}  # idx -> time of the first check (ms)
        self.check_event = asyncio.Event()

    def execute_local_transaction(self, msg: Message, arg: object) -> LocalTransactionState:
        self.executed.append(msg.properties["idx"])
        return {"commit": S.COMMIT_MESSAGE, "rollback": S.ROLLBACK_MESSAGE}.get(
            msg.properties["decide"], S.UNKNOW
        )

    async def check_local_transaction(self, msg: MessageExt) -> LocalTransactionState:
        self.checked.setdefault(msg.properties["idx"], time.time() * 1000)
        self.check_event.set()
        return self.check_answer


def tx_message(topic: str, idx: int, decide: str) -> Message:
    return Message(topic, f"tx-{idx}".encode(), properties={"idx": str(idx), "decide": decide})


def test_commit_rollback_unknown_and_check_after_restart(cluster: Cluster) -> None:
    topic, group = unique("TxTopic"), unique("tx_pg")

    async def scenario() -> None:
        await create_topic(cluster.namesrv_addr, cluster.broker_addr, topic, queues=2)
        collector = Collector(3)
        consumer = PushConsumer(
            unique("tx_cg"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT, config=CONSUMER
        )
        consumer.subscribe(topic)
        consumer.register_listener(collector, ListenerKind.ORDERLY)
        await consumer.start()
        try:
            first = Listener(check_answer=S.ROLLBACK_MESSAGE)  # must never be asked: it goes away
            producer = TransactionProducer(
                group, first, namesrv_addr=cluster.namesrv_addr, client_config=CLIENT
            )
            await producer.start()
            r0 = await producer.send_message_in_transaction(tx_message(topic, 0, "commit"))
            r1 = await producer.send_message_in_transaction(tx_message(topic, 1, "rollback"))
            r2 = await producer.send_message_in_transaction(tx_message(topic, 2, "unknown"))
            assert [r.local_state for r in (r0, r1, r2)] == [S.COMMIT_MESSAGE, S.ROLLBACK_MESSAGE, S.UNKNOW]
            assert r0.transaction_id == r0.send_result.msg_id
            await producer.shutdown()  # message 2 is left open; the broker must ask a new instance

            second = Listener(check_answer=S.COMMIT_MESSAGE)
            restarted = TransactionProducer(
                group, second, namesrv_addr=cluster.namesrv_addr, client_config=CLIENT
            )
            await restarted.start()
            try:
                r3 = await restarted.send_message_in_transaction(tx_message(topic, 3, "unknown"))
                assert r3.local_state is S.UNKNOW
                await collector.wait(timeout=30)
                # positive control: plain messages, one per queue, stored after the three outcomes;
                # once both arrived, a rolled-back or duplicate delivery would have arrived before them
                for q in (0, 1):
                    control = Message(topic, b"control", properties={"idx": str(100 + q), "decide": "-"})
                    await restarted.send_to_queue(control, MessageQueue(topic, "broker-a", q))
                await collector.wait_for_idx(CONTROLS, timeout=30)
            finally:
                await restarted.shutdown()
        finally:
            await consumer.shutdown()
        assert first.executed == ["0", "1", "2"] and not first.checked
        assert set(collector.by_idx) == {0, 2, 3} | CONTROLS
        assert set(second.checked) == {"2", "3"}
        for idx in (2, 3):  # stored only after the producer answered the check
            delivered = collector.by_idx[idx]
            assert delivered.store_timestamp >= second.checked[str(idx)] - 5
            assert "TRAN_MSG" not in delivered.properties and "REAL_TOPIC" not in delivered.properties
        assert collector.deliveries == 3 + len(CONTROLS)

    run(scenario(), timeout=100)
