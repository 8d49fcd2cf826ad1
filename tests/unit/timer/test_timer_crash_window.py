"""A crash between a timer message's re-put and its DONE record must not deliver it twice."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from broker_core.broker.timer.service import TimerService, intercept_send
from broker_core.config.broker import BrokerConfig
from broker_core.config.store import StoreConfig
from broker_core.message.model import BrokerMessage
from broker_core.message.properties import MessageConst, encode_properties
from broker_core.store.message_store import MessageStore

HOST = ("127.0.0.1", 10911)


async def wait_until(cond: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


def copies_in_topic(store: MessageStore, topic: str) -> int:
    return store.get_max_offset_in_queue(topic, 0)


def test_redelivery_is_skipped_when_done_record_was_lost(tmp_path: Path) -> None:
    async def main() -> None:
        cfg = BrokerConfig()
        store_cfg = StoreConfig(
            store_path_root_dir=tmp_path / "store",
            mapped_file_size_commit_log=1 << 20,
            mapped_file_size_consume_queue=6000,
        )
        store = MessageStore(store_cfg)
        await store.start()
        timer = TimerService(cfg, store, tmp_path / "store", lambda: HOST)
        timer.start()
        props = {MessageConst.UNIQ_KEY: "0A0B0C0D0E0F00000000000000000001", MessageConst.KEYS: "k1",
                 "TIMER_DELIVER_MS": str(int(time.time() * 1000) + 300)}  # fmt: skip
        parked = intercept_send(cfg, "CrashTopic", 0, encode_properties(props))
        assert parked is not None
        topic, qid, parked_props = parked
        result = await store.put_message(
            BrokerMessage(
                topic=topic, queue_id=qid, body=b"once", properties_str=parked_props, store_host=HOST
            )
        )
        assert result.ok
        await store.wait_dispatched()  # the broker wires this through the store's arrival listener
        timer.notify_arrival(topic)
        log_path = timer.timer_log.path
        await wait_until(lambda: timer.queue_offset == 1)  # enqueued: the ENQUEUE record is written
        enqueued_size = log_path.stat().st_size
        await wait_until(lambda: timer.delivered == 1)
        await store.wait_dispatched()
        await timer.stop()
        assert copies_in_topic(store, "CrashTopic") == 1
        # the crash window: the re-put reached the commit log, its DONE record did not
        with open(log_path, "r+b") as fh:
            fh.truncate(enqueued_size)

        restarted = TimerService(cfg, store, tmp_path / "store", lambda: HOST)
        restarted.start()
        try:
            await asyncio.sleep(1.0)  # a redelivery would happen on the first tick
            assert copies_in_topic(store, "CrashTopic") == 1
            assert restarted.delivered == 0
        finally:
            await restarted.stop()
            await store.shutdown()

    asyncio.run(main())
