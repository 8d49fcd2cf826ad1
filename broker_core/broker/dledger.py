"""DLedger mode: the commit log replicated by Raft, the broker's role following leadership.

Every member keeps the classic commit log (consume queues and index are built from it as usual).
The Raft log carries *commit-log bytes*: an entry's data is ``[phyOffset: long]`` + raw bytes that
belong at that offset (one put's records, or the BLANK filler before a segment roll; never across
a segment end).

* Leader: a put is written into the local commit log as usual; :meth:`DLedgerReplication.submit`
  proposes the new bytes and the put completes when their entry is committed (PUT_OK), or after
  ``maxWaitAckTimeMs`` (OS_PAGECACHE_BUSY, as DLedger's WAIT_QUORUM_ACK_TIMEOUT). Dispatch stops at
  the *confirmed* offset (end of the last committed entry), so readers never see uncommitted data.
* Follower: committed entries are appended at their offset (the slave write path), then dispatched.
* Leadership: a new leader accepts puts once its own first entry is committed and applied (all the
  earlier terms' entries are then in its commit log and dispatched); it registers as master
  (brokerId 0, SYNC_MASTER). A member that loses leadership stops accepting puts, cuts its commit
  log back to the confirmed offset (the uncommitted tail that Raft will overwrite) and registers as
  slave with ``brokerId = int(selfId[1:]) + 1``; followers copy the leader's metadata like slaves.
* Start: the commit log is cut to the end of the last committed entry it holds; later committed
  entries are re-applied.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from pathlib import Path

from broker_core.broker.context import BrokerContext
from broker_core.broker.schedule import ScheduleMessageService
from broker_core.broker.slave_sync import SlaveSynchronizer
from broker_core.config.broker import BrokerConfig, BrokerRole
from broker_core.config.store import StoreConfig
from broker_core.errors import ConfigError
from broker_core.logsetup import get_logger
from broker_core.raft.core import Entry, Role
from broker_core.raft.node import RaftNode, parse_peers
from broker_core.raft.storage import DLedgerStore
from broker_core.remoting.client import RemotingClient
from broker_core.store.message_store import MessageStore
from broker_core.store.results import PutStatus

__all__ = ["DLedgerReplication", "follower_broker_id"]

log = get_logger(__name__)
_OFFSET = struct.Struct(">q")


def follower_broker_id(self_id: str) -> int:
    """``n2`` -> 3 (DLedgerRoleChangeHandler: selfId without its first character, plus one)."""
    try:
        return int(self_id[1:]) + 1
    except ValueError as exc:
        raise ConfigError(f"dLegerSelfId {self_id!r} must be a letter followed by a number") from exc


def _expire(fut: asyncio.Future[PutStatus]) -> None:
    if not fut.done():
        fut.set_result(PutStatus.OS_PAGECACHE_BUSY)


class DLedgerReplication:
    """The DLedger side of one broker; same interface as :class:`~broker_core.broker.replication.Replication`."""

    def __init__(
        self,
        cfg: BrokerConfig,
        store_cfg: StoreConfig,
        store: MessageStore,
        ctx: BrokerContext,
        schedule: ScheduleMessageService,
        client: RemotingClient,
        on_role_change: Callable[[BrokerRole, int], None],
    ) -> None:
        self.cfg = cfg
        self.store = store
        self.on_role_change = on_role_change
        peers = parse_peers(store_cfg.dleger_peers)
        self_id = store_cfg.dleger_self_id
        if self_id not in peers:
            raise ConfigError(f"dLegerSelfId {self_id!r} is not in dLegerPeers {store_cfg.dleger_peers!r}")
        self.self_id = self_id
        self.follower_id = follower_broker_id(self_id)
        root = (
            store_cfg.store_path_dledger_commit_log
            or Path(store_cfg.store_path_root_dir) / f"dledger-{self_id}"
        )
        self.log_store = DLedgerStore(root, data_file_size=store_cfg.mapped_file_size_commit_log)
        self.log_store.load()
        self.confirmed = 0  # nothing is dispatched until start() knows the committed end
        self.proposed_end = 0
        store.reput.confirm_offset = lambda: self.confirmed
        store.writable = False
        store.replicator = self
        self.node = RaftNode(
            store_cfg.dleger_group or cfg.broker_name,
            self_id,
            peers,
            self.log_store,
            apply=self._apply,
            on_role=self._on_role,
            heartbeat_ms=store_cfg.heart_beat_time_interval_ms,
            election_ms=store_cfg.heart_beat_time_interval_ms * store_cfg.max_heart_beat_leak,
            jitter_ms=store_cfg.max_vote_interval_ms,
        )
        self.ack_timeout = store_cfg.max_wait_ack_time_ms / 1000
        self.sync = SlaveSynchronizer(ctx, schedule, client)
        self._pending: dict[int, list[tuple[asyncio.Future[PutStatus], asyncio.TimerHandle]]] = {}
        self._leader_ready_index: int | None = None
        self._ready_task: asyncio.Task[None] | None = None
        on_role_change(BrokerRole.SLAVE, self.follower_id)  # every member starts as a follower

    # ---- start-up -----------------------------------------------------------------------------
    def _find_applied_end(self) -> int:
        """The last committed entry whose bytes the (recovered) commit log holds; sets ``confirmed``."""
        commit_log_end = self.store.commit_log.max_offset
        for index in range(self.log_store.committed, 0, -1):
            data = self.log_store.entry(index).data
            if not data:
                continue
            (offset,) = _OFFSET.unpack_from(data)
            end = offset + len(data) - _OFFSET.size
            if end <= commit_log_end:
                self.confirmed = end
                return index
        self.confirmed = 0
        return 0

    async def start(self, listen_port: int) -> str:
        self.node.applied = self._find_applied_end()
        commit_log = self.store.commit_log
        if commit_log.max_offset > self.confirmed:  # an uncommitted tail from an earlier leadership
            commit_log.queue.truncate_dirty_files(self.confirmed)
            log.info("commit log cut to the committed end", offset=self.confirmed)
        self.proposed_end = self.confirmed
        self.store.reput.wake()
        self.sync.start()
        await self.node.start()
        return f"{self.cfg.broker_ip1}:{listen_port + 1}"

    async def stop(self) -> None:
        await self.node.stop()
        await self.sync.stop()
        if self._ready_task is not None:
            self._ready_task.cancel()
        self._fail_pending(PutStatus.SERVICE_NOT_AVAILABLE)

    def on_master_info(self, master_addr: str | None, ha_server_addr: str | None) -> None:
        if self.node.role is not Role.LEADER:
            self.sync.update_master_address(master_addr)

    # ---- write path (leader) ------------------------------------------------------------------
    def submit(self, next_offset: int, wait: bool) -> asyncio.Future[PutStatus] | PutStatus | None:
        """Propose the bytes written since the last proposal (see module docstring)."""
        commit_log = self.store.commit_log
        index: int | None = None
        offset = self.proposed_end
        while offset < next_offset:
            chunk = commit_log.transfer_slice(offset, next_offset - offset)
            if chunk is None:  # next segment not created yet: cannot happen after a put
                return PutStatus.UNKNOWN_ERROR
            index = self.node.propose(_OFFSET.pack(offset) + bytes(chunk))
            if index is None:
                return PutStatus.SERVICE_NOT_AVAILABLE
            offset += len(chunk)
        self.proposed_end = offset
        if index is None or not wait or self.node.applied >= index:
            return None
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[PutStatus] = loop.create_future()
        handle = loop.call_later(self.ack_timeout, _expire, fut)
        self._pending.setdefault(index, []).append((fut, handle))
        return fut

    def _fail_pending(self, status: PutStatus) -> None:
        pending, self._pending = self._pending, {}
        for waiters in pending.values():
            for fut, handle in waiters:
                handle.cancel()
                if not fut.done():
                    fut.set_result(status)

    # ---- committed entries --------------------------------------------------------------------
    def _apply(self, entry: Entry) -> None:
        if entry.data:
            (offset,) = _OFFSET.unpack_from(entry.data)
            raw = entry.data[_OFFSET.size :]
            end = offset + len(raw)
            commit_log = self.store.commit_log
            if commit_log.max_offset == offset:
                if not self.store.append_from_master(offset, raw):
                    log.error("cannot apply committed entry", index=entry.index, offset=offset)
            elif commit_log.max_offset < end:
                log.error(
                    "committed entry does not follow the commit log",
                    index=entry.index, offset=offset, commit_log_end=commit_log.max_offset,
                )  # fmt: skip
            self.confirmed = max(self.confirmed, end)
            self.store.reput.wake()
        for fut, handle in self._pending.pop(entry.index, ()):
            handle.cancel()
            if not fut.done():
                fut.set_result(PutStatus.PUT_OK)
        if self._leader_ready_index is not None and entry.index >= self._leader_ready_index:
            self._leader_ready_index = None
            self._ready_task = asyncio.get_running_loop().create_task(self._become_writable())

    # ---- roles --------------------------------------------------------------------------------
    def _on_role(self, role: Role, term: int, leader: str | None) -> None:
        if role is Role.LEADER:
            self.sync.master_addr = None  # a leader copies nobody's metadata
            if self._leader_ready_index is None and not self.store.writable:
                self._leader_ready_index = self.node.core.last_index()  # its first entry of this term
            return
        self._leader_ready_index = None
        if self.store.writable or self.store.commit_log.max_offset > self.confirmed:
            self.store.writable = False
            self._fail_pending(PutStatus.SERVICE_NOT_AVAILABLE)
            self.store.commit_log.queue.truncate_dirty_files(self.confirmed)
            self.proposed_end = self.confirmed
            self.on_role_change(BrokerRole.SLAVE, self.follower_id)

    async def _become_writable(self) -> None:
        await self.store.wait_dispatched()
        if self.node.role is not Role.LEADER:
            return
        store = self.store
        store.commit_log.queue_offsets = store.queues.queue_offset_table()
        self.proposed_end = store.commit_log.max_offset
        store.writable = True
        log.info(
            "DLedger leader ready", self_id=self.self_id, term=self.node.core.term, offset=self.proposed_end
        )
        self.on_role_change(BrokerRole.SYNC_MASTER, 0)
