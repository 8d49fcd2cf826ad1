"""ACL through the proxy: signed 5.x clients act as their account; unsigned or forged calls are refused."""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from broker_core.proxy.v2 import definition_pb2 as pb
from broker_core.proxy.v2 import service_pb2 as spb
from broker_core.proxy.v2 import service_pb2_grpc as rpc
from broker_core.remoting.blocking import BlockingConnection
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.signing import sign_request
from tests.integration.proxy.conftest import ProxyCluster, start_proxy
from tests.integration.proxy.test_rmq5_basic import receive_all
from tests.support.admin import wait_for_route
from tests.support.cluster import ServerGroup
from tests.support.rmq5 import Rmq5Client, Rmq5Error

pytestmark = pytest.mark.slow

ACL_YML = """\
globalWhiteRemoteAddresses:
  - 10.10.10.*
accounts:
  - accessKey: proxyAdmin
    secretKey: proxyAdminSecret
    admin: true
  - accessKey: appUser
    secretKey: appSecret1
    admin: false
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - AclOk=PUB|SUB
      - AclDenied=SUB
"""
APP = {"RMQ5_AK": "appUser", "RMQ5_SK": "appSecret1"}


@pytest.fixture(scope="module")
def acl_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyCluster]:
    tmp = tmp_path_factory.mktemp("acl")
    acl_file = tmp / "plain_acl.yml"
    acl_file.write_text(ACL_YML)
    group = ServerGroup(tmp)
    try:
        ns = group.namesrv()
        broker = group.broker(ns, conf={"aclEnable": "true", "aclFile": str(acl_file)})
        proxy = start_proxy(group, ns, tmp, "--acl-file", str(acl_file))
        yield ProxyCluster(ns, broker, proxy, tmp)
    finally:
        group.close()


def create_topic_as_admin(cluster: ProxyCluster, topic: str) -> None:
    """UPDATE_AND_CREATE_TOPIC signed by the admin account, then wait for the route."""
    ext = {"topic": topic, "defaultTopic": "TBW102", "readQueueNums": "4", "writeQueueNums": "4", "perm": "6",
           "topicFilterType": "SINGLE_TAG", "topicSysFlag": "0", "order": "false"}  # fmt: skip
    request = sign_request(RemotingCommand.request(17, ext), "proxyAdmin", "proxyAdminSecret")
    conn = BlockingConnection(cluster.broker.addr, connect_timeout=5.0)
    try:
        assert conn.invoke(request, 5.0).code == 0
    finally:
        conn.close()
    wait_for_route(cluster.namesrv.addr, topic, min_write_queues=4)


@pytest.fixture
def open_client(acl_cluster: ProxyCluster, tmp_path: Path) -> Iterator[Callable[..., Rmq5Client]]:
    clients: list[Rmq5Client] = []

    def opener(env: dict[str, str] | None = None) -> Rmq5Client:
        client = Rmq5Client(acl_cluster.endpoint, tmp_path / f"c{len(clients)}" / "driver.log", env=env)
        clients.append(client)
        return client

    try:
        yield opener
    finally:
        for c in clients:
            c.close()


def test_signed_client_publishes_and_consumes_permitted_topic(
    acl_cluster: ProxyCluster, open_client: Callable[..., Rmq5Client]
) -> None:
    create_topic_as_admin(acl_cluster, "AclOk")
    producer = open_client(APP)
    producer.call("producer", topics=["AclOk"])
    ids = producer.call("send", messages=[{"topic": "AclOk", "body": f"a{i}"} for i in range(3)])["ids"]
    consumer = open_client(APP)
    consumer.call("simple", group="GAcl", topic="AclOk")
    assert sorted(m["id"] for m in receive_all(consumer, 3)) == sorted(ids)


def test_topic_without_pub_permission_is_forbidden(
    acl_cluster: ProxyCluster, open_client: Callable[..., Rmq5Client]
) -> None:
    create_topic_as_admin(acl_cluster, "AclDenied")
    producer = open_client(APP)
    producer.call("producer", topics=["AclDenied"])
    with pytest.raises(Rmq5Error) as err:
        producer.call("send", messages=[{"topic": "AclDenied", "body": "no"}])
    assert err.value.code == 40300  # FORBIDDEN


def signed_metadata(ak: str, sk: str) -> tuple[tuple[str, str], ...]:
    date_time = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    sig = hmac.new(sk.encode(), date_time.encode(), "sha1").hexdigest()
    auth = f"MQv2-HMAC-SHA1 Credential={ak}, SignedHeaders=x-mq-date-time, Signature={sig}"
    return (("x-mq-date-time", date_time), ("authorization", auth))


def test_unsigned_or_forged_calls_are_unauthorized(acl_cluster: ProxyCluster) -> None:
    create_topic_as_admin(acl_cluster, "AclOk")
    req = spb.QueryRouteRequest()
    req.topic.name = "AclOk"
    with grpc.insecure_channel(acl_cluster.endpoint) as channel:
        stub = rpc.MessagingServiceStub(channel)
        for metadata in ((), signed_metadata("appUser", "wrong"), signed_metadata("nobody", "x")):
            assert stub.QueryRoute(req, metadata=metadata, timeout=10).status.code == pb.UNAUTHORIZED
        good = stub.QueryRoute(req, metadata=signed_metadata("appUser", "appSecret1"), timeout=10)
        assert good.status.code == pb.OK and len(good.message_queues) == 4
