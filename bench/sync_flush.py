#!/usr/bin/env python3
"""SYNC_FLUSH produce throughput vs. the disk's own fsync rate (group commit check), and vs. Apache.

In one run, on the file system of the store (a temp dir):

1. the disk: fdatasync calls per second after a 4 KiB overwrite (the raw sync rate) and after a
   1 KiB append into a mapped sparse file (what one producer per sync would get), before and after;
2. ours, our client: a NameServer and a Broker (``flushDiskType=SYNC_FLUSH``), then for each
   concurrency level (default 1, 8, 64) that many concurrent senders (SEND_MESSAGE over
   ``RemotingClient``; each send is acknowledged only after its bytes are fdatasync'ed) for
   ``--seconds``: msgs/s, msgs/s ÷ fsync/s and the broker's CPU-µs per message. Without group commit
   a SYNC_FLUSH broker cannot exceed the disk's rate; with it, msgs/s ÷ fsync/s grows with
   concurrency;
3. with ``ROCKETMQ_ORACLE_HOME`` set: Apache RocketMQ 4.9.8 (SYNC_FLUSH) and ours under the same Java
   benchmark Producer at the same thread counts, each measured over ``--java-seconds`` after a
   ``--java-warmup`` from the brokers' own put counters; msgs/s, ours ÷ Apache, CPU-µs per message.

Usage: ``python bench/sync_flush.py [--levels 1,8,64] [--seconds 5] [--java-seconds 10]
[--body-size 1024] [--dir DIR] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import mmap
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))

from oracle_support import (  # noqa: E402
    cpu_seconds,
    java_producer,
    measure_window,
    start_apache,
    stop_process,
    usable_oracle_home,
)

from broker_core.message import encode_properties  # noqa: E402
from broker_core.remoting.client import RemotingClient  # noqa: E402
from broker_core.remoting.codes import RequestCode, ResponseCode  # noqa: E402
from broker_core.remoting.command import RemotingCommand  # noqa: E402
from tests.support.admin import create_topic, wait_for_route  # noqa: E402
from tests.support.process import ServerProcess, start_broker, start_namesrv  # noqa: E402

SEGMENT = 256 * 1024 * 1024
JAVA_TOPIC = "SyncFlushJava8"


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


def append_sync_rate(directory: Path, seconds: float, size: int = 1024) -> float:
    """fdatasync calls per second after appending ``size`` bytes into a mapped sparse file (as the
    commit log does): new blocks are allocated as it grows, so this is below the overwrite rate."""
    path = directory / "fsync-append-probe"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        length = 64 * 1024 * 1024
        os.ftruncate(fd, length)
        with mmap.mmap(fd, length) as mm:
            block = os.urandom(size)
            count = 0
            pos = 0
            start = time.perf_counter()
            while time.perf_counter() - start < seconds and pos + size <= length:
                mm[pos : pos + size] = block
                pos += size
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


def java_levels(
    levels: list[int], seconds: float, warmup: float, body_size: int, parent: str | None
) -> list[dict[str, object]]:
    """Apache and ours, SYNC_FLUSH, under the Java benchmark Producer at each thread count."""
    home = usable_oracle_home()
    assert home is not None
    rows: list[dict[str, object]] = []
    for target in ("apache", "ours"):
        work = Path(tempfile.mkdtemp(prefix=f"bench-sync-{target}-", dir=parent))
        procs: list[object] = []
        try:
            if target == "apache":
                apache = start_apache(home, work, {"flushDiskType": "SYNC_FLUSH"})
                procs.append(apache)
                namesrv, addr, pid = apache.namesrv, apache.broker, apache.broker_pid
            else:
                ns = start_namesrv(work)
                procs.append(ns)
                br = start_broker(
                    work, ns, conf={"flushDiskType": "SYNC_FLUSH", "mappedFileSizeCommitLog": str(SEGMENT)}
                )
                procs.append(br)
                namesrv, addr, pid = ns.addr, br.addr, br.pid
            create_topic(addr, JAVA_TOPIC, queues=8)
            wait_for_route(namesrv, JAVA_TOPIC, min_write_queues=8)
            for level in levels:
                producer = java_producer(home, work, namesrv, JAVA_TOPIC, level, body_size)
                try:
                    win = measure_window([addr], [pid], warmup, seconds, lambda p=producer: p.poll() is None)
                finally:
                    stop_process(producer)
                rows.append({"target": target, "threads": level, "msgs_per_s": round(win.rate, 1),
                             "broker_cpu_us_per_msg": round(win.cpu_us_per_msg, 1),
                             "broker_cpu_share": round(win.cpu_share, 2)})  # fmt: skip
                print(f"# java {target} {level} threads: {win.rate:.0f} msgs/s, "
                      f"{win.cpu_us_per_msg:.0f} CPU-us/msg, cpu share {win.cpu_share:.2f}", flush=True)  # fmt: skip
        finally:
            for proc in reversed(procs):
                proc.stop()  # type: ignore[attr-defined]
            shutil.rmtree(work, ignore_errors=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,8,64")
    parser.add_argument("--seconds", type=float, default=5.0, help="window per level, our client")
    parser.add_argument("--java-seconds", type=float, default=10.0, help="window per level, Java Producer")
    parser.add_argument("--java-warmup", type=float, default=5.0, help="seconds before each Java window")
    parser.add_argument("--no-java", action="store_true", help="skip the Java comparison")
    parser.add_argument("--body-size", type=int, default=1024)
    parser.add_argument("--dir", help="parent directory of the temp store (default: system temp dir)")
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",") if x]
    work = Path(tempfile.mkdtemp(prefix="bench-sync-", dir=args.dir))
    namesrv: ServerProcess | None = None
    broker: ServerProcess | None = None
    try:
        disk = fsync_rate(work, 2.0)
        disk_append = append_sync_rate(work, 2.0, args.body_size)
        namesrv = start_namesrv(work)
        conf = {"flushDiskType": "SYNC_FLUSH", "mappedFileSizeCommitLog": str(SEGMENT)}
        broker = start_broker(work, namesrv, conf=conf)
        topic = "BenchSyncFlush"
        create_topic(broker.addr, topic, queues=8)
        body = b"s" * args.body_size
        asyncio.run(produce(broker.addr, topic, 4, 1.0, body))  # warm-up (segment creation, connections)
        results = []
        for level in levels:
            cpu0 = cpu_seconds(broker.pid)
            rate, failed = asyncio.run(produce(broker.addr, topic, level, args.seconds, body))
            cpu = cpu_seconds(broker.pid) - cpu0
            sent = rate * args.seconds
            results.append({"producers": level, "msgs_per_s": round(rate, 1), "failed": failed,
                            "ratio_to_fsync": round(rate / disk, 2) if disk else None,
                            "broker_cpu_us_per_msg": round(cpu * 1e6 / sent, 1) if sent else None})  # fmt: skip
        broker.stop()
        namesrv.stop()
        broker = namesrv = None
        disk_after = fsync_rate(work, 2.0)
        disk_append_after = append_sync_rate(work, 2.0, args.body_size)
        java: list[dict[str, object]] = []
        if usable_oracle_home() is not None and not args.no_java:
            java = java_levels(levels, args.java_seconds, args.java_warmup, args.body_size, args.dir)
        print(f"disk fdatasync/s, 4 KiB overwrite (same fs): {disk:.0f} before, {disk_after:.0f} after")
        print(
            f"disk fdatasync/s, {args.body_size} B mmap append: {disk_append:.0f} before, {disk_append_after:.0f} after"
        )
        print("ours, our client (RemotingClient, WAIT=true):")
        print(f"{'producers':>9} {'msgs/s':>10} {'msgs/s ÷ fsync/s':>17} {'CPU-µs/msg':>11} {'failed':>7}")
        for r in results:
            print(f"{r['producers']:>9} {r['msgs_per_s']:>10.0f} {r['ratio_to_fsync']:>17} "
                  f"{r['broker_cpu_us_per_msg']:>11} {r['failed']:>7}")  # fmt: skip
        if java:
            by = {(str(r["target"]), int(str(r["threads"]))): r for r in java}
            print("Java benchmark Producer (sync send, WAIT=true), SYNC_FLUSH, Apache 4.9.8 vs ours:")
            print(f"{'threads':>7} {'Apache msgs/s':>14} {'ours msgs/s':>12} {'ours÷Apache':>12} "
                  f"{'CPU-µs/msg A/ours':>18} {'ours÷fsync':>11}")  # fmt: skip
            for level in levels:
                a, o = by[("apache", level)], by[("ours", level)]
                ar, orate = float(str(a["msgs_per_s"])), float(str(o["msgs_per_s"]))
                print(f"{level:>7} {ar:>14.0f} {orate:>12.0f} {orate / ar if ar else float('nan'):>12.2f} "
                      f"{str(a['broker_cpu_us_per_msg']) + '/' + str(o['broker_cpu_us_per_msg']):>18} "
                      f"{orate / disk if disk else float('nan'):>11.2f}")  # fmt: skip
        else:
            print(
                f"Java comparison skipped: {'--no-java' if args.no_java else 'ROCKETMQ_ORACLE_HOME not set'}"
            )
        if args.json:
            Path(args.json).write_text(
                json.dumps(
                    {
                        "fsync_per_s": [disk, disk_after],
                        "append_fsync_per_s": [disk_append, disk_append_after],
                        "results": results,
                        "java": java,
                    },
                    indent=2,
                )  # fmt: skip
            )
        return 0
    finally:
        for proc in (broker, namesrv):
            if proc is not None:
                proc.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
