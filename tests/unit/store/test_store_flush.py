"""Flush policies: async periodic flush, sync group commit, flush timeout, checkpoint persistence."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from broker_core.config.store import FlushDiskType, StoreConfig
from broker_core.message import BrokerMessage
from broker_core.store import MessageStore, PutStatus
from broker_core.store import flush as flush_module
from broker_core.store.checkpoint import StoreCheckpoint
from broker_core.store.flush import GroupCommitService
from broker_core.store.mapped_file import MappedFile
from broker_core.store.syncer import OnDone, Syncer, ThreadSyncer


def async_test(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))

    return wrapper


def msg(size: int = 1000) -> BrokerMessage:
    return BrokerMessage(topic="F", queue_id=0, body=b"f" * size)


@pytest.fixture
def thread_syncer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Group commits sync in a worker thread (the fallback), so a test can gate ``MappedFile.sync``."""

    def in_a_thread(loop: asyncio.AbstractEventLoop, on_done: OnDone) -> Syncer:
        return ThreadSyncer(loop, on_done)

    monkeypatch.setattr(flush_module, "make_syncer", in_a_thread)


@async_test
@pytest.mark.usefixtures("thread_syncer")
async def test_sync_flush_group_commit_in_a_thread(
    small_config: StoreConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs = 0
    real_sync = MappedFile.sync

    def counting_sync(self: MappedFile) -> None:
        nonlocal syncs
        syncs += 1
        time.sleep(0.005)
        real_sync(self)

    monkeypatch.setattr(MappedFile, "sync", counting_sync)
    config = dataclasses.replace(small_config, flush_disk_type=FlushDiskType.SYNC_FLUSH)
    store = MessageStore(config)
    await store.start()
    try:
        results = await asyncio.gather(*(store.put_message(msg()) for _ in range(100)))
        assert all(r.status is PutStatus.PUT_OK for r in results)
        end = max(
            r.append_result.wrote_offset + r.append_result.wrote_bytes for r in results if r.append_result
        )
        assert store.commit_log.queue.flushed_where >= end
        assert syncs < 50  # 100 puts shared a handful of fsyncs (commit-log files only)
        assert store.checkpoint.physic_msg_timestamp == store.commit_log.last_store_timestamp
        nowait = await store.put_message(msg(), wait_store_msg_ok=False)
        assert nowait.status is PutStatus.PUT_OK
    finally:
        await store.shutdown()


@async_test
@pytest.mark.usefixtures("thread_syncer")
async def test_group_commit_covers_every_waiter_and_starts_the_next_sync_at_once(
    small_config: StoreConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Appends go on during a sync; the producers that arrived meanwhile share the very next sync,
    which starts as soon as the first returns (nothing else wakes the sync thread), and are all
    answered together."""
    first_sync, release = threading.Event(), threading.Event()
    commit_log_syncs: list[int] = []
    real_sync = MappedFile.sync

    def gated_sync(self: MappedFile) -> None:
        if self.path.parent.name == "commitlog":
            commit_log_syncs.append(self.wrote_position)
            first_sync.set()
            assert release.wait(30), "the test never released the first sync"
        real_sync(self)

    monkeypatch.setattr(MappedFile, "sync", gated_sync)
    config = dataclasses.replace(small_config, flush_disk_type=FlushDiskType.SYNC_FLUSH)
    store = MessageStore(config)
    await store.start()
    flusher = store.flusher
    assert isinstance(flusher, GroupCommitService)
    try:
        first = asyncio.create_task(store.put_message(msg(200)))
        assert await asyncio.to_thread(first_sync.wait, 30)  # the sync of the first put is running
        before = store.max_phy_offset
        later = [asyncio.create_task(store.put_message(msg(200))) for _ in range(50)]
        await asyncio.sleep(0.05)
        assert store.max_phy_offset > before  # the 50 appended while the sync is blocked
        assert not first.done() and not any(t.done() for t in later)
        release.set()
        results = await asyncio.wait_for(asyncio.gather(first, *later), 30)
        assert all(r.status is PutStatus.PUT_OK for r in results)
        # one sync for the first put, one covering all 50 (the first still blocked when they came)
        assert len(commit_log_syncs) == 2
        assert commit_log_syncs[1] == store.max_phy_offset
        assert flusher.syncs == 2 and flusher.answered == 51
        assert store.commit_log.queue.flushed_where == store.max_phy_offset
    finally:
        release.set()
        await store.shutdown()


@async_test
@pytest.mark.usefixtures("thread_syncer")
async def test_sync_flush_timeout(small_config: StoreConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(MappedFile, "sync", lambda self: time.sleep(0.3))
    config = dataclasses.replace(
        small_config, flush_disk_type=FlushDiskType.SYNC_FLUSH, sync_flush_timeout=50
    )
    store = MessageStore(config)
    await store.start()
    try:
        result = await store.put_message(msg())
        assert result.status is PutStatus.FLUSH_DISK_TIMEOUT
        assert result.append_result is not None  # stored, just not known durable
        assert result.ok
    finally:
        await store.shutdown()


@async_test
async def test_async_flush_runs_in_background(small_config: StoreConfig) -> None:
    store = MessageStore(small_config)  # ASYNC_FLUSH, 20 ms interval, 4 pages
    await store.start()
    try:
        await store.put_message(msg(100))
        await asyncio.sleep(0.1)
        assert store.commit_log.queue.flushed_where == 0  # < 4 dirty pages: not yet
        for _ in range(20):
            await store.put_message(msg(1000))
        end = store.max_phy_offset
        for _ in range(100):
            await asyncio.sleep(0.01)
            if store.commit_log.queue.flushed_where >= end:
                break
        assert store.commit_log.queue.flushed_where == end
        assert store.checkpoint.physic_msg_timestamp == store.commit_log.last_store_timestamp
    finally:
        await store.shutdown()


@async_test
async def test_shutdown_flushes_and_persists_checkpoint(small_config: StoreConfig) -> None:
    store = MessageStore(small_config)
    await store.start()
    r = await store.put_message(msg(10))
    await store.shutdown()
    assert r.append_result is not None
    assert store.commit_log.queue.flushed_where == store.max_phy_offset
    cp = StoreCheckpoint(small_config.checkpoint_path)
    cp.load()
    assert cp.physic_msg_timestamp == r.append_result.store_timestamp
    assert cp.logics_msg_timestamp == r.append_result.store_timestamp
    assert len(small_config.checkpoint_path.read_bytes()) == 4096
    assert not small_config.abort_path.exists()


@async_test
@pytest.mark.usefixtures("thread_syncer")
async def test_stalled_group_commit_refuses_puts_with_page_cache_busy(
    small_config: StoreConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, release = threading.Event(), threading.Event()

    def stalled_sync(self: MappedFile) -> None:
        started.set()
        assert release.wait(30), "the test never released the stalled sync"

    monkeypatch.setattr(MappedFile, "sync", stalled_sync)
    config = dataclasses.replace(
        small_config, flush_disk_type=FlushDiskType.SYNC_FLUSH, os_page_cache_busy_timeout_millis=100
    )
    store = MessageStore(config)
    await store.start()
    try:
        first = asyncio.create_task(store.put_message(msg()))
        assert await asyncio.to_thread(started.wait, 30)  # the group commit for `first` is in its sync
        await asyncio.sleep(0.15)  # ... and stays there (until released) past the 100 ms threshold
        assert store.is_os_page_cache_busy()  # the broker answers SYSTEM_BUSY [REJECTREQUEST] now
        busy = await store.put_message(msg())
        assert busy.status is PutStatus.OS_PAGECACHE_BUSY and busy.append_result is None
        release.set()
        assert (await first).status is PutStatus.PUT_OK
        assert not store.is_os_page_cache_busy()
        assert (await store.put_message(msg())).status is PutStatus.PUT_OK
    finally:
        await store.shutdown()


@async_test
async def test_checkpoint_never_persists_a_logics_time_ahead_of_the_flushed_consume_queues(
    small_config: StoreConfig,
) -> None:
    """Any save (an index-file roll saves the checkpoint too) writes only the consume-queue time
    that a complete consume-queue flush has covered; abnormal recovery trusts it to skip segments."""
    store = MessageStore(small_config)
    await store.start()
    try:
        r = await store.put_message(msg(10))
        assert r.append_result is not None
        await store.reput.wait_dispatched()
        assert store.checkpoint.logics_dispatched_timestamp == r.append_result.store_timestamp
        await store.checkpoint.save()  # what IndexService does when an index file fills
        on_disk = StoreCheckpoint(small_config.checkpoint_path)
        on_disk.load()
        assert on_disk.logics_msg_timestamp < r.append_result.store_timestamp
        await store.cq_flusher.flush_all()
        await store.checkpoint.save()
        on_disk.load()
        assert on_disk.logics_msg_timestamp == r.append_result.store_timestamp
    finally:
        await store.shutdown()


def test_concurrent_checkpoint_saves_do_not_race_on_the_tmp_file(tmp_path: Path) -> None:
    cp = StoreCheckpoint(tmp_path / "checkpoint")
    cp.physic_msg_timestamp = 7

    async def many() -> None:
        await asyncio.gather(*(cp.save() for _ in range(50)))

    asyncio.run(many())
    again = StoreCheckpoint(tmp_path / "checkpoint")
    again.load()
    assert again.physic_msg_timestamp == 7
    assert not (tmp_path / "checkpoint.tmp").exists()
