"""Async RocketMQ 4.x client (remoting protocol) with a blocking facade.

Quick start::

    async with Producer("pg", namesrv_addr="127.0.0.1:9876") as producer:
        result = await producer.send(Message("TopicTest", b"hello"))

    consumer = PushConsumer("cg", namesrv_addr="127.0.0.1:9876")
    consumer.subscribe("TopicTest", "TagA || TagC")
    consumer.register_listener(handle)      # async def handle(msgs) -> ConsumeResult
    await consumer.start()
"""

from __future__ import annotations

from broker_core.message.model import Message, MessageExt, MessageQueue
from rocketmq_integration.client.admin import Admin
from rocketmq_integration.client.allocate import (
    AllocateByConfig,
    AllocateByMachineRoom,
    AllocateConsistentHash,
    AllocateStrategy,
    allocate_averagely,
    allocate_averagely_by_circle,
)
from rocketmq_integration.client.config import (
    ClientConfig,
    ConsumeFromWhere,
    ConsumerConfig,
    ListenerKind,
    MessageModel,
    ProducerConfig,
)
from rocketmq_integration.client.consume_service import Listener
from rocketmq_integration.client.consumer import PushConsumer
from rocketmq_integration.client.lite_pull_consumer import LitePullConsumer
from rocketmq_integration.client.pop_consumer import PopConsumer, PoppedMessage
from rocketmq_integration.client.producer import Producer
from rocketmq_integration.client.pull_consumer import PullConsumer
from rocketmq_integration.client.request_reply import RequestTimeoutError, reply, request
from rocketmq_integration.client.results import (
    ConsumeResult,
    ListenerResult,
    PullResult,
    PullStatus,
    SendResult,
    SendStatus,
    SuspendCurrentQueue,
)
from rocketmq_integration.client.sync import EventLoopThread, SyncProducer, SyncPushConsumer
from rocketmq_integration.client.timer import deliver_after, deliver_at
from rocketmq_integration.client.transaction import (
    LocalTransactionState,
    TransactionListener,
    TransactionProducer,
    TransactionSendResult,
)

__all__ = [
    "Admin",
    "AllocateByConfig",
    "AllocateByMachineRoom",
    "AllocateConsistentHash",
    "AllocateStrategy",
    "ClientConfig",
    "ConsumeFromWhere",
    "ConsumeResult",
    "ConsumerConfig",
    "EventLoopThread",
    "Listener",
    "ListenerKind",
    "ListenerResult",
    "LitePullConsumer",
    "LocalTransactionState",
    "Message",
    "MessageExt",
    "MessageModel",
    "MessageQueue",
    "PopConsumer",
    "PoppedMessage",
    "Producer",
    "ProducerConfig",
    "PullConsumer",
    "PullResult",
    "PullStatus",
    "PushConsumer",
    "RequestTimeoutError",
    "SendResult",
    "SendStatus",
    "SuspendCurrentQueue",
    "SyncProducer",
    "SyncPushConsumer",
    "TransactionListener",
    "TransactionProducer",
    "TransactionSendResult",
    "allocate_averagely",
    "allocate_averagely_by_circle",
    "deliver_after",
    "deliver_at",
    "reply",
    "request",
]
