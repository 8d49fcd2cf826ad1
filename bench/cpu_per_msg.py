#!/usr/bin/env python3
"""Broker CPU per message: µs of broker CPU for each 1 KiB message, Apache RocketMQ 4.9.8 and ours.

Both brokers run side by side (each with its own NameServer, ASYNC_FLUSH). Every scenario gets a new
8-queue topic on each broker, runs ``--warmup`` seconds, then is measured for ``--seconds``: broker
CPU (user + system, all threads, ``/proc/PID/stat``) and messages stored (sum of the topic's max
offsets, read from the broker) at the start and end of the window; with a consumer, the messages
it consumed in the window as well (GET_CONSUMER_RUNNING_INFO offsets, relayed by the broker).

============ ====================================================================================
rate         our client (a subprocess, 32 concurrent sync senders paced to ``--rate`` msgs/s)
rate+cons    the same plus a consumer (Java benchmark Consumer, else our PushConsumer)
sat          Java benchmark Producer ``-w 64`` (else 2 processes of our client, unpaced)
sat+cons     Java Producer ``-w 16`` + Java Consumer (else our client, unpaced, + PushConsumer)
============ ====================================================================================

Reported per scenario and broker: produced msgs/s, consumed msgs/s, broker CPU share (CPU s per
wall s), and CPU-µs per message (broker CPU / messages produced; with a consumer each message is
produced and consumed once). The machine is shared and noisy: compare the two brokers within a run.
Without ``ROCKETMQ_ORACLE_HOME`` (or ``--rmq``) the Apache rows print ``n/a`` with the reason and
our client stands in for the Java one. Usage::

    python bench/cpu_per_msg.py [--rate 5000] [--seconds 20] [--warmup 6] [--only rate,sat]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))

from oracle_support import (  # noqa: E402
    GroupProgress,
    Target,
    cpu_seconds,
    java_client,
    max_offsets,
    oracle_home,
    oracle_status,
    start_apache,
    start_ours,
    stop_process,
    wait_registered,
)

from broker_core.admin.client import MQAdmin  # noqa: E402
from tests.support.admin import ensure_topic  # noqa: E402
from tests.support.process import server_env  # noqa: E402

SCENARIOS = ("rate", "rate+cons", "sat", "sat+cons")
QUEUES = 8


# ------------------------------------------------------------------------------------------ children
def child_producer(namesrv: str, topic: str, rate: float, body_size: int, senders: int) -> int:
    """Send until killed; paced to ``rate`` msgs/s (0 = as fast as ``senders`` sync senders go)."""
    from rocketmq_integration.client import Message, Producer
    from rocketmq_integration.logging import configure_logging

    configure_logging("ERROR")
    body = (b"abcdefghijklmnopqrstuvwxyz0123456789" * (body_size // 36 + 1))[:body_size]
    counter = itertools.count()

    async def sender(producer: Producer, t0: float) -> None:
        loop = asyncio.get_running_loop()
        while True:
            i = next(counter)
            if rate > 0:
                delay = t0 + i / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            try:
                await producer.send(Message(topic, body), timeout=10)
            except Exception:
                await asyncio.sleep(0.1)

    async def main() -> None:
        async with Producer(f"cpu_pg_{uuid.uuid4().hex[:6]}", namesrv_addr=namesrv) as producer:
            await producer.send(Message(topic, body))  # route + connection before pacing starts
            t0 = asyncio.get_running_loop().time()
            await asyncio.gather(*(sender(producer, t0) for _ in range(senders)))

    asyncio.run(main())
    return 0


def child_consumer(namesrv: str, topic: str, group: str) -> int:
    """PushConsumer with an async no-op listener, until killed."""
    from rocketmq_integration.client import ConsumerConfig, ConsumeResult, MessageExt, PushConsumer
    from rocketmq_integration.logging import configure_logging

    configure_logging("ERROR")

    async def listener(msgs: list[MessageExt]) -> ConsumeResult:
        return ConsumeResult.SUCCESS

    async def main() -> None:
        config = ConsumerConfig(offset_store_dir=Path(tempfile.mkdtemp(prefix="cpu-py-")))
        consumer = PushConsumer(group, namesrv_addr=namesrv, config=config)
        consumer.subscribe(topic, "*")
        consumer.register_listener(listener)
        await consumer.start()
        await asyncio.Event().wait()

    asyncio.run(main())
    return 0


def _py(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, __file__, *args], stdout=out, stderr=subprocess.STDOUT, env=server_env(),
            start_new_session=True,
        )  # fmt: skip


# -------------------------------------------------------------------------------------------- runner
def run_scenario(
    args: argparse.Namespace, home: Path | None, target: Target, name: str, work: Path
) -> dict[str, Any]:
    topic = f"Cpu{name.replace('+', '')}{uuid.uuid4().hex[:6]}"
    ensure_topic(target.broker, target.namesrv, topic, queues=QUEUES, timeout=60)
    java = home is not None
    procs: list[subprocess.Popen[bytes]] = []
    group = f"cpu_cg_{uuid.uuid4().hex[:6]}"
    consumer = name.endswith("+cons")
    label = f"{target.kind}-{name}"
    producer_desc = consumer_desc = ""
    try:
        if consumer:
            if java:
                assert home is not None
                procs.append(java_client(home, "Consumer", target.namesrv, ["-t", topic, "-w", "20", "-g", group],
                                         work / f"{label}-consumer.log", work))  # fmt: skip
                consumer_desc = "Java Consumer -w 20"
            else:
                procs.append(
                    _py(["--child-consumer", target.namesrv, topic, group], work / f"{label}-consumer.log")
                )
                consumer_desc = "our PushConsumer"
        if name.startswith("rate"):
            procs.append(_py(["--child-producer", target.namesrv, topic, str(args.rate), str(args.body_size), "32"],
                             work / f"{label}-producer.log"))  # fmt: skip
            producer_desc = f"our client paced to {args.rate:g}/s"
        elif java:
            assert home is not None
            threads = "16" if consumer else "64"
            procs.append(java_client(home, "Producer", target.namesrv,
                                     ["-t", topic, "-w", threads, "-s", str(args.body_size)],
                                     work / f"{label}-producer.log", work))  # fmt: skip
            producer_desc = f"Java Producer -w {threads}"
        else:
            for n in range(1 if consumer else 2):
                procs.append(_py(["--child-producer", target.namesrv, topic, "0", str(args.body_size), "64"],
                                 work / f"{label}-producer-{n}.log"))  # fmt: skip
            producer_desc = f"{1 if consumer else 2} x our client, 64 senders, unpaced"
        time.sleep(args.warmup)
        with MQAdmin(target.namesrv) as admin:
            progress = GroupProgress(target, group, topic, [0] * QUEUES) if consumer else None
            try:
                c0 = progress.consumed()[0] if progress else 0
                p0 = sum(max_offsets(admin, target, topic, QUEUES))
                cpu0, t0 = cpu_seconds(target.broker_pid), time.monotonic()
                time.sleep(args.seconds)
                cpu1, t1 = cpu_seconds(target.broker_pid), time.monotonic()
                p1 = sum(max_offsets(admin, target, topic, QUEUES))
                c1 = progress.consumed()[0] if progress else 0
            finally:
                if progress:
                    progress.close()
    finally:
        for p in procs:
            stop_process(p)
    wall, cpu, produced = t1 - t0, cpu1 - cpu0, p1 - p0
    res: dict[str, Any] = {
        "target": target.kind, "scenario": name, "producer": producer_desc, "consumer": consumer_desc,
        "seconds": round(wall, 1), "produced": produced, "consumed": c1 - c0 if consumer else None,
        "produce_msgs_per_s": round(produced / wall), "broker_cpu_share": round(cpu / wall, 2),
    }  # fmt: skip
    # per message moved: with a consumer, the mean of produced and consumed (a consumer that is still
    # catching up on the warm-up backlog makes the broker do more than the produced count says)
    moved = (produced + c1 - c0) / 2 if consumer else produced
    res["broker_cpu_us_per_msg"] = round(cpu * 1e6 / moved, 1) if moved > 0 else None
    if consumer:
        res["consume_msgs_per_s"] = round((c1 - c0) / wall)
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--rate", type=float, default=5000.0, help="msgs/s of the paced scenarios")
    ap.add_argument("--seconds", type=float, default=20.0, help="measured window per scenario")
    ap.add_argument("--warmup", type=float, default=6.0, help="seconds before the window opens")
    ap.add_argument("--jit-warmup", type=float, default=10.0, help="unpaced sends per broker first")
    ap.add_argument("--body-size", type=int, default=1024)
    ap.add_argument("--only", default="", help=f"comma-separated subset of {','.join(SCENARIOS)}")
    ap.add_argument("--targets", default="apache,ours")
    ap.add_argument("--rmq", help="Apache build folder (default $ROCKETMQ_ORACLE_HOME)")
    ap.add_argument("--json", help="write the raw results here")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (logs, stores)")
    ap.add_argument("--child-producer", nargs=5, help=argparse.SUPPRESS)
    ap.add_argument("--child-consumer", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child_producer:
        ns, topic, rate, size, senders = args.child_producer
        return child_producer(ns, topic, float(rate), int(size), int(senders))
    if args.child_consumer:
        return child_consumer(*args.child_consumer)

    home = oracle_home(args.rmq)
    why = oracle_status(home)
    if why:
        home = None
    names = [n for n in args.only.split(",") if n] or list(SCENARIOS)
    kinds = [k for k in args.targets.split(",") if k]
    work = Path(tempfile.mkdtemp(prefix="cpu-bench-"))
    print(f"# broker CPU per message: {args.body_size} B, rate {args.rate:g}/s, window {args.seconds:g} s "
          f"after {args.warmup:g} s warm-up; work={work}", flush=True)  # fmt: skip
    running: dict[str, Target] = {}
    na: dict[str, str] = {}
    results: list[dict[str, Any]] = []
    try:
        for kind in kinds:
            if kind == "apache" and why:
                na[kind] = why
                continue
            try:
                if kind == "apache":
                    assert home is not None
                    t = start_apache(home, work / "apache")
                else:
                    t = start_ours(work / "ours")
                running[kind] = t
                wait_registered(t)
            except Exception as exc:
                na[kind] = f"start failed: {exc}"[:300]
        for kind, t in running.items():
            topic = f"CpuWarm{uuid.uuid4().hex[:6]}"
            ensure_topic(t.broker, t.namesrv, topic, queues=QUEUES, timeout=60)
            warm = _py(
                ["--child-producer", t.namesrv, topic, "0", str(args.body_size), "64"],
                work / f"{kind}-warm.log",
            )
            time.sleep(args.jit_warmup)
            stop_process(warm)
        for i, name in enumerate(names):
            order = list(running) if i % 2 == 0 else list(reversed(running))
            for kind in order:
                try:
                    r = run_scenario(args, home, running[kind], name, work)
                except Exception as exc:
                    r = {"target": kind, "scenario": name, "error": f"{type(exc).__name__}: {exc}"[:300]}
                results.append(r)
                print(json.dumps(r), flush=True)
    finally:
        for t in running.values():
            t.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\n{'scenario':10} {'broker':7} {'prod/s':>8} {'cons/s':>8} {'CPU share':>9} {'CPU-us/msg':>10}  "
          "ours/apache CPU-us  (clients)")  # fmt: skip
    for name in names:
        by = {r["target"]: r for r in results if r["scenario"] == name}
        for kind in kinds:
            r = by.get(kind)
            if r is None or "error" in r:
                print(f"{name:10} {kind:7} {'n/a':>8}  {na.get(kind) or (r or {}).get('error', 'not run')}")
                continue
            ratio = ""
            a = by.get("apache", {})
            if kind == "ours" and a.get("broker_cpu_us_per_msg") and r.get("broker_cpu_us_per_msg"):
                ratio = f"{r['broker_cpu_us_per_msg'] / a['broker_cpu_us_per_msg']:.2f}"
            cons = r.get("consume_msgs_per_s")
            print(
                f"{name:10} {kind:7} {r['produce_msgs_per_s']:>8} {cons if cons is not None else '-':>8} "
                f"{r['broker_cpu_share']:>9} {r['broker_cpu_us_per_msg'] or '-':>10}  {ratio:>6}  "
                f"({r['producer']}{'; ' + r['consumer'] if r['consumer'] else ''})"
            )
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "n/a": na}, indent=2))
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
