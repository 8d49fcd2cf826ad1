"""PopService writes its lease table off the event loop: a slow disk (write + fsync) must not stall
the loop that answers pops and sends meanwhile (it did: every ~50 ms under load, a p99 stall)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from broker_core.broker.pop.service import PopService


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
