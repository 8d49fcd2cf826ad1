"""Drives a :class:`~broker_core.raft.core.RaftCore` on the asyncio loop: timers, disk, network.

Every event (a tick, a received message, a proposal) is followed by one synchronous *process* step:
take the core's :class:`~broker_core.raft.core.Ready`, persist the hard state and the entries (into
the DLedger files: plain stores into mmaps, so the page cache has them before anything leaves),
queue the messages, apply newly committed entries, report role changes. Nothing awaits inside that
step, so the core, the files and the applied state never disagree.

Transport: one-way frames of the remoting protocol on the member's own port (``dLegerPeers``), one
sender task per peer with a bounded queue; a peer that is down loses its messages (Raft resends).
Codes follow DLedger's request codes where they exist (VOTE 51001, PUSH 51004) plus ours for the
answers (51011, 51014); the JSON-free encoding is ours, not DLedger's wire format:

* vote request / response: ext fields only;
* append: ext fields (prev index/term, commit, count) and a body of ``[index q][term q][len i][data]``
  per entry; append response: ext fields.

The data files are flushed and the checkpoint saved every second (DLedger: 10 ms / 3 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import struct
from collections.abc import Callable

from broker_core.config.remoting import RemotingConfig
from broker_core.errors import RemotingError
from broker_core.logsetup import get_logger
from broker_core.raft.core import (
    AppendRequest,
    AppendResponse,
    Entry,
    Message,
    RaftCore,
    Role,
    VoteRequest,
    VoteResponse,
)
from broker_core.raft.storage import DLedgerStore
from broker_core.remoting.channel import Channel
from broker_core.remoting.client import RemotingClient
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.dispatcher import Dispatcher
from broker_core.remoting.server import RemotingServer

__all__ = ["RaftNode", "parse_peers"]

log = get_logger(__name__)

VOTE, PUSH, VOTE_RESPONSE, PUSH_RESPONSE = 51001, 51004, 51011, 51014
_ENTRY = struct.Struct(">qqi")


def parse_peers(text: str) -> dict[str, str]:
    """``n0-127.0.0.1:40911;n1-…`` -> {id: address}; each item is split at its first ``-``."""
    peers: dict[str, str] = {}
    for item in text.split(";"):
        item = item.strip()
        if item:
            node_id, _, addr = item.partition("-")
            peers[node_id] = addr
    return peers


def encode(group: str, msg: Message) -> RemotingCommand:
    body = msg.body
    ext = {"group": group, "src": msg.src, "term": str(body.term)}
    payload: bytes | None = None
    if isinstance(body, VoteRequest):
        code = VOTE
        ext.update(lastIndex=str(body.last_index), lastTerm=str(body.last_term))
    elif isinstance(body, VoteResponse):
        code = VOTE_RESPONSE
        ext["granted"] = "1" if body.granted else "0"
    elif isinstance(body, AppendRequest):
        code = PUSH
        ext.update(prevIndex=str(body.prev_index), prevTerm=str(body.prev_term), commit=str(body.commit))
        payload = b"".join(_ENTRY.pack(e.index, e.term, len(e.data)) + e.data for e in body.entries)
    else:
        code = PUSH_RESPONSE
        ext.update(success="1" if body.success else "0", index=str(body.index))
    return RemotingCommand.request(code, ext, payload, oneway=True)


def decode(self_id: str, cmd: RemotingCommand) -> Message:
    ext = cmd.ext_fields or {}
    term = int(ext["term"])
    body: VoteRequest | VoteResponse | AppendRequest | AppendResponse
    if cmd.code == VOTE:
        body = VoteRequest(term, int(ext["lastIndex"]), int(ext["lastTerm"]))
    elif cmd.code == VOTE_RESPONSE:
        body = VoteResponse(term, ext["granted"] == "1")
    elif cmd.code == PUSH:
        raw = cmd.body or b""
        entries: list[Entry] = []
        pos = 0
        while pos < len(raw):
            index, entry_term, size = _ENTRY.unpack_from(raw, pos)
            pos += _ENTRY.size
            entries.append(Entry(index, entry_term, bytes(raw[pos : pos + size])))
            pos += size
        body = AppendRequest(
            term, int(ext["prevIndex"]), int(ext["prevTerm"]), tuple(entries), int(ext["commit"])
        )
    else:
        body = AppendResponse(term, ext["success"] == "1", int(ext["index"]))
    return Message(ext["src"], self_id, body)


class RaftNode:
    """One member of a DLedger group on this loop; see the module docstring.

    Args:
        group: ``dLegerGroup``; messages of other groups are ignored.
        self_id: ``dLegerSelfId``.
        peers: every member's id -> ``host:port``.
        store: the member's DLedger files (loaded by :meth:`start` unless already).
        apply: called with each committed entry, in order, once.
        on_role: called with (role, term, leader id) whenever one of them changes.
        tick_ms: timer resolution.
        heartbeat_ms / election_ms / jitter_ms: leader heartbeat period, follower timeout and its
            random extra.
    """

    def __init__(
        self,
        group: str,
        self_id: str,
        peers: dict[str, str],
        store: DLedgerStore,
        *,
        apply: Callable[[Entry], None],
        on_role: Callable[[Role, int, str | None], None],
        applied: int = 0,
        tick_ms: int = 50,
        heartbeat_ms: int = 2000,
        election_ms: int = 6000,
        jitter_ms: int = 1000,
    ) -> None:
        self.group = group
        self.id = self_id
        self.peers = peers
        self.store = store
        self.apply = apply
        self.on_role = on_role
        self.applied = applied
        self.tick_ms = tick_ms
        self.core = RaftCore(
            self_id, list(peers), store, term=store.term, vote=store.vote, commit=store.committed,
            election_ticks=max(2, election_ms // tick_ms), election_jitter=max(1, jitter_ms // tick_ms),
            heartbeat_ticks=max(1, heartbeat_ms // tick_ms), max_batch=512,
            rng=random.Random(),
        )  # fmt: skip
        self._state: tuple[Role, int, str | None] = (Role.FOLLOWER, store.term, None)
        self._queues: dict[str, asyncio.Queue[RemotingCommand]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._client = RemotingClient()
        dispatcher = Dispatcher()
        dispatcher.register((VOTE, PUSH, VOTE_RESPONSE, PUSH_RESPONSE), self._on_frame)
        host, _, port = peers[self_id].rpartition(":")
        self._server = RemotingServer(RemotingConfig(host=host, port=int(port)), dispatcher)

    # ---- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        await self._server.start()
        loop = asyncio.get_running_loop()
        for peer, addr in self.peers.items():
            if peer != self.id:
                queue: asyncio.Queue[RemotingCommand] = asyncio.Queue(maxsize=1024)
                self._queues[peer] = queue
                self._tasks.append(loop.create_task(self._sender(addr, queue), name=f"raft-send-{peer}"))
        self._tasks.append(loop.create_task(self._ticker(), name="raft-tick"))
        self._tasks.append(loop.create_task(self._checkpointer(), name="raft-checkpoint"))
        log.info("DLedger member started", group=self.group, self_id=self.id, peers=self.peers)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self._server.stop()
        await self._client.close()
        await self.store.flush()
        self.store.save_checkpoint(self.applied)

    # ---- events -------------------------------------------------------------------------------
    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.tick_ms / 1000)
            self.core.tick()
            self.process()

    async def _checkpointer(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                await self.store.flush()
                self.store.save_checkpoint(self.applied)
            except OSError:
                log.exception("DLedger checkpoint failed")

    def _on_frame(self, request: RemotingCommand, channel: Channel) -> None:
        ext = request.ext_fields or {}
        if ext.get("group") != self.group:
            return
        try:
            msg = decode(self.id, request)
        except (KeyError, ValueError, struct.error):
            log.warning("bad DLedger frame", code=request.code)
            return
        self.core.step(msg)
        self.process()

    def propose(self, data: bytes) -> int | None:
        """Replicate ``data``; its index, or None when this member is not the leader."""
        index = self.core.propose(data)
        if index is not None:
            self.process()
        return index

    @property
    def role(self) -> Role:
        return self.core.role

    # ---- the process step ---------------------------------------------------------------------
    def process(self) -> None:
        rd = self.core.ready()
        store = self.store
        if rd.hard_state is not None:
            store.save_hard_state(*rd.hard_state)
        if rd.truncate_from is not None:
            store.truncate(rd.truncate_from)
        if rd.entries:
            if rd.entries[0].index <= store.last_index():
                store.truncate(rd.entries[0].index)
            store.append(rd.entries)
        self.core.advance(rd)
        for msg in rd.messages:
            queue = self._queues.get(msg.dst)
            if queue is not None:
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(encode(self.group, msg))
        state = (rd.role, rd.term, rd.leader)
        if state != self._state:
            self._state = state
            log.info("DLedger role", self_id=self.id, role=rd.role.value, term=rd.term, leader=rd.leader)
            self.on_role(*state)
        while self.applied < rd.commit:
            self.applied += 1
            self.apply(store.entry(self.applied))

    async def _sender(self, addr: str, queue: asyncio.Queue[RemotingCommand]) -> None:
        while True:
            cmd = await queue.get()
            try:
                await self._client.invoke_oneway(addr, cmd)
            except (RemotingError, OSError):
                self._client.close_channel(addr)
                while not queue.empty():  # the peer is down: drop the backlog, Raft resends
                    queue.get_nowait()
                await asyncio.sleep(0.1)
