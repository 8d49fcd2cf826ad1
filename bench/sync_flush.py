#!/usr/bin/env python3
"""SYNC_FLUSH produce throughput vs. the disk's own fsync rate (group commit check).

Starts a NameServer and a Broker (``flushDiskType=SYNC_FLUSH``) with the store in a temp dir, then for
each concurrency level (default 1, 8, 64) runs that many concurrent senders (SEND_MESSAGE over one
``RemotingClient``; each send is acknowledged only after its bytes are fdatasync'ed) for
``--seconds``. In the same run, on the same file system, a loop of 4 KiB write + ``fdatasync``
measures how many syncs per second the disk itself can do. Without group commit a SYNC_FLUSH
broker cannot exceed that rate; with it, msgs/s ÷ fsync/s grows with concurrency.

Usage: ``python bench/sync_flush.py [--levels 1,8,64] [--seconds 5] [--body-size 1024] [--dir DIR]
[--json out.json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from broker_core.message import encode_properties  # noqa: E402
from broker_core.remoting.client import RemotingClient  # noqa: E402
from broker_core.remoting.codes import RequestCode, ResponseCode  # noqa: E402
from broker_core.remoting.command import RemotingCommand  # noqa: E402
from tests.support.admin import create_topic  # noqa: E402
from tests.support.process import start_broker, start_namesrv  # noqa: E402


def fsync_rate(directory: Path, seconds: float) -> float:
    """fdatasync calls per second after a 4 KiB overwrite, on ``directory``'s file system."""
    path = directory / "fsync-probe"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        block = os.urandom(4096)
        count = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            os.pwrite(fd, block, (count % 256) * 4096)
            os.fdatasync(fd)
            count += 1
        return count / (time.perf_counter() - start)
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)


def _request(topic: str, queue_id: int, body: bytes) -> RemotingCommand:
    ext = {
        "producerGroup": "BenchSyncPG", "topic": topic, "defaultTopic": "TBW102", "defaultTopicQueueNums": "8",
        "queueId": str(queue_id), "sysFlag": "0", "bornTimestamp": str(int(time.time() * 1000)), "flag": "0",
        "properties": encode_properties({"WAIT": "true"}), "reconsumeTimes": "0", "unitMode": "false",
    }  # fmt: skip
    return RemotingCommand.request(RequestCode.SEND_MESSAGE, ext, body)


async def produce(addr: str, topic: str, concurrency: int, seconds: float, body: bytes) -> tuple[float, int]:
    """(msgs/s, non-SUCCESS responses) of ``concurrency`` senders for ``seconds``."""
    clients = [RemotingClient() for _ in range(min(concurrency, 8))]
    done = 0
    failed = 0
    stop_at = time.perf_counter() + seconds

    async def sender(i: int) -> None:
        nonlocal done, failed
        client = clients[i % len(clients)]
        while time.perf_counter() < stop_at:
            resp = await client.invoke(addr, _request(topic, i % 8, body), 10.0)
            if resp.code == ResponseCode.SUCCESS:
                done += 1
            else:
                failed += 1

    start = time.perf_counter()
    try:
        await asyncio.gather(*(sender(i) for i in range(concurrency)))
    finally:
        for c in clients:
            await c.close()
    return done / (time.perf_counter() - start), failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,8,64")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--body-size", type=int, default=1024)
    parser.add_argument("--dir", help="parent directory of the temp store (default: system temp dir)")
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",") if x]
    work = Path(tempfile.mkdtemp(prefix="bench-sync-", dir=args.dir))
    namesrv = broker = None
    try:
        namesrv = start_namesrv(work)
        conf = {"flushDiskType": "SYNC_FLUSH", "mappedFileSizeCommitLog": str(256 * 1024 * 1024)}
        broker = start_broker(work, namesrv, conf=conf)
        topic = "BenchSyncFlush"
        create_topic(broker.addr, topic, queues=8)
        assert broker.store_dir is not None
        disk = fsync_rate(work, 2.0)
        body = b"s" * args.body_size
        asyncio.run(produce(broker.addr, topic, 4, 1.0, body))  # warm-up (segment creation, connections)
        results = []
        for level in levels:
            rate, failed = asyncio.run(produce(broker.addr, topic, level, args.seconds, body))
            results.append({"producers": level, "msgs_per_s": round(rate, 1), "failed": failed,
                            "ratio_to_fsync": round(rate / disk, 2) if disk else None})  # fmt: skip
        disk_after = fsync_rate(work, 2.0)
        print(f"disk fdatasync/s (4 KiB, same fs): {disk:.0f} before, {disk_after:.0f} after")
        print(f"{'producers':>9} {'msgs/s':>10} {'msgs/s ÷ fsync/s':>17} {'failed':>7}")
        for r in results:
            print(f"{r['producers']:>9} {r['msgs_per_s']:>10.0f} {r['ratio_to_fsync']:>17} {r['failed']:>7}")
        if args.json:
            Path(args.json).write_text(
                json.dumps({"fsync_per_s": [disk, disk_after], "results": results}, indent=2)
            )
        return 0
    finally:
        for proc in (broker, namesrv):
            if proc is not None:
                proc.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
