"""Route -> publish / subscribe queues, template capping, and queue selection."""

from __future__ import annotations

from broker_core.message.model import MessageQueue
from broker_core.remoting.body.route import TopicRouteData
from rocketmq_integration.client.route import (
    TopicPublishInfo,
    cap_template_route,
    publish_queues,
    select_by_hash,
    subscribe_queues,
)

# fastjson default dialect: unquoted integer keys in brokerAddrs (what old clients are sent)
UNQUOTED = (
    b'{"brokerDatas":[{"brokerAddrs":{0:"127.0.0.1:10911",1:"127.0.0.1:10921"},"brokerName":"broker-b",'
    b'"cluster":"C"},{"brokerAddrs":{0:"127.0.0.1:10931"},"brokerName":"broker-a","cluster":"C"},'
    b'{"brokerAddrs":{1:"127.0.0.1:10941"},"brokerName":"broker-c","cluster":"C"}],"filterServerTable":{},'
    b'"queueDatas":[{"brokerName":"broker-b","perm":6,"readQueueNums":2,"topicSysFlag":0,"writeQueueNums":3},'
    b'{"brokerName":"broker-a","perm":4,"readQueueNums":2,"topicSysFlag":0,"writeQueueNums":2},'
    b'{"brokerName":"broker-c","perm":6,"readQueueNums":1,"topicSysFlag":0,"writeQueueNums":1}]}'
)


def test_parse_unquoted_int_keys() -> None:
    route = TopicRouteData.from_json(UNQUOTED)
    b = {bd.broker_name: bd for bd in route.broker_datas}
    assert b["broker-b"].broker_addrs == {0: "127.0.0.1:10911", 1: "127.0.0.1:10921"}


def test_publish_queues_only_writable_with_master_sorted() -> None:
    route = TopicRouteData.from_json(UNQUOTED)
    # broker-a is read-only (perm 4); broker-c has no master (id 0): both excluded
    assert publish_queues("T", route) == [MessageQueue("T", "broker-b", i) for i in range(3)]


def test_subscribe_queues_all_readable_sorted() -> None:
    route = TopicRouteData.from_json(UNQUOTED)
    assert subscribe_queues("T", route) == [
        MessageQueue("T", "broker-a", 0),
        MessageQueue("T", "broker-a", 1),
        MessageQueue("T", "broker-b", 0),
        MessageQueue("T", "broker-b", 1),
        MessageQueue("T", "broker-c", 0),
    ]


def test_order_topic_conf_wins() -> None:
    route = TopicRouteData.from_json(
        b'{"brokerDatas":[],"orderTopicConf":"broker-x:2;broker-y:1","queueDatas":[]}'
    )
    assert publish_queues("T", route) == [
        MessageQueue("T", "broker-x", 0),
        MessageQueue("T", "broker-x", 1),
        MessageQueue("T", "broker-y", 0),
    ]


def test_template_route_capped() -> None:
    tbw = TopicRouteData.from_json(
        b'{"brokerDatas":[{"brokerAddrs":{"0":"127.0.0.1:10911"},"brokerName":"b","cluster":"C"}],'
        b'"queueDatas":[{"brokerName":"b","perm":7,"readQueueNums":8,"writeQueueNums":8}]}'
    )
    capped = cap_template_route(tbw, 4)
    assert len(publish_queues("New", capped)) == 4
    assert publish_queues("New", capped)[0].topic == "New"


def test_round_robin_and_avoid_last_failed_broker() -> None:
    qs = [MessageQueue("T", "a", 0), MessageQueue("T", "a", 1), MessageQueue("T", "b", 0)]
    info = TopicPublishInfo("T", qs)
    picks = [info.select() for _ in range(6)]
    assert sorted(set(picks)) == sorted(qs)
    assert picks[:3] != picks[3:] or len(set(picks[:3])) == 3
    for _ in range(10):
        assert info.select(last_broker="a").broker_name == "b"
    only_a = TopicPublishInfo("T", qs[:2])
    assert only_a.select(last_broker="a").broker_name == "a"  # no other broker: still sends


def test_select_by_hash_is_stable() -> None:
    qs = [MessageQueue("T", "a", i) for i in range(4)]
    assert select_by_hash(qs, "order-42") == select_by_hash(qs, "order-42")
    # Java: abs("TagA".hashCode()) % 4 == 2598919 % 4 == 3
    assert select_by_hash(qs, "TagA").queue_id == 2598919 % 4
