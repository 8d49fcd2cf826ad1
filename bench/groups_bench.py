#!/usr/bin/env python3
"""One broker group vs two on this host: produce throughput and broker CPU (``--groups N``).

For each group count (default 1, 2) a NameServer and that many broker masters (broker-a, broker-b,
ASYNC_FLUSH, own store and port each; the processes ``python -m broker_core cluster --groups N``
starts) come up, topic ``GroupsBench`` gets 8 queues on every group, and for each client thread count
(default 16, 64) the producer runs: the Java benchmark Producer (``-w threads``, 1 KiB, sync send)
when ``ROCKETMQ_ORACLE_HOME`` is set, else our own client (``--py-procs`` processes of
``RemotingClient`` senders spreading over every group's queues). After ``--warmup`` s, a
``--seconds`` window is measured from the brokers' own put counters (summed over the groups): msgs/s,
broker CPU (all groups, in cores), broker CPU-µs per message, and the client's CPU. The ratio 2 ÷ 1
groups is printed per thread count.

On a 2-core host the brokers and the client share the same two cores: one broker group saturates one
core, so the second group can only win what the client leaves over (see docs/operations.md).

Usage: ``python bench/groups_bench.py [--groups 1,2] [--threads 16,64] [--seconds 10] [--warmup 5]
[--json out.json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))

from oracle_support import (  # noqa: E402
    cpu_seconds,
    java_producer,
    measure_window,
    stop_process,
    usable_oracle_home,
)

from broker_core.cluster import group_names  # noqa: E402
from tests.support.admin import create_topic, wait_for_route  # noqa: E402
from tests.support.process import ServerProcess, start_broker, start_namesrv  # noqa: E402

TOPIC = "GroupsBench"
QUEUES = 8
BROKER_CONF = {"flushDiskType": "ASYNC_FLUSH", "mappedFileSizeCommitLog": str(256 * 1024 * 1024)}


def _py_sender_proc(addrs: list[str], concurrency: int, seconds: float, body_size: int) -> None:
    """One client process: ``concurrency`` senders, sender i on group i % len(addrs), all queues."""
    from broker_core.message import encode_properties
    from broker_core.remoting.client import RemotingClient
    from broker_core.remoting.codes import RequestCode
    from broker_core.remoting.command import RemotingCommand

    body = b"g" * body_size
    props = encode_properties({"WAIT": "true"})

    async def main() -> None:
        clients = [RemotingClient() for _ in addrs]
        stop_at = time.perf_counter() + seconds

        async def sender(i: int) -> None:
            addr, client = addrs[i % len(addrs)], clients[i % len(addrs)]
            n = 0
            while time.perf_counter() < stop_at:
                ext = {"producerGroup": "GroupsBenchPG", "topic": TOPIC, "defaultTopic": "TBW102",
                       "defaultTopicQueueNums": "8", "queueId": str((i + n) % QUEUES), "sysFlag": "0",
                       "bornTimestamp": str(int(time.time() * 1000)), "flag": "0", "properties": props,
                       "reconsumeTimes": "0", "unitMode": "false"}  # fmt: skip
                await client.invoke(addr, RemotingCommand.request(RequestCode.SEND_MESSAGE, ext, body), 10.0)
                n += 1

        try:
            await asyncio.gather(*(sender(i) for i in range(concurrency)))
        finally:
            for c in clients:
                await c.close()

    asyncio.run(main())


def run_level(
    groups: int, threads: int, args: argparse.Namespace, namesrv: ServerProcess, brokers: list[ServerProcess],
    work: Path,
) -> dict[str, Any]:  # fmt: skip
    addrs = [b.addr for b in brokers]
    pids = [b.pid for b in brokers]
    home = usable_oracle_home()
    if home is not None and not args.py_client:
        client = "java"
        producer = java_producer(home, work, namesrv.addr, TOPIC, threads, args.body_size)
        client_pids = [producer.pid]
        try:
            c0 = cpu_seconds(producer.pid)
            win = measure_window(addrs, pids, args.warmup, args.seconds, lambda: producer.poll() is None)
            client_cpu = cpu_seconds(producer.pid) - c0
        finally:
            stop_process(producer)
    else:
        client = "ours"
        per = max(1, threads // args.py_procs)
        ctx = multiprocessing.get_context("spawn")
        procs = [
            ctx.Process(
                target=_py_sender_proc, args=(addrs, per, args.warmup + args.seconds + 1, args.body_size)
            )
            for _ in range(args.py_procs)
        ]
        for p in procs:
            p.start()
        client_pids = [p.pid for p in procs if p.pid is not None]
        try:
            time.sleep(args.warmup)
            c0 = sum(cpu_seconds(p) for p in client_pids)
            win = measure_window(addrs, pids, 0, args.seconds)
            client_cpu = sum(cpu_seconds(p) for p in client_pids) - c0
        finally:
            for p in procs:
                p.join(30)
                if p.is_alive():
                    p.kill()
    row = {"groups": groups, "threads": threads, "client": client, "msgs_per_s": round(win.rate, 1),
           "broker_cpu_cores": round(win.cpu_share, 2), "broker_cpu_us_per_msg": round(win.cpu_us_per_msg, 1),
           "client_cpu_cores": round(client_cpu / win.seconds, 2)}  # fmt: skip
    print(f"# {json.dumps(row)}", flush=True)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", default="1,2")
    parser.add_argument("--threads", default="16,64")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--body-size", type=int, default=1024)
    parser.add_argument("--py-client", action="store_true", help="our own client even with the oracle set")
    parser.add_argument("--py-procs", type=int, default=2, help="client processes of the fallback client")
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    for groups in [int(x) for x in args.groups.split(",") if x]:
        work = Path(tempfile.mkdtemp(prefix=f"bench-groups{groups}-"))
        started: list[ServerProcess] = []
        try:
            namesrv = start_namesrv(work)
            started.append(namesrv)
            brokers = []
            for name in group_names(groups):
                broker = start_broker(work, namesrv, conf=BROKER_CONF, broker_name=name)
                started.append(broker)
                brokers.append(broker)
            for b in brokers:
                create_topic(b.addr, TOPIC, queues=QUEUES)
            wait_for_route(namesrv.addr, TOPIC, min_write_queues=QUEUES * groups)
            for threads in [int(x) for x in args.threads.split(",") if x]:
                rows.append(run_level(groups, threads, args, namesrv, brokers, work))
        finally:
            for proc in reversed(started):
                proc.stop()
            shutil.rmtree(work, ignore_errors=True)
    print(f"{'groups':>6} {'threads':>7} {'client':>6} {'msgs/s':>9} {'broker CPU':>10} {'CPU-µs/msg':>10} "
          f"{'client CPU':>10} {'÷ 1 group':>9}")  # fmt: skip
    base = {r["threads"]: r["msgs_per_s"] for r in rows if r["groups"] == 1}
    for r in rows:
        ratio = r["msgs_per_s"] / base[r["threads"]] if base.get(r["threads"]) else float("nan")
        print(f"{r['groups']:>6} {r['threads']:>7} {r['client']:>6} {r['msgs_per_s']:>9.0f} "
              f"{r['broker_cpu_cores']:>10.2f} {r['broker_cpu_us_per_msg']:>10.1f} {r['client_cpu_cores']:>10.2f} "
              f"{ratio:>9.2f}")  # fmt: skip
    print("(CPU in cores = CPU-seconds per second, summed over the broker processes; 2 cores on this host)")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
