"""NameServer request handlers, driven through the Dispatcher without sockets.

The golden tests replay the captured Apache 4.9.8 session (broker registrations, then the C++
client's and an admin tool's queries) and compare our response bodies with Apache's bytes.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Awaitable, Mapping
from pathlib import Path
from typing import Any

import pytest

from broker_core.config.namesrv import NamesrvConfig
from broker_core.namesrv.kv_config import ORDER_TOPIC_CONFIG, KVConfigManager
from broker_core.namesrv.processor import NamesrvProcessor, topic_not_exist_remark
from broker_core.namesrv.routes import RouteInfoManager
from broker_core.remoting import fastjson
from broker_core.remoting.body import (
    DataVersion,
    KVTable,
    RegisterBrokerBody,
    TopicConfig,
    TopicConfigSerializeWrapper,
    TopicList,
    TopicRouteData,
    body_crc32,
)
from broker_core.remoting.codes import RequestCode, ResponseCode, SerializeType
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.dispatcher import Dispatcher
from tests.support.fixtures import wire_command


def _wire(name: str) -> RemotingCommand:
    return wire_command(name)


class Namesrv:
    """A processor on a dispatcher, with a helper that runs async handlers to completion."""

    def __init__(self, config: NamesrvConfig | None = None, kv_path: Path | None = None) -> None:
        self.routes = RouteInfoManager()
        self.kv = KVConfigManager(kv_path)
        self.processor = NamesrvProcessor(self.routes, self.kv, config or NamesrvConfig())
        self.dispatcher = Dispatcher()
        self.processor.register_to(self.dispatcher)

    def call(self, cmd: RemotingCommand, channel: Any = None) -> RemotingCommand:
        result: Any = self.dispatcher.lookup(cmd.code)(cmd, channel)
        if inspect.isawaitable(result):
            pending: Awaitable[Any] = result

            async def wait() -> Any:
                return await pending

            result = asyncio.run(wait())
        assert isinstance(result, RemotingCommand)
        assert result.is_response and result.opaque == cmd.opaque
        return result

    def request(
        self,
        code: int,
        version: int = 409,
        body: bytes | None = None,
        ext: Mapping[str, str] | None = None,
        **fields: str,
    ) -> RemotingCommand:
        cmd = RemotingCommand.request(code, {**(ext or {}), **fields}, body)
        cmd.version = version
        cmd.opaque = 77
        return self.call(cmd)

    def register(
        self, name: str, addr: str, broker_id: int = 0, *topics: TopicConfig, counter: int = 1
    ) -> RemotingCommand:
        body = RegisterBrokerBody(
            TopicConfigSerializeWrapper({t.topic_name: t for t in topics}, DataVersion(1, counter))
        ).encode()
        return self.request(
            RequestCode.REGISTER_BROKER,
            body=body,
            brokerName=name,
            brokerAddr=addr,
            clusterName="DefaultCluster",
            brokerId=str(broker_id),
            haServerAddr=f"{addr}-ha",
            bodyCrc32=str(body_crc32(body)),
        )


# ---------------------------------------------------------------------------------------- golden


@pytest.fixture
def replayed() -> Namesrv:
    ns = Namesrv()
    for name in ("cpp/001-c2s-request-REGISTER_BROKER.bin", "cpp/006-c2s-request-REGISTER_BROKER.bin"):
        resp = ns.call(_wire(name))
        assert resp.code == ResponseCode.SUCCESS
        assert resp.ext_fields == {}  # a master: empty header map, as Apache answered (002/007)
        assert resp.body is None
    return ns


@pytest.mark.parametrize(
    ("request_file", "response_file"),
    [
        ("cpp/011-c2s-request-GET_ROUTEINFO_BY_TOPIC.bin", "cpp/012-s2c-response-GET_ROUTEINFO_BY_TOPIC.bin"),
        ("cpp/009-c2s-request-GET_ROUTEINFO_BY_TOPIC.bin", "cpp/010-s2c-response-GET_ROUTEINFO_BY_TOPIC.bin"),
        ("cpp/045-c2s-request-GET_ROUTEINFO_BY_TOPIC.bin", "cpp/046-s2c-response-GET_ROUTEINFO_BY_TOPIC.bin"),
        (
            "cpp/003-c2s-request-GET_BROKER_CLUSTER_INFO.bin",
            "cpp/004-s2c-response-GET_BROKER_CLUSTER_INFO.bin",
        ),
    ],
)
def test_replayed_session_answers_with_apache_bytes(
    replayed: Namesrv, request_file: str, response_file: str
) -> None:
    expected = _wire(response_file)
    resp = replayed.call(_wire(request_file))
    assert resp.code == expected.code == ResponseCode.SUCCESS
    assert resp.body == expected.body


def test_replayed_topic_not_exist_remark(replayed: Namesrv) -> None:
    expected = _wire("cpp/024-s2c-response-GET_ROUTEINFO_BY_TOPIC.bin")
    resp = replayed.call(_wire("cpp/023-c2s-request-GET_ROUTEINFO_BY_TOPIC.bin"))
    assert resp.code == expected.code == ResponseCode.TOPIC_NOT_EXIST
    assert resp.remark == expected.remark == topic_not_exist_remark("%RETRY%FxWireConsumerGroup")


def test_replayed_java_oneway_register_then_unregister() -> None:
    ns = Namesrv()
    register = _wire("java/010-c2s-request-REGISTER_BROKER.bin")
    assert register.is_oneway  # the broker's periodic registration may be oneway; it still counts
    ns.call(register)
    assert ns.routes.pickup_topic_route_data("TBW102") is not None
    ns.call(_wire("java/020-c2s-request-UNREGISTER_BROKER.bin"))
    assert ns.routes.pickup_topic_route_data("TBW102") is None
    assert ns.routes.broker_live == {}


def test_binary_request_gets_binary_answer() -> None:
    ns = Namesrv()
    expected = _wire("java/002-s2c-response-GET_ROUTEINFO_BY_TOPIC.bin")
    req = _wire("java/001-c2s-request-GET_ROUTEINFO_BY_TOPIC.bin")
    assert req.serialize_type == SerializeType.ROCKETMQ
    resp = ns.call(req)
    assert resp.serialize_type == SerializeType.ROCKETMQ
    assert (resp.code, resp.remark) == (expected.code, expected.remark)


# ---------------------------------------------------------------------------------------- register


def test_register_crc_mismatch_is_system_error() -> None:
    ns = Namesrv()
    body = RegisterBrokerBody().encode()
    resp = ns.request(
        RequestCode.REGISTER_BROKER,
        body=body,
        brokerName="b",
        brokerAddr="a:1",
        clusterName="C",
        brokerId="0",
        bodyCrc32=str(body_crc32(body) ^ 1),
    )
    assert (resp.code, resp.remark) == (ResponseCode.SYSTEM_ERROR, "crc32 not match")
    assert ns.routes.broker_live == {}


def test_register_compressed_body() -> None:
    ns = Namesrv()
    body = RegisterBrokerBody(
        TopicConfigSerializeWrapper({"Z": TopicConfig("Z", 3, 3)}, DataVersion(1, 1))
    ).encode(compress=True)
    resp = ns.request(
        RequestCode.REGISTER_BROKER,
        body=body,
        brokerName="b",
        brokerAddr="a:1",
        clusterName="C",
        brokerId="0",
        compressed="true",
        bodyCrc32=str(body_crc32(body)),
    )
    assert resp.code == ResponseCode.SUCCESS
    route = ns.routes.pickup_topic_route_data("Z")
    assert route is not None and route.queue_datas[0].write_queue_nums == 3


def test_register_without_body_registers_the_address() -> None:
    ns = Namesrv()
    resp = ns.request(
        RequestCode.REGISTER_BROKER, brokerName="b", brokerAddr="a:1", clusterName="C", brokerId="0"
    )
    assert resp.code == ResponseCode.SUCCESS
    assert "a:1" in ns.routes.broker_live


@pytest.mark.parametrize(
    ("ext", "body", "needle"),
    [
        ({"brokerAddr": "a:1", "clusterName": "C", "brokerId": "0"}, None, "brokerName"),
        ({"brokerName": "b", "brokerAddr": "a:1", "clusterName": "C", "brokerId": "x"}, None, "brokerId"),
        ({"brokerName": "b", "brokerAddr": "a:1", "clusterName": "C", "brokerId": "0"}, b"{garbage", "body"),
        (
            {
                "brokerName": "b",
                "brokerAddr": "a:1",
                "clusterName": "C",
                "brokerId": "0",
                "compressed": "true",
            },
            b"not zlib",
            "body",
        ),
    ],
)
def test_bad_register_requests_are_system_errors(
    ext: dict[str, str], body: bytes | None, needle: str
) -> None:
    ns = Namesrv()
    resp = ns.request(RequestCode.REGISTER_BROKER, body=body, ext=ext)
    assert resp.code == ResponseCode.SYSTEM_ERROR
    assert resp.remark is not None and needle in resp.remark


@pytest.mark.parametrize(
    "code",
    [
        RequestCode.GET_ROUTEINFO_BY_TOPIC,
        RequestCode.PUT_KV_CONFIG,
        RequestCode.UNREGISTER_BROKER,
        RequestCode.GET_TOPICS_BY_CLUSTER,
        RequestCode.WIPE_WRITE_PERM_OF_BROKER,
    ],
)
def test_missing_required_header_fields_are_system_errors(code: int) -> None:
    resp = Namesrv().request(code)
    assert resp.code == ResponseCode.SYSTEM_ERROR
    assert resp.remark is not None and resp.remark.startswith("invalid request header:")


def test_slave_registration_answers_master_addresses() -> None:
    ns = Namesrv()
    ns.register("b", "m:1", 0, TopicConfig("T"))
    resp = ns.register("b", "s:1", 1)
    assert resp.ext_fields == {"haServerAddr": "m:1-ha", "masterAddr": "m:1"}


def test_register_response_carries_order_topic_config() -> None:
    ns = Namesrv()
    assert ns.request(RequestCode.PUT_KV_CONFIG, namespace=ORDER_TOPIC_CONFIG, key="T", value="b:2").code == 0
    resp = ns.register("b", "m:1", 0, TopicConfig("T"))
    assert resp.body is not None and KVTable.from_json(resp.body).table == {"T": "b:2"}


# ---------------------------------------------------------------------------------------- routes


def test_route_dialect_follows_version_and_accept_standard_json_only() -> None:
    ns = Namesrv()
    ns.register("b", "m:1", 0, TopicConfig("T"))
    old = ns.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, version=63, topic="T")
    assert old.body is not None and b'{0:"m:1"}' in old.body
    asked = ns.request(
        RequestCode.GET_ROUTEINFO_BY_TOPIC, version=63, topic="T", acceptStandardJsonOnly="true"
    )
    new = ns.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, version=401, topic="T")
    for resp in (asked, new):
        assert resp.body is not None and b'{"0":"m:1"}' in resp.body
    assert TopicRouteData.from_json(old.body) == TopicRouteData.from_json(new.body or b"")


def test_order_topic_conf_only_when_enabled() -> None:
    for enabled in (False, True):
        ns = Namesrv(NamesrvConfig(order_message_enable=enabled))
        ns.register("b", "m:1", 0, TopicConfig("T"))
        ns.request(RequestCode.PUT_KV_CONFIG, namespace=ORDER_TOPIC_CONFIG, key="T", value="b:2")
        resp = ns.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, topic="T")
        assert resp.body is not None
        assert TopicRouteData.from_json(resp.body).order_topic_conf == ("b:2" if enabled else None)


def test_unregister_then_topic_not_exist() -> None:
    ns = Namesrv()
    ns.register("b", "m:1", 0, TopicConfig("T"))
    resp = ns.request(
        RequestCode.UNREGISTER_BROKER,
        brokerName="b",
        brokerAddr="m:1",
        clusterName="DefaultCluster",
        brokerId="0",
    )
    assert resp.code == ResponseCode.SUCCESS
    resp = ns.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, topic="T")
    assert (resp.code, resp.remark) == (ResponseCode.TOPIC_NOT_EXIST, topic_not_exist_remark("T"))


def test_query_data_version() -> None:
    ns = Namesrv()
    ns.register("b", "m:1", 0, TopicConfig("T"), counter=4)
    ext = {"brokerName": "b", "brokerAddr": "m:1", "clusterName": "DefaultCluster", "brokerId": "0"}
    same = ns.request(RequestCode.QUERY_DATA_VERSION, body=DataVersion(1, 4).to_json(), ext=ext)
    assert same.ext_fields == {"changed": "false"}
    assert same.body is not None and DataVersion.from_json(same.body) == DataVersion(1, 4)
    changed = ns.request(RequestCode.QUERY_DATA_VERSION, body=DataVersion(1, 5).to_json(), ext=ext)
    assert changed.ext_fields == {"changed": "true"}


def test_topic_lists_and_perm_changes() -> None:
    ns = Namesrv()
    ns.register("b", "m:1", 0, TopicConfig("T"), TopicConfig("U"))
    all_topics = ns.request(RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER)
    assert set(TopicList.from_json(all_topics.body or b"").topic_list) == {"T", "U"}
    by_cluster = ns.request(RequestCode.GET_TOPICS_BY_CLUSTER, cluster="DefaultCluster")
    assert set(TopicList.from_json(by_cluster.body or b"").topic_list) == {"T", "U"}
    system = TopicList.from_json(ns.request(RequestCode.GET_SYSTEM_TOPIC_LIST_FROM_NS).body or b"")
    assert set(system.topic_list) == {"DefaultCluster", "b"} and system.broker_addr == "m:1"
    wiped = ns.request(RequestCode.WIPE_WRITE_PERM_OF_BROKER, brokerName="b")
    assert wiped.ext_fields == {"wipeTopicCount": "2"}
    added = ns.request(RequestCode.ADD_WRITE_PERM_OF_BROKER, brokerName="b")
    assert added.ext_fields == {"addTopicCount": "2"}
    assert ns.request(RequestCode.DELETE_TOPIC_IN_NAMESRV, topic="T").code == ResponseCode.SUCCESS
    all_topics = ns.request(RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER)
    assert TopicList.from_json(all_topics.body or b"").topic_list == ("U",)
    for code in (
        RequestCode.GET_UNIT_TOPIC_LIST,
        RequestCode.GET_HAS_UNIT_SUB_TOPIC_LIST,
        RequestCode.GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST,
    ):
        assert TopicList.from_json(ns.request(code).body or b"").topic_list == ()


def test_unknown_code_is_not_supported() -> None:
    resp = Namesrv().request(RequestCode.SEND_MESSAGE)
    assert resp.code == ResponseCode.REQUEST_CODE_NOT_SUPPORTED


# ---------------------------------------------------------------------------------------- KV + config


def test_kv_config_round_trip_and_persistence(tmp_path: Path) -> None:
    path = tmp_path / "namesrv" / "kvConfig.json"
    ns = Namesrv(kv_path=path)
    assert ns.request(RequestCode.PUT_KV_CONFIG, namespace="ns", key="k", value="v").code == 0
    assert ns.request(RequestCode.PUT_KV_CONFIG, namespace="ns", key="k2", value="v2").code == 0
    got = ns.request(RequestCode.GET_KV_CONFIG, namespace="ns", key="k")
    assert got.ext_fields == {"value": "v"}
    listed = ns.request(RequestCode.GET_KVLIST_BY_NAMESPACE, namespace="ns")
    assert KVTable.from_json(listed.body or b"").table == {"k": "v", "k2": "v2"}
    assert fastjson.loads(path.read_text()) == {"configTable": {"ns": {"k": "v", "k2": "v2"}}}
    assert ns.request(RequestCode.DELETE_KV_CONFIG, namespace="ns", key="k").code == 0
    assert ns.request(RequestCode.DELETE_KV_CONFIG, namespace="ns", key="missing").code == 0
    missing = ns.request(RequestCode.GET_KV_CONFIG, namespace="ns", key="k")
    assert (missing.code, missing.remark) == (
        ResponseCode.QUERY_NOT_FOUND,
        "No config item, Namespace: ns Key: k",
    )
    none = ns.request(RequestCode.GET_KVLIST_BY_NAMESPACE, namespace="other")
    assert (none.code, none.remark) == (ResponseCode.QUERY_NOT_FOUND, "No config item, Namespace: other")
    # a restarted namesrv reads the file
    again = KVConfigManager(path)
    again.load()
    assert again.namespace("ns") == {"k2": "v2"}


def test_namesrv_config_get_and_update() -> None:
    ns = Namesrv()
    text = (ns.request(RequestCode.GET_NAMESRV_CONFIG).body or b"").decode()
    assert "orderMessageEnable=false" in text and "listenPort=9876" in text
    resp = ns.request(
        RequestCode.UPDATE_NAMESRV_CONFIG, body=b"orderMessageEnable=true\nbrokerChannelExpiredTime=5000\n"
    )
    assert resp.code == ResponseCode.SUCCESS
    assert ns.processor.config.order_message_enable is True
    assert ns.processor.config.broker_channel_expired_seconds == 5.0
    refused = ns.request(RequestCode.UPDATE_NAMESRV_CONFIG, body=b"kvConfigPath=/tmp/x\n")
    assert (refused.code, refused.remark) == (
        ResponseCode.NO_PERMISSION,
        "Can not update config in black list.",
    )
    assert ns.request(RequestCode.UPDATE_NAMESRV_CONFIG).code == ResponseCode.SYSTEM_ERROR


def test_register_json_matches_spec_example_shape() -> None:
    ns = Namesrv()
    ns.register("broker-a", "10.0.0.1:10911", 0, TopicConfig("T", 4, 4))
    ns.register("broker-a", "10.0.0.2:10911", 1)
    resp = ns.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, version=63, topic="T")
    assert resp.body == (
        b'{"brokerDatas":[{"brokerAddrs":{0:"10.0.0.1:10911",1:"10.0.0.2:10911"},"brokerName":"broker-a",'
        b'"cluster":"DefaultCluster"}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,'
        b'"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}'
    )
    info = fastjson.loads(ns.request(RequestCode.GET_BROKER_CLUSTER_INFO).body or b"")
    assert info["brokerAddrTable"]["broker-a"]["brokerAddrs"] == {
        "0": "10.0.0.1:10911",
        "1": "10.0.0.2:10911",
    }
    assert json.loads(resp.body.replace(b"{0:", b'{"0":').replace(b",1:", b',"1":'))
