"""BrokerStatsManager windows and the runtime-info TPS strings."""

from __future__ import annotations

import time

from broker_core.broker.stats import (
    BROKER_PUT_NUMS,
    GROUP_GET_NUMS,
    QUEUE_PUT_NUMS,
    TOPIC_PUT_NUMS,
    TOPIC_PUT_SIZE,
    BrokerStatsManager,
    StoreStats,
    human_size,
    runtime_text,
)


def test_put_and_get_counters_and_windows() -> None:
    st = BrokerStatsManager("C1")
    st.on_put("T", 1, 3, 300, 0.5)
    st.on_put("T", 2, 1, 100, 12.0)
    st.on_get("T", "G", 1, 4, 400)
    minute = st.view(TOPIC_PUT_NUMS, "T")
    assert minute is not None
    assert minute["statsMinute"].sum == 4
    assert minute["statsMinute"].avgpt == 2.0  # 4 messages over 2 puts
    assert st.view(TOPIC_PUT_SIZE, "T")["statsDay"].sum == 400  # type: ignore[index]
    assert st.view(QUEUE_PUT_NUMS, "T@2")["statsHour"].sum == 1  # type: ignore[index]
    assert st.view(BROKER_PUT_NUMS, "C1")["statsMinute"].sum == 4  # type: ignore[index]
    assert st.view(GROUP_GET_NUMS, "T@G")["statsMinute"].sum == 4  # type: ignore[index]
    assert st.view(TOPIC_PUT_NUMS, "missing") is None
    assert st.store.put_times == 4 and st.store.put_size == 400 and st.store.get_transferred == 4


def test_minute_window_slides_over_seven_snapshots() -> None:
    st = BrokerStatsManager()
    st.on_put("T", 0, 10, 10, 1)
    now = time.time()
    for i in range(8):  # 8 snapshots 10 s apart: the first falls out of the 7-slot minute window
        st.sample(now + 10 * i)
        st.on_put("T", 0, 1, 1, 1)
    item = st.sets[TOPIC_PUT_NUMS]["T"]
    first_ts = item.minute[0][0]
    assert len(item.minute) == 7
    assert item.window(item.minute, first_ts + 60).sum == 7  # snapshots 2..8 then one more put
    assert abs(item.window(item.minute, first_ts + 60).tps - 7 / 60) < 1e-9


def test_store_tps_strings_and_latency_text() -> None:
    s = StoreStats()
    t0 = time.monotonic()
    s.samples.clear()
    s.sample(t0 - 10)
    s.on_put(100, 1000, 3)
    text = s.tps(1)
    first = float(text.split(" ")[0])
    assert 9.0 <= first <= 10.5  # 100 puts over ~10 s
    assert s.distribute_text().startswith("[<=0ms]:0 [0~10ms]:1 ")
    assert s.latency_percentile(0.99) == 10.0


def test_human_helpers() -> None:
    assert human_size(0) == "0 B"
    assert human_size(1536) == "1.5 KiB"
    assert runtime_text(int(time.time() * 1000) - 3_661_000).startswith("[ 0 days, 1 hours, 1 minutes, 1")
