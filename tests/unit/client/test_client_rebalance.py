"""Allocation strategies: contiguous blocks, extra queues to the first clients, disjoint cover."""

from __future__ import annotations

import random

import pytest

from broker_core.message.model import MessageQueue
from rocketmq_integration.client.rebalance import allocate_averagely, allocate_averagely_by_circle


def _mqs(n: int, brokers: tuple[str, ...] = ("broker-a",)) -> list[MessageQueue]:
    return [MessageQueue("T", b, i) for b in brokers for i in range(n)]


def test_averagely_contiguous_blocks_first_clients_get_extra() -> None:
    mqs = _mqs(10)
    cids = ["c0", "c1", "c2"]
    got = {c: allocate_averagely("g", c, mqs, cids) for c in cids}
    assert [mq.queue_id for mq in got["c0"]] == [0, 1, 2, 3]
    assert [mq.queue_id for mq in got["c1"]] == [4, 5, 6]
    assert [mq.queue_id for mq in got["c2"]] == [7, 8, 9]


def test_averagely_more_clients_than_queues() -> None:
    mqs = _mqs(2)
    cids = ["a", "b", "c"]
    assert [q.queue_id for q in allocate_averagely("g", "a", mqs, cids)] == [0]
    assert [q.queue_id for q in allocate_averagely("g", "b", mqs, cids)] == [1]
    assert allocate_averagely("g", "c", mqs, cids) == []


def test_unknown_client_gets_nothing() -> None:
    assert allocate_averagely("g", "zz", _mqs(4), ["a", "b"]) == []
    assert allocate_averagely_by_circle("g", "zz", _mqs(4), ["a", "b"]) == []


@pytest.mark.parametrize("strategy", [allocate_averagely, allocate_averagely_by_circle])
@pytest.mark.parametrize(("n_queues", "n_clients"), [(1, 1), (4, 2), (8, 3), (3, 5), (16, 16), (17, 4)])
def test_disjoint_cover_independent_of_input_order(strategy, n_queues: int, n_clients: int) -> None:  # type: ignore[no-untyped-def]
    mqs = _mqs(n_queues, ("broker-a", "broker-b"))
    cids = [f"10.0.0.1@{i}" for i in range(n_clients)]
    shuffled_mqs, shuffled_cids = mqs[:], cids[:]
    random.Random(7).shuffle(shuffled_mqs)
    random.Random(8).shuffle(shuffled_cids)
    seen: list[MessageQueue] = []
    for c in cids:
        mine = strategy("g", c, mqs, cids)
        assert mine == strategy("g", c, shuffled_mqs, shuffled_cids)
        seen.extend(mine)
    assert sorted(seen) == sorted(mqs)
    sizes = [len(strategy("g", c, mqs, cids)) for c in cids]
    assert max(sizes) - min(sizes) <= 1


def test_circle_round_robin() -> None:
    got = allocate_averagely_by_circle("g", "b", _mqs(5), ["a", "b"])
    assert [q.queue_id for q in got] == [1, 3]
