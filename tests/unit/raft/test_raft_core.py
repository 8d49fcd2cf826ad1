"""The sans-I/O Raft core under a simulated network (issue 11, acceptance 3).

A cluster of cores exchanges messages through a simulated network that loses, reorders and
duplicates them and partitions the members; members crash (losing everything not persisted) and
restart. Hypothesis draws the schedules. After every step the Raft safety properties are checked:

* election safety: at most one leader per term;
* log matching: two logs with an entry of the same index and term are identical up to it;
* leader completeness: a leader's log holds every entry committed before;
* state-machine safety: no two members apply different entries at the same index.

Liveness is checked separately: once the network heals, a leader is elected and a proposal commits.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker_core.raft.core import Entry, MemoryLog, Message, RaftCore, Role


@dataclass
class Member:
    core: RaftCore
    log: MemoryLog
    hard: tuple[int, str] = (0, "")
    applied: int = 0
    up: bool = True


@dataclass
class Sim:
    ids: list[str]
    rng: random.Random
    loss: float = 0.0
    dup: float = 0.0
    members: dict[str, Member] = field(default_factory=dict)
    net: list[Message] = field(default_factory=list)
    cut: set[frozenset[str]] = field(default_factory=set)
    leaders: dict[int, str] = field(default_factory=dict)
    committed: dict[int, Entry] = field(default_factory=dict)
    committed_in: dict[int, int] = field(default_factory=dict)  # index -> term in which it committed
    proposals: int = 0

    def __post_init__(self) -> None:
        for node_id in self.ids:
            self.members[node_id] = self._fresh(node_id, MemoryLog(), (0, ""))

    def _fresh(self, node_id: str, log: MemoryLog, hard: tuple[int, str]) -> Member:
        core = RaftCore(
            node_id, self.ids, log, term=hard[0], vote=hard[1], election_ticks=8, heartbeat_ticks=2,
            max_batch=5, rng=random.Random(self.rng.random()),
        )  # fmt: skip
        return Member(core, log, hard)

    # ---- driver -------------------------------------------------------------------------------
    def process(self, node_id: str) -> None:
        m = self.members[node_id]
        rd = m.core.ready()
        if rd.hard_state is not None:
            m.hard = rd.hard_state
        if rd.truncate_from is not None:
            m.log.truncate(rd.truncate_from)
        if rd.entries:
            last = m.log.last_index()
            m.log.truncate(rd.entries[0].index) if rd.entries[0].index <= last else None
            m.log.append(rd.entries)
        m.core.advance(rd)
        for msg in rd.messages:
            if frozenset((msg.src, msg.dst)) in self.cut or self.rng.random() < self.loss:
                continue
            self.net.append(msg)
            if self.rng.random() < self.dup:
                self.net.append(msg)
        self.check(node_id, rd.commit)

    def check(self, node_id: str, commit: int) -> None:
        m = self.members[node_id]
        core = m.core
        if core.role is Role.LEADER:
            prev = self.leaders.setdefault(core.term, node_id)
            assert prev == node_id, f"two leaders in term {core.term}: {prev}, {node_id}"
            for index, entry in self.committed.items():  # leader completeness (later terms)
                if self.committed_in[index] < core.term:
                    assert core.term_at(index) == entry.term, f"leader {node_id} lacks committed {entry}"
        assert commit <= m.log.last_index()
        for index in range(m.applied + 1, commit + 1):  # state-machine safety
            entry = m.log.log[index - 1]
            seen = self.committed.setdefault(index, entry)
            assert seen == entry, f"{node_id} applies {entry}, another applied {seen}"
            self.committed_in[index] = min(self.committed_in.get(index, core.term), core.term)
        m.applied = max(m.applied, commit)

    def check_log_matching(self) -> None:
        logs = [m.log.log for m in self.members.values()]
        for a in logs:
            for b in logs:
                n = min(len(a), len(b))
                for i in range(n - 1, -1, -1):
                    if a[i].term == b[i].term:
                        assert a[: i + 1] == b[: i + 1], "log matching violated"
                        break

    # ---- actions ------------------------------------------------------------------------------
    def tick(self, node_id: str) -> None:
        if self.members[node_id].up:
            self.members[node_id].core.tick()
            self.process(node_id)

    def deliver(self) -> None:
        if not self.net:
            return
        msg = self.net.pop(self.rng.randrange(len(self.net)))  # any order
        m = self.members[msg.dst]
        if m.up and frozenset((msg.src, msg.dst)) not in self.cut:
            m.core.step(msg)
            self.process(msg.dst)

    def propose(self, node_id: str) -> None:
        m = self.members[node_id]
        if m.up and m.core.role is Role.LEADER:
            self.proposals += 1
            m.core.propose(f"{node_id}-{self.proposals}".encode())
            self.process(node_id)

    def crash(self, node_id: str) -> None:
        self.members[node_id].up = False
        self.net = [msg for msg in self.net if msg.dst != node_id]

    def restart(self, node_id: str) -> None:
        old = self.members[node_id]
        if not old.up:
            fresh = self._fresh(node_id, old.log, old.hard)
            fresh.applied = 0
            self.members[node_id] = fresh

    def partition(self) -> None:
        a, b = self.rng.sample(self.ids, 2)
        self.cut.add(frozenset((a, b)))

    def heal(self) -> None:
        self.cut.clear()

    def step(self) -> None:
        r = self.rng.random()
        node_id = self.rng.choice(self.ids)
        if r < 0.35:
            self.tick(node_id)
        elif r < 0.80:
            self.deliver()
        elif r < 0.90:
            self.propose(node_id)
        elif r < 0.93:
            self.crash(node_id)
        elif r < 0.96:
            self.restart(node_id)
        elif r < 0.98:
            self.partition()
        else:
            self.heal()


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    size=st.sampled_from([3, 5]),
    loss=st.sampled_from([0.0, 0.05, 0.2]),
    dup=st.sampled_from([0.0, 0.1]),
    steps=st.integers(50, 400),
)
def test_safety_under_loss_reordering_duplication_partitions_and_crashes(
    seed: int, size: int, loss: float, dup: float, steps: int
) -> None:
    sim = Sim([f"n{i}" for i in range(size)], random.Random(seed), loss, dup)
    for i in range(steps):
        sim.step()
        if i % 25 == 0:
            sim.check_log_matching()
    sim.check_log_matching()


def run_until(sim: Sim, cond: object, limit: int = 5000) -> None:
    for _ in range(limit):
        if callable(cond) and cond():
            return
        for node_id in sim.ids:
            sim.tick(node_id)
        while sim.net:
            sim.deliver()
    raise AssertionError("not reached")


def leader_of(sim: Sim) -> str | None:
    leaders = [n for n, m in sim.members.items() if m.up and m.core.role is Role.LEADER]
    return leaders[0] if len(leaders) == 1 else None


@given(seed=st.integers(0, 2**32 - 1))
@settings(max_examples=100, deadline=None)
def test_healed_cluster_elects_a_leader_and_commits(seed: int) -> None:
    sim = Sim(["n0", "n1", "n2"], random.Random(seed))
    run_until(sim, lambda: leader_of(sim) is not None)
    leader = leader_of(sim)
    assert leader is not None
    index = sim.members[leader].core.propose(b"x")
    sim.process(leader)
    assert index is not None
    run_until(sim, lambda: all(m.core.commit >= index for m in sim.members.values()))
    assert all(m.log.log[index - 1].data == b"x" for m in sim.members.values())


def test_a_leader_cut_off_from_the_majority_steps_down_and_the_majority_elects_another() -> None:
    sim = Sim(["n0", "n1", "n2"], random.Random(1))
    run_until(sim, lambda: leader_of(sim) is not None)
    old = leader_of(sim)
    assert old is not None
    for other in sim.ids:
        if other != old:
            sim.cut.add(frozenset((old, other)))
    run_until(
        sim,
        lambda: (
            sim.members[old].core.role is not Role.LEADER
            and any(m.core.role is Role.LEADER for n, m in sim.members.items() if n != old)
        ),
    )
    assert sim.members[old].core.propose(b"minority") is None  # the minority accepts no write
    new = next(n for n, m in sim.members.items() if m.core.role is Role.LEADER)
    index = sim.members[new].core.propose(b"majority")
    sim.process(new)
    assert index is not None
    sim.heal()
    run_until(sim, lambda: all(m.core.commit >= index for m in sim.members.values()))
    logs = [m.log.log[:index] for m in sim.members.values()]
    assert logs[0] == logs[1] == logs[2]  # converged up to the committed index


def test_rejoining_old_leader_truncates_its_uncommitted_tail() -> None:
    sim = Sim(["n0", "n1", "n2"], random.Random(3))
    run_until(sim, lambda: leader_of(sim) is not None)
    old = leader_of(sim)
    assert old is not None
    for other in sim.ids:
        if other != old:
            sim.cut.add(frozenset((old, other)))
    sim.members[old].core.propose(b"never-committed")
    sim.process(old)
    assert sim.members[old].log.log[-1].data == b"never-committed"
    run_until(sim, lambda: any(m.core.role is Role.LEADER for n, m in sim.members.items() if n != old))
    new = next(n for n, m in sim.members.items() if m.core.role is Role.LEADER and n != old)
    index = sim.members[new].core.propose(b"committed")
    sim.process(new)
    assert index is not None
    sim.heal()
    run_until(sim, lambda: sim.members[old].core.commit >= index)
    assert b"never-committed" not in [e.data for e in sim.members[old].log.log]
