"""Pull-consumer RPCs on the raw v2 wire: QueryOffset, PullMessage, UpdateOffset, GetOffset."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from broker_core.proxy.v2 import definition_pb2 as pb
from broker_core.proxy.v2 import service_pb2 as spb
from broker_core.proxy.v2 import service_pb2_grpc as rpc
from tests.integration.proxy.conftest import ProxyCluster
from tests.integration.proxy.test_proxy_bad_input import METADATA, message, send

pytestmark = pytest.mark.slow


@pytest.fixture
def stub(proxy_cluster: ProxyCluster) -> Iterator[rpc.MessagingServiceStub]:
    with grpc.insecure_channel(proxy_cluster.endpoint) as ch:
        yield rpc.MessagingServiceStub(ch)


def test_pull_a_queue_from_an_offset_and_keep_the_position(
    stub: rpc.MessagingServiceStub, proxy_cluster: ProxyCluster
) -> None:
    topic = proxy_cluster.topic("Pull", queues=1)
    for i in range(5):
        assert (
            send(stub, message(topic, body=f"p{i}".encode(), msg_id=f"P{i}", tag="TP")).status.code == pb.OK
        )
    route = stub.QueryRoute(
        spb.QueryRouteRequest(topic=pb.Resource(name=topic)), metadata=METADATA, timeout=10
    )
    mq = route.message_queues[0]

    def offset(policy: int) -> int:
        req = spb.QueryOffsetRequest(message_queue=mq, query_offset_policy=policy)  # type: ignore[arg-type]
        resp = stub.QueryOffset(req, metadata=METADATA, timeout=10)
        assert resp.status.code == pb.OK
        return int(resp.offset)

    assert (offset(pb.BEGINNING), offset(pb.END)) == (0, 5)
    pull = spb.PullMessageRequest(group=pb.Resource(name="GPull"), message_queue=mq, offset=1, batch_size=3)
    pull.filter_expression.type = pb.TAG
    pull.filter_expression.expression = "TP"
    pull.long_polling_timeout.seconds = 1
    out = list(stub.PullMessage(pull, metadata=METADATA, timeout=15))
    assert out[0].status.code == pb.OK
    assert [r.message.body for r in out if r.HasField("message")] == [b"p1", b"p2", b"p3"]
    assert out[-1].next_offset == 4
    # past the end: no message, the same next offset
    pull.offset = 5
    end = list(stub.PullMessage(pull, metadata=METADATA, timeout=15))
    assert end[0].status.code == pb.MESSAGE_NOT_FOUND and end[-1].next_offset == 5

    group = pb.Resource(name="GPull")
    missing = stub.GetOffset(
        spb.GetOffsetRequest(group=group, message_queue=mq), metadata=METADATA, timeout=10
    )
    # no committed offset: Apache's broker answers 0 while the queue's start is still in memory
    assert (missing.status.code, missing.offset) in ((pb.OK, 0), (pb.OFFSET_NOT_FOUND, 0))
    update = spb.UpdateOffsetRequest(group=group, message_queue=mq, offset=4)
    assert stub.UpdateOffset(update, metadata=METADATA, timeout=10).status.code == pb.OK
    got = stub.GetOffset(spb.GetOffsetRequest(group=group, message_queue=mq), metadata=METADATA, timeout=10)
    assert (got.status.code, got.offset) == (pb.OK, 4)
