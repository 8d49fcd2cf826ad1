"""TopicConfig / DataVersion / TopicConfigSerializeWrapper against the spec and Apache's topics.json."""

from __future__ import annotations

import json

import pytest

from broker_core.remoting.body import (
    PERM_INHERIT,
    PERM_READ,
    PERM_WRITE,
    DataVersion,
    TopicConfig,
    TopicConfigSerializeWrapper,
    TopicFilterType,
)
from tests.support.fixtures import fixture_path


def test_topic_config_defaults_match_java() -> None:
    tc = TopicConfig("T")
    assert (tc.read_queue_nums, tc.write_queue_nums, tc.perm) == (16, 16, PERM_READ | PERM_WRITE)
    assert tc.topic_filter_type is TopicFilterType.SINGLE_TAG
    assert tc.topic_sys_flag == 0 and tc.order is False


def test_topic_config_json_uses_apache_field_names_in_fastjson_order() -> None:
    tc = TopicConfig("TopicTest", 4, 4, 6)
    text = json.dumps(tc.to_json_dict(), separators=(",", ":"))
    assert text == (
        '{"order":false,"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG",'
        '"topicName":"TopicTest","topicSysFlag":0,"writeQueueNums":4}'
    )
    assert TopicConfig.from_json_dict(json.loads(text)) == tc


def test_topic_config_from_json_takes_name_from_table_key_and_ignores_unknown_keys() -> None:
    tc = TopicConfig.from_json_dict({"perm": 4, "attributes": {}, "readQueueNums": 2}, "K")
    assert tc == TopicConfig("K", read_queue_nums=2, perm=4)
    with pytest.raises(ValueError):
        TopicConfig.from_json_dict({"perm": 4})


def test_encode_is_the_space_separated_text_form() -> None:
    tc = TopicConfig(
        "TBW102", 8, 8, PERM_INHERIT | PERM_READ | PERM_WRITE, TopicFilterType.MULTI_TAG, 3, True
    )
    assert tc.encode() == "TBW102 8 8 7 MULTI_TAG"
    # sysflag and order do not survive (Java's encode drops them too)
    assert TopicConfig.decode(tc.encode()) == TopicConfig("TBW102", 8, 8, 7, TopicFilterType.MULTI_TAG)


def test_decode_accepts_a_5x_attributes_suffix_and_rejects_short_text() -> None:
    assert TopicConfig.decode('T 1 2 6 SINGLE_TAG {"+message.type":"NORMAL"}') == TopicConfig("T", 1, 2, 6)
    with pytest.raises(ValueError):
        TopicConfig.decode("T 1 2 6")


def test_data_version_next_and_equality() -> None:
    v = DataVersion(timestamp=100, counter=2)
    nxt = v.next_version(now_ms=200)
    assert nxt == DataVersion(200, 3)
    assert v == DataVersion(100, 2) and v != nxt
    assert DataVersion.from_json(b'{"counter":3,"timestamp":200,"stateVersion":0}') == nxt
    assert nxt.to_json() == b'{"counter":3,"timestamp":200}'
    assert DataVersion.now().timestamp > 0


def test_wrapper_round_trip_and_pretty_output() -> None:
    wrapper = TopicConfigSerializeWrapper({"A": TopicConfig("A", 1, 1)}, DataVersion(5, 1))
    for pretty in (False, True):
        assert TopicConfigSerializeWrapper.from_json(wrapper.to_json(pretty=pretty)) == wrapper
    assert b"\n\t" in wrapper.to_json(pretty=True)


def test_wrapper_reads_apache_topics_json() -> None:
    path = fixture_path("store", "data", "config", "topics.json")
    wrapper = TopicConfigSerializeWrapper.from_json(path.read_bytes())
    assert wrapper.topic_config_table["FxStoreTopicA"].write_queue_nums == 4
    assert wrapper.topic_config_table["FxStoreTopicB"].read_queue_nums == 2
    assert wrapper.topic_config_table["SCHEDULE_TOPIC_XXXX"].read_queue_nums == 18
    assert wrapper.data_version.timestamp > 0
    # our output parses back to the same table
    assert TopicConfigSerializeWrapper.from_json(wrapper.to_json(pretty=True)) == wrapper
