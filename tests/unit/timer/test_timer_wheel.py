"""Timer wheel, timer log replay, send-side transform; POP lease table and receipt handles."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker_core.broker.pop.leases import LeaseError, LeaseTable
from broker_core.broker.timer.service import (
    TIMER_OUT_MS,
    TIMER_TOPIC,
    TimerMessageError,
    deliver_time_ms,
    intercept_send,
    transform_timer_message,
)
from broker_core.broker.timer.wheel import HashedWheel, TimerLog, TimerUnit, UnitMagic, tick_of
from broker_core.config.broker import BrokerConfig
from broker_core.message.properties import decode_properties, encode_properties
from broker_core.remoting.headers.pop import ReceiptHandle, ReceiptHandleError, pop_retry_topic

NOW = 1_700_000_000_000


def test_tick_never_early() -> None:
    assert tick_of(5000, 1000) == 5
    assert tick_of(5001, 1000) == 6
    assert tick_of(5999, 1000) == 6


def test_wheel_rounds_and_expiry() -> None:
    w = HashedWheel(slots=10, precision_ms=1000)
    near, far = TimerUnit(3_500, 1, 10), TimerUnit(13_200, 2, 10)  # same bucket (4 % 10 == 14 % 10)
    assert w.add(near) and w.add(far)
    assert not w.add(near)  # duplicate replay is ignored
    assert w.expire(3) == []
    assert w.expire(4) == [near]  # far stays for its round
    assert len(w) == 1
    assert w.expire_range(5, 13) == []
    assert w.expire_range(14, 14) == [far]
    assert len(w) == 0


def test_wheel_catch_up_longer_than_wheel() -> None:
    w = HashedWheel(slots=4, precision_ms=1000)
    units = [TimerUnit(t * 1000, t, 1) for t in range(1, 9)]
    for u in units:
        w.add(u)
    assert sorted(u.offset_py for u in w.expire_range(0, 100)) == list(range(1, 9))


def test_timer_log_replay_compacts(tmp_path: Path) -> None:
    log = TimerLog(tmp_path / "timerlog" / "timerlog")
    a, b, c = TimerUnit(1000, 10, 5), TimerUnit(2000, 20, 5), TimerUnit(3000, 30, 5)
    log.append(UnitMagic.ENQUEUE, [a, b, c])
    log.append(UnitMagic.DONE, [b])
    with open(log.path, "ab") as fh:
        fh.write(b"\x00" * 7)  # torn tail
    assert log.replay() == [a, c]
    assert log.max_offset_py == 30
    assert log.path.stat().st_size == 96  # two pending units + the max-offset marker
    log.append(UnitMagic.DONE, [a, c])
    again = TimerLog(log.path)
    assert again.replay() == []
    assert again.max_offset_py == 30  # survives compaction to zero pending units


def test_deliver_time_priority() -> None:
    props = {"TIMER_DELAY_SEC": "3", "TIMER_DELAY_MS": "500", "TIMER_DELIVER_MS": "1"}
    assert deliver_time_ms(props, NOW) == NOW + 3000
    assert deliver_time_ms({"TIMER_DELAY_MS": "500"}, NOW) == NOW + 500
    assert deliver_time_ms({"__STARTDELIVERTIME": str(NOW + 9)}, NOW) == NOW + 9
    assert deliver_time_ms({"KEYS": "x"}, NOW) is None
    with pytest.raises(TimerMessageError, match="not an integer"):
        deliver_time_ms({"TIMER_DELAY_SEC": "soon"}, NOW)


def test_transform() -> None:
    cfg = BrokerConfig()
    topic, qid, props = transform_timer_message(cfg, "T", 3, {"TIMER_DELAY_SEC": "10"}, NOW) or ("", 0, {})
    assert (topic, qid) == (TIMER_TOPIC, 0)
    assert props[TIMER_OUT_MS] == str(NOW + 10_000)
    assert props["REAL_TOPIC"] == "T" and props["REAL_QID"] == "3"
    # past time, delay-level messages and half messages are not parked
    assert transform_timer_message(cfg, "T", 0, {"TIMER_DELIVER_MS": str(NOW - 1)}, NOW) is None
    assert transform_timer_message(cfg, "T", 0, {"TIMER_DELAY_SEC": "5", "DELAY": "3"}, NOW) is None
    assert transform_timer_message(cfg, "T", 0, {"TIMER_DELAY_SEC": "5", "TRAN_MSG": "true"}, NOW) is None
    with pytest.raises(TimerMessageError, match="timerMaxDelaySec"):
        transform_timer_message(cfg, "T", 0, {"TIMER_DELAY_SEC": str(3 * 86400 + 1)}, NOW)
    off = BrokerConfig(timer_wheel_enable=False)
    with pytest.raises(TimerMessageError, match="timerWheelEnable"):
        transform_timer_message(off, "T", 0, {"TIMER_DELAY_SEC": "5"}, NOW)


def test_intercept_send_on_encoded_properties() -> None:
    cfg = BrokerConfig()
    assert intercept_send(cfg, "T", 1, encode_properties({"KEYS": "k"})) is None
    parked = intercept_send(cfg, "T", 1, encode_properties({"TIMER_DELAY_SEC": "2", "KEYS": "k"}))
    assert parked is not None
    assert parked[0] == TIMER_TOPIC and decode_properties(parked[2])["REAL_QID"] == "1"


def test_receipt_handle_round_trip_and_errors() -> None:
    h = ReceiptHandle(5, NOW, 30000, 0, "1", "broker-a", 2, 7)
    assert ReceiptHandle.parse(h.encode()) == h
    assert h.store_topic("g", "T") == pop_retry_topic("g", "T") == "%RETRY%g_T"
    for bad in ("", "1 2 3", "a b c d e f g h", "1 2 3 4 9 b 0 0", "1 2 3 4 0 b -1 0"):
        with pytest.raises(ReceiptHandleError):
            ReceiptHandle.parse(bad)


def test_lease_table_out_of_order_acks_and_expiry() -> None:
    t = LeaseTable()
    key = ("g", "T", 0)
    q = t.ensure(key, 10)
    for off in (10, 11, 12):
        t.lease(key, off, NOW, 1000)
    q.next_offset = 13
    assert t.ack(key, 12, NOW) == 10  # out of order: 10 and 11 still leased
    assert t.ack(key, 10, NOW) == 11
    with pytest.raises(LeaseError):
        t.ack(key, 10, NOW)
    with pytest.raises(LeaseError):
        t.ack(key, 11, NOW - 1)  # stale pop time
    t.change(key, 11, NOW, NOW + 500, 2000)
    assert t.next_deadline() == NOW + 2500
    assert t.pop_expired(NOW + 2000) == []
    restored = LeaseTable.from_json_dict(t.to_json_dict())
    assert restored.queues[key].leases[11].pop_time == NOW + 500
    expired = t.pop_expired(NOW + 2500)
    assert [(k, off) for k, off, _ in expired] == [(key, 11)]
    assert q.committed() == 13
