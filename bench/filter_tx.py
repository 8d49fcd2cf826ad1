#!/usr/bin/env python3
"""Benchmark: filtered consumption (10 % match) and transactional send throughput.

A fresh NameServer and Broker (``enablePropertyFilter=true``, ASYNC_FLUSH) are started as
subprocesses. Scenarios:

=============== ===========================================================================
sql-consume     backlog of ``--messages`` with property ``a = i % 10``; a PushConsumer with the
                SQL92 subscription ``a = 0`` drains it (10 % match, filtered on the broker)
tag-consume     same backlog shape with tags ``T0``..``T9``; TAG subscription ``T0`` (10 %)
tx-send         TransactionProducer, ``--concurrency`` concurrent sends, each committed
eval            in-process: compiled selector evaluations per second on a properties map
=============== ===========================================================================

Reported: scanned messages/s (backlog size / drain time) and delivered messages/s for the consume
scenarios, committed transactions/s for tx-send. Usage: ``python bench/filter_tx.py [--messages
20000] [--tx 2000] [--concurrency 32] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from broker_core.broker.filtering.sql92 import compile_selector  # noqa: E402
from rocketmq_integration.client import (  # noqa: E402
    Admin,
    ClientConfig,
    ConsumeFromWhere,
    ConsumerConfig,
    ConsumeResult,
    LocalTransactionState,
    Message,
    MessageExt,
    Producer,
    PushConsumer,
    TransactionProducer,
)
from rocketmq_integration.logging import configure_logging  # noqa: E402
from tests.support.process import start_broker, start_namesrv  # noqa: E402

BROKER_CONF = {
    "flushDiskType": "ASYNC_FLUSH",
    "mappedFileSizeCommitLog": str(64 * 1024 * 1024),
    "enablePropertyFilter": "true",
}
CLIENT = ClientConfig(poll_name_server_interval=1.0, heartbeat_broker_interval=5.0)
CONSUMER = ConsumerConfig(
    consume_from_where=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET, rebalance_interval=2.0
)


def _name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


async def _topic(namesrv: str, broker: str, topic: str) -> None:
    async with Admin(namesrv) as admin:
        await admin.create_topic(topic, broker_addr=broker, read_queue_nums=4, write_queue_nums=4)
        await admin.wait_for_route(topic, min_write_queues=4, timeout=30.0)


async def _backlog(namesrv: str, topic: str, n: int, tagged: bool) -> None:
    async with Producer(_name("pg"), namesrv_addr=namesrv, client_config=CLIENT) as producer:
        sem = asyncio.Semaphore(64)
        body = b"x" * 256

        async def one(i: int) -> None:
            msg = Message(topic, body, properties={"a": str(i % 10), "idx": str(i)})
            if tagged:
                msg.tags = f"T{i % 10}"
            async with sem:
                await producer.send(msg)

        await asyncio.gather(*(one(i) for i in range(n)))


async def _drain(namesrv: str, topic: str, n: int, expression: str, expression_type: str) -> dict[str, Any]:
    expected = n // 10
    got = 0
    done = asyncio.Event()

    async def listener(msgs: list[MessageExt]) -> ConsumeResult:
        nonlocal got
        got += len(msgs)
        if got >= expected:
            done.set()
        return ConsumeResult.SUCCESS

    consumer = PushConsumer(_name("cg"), namesrv_addr=namesrv, client_config=CLIENT, config=CONSUMER)
    consumer.subscribe(topic, expression, expression_type=expression_type)
    consumer.register_listener(listener)
    start = time.perf_counter()
    await consumer.start()
    try:
        await asyncio.wait_for(done.wait(), 300)
    finally:
        elapsed = time.perf_counter() - start
        await consumer.shutdown()
    return {
        "scanned_per_s": round(n / elapsed),
        "delivered_per_s": round(got / elapsed),
        "delivered": got,
        "seconds": round(elapsed, 2),
    }


class _Commit:
    def execute_local_transaction(self, msg: Message, arg: object) -> LocalTransactionState:
        return LocalTransactionState.COMMIT_MESSAGE

    def check_local_transaction(self, msg: MessageExt) -> LocalTransactionState:
        return LocalTransactionState.COMMIT_MESSAGE


async def _tx_send(namesrv: str, topic: str, n: int, concurrency: int) -> dict[str, Any]:
    producer = TransactionProducer(_name("txpg"), _Commit(), namesrv_addr=namesrv, client_config=CLIENT)
    await producer.start()
    latencies: list[float] = []
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            t0 = time.perf_counter()
            await producer.send_message_in_transaction(Message(topic, b"y" * 256, properties={"i": str(i)}))
            latencies.append(time.perf_counter() - t0)

    try:
        await producer.send_message_in_transaction(Message(topic, b"warm-up"))
        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        elapsed = time.perf_counter() - start
    finally:
        await producer.shutdown()
    latencies.sort()
    return {
        "tx_per_s": round(n / elapsed),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        "seconds": round(elapsed, 2),
    }


def _eval_rate() -> dict[str, Any]:
    selector = compile_selector("a BETWEEN 0 AND 3 AND region = 'eu' OR TAGS IN ('A', 'B')")
    props = {"a": "7", "region": "eu", "TAGS": "C", "UNIQ_KEY": "X" * 32, "KEYS": "k"}
    n = 200_000
    t0 = time.perf_counter()
    for _ in range(n):
        selector.matches(props)
    elapsed = time.perf_counter() - t0
    c0 = time.perf_counter()
    for i in range(2000):
        compile_selector.__wrapped__(f"a BETWEEN {i} AND {i + 3} AND region = 'eu'")
    compile_us = (time.perf_counter() - c0) / 2000 * 1e6
    return {"evals_per_s": round(n / elapsed), "compile_us": round(compile_us, 1)}


async def _main(args: argparse.Namespace, namesrv: str, broker: str) -> dict[str, Any]:
    out: dict[str, Any] = {"eval": _eval_rate()}
    sql_topic, tag_topic, tx_topic = _name("BenchSql"), _name("BenchTag"), _name("BenchTx")
    for t in (sql_topic, tag_topic, tx_topic):
        await _topic(namesrv, broker, t)
    await _backlog(namesrv, sql_topic, args.messages, tagged=False)
    await _backlog(namesrv, tag_topic, args.messages, tagged=True)
    out["sql-consume"] = await _drain(namesrv, sql_topic, args.messages, "a = 0", "SQL92")
    out["tag-consume"] = await _drain(namesrv, tag_topic, args.messages, "T0", "TAG")
    out["tx-send"] = await _tx_send(namesrv, tx_topic, args.tx, args.concurrency)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--tx", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    configure_logging("WARNING")
    workdir = Path(tempfile.mkdtemp(prefix="rmq-bench-filter-"))
    namesrv = start_namesrv(workdir)
    try:
        broker = start_broker(workdir, namesrv, conf=BROKER_CONF, default_conf=False)
        try:
            results = asyncio.run(_main(args, namesrv.addr, broker.addr))
        finally:
            broker.stop()
    finally:
        namesrv.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    for name, row in results.items():
        print(f"{name:12s} " + "  ".join(f"{k}={v}" for k, v in row.items()))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
