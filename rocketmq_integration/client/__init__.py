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
from rocketmq_integration.client.producer import Producer
from rocketmq_integration.client.rebalance import allocate_averagely, allocate_averagely_by_circle
from rocketmq_integration.client.results import ConsumeResult, PullStatus, SendResult, SendStatus
from rocketmq_integration.client.sync import EventLoopThread, SyncProducer, SyncPushConsumer

__all__ = [
    "Admin",
    "ClientConfig",
    "ConsumeFromWhere",
    "ConsumeResult",
    "ConsumerConfig",
    "EventLoopThread",
    "Listener",
    "ListenerKind",
    "Message",
    "MessageExt",
    "MessageModel",
    "MessageQueue",
    "Producer",
    "ProducerConfig",
    "PullStatus",
    "PushConsumer",
    "SendResult",
    "SendStatus",
    "SyncProducer",
    "SyncPushConsumer",
    "allocate_averagely",
    "allocate_averagely_by_circle",
]
