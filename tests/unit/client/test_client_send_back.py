"""The copy a client sends to %RETRY%<group> itself when CONSUMER_SEND_MSG_BACK is not possible."""

from __future__ import annotations

from broker_core.message.model import MessageExt
from broker_core.message.properties import MessageConst
from rocketmq_integration.client.send_back import build_retry_message
from rocketmq_integration.client.sending import retry_header_values


def _msg(reconsume: int) -> MessageExt:
    return MessageExt(
        topic="Orders", queue_id=1, queue_offset=3, commit_log_offset=0, store_size=0, body_crc=0, flag=7,
        sys_flag=0, born_timestamp=0, born_host=("127.0.0.1", 1), store_timestamp=0,
        store_host=("127.0.0.1", 2), reconsume_times=reconsume, prepared_transaction_offset=0, body=b"b",
        properties={"KEYS": "k1", "UNIQ_KEY": "ABC", MessageConst.MIN_OFFSET: "0", MessageConst.MAX_OFFSET: "9"},
    )  # fmt: skip


def test_retry_copy_carries_origin_and_counts() -> None:
    new = build_retry_message(_msg(2), "g", 16, 3)
    assert new.topic == "%RETRY%g" and new.body == b"b" and new.flag == 7
    assert new.delay_time_level == 5  # 3 + reconsume times
    assert new.properties[MessageConst.RETRY_TOPIC] == "Orders"
    assert new.properties[MessageConst.ORIGIN_MESSAGE_ID] == "ABC"
    assert new.keys == "k1"
    assert MessageConst.MIN_OFFSET not in new.properties
    # the producer moves the counts into header fields j / l for the broker's DLQ rule
    reconsume, max_times, props = retry_header_values(new.topic, new.properties)
    assert (reconsume, max_times) == (3, 16)
    assert MessageConst.RECONSUME_TIME not in props


def test_retry_copy_keeps_the_first_origin_id() -> None:
    m = _msg(1)
    m.properties[MessageConst.ORIGIN_MESSAGE_ID] = "FIRST"
    m.properties[MessageConst.RETRY_TOPIC] = "Orders"
    assert build_retry_message(m, "g", 16, 2).properties[MessageConst.ORIGIN_MESSAGE_ID] == "FIRST"
