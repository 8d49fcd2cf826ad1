"""Allocation strategies, property-tested: deterministic, disjoint, covering (storage spec §3.4)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker_core.message.model import MessageQueue
from rocketmq_integration.client.allocate import (
    AllocateByConfig,
    AllocateByMachineRoom,
    AllocateConsistentHash,
    AllocateStrategy,
    allocate_averagely,
    allocate_averagely_by_circle,
)

STRATEGIES: list[AllocateStrategy] = [
    allocate_averagely,
    allocate_averagely_by_circle,
    AllocateConsistentHash(),
    AllocateConsistentHash(virtual_nodes=1),
]

queues = st.lists(
    st.builds(
        MessageQueue,
        st.sampled_from(["T1", "T2"]),
        st.sampled_from(["room1@broker-a", "room2@broker-b", "broker-c"]),
        st.integers(0, 15),
    ),
    min_size=0,
    max_size=40,
    unique=True,
)
clients = st.lists(
    st.from_regex(r"10\.0\.0\.[0-9]{1,2}@[0-9]{1,4}", fullmatch=True), min_size=1, max_size=12, unique=True
)


def _split(
    strategy: AllocateStrategy, mqs: list[MessageQueue], cids: list[str]
) -> dict[str, list[MessageQueue]]:
    return {c: strategy("g", c, mqs, cids) for c in cids}


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: getattr(s, "__name__", type(s).__name__))
@settings(max_examples=60)
@given(mqs=queues, cids=clients, seed=st.integers(0, 2**16))
def test_disjoint_complete_deterministic(
    strategy: AllocateStrategy, mqs: list[MessageQueue], cids: list[str], seed: int
) -> None:
    split = _split(strategy, mqs, cids)
    shuffled_mqs, shuffled_cids = mqs[:], cids[:]
    random.Random(seed).shuffle(shuffled_mqs)
    random.Random(seed + 1).shuffle(shuffled_cids)
    assert split == _split(strategy, shuffled_mqs, shuffled_cids)  # every member computes the same
    owned = [mq for part in split.values() for mq in part]
    assert len(owned) == len(set(owned))  # disjoint
    assert set(owned) == set(mqs)  # complete
    assert strategy("g", "not-a-member", mqs, cids) == []


@pytest.mark.parametrize("strategy", [allocate_averagely, allocate_averagely_by_circle])
@settings(max_examples=40)
@given(mqs=queues, cids=clients)
def test_averaging_strategies_are_balanced(
    strategy: AllocateStrategy, mqs: list[MessageQueue], cids: list[str]
) -> None:
    sizes = [len(p) for p in _split(strategy, mqs, cids).values()]
    assert max(sizes) - min(sizes) <= 1


@settings(max_examples=40)
@given(mqs=queues, cids=clients, rooms=st.sets(st.sampled_from(["room1", "room2", "broker-c"]), min_size=1))
def test_machine_room_covers_exactly_the_rooms_queues(
    mqs: list[MessageQueue], cids: list[str], rooms: set[str]
) -> None:
    strategy = AllocateByMachineRoom(rooms)
    split = _split(strategy, mqs, cids)
    owned = [mq for part in split.values() for mq in part]
    assert len(owned) == len(set(owned))
    assert set(owned) == {mq for mq in mqs if mq.broker_name.split("@")[0] in rooms}
    sizes = [len(p) for p in split.values()]
    assert max(sizes) - min(sizes) <= 1


def test_machine_room_example() -> None:
    mqs = [MessageQueue("T", b, i) for b in ("hz@a", "sh@b") for i in range(3)]
    strategy = AllocateByMachineRoom(["hz"])
    assert [q.queue_id for q in strategy("g", "c1", mqs, ["c1", "c2"])] == [0, 2]
    assert [q.queue_id for q in strategy("g", "c2", mqs, ["c1", "c2"])] == [1]


def test_by_config_returns_configured_queues() -> None:
    mine = [MessageQueue("T", "b", 3), MessageQueue("T", "b", 1)]
    strategy = AllocateByConfig(mine)
    assert strategy("g", "c", [], ["c", "d"]) == sorted(mine)


def test_consistent_hash_moves_few_queues_when_a_client_joins() -> None:
    mqs = [MessageQueue("T", "broker-a", i) for i in range(64)]
    before = [f"c{i}" for i in range(4)]
    after = [*before, "c4"]
    strategy = AllocateConsistentHash(virtual_nodes=20)
    owner_before = {mq: c for c in before for mq in strategy("g", c, mqs, before)}
    owner_after = {mq: c for c in after for mq in strategy("g", c, mqs, after)}
    moved = [mq for mq in mqs if owner_before[mq] != owner_after[mq]]
    assert all(owner_after[mq] == "c4" for mq in moved)  # only the newcomer gains queues
    assert 0 < len(moved) < 64 // 2


def test_consistent_hash_rejects_zero_virtual_nodes() -> None:
    with pytest.raises(ValueError):
        AllocateConsistentHash(0)
