"""Send header building, pull response processing (decode, decompress, tag filter), validation."""

from __future__ import annotations

import zlib

import pytest

from broker_core.message.codec import encode_record
from broker_core.message.model import BrokerMessage, Message
from broker_core.message.properties import encode_properties
from broker_core.remoting.body.heartbeat import SubscriptionData
from broker_core.remoting.codes import ResponseCode
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.headers.send import SendMessageRequestHeader
from rocketmq_integration.client.pull import filter_by_tags, process_pull_response
from rocketmq_integration.client.results import PullStatus, SendStatus
from rocketmq_integration.client.sending import (
    build_send_ext_fields,
    parse_send_response,
    retry_header_values,
    set_uniq_id,
)
from rocketmq_integration.client.validation import check_batch, check_group, check_message, check_topic
from rocketmq_integration.errors import MQBrokerError, ValidationError


@pytest.mark.parametrize("batch", [False, True])
def test_send_ext_fields_match_shared_header(batch: bool) -> None:
    props = encode_properties({"TAGS": "A", "KEYS": "k1 k2", "UNIQ_KEY": "X", "ü": "中"})
    ours = build_send_ext_fields(
        group="pg", topic="T", queue_id=3, sys_flag=1, born_timestamp=1700000000123, flag=7, properties=props,
        default_topic="TBW102", default_topic_queue_nums=4, broker_name="broker-a", batch=batch,
    )  # fmt: skip
    reference = SendMessageRequestHeader(
        producer_group="pg", topic="T", default_topic="TBW102", default_topic_queue_nums=4, queue_id=3,
        sys_flag=1, born_timestamp=1700000000123, flag=7, properties=props, reconsume_times=0,
        unit_mode=False, batch=batch, bname="broker-a",
    ).to_v2_ext_fields()  # fmt: skip
    assert ours == reference
    decoded = SendMessageRequestHeader.from_request(310, ours)
    assert decoded.topic == "T" and decoded.queue_id == 3 and decoded.properties == props


def test_retry_topic_moves_reconsume_properties_to_header() -> None:
    props = {"RECONSUME_TIME": "3", "MAX_RECONSUME_TIMES": "16", "TAGS": "a"}
    assert retry_header_values("%RETRY%g", props) == (3, 16, {"TAGS": "a"})
    assert retry_header_values("T", props) == (0, None, props)


def test_uniq_id_set_once() -> None:
    m = Message("T", b"x")
    uid = set_uniq_id(m)
    assert len(uid) == 32 and m.properties["UNIQ_KEY"] == uid
    assert set_uniq_id(m) == uid


def test_parse_send_response_statuses() -> None:
    ok = RemotingCommand(
        code=ResponseCode.FLUSH_DISK_TIMEOUT, ext_fields={"msgId": "OFF", "queueId": "2", "queueOffset": "9"}
    )
    r = parse_send_response(ok, "addr", "T", "b", "UNIQ")
    assert r.status is SendStatus.FLUSH_DISK_TIMEOUT
    assert (r.msg_id, r.offset_msg_id, r.message_queue.queue_id, r.queue_offset) == ("UNIQ", "OFF", 2, 9)
    with pytest.raises(MQBrokerError) as ei:
        parse_send_response(RemotingCommand(code=ResponseCode.SYSTEM_BUSY, remark="busy"), "a", "T", "b", "U")
    assert ei.value.code == ResponseCode.SYSTEM_BUSY


def _record(offset: int, tag: str | None, body: bytes, compressed: bool = False) -> bytes:
    props = {"UNIQ_KEY": f"U{offset}"}
    if tag:
        props["TAGS"] = tag
    stored = zlib.compress(body) if compressed else body
    return encode_record(
        BrokerMessage(topic="T", queue_id=0, body=stored, properties_str=encode_properties(props),
                      sys_flag=1 if compressed else 0),
        queue_offset=offset, phy_offset=offset * 200, store_timestamp=1,
    )  # fmt: skip


def test_process_pull_found_filters_and_decompresses() -> None:
    body = (
        _record(5, "A", b"a" * 5000, compressed=True) + _record(6, "B", b"b") + _record(7, "C", "中".encode())
    )
    resp = RemotingCommand(
        code=ResponseCode.SUCCESS,
        ext_fields={"nextBeginOffset": "8", "minOffset": "0", "maxOffset": "8", "suggestWhichBrokerId": "0"},
        body=body,
    )
    sub = SubscriptionData.build("T", "A || C", 1)
    result = process_pull_response(resp, sub)
    assert result.status is PullStatus.FOUND and result.next_begin_offset == 8
    assert [m.queue_offset for m in result.messages] == [5, 7]
    assert result.messages[0].body == b"a" * 5000 and result.messages[0].sys_flag & 1 == 0
    assert result.messages[1].body.decode() == "中"
    assert result.messages[0].properties["MIN_OFFSET"] == "0"
    assert result.messages[0].properties["MAX_OFFSET"] == "8"
    everything = process_pull_response(resp, SubscriptionData.build("T", "*", 1))
    assert len(everything.messages) == 3


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (ResponseCode.PULL_NOT_FOUND, PullStatus.NO_NEW_MSG),
        (ResponseCode.PULL_RETRY_IMMEDIATELY, PullStatus.NO_MATCHED_MSG),
        (ResponseCode.PULL_OFFSET_MOVED, PullStatus.OFFSET_ILLEGAL),
    ],
)
def test_process_pull_other_statuses(code: int, status: PullStatus) -> None:
    resp = RemotingCommand(
        code=code, ext_fields={"nextBeginOffset": "42", "minOffset": "1", "maxOffset": "50"}
    )
    result = process_pull_response(resp, None)
    assert result.status is status and result.next_begin_offset == 42 and result.messages == []


def test_process_pull_error_code_raises() -> None:
    with pytest.raises(MQBrokerError):
        process_pull_response(
            RemotingCommand(code=ResponseCode.SUBSCRIPTION_NOT_EXIST, remark="no sub"), None
        )


def test_filter_messages_without_tags_dropped_when_tags_set() -> None:
    assert filter_by_tags([], frozenset({"A"})) == []


def test_validation_messages() -> None:
    with pytest.raises(ValidationError, match="illegal characters"):
        check_topic("bad topic")
    with pytest.raises(ValidationError, match="longer"):
        check_topic("x" * 128)
    with pytest.raises(ValidationError):
        check_group("")
    with pytest.raises(ValidationError, match="zero"):
        check_message(Message("T", b""), 10)
    with pytest.raises(ValidationError, match="exceeds"):
        check_message(Message("T", b"12345678901"), 10)
    with pytest.raises(ValidationError, match="same"):
        check_batch([Message("T", b"1"), Message("U", b"1")], 10)
    with pytest.raises(ValidationError, match="retry"):
        check_batch([Message("%RETRY%g", b"1")], 10)
    delayed = Message("T", b"1")
    delayed.delay_time_level = 3
    with pytest.raises(ValidationError, match="Delay"):
        check_batch([delayed], 10)
