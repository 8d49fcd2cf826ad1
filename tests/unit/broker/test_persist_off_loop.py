"""Snapshots written shortly after changes go to a worker thread: a slow disk (write + fsync) must
not stall the broker's loop, which answers pops and sends meanwhile (the POP lease table did so
every ~50 ms while Celery tasks flowed: a p99 stall; the timer checkpoint every 0.2 s of ETA tasks)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from broker_core.broker.offsets import ConsumerOffsetManager
from broker_core.broker.pop.service import PopService
from broker_core.broker.timer.service import TimerService


class SlowFile:
    """Stands in for the service's ``ConfigFile``: each save blocks until ``release`` is set."""

    def __init__(self) -> None:
        self.saves: list[tuple[int, Any]] = []
        self.release = threading.Event()
        self.entered = threading.Event()

    def save(self, obj: Any) -> None:
        self.entered.set()
        assert self.release.wait(10.0)
        self.saves.append((threading.get_ident(), obj))


def _service(tmp_path: Path) -> tuple[PopService, SlowFile]:
    ctx: Any = SimpleNamespace(config=SimpleNamespace(pop_ck_persist_delay_ms=5))
    service = PopService(ctx, tmp_path)
    slow = SlowFile()
    service._file = slow  # type: ignore[assignment]
    return service, slow


def test_lease_table_write_runs_in_a_worker_thread_while_the_loop_keeps_running(tmp_path: Path) -> None:
    async def main() -> None:
        service, slow = _service(tmp_path)
        loop_thread = threading.get_ident()
        service.table.ensure(("g", "t", 0), 0)
        service._touch()
        assert await asyncio.to_thread(slow.entered.wait, 10.0)  # the write started (and blocks)
        ticks = 0
        for _ in range(5):  # the loop is not stalled by the blocked write
            await asyncio.sleep(0.001)
            ticks += 1
        assert ticks == 5 and slow.saves == []
        service.table.ensure(("g", "t", 1), 7)
        service._touch()  # changed while the first write is in flight: written again afterwards
        slow.release.set()
        for _ in range(1000):
            if len(slow.saves) >= 2:
                break
            await asyncio.sleep(0.01)
        assert len(slow.saves) == 2
        assert all(ident != loop_thread for ident, _ in slow.saves)
        assert "g@t@1" in slow.saves[-1][1]["queues"]  # the second write has the later change
        await service.stop()  # the final write (shutdown) comes after the ones in flight
        assert len(slow.saves) == 3 and slow.saves[-1][0] == loop_thread

    asyncio.run(main())


def test_timer_checkpoint_write_runs_in_a_worker_thread_while_the_loop_keeps_running(tmp_path: Path) -> None:
    async def main() -> None:
        cfg: Any = SimpleNamespace(timer_precision_ms=1000)
        service = TimerService(cfg, None, tmp_path, lambda: ("127.0.0.1", 1))  # type: ignore[arg-type]
        slow = SlowFile()
        service._check = slow  # type: ignore[assignment]
        loop_thread = threading.get_ident()
        service.queue_offset = 5
        service._schedule_check()
        assert await asyncio.to_thread(slow.entered.wait, 10.0)
        for _ in range(5):
            await asyncio.sleep(0.001)  # not stalled by the blocked write
        service.queue_offset = 9
        service._schedule_check()  # enqueued while the write is in flight: written again afterwards
        slow.release.set()
        for _ in range(1000):
            if len(slow.saves) >= 2:
                break
            await asyncio.sleep(0.01)
        assert [obj["lastTimerQueueOffset"] for _, obj in slow.saves] == [5, 9]
        assert all(ident != loop_thread for ident, _ in slow.saves)
        await service.stop()
        assert slow.saves[-1] == (loop_thread, {"lastTimerQueueOffset": 9, "pending": 0})

    asyncio.run(main())


def test_offset_snapshots_are_taken_on_the_loop_and_a_failed_write_is_retried(tmp_path: Path) -> None:
    """consumerOffset.json (also delayOffset.json, consumerFilter.json) is built on the loop and only
    written in a worker thread: building it there raced with the loop adding keys ("dictionary
    changed size during iteration" ended the persisting task for good)."""
    offsets = ConsumerOffsetManager(tmp_path)
    assert offsets.snapshot() is None  # nothing changed
    offsets.commit("g", "t", 0, 5)
    snap = offsets.snapshot()
    assert snap is not None and offsets.snapshot() is None  # taken once per change
    offsets.commit("g", "t2", 1, 9)  # the loop goes on changing the table: the snapshot keeps its content
    assert snap.obj == {"offsetTable": {"t@g": {0: 5}}}
    snap.write()
    reread = ConsumerOffsetManager(tmp_path)
    reread.load()
    assert reread.table == {"t@g": {0: 5}}
    again = offsets.snapshot()
    assert again is not None and again.obj["offsetTable"]["t2@g"] == {1: 9}
    offsets.mark_dirty()  # its write failed: the next round writes the table again
    assert offsets.snapshot() is not None
