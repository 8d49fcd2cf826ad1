"""ProcessQueue commit offset: min in-flight offset, else max cached + 1."""

from __future__ import annotations

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
