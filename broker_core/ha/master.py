"""Master side of master/slave replication (Apache's ``HAService`` + ``HAConnection``).

An asyncio server on ``haListenPort`` accepts slaves. Per slave connection two tasks run:

* the *reader* decodes the slave's 8-byte reports (:class:`~broker_core.ha.protocol.ReportDecoder`):
  the first one fixes where streaming starts, every one is an acknowledgement that raises
  :attr:`HAMaster.push_to_slave_max_offset` and completes SYNC_MASTER waits; a report past the
  master's own end, or silence for ``haHousekeepingInterval``, closes the connection;
* the *writer* streams commit-log bytes from that point in frames of at most ``haTransferBatchSize``
  (a frame never crosses a segment end), waits for :meth:`HAMaster.notify_new_data` when caught up,
  and sends a header-only heartbeat after ``haSendHeartbeatInterval`` of silence.

A slave that reports 0 (empty) gets the master's *last* segment from its start, as Apache does.

SYNC_MASTER (storage spec §7.3): :meth:`HAMaster.submit` is called after each append. With a slave
connected and less than ``haSlaveFallbehindMax`` behind, it returns a future resolved with PUT_OK
once any slave acknowledged the put's end offset, or FLUSH_SLAVE_TIMEOUT after ``slaveTimeout``;
otherwise SLAVE_NOT_AVAILABLE at once. Appends are serialised on the loop, so waiting requests are
ordered by offset and one acknowledgement completes a prefix of the queue.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time

from broker_core.config.store import StoreConfig
from broker_core.errors import ProtocolError
from broker_core.ha.protocol import ReportDecoder, encode_transfer
from broker_core.logsetup import get_logger
from broker_core.store.commit_log import CommitLog
from broker_core.store.results import PutStatus

__all__ = ["HAMaster"]

log = get_logger(__name__)


def _expire(fut: asyncio.Future[PutStatus]) -> None:
    if not fut.done():
        fut.set_result(PutStatus.FLUSH_SLAVE_TIMEOUT)


class _SlaveConnection:
    """One connected slave: a reader task and a writer task (see module docstring)."""

    def __init__(
        self,
        master: HAMaster,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.master = master
        self.reader = reader
        self.writer = writer
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.request_offset: int | None = None
        self.ack_offset = -1
        self.data_event = asyncio.Event()
        self._first_report = asyncio.Event()
        self._log = log.bind(slave=self.peer)
        self._io_tasks: tuple[asyncio.Task[None], ...] = ()

    def close(self) -> None:
        """End the connection (its :meth:`run` returns)."""
        for task in self._io_tasks:
            task.cancel()

    async def run(self) -> None:
        self._log.info("HA slave connected")
        read = asyncio.create_task(self._read_loop(), name=f"ha-read-{self.peer}")
        write = asyncio.create_task(self._write_loop(), name=f"ha-write-{self.peer}")
        self._io_tasks = (read, write)
        try:
            done, _ = await asyncio.wait((read, write), return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                exc = None if task.cancelled() else task.exception()
                if exc is not None and not isinstance(exc, ConnectionError | ProtocolError):
                    self._log.error("HA connection failed", error=repr(exc))
        finally:
            for task in (read, write):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
            self._log.info("HA slave disconnected", ack_offset=self.ack_offset)

    async def _read_loop(self) -> None:
        decoder = ReportDecoder()
        housekeeping = self.master.config.ha_housekeeping_interval / 1000
        while True:
            try:
                data = await asyncio.wait_for(self.reader.read(1 << 20), housekeeping)
            except TimeoutError:
                self._log.warning("HA slave silent too long, closing")
                return
            if not data:
                return
            offset = decoder.feed(data)
            if offset is None:
                continue
            if offset > self.master.commit_log.max_offset:
                self._log.warning(
                    "HA slave ahead of master, closing",
                    slave_offset=offset,
                    master_offset=self.master.commit_log.max_offset,
                )
                return
            if self.request_offset is None:
                self.request_offset = offset
                self._first_report.set()
            self.ack_offset = offset
            self.master.on_ack(offset)

    async def _write_loop(self) -> None:
        await self._first_report.wait()
        cfg = self.master.config
        commit_log = self.master.commit_log
        file_size = cfg.mapped_file_size_commit_log
        assert self.request_offset is not None
        if self.request_offset == 0:
            end = commit_log.max_offset
            next_offset = end - end % file_size
        else:
            next_offset = self.request_offset
        batch = cfg.ha_transfer_batch_size
        heartbeat = cfg.ha_send_heartbeat_interval / 1000
        last_write = time.monotonic()
        writer = self.writer
        while True:
            self.data_event.clear()
            data = commit_log.transfer_slice(next_offset, batch)
            if data:
                writer.write(encode_transfer(next_offset, data))
                await writer.drain()
                next_offset += len(data)
                last_write = time.monotonic()
                continue
            if time.monotonic() - last_write >= heartbeat:
                writer.write(encode_transfer(next_offset))
                await writer.drain()
                last_write = time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.data_event.wait(), 0.1 if heartbeat > 0.1 else heartbeat)


class HAMaster:
    """The replication server of a master broker; see module docstring."""

    def __init__(self, config: StoreConfig, commit_log: CommitLog, *, sync: bool) -> None:
        self.config = config
        self.commit_log = commit_log
        self.sync = sync
        self.push_to_slave_max_offset = 0
        self._connections: set[_SlaveConnection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._waiting: collections.deque[tuple[int, asyncio.Future[PutStatus], asyncio.TimerHandle]] = (
            collections.deque()
        )
        self._server: asyncio.Server | None = None
        self.port = 0

    # ---- lifecycle ----------------------------------------------------------------------------
    async def start(self, host: str, port: int) -> int:
        """Listen for slaves; returns the bound port."""
        self._server = await asyncio.start_server(self._accept, host, port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("HA service listening", host=host, port=self.port, sync=self.sync)
        return self.port

    async def stop(self) -> None:
        """Close the server and every slave connection; pending waits complete as timeouts."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for conn in list(self._connections):
            conn.close()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        while self._waiting:
            _, fut, handle = self._waiting.popleft()
            handle.cancel()
            _expire(fut)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _SlaveConnection(self, reader, writer)
        self._connections.add(conn)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await conn.run()
        finally:
            self._connections.discard(conn)
            if task is not None:
                self._tasks.discard(task)

    # ---- state --------------------------------------------------------------------------------
    @property
    def connection_count(self) -> int:
        """Connected slaves."""
        return len(self._connections)

    def slave_ack_offsets(self) -> list[int]:
        """Acknowledged offset of each connected slave (-1 before its first report)."""
        return [c.ack_offset for c in self._connections]

    def is_slave_ok(self, master_put_where: int) -> bool:
        """A slave is connected and not too far behind (``HAService.isSlaveOK``)."""
        return (
            bool(self._connections)
            and master_put_where - self.push_to_slave_max_offset < self.config.ha_slave_fallbehind_max
        )

    # ---- write path hooks ---------------------------------------------------------------------
    def notify_new_data(self) -> None:
        """Wake every writer: the commit log grew."""
        for conn in self._connections:
            conn.data_event.set()

    def submit(self, next_offset: int, wait: bool) -> asyncio.Future[PutStatus] | PutStatus | None:
        """After an append ending at ``next_offset``: what the put must wait for (see module docstring)."""
        self.notify_new_data()
        if not self.sync or not wait:
            return None
        if not self.is_slave_ok(next_offset):
            return PutStatus.SLAVE_NOT_AVAILABLE
        if self.push_to_slave_max_offset >= next_offset:
            return None
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[PutStatus] = loop.create_future()
        handle = loop.call_later(self.config.slave_timeout / 1000, _expire, fut)
        self._waiting.append((next_offset, fut, handle))
        return fut

    def on_ack(self, offset: int) -> None:
        """A slave has everything below ``offset``."""
        if offset <= self.push_to_slave_max_offset:
            return
        self.push_to_slave_max_offset = offset
        waiting = self._waiting
        while waiting and (waiting[0][1].done() or waiting[0][0] <= offset):
            _, fut, handle = waiting.popleft()
            handle.cancel()
            if not fut.done():
                fut.set_result(PutStatus.PUT_OK)
