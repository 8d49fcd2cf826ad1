"""A sans-I/O Raft node: messages and ticks in, a :class:`Ready` batch of work out.

The shape follows etcd's raft library: the node never touches a socket, a clock or a disk. Its
driver (``broker_core.raft.node``) feeds it

* :meth:`RaftCore.tick` at a fixed period (election and heartbeat timers count ticks),
* :meth:`RaftCore.step` with every message received from a peer,
* :meth:`RaftCore.propose` with data to replicate (leader only),

and after each of those takes :meth:`RaftCore.ready`: the hard state (term, vote) and log entries to
persist *before* the messages are sent, the messages, and the commit index up to which entries may be
applied. :meth:`RaftCore.advance` then tells the node that the entries are stable.

Roles follow DLedger's names (FOLLOWER, CANDIDATE, LEADER). The rules are standard Raft:

* election: a follower that hears no leader for a randomised election timeout becomes candidate,
  increments its term and asks for votes; a vote is granted once per term, only to a candidate whose
  log is at least as up to date (last term, then last index); a majority makes a leader;
* a new leader appends an empty entry of its own term, so everything before it commits with it (a
  leader only counts replicas for entries of its own term);
* replication: the leader sends each peer entries after ``next_index`` with the index and term that
  must precede them; a follower that does not have that entry refuses and says where its log ends,
  and a follower whose log conflicts truncates from the first conflicting entry;
* check-quorum: a leader that has not heard from a majority during an election timeout steps down,
  so a leader cut off from the majority stops accepting writes.

Any message with a higher term turns the receiver into a follower of that term.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "AppendRequest",
    "AppendResponse",
    "Entry",
    "LogView",
    "Message",
    "RaftCore",
    "Ready",
    "Role",
    "VoteRequest",
    "VoteResponse",
]


class Role(enum.Enum):
    FOLLOWER = "FOLLOWER"
    CANDIDATE = "CANDIDATE"
    LEADER = "LEADER"


@dataclass(frozen=True, slots=True)
class Entry:
    """One log entry; indexes start at 1 (0 is the empty log's sentinel, term 0)."""

    index: int
    term: int
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class VoteRequest:
    term: int
    last_index: int
    last_term: int


@dataclass(frozen=True, slots=True)
class VoteResponse:
    term: int
    granted: bool


@dataclass(frozen=True, slots=True)
class AppendRequest:
    term: int
    prev_index: int
    prev_term: int
    entries: tuple[Entry, ...]
    commit: int


@dataclass(frozen=True, slots=True)
class AppendResponse:
    """``index``: on success the last index now matching the leader; on refusal the follower's last index."""

    term: int
    success: bool
    index: int


Body = VoteRequest | VoteResponse | AppendRequest | AppendResponse


@dataclass(frozen=True, slots=True)
class Message:
    src: str
    dst: str
    body: Body


@dataclass(slots=True)
class Ready:
    """Work for the driver, in this order: persist ``hard_state`` and ``entries`` (after truncating the
    stable log from ``truncate_from`` when set), send ``messages``, apply up to ``commit``."""

    hard_state: tuple[int, str] | None = None
    truncate_from: int | None = None
    entries: list[Entry] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    commit: int = 0
    role: Role = Role.FOLLOWER
    leader: str | None = None
    term: int = 0

    @property
    def has_work(self) -> bool:
        return bool(self.hard_state or self.truncate_from is not None or self.entries or self.messages)


class LogView(Protocol):
    """The stable (persisted) log, read-only for the core."""

    def last_index(self) -> int:
        """Index of the last stable entry (0 when empty)."""

    def term_at(self, index: int) -> int:
        """Term of a stable entry (0 for index 0)."""

    def entries(self, lo: int, hi: int) -> list[Entry]:
        """Stable entries with lo <= index < hi."""


class MemoryLog:
    """A :class:`LogView` in memory (tests; also the driver's model of what it persisted)."""

    def __init__(self) -> None:
        self.log: list[Entry] = []

    def last_index(self) -> int:
        return len(self.log)

    def term_at(self, index: int) -> int:
        return self.log[index - 1].term if index > 0 else 0

    def entries(self, lo: int, hi: int) -> list[Entry]:
        return self.log[lo - 1 : hi - 1]

    def truncate(self, from_index: int) -> None:
        del self.log[from_index - 1 :]

    def append(self, entries: Sequence[Entry]) -> None:
        for e in entries:
            assert e.index == len(self.log) + 1, (e.index, len(self.log))
            self.log.append(e)


class RaftCore:
    """One member of a Raft group; see the module docstring.

    Args:
        self_id: this member's id.
        peers: every member's id, this one included.
        log: the stable log.
        term, vote: the persisted hard state.
        commit: a commit index known to be safe (from a checkpoint), else 0.
        election_ticks: base election timeout; the actual one is random in [n, n + jitter).
        election_jitter: random part of the election timeout (default: ``election_ticks``).
        heartbeat_ticks: leader heartbeat period.
        max_batch: most entries in one append message.
        rng: randomness for election timeouts (seeded in tests).
    """

    def __init__(
        self,
        self_id: str,
        peers: Sequence[str],
        log: LogView,
        *,
        term: int = 0,
        vote: str = "",
        commit: int = 0,
        election_ticks: int = 10,
        election_jitter: int = 0,
        heartbeat_ticks: int = 2,
        max_batch: int = 256,
        rng: random.Random | None = None,
    ) -> None:
        self.id = self_id
        self.peers = sorted(set(peers))
        assert self_id in self.peers
        self.others = [p for p in self.peers if p != self_id]
        self.quorum = len(self.peers) // 2 + 1
        self.stable = log
        self.term = term
        self.vote = vote
        self.commit = min(commit, log.last_index())
        self.role = Role.FOLLOWER
        self.leader: str | None = None
        self.election_ticks = election_ticks
        self.election_jitter = max(1, election_jitter or election_ticks)
        self.heartbeat_ticks = heartbeat_ticks
        self.max_batch = max_batch
        self.rng = rng or random.Random()
        self.unstable: list[Entry] = []
        self.unstable_from = log.last_index() + 1
        self._truncate_from: int | None = None
        self._hard_dirty = False
        self._messages: list[Message] = []
        self._elapsed = 0
        self._timeout = self._random_timeout()
        self._votes: set[str] = set()
        self.next_index: dict[str, int] = {}
        self.match_index: dict[str, int] = {}
        self._inflight: dict[str, bool] = {}
        self._active: set[str] = set()
        self._heartbeat_elapsed = 0

    # ---- log access ---------------------------------------------------------------------------
    def last_index(self) -> int:
        return self.unstable_from - 1 + len(self.unstable)

    def term_at(self, index: int) -> int:
        """Term of the entry at ``index`` (-1 if absent)."""
        if index == 0:
            return 0
        if index >= self.unstable_from:
            pos = index - self.unstable_from
            return self.unstable[pos].term if pos < len(self.unstable) else -1
        if index > self.stable.last_index():
            return -1
        return self.stable.term_at(index)

    def entries_from(self, lo: int, limit: int) -> list[Entry]:
        hi = min(self.last_index() + 1, lo + limit)
        out: list[Entry] = []
        if lo < self.unstable_from:
            out = self.stable.entries(lo, min(hi, self.unstable_from))
        if hi > self.unstable_from:
            start = max(lo, self.unstable_from) - self.unstable_from
            out += self.unstable[start : hi - self.unstable_from]
        return out

    def _append_local(self, entries: Sequence[Entry]) -> None:
        """Append after ``entries[0].index - 1``, dropping whatever follows it."""
        first = entries[0].index
        if first < self.unstable_from:
            self._truncate_from = first if self._truncate_from is None else min(self._truncate_from, first)
            self.unstable = []
            self.unstable_from = first
        else:
            del self.unstable[first - self.unstable_from :]
        self.unstable.extend(entries)

    # ---- timers -------------------------------------------------------------------------------
    def _random_timeout(self) -> int:
        return self.election_ticks + self.rng.randrange(self.election_jitter)

    def tick(self) -> None:
        """Advance the timers by one tick."""
        self._elapsed += 1
        if self.role is Role.LEADER:
            self._heartbeat_elapsed += 1
            if self._heartbeat_elapsed >= self.heartbeat_ticks:
                self._heartbeat_elapsed = 0
                for peer in self.others:
                    self._send_append(peer, heartbeat=True)
            if self._elapsed >= self.election_ticks:
                self._elapsed = 0
                if len(self._active) + 1 < self.quorum:
                    self._become_follower(self.term, None)  # check-quorum: cut off from the majority
                self._active = set()
        elif self._elapsed >= self._timeout:
            self._campaign()

    # ---- transitions --------------------------------------------------------------------------
    def _set_hard(self, term: int, vote: str) -> None:
        if (term, vote) != (self.term, self.vote):
            self.term, self.vote = term, vote
            self._hard_dirty = True

    def _become_follower(self, term: int, leader: str | None) -> None:
        if term > self.term:
            self._set_hard(term, "")
        self.role = Role.FOLLOWER
        self.leader = leader
        self._elapsed = 0
        self._timeout = self._random_timeout()

    def _campaign(self) -> None:
        self.role = Role.CANDIDATE
        self.leader = None
        self._set_hard(self.term + 1, self.id)
        self._votes = {self.id}
        self._elapsed = 0
        self._timeout = self._random_timeout()
        if len(self._votes) >= self.quorum:
            self._become_leader()
            return
        req = VoteRequest(self.term, self.last_index(), self.term_at(self.last_index()))
        for peer in self.others:
            self._messages.append(Message(self.id, peer, req))

    def _become_leader(self) -> None:
        self.role = Role.LEADER
        self.leader = self.id
        self._elapsed = 0
        self._heartbeat_elapsed = 0
        self._active = set()
        last = self.last_index()
        self.next_index = {p: last + 1 for p in self.others}
        self.match_index = {p: 0 for p in self.others}
        self._inflight = {p: False for p in self.others}
        self._append_local([Entry(last + 1, self.term, b"")])  # commits the earlier terms' entries
        self._maybe_commit()
        for peer in self.others:
            self._send_append(peer)

    # ---- proposals ----------------------------------------------------------------------------
    def propose(self, data: bytes) -> int | None:
        """Append ``data`` as a new entry (leader only); its index, or None when not leader."""
        if self.role is not Role.LEADER:
            return None
        index = self.last_index() + 1
        self._append_local([Entry(index, self.term, data)])
        self._maybe_commit()
        for peer in self.others:
            if not self._inflight.get(peer):
                self._send_append(peer)
        return index

    def _send_append(self, peer: str, *, heartbeat: bool = False) -> None:
        if self._inflight.get(peer) and not heartbeat:
            return
        nxt = self.next_index[peer]
        prev = nxt - 1
        prev_term = self.term_at(prev)
        if prev_term < 0:  # cannot happen without compaction; resend from the start
            nxt, prev, prev_term = 1, 0, 0
        entries = tuple(self.entries_from(nxt, self.max_batch))
        self._inflight[peer] = True
        self._messages.append(
            Message(self.id, peer, AppendRequest(self.term, prev, prev_term, entries, self.commit))
        )

    def _maybe_commit(self) -> None:
        marks = sorted([self.last_index(), *self.match_index.values()], reverse=True)
        candidate = marks[self.quorum - 1]
        if candidate > self.commit and self.term_at(candidate) == self.term:
            self.commit = candidate

    # ---- messages -----------------------------------------------------------------------------
    def step(self, msg: Message) -> None:
        """Handle one message from a peer."""
        body = msg.body
        if msg.src not in self.others:
            return
        if body.term > self.term:
            leader = msg.src if isinstance(body, AppendRequest) else None
            self._become_follower(body.term, leader)
        if isinstance(body, VoteRequest):
            self._on_vote_request(msg.src, body)
        elif isinstance(body, VoteResponse):
            if self.role is Role.CANDIDATE and body.term == self.term and body.granted:
                self._votes.add(msg.src)
                if len(self._votes) >= self.quorum:
                    self._become_leader()
        elif isinstance(body, AppendRequest):
            self._on_append(msg.src, body)
        else:
            self._on_append_response(msg.src, body)

    def _on_vote_request(self, src: str, req: VoteRequest) -> None:
        my_last = self.last_index()
        up_to_date = (req.last_term, req.last_index) >= (self.term_at(my_last), my_last)
        grant = req.term == self.term and self.vote in ("", src) and up_to_date
        if grant:
            self._set_hard(self.term, src)
            self._elapsed = 0
        self._messages.append(Message(self.id, src, VoteResponse(self.term, grant)))

    def _on_append(self, src: str, req: AppendRequest) -> None:
        if req.term < self.term:
            self._messages.append(Message(self.id, src, AppendResponse(self.term, False, self.last_index())))
            return
        if self.role is not Role.FOLLOWER or self.leader != src:
            self._become_follower(req.term, src)
        self._elapsed = 0
        if self.term_at(req.prev_index) != req.prev_term:
            hint = min(self.last_index(), max(0, req.prev_index - 1))
            self._messages.append(Message(self.id, src, AppendResponse(self.term, False, hint)))
            return
        new: list[Entry] = []
        for i, entry in enumerate(req.entries):
            existing = self.term_at(entry.index)
            if existing != entry.term:  # absent or conflicting: take the rest from the leader
                new = list(req.entries[i:])
                break
        if new:
            self._append_local(new)
        last_new = req.prev_index + len(req.entries)
        if req.commit > self.commit:
            self.commit = max(self.commit, min(req.commit, last_new))
        self._messages.append(Message(self.id, src, AppendResponse(self.term, True, last_new)))

    def _on_append_response(self, src: str, resp: AppendResponse) -> None:
        if self.role is not Role.LEADER or resp.term != self.term:
            return
        self._active.add(src)
        self._inflight[src] = False
        if resp.success:
            if resp.index > self.match_index[src]:
                self.match_index[src] = resp.index
                self._maybe_commit()
            self.next_index[src] = max(self.next_index[src], resp.index + 1)
        else:
            self.next_index[src] = max(1, min(self.next_index[src] - 1, resp.index + 1))
        if self.next_index[src] <= self.last_index() or not resp.success:
            self._send_append(src)

    # ---- output -------------------------------------------------------------------------------
    def ready(self) -> Ready:
        """Collect the pending work (see :class:`Ready`); call :meth:`advance` once it is persisted."""
        rd = Ready(
            hard_state=(self.term, self.vote) if self._hard_dirty else None,
            truncate_from=self._truncate_from,
            entries=list(self.unstable),
            messages=self._messages,
            commit=self.commit,
            role=self.role,
            leader=self.leader,
            term=self.term,
        )
        self._messages = []
        self._hard_dirty = False
        return rd

    def advance(self, rd: Ready) -> None:
        """The entries of ``rd`` are stable now."""
        if rd.entries:
            done = rd.entries[-1].index
            if self.unstable and self.unstable_from <= done:
                keep = [e for e in self.unstable if e.index > done]
                self.unstable = keep
                self.unstable_from = done + 1
        if rd.truncate_from is not None and self._truncate_from == rd.truncate_from:
            self._truncate_from = None
