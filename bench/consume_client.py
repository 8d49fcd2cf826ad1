#!/usr/bin/env python3
"""Consume benchmark: our client vs the official C++ client, concurrent and orderly, plus latency.

Standalone (``python bench/consume_client.py``; ``make bench`` runs bench/run_all.py, this one is
its consumption companion). A fresh NameServer and Broker (ASYNC_FLUSH, temp store) are started,
one 8-queue topic is filled with ``--messages`` bodies of ``--body-size`` bytes by our producer,
and each throughput scenario drains that whole backlog with a new consumer group:

================ ===========================================================================
py-concurrent    ``PushConsumer``, async no-op listener, CONCURRENTLY
py-orderly       ``PushConsumer``, async no-op listener, ORDERLY (queue locks, one call per queue)
cpp-concurrent   ``tests/interop/cpp_client.py consume`` (official C++ PushConsumer)
cpp-orderly      the same with ``--orderly``
py-latency       an idle, caught-up PushConsumer (long polling) receives ``--latency-messages``
                 sent at ``--latency-rate`` msgs/s; latency = receive time - born timestamp
cpp-latency      the same with the C++ consumer (its ``received_at`` - born timestamp)
================ ===========================================================================

Throughput is messages / (last message received - consumer start), so it includes start-up and
rebalance. Prints one line per scenario and, with ``--json``, writes the figures. A scenario that
cannot run (C++ client not loadable) prints ``n/a``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from rocketmq_integration.client import (  # noqa: E402
    ConsumeFromWhere,
    ConsumerConfig,
    ConsumeResult,
    ListenerKind,
    Message,
    MessageExt,
    Producer,
    PushConsumer,
)
from rocketmq_integration.logging import configure_logging  # noqa: E402
from tests.support.admin import ensure_topic  # noqa: E402
from tests.support.cpp import CPP_CLIENT, cpp_client_status  # noqa: E402
from tests.support.payloads import fixed_body  # noqa: E402
from tests.support.process import server_env, start_broker, start_namesrv  # noqa: E402

BROKER_CONF = {
    "flushDiskType": "ASYNC_FLUSH",
    "mappedFileSizeCommitLog": str(64 * 1024 * 1024),
    "mappedFileSizeConsumeQueue": str(300_000 * 20),
    "autoCreateTopicEnable": "true",
}


class NotAvailable(Exception):
    pass


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))])


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path, namesrv: str, broker: str) -> None:
        self.args = args
        self.workdir = workdir
        self.namesrv = namesrv
        self.broker = broker
        self.topic = ""

    def new_topic(self, prefix: str) -> str:
        topic = f"{prefix}_{uuid.uuid4().hex[:8]}"
        ensure_topic(self.broker, self.namesrv, topic, queues=8, timeout=30)
        return topic

    async def _send(self, topic: str, count: int, rate: float = 0.0, concurrency: int = 64) -> None:
        body = fixed_body(self.args.body_size)
        async with Producer(f"bench_cons_pg_{uuid.uuid4().hex[:6]}", namesrv_addr=self.namesrv) as producer:
            if rate:
                t0 = time.monotonic()
                for i in range(count):
                    await asyncio.sleep(max(0.0, t0 + i / rate - time.monotonic()))
                    await producer.send(Message(topic, body, properties={"i": str(i)}))
                return
            sem = asyncio.Semaphore(concurrency)

            async def one(i: int) -> None:
                async with sem:
                    await producer.send(Message(topic, body, properties={"i": str(i)}))

            await asyncio.gather(*(one(i) for i in range(count)))

    def fill(self) -> None:
        self.topic = self.new_topic("BenchConsume")
        asyncio.run(self._send(self.topic, self.args.messages))

    # ------------------------------------------------------------------------- our client
    async def _py_consume(
        self, kind: ListenerKind, topic: str, count: int, on_msg: Callable[[MessageExt], None] | None
    ) -> tuple[int, float]:
        seen: set[tuple[int, int]] = set()
        done = asyncio.Event()

        async def listener(msgs: list[MessageExt]) -> ConsumeResult:
            for m in msgs:
                seen.add((m.queue_id, m.queue_offset))
                if on_msg is not None:
                    on_msg(m)
            if len(seen) >= count:
                done.set()
            return ConsumeResult.SUCCESS

        config = ConsumerConfig(consume_from_where=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET)
        consumer = PushConsumer(
            f"bench_py_{kind.value.lower()}_{uuid.uuid4().hex[:6]}", namesrv_addr=self.namesrv, config=config
        )
        consumer.subscribe(topic)
        consumer.register_listener(listener, kind)
        t0 = time.perf_counter()
        await consumer.start()
        try:
            await asyncio.wait_for(done.wait(), self.args.scenario_timeout)
            return len(seen), time.perf_counter() - t0
        finally:
            await consumer.shutdown()

    def py_throughput(self, kind: ListenerKind) -> dict[str, float]:
        n, elapsed = asyncio.run(self._py_consume(kind, self.topic, self.args.messages, None))
        return {"msgs_per_s": n / elapsed, "messages": n}

    def py_latency(self) -> dict[str, float]:
        topic = self.new_topic("BenchLatPy")
        lat: list[float] = []

        def record(m: MessageExt) -> None:
            lat.append(time.time() * 1000 - m.born_timestamp)

        async def main() -> None:
            consume = asyncio.create_task(
                self._py_consume(ListenerKind.CONCURRENTLY, topic, self.args.latency_messages, record)
            )
            await asyncio.sleep(3.0)  # started, rebalanced, every queue long-polling
            await self._send(topic, self.args.latency_messages, rate=self.args.latency_rate)
            await consume

        asyncio.run(main())
        return {"p50_ms": percentile(lat, 0.5), "p99_ms": percentile(lat, 0.99), "messages": len(lat)}

    # ------------------------------------------------------------------------ C++ client
    def _cpp_argv(self, topic: str, count: int, orderly: bool, quiet: bool) -> list[str]:
        reason = cpp_client_status()
        if reason:
            raise NotAvailable(reason)
        t = self.args.scenario_timeout
        return [
            sys.executable, str(CPP_CLIENT), "consume", "--namesrv", self.namesrv, "--topic", topic,
            "--group", f"bench_cpp_{uuid.uuid4().hex[:6]}", "--expect", str(count), "--timeout", str(t),
            "--deadline", str(t + 30), "--home", str(self.workdir / "cpp-home"), "--log-level", "warn",
        ] + (["--orderly"] if orderly else []) + (["--quiet"] if quiet else [])  # fmt: skip

    def _events(self, out: Path) -> list[dict[str, Any]]:
        return [json.loads(x) for x in out.read_text().splitlines() if x.startswith("{")]

    def cpp_throughput(self, orderly: bool) -> dict[str, float]:
        argv = self._cpp_argv(self.topic, self.args.messages, orderly, quiet=True)
        env = server_env({"HOME": str(self.workdir / "cpp-home")})
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=self.args.scenario_timeout + 45, env=env
        )
        events = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
        started = next(e for e in events if e.get("event") == "started")["at"]
        summary = next(e for e in events if e.get("event") == "summary")
        if summary.get("timed_out"):
            raise RuntimeError(f"C++ consumer timed out: {summary}")
        return {
            "msgs_per_s": summary["received"] / (summary["last_message_at"] - started),
            "messages": summary["received"],
        }

    def cpp_latency(self) -> dict[str, float]:
        topic = self.new_topic("BenchLatCpp")
        argv = self._cpp_argv(topic, self.args.latency_messages, False, quiet=False)
        out = self.workdir / "cpp-latency.jsonl"
        env = server_env({"HOME": str(self.workdir / "cpp-home")})
        with out.open("w") as fh:
            proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.DEVNULL, env=env)
        try:
            deadline = time.monotonic() + 30
            while not any(e.get("event") == "started" for e in self._events(out)):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("C++ consumer did not start")
                time.sleep(0.1)
            time.sleep(3.0)
            asyncio.run(self._send(topic, self.args.latency_messages, rate=self.args.latency_rate))
            proc.wait(self.args.scenario_timeout)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        lat = [
            e["received_at"] * 1000 - e["born_timestamp"]
            for e in self._events(out)
            if e.get("event") == "message" and not e.get("duplicate")
        ]
        return {"p50_ms": percentile(lat, 0.5), "p99_ms": percentile(lat, 0.99), "messages": len(lat)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=20000)
    p.add_argument("--body-size", type=int, default=1024)
    p.add_argument("--latency-messages", type=int, default=1000)
    p.add_argument("--latency-rate", type=float, default=200.0, help="msgs/s sent in the latency scenarios")
    p.add_argument("--scenario-timeout", type=float, default=180.0)
    p.add_argument("--only", default="", help="comma-separated scenario names")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args()
    configure_logging("WARNING")
    workdir = Path(tempfile.mkdtemp(prefix="rmq-bench-consume-"))
    namesrv = start_namesrv(workdir)
    results: dict[str, dict[str, Any]] = {}
    try:
        broker = start_broker(workdir, namesrv, conf=BROKER_CONF, default_conf=False)
        try:
            bench = Bench(args, workdir, namesrv.addr, broker.addr)
            t0 = time.perf_counter()
            bench.fill()
            print(
                f"backlog: {args.messages} x {args.body_size} B in {time.perf_counter() - t0:.1f}s",
                flush=True,
            )
            scenarios: dict[str, Callable[[], dict[str, float]]] = {
                "py-concurrent": lambda: bench.py_throughput(ListenerKind.CONCURRENTLY),
                "py-orderly": lambda: bench.py_throughput(ListenerKind.ORDERLY),
                "cpp-concurrent": lambda: bench.cpp_throughput(False),
                "cpp-orderly": lambda: bench.cpp_throughput(True),
                "py-latency": bench.py_latency,
                "cpp-latency": bench.cpp_latency,
            }
            only = [s for s in args.only.split(",") if s]
            for name, fn in scenarios.items():
                if only and name not in only:
                    continue
                try:
                    results[name] = {"status": "ok", **fn()}
                except NotAvailable as exc:
                    results[name] = {"status": "n/a", "reason": str(exc)}
                except Exception as exc:  # one broken scenario must not hide the others
                    results[name] = {"status": "error", "reason": f"{type(exc).__name__}: {exc}"[:300]}
                r = results[name]
                shown = " ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items())
                print(f"{name:15s} {shown}", flush=True)
        finally:
            broker.cleanup(timeout=15)
    finally:
        namesrv.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0 if all(r["status"] != "error" for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
