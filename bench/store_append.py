"""Micro-benchmark of the store's append path: 1 KiB puts into a temporary store.

Usage: ``python bench/store_append.py [--count 200000] [--body 1024] [--segment-mb 64] [--sync]
[--interleave 32]``

Prints puts/s for the append loop (``await store.put_message``), then the time until the dispatcher
has built every consume-queue entry, and the end-to-end rate and CPU-µs per message (append +
dispatch + index). ``--interleave N`` yields to the loop after every N puts, so dispatch keeps pace
with the appends as it does in a loaded broker (the steady state); without it the whole run is one
backlog that dispatch works off afterwards (as after a restart).

``--steady`` measures instead the store's own CPU per message in the steady state, without the
event loop or the flush threads: blocks of 2,048 puts (``put_message_now``, 1 KiB, a Java
producer's properties: UNIQ_KEY, TAGS, CLUSTER) each followed by dispatch of the block
(``ReputService.do_reput``: consume queue, index, hand-off), timed with the thread's CPU clock;
the best block of ``--rounds`` is reported (the machine is shared: the best block is the one least
disturbed).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from broker_core.config.store import FlushDiskType, StoreConfig
from broker_core.message import BrokerMessage, MessageConst, encode_properties
from broker_core.store import MessageStore


async def run(count: int, body_size: int, segment_mb: int, sync: bool, interleave: int = 0) -> None:
    with tempfile.TemporaryDirectory(prefix="store-bench-") as tmp:
        config = StoreConfig(
            store_path_root_dir=Path(tmp),
            mapped_file_size_commit_log=segment_mb << 20,
            flush_disk_type=FlushDiskType.SYNC_FLUSH if sync else FlushDiskType.ASYNC_FLUSH,
        )
        store = MessageStore(config)
        await store.start()
        body = b"x" * body_size
        props = encode_properties(
            {MessageConst.TAGS: "TagA", MessageConst.UNIQ_KEY: "0" * 32, "CLUSTER": "c"}
        )
        msgs = [
            BrokerMessage(
                topic="BenchTopic",
                queue_id=i % 8,
                body=body,
                properties_str=props,
                born_timestamp=0,
                born_host=("127.0.0.1", 50000),
                store_host=("127.0.0.1", 10911),
            )  # fmt: skip
            for i in range(64)
        ]
        start = time.perf_counter()
        cpu_start = time.process_time()
        if sync:
            sem = asyncio.Semaphore(256)  # concurrent producers share group commits

            async def one(i: int) -> None:
                async with sem:
                    await store.put_message(msgs[i & 63])

            await asyncio.gather(*(one(i) for i in range(count)))
        else:
            put = store.put_message
            for i in range(count):
                result = await put(msgs[i & 63])
                if not result.ok:
                    raise SystemExit(f"put failed: {result}")
                if interleave and i % interleave == interleave - 1:
                    await asyncio.sleep(0)  # let dispatch run, as between a broker's reads
        appended = time.perf_counter()
        await store.wait_dispatched()
        dispatched = time.perf_counter()
        cpu = time.process_time() - cpu_start
        await store.shutdown()
        put_rate = count / (appended - start)
        print(f"append: {count} x {body_size} B in {appended - start:.2f}s = {put_rate:,.0f} msgs/s")
        print(f"dispatch backlog drained {dispatched - appended:.2f}s later")
        print(f"end-to-end (append + CQ built): {count / (dispatched - start):,.0f} msgs/s")
        print(f"CPU per message (append + dispatch + index): {cpu / count * 1e6:.2f} us")


async def steady(rounds: int, body_size: int) -> None:
    """See module docstring (``--steady``)."""
    from broker_core._accel import status

    with tempfile.TemporaryDirectory(prefix="store-bench-") as tmp:
        store = MessageStore(
            StoreConfig(store_path_root_dir=Path(tmp), mapped_file_size_commit_log=256 << 20)
        )
        await store.start()
        props = "UNIQ_KEY\x017F0000011D7818B4AAC2%08X0000\x02TAGS\x01TagA\x02CLUSTER\x01DefaultCluster"
        block = [
            BrokerMessage(
                topic="BenchTopic",
                queue_id=i % 8,
                body=b"x" * body_size,
                properties_str=props % i,
                born_host=("127.0.0.1", 50000),
                store_host=("127.0.0.1", 10911),
            )  # fmt: skip
            for i in range(2048)
        ]
        put = store.put_message_now
        reput = store.reput.do_reput
        best_put = best_all = float("inf")
        for _ in range(rounds):
            t0 = time.thread_time()
            for m in block:
                put(m)
            t1 = time.thread_time()
            while reput():
                pass
            t2 = time.thread_time()
            best_put = min(best_put, (t1 - t0) / len(block))
            best_all = min(best_all, (t2 - t0) / len(block))
        await store.shutdown()
        mode = "compiled" if status().active else "pure"
        print(
            f"steady state ({mode}): put {best_put * 1e6:.2f} us, put + dispatch {best_all * 1e6:.2f} us per message"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--body", type=int, default=1024)
    parser.add_argument("--segment-mb", type=int, default=64)
    parser.add_argument("--sync", action="store_true", help="SYNC_FLUSH with 256 concurrent producers")
    parser.add_argument("--interleave", type=int, default=0, help="yield to dispatch every N puts")
    parser.add_argument("--steady", action="store_true", help="store CPU per message, steady state")
    parser.add_argument("--rounds", type=int, default=60, help="blocks of 2,048 puts (--steady)")
    args = parser.parse_args()
    if args.steady:
        asyncio.run(steady(args.rounds, args.body))
        return
    asyncio.run(run(args.count, args.body, args.segment_mb, args.sync, args.interleave))


if __name__ == "__main__":
    main()
