"""ORDERLY + BROADCASTING is refused at declaration."""

from __future__ import annotations

from rocketmq_integration.listeners import ConsumeMode, MessageModel, rocketmq_listener


@rocketmq_listener(
    topic="BrokenTopic",
    consumer_group="BrokenGroup",
    consume_mode=ConsumeMode.ORDERLY,
    message_model=MessageModel.BROADCASTING,
)
def broken(payload: object) -> None:
    """Never registered."""
