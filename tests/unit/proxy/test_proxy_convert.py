"""Pure parts of the gRPC proxy: v2 <-> remoting message mapping, send checks, handles, settings."""

from __future__ import annotations

import zlib

import pytest

from broker_core.message.model import MessageExt
from broker_core.message.properties import MessageConst
from broker_core.message.sysflag import MessageSysFlag
from broker_core.proxy.codes import summary_status
from broker_core.proxy.convert import PROXY_PRODUCER_GROUP, check_message, to_remoting, to_v2
from broker_core.proxy.handles import TransactionId, make_handle, parse_handle
from broker_core.proxy.sessions import Sessions, answer_settings
from broker_core.proxy.v2 import definition_pb2 as pb
from broker_core.remoting.headers.pop import ReceiptHandleError


def v2_message(**system: object) -> pb.Message:
    msg = pb.Message(body=b"hello")
    msg.topic.name = "Orders"
    msg.system_properties.message_id = "01ABCDEF"
    msg.system_properties.message_type = pb.NORMAL
    for name, value in system.items():
        setattr(msg.system_properties, name, value)
    return msg


def test_to_remoting_maps_system_properties_onto_4x_properties() -> None:
    msg = v2_message(tag="TagA", message_group="g1", message_type=pb.FIFO)
    msg.system_properties.keys.extend(["k1", "k2"])
    msg.user_properties["color"] = "red"
    rm = to_remoting(msg)
    assert rm.topic == "Orders" and rm.body == b"hello" and rm.sys_flag == 0
    assert rm.properties == {
        "color": "red",
        MessageConst.TAGS: "TagA",
        MessageConst.KEYS: "k1 k2",
        MessageConst.UNIQ_KEY: "01ABCDEF",
        MessageConst.SHARDING_KEY: "g1",
    }


def test_transaction_and_delay_mapping() -> None:
    tx = to_remoting(v2_message(message_type=pb.TRANSACTION))
    assert tx.sys_flag == MessageSysFlag.TRANSACTION_PREPARED
    assert tx.properties[MessageConst.TRAN_MSG] == "true"
    assert tx.properties[MessageConst.PGROUP] == PROXY_PRODUCER_GROUP
    delayed = v2_message(message_type=pb.DELAY)
    delayed.system_properties.delivery_timestamp.seconds = 2_000_000_000
    assert to_remoting(delayed).properties[MessageConst.TIMER_DELIVER_MS] == "2000000000000"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"tag": "a|b"}, pb.ILLEGAL_MESSAGE_TAG),
        ({"message_group": "x" * 65, "message_type": pb.FIFO}, pb.ILLEGAL_MESSAGE_GROUP),
        ({"message_group": " ", "message_type": pb.FIFO}, pb.ILLEGAL_MESSAGE_GROUP),
        ({"message_type": pb.FIFO}, pb.MESSAGE_PROPERTY_CONFLICT_WITH_TYPE),
        ({"message_id": ""}, pb.ILLEGAL_MESSAGE_ID),
    ],
)
def test_check_message_rejects_with_apache_codes(change: dict[str, object], code: int) -> None:
    problem = check_message(v2_message(**change), 4 * 1024 * 1024)
    assert problem is not None and problem.code == code


def test_check_message_body_size_topic_and_reserved_property() -> None:
    assert check_message(v2_message(), 4) is not None
    assert check_message(v2_message(), 4).code == pb.MESSAGE_BODY_TOO_LARGE  # type: ignore[union-attr]
    bad_topic = v2_message()
    bad_topic.topic.name = "bad topic"
    assert check_message(bad_topic, 1024).code == pb.ILLEGAL_TOPIC  # type: ignore[union-attr]
    reserved = v2_message()
    reserved.user_properties["UNIQ_KEY"] = "x"
    assert check_message(reserved, 1024).code == pb.ILLEGAL_MESSAGE_PROPERTY_KEY  # type: ignore[union-attr]
    assert check_message(v2_message(tag="ok"), 1024) is None


def stored(topic: str = "Orders", **props: str) -> MessageExt:
    return MessageExt(
        topic=topic, queue_id=2, queue_offset=7, commit_log_offset=1234, store_size=0, body_crc=0, flag=0,
        sys_flag=0, born_timestamp=1_700_000_000_123, born_host=("10.0.0.1", 5555),
        store_timestamp=1_700_000_000_456, store_host=("127.0.0.1", 10911), reconsume_times=1,
        prepared_transaction_offset=0, body=b"payload", properties=dict(props),
    )  # fmt: skip


def test_to_v2_carries_everything_a_5x_consumer_reads() -> None:
    ext = stored(TAGS="TagA", KEYS="a b", UNIQ_KEY="ID1", __SHARDINGKEY="g", color="red")
    msg = to_v2(ext, receipt_handle="h", invisible_ms=1500)
    sp = msg.system_properties
    assert msg.topic.name == "Orders" and msg.body == b"payload"
    assert dict(msg.user_properties) == {"color": "red"}
    assert sp.tag == "TagA" and list(sp.keys) == ["a", "b"] and sp.message_id == "ID1"
    assert sp.message_group == "g" and sp.message_type == pb.FIFO
    assert sp.body_digest.checksum == f"{zlib.crc32(b'payload'):08X}"
    assert sp.born_timestamp.seconds == 1_700_000_000 and sp.born_timestamp.nanos == 123_000_000
    assert sp.delivery_attempt == 2 and sp.queue_id == 2 and sp.queue_offset == 7
    assert sp.receipt_handle == "h" and sp.invisible_duration.seconds == 1


def test_retry_copy_shows_original_topic() -> None:
    msg = to_v2(stored("%RETRY%G_Orders", RETRY_TOPIC="Orders"))
    assert msg.topic.name == "Orders"


def test_handles_round_trip_and_reject_garbage() -> None:
    broker = "5 1700000000000 30000 0 0 broker-a 1 42"
    parsed = parse_handle(make_handle(broker, 999))
    assert (
        parsed.broker_text == broker and parsed.commit_log_offset == 999 and parsed.broker.queue_offset == 42
    )
    for bad in ("", "garbage", broker, "a b c d e f g h 9"):
        with pytest.raises(ReceiptHandleError):
            parse_handle(bad)
    txid = TransactionId(1, 2, "ABC", "broker.a")
    assert TransactionId.parse(txid.encode()) == txid
    with pytest.raises(ValueError):
        TransactionId.parse("nope")


def test_summary_status_and_settings() -> None:
    ok, bad = pb.Status(code=pb.OK), pb.Status(code=pb.BAD_REQUEST)
    assert summary_status([ok, ok]).code == pb.OK
    assert summary_status([ok, bad]).code == pb.MULTIPLE_RESULTS
    client = pb.Settings(client_type=pb.PRODUCER)
    client.publishing.topics.add(name="Orders")
    answer = answer_settings(client)
    assert answer.publishing.max_body_size == 4 * 1024 * 1024
    assert answer.backoff_policy.WhichOneof("strategy") == "exponential_backoff"
    sessions = Sessions()
    session = sessions.open("c1")
    session.settings = client
    assert sessions.producer_of("Orders") is session
    sessions.terminate("c1")
    assert sessions.producer_of("Orders") is None and len(sessions) == 0
