"""Raw broker requests built from the spec's header tables, for tests that check the broker without
our client: send (V1 or V2 header names), pull, topic creation."""

from __future__ import annotations

import time

from broker_core.message.properties import encode_properties
from broker_core.remoting.blocking import BlockingRemotingClient
from broker_core.remoting.codes import RequestCode, SerializeType
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.headers.send import V2_ALIASES


def send(
    client: BlockingRemotingClient,
    addr: str,
    topic: str,
    body: bytes,
    props: dict[str, str],
    queue_id: int = 0,
    *,
    reconsume_times: int | None = None,
    code: int = RequestCode.SEND_MESSAGE_V2,
    serialize_type: SerializeType = SerializeType.JSON,
) -> RemotingCommand:
    """SEND_MESSAGE_V2 (letter keys) or SEND_MESSAGE (full names) of one message."""
    ext = {
        "a": "pg",
        "b": topic,
        "c": "TBW102",
        "d": "4",
        "e": str(queue_id),
        "f": "0",
        "g": str(int(time.time() * 1000)),
        "h": "0",
        "i": encode_properties(props),
    }
    if reconsume_times is not None:
        ext["j"] = str(reconsume_times)
    if code == RequestCode.SEND_MESSAGE:
        ext = {V2_ALIASES[k]: v for k, v in ext.items()}
    return client.invoke(addr, RemotingCommand.request(code, ext, body, serialize_type=serialize_type), 10.0)


def pull(
    client: BlockingRemotingClient,
    addr: str,
    topic: str,
    queue_id: int,
    offset: int,
    *,
    group: str = "cg",
    suspend_ms: int = 0,
) -> RemotingCommand:
    """PULL_MESSAGE with the subscription (``*``) in the header; long-polls when ``suspend_ms``."""
    ext = {
        "consumerGroup": group,
        "topic": topic,
        "queueId": str(queue_id),
        "queueOffset": str(offset),
        "maxMsgNums": "32",
        "sysFlag": str(0x4 | (0x2 if suspend_ms else 0)),
        "commitOffset": "0",
        "suspendTimeoutMillis": str(suspend_ms),
        "subVersion": "0",
        "subscription": "*",
        "expressionType": "TAG",
    }
    return client.invoke(
        addr, RemotingCommand.request(RequestCode.PULL_MESSAGE, ext), 10.0 + suspend_ms / 1000
    )


def create_topic(client: BlockingRemotingClient, addr: str, topic: str, queues: int = 2) -> RemotingCommand:
    """UPDATE_AND_CREATE_TOPIC with ``queues`` read and write queues, perm RW."""
    ext = {
        "topic": topic,
        "defaultTopic": "TBW102",
        "readQueueNums": str(queues),
        "writeQueueNums": str(queues),
        "perm": "6",
        "topicFilterType": "SINGLE_TAG",
        "topicSysFlag": "0",
        "order": "false",
    }
    return client.invoke(addr, RemotingCommand.request(RequestCode.UPDATE_AND_CREATE_TOPIC, ext), 10.0)
