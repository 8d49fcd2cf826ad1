"""Bad input straight on the wire (our generated v2 stubs, no client-side checks): v2 codes, no crash."""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import pytest

from broker_core.proxy.v2 import definition_pb2 as pb
from broker_core.proxy.v2 import service_pb2 as spb
from broker_core.proxy.v2 import service_pb2_grpc as rpc
from tests.integration.proxy.conftest import ProxyCluster

pytestmark = pytest.mark.slow
METADATA = (("x-mq-client-id", "bad-input-test"),)


@pytest.fixture
def channel(proxy_cluster: ProxyCluster) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(proxy_cluster.endpoint) as ch:
        yield ch


@pytest.fixture
def stub(channel: grpc.Channel) -> rpc.MessagingServiceStub:
    return rpc.MessagingServiceStub(channel)


def message(topic: str, body: bytes = b"x", msg_id: str = "ID1", **system: object) -> pb.Message:
    msg = pb.Message(body=body)
    msg.topic.name = topic
    msg.system_properties.message_id = msg_id
    msg.system_properties.message_type = pb.NORMAL
    for name, value in system.items():
        setattr(msg.system_properties, name, value)
    return msg


def send(stub: rpc.MessagingServiceStub, *msgs: pb.Message) -> spb.SendMessageResponse:
    return stub.SendMessage(spb.SendMessageRequest(messages=list(msgs)), metadata=METADATA, timeout=10)


def receive(
    stub: rpc.MessagingServiceStub, topic: str, group: str, **kw: object
) -> list[spb.ReceiveMessageResponse]:
    req = spb.ReceiveMessageRequest(batch_size=kw.pop("batch_size", 16))  # type: ignore[arg-type]
    req.group.name = group
    req.message_queue.topic.name = topic
    req.invisible_duration.seconds = kw.pop("invisible", 20)  # type: ignore[assignment]
    req.long_polling_timeout.seconds = kw.pop("poll", 2)  # type: ignore[assignment]
    return list(stub.ReceiveMessage(req, metadata=METADATA, timeout=15))


def test_malformed_protobuf_is_rejected_and_proxy_keeps_serving(
    channel: grpc.Channel, stub: rpc.MessagingServiceStub, proxy_cluster: ProxyCluster
) -> None:
    raw = channel.unary_unary("/apache.rocketmq.v2.MessagingService/SendMessage")
    with pytest.raises(grpc.RpcError) as err:
        raw(b"\x0a\xff\xff\xff\xff\x0f garbage", metadata=METADATA, timeout=10)
    # gRPC's own deserialisation fails before the service runs: a gRPC error status, no v2 Status
    assert err.value.code() in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL)
    assert "parsing" in (err.value.details() or "")
    req = spb.QueryRouteRequest()
    req.topic.name = proxy_cluster.topic("AfterGarbage")
    assert stub.QueryRoute(req, metadata=METADATA, timeout=10).status.code == pb.OK


def test_unknown_topic(stub: rpc.MessagingServiceStub) -> None:
    req = spb.QueryRouteRequest()
    req.topic.name = "NoSuchTopic"
    assert stub.QueryRoute(req, metadata=METADATA, timeout=10).status.code == pb.TOPIC_NOT_FOUND
    resp = send(stub, message("NoSuchTopic"))
    assert resp.status.code == pb.TOPIC_NOT_FOUND and resp.entries[0].status.code == pb.TOPIC_NOT_FOUND
    assert [r.status.code for r in receive(stub, "NoSuchTopic", "G1")] == [pb.TOPIC_NOT_FOUND]


def test_oversized_body_invalid_group_and_mixed_batch(
    stub: rpc.MessagingServiceStub, proxy_cluster: ProxyCluster
) -> None:
    topic = proxy_cluster.topic("Bad")
    big = send(stub, message(topic, body=b"x" * (4 * 1024 * 1024 + 1)))
    assert big.status.code == pb.MESSAGE_BODY_TOO_LARGE
    bad_group = send(stub, message(topic, message_group="g" * 200, message_type=pb.FIFO))
    assert bad_group.status.code == pb.ILLEGAL_MESSAGE_GROUP
    assert send(stub, message(topic, tag="a|b")).status.code == pb.ILLEGAL_MESSAGE_TAG
    mixed = send(stub, message(topic, msg_id="GOOD1"), message(topic, msg_id="BAD1", tag=""))
    assert mixed.status.code == pb.MULTIPLE_RESULTS
    assert [e.status.code for e in mixed.entries] == [pb.OK, pb.ILLEGAL_MESSAGE_TAG]
    # only the good one was stored
    got = [r.message for r in receive(stub, topic, "GBad") if r.HasField("message")]
    assert [m.system_properties.message_id for m in got] == ["GOOD1"]
    assert [r.status.code for r in receive(stub, topic, "Bad Group!")] == [pb.ILLEGAL_CONSUMER_GROUP]
    assert [r.status.code for r in receive(stub, topic, "GBad", invisible=0)] == [pb.ILLEGAL_INVISIBLE_TIME]


def test_bad_receipt_handle_and_transaction_id(
    stub: rpc.MessagingServiceStub, proxy_cluster: ProxyCluster
) -> None:
    topic = proxy_cluster.topic("Handle")
    ack = spb.AckMessageRequest()
    ack.group.name = "G"
    ack.topic.name = topic
    ack.entries.add(message_id="X", receipt_handle="not a handle")
    resp = stub.AckMessage(ack, metadata=METADATA, timeout=10)
    assert resp.status.code == pb.INVALID_RECEIPT_HANDLE
    end = spb.EndTransactionRequest(message_id="X", transaction_id="bogus", resolution=pb.COMMIT)
    end.topic.name = topic
    assert stub.EndTransaction(end, metadata=METADATA, timeout=10).status.code == pb.INVALID_TRANSACTION_ID


def test_client_that_disappears_mid_receive_loses_nothing(
    channel: grpc.Channel, stub: rpc.MessagingServiceStub, proxy_cluster: ProxyCluster
) -> None:
    topic = proxy_cluster.topic("Vanish")
    req = spb.ReceiveMessageRequest(batch_size=4)
    req.group.name = "GVanish"
    req.message_queue.topic.name = topic
    req.invisible_duration.seconds = 2
    req.long_polling_timeout.seconds = 10
    call = stub.ReceiveMessage(req, metadata=METADATA, timeout=15)
    time.sleep(0.5)  # let the long poll park at the broker
    call.cancel()
    assert send(stub, message(topic, msg_id="SURVIVOR")).status.code == pb.OK
    # the cancelled poll may have taken it: then it is redelivered after its 2 s invisible time
    got: list[pb.Message] = []
    deadline = time.monotonic() + 30
    while not got and time.monotonic() < deadline:
        got = [r.message for r in receive(stub, topic, "GVanish") if r.HasField("message")]
    assert [m.system_properties.message_id for m in got] == ["SURVIVOR"]
    # a telemetry stream dropped without a goodbye does not hurt either
    tele = stub.Telemetry(
        iter([spb.TelemetryCommand(settings=pb.Settings(client_type=pb.PRODUCER))]), metadata=METADATA
    )
    first = next(tele)
    assert first.status.code == pb.OK and first.settings.publishing.max_body_size > 0
    tele.cancel()
    assert proxy_cluster.proxy.running


def test_receipt_handles_survive_a_proxy_restart(proxy_cluster: ProxyCluster) -> None:
    """Handles carry everything (no proxy-side table): ack after a proxy restart works, nothing is lost."""
    topic = proxy_cluster.topic("Restart")
    with grpc.insecure_channel(proxy_cluster.endpoint) as ch:
        stub = rpc.MessagingServiceStub(ch)
        assert send(stub, message(topic, msg_id="R1")).status.code == pb.OK
        got = [r.message for r in receive(stub, topic, "GRestart", invisible=30) if r.HasField("message")]
    assert [m.system_properties.message_id for m in got] == ["R1"]
    proxy_cluster.proxy.restart()
    with grpc.insecure_channel(proxy_cluster.endpoint) as ch:
        stub = rpc.MessagingServiceStub(ch)
        ack = spb.AckMessageRequest()
        ack.group.name = "GRestart"
        ack.topic.name = topic
        ack.entries.add(message_id="R1", receipt_handle=got[0].system_properties.receipt_handle)
        assert stub.AckMessage(ack, metadata=METADATA, timeout=10).status.code == pb.OK
        # acked for good: the same ack again is refused, and nothing comes back
        assert stub.AckMessage(ack, metadata=METADATA, timeout=10).status.code == pb.INVALID_RECEIPT_HANDLE
        assert [r.status.code for r in receive(stub, topic, "GRestart")] == [pb.MESSAGE_NOT_FOUND]
