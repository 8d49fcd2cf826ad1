"""Broker-side consumption features over the wire: delay levels, send-back/retry/DLQ, bad input,
consumer administration (lag, reset, connections).

Requests are built by hand (blocking remoting client), so these tests check the broker independently
of any client. The broker runs with 1 s delay levels so retries and delays take seconds.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator

import pytest

from broker_core.message.codec import decode_records, encode_batch
from broker_core.message.model import Message, MessageExt
from broker_core.message.properties import encode_properties
from broker_core.remoting import fastjson
from broker_core.remoting.blocking import BlockingRemotingClient
from broker_core.remoting.body.consumer_admin import (
    ConsumeStats,
    decode_group_list,
    decode_offset_table,
    decode_topic_stats,
)
from broker_core.remoting.body.heartbeat import ConsumerData, HeartbeatData, SubscriptionData
from broker_core.remoting.channel import Channel
from broker_core.remoting.client import RemotingClient
from broker_core.remoting.codes import RequestCode, ResponseCode
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.dispatcher import Dispatcher
from tests.support import wire
from tests.support.cluster import Cluster

SHORT_LEVELS = " ".join(["1s"] * 18)


@pytest.fixture
def broker_conf() -> dict[str, str]:
    return {"messageDelayLevel": SHORT_LEVELS, "flushConsumerOffsetInterval": "500"}


@pytest.fixture
def client() -> Iterator[BlockingRemotingClient]:
    c = BlockingRemotingClient()
    yield c
    c.close()


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def call(
    client: BlockingRemotingClient,
    addr: str,
    code: int,
    ext: dict[str, str] | None = None,
    body: bytes | None = None,
    version: int | None = None,
) -> RemotingCommand:
    req = RemotingCommand.request(code, ext, body)
    if version is not None:
        req.version = version
    return client.invoke(addr, req, 10.0)


def create_topic(client: BlockingRemotingClient, addr: str, topic: str, queues: int = 1) -> None:
    assert wire.create_topic(client, addr, topic, queues).code == ResponseCode.SUCCESS


send = wire.send


def pull(
    client: BlockingRemotingClient, addr: str, topic: str, offset: int, group: str, queue_id: int = 0
) -> RemotingCommand:
    return wire.pull(client, addr, topic, queue_id, offset, group=group)


def wait_for_messages(
    client: BlockingRemotingClient, addr: str, topic: str, group: str, count: int, timeout: float = 15.0
) -> list[MessageExt]:
    """Poll a queue from offset 0 until ``count`` messages are readable."""
    deadline = time.monotonic() + timeout
    while True:
        resp = pull(client, addr, topic, 0, group)
        msgs = decode_records(resp.body or b"") if resp.code == ResponseCode.SUCCESS else []
        if len(msgs) >= count:
            return msgs
        assert time.monotonic() < deadline, f"{topic}: {len(msgs)}/{count} messages (last {resp.code})"
        time.sleep(0.1)


def update_group(client: BlockingRemotingClient, addr: str, group: str, retry_max_times: int) -> None:
    body = json.dumps({"groupName": group, "retryMaxTimes": retry_max_times, "retryQueueNums": 1}).encode()
    resp = call(client, addr, RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, None, body)
    assert resp.code == ResponseCode.SUCCESS, resp.remark


def send_back(
    client: BlockingRemotingClient, addr: str, msg: MessageExt, group: str, delay_level: int = 0
) -> RemotingCommand:
    ext = {
        "offset": str(msg.commit_log_offset),
        "group": group,
        "delayLevel": str(delay_level),
        "originMsgId": msg.msg_id,
        "originTopic": msg.topic,
        "unitMode": "false",
    }
    return call(client, addr, RequestCode.CONSUMER_SEND_MSG_BACK, ext)


def test_delayed_message_waits_in_schedule_topic(cluster: Cluster, client: BlockingRemotingClient) -> None:
    addr, topic, group = cluster.broker_addr, unique("Delay"), unique("cg")
    create_topic(client, addr, topic, queues=2)
    props = {"TAGS": "TagD", "KEYS": "kd", "DELAY": "2", "p": "v"}
    sent_at = time.time()
    resp = send(client, addr, topic, b"delayed body", props, queue_id=1)
    assert resp.code == ResponseCode.SUCCESS, resp.remark
    assert resp.ext_fields is not None and resp.ext_fields["queueId"] == "1"
    # parked in SCHEDULE_TOPIC_XXXX queue level-1, not visible in the real queue yet
    assert pull(client, addr, topic, 0, group, queue_id=1).code == ResponseCode.PULL_NOT_FOUND
    parked = decode_records(pull(client, addr, "SCHEDULE_TOPIC_XXXX", 0, group, queue_id=1).body or b"")
    assert [m.properties["REAL_TOPIC"] for m in parked] == [topic]
    assert parked[0].properties["REAL_QID"] == "1"

    deadline = time.monotonic() + 10
    while (got := pull(client, addr, topic, 0, group, queue_id=1)).code != ResponseCode.SUCCESS:
        assert time.monotonic() < deadline, "delayed message never delivered"
        time.sleep(0.05)
    assert time.time() - sent_at >= 0.9, "delivered before its level was due"
    (msg,) = decode_records(got.body or b"")
    assert msg.body == b"delayed body" and msg.topic == topic and msg.queue_id == 1
    assert msg.tags == "TagD" and msg.keys == "kd" and msg.properties["p"] == "v"
    assert "DELAY" not in msg.properties
    dump = call(client, addr, RequestCode.GET_ALL_DELAY_OFFSET)
    assert dump.code == 0 and fastjson.loads(dump.body or b"")["offsetTable"]["2"] == 1

    client.close()
    assert cluster.broker.stop() == 0
    store_dir = cluster.broker.store_dir
    assert store_dir is not None
    offsets = fastjson.loads((store_dir / "config" / "delayOffset.json").read_text())
    assert offsets["offsetTable"]["2"] == 1  # level 2 delivered up to queue offset 1


def test_send_back_retries_then_dead_letter(cluster: Cluster, client: BlockingRemotingClient) -> None:
    """Acceptance 3: retry via %RETRY% with growing reconsumeTimes, then %DLQ% with the original
    topic/keys, readable and re-sendable."""
    addr, topic, group = cluster.broker_addr, unique("Retry"), unique("cg")
    create_topic(client, addr, topic)
    update_group(client, addr, group, retry_max_times=2)
    props = {"TAGS": "TagR", "KEYS": "order-42", "UNIQ_KEY": uuid.uuid4().hex.upper()}
    assert send(client, addr, topic, b"will fail", props).code == ResponseCode.SUCCESS
    (original,) = wait_for_messages(client, addr, topic, group, 1)

    retry_topic, current = f"%RETRY%{group}", original
    for attempt in (1, 2):
        resp = send_back(client, addr, current, group)
        assert resp.code == ResponseCode.SUCCESS, resp.remark
        current = wait_for_messages(client, addr, retry_topic, group, attempt)[-1]
        assert current.reconsume_times == attempt
        assert current.properties["RETRY_TOPIC"] == topic
        assert current.properties["ORIGIN_MESSAGE_ID"] == original.offset_msg_id
        assert current.body == b"will fail" and current.keys == "order-42"

    assert send_back(client, addr, current, group).code == ResponseCode.SUCCESS  # 3rd failure: DLQ
    (dead,) = wait_for_messages(client, addr, f"%DLQ%{group}", group, 1, timeout=5)
    assert dead.reconsume_times == 3
    assert dead.properties["RETRY_TOPIC"] == topic and dead.keys == "order-42" and dead.tags == "TagR"
    assert "DELAY" not in dead.properties
    # an operator reads it back and re-sends it to the original topic
    resent = send(client, addr, topic, dead.body, {"TAGS": dead.tags or "", "KEYS": dead.keys or ""})
    assert resent.code == ResponseCode.SUCCESS
    again = wait_for_messages(client, addr, topic, group, 2)
    assert again[-1].body == b"will fail"


def test_send_back_negative_level_and_header_max(cluster: Cluster, client: BlockingRemotingClient) -> None:
    addr, topic, group = cluster.broker_addr, unique("Dlq"), unique("cg")
    create_topic(client, addr, topic)
    for i in range(2):
        assert send(client, addr, topic, f"m{i}".encode(), {"KEYS": f"k{i}"}).code == ResponseCode.SUCCESS
    first, second = wait_for_messages(client, addr, topic, group, 2)
    assert send_back(client, addr, first, group, delay_level=-1).code == ResponseCode.SUCCESS
    ext = {
        "offset": str(second.commit_log_offset),
        "group": group,
        "delayLevel": "0",
        "maxReconsumeTimes": "0",
    }
    assert call(client, addr, RequestCode.CONSUMER_SEND_MSG_BACK, ext, version=409).code == 0
    dead = wait_for_messages(client, addr, f"%DLQ%{group}", group, 2, timeout=5)
    assert sorted(m.keys or "" for m in dead) == ["k0", "k1"]

    # direct sends to %RETRY% (ordered consumers, client fallback): delayed below the limit, DLQ at it
    retry = f"%RETRY%{group}"
    below = send(
        client, addr, retry, b"r", {"KEYS": "k2", "DELAY": "3", "RETRY_TOPIC": topic}, reconsume_times=1
    )
    at_max = send(client, addr, retry, b"d", {"KEYS": "k3", "DELAY": "3"}, reconsume_times=16)
    assert below.code == at_max.code == ResponseCode.SUCCESS
    dead = wait_for_messages(client, addr, f"%DLQ%{group}", group, 3, timeout=5)
    assert dead[-1].keys == "k3" and "DELAY" not in dead[-1].properties
    (retried,) = wait_for_messages(client, addr, retry, group, 1)
    assert retried.keys == "k2" and retried.reconsume_times == 1 and retried.properties["REAL_TOPIC"] == retry


def test_bad_input_gets_apache_status(cluster: Cluster, client: BlockingRemotingClient) -> None:
    """Acceptance 4: invalid pull offset, foreign lock, unknown send-back offset; broker unaffected."""
    addr, topic, group = cluster.broker_addr, unique("Bad"), unique("cg")
    create_topic(client, addr, topic)
    for i in range(3):
        assert send(client, addr, topic, f"m{i}".encode(), {}).code == ResponseCode.SUCCESS
    wait_for_messages(client, addr, topic, group, 3)

    moved = pull(client, addr, topic, 1000, group)
    assert moved.code == ResponseCode.PULL_OFFSET_MOVED
    # Apache (OFFSET_OVERFLOW_BADLY): corrected to the queue's min offset when that is 0, else max
    assert moved.ext_fields is not None and moved.ext_fields["maxOffset"] == "3"
    corrected = int(moved.ext_fields["nextBeginOffset"])
    assert corrected == int(moved.ext_fields["minOffset"]) == 0
    assert pull(client, addr, topic, corrected, group).code == ResponseCode.SUCCESS
    (event,) = wait_for_messages(client, addr, "OFFSET_MOVED_EVENT", group, 1)  # Apache records it
    assert event.tags == event.keys == group
    assert json.loads(event.body) == {
        "consumerGroup": group,
        "messageQueue": {"brokerName": "broker-a", "queueId": 0, "topic": topic},
        "offsetNew": 0,
        "offsetRequest": 1000,
    }

    mq = {"topic": topic, "brokerName": "broker-a", "queueId": 0}
    lock_a = {"consumerGroup": group, "clientId": "client-A", "mqSet": [mq]}
    lock_b = {**lock_a, "clientId": "client-B"}
    got_a = call(client, addr, RequestCode.LOCK_BATCH_MQ, None, json.dumps(lock_a).encode())
    assert got_a.code == 0 and len(json.loads(got_a.body or b"{}")["lockOKMQSet"]) == 1
    got_b = call(client, addr, RequestCode.LOCK_BATCH_MQ, None, json.dumps(lock_b).encode())
    assert got_b.code == 0 and json.loads(got_b.body or b"{}")["lockOKMQSet"] == []
    assert call(client, addr, RequestCode.UNLOCK_BATCH_MQ, None, json.dumps(lock_a).encode()).code == 0
    got_b = call(client, addr, RequestCode.LOCK_BATCH_MQ, None, json.dumps(lock_b).encode())
    assert len(json.loads(got_b.body or b"{}")["lockOKMQSet"]) == 1

    bad_offset = 1 << 40
    ext = {"offset": str(bad_offset), "group": group, "delayLevel": "0"}
    resp = call(client, addr, RequestCode.CONSUMER_SEND_MSG_BACK, ext)
    assert resp.code == ResponseCode.SYSTEM_ERROR
    assert resp.remark == f"look message by offset failed, {bad_offset}"
    batch_ext = {"a": "pg", "b": topic, "c": "TBW102", "d": "4", "e": "0", "f": "0", "g": "0", "h": "0"}
    batch_ext["i"] = encode_properties({"DELAY": "1"})
    batch = encode_batch([Message(topic, b"b1"), Message(topic, b"b2")])
    rejected = call(client, addr, RequestCode.SEND_BATCH_MESSAGE, batch_ext, batch)
    assert rejected.code == ResponseCode.MESSAGE_ILLEGAL  # delayed batches are not supported (Apache)
    assert send(client, addr, topic, b"after", {}).code == ResponseCode.SUCCESS
    assert len(wait_for_messages(client, addr, topic, group, 4)) == 4


def test_consume_stats_reset_and_topic_stats(cluster: Cluster, client: BlockingRemotingClient) -> None:
    addr, topic, group = cluster.broker_addr, unique("Stats"), unique("cg")
    create_topic(client, addr, topic, queues=2)
    for i in range(10):
        assert send(client, addr, topic, b"x", {}, queue_id=i % 2).code == ResponseCode.SUCCESS
    wait_for_messages(client, addr, topic, group, 5)
    for qid, offset in ((0, 2), (1, 5)):
        upd = {"consumerGroup": group, "topic": topic, "queueId": str(qid), "commitOffset": str(offset)}
        assert call(client, addr, RequestCode.UPDATE_CONSUMER_OFFSET, upd).code == 0

    resp = call(client, addr, RequestCode.GET_CONSUME_STATS, {"consumerGroup": group})
    assert resp.code == 0, resp.remark
    stats = ConsumeStats.decode(resp.body or b"")
    assert b'{"brokerName":"broker-a","queueId":0' in (resp.body or b"")  # fastjson object keys
    by_queue = {mq[2]: w for mq, w in stats.offset_table.items()}
    assert (by_queue[0].broker_offset, by_queue[0].consumer_offset) == (5, 2)
    assert (by_queue[1].broker_offset, by_queue[1].consumer_offset) == (5, 5)
    assert stats.diff_total == 3 and by_queue[0].last_timestamp > 0

    topic_stats = decode_topic_stats(
        call(client, addr, RequestCode.GET_TOPIC_STATS_INFO, {"topic": topic}).body or b""
    )
    assert sorted((mq[2], t.min_offset, t.max_offset) for mq, t in topic_stats.items()) == [
        (0, 0, 5),
        (1, 0, 5),
    ]
    who = call(client, addr, RequestCode.QUERY_TOPIC_CONSUME_BY_WHO, {"topic": topic})
    assert decode_group_list(who.body or b"") == [group]

    reset = {"topic": topic, "group": group, "timestamp": "0", "isForce": "true"}
    resp = call(client, addr, RequestCode.INVOKE_BROKER_TO_RESET_OFFSET, reset)
    assert resp.code == 0, resp.remark
    assert sorted(o for o in decode_offset_table(resp.body or b"").values()) == [0, 0]
    query = {"consumerGroup": group, "topic": topic, "queueId": "1"}
    got = call(client, addr, RequestCode.QUERY_CONSUMER_OFFSET, query)
    assert got.ext_fields is not None and got.ext_fields["offset"] == "0"

    disabled = json.dumps({"groupName": group, "consumeEnable": False}).encode()
    assert call(client, addr, RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, None, disabled).code == 0
    assert pull(client, addr, topic, 0, group).code == ResponseCode.NO_PERMISSION
    offline = call(client, addr, RequestCode.GET_CONSUMER_CONNECTION_LIST, {"consumerGroup": group})
    assert offline.code == ResponseCode.CONSUMER_NOT_ONLINE
    info = {"consumerGroup": group, "clientId": "nobody"}
    assert call(client, addr, RequestCode.GET_CONSUMER_RUNNING_INFO, info).code == ResponseCode.SYSTEM_ERROR
    resp = call(
        client, addr, RequestCode.DELETE_SUBSCRIPTIONGROUP, {"groupName": group, "removeOffset": "true"}
    )
    assert resp.code == 0
    assert (
        call(client, addr, RequestCode.QUERY_TOPIC_CONSUME_BY_WHO, {"topic": topic}).body
        == b'{"groupList": []}'
    )


@pytest.mark.parametrize("broker_conf", [{"messageDelayLevel": "1s 3s"}])
def test_pending_delayed_messages_survive_restart(cluster: Cluster, client: BlockingRemotingClient) -> None:
    """delayOffset.json + the schedule queue: a message still parked at shutdown is delivered once
    after the restart; one already delivered is not delivered again."""
    addr, topic, group = cluster.broker_addr, unique("DelayRestart"), unique("cg")
    create_topic(client, addr, topic)
    assert send(client, addr, topic, b"early", {"DELAY": "1"}).code == ResponseCode.SUCCESS
    wait_for_messages(client, addr, topic, group, 1, timeout=5)
    assert send(client, addr, topic, b"late", {"DELAY": "2"}).code == ResponseCode.SUCCESS
    client.close()
    cluster.broker.restart()
    wait_for_messages(client, addr, topic, group, 2, timeout=10)
    # positive control: a plain message sent now lands behind anything the schedule service re-put
    # after the restart (a second "early" would be due at once), so once it is readable, nothing
    # else can still be on its way into this queue
    assert send(client, addr, topic, b"control", {}).code == ResponseCode.SUCCESS
    msgs = wait_for_messages(client, addr, topic, group, 3, timeout=10)
    assert [m.body for m in msgs] == [b"early", b"late", b"control"]


def test_requests_relayed_to_a_consumer_client(cluster: Cluster) -> None:
    """CONSUME_MESSAGE_DIRECTLY and GET_CONSUMER_RUNNING_INFO are forwarded to the consumer's
    connection and its answer relayed; an offset reset is pushed as RESET_CONSUMER_CLIENT_OFFSET."""
    addr, topic, group, client_id = cluster.broker_addr, unique("Relay"), unique("cg"), "127.0.0.1@fake"

    async def scenario() -> None:
        pushed: asyncio.Queue[RemotingCommand] = asyncio.Queue()
        dispatcher = Dispatcher()

        def consume_directly(request: RemotingCommand, _ch: Channel) -> RemotingCommand:
            (msg,) = decode_records(request.body or b"")
            result = {
                "autoCommit": True,
                "consumeResult": "CR_SUCCESS",
                "order": False,
                "remark": msg.body.decode(),
            }
            return request.make_response(body=json.dumps(result).encode())

        def running_info(request: RemotingCommand, _ch: Channel) -> RemotingCommand:
            return request.make_response(body=b'{"properties":{"fake":"yes"}}')

        def reset(request: RemotingCommand, _ch: Channel) -> None:
            pushed.put_nowait(request)

        dispatcher.register(RequestCode.CONSUME_MESSAGE_DIRECTLY, consume_directly)
        dispatcher.register(RequestCode.GET_CONSUMER_RUNNING_INFO, running_info)
        dispatcher.register(RequestCode.RESET_CONSUMER_CLIENT_OFFSET, reset)
        client = RemotingClient(dispatcher=dispatcher)

        async def call(
            code: int, ext: dict[str, str] | None = None, body: bytes | None = None
        ) -> RemotingCommand:
            return await client.invoke(addr, RemotingCommand.request(code, ext, body), 10.0)

        try:
            ext = {"topic": topic, "defaultTopic": "TBW102", "readQueueNums": "1", "writeQueueNums": "1"}
            ext |= {"perm": "6", "topicFilterType": "SINGLE_TAG", "order": "false"}
            assert (await call(RequestCode.UPDATE_AND_CREATE_TOPIC, ext)).code == 0
            props = encode_properties({"KEYS": "direct"})
            send_ext = {
                "a": "pg",
                "b": topic,
                "c": "TBW102",
                "d": "4",
                "e": "0",
                "f": "0",
                "g": "0",
                "h": "0",
            }
            sent = await call(RequestCode.SEND_MESSAGE_V2, send_ext | {"i": props}, b"hello directly")
            assert sent.code == 0 and sent.ext_fields is not None
            consumer = ConsumerData(group, subscriptions=[SubscriptionData.build(topic, "*", 1)])
            beat = HeartbeatData(client_id, consumers=[consumer]).encode()
            assert (await call(RequestCode.HEART_BEAT, None, beat)).code == 0

            direct = {"consumerGroup": group, "clientId": client_id, "msgId": sent.ext_fields["msgId"]}
            answer = await call(RequestCode.CONSUME_MESSAGE_DIRECTLY, direct)
            assert answer.code == 0, answer.remark
            assert json.loads(answer.body or b"")["remark"] == "hello directly"
            info = await call(
                RequestCode.GET_CONSUMER_RUNNING_INFO, {"consumerGroup": group, "clientId": client_id}
            )
            assert info.code == 0 and info.body == b'{"properties":{"fake":"yes"}}'

            commit = {"consumerGroup": group, "topic": topic, "queueId": "0", "commitOffset": "1"}
            assert (await call(RequestCode.UPDATE_CONSUMER_OFFSET, commit)).code == 0
            reset_ext = {"topic": topic, "group": group, "timestamp": "0", "isForce": "true"}
            assert (await call(RequestCode.INVOKE_BROKER_TO_RESET_OFFSET, reset_ext)).code == 0
            push = await asyncio.wait_for(pushed.get(), 5)
            assert push.ext_fields is not None and push.ext_fields["group"] == group
            assert decode_offset_table(push.body or b"") == {(topic, "broker-a", 0): 0}
        finally:
            await client.close()

    asyncio.run(scenario())
