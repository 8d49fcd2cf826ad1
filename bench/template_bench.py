#!/usr/bin/env python3
"""Benchmark: the framework layer's overhead over the raw client.

A fresh NameServer + Broker are started as subprocesses (the pytest plugin's ``EmbeddedCluster``).
Each scenario runs the raw client and the framework layer on the same workload and reports
messages/s (median of ``--runs``; each run itself takes the best of two interleaved rounds) and the
layer's overhead ``1 - layer/raw`` (target: <= 15 %):

============ =================================================================================
sync         sequential blocking sends: ``SyncProducer.send`` vs ``RocketMQTemplate.send``
async        ``--window`` sends in flight from a plain thread: ``Producer.send`` submitted to its
             loop thread with ``run_coroutine_threadsafe`` (what raw-client code in a thread
             does) vs ``RocketMQTemplate.send_async`` futures
asend        ``--window`` sends in flight from a foreign asyncio loop: ``Producer.send`` (same
             loop) vs ``RocketMQTemplate.asend`` (hop to the template's loop)
consume      drain a backlog of ``--messages``: ``PushConsumer`` with a sync listener that
             ``json.loads`` each body and returns SUCCESS (``--bare-raw``: does not decode) vs a
             ``ListenerContainer`` (JSON payload conversion, context, log-context binding,
             middleware chain, stats), both with 20 worker threads
============ =================================================================================

Both sides serialise the same dict payload to JSON per message (the raw side with ``json.dumps``
in ``raw_message()``, as raw-client code must; the template through its converter, which also sets
``contentType``), and the raw consume listener ``json.loads`` each body, so the overhead is the
layer's own work. Usage:
``python bench/template_bench.py [--messages 5000] [--window 64] [--runs 1] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from broker_core.message.model import Message, MessageExt  # noqa: E402
from rocketmq_integration.client import (  # noqa: E402
    ClientConfig,
    ConsumeFromWhere,
    ConsumerConfig,
    ConsumeResult,
    Producer,
    PushConsumer,
    SyncProducer,
)
from rocketmq_integration.client.sync import EventLoopThread  # noqa: E402
from rocketmq_integration.listeners import ConsumeFrom, ListenerContainer, build_spec  # noqa: E402
from rocketmq_integration.pytest_plugin import EmbeddedCluster  # noqa: E402
from rocketmq_integration.template import RocketMQTemplate  # noqa: E402

PAYLOAD = {"order_id": 12345, "customer": "c-42", "amount": "19.99", "items": [1, 2, 3], "note": "x" * 40}
DECODE_RAW = True
CLIENT = ClientConfig(heartbeat_broker_interval=5.0, persist_consumer_offset_interval=1.0)
CONSUMER = ConsumerConfig(
    consume_from_where=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET, consume_thread_max=20
)


def raw_message(topic: str) -> Message:
    """What raw-client code builds per send: the payload serialised by hand."""
    return Message(topic, json.dumps(PAYLOAD).encode())


def _name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def _rate(n: int, fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return n / (time.perf_counter() - start)


def bench_sync(cluster: EmbeddedCluster, n: int) -> tuple[float, float]:
    topic = cluster.create_topic(_name("b_sync"))
    raw = SyncProducer(_name("pg"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT)
    tpl = RocketMQTemplate(_name("pg"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT)
    try:
        r = t = 0.0
        for _ in range(2):  # interleaved rounds; the first also warms the broker's files up
            r = max(r, _rate(n, lambda: [raw.send(raw_message(topic)) for _ in range(n)] and None))
            t = max(t, _rate(n, lambda: [tpl.send(topic, PAYLOAD) for _ in range(n)] and None))
    finally:
        raw.shutdown()
        tpl.close()
    return r, t


def bench_async(cluster: EmbeddedCluster, n: int, window: int) -> tuple[float, float]:
    topic = cluster.create_topic(_name("b_async"))
    loop = EventLoopThread("bench-raw")
    producer = Producer(_name("pg"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT)
    loop.run(producer.start())
    tpl = RocketMQTemplate(_name("pg"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT)

    def windowed(submit: Callable[[], concurrent.futures.Future[Any]]) -> None:
        sem = threading.Semaphore(window)
        futures = []
        for _ in range(n):
            sem.acquire()
            f = submit()
            f.add_done_callback(lambda _f: sem.release())
            futures.append(f)
        concurrent.futures.wait(futures)
        for f in futures:
            f.result()

    def raw_run() -> None:
        windowed(lambda: asyncio.run_coroutine_threadsafe(producer.send(raw_message(topic)), loop.loop))

    def tpl_run() -> None:
        windowed(lambda: tpl.send_async(topic, PAYLOAD))

    try:
        r = t = 0.0
        for _ in range(2):
            r = max(r, _rate(n, raw_run))
            t = max(t, _rate(n, tpl_run))
    finally:
        loop.run(producer.shutdown())
        loop.stop()
        tpl.close()
    return r, t


def bench_asend(cluster: EmbeddedCluster, n: int, window: int) -> tuple[float, float]:
    topic = cluster.create_topic(_name("b_asend"))
    tpl = RocketMQTemplate(_name("pg"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT)

    async def gather(send: Callable[[], Any]) -> None:
        sem = asyncio.Semaphore(window)

        async def one() -> None:
            async with sem:
                await send()

        await asyncio.gather(*(one() for _ in range(n)))

    async def raw_main() -> float:
        async with Producer(_name("pg"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT) as p:
            await p.send(raw_message(topic))
            start = time.perf_counter()
            await gather(lambda: p.send(raw_message(topic)))
            return n / (time.perf_counter() - start)

    async def tpl_main() -> float:
        await tpl.asend(topic, PAYLOAD)
        start = time.perf_counter()
        await gather(lambda: tpl.asend(topic, PAYLOAD))
        return n / (time.perf_counter() - start)

    try:
        r = t = 0.0
        for _ in range(2):
            r = max(r, asyncio.run(raw_main()))
            t = max(t, asyncio.run(tpl_main()))
    finally:
        tpl.close()
    return r, t


def _backlog(cluster: EmbeddedCluster, n: int) -> str:
    topic = cluster.create_topic(_name("b_consume"))
    with RocketMQTemplate(_name("pg"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT) as tpl:
        for i in range(0, n, 100):
            tpl.send_batch(topic, [PAYLOAD] * min(100, n - i))
    return topic


def bench_consume(cluster: EmbeddedCluster, n: int) -> tuple[float, float]:
    raw_rate = tpl_rate = 0.0
    for _ in range(2):
        r, t = _consume_round(cluster, n)
        raw_rate, tpl_rate = max(raw_rate, r), max(tpl_rate, t)
    return raw_rate, tpl_rate


def _consume_round(cluster: EmbeddedCluster, n: int) -> tuple[float, float]:
    topic = _backlog(cluster, n)
    done = threading.Event()
    count = [0]
    lock = threading.Lock()
    first: list[float] = []

    def raw_listener(msgs: list[MessageExt]) -> ConsumeResult:
        if DECODE_RAW:
            for m in msgs:
                json.loads(m.body)
        with lock:
            if not first:
                first.append(time.perf_counter())
            count[0] += len(msgs)
            if count[0] >= n:
                done.set()
        return ConsumeResult.SUCCESS

    loop = EventLoopThread("bench-consume")
    consumer = PushConsumer(
        _name("cg"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT, config=CONSUMER
    )
    consumer.subscribe(topic)
    consumer.register_listener(raw_listener)
    loop.run(consumer.start())
    if not done.wait(120):
        raise RuntimeError(f"raw consumer got {count[0]}/{n}")
    raw_rate = n / (time.perf_counter() - first[0])
    loop.run(consumer.shutdown())
    loop.stop()

    topic = _backlog(cluster, n)
    done2 = threading.Event()
    count2 = [0]

    first2: list[float] = []

    def handler(payload: dict[str, Any]) -> None:
        with lock:
            if not first2:
                first2.append(time.perf_counter())
            count2[0] += 1
            if count2[0] >= n:
                done2.set()

    spec = build_spec(
        handler,
        topic=topic,
        consumer_group=_name("cg"),
        concurrency=20,
        name="bench",
        consume_from=ConsumeFrom.FIRST_OFFSET,
    )
    container = ListenerContainer(
        spec, namesrv_addr=cluster.namesrv_addr, client_config=CLIENT, consumer_config=CONSUMER
    )
    container.start()
    if not done2.wait(120):
        raise RuntimeError(f"container got {count2[0]}/{n}")
    tpl_rate = n / (time.perf_counter() - first2[0])
    container.stop()
    return raw_rate, tpl_rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--window", type=int, default=64)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--only", choices=["sync", "async", "asend", "consume"], action="append")
    ap.add_argument("--bare-raw", action="store_true", help="raw consume listener does not decode bodies")
    args = ap.parse_args()
    from rocketmq_integration.logging import configure_logging

    configure_logging("WARNING")  # per-queue info lines would drown the table
    global DECODE_RAW
    DECODE_RAW = not args.bare_raw
    results: dict[str, list[tuple[float, float]]] = {"sync": [], "async": [], "asend": [], "consume": []}
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="tpl-bench-") as tmp:
            cluster = EmbeddedCluster(Path(tmp), {"flushDiskType": "ASYNC_FLUSH"}).start()
            try:
                only = set(args.only or results)
                if "sync" in only:
                    results["sync"].append(bench_sync(cluster, max(500, args.messages // 5)))
                if "async" in only:
                    results["async"].append(bench_async(cluster, args.messages, args.window))
                if "asend" in only:
                    results["asend"].append(bench_asend(cluster, args.messages, args.window))
                if "consume" in only:
                    results["consume"].append(bench_consume(cluster, args.messages))
            finally:
                cluster.stop()
    table = {}
    print(f"{'scenario':<10} {'raw msg/s':>12} {'layer msg/s':>12} {'overhead':>9}")
    for name, runs in results.items():
        if not runs:
            continue
        raw = statistics.median(r for r, _ in runs)
        layer = statistics.median(t for _, t in runs)
        overhead = 1 - layer / raw
        per_run = [round(1 - t / r, 3) for r, t in runs]
        table[name] = {
            "raw": round(raw, 1),
            "layer": round(layer, 1),
            "overhead": round(overhead, 4),
            "runs": per_run,
        }
        print(f"{name:<10} {raw:>12.0f} {layer:>12.0f} {overhead:>8.1%}   per run: {per_run}")
    if args.json:
        args.json.write_text(json.dumps(table, indent=2))


if __name__ == "__main__":
    main()
