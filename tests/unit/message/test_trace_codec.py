"""Trace records in Apache's text encoding (storage spec 9.2)."""

from __future__ import annotations

from broker_core.message.trace import (
    MessageType,
    TraceBean,
    TraceContext,
    TraceType,
    decode_trace_data,
    encode_context,
    trace_keys,
    views_for,
)

# Golden records written field by field from the spec's table (U+0001 between fields, U+0002 after).
PUB = "Pub\x011700000000000\x01DefaultRegion\x01PG\x01T\x01MSGID\x01tagA\x01k1 k2\x01127.0.0.1:10911\x015\x013\x010\x01OFFID\x01true\x02"
SUB_BEFORE = "SubBefore\x011700000000100\x01DefaultRegion\x01CG\x01REQ\x01MSGID\x010\x01k1 k2\x02"
SUB_AFTER = "SubAfter\x01REQ\x01MSGID\x017\x01true\x01k1 k2\x010\x011700000000107\x01CG\x02"
END_TX = "EndTransaction\x011700000000000\x01DefaultRegion\x01PG\x01T\x01MSGID\x01null\x01null\x01127.0.0.1:10911\x011\x01TXID\x01COMMIT_MESSAGE\x01false\x02"


def test_encode_matches_golden_records() -> None:
    bean = TraceBean("MSGID", topic="T", tags="tagA", keys="k1 k2", store_host="127.0.0.1:10911",
                     body_length=5, offset_msg_id="OFFID")  # fmt: skip
    assert (
        encode_context(
            TraceContext(TraceType.Pub, 1700000000000, "DefaultRegion", "PG", 3, True, beans=[bean])
        )
        == PUB
    )
    sub = TraceBean("MSGID", keys="k1 k2")
    assert (
        encode_context(
            TraceContext(
                TraceType.SubBefore, 1700000000100, "DefaultRegion", "CG", request_id="REQ", beans=[sub]
            )
        )
        == SUB_BEFORE
    )
    assert (
        encode_context(
            TraceContext(TraceType.SubAfter, 1700000000107, None, "CG", 7, True, "REQ", 0, beans=[sub])
        )
        == SUB_AFTER
    )
    tx = TraceBean("MSGID", topic="T", store_host="127.0.0.1:10911", msg_type=MessageType.Trans_Msg_Half,
                   transaction_id="TXID", transaction_state="COMMIT_MESSAGE")  # fmt: skip
    assert (
        encode_context(
            TraceContext(TraceType.EndTransaction, 1700000000000, "DefaultRegion", "PG", beans=[tx])
        )
        == END_TX
    )
    assert trace_keys(TraceContext(TraceType.Pub, beans=[bean])) == ["MSGID", "k1", "k2"]


def test_decode_all_types_and_old_layouts() -> None:
    ctxs = decode_trace_data(PUB + SUB_BEFORE + SUB_AFTER + END_TX)
    assert [c.trace_type for c in ctxs] == [
        TraceType.Pub,
        TraceType.SubBefore,
        TraceType.SubAfter,
        TraceType.EndTransaction,
    ]
    pub, before, after, tx = ctxs
    assert (pub.group_name, pub.cost_time, pub.success, pub.beans[0].offset_msg_id) == (
        "PG",
        3,
        True,
        "OFFID",
    )
    assert (before.request_id, before.beans[0].retry_times) == ("REQ", 0)
    assert (after.cost_time, after.time_stamp, after.group_name) == (7, 1700000000107, "CG")
    assert (tx.beans[0].transaction_state, tx.beans[0].msg_type) == (
        "COMMIT_MESSAGE",
        MessageType.Trans_Msg_Half,
    )
    # 13-field Pub (no offsetMsgId) and 6-field SubAfter (no contextCode) are still read
    old = decode_trace_data(
        "Pub\x011\x01R\x01PG\x01T\x01M\x01t\x01k\x01h\x011\x012\x010\x01false\x02SubAfter\x01Q\x01M\x014\x01false\x01k\x02"
    )
    assert old[0].success is False and old[0].beans[0].offset_msg_id is None
    assert old[1].cost_time == 4 and old[1].context_code == 0


def test_views_select_one_message() -> None:
    other = PUB.replace("MSGID", "OTHER")
    views = views_for("MSGID", (PUB + other + SUB_AFTER).encode(), "10.0.0.1:5")
    assert [(v.msg_type, v.status, v.client_host) for v in views] == [
        ("Pub", "success", "10.0.0.1:5"),
        ("SubAfter", "success", "10.0.0.1:5"),
    ]
