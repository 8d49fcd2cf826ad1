"""fastjson object-key maps (MessageQueue keys) and the consumer-admin bodies built on them."""

from __future__ import annotations

import pytest

from broker_core.remoting import fastjson
from broker_core.remoting.body.consumer_admin import (
    Connection,
    ConsumerConnection,
    ConsumeStats,
    OffsetWrapper,
    TopicOffset,
    decode_group_list,
    decode_offset_table,
    decode_topic_stats,
    encode_group_list,
    encode_offset_table,
    encode_topic_stats,
    mq_key,
)


def test_object_keys_written_like_fastjson() -> None:
    text = fastjson.dumps_object_keys({"offsetTable": {mq_key(("T", "b", 0)): 15}, "n": {1: "x"}})
    assert text == '{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:15},"n":{1:"x"}}'


def test_object_keys_parse_round_trip_and_standard_json() -> None:
    text = '{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:15, {"brokerName":"b","queueId":1,"topic":"T"} : 7},"a":[1,{"b":null}],"m":{3:true}}'
    obj = fastjson.loads_object_keys(text)
    assert obj["offsetTable"] == {mq_key(("T", "b", 0)): 15, mq_key(("T", "b", 1)): 7}
    assert obj["a"] == [1, {"b": None}] and obj["m"] == {3: True}
    assert fastjson.loads_object_keys('{"x": [], "y": {}}') == {"x": [], "y": {}}
    with pytest.raises(ValueError):
        fastjson.loads_object_keys('{"x": 1} trailing')


def test_consume_stats_round_trip_and_lag() -> None:
    stats = ConsumeStats({("T", "b", 0): OffsetWrapper(10, 4, 123), ("T", "b", 1): OffsetWrapper(5, 5)}, 1.5)
    back = ConsumeStats.decode(stats.encode())
    assert back == stats and back.diff_total == 6


def test_offset_table_topic_stats_group_list_connection() -> None:
    offsets = {("T", "b", 0): 3, ("T", "b", 2): 9}
    assert decode_offset_table(encode_offset_table(offsets)) == offsets
    table = {("T", "b", 0): TopicOffset(0, 12, 99)}
    assert decode_topic_stats(encode_topic_stats(table)) == table
    assert decode_group_list(encode_group_list({"g2", "g1"})) == ["g1", "g2"]
    conn = ConsumerConnection([Connection("cid", "127.0.0.1:1", "JAVA", 409)], {"T": {"subString": "*"}})
    assert ConsumerConnection.decode(conn.encode()) == conn
