"""SYNC_FLUSH group commits synced by the helper process: sharing, rolling segments, a helper that
dies, a helper that cannot start, and no helper left behind after shutdown."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
from pathlib import Path

import pytest

from broker_core.config.store import FlushDiskType, StoreConfig
from broker_core.message import BrokerMessage
from broker_core.store import MessageStore, PutStatus, sync_helper
from broker_core.store.flush import GroupCommitService
from broker_core.store.syncer import ProcessSyncer, ThreadSyncer


def msg(size: int = 1000) -> BrokerMessage:
    return BrokerMessage(topic="F", queue_id=0, body=b"f" * size)


def sync_config(small_config: StoreConfig) -> StoreConfig:
    return dataclasses.replace(small_config, flush_disk_type=FlushDiskType.SYNC_FLUSH)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0): look at its state
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def helper_pid(store: MessageStore) -> int:
    flusher = store.flusher
    assert isinstance(flusher, GroupCommitService)
    syncer = flusher._syncer
    assert isinstance(syncer, ProcessSyncer) and syncer.pid is not None
    return syncer.pid


async def put_all(store: MessageStore, n: int, size: int = 1000) -> None:
    results = await asyncio.wait_for(asyncio.gather(*(store.put_message(msg(size)) for _ in range(n))), 30)
    assert all(r.status is PutStatus.PUT_OK for r in results)


def test_helper_syncs_shared_group_commits_across_segments_and_exits_on_shutdown(
    small_config: StoreConfig,
) -> None:
    async def main() -> None:
        store = MessageStore(sync_config(small_config))
        await store.start()
        pid = helper_pid(store)
        try:
            assert pid_alive(pid)
            await put_all(store, 300)  # 300 KiB over 64 KiB segments: five segment rolls
            flusher = store.flusher
            assert isinstance(flusher, GroupCommitService)
            assert len(store.commit_log.queue.files) >= 5
            assert store.commit_log.queue.flushed_where == store.max_phy_offset
            assert flusher.answered == 300 and flusher.syncs < 300  # shared syncs
            assert store.checkpoint.physic_msg_timestamp == store.commit_log.last_store_timestamp
        finally:
            await store.shutdown()
        assert not pid_alive(pid)  # reaped: no helper (or zombie) left behind

    asyncio.run(main())


def test_a_killed_helper_is_replaced_and_no_put_is_lost(small_config: StoreConfig) -> None:
    async def main() -> None:
        store = MessageStore(sync_config(small_config))
        await store.start()
        try:
            await put_all(store, 20)
            first = helper_pid(store)
            os.kill(first, signal.SIGKILL)
            # puts issued while the helper is gone complete once its replacement syncs them
            await put_all(store, 50)
            second = helper_pid(store)
            assert second != first and pid_alive(second)
            assert store.commit_log.queue.flushed_where == store.max_phy_offset
        finally:
            await store.shutdown()

    asyncio.run(main())


def test_without_a_helper_process_syncs_run_in_a_thread(
    small_config: StoreConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_fork(*args: object, **kwargs: object) -> subprocess.Popen[bytes]:
        raise OSError(1, "fork not permitted here")

    monkeypatch.setattr(subprocess, "Popen", no_fork)

    async def main() -> None:
        store = MessageStore(sync_config(small_config))
        await store.start()
        try:
            flusher = store.flusher
            assert isinstance(flusher, GroupCommitService)
            assert isinstance(flusher._syncer, ThreadSyncer)
            await put_all(store, 100)
            assert store.commit_log.queue.flushed_where == store.max_phy_offset
        finally:
            await store.shutdown()

    asyncio.run(main())


def test_helper_answers_a_sync_error_and_the_group_commit_retries(small_config: StoreConfig) -> None:
    """A request before any fd fails with EBADF in the helper; the group commit logs and retries."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[OSError | None] = loop.create_future()
        syncer = ProcessSyncer(loop, lambda err: done.set_result(err))
        syncer.start()
        try:
            assert syncer._sock is not None
            syncer._sock.send(sync_helper.REQUEST.pack(1))
            syncer._seq = 1
            syncer._outstanding.append(1)
            err = await asyncio.wait_for(done, 10)
            assert isinstance(err, OSError) and err.errno == 9  # EBADF
        finally:
            await syncer.close()

    asyncio.run(main())
