"""TopicRouteData / ClusterInfo / KVTable / TopicList against captured Apache 4.9.8 NameServer bodies."""

from __future__ import annotations

import json

import pytest

from broker_core.remoting.body import (
    BrokerData,
    ClusterInfo,
    KVTable,
    QueueData,
    TopicList,
    TopicRouteData,
)
from tests.support.fixtures import wire_command


def _body(name: str) -> bytes:
    cmd = wire_command(name)
    assert cmd.body is not None
    return cmd.body


FX_ROUTE = TopicRouteData(
    queue_datas=(QueueData("broker-a", 1, 1, 6, 0),),
    broker_datas=(BrokerData("DefaultCluster", "broker-a", {0: "127.0.0.1:10911"}),),
)


def test_fastjson_dialect_equals_the_bytes_sent_to_the_cpp_client() -> None:
    expected = _body("cpp/012-s2c-response-GET_ROUTEINFO_BY_TOPIC.bin")
    assert b"{0:" in expected
    assert FX_ROUTE.to_json(standard=False) == expected


def test_standard_dialect_equals_the_bytes_sent_to_a_5x_request() -> None:
    expected = _body("cpp/010-s2c-response-GET_ROUTEINFO_BY_TOPIC.bin")
    assert b'{"0":' in expected
    assert FX_ROUTE.to_json(standard=True) == expected
    json.loads(expected)  # really standard JSON


@pytest.mark.parametrize(
    "name",
    [
        "cpp/010-s2c-response-GET_ROUTEINFO_BY_TOPIC.bin",
        "cpp/012-s2c-response-GET_ROUTEINFO_BY_TOPIC.bin",
        "java/006-s2c-response-GET_ROUTEINFO_BY_TOPIC.bin",
    ],
)
def test_from_json_reads_both_dialects(name: str) -> None:
    route = TopicRouteData.from_json(_body(name))
    (bd,) = route.broker_datas
    assert bd.master_addr == "127.0.0.1:10911"
    assert bd.broker_addrs == {0: "127.0.0.1:10911"}
    assert route.queue_datas[0].broker_name == "broker-a"
    assert route.order_topic_conf is None


def test_standard_sorts_ids_numerically_and_escapes_non_ascii() -> None:
    route = TopicRouteData(
        (QueueData("brøker", 4, 4, 6),),
        (BrokerData("C", "brøker", {10: "h:10", 2: "h:2", 0: "h:0"}),),
        {"h:0": ["f:1"]},
        "brøker:4",
    )
    std = route.to_json(standard=True)
    assert std.isascii()
    assert b'"brokerAddrs":{"0":"h:0","2":"h:2","10":"h:10"}' in std
    assert b"br\\u00f8ker" in std
    fast = route.to_json(standard=False)
    assert "brøker".encode() in fast
    assert b'"brokerAddrs":{0:"h:0",2:"h:2",10:"h:10"}' in fast
    # orderTopicConf sits between filterServerTable and queueDatas (alphabetical bean fields)
    keys = list(json.loads(std))
    assert keys == ["brokerDatas", "filterServerTable", "orderTopicConf", "queueDatas"]
    for data in (std, fast):
        back = TopicRouteData.from_json(data)
        assert back.broker_datas[0].broker_addrs == {0: "h:0", 2: "h:2", 10: "h:10"}
        assert back.order_topic_conf == "brøker:4"
        assert dict(back.filter_server_table) == {"h:0": ("f:1",)}


def test_broker_data_select_addr() -> None:
    assert BrokerData("C", "b", {1: "s1", 2: "s2"}).select_broker_addr() == "s1"
    assert BrokerData("C", "b", {}).select_broker_addr() is None
    assert QueueData("b", 1, 1, 6).writable and not QueueData("b", 1, 1, 4).writable


def test_from_json_rejects_non_objects() -> None:
    with pytest.raises(ValueError):
        TopicRouteData.from_json(b"[]")
    with pytest.raises(ValueError):
        TopicRouteData.from_json(b"{nope")


def test_cluster_info_equals_captured_bytes() -> None:
    expected = _body("cpp/004-s2c-response-GET_BROKER_CLUSTER_INFO.bin")
    info = ClusterInfo(
        {"broker-a": BrokerData("DefaultCluster", "broker-a", {0: "127.0.0.1:10911"})},
        {"DefaultCluster": ["broker-a"]},
    )
    assert info.to_json() == expected
    back = ClusterInfo.from_json(expected)
    assert back.broker_addr_table["broker-a"].master_addr == "127.0.0.1:10911"
    assert tuple(back.cluster_addr_table["DefaultCluster"]) == ("broker-a",)


def test_kv_table_and_topic_list() -> None:
    kv = KVTable({"TopicA": "broker-a:4"})
    assert kv.to_json() == b'{"table":{"TopicA":"broker-a:4"}}'
    assert KVTable.from_json(kv.to_json()) == kv
    tl = TopicList(("A", "B"))
    assert tl.to_json() == b'{"topicList":["A","B"]}'
    assert TopicList.from_json(tl.to_json()) == tl
    with_addr = TopicList(("C",), "1.2.3.4:5")
    assert with_addr.to_json() == b'{"brokerAddr":"1.2.3.4:5","topicList":["C"]}'
    assert TopicList.from_json(with_addr.to_json()) == with_addr
