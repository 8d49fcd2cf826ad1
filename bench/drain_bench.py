#!/usr/bin/env python3
"""Drain benchmark: time to consume a fixed backlog, Apache RocketMQ 4.9.8 and our broker in one run.

Both brokers run side by side (each with its own NameServer, ASYNC_FLUSH, 1 GiB commit-log
segments). One topic with ``--queues`` queues (default 8) gets the same backlog on each: ``--messages``
(default 1,000,000) bodies of ``--body-size`` bytes (default 1 KiB), filled by our client with batch
sends (``--fill py``, fastest) or by the Java benchmark Producer (``--fill java``). Then every consumer
client drains the whole backlog once per broker and round, each time as a NEW consumer group (a new
group starts at offset 0 on both brokers: min offset 0, data in the page cache):

=========== ============================================================================
java        ``org.apache.rocketmq.example.benchmark.Consumer -w 20`` (the Java benchmark Consumer)
py          ``rocketmq_integration.client.PushConsumer`` (async no-op listener) in a subprocess,
            one message per listener call like the Java Consumer
py32        the same with ``consume_message_batch_max_size=32`` (our client's fastest setting)
=========== ============================================================================

How "drained" is measured, the same way for every client and broker: every 100 ms the driver asks
the broker for the consumer's running info (GET_CONSUMER_RUNNING_INFO, relayed to the client), whose
per-queue ``commitOffset`` is the client's in-memory consume offset (it moves when a listener call
returns). The clock starts when the consumer process is started; ``first`` is the first poll that
sees an offset above 0, ``done`` the first poll where every queue's offset reached the queue's max
offset. Reported: ``total_s`` = done - start (includes JVM/interpreter start and rebalance),
``active_s`` = done - first, messages/s = backlog / active_s, broker CPU seconds over the drain
(``/proc/PID/stat``) and broker CPU-µs per consumed message.

Rounds alternate the broker order. Without ``ROCKETMQ_ORACLE_HOME`` (or ``--rmq``) the Apache rows and
the java client print ``n/a`` with the reason. Usage::

    python bench/drain_bench.py [--messages 1000000] [--rounds 1] [--clients java,py,py32]
                                [--targets apache,ours] [--fill py|java] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import statistics
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

POLL_S = 0.1


# ------------------------------------------------------------------------------------------ filling
def fill_py(
    target: Target, topic: str, messages: int, body_size: int, batch: int = 32, tasks: int = 8
) -> float:
    """Send ``messages`` bodies with our client's batch send; returns the seconds taken."""
    from rocketmq_integration.client import Message, Producer
    from rocketmq_integration.logging import configure_logging

    configure_logging("WARNING")
    body = (b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" * (body_size // 62 + 1))[
        :body_size
    ]
    todo = [messages]

    async def worker(producer: Producer) -> None:
        while todo[0] > 0:
            n = min(batch, todo[0])
            todo[0] -= n
            for attempt in range(100):  # Apache answers "broker busy" (flow control) under load
                try:
                    await producer.send_batch([Message(topic, body) for _ in range(n)], timeout=30)
                    break
                except Exception:
                    if attempt == 99:
                        raise
                    await asyncio.sleep(0.1)

    async def main() -> float:
        async with Producer(f"drain_fill_{uuid.uuid4().hex[:6]}", namesrv_addr=target.namesrv) as producer:
            t0 = time.perf_counter()
            await asyncio.gather(*(worker(producer) for _ in range(tasks)))
            return time.perf_counter() - t0

    return asyncio.run(main())


def fill_java(home: Path, target: Target, topic: str, messages: int, body_size: int, work: Path) -> float:
    t0 = time.perf_counter()
    proc = java_client(
        home, "Producer", target.namesrv, ["-t", topic, "-w", "32", "-s", str(body_size), "-q", str(messages)],
        work / f"{target.kind}-fill-producer.log", work,
    )  # fmt: skip
    try:
        proc.wait(3600)
    finally:
        stop_process(proc)
    return time.perf_counter() - t0


def wait_backlog(target: Target, topic: str, queues: int, expect: int, timeout: float = 120) -> list[int]:
    """Max offsets once the consume queues hold ``expect`` units (dispatch is asynchronous)."""
    deadline = time.monotonic() + timeout
    with MQAdmin(target.namesrv) as admin:
        while True:
            offs = max_offsets(admin, target, topic, queues)
            if sum(offs) >= expect or time.monotonic() > deadline:
                return offs
            time.sleep(0.2)


# ------------------------------------------------------------------------------------------ polling
def run_drain(
    args: argparse.Namespace, home: Path | None, target: Target, client: str, topic: str, maxes: list[int],
    work: Path, label: str,
) -> dict[str, Any]:  # fmt: skip
    group = f"drain_{client}_{label}_{uuid.uuid4().hex[:6]}"
    backlog = sum(maxes)
    log = work / f"{target.kind}-{client}-{label}.log"
    watch = GroupProgress(target, group, topic, maxes)
    spy = None
    if args.py_spy and target.kind == "ours":
        out = Path(args.py_spy).with_suffix(f".{client}-{label}.txt")
        spy = subprocess.Popen(
            [shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy", "record", "--nonblocking", "-r", "200", "-f", "raw", "-o", str(out), "-p", str(target.broker_pid)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )  # fmt: skip
    cpu0 = cpu_seconds(target.broker_pid)
    t_start = time.monotonic()
    if client == "java":
        assert home is not None
        proc = java_client(
            home, "Consumer", target.namesrv, ["-t", topic, "-w", "20", "-g", group], log, work
        )
    else:
        batch = client[2:] or "1"  # "py32": consume_message_batch_max_size 32
        argv = [
            sys.executable,
            __file__,
            "--child-py",
            target.namesrv,
            topic,
            group,
            str(backlog),
            "--py-batch",
            batch,
        ]
        with log.open("wb") as out:
            proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, env=server_env(), start_new_session=True
            )
    t_first: float | None = None
    t_done: float | None = None
    seen = 0
    timeline: list[tuple[float, int]] = []  # (seconds since start, consumed), about one per second
    try:
        deadline = t_start + args.drain_timeout
        while time.monotonic() < deadline:
            seen, done = watch.consumed()
            now = time.monotonic()
            if seen > 0 and t_first is None:
                t_first = now
            if not timeline or now - t_start - timeline[-1][0] >= 1.0:
                timeline.append((round(now - t_start, 1), seen))
            if done:
                t_done = now
                break
            if proc.poll() is not None:
                break
            time.sleep(max(0.0, POLL_S - (time.monotonic() - now)))
    finally:
        cpu = cpu_seconds(target.broker_pid) - cpu0
        watch.close()
        stop_process(proc)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
    res: dict[str, Any] = {"target": target.kind, "client": client, "round": label, "backlog": backlog}
    if t_done is None or t_first is None:
        tail = log.read_text(errors="replace")[-600:] if log.exists() else ""
        return {
            **res,
            "status": "error",
            "reason": f"not drained in {args.drain_timeout}s (seen {seen}): {tail}",
        }
    active = max(t_done - t_first, 1e-3)
    return {
        **res, "status": "ok", "total_s": round(t_done - t_start, 2), "active_s": round(active, 2),
        "msgs_per_s": round(backlog / active), "broker_cpu_s": round(cpu, 2),
        "broker_cpu_us_per_msg": round(cpu * 1e6 / backlog, 1), "timeline": timeline,
    }  # fmt: skip


# --------------------------------------------------------------------------------- child: our client
def child_py(namesrv: str, topic: str, group: str, expect: int, batch: int = 1) -> int:
    from rocketmq_integration.client import ConsumerConfig, ConsumeResult, MessageExt, PushConsumer
    from rocketmq_integration.logging import configure_logging

    configure_logging("WARNING")

    async def main() -> None:
        seen = 0
        done = asyncio.Event()

        async def listener(msgs: list[MessageExt]) -> ConsumeResult:
            nonlocal seen
            seen += len(msgs)
            if seen >= expect:
                done.set()
            return ConsumeResult.SUCCESS

        config = ConsumerConfig(
            offset_store_dir=Path(tempfile.mkdtemp(prefix="drain-py-")), consume_message_batch_max_size=batch
        )
        consumer = PushConsumer(group, namesrv_addr=namesrv, config=config)
        consumer.subscribe(topic, "*")
        consumer.register_listener(listener)
        t0 = time.time()
        await consumer.start()
        try:
            await asyncio.wait_for(done.wait(), 3600)
            print(json.dumps({"event": "drained", "received": seen, "seconds": time.time() - t0}), flush=True)
            await asyncio.sleep(30)  # stay up (offsets visible) until the driver stops us
        finally:
            await consumer.shutdown()

    asyncio.run(main())
    return 0


# ------------------------------------------------------------------------------------------- driver
def summarise(
    results: list[dict[str, Any]], targets: list[str], clients: list[str], na: dict[str, str]
) -> None:
    print(
        "\nclient  broker   drained msgs  active s  total s   msgs/s  broker CPU-us/msg  runs   ours/apache (time)"
    )
    for client in clients:
        med: dict[str, dict[str, float]] = {}
        for kind in targets:
            key = f"{kind}/{client}"
            oks = [
                r for r in results if r["target"] == kind and r["client"] == client and r["status"] == "ok"
            ]
            if key in na or not oks:
                reason = na.get(key) or next(
                    (r["reason"][:100] for r in results if r["target"] == kind and r["client"] == client),
                    "not run",
                )
                print(f"{client:7} {kind:8} {'n/a':>13}  {reason}")
                continue
            m = {
                k: statistics.median(r[k] for r in oks)
                for k in ("active_s", "total_s", "msgs_per_s", "broker_cpu_us_per_msg")
            }
            med[kind] = m
            ratio = ""
            if kind == "ours" and "apache" in med:
                ratio = f"{med['apache']['active_s'] / m['active_s']:.2f} (total {med['apache']['total_s'] / m['total_s']:.2f})"
            print(
                f"{client:7} {kind:8} {oks[0]['backlog']:>13} {m['active_s']:9.2f} {m['total_s']:8.2f} "
                f"{m['msgs_per_s']:8.0f} {m['broker_cpu_us_per_msg']:18.1f} {len(oks):5}   {ratio}"
            )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--body-size", type=int, default=1024)
    ap.add_argument("--queues", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--targets", default="apache,ours")
    ap.add_argument("--clients", default="java,py,py32")
    ap.add_argument("--py-batch", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--fill", choices=("py", "java"), default="py")
    ap.add_argument("--rmq", help=f"Apache build folder (default ${'ROCKETMQ_ORACLE_HOME'})")
    ap.add_argument("--drain-timeout", type=float, default=600.0)
    ap.add_argument("--json", help="write the raw results here")
    ap.add_argument(
        "--py-spy",
        metavar="PREFIX",
        help="record our broker with py-spy during each drain (raw folded stacks)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the work folder (logs, stores)")
    ap.add_argument(
        "--child-py", nargs=4, metavar=("NAMESRV", "TOPIC", "GROUP", "EXPECT"), help=argparse.SUPPRESS
    )
    args = ap.parse_args(argv)
    if args.child_py:
        ns, topic, group, expect = args.child_py
        return child_py(ns, topic, group, int(expect), args.py_batch)

    home = oracle_home(args.rmq)
    why = oracle_status(home)
    targets = [t for t in args.targets.split(",") if t]
    clients = [c for c in args.clients.split(",") if c]
    na: dict[str, str] = {}
    if why:
        for c in clients:
            na[f"apache/{c}"] = why
        if "java" in clients:
            na["ours/java"] = f"Java benchmark Consumer: {why}"
    if args.fill == "java" and why:
        print(f"--fill java needs the Apache build ({why})", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="drain-bench-"))
    print(
        f"# drain: {args.messages} x {args.body_size} B, {args.queues} queues, fill={args.fill}, "
        f"rounds={args.rounds}, work={work}",
        flush=True,
    )
    running: dict[str, Target] = {}
    results: list[dict[str, Any]] = []
    topic = f"Drain{uuid.uuid4().hex[:6]}"
    try:
        for kind in targets:
            if kind == "apache" and why:
                continue
            try:
                if kind == "apache":
                    assert home is not None
                    t = start_apache(home, work / "apache")
                else:
                    t = start_ours(work / "ours")
                running[kind] = t
                wait_registered(t)
                ensure_topic(t.broker, t.namesrv, topic, queues=args.queues, timeout=60)
            except Exception as exc:
                for c in clients:
                    na[f"{kind}/{c}"] = f"start failed: {exc}"[:300]
        maxes: dict[str, list[int]] = {}
        for kind, t in running.items():
            if args.fill == "java":
                assert home is not None
                secs = fill_java(home, t, topic, args.messages, args.body_size, work)
            else:
                secs = fill_py(t, topic, args.messages, args.body_size)
            maxes[kind] = wait_backlog(t, topic, args.queues, args.messages)
            print(json.dumps({"target": kind, "fill_s": round(secs, 1), "fill_msgs_per_s": round(args.messages / secs),
                              "backlog": sum(maxes[kind]), "max_offsets": maxes[kind]}), flush=True)  # fmt: skip
        for rnd in range(1, args.rounds + 1):
            order = list(running) if rnd % 2 else list(reversed(running))
            for client in clients:
                for kind in order:
                    if f"{kind}/{client}" in na:
                        continue
                    r = run_drain(args, home, running[kind], client, topic, maxes[kind], work, f"r{rnd}")
                    results.append(r)
                    print(json.dumps(r), flush=True)
    finally:
        for t in running.values():
            t.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    summarise(results, targets, clients, na)
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "n/a": na}, indent=2))
    return 0 if all(r["status"] == "ok" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
