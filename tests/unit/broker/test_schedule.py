"""ScheduleMessageService and the delayed-message routing, against a real store in a temp dir."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from broker_core.broker.schedule import ScheduleMessageService, delayed_destination, replace_property
from broker_core.config.store import StoreConfig, parse_delay_levels
from broker_core.message.model import BrokerMessage
from broker_core.message.properties import decode_properties, encode_properties
from broker_core.message.sysflag import MessageSysFlag
from broker_core.remoting import fastjson
from broker_core.store.message_store import MessageStore


def test_replace_property_sets_and_removes() -> None:
    props = encode_properties({"A": "1", "DELAY": "3", "B": "2"})
    assert decode_properties(replace_property(props, "DELAY", None)) == {"A": "1", "B": "2"}
    assert decode_properties(replace_property(props, "DELAY", "5"))["DELAY"] == "5"
    assert decode_properties(replace_property("", "X", "y")) == {"X": "y"}


def test_delayed_destination_routes_clamps_and_skips_prepared() -> None:
    props = encode_properties({"TAGS": "t", "DELAY": "30"})
    routed = delayed_destination("T", 3, props, 30, 0, 18)
    assert routed is not None
    topic, qid, new_props = routed
    assert (topic, qid) == ("SCHEDULE_TOPIC_XXXX", 17)
    assert decode_properties(new_props) == {"TAGS": "t", "DELAY": "18", "REAL_TOPIC": "T", "REAL_QID": "3"}
    assert delayed_destination("T", 0, props, 2, 0, 18) is not None
    assert delayed_destination("T", 0, props, 0, 0, 18) is None
    assert delayed_destination("T", 0, props, 2, MessageSysFlag.TRANSACTION_PREPARED, 18) is None
    assert delayed_destination("T", 0, props, 2, MessageSysFlag.TRANSACTION_COMMIT, 18) is not None


def _config(tmp_path: Path) -> StoreConfig:
    return StoreConfig(
        store_path_root_dir=tmp_path / "store",
        mapped_file_size_commit_log=64 * 1024,
        mapped_file_size_consume_queue=50 * 20,
        message_delay_level="1s 2s",
    )


def test_delivers_when_due_restores_real_topic_and_persists_offsets(tmp_path: Path) -> None:
    async def scenario() -> tuple[float, dict[str, str], object]:
        cfg = _config(tmp_path)
        service: ScheduleMessageService | None = None

        def on_arrival(topic: str, queue_id: int, *_: object) -> None:
            if topic == "SCHEDULE_TOPIC_XXXX" and service is not None:
                service.notify_arrival(queue_id)

        store = MessageStore(cfg, arrival_listener=on_arrival)
        await store.start()
        service = ScheduleMessageService(
            store, parse_delay_levels(cfg.message_delay_level), tmp_path / "config"
        )
        service.start()
        props = encode_properties({"TAGS": "tg", "KEYS": "k1", "DELAY": "1"})
        routed = delayed_destination("Real", 2, props, 1, 0, service.max_level)
        assert routed is not None
        topic, qid, props = routed
        put_at = time.monotonic()
        result = await store.put_message(BrokerMessage(topic, qid, b"payload", props, reconsume_times=4))
        assert result.append_result is not None
        await store.wait_dispatched()
        assert store.get_max_offset_in_queue("Real", 2) == 0  # parked, not delivered
        while store.get_max_offset_in_queue("Real", 2) == 0:
            assert time.monotonic() - put_at < 5, "never delivered"
            await asyncio.sleep(0.02)
        waited = time.monotonic() - put_at
        got = store.get_message("g", "Real", 2, 0, 8)
        msg = store.look_message_by_offset(store.get_commit_log_offset_in_queue("Real", 2, 0))
        assert msg is not None and msg.body == b"payload" and msg.reconsume_times == 4
        assert len(got.message_buffers) == 1
        await service.stop()
        await store.shutdown()
        return waited, msg.properties, fastjson.loads((tmp_path / "config" / "delayOffset.json").read_text())

    waited, props, offsets = asyncio.run(scenario())
    assert waited >= 0.9
    assert props["TAGS"] == "tg" and props["KEYS"] == "k1" and "DELAY" not in props
    assert props["REAL_TOPIC"] == "Real" and props["REAL_QID"] == "2"
    assert offsets == {"offsetTable": {"1": 1}}


def test_offsets_reload_and_clamp(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "delayOffset.json").write_text('{"offsetTable":{1:99,2:0}}')

    async def scenario() -> dict[int, int]:
        store = MessageStore(_config(tmp_path))
        await store.start()
        props = encode_properties({"DELAY": "1", "REAL_TOPIC": "R", "REAL_QID": "0"})
        await store.put_message(BrokerMessage("SCHEDULE_TOPIC_XXXX", 0, b"x", props))
        await store.wait_dispatched()
        service = ScheduleMessageService(store, {1: 1000, 2: 2000}, tmp_path / "config")
        service.load()
        await store.shutdown()
        return service.offsets

    assert asyncio.run(scenario()) == {1: 1, 2: 0}  # 99 clamped to the queue's max
