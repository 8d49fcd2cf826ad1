"""Power loss, not just SIGKILL: the broker's store on a filesystem that drops unsynced writes.

SIGKILL keeps the kernel's page cache, so a SIGKILL test passes even when nothing is ever fsynced.
Here the store lives on :mod:`tests.support.lazyfs` (FUSE), which holds every write in memory until
the file is fsynced and drops what it holds on a *cut*. A round: several producers send over their
own connections; at a random moment the broker is frozen (SIGSTOP: no further acknowledgement can
leave it), the filesystem is cut, the broker is SIGKILLed, the filesystem is unmounted and mounted
again (the page cache of the old mount is gone), the broker restarts on what was durable, and

* SYNC_FLUSH: every acknowledged message is readable at the queue offset its ack reported, after
  every cut, and the offline verifier finds consume queues and commit log consistent;
* ASYNC_FLUSH (the positive control): acknowledged messages are lost on some cut (the documented loss
  window), which shows that the filesystem really drops unsynced data; the store still verifies.

FUSE must work here (``/dev/fuse``, Debian ``fuse3``, PyPI ``mfusepy``, root): without it these tests
fail, they do not skip (``tools/system-packages.sh`` installs fuse3 for ``make test``).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from broker_core.remoting.client import RemotingClient
from broker_core.remoting.codes import ResponseCode
from broker_core.store.dump import verify
from tests.support.admin import create_topic
from tests.support.cluster import ServerGroup
from tests.support.lazyfs import LazyFS, fuse_unavailable_reason
from tests.support.process import ServerProcess
from tests.support.store_load import QUEUES, Acked, acked_from, missing_after_restart, send_request

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

PRODUCERS = 3  # connections
SENDERS_PER_PRODUCER = 3  # concurrent in-flight sends on each
STORE_CONF: dict[str, str | int | bool] = {
    "mappedFileSizeCommitLog": 256 * 1024,
    "mappedFileSizeConsumeQueue": 200 * 20,
    "maxHashSlotNum": 64,
    "maxIndexNum": 400,
    "autoCreateTopicEnable": "false",
    "autoCreateSubscriptionGroup": "true",
    # reading every acknowledged message back after each cut: large pulls keep that affordable
    "maxTransferCountOnMessageInMemory": 2048,
    "maxTransferBytesOnMessageInMemory": 4 * 1024 * 1024,
}


@pytest.fixture(scope="module", autouse=True)
def _fuse_available() -> None:
    reason = fuse_unavailable_reason()
    if reason is not None:
        pytest.fail(f"power-cut tests need FUSE: {reason}")


@dataclass
class CutReport:
    rounds: int = 0
    acked: list[Acked] = field(default_factory=list)
    lost_per_round: list[int] = field(default_factory=list)
    dropped_pages: list[int] = field(default_factory=list)


class PowerCutRig:
    """A namesrv, a lazyfs mount and a broker whose store is on it."""

    def __init__(self, servers: ServerGroup, tmp_path: Path, conf: dict[str, str | int | bool]) -> None:
        self.disk = tmp_path / "disk"
        self.mount = tmp_path / "mnt"
        self.log = tmp_path / "lazyfs.log"
        self.fs = LazyFS(self.disk, self.mount, self.log).start()
        self.ns = servers.namesrv()
        self.broker: ServerProcess = servers.broker(self.ns, conf=conf, store_dir=self.mount / "store")

    def freeze(self) -> None:
        """SIGSTOP: from here on no acknowledgement can leave the broker."""
        self.broker.send_signal(signal.SIGSTOP)

    def cut_and_restart(self) -> int:
        """Cut power under the frozen broker, kill it, remount, restart; returns the pages dropped."""
        pages, _files = self.fs.cut()
        os.kill(self.broker.pid, signal.SIGKILL)
        self.broker.wait(30)
        self.fs.close()
        self.fs = LazyFS(self.disk, self.mount, self.log).start()
        self.broker.restart()
        return pages

    def close(self) -> None:
        self.broker.cleanup()
        self.fs.close()


async def load_until_cut(rig: PowerCutRig, topic: str, r: int, delay: float) -> tuple[list[Acked], int]:
    """Producers send until ``delay`` has passed, then the power is cut under them."""
    clients = [RemotingClient() for _ in range(PRODUCERS)]
    got: list[Acked] = []
    stop, acked_one = asyncio.Event(), asyncio.Event()

    async def sender(p: int, s: int) -> None:
        i = 0
        while not stop.is_set():
            key = f"r{r}-p{p}-s{s}-{i}"
            req = send_request(topic, (p + s + i) % QUEUES, key, key.encode() * 16, wait=None)
            i += 1
            try:
                resp = await clients[p].invoke(rig.broker.addr, req, 5.0)
            except Exception:
                return  # the broker is gone: the answer never came, so the message was not acked
            if resp.code == ResponseCode.SUCCESS:
                got.append(acked_from(key, resp))
                acked_one.set()

    tasks = [asyncio.create_task(sender(p, s)) for p in range(PRODUCERS) for s in range(SENDERS_PER_PRODUCER)]
    await asyncio.sleep(delay)
    await asyncio.wait_for(acked_one.wait(), 60)  # a slow restart must not make an empty round
    rig.freeze()  # the senders are still sending: the cut comes under full load
    stop.set()
    pages = await asyncio.to_thread(rig.cut_and_restart)
    await asyncio.wait(tasks, timeout=30)
    for c in clients:
        await c.close()
    return got, pages


def run_cuts(
    servers: ServerGroup, tmp_path: Path, flush: str, rounds: int, seed: int, *, cumulative: bool
) -> CutReport:
    rng = random.Random(seed)
    rig = PowerCutRig(servers, tmp_path, {**STORE_CONF, "flushDiskType": flush})
    report = CutReport()
    topic = f"PowerCut{flush.title().replace('_', '')}"
    try:
        create_topic(rig.broker.addr, topic, queues=QUEUES)
        for r in range(rounds):
            got, pages = asyncio.run(load_until_cut(rig, topic, r, rng.uniform(0.2, 0.8)))
            assert got, f"round {r}: nothing acknowledged before the cut"
            report.acked += got
            report.dropped_pages.append(pages)
            check = report.acked if cumulative else got
            missing = asyncio.run(
                asyncio.wait_for(missing_after_restart(rig.broker.addr, topic, check, max_nums=2048), 60)
            )
            report.lost_per_round.append(len(missing))
            assert rig.broker.store_dir is not None
            problems = verify(rig.broker.store_dir)
            assert not problems, f"round {r}: store does not verify after the cut: {problems[:5]}"
            report.rounds += 1
            if cumulative:
                assert not missing, (
                    f"round {r}: {len(missing)} acknowledged messages lost by a power cut, e.g. {missing[:3]}"
                )
    finally:
        rig.close()
    print(
        f"{flush}: {report.rounds} cuts, {len(report.acked)} acked, lost per round {report.lost_per_round}, "
        f"pages dropped per cut {report.dropped_pages}"
    )
    return report


SYNC_CUTS = 20
ASYNC_CUTS = 4


def test_power_cuts_under_sync_flush_lose_no_acknowledged_message(
    servers: ServerGroup, tmp_path: Path
) -> None:
    report = run_cuts(servers, tmp_path, "SYNC_FLUSH", SYNC_CUTS, seed=16, cumulative=True)
    assert report.rounds == SYNC_CUTS
    assert report.lost_per_round == [0] * SYNC_CUTS
    assert len(report.acked) >= SYNC_CUTS * 20
    assert sum(report.dropped_pages) > 0  # the cuts did drop unsynced pages (consume queues, index)


def test_power_cuts_under_async_flush_lose_acknowledged_messages(
    servers: ServerGroup, tmp_path: Path
) -> None:
    """Positive control: the same rounds under ASYNC_FLUSH lose acknowledged messages (the flush
    interval's window), so the filesystem really drops what was not fsynced."""
    report = run_cuts(servers, tmp_path, "ASYNC_FLUSH", ASYNC_CUTS, seed=16, cumulative=False)
    assert report.rounds == ASYNC_CUTS
    assert sum(report.lost_per_round) > 0, report.lost_per_round
