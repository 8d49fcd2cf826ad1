"""Load and read-back helpers for the store durability tests (SIGKILL rounds, power cuts).

Messages go over the wire with SEND_MESSAGE (code 10) from asyncio senders on
:class:`~broker_core.remoting.client.RemotingClient` connections; reads use PULL_MESSAGE and
QUERY_MESSAGE. Each message's KEYS is unique, so "acknowledged message survived" means: the key is at
the (queue, queue offset) the send response reported.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from broker_core.message import decode_records, encode_properties
from broker_core.remoting.client import RemotingClient
from broker_core.remoting.codes import RequestCode, ResponseCode
from broker_core.remoting.command import RemotingCommand

QUEUES = 4


@dataclass(frozen=True)
class Acked:
    """One message whose send the broker answered with SUCCESS."""

    key: str
    queue_id: int
    queue_offset: int
    msg_id: str


def send_request(
    topic: str, queue_id: int, key: str, body: bytes, *, wait: bool | None = True
) -> RemotingCommand:
    """SEND_MESSAGE with KEYS=key and UNIQ_KEY=U<key>; ``wait=None`` leaves the WAIT property out
    (as the C++ client does; Apache then waits for the flush, like ``WAIT=true``)."""
    props = {"KEYS": key, "UNIQ_KEY": f"U{key}"}
    if wait is not None:
        props["WAIT"] = "true" if wait else "false"
    ext = {
        "producerGroup": "StoreTestPG", "topic": topic, "defaultTopic": "TBW102", "defaultTopicQueueNums": "4",
        "queueId": str(queue_id), "sysFlag": "0", "bornTimestamp": str(int(time.time() * 1000)), "flag": "0",
        "properties": encode_properties(props), "reconsumeTimes": "0", "unitMode": "false",
    }  # fmt: skip
    return RemotingCommand.request(RequestCode.SEND_MESSAGE, ext, body)


async def send_one(
    client: RemotingClient, addr: str, topic: str, queue_id: int, key: str, body: bytes
) -> RemotingCommand:
    return await client.invoke(addr, send_request(topic, queue_id, key, body), 5.0)


def acked_from(key: str, resp: RemotingCommand) -> Acked:
    ext = resp.ext_fields or {}
    return Acked(key, int(ext["queueId"]), int(ext["queueOffset"]), ext["msgId"])


async def pull_all(
    client: RemotingClient, addr: str, topic: str, queue_id: int, *, max_nums: int = 32
) -> dict[int, str]:
    """queue offset -> KEYS of every message in the queue.

    Raises:
        AssertionError: the broker answered anything but SUCCESS / PULL_NOT_FOUND / OFFSET_MOVED
            (an error must not read as "the queue is empty").
    """
    out: dict[int, str] = {}
    offset = 0
    while True:
        ext = {
            "consumerGroup": "StoreTestCG", "topic": topic, "queueId": str(queue_id), "queueOffset": str(offset),
            "maxMsgNums": str(max_nums), "sysFlag": "4", "commitOffset": "0", "suspendTimeoutMillis": "0",
            "subscription": "*", "subVersion": "0",
        }  # fmt: skip
        resp = await client.invoke(addr, RemotingCommand.request(RequestCode.PULL_MESSAGE, ext), 5.0)
        nxt = int((resp.ext_fields or {}).get("nextBeginOffset", "-1"))
        if resp.code == ResponseCode.PULL_OFFSET_MOVED and nxt > offset:
            offset = nxt
            continue
        if resp.code in (ResponseCode.PULL_NOT_FOUND, ResponseCode.PULL_OFFSET_MOVED):
            return out  # past the end of the queue
        assert resp.code == ResponseCode.SUCCESS, (resp.code, resp.remark)
        for m in decode_records(resp.body or b""):
            out[m.queue_offset] = m.keys or ""
        offset = nxt


async def query_keys(client: RemotingClient, addr: str, topic: str, key: str) -> list[str]:
    ext = {"topic": topic, "key": key, "maxNum": "32", "beginTimestamp": "0", "endTimestamp": str(2**62)}
    resp = await client.invoke(addr, RemotingCommand.request(RequestCode.QUERY_MESSAGE, ext), 5.0)
    if resp.code != ResponseCode.SUCCESS:
        return []
    return [m.keys or "" for m in decode_records(resp.body or b"")]


async def missing_after_restart(
    addr: str, topic: str, acked: list[Acked], *, max_nums: int = 32
) -> list[Acked]:
    """The acknowledged messages that are not at their (queue, offset) now."""
    client = RemotingClient()
    try:
        stored = {q: await pull_all(client, addr, topic, q, max_nums=max_nums) for q in range(QUEUES)}
    finally:
        await client.close()
    return [a for a in acked if stored[a.queue_id].get(a.queue_offset) != a.key]


async def check_all_readable(addr: str, topic: str, acked: list[Acked], *, query_all: bool) -> None:
    """Every acknowledged message is readable by pull, and (all or the last 50) by key query."""
    missing = await missing_after_restart(addr, topic, acked)
    assert not missing, f"{len(missing)} acknowledged messages not readable by pull, e.g. {missing[:3]}"
    client = RemotingClient()
    try:
        sample = acked if query_all else acked[-50:]
        for i in range(0, len(sample), 64):
            chunk = sample[i : i + 64]
            results = await asyncio.gather(*(query_keys(client, addr, topic, a.key) for a in chunk))
            for a, keys in zip(chunk, results, strict=True):
                assert a.key in keys, f"{a} not found by key query"
    finally:
        await client.close()
