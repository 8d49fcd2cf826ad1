"""The pull read path with ``views=True``: memoryviews of the mapped segments, same records as copies."""

from __future__ import annotations

import asyncio
import dataclasses

from broker_core.config.store import StoreConfig
from broker_core.message import BrokerMessage, decode_records, encode_properties
from broker_core.store import GetMessageStatus, MessageStore


def msg(i: int, queue_id: int) -> BrokerMessage:
    return BrokerMessage(
        topic="V", queue_id=queue_id, body=bytes([65 + i % 26]) * (700 + i % 50),
        properties_str=encode_properties({"UNIQ_KEY": f"ID{i}"}),
    )  # fmt: skip


def test_views_are_the_same_records_as_copies_across_segment_rolls(small_config: StoreConfig) -> None:
    async def main() -> None:
        store = MessageStore(small_config)  # 64 KiB segments: ~80 records each, 300 records roll often
        await store.start()
        try:
            for i in range(300):
                await store.put_message(msg(i, i % 3))
            await store.wait_dispatched()
            assert len(store.commit_log.queue.files) > 2
            for queue_id in range(3):
                offset = 0
                seen: list[str] = []
                while True:
                    copies = store.get_message("g", "V", queue_id, offset, 32)
                    views = store.get_message("g", "V", queue_id, offset, 32, views=True)
                    assert (views.status, views.next_begin_offset) == (
                        copies.status,
                        copies.next_begin_offset,
                    )
                    if copies.status is not GetMessageStatus.FOUND:
                        break
                    assert all(type(b) is memoryview for b in views.message_buffers)
                    assert [bytes(b) for b in views.message_buffers] == list(copies.message_buffers)
                    assert views.message_queue_offsets == copies.message_queue_offsets
                    assert views.buffer_total_size == sum(len(b) for b in views.message_buffers)
                    assert views.message_count <= 32
                    seen += [m.msg_id for m in decode_records(b"".join(views.message_buffers))]
                    offset = views.next_begin_offset
                assert seen == [f"ID{i}" for i in range(queue_id, 300, 3)]
        finally:
            await store.shutdown()

    asyncio.run(main())


def test_views_respect_the_in_memory_byte_limit(small_config: StoreConfig) -> None:
    config = dataclasses.replace(small_config, max_transfer_bytes_on_message_in_memory=4000)

    async def main() -> None:
        store = MessageStore(config)
        await store.start()
        try:
            for i in range(40):
                await store.put_message(msg(i, 0))
            await store.wait_dispatched()
            r = store.get_message("g", "V", 0, 0, 32, views=True)
            # records of 800-900 bytes: four fit under 4000 bytes, the fifth would not
            assert r.message_count == 4 and r.next_begin_offset == 4
            assert r.buffer_total_size <= 4000
        finally:
            await store.shutdown()

    asyncio.run(main())
