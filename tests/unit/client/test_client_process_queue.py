"""ProcessQueue commit offset: min in-flight offset, else max cached + 1."""

from __future__ import annotations

import asyncio

from broker_core.message.model import MessageExt
from rocketmq_integration.client.process_queue import ProcessQueue


def _msg(offset: int, body: bytes = b"x") -> MessageExt:
    return MessageExt(
        topic="T", queue_id=0, queue_offset=offset, commit_log_offset=offset * 100, store_size=0, body_crc=0,
        flag=0, sys_flag=0, born_timestamp=0, born_host=("127.0.0.1", 1), store_timestamp=0,
        store_host=("127.0.0.1", 10911), reconsume_times=0, prepared_transaction_offset=0, body=body,
    )  # fmt: skip


def test_commit_is_min_in_flight_then_max_plus_one() -> None:
    pq = ProcessQueue()
    msgs = [_msg(o) for o in range(10, 15)]
    assert pq.put(msgs) == 5
    assert pq.cached_count == 5
    # finishing out of order never moves the commit past an unfinished message
    assert pq.remove([msgs[3]]) == 10
    assert pq.remove([msgs[1], msgs[2]]) == 10
    assert pq.remove([msgs[0]]) == 14
    assert pq.remove([msgs[4]]) == 15
    assert pq.cached_count == 0
    assert pq.commit_offset() == 15


def test_remove_on_empty_queue_returns_minus_one() -> None:
    pq = ProcessQueue()
    assert pq.remove([_msg(1)]) == -1
    assert pq.commit_offset() == -1


def test_duplicates_not_counted_twice_and_bytes_tracked() -> None:
    pq = ProcessQueue()
    assert pq.put([_msg(1, b"abc"), _msg(2, b"de")]) == 2
    assert pq.put([_msg(2, b"de")]) == 0
    assert pq.cached_bytes == 5
    assert pq.max_span == 1
    assert pq.remove([_msg(1, b"abc")]) == 2
    assert pq.cached_bytes == 2


def test_new_pull_after_empty_extends_offsets() -> None:
    pq = ProcessQueue()
    pq.put([_msg(0)])
    assert pq.remove([_msg(0)]) == 1
    pq.put([_msg(1), _msg(2)])
    assert pq.remove([_msg(2)]) == 1
    assert pq.min_offset == 1


def test_take_returns_first_cached_in_order_without_removing() -> None:
    pq = ProcessQueue()
    pq.put([_msg(o) for o in (5, 6, 7)])
    assert [m.queue_offset for m in pq.take(2)] == [5, 6]
    assert pq.cached_count == 3
    pq.remove(pq.take(1))
    assert [m.queue_offset for m in pq.take(5)] == [6, 7]


def test_expired_reports_calls_older_than_the_timeout() -> None:
    pq = ProcessQueue()
    msgs = [_msg(o) for o in (1, 2, 3)]
    pq.put(msgs)
    pq.mark_consuming(msgs[:1], now=100.0)
    pq.mark_consuming(msgs[1:2], now=150.0)
    assert [m.queue_offset for m in pq.expired(now=161.0, max_age=30.0)] == [1]
    pq.remove(msgs[:1])
    assert pq.expired(now=161.0, max_age=30.0) == []


def test_max_span_drives_flow_control() -> None:
    pq = ProcessQueue()
    pq.put([_msg(0), _msg(2500)])
    assert pq.max_span == 2500  # > consumeConcurrentlyMaxSpan 2000: the pull loop pauses
    pq.remove([_msg(0)])
    assert pq.max_span == 0


def test_lock_expiry() -> None:
    pq = ProcessQueue()
    pq.last_lock_timestamp = 10.0
    assert not pq.is_lock_expired(39.0, 30.0)
    assert pq.is_lock_expired(41.0, 30.0)
    pq.locked = True
    pq.drop()
    assert not pq.locked


def test_wait_for_messages_wakes_on_put_and_drop() -> None:
    asyncio.run(asyncio.wait_for(_wait_scenario(), 5))


async def _wait_scenario() -> None:
    pq = ProcessQueue()
    waiter = asyncio.create_task(pq.wait_for_messages())
    await asyncio.sleep(0)
    assert not waiter.done()
    pq.put([_msg(1)])
    await asyncio.wait_for(waiter, 1)
    pq.remove([_msg(1)])
    waiter = asyncio.create_task(pq.wait_for_messages())
    await asyncio.sleep(0)
    pq.drop()
    await asyncio.wait_for(waiter, 1)
