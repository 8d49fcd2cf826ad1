"""Master -> slave replication between two stores in one loop over loopback TCP.

Small segments and a small transfer batch, so frames cut records in the middle and the stream
crosses segment ends (BLANK markers); the slave must rebuild its consume queues by dispatch and
end with a byte-identical commit log.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from broker_core.config.store import StoreConfig
from broker_core.ha.master import HAMaster
from broker_core.ha.replica import HAReplica
from broker_core.message import BrokerMessage, decode_record, encode_properties
from broker_core.store import GetMessageStatus, MessageStore, PutStatus


def async_test(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(fn(*args, **kwargs), 60))

    return wrapper


def msg(i: int, queue_id: int = 0) -> BrokerMessage:
    return BrokerMessage(
        topic="HA", queue_id=queue_id, body=f"m{i}".encode() * (50 + i % 40),
        properties_str=encode_properties({"KEYS": f"k{i}"}),
        born_timestamp=1, born_host=("10.0.0.1", 4000), store_host=("127.0.0.1", 10911),
    )  # fmt: skip


def config(root: Path, **kw: Any) -> StoreConfig:
    base = StoreConfig(
        store_path_root_dir=root,
        mapped_file_size_commit_log=16 * 1024,
        mapped_file_size_consume_queue=100 * 20,
        flush_interval_commit_log=20,
        flush_interval_consume_queue=20,
        ha_transfer_batch_size=1000,
        ha_send_heartbeat_interval=200,
        ha_connect_retry_interval=100,
        slave_timeout=2000,
    )
    return dataclasses.replace(base, **kw)


async def wait_until(cond: Callable[[], bool], timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


def segment_bytes(store: MessageStore, start: int, upto: int) -> bytes:
    out = bytearray()
    for mf in store.commit_log.queue.files:
        begin = max(0, start - mf.file_from_offset)
        end = min(mf.wrote_position, upto - mf.file_from_offset)
        if end > begin:
            out += mf.mm[begin:end]
    return bytes(out)


def same_log(slave: MessageStore, master: MessageStore, end: int) -> bool:
    """The slave's whole log equals the master's bytes over the same range."""
    start = slave.min_phy_offset
    return segment_bytes(slave, start, end) == segment_bytes(master, start, end)


class Pair:
    def __init__(self, tmp_path: Path, *, sync: bool, **kw: Any) -> None:
        self.master_store = MessageStore(config(tmp_path / "m", **kw))
        self.slave_cfg = config(tmp_path / "s", **kw)
        self.slave_store = MessageStore(self.slave_cfg)
        self.slave_store.writable = False
        self.master = HAMaster(self.master_store.config, self.master_store.commit_log, sync=sync)
        self.replica: HAReplica | None = None

    async def start(self, *, with_slave: bool = True) -> None:
        await self.master_store.start()
        await self.slave_store.start()
        port = await self.master.start("127.0.0.1", 0)
        self.master_store.replicator = self.master
        self.address = f"127.0.0.1:{port}"
        if with_slave:
            self.start_slave()

    def start_slave(self) -> None:
        self.replica = HAReplica(self.slave_cfg, self.slave_store)
        self.replica.start()
        self.replica.update_master_address(self.address)

    async def stop(self) -> None:
        if self.replica is not None:
            await self.replica.stop()
        await self.master.stop()
        await self.master_store.shutdown()
        await self.slave_store.shutdown()


@async_test
async def test_slave_gets_byte_identical_log_and_rebuilds_consume_queues(tmp_path: Path) -> None:
    pair = Pair(tmp_path, sync=False)
    await pair.start()
    try:
        await wait_until(lambda: pair.master.slave_ack_offsets() == [0])
        for i in range(300):
            assert (await pair.master_store.put_message(msg(i, i % 2))).status is PutStatus.PUT_OK
        end = pair.master_store.max_phy_offset
        assert len(pair.master_store.commit_log.queue.files) >= 3  # crossed segment ends
        await wait_until(lambda: pair.slave_store.max_phy_offset == end)
        await wait_until(lambda: pair.master.push_to_slave_max_offset == end)
        assert same_log(pair.slave_store, pair.master_store, end)
        await pair.slave_store.wait_dispatched()
        for q in (0, 1):
            assert pair.slave_store.get_max_offset_in_queue("HA", q) == 150
            got = pair.slave_store.get_message("g", "HA", q, 0, 32)
            assert got.status is GetMessageStatus.FOUND
            first = decode_record(bytes(got.message_buffers[0]))
            assert first.body == msg(q, q).body
        assert (await pair.slave_store.put_message(msg(0))).status is PutStatus.SERVICE_NOT_AVAILABLE
    finally:
        await pair.stop()


@async_test
async def test_sync_master_acks_after_slave_has_the_message(tmp_path: Path) -> None:
    pair = Pair(tmp_path, sync=True)
    await pair.start()
    try:
        await wait_until(
            lambda: pair.master.connection_count == 1 and pair.master.push_to_slave_max_offset >= 0
        )
        await wait_until(lambda: pair.master.slave_ack_offsets() == [0])
        for i in range(40):
            result = await pair.master_store.put_message(msg(i))
            assert result.status is PutStatus.PUT_OK
            assert result.append_result is not None
            end = result.append_result.wrote_offset + result.append_result.wrote_bytes
            assert pair.master.push_to_slave_max_offset >= end
            assert pair.slave_store.max_phy_offset >= end
    finally:
        await pair.stop()


@async_test
async def test_sync_master_without_slave_answers_slave_not_available(tmp_path: Path) -> None:
    pair = Pair(tmp_path, sync=True)
    await pair.start(with_slave=False)
    try:
        result = await pair.master_store.put_message(msg(1))
        assert result.status is PutStatus.SLAVE_NOT_AVAILABLE
        assert result.ok  # stored all the same
        assert pair.master_store.max_phy_offset > 0
    finally:
        await pair.stop()


@async_test
async def test_sync_master_times_out_when_slave_stops_acking(tmp_path: Path) -> None:
    pair = Pair(tmp_path, sync=True, slave_timeout=2000)  # generous: the first put must be acked under load
    await pair.start()
    try:
        await wait_until(lambda: pair.master.slave_ack_offsets() == [0])
        assert (await pair.master_store.put_message(msg(1))).status is PutStatus.PUT_OK
        # the slave still holds its connection but its store stops taking data
        pair.slave_store.append_from_master = lambda offset, data: False  # type: ignore[method-assign]
        assert (await pair.master_store.put_message(msg(2))).status is PutStatus.FLUSH_SLAVE_TIMEOUT
    finally:
        await pair.stop()


@async_test
async def test_slave_resumes_from_its_own_end_after_reconnect(tmp_path: Path) -> None:
    pair = Pair(tmp_path, sync=False)
    await pair.start()
    try:
        await wait_until(lambda: pair.master.slave_ack_offsets() == [0])
        for i in range(50):
            await pair.master_store.put_message(msg(i))
        await wait_until(lambda: pair.slave_store.max_phy_offset == pair.master_store.max_phy_offset)
        assert pair.replica is not None
        await pair.replica.stop()
        for i in range(50, 120):
            await pair.master_store.put_message(msg(i))
        pair.start_slave()
        end = pair.master_store.max_phy_offset
        await wait_until(lambda: pair.slave_store.max_phy_offset == end)
        assert same_log(pair.slave_store, pair.master_store, end)
        await pair.slave_store.wait_dispatched()
        assert pair.slave_store.get_max_offset_in_queue("HA", 0) == 120
    finally:
        await pair.stop()


@async_test
async def test_empty_slave_starts_at_the_masters_last_segment(tmp_path: Path) -> None:
    pair = Pair(tmp_path, sync=False)
    await pair.start(with_slave=False)
    try:
        for i in range(200):
            await pair.master_store.put_message(msg(i))
        last = pair.master_store.commit_log.queue.files[-1].file_from_offset
        assert last > 0
        pair.start_slave()
        end = pair.master_store.max_phy_offset
        await wait_until(lambda: pair.slave_store.max_phy_offset == end)
        assert pair.slave_store.min_phy_offset == last
        await pair.slave_store.wait_dispatched()
        assert pair.slave_store.get_max_offset_in_queue("HA", 0) == 200
        assert pair.slave_store.get_min_offset_in_queue("HA", 0) > 0
    finally:
        await pair.stop()
