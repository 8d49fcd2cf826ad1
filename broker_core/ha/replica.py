"""Slave side of master/slave replication (Apache's ``HAClient``).

One task: while a master HA address is known, connect, report the local commit-log end, then for
each transfer frame append its bytes at the frame's offset (:meth:`MessageStore.append_from_master`,
which also wakes dispatch so consume queues and the index are rebuilt) and report the new end at once.
A report also goes out after ``haSendHeartbeatInterval`` without one. A frame whose offset is not the
local end (once the log is non-empty) is a protocol error: the slave never truncates, it closes and
reconnects. A master silent for ``haHousekeepingInterval`` is dropped the same way; reconnection waits
``haConnectRetryInterval``.

The master address comes from ``haMasterAddress`` or from the NameServer's answer to registration
(:meth:`HAReplica.update_master_address`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Protocol

from broker_core.config.store import StoreConfig
from broker_core.errors import ProtocolError, RemoteProtocolError
from broker_core.ha.protocol import TransferDecoder, encode_report
from broker_core.logsetup import get_logger
from broker_core.tasks import cancel_and_wait

__all__ = ["HAReplica", "ReplicaStore"]

log = get_logger(__name__)


class ReplicaStore(Protocol):
    """What the replica needs from the message store."""

    @property
    def max_phy_offset(self) -> int:
        """End of the local commit log."""

    def append_from_master(self, offset: int, data: bytes) -> bool:
        """Append raw bytes at ``offset``; False if ``offset`` is not the local end."""


class HAReplica:
    """Replicates a master's commit log into the local store; see module docstring."""

    def __init__(self, config: StoreConfig, store: ReplicaStore) -> None:
        self.config = config
        self.store = store
        self.master_address = config.ha_master_address if len(config.ha_master_address) >= 6 else ""
        self.connected = False
        self._address_changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None

    def start(self) -> None:
        """Start replicating (on the running loop)."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="ha-replica")

    async def stop(self) -> None:
        """Disconnect and stop."""
        await cancel_and_wait(self._task)
        self._task = None

    def update_master_address(self, address: str | None) -> None:
        """Use ``address`` (``host:port`` of the master's HA service) from now on.

        An explicit ``haMasterAddress`` wins over what the NameServer says. A change drops the current
        connection.
        """
        if len(self.config.ha_master_address) >= 6 or not address or address == self.master_address:
            return
        log.info("HA master address", old=self.master_address or None, new=address)
        self.master_address = address
        self._address_changed.set()
        if self._writer is not None:
            self._writer.close()

    async def _run(self) -> None:
        retry = self.config.ha_connect_retry_interval / 1000
        while True:
            if not self.master_address:
                await self._address_changed.wait()
            self._address_changed.clear()
            address = self.master_address
            try:
                await self._replicate(address)
            except (OSError, ProtocolError, TimeoutError) as exc:
                log.warning("HA connection to master lost", master=address, error=repr(exc))
            finally:
                self.connected = False
                self._writer = None
            if not self._address_changed.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._address_changed.wait(), retry)

    async def _replicate(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 3.0)
        self._writer = writer
        self.connected = True
        log.info("HA connected to master", master=address, offset=self.store.max_phy_offset)
        try:
            await self._session(reader, writer)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        cfg = self.config
        heartbeat = cfg.ha_send_heartbeat_interval / 1000
        housekeeping = cfg.ha_housekeeping_interval / 1000
        decoder = TransferDecoder()
        reported = self.store.max_phy_offset
        writer.write(encode_report(reported))
        await writer.drain()
        last_report = last_read = time.monotonic()
        while True:
            wait = max(0.01, min(heartbeat - (time.monotonic() - last_report), housekeeping))
            try:
                data = await asyncio.wait_for(reader.read(1 << 20), wait)
            except TimeoutError:
                data = None
            now = time.monotonic()
            if data is not None:
                if not data:
                    raise ConnectionResetError("master closed the HA connection")
                last_read = now
                for frame in decoder.feed(data):
                    local = self.store.max_phy_offset
                    if local != 0 and local != frame.phy_offset:
                        raise RemoteProtocolError(
                            f"master sent offset {frame.phy_offset}, slave is at {local}"
                        )
                    if frame.data and not self.store.append_from_master(frame.phy_offset, frame.data):
                        raise RemoteProtocolError(f"cannot append master data at {frame.phy_offset}")
            elif now - last_read > housekeeping:
                raise TimeoutError("master silent too long")
            current = self.store.max_phy_offset
            if current != reported or now - last_report >= heartbeat:
                writer.write(encode_report(current))
                await writer.drain()
                reported = current
                last_report = now
