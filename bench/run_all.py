#!/usr/bin/env python3
"""End-to-end benchmark: what ``make bench`` runs.

For each run (default 3) a fresh NameServer and Broker are started as subprocesses
(``python -m broker_core``; ASYNC_FLUSH, 64 MiB commit-log segments, store in a temp dir), then the
scenarios run in order, each against its own topic:

============== ==========================================================================
cpp-produce    official C++ client: ``--producers`` processes, sync send of ``--body-size`` bodies
cpp-consume    C++ PushConsumer (new group) drains the backlog cpp-produce left
py-produce     ``rocketmq_integration.client.Producer``: ``--producers`` concurrent producers
py-consume     ``rocketmq_integration.client.PushConsumer`` drains the py-produce backlog
============== ==========================================================================

After the table (unless ``--only`` is given) the standalone feature benchmarks listed in
``FEATURE_BENCHES`` run one after another, each printing its own figures: store append path,
SYNC_FLUSH group commit vs the disk's fsync rate, consume throughput and latency (ours vs C++),
filtered consumption and transactional send, timer messages, the framework layer's overhead,
Django's transaction-aware sending, and the official 5.x client through the gRPC proxy.

Reported per scenario (median over runs): messages/s, MiB/s, send latency p50/p99 (ms, produce
scenarios), and the broker's peak RSS (``VmRSS`` from ``/proc/PID/status``, sampled every 100 ms).
A scenario that cannot run (client missing, library not loadable, the scenario it drains was
n/a) is reported as ``n/a`` with the reason; a failing one as ``error``. Everything is bounded:
each client process has a watchdog and the whole benchmark stops starting scenarios after
``--max-seconds``.

With ``--apache`` (and ``--rmq BUILD`` or ``ROCKETMQ_ORACLE_HOME``) every run also starts Apache
RocketMQ 4.9.8 (the oracle, ``bench/oracle_support.py``) with the same broker.conf essentials and runs
the same scenarios with the same clients against it (the two alternate going first), then prints
its table and ours/Apache ratios; without a usable build its rows are ``n/a`` with the reason.

Usage: ``python bench/run_all.py [--runs 3] [--messages 20000] [--producers 4] [--body-size 1024]
[--only cpp-produce,py-produce] [--apache [--rmq BUILD]] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.support.admin import ensure_topic  # noqa: E402  (needs the path above)
from tests.support.cpp import CPP_CLIENT, cpp_client_status  # noqa: E402
from tests.support.payloads import fixed_body  # noqa: E402
from tests.support.process import server_env, start_broker, start_namesrv  # noqa: E402

BROKER_CONF = {
    "flushDiskType": "ASYNC_FLUSH",
    "mappedFileSizeCommitLog": str(64 * 1024 * 1024),
    "mappedFileSizeConsumeQueue": str(300_000 * 20),
    "autoCreateTopicEnable": "true",
}
METRICS = ("msgs_per_s", "mib_per_s", "p50_ms", "p99_ms", "broker_rss_mib")


class NotAvailable(Exception):
    """The scenario cannot run here; reported as n/a with this reason."""


@dataclass
class RunContext:
    args: argparse.Namespace
    workdir: Path
    namesrv_addr: str
    broker_addr: str
    #: scenario name -> (topic, message count) left for a consume scenario to drain
    backlog: dict[str, tuple[str, int]] = field(default_factory=dict)

    def new_topic(self, prefix: str, queues: int = 8) -> str:
        topic = f"{prefix}_{uuid.uuid4().hex[:8]}"
        ensure_topic(self.broker_addr, self.namesrv_addr, topic, queues=queues, timeout=30)
        return topic

    def remaining(self) -> float:
        return max(10.0, float(self.args.deadline_at) - time.monotonic())


# ------------------------------------------------------------------------------------ helpers
def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))])


def read_rss_mib(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0  # kB -> MiB
    except OSError:
        return None
    return None


@contextlib.contextmanager
def rss_sampler(pid: int) -> Iterator[list[float]]:
    """Sample the broker's RSS every 100 ms; the yielded list fills in while the block runs."""
    samples: list[float] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            rss = read_rss_mib(pid)
            if rss is not None:
                samples.append(rss)
            stop.wait(0.1)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join()


def throughput(count: int, seconds: float, body_size: int) -> dict[str, float]:
    seconds = max(seconds, 1e-9)
    return {"msgs_per_s": count / seconds, "mib_per_s": count * body_size / seconds / 2**20}


def run_json_lines(argv: list[str], timeout: float, home: Path) -> list[dict[str, Any]]:
    proc = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, env=server_env({"HOME": str(home)})
    )
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-5:] + proc.stderr.splitlines()[-10:])
        raise RuntimeError(f"exit {proc.returncode}: {tail}")
    return events


# ---------------------------------------------------------------------------------- scenarios
def cpp_produce(ctx: RunContext) -> dict[str, float]:
    reason = cpp_client_status()
    if reason:
        raise NotAvailable(reason)
    args = ctx.args
    topic = ctx.new_topic("BenchCpp")
    per_proc = max(1, args.messages // args.producers)
    deadline = min(ctx.remaining(), args.scenario_timeout)
    procs = []
    for n in range(args.producers):
        lat = ctx.workdir / f"cpp-lat-{n}.txt"
        argv = [
            sys.executable, str(CPP_CLIENT), "produce", "--namesrv", ctx.namesrv_addr, "--topic", topic,
            "--group", f"bench_cpp_pg_{n}", "--count", str(per_proc), "--start", str(n * per_proc),
            "--body-size", str(args.body_size), "--quiet", "--warmup", "20", "--latency-out", str(lat),
            "--deadline", str(deadline), "--home", str(ctx.workdir / "cpp-home"), "--log-level", "warn",
        ]  # fmt: skip
        out = ctx.workdir / f"cpp-produce-{n}.jsonl"
        with out.open("w") as fh:
            procs.append(
                (subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, env=server_env()), out, lat)
            )
    summaries, latencies = [], []
    for popen, out, lat in procs:
        try:
            rc = popen.wait(deadline + 15)
        except subprocess.TimeoutExpired:
            popen.kill()
            rc = popen.wait()
        events = [json.loads(x) for x in out.read_text().splitlines() if x.startswith("{")]
        summary = next((e for e in events if e.get("event") == "summary"), None)
        if rc != 0 or summary is None:
            raise RuntimeError(f"C++ producer exited {rc}: {out.read_text()[-800:]}")
        summaries.append(summary)
        latencies += [float(v) for v in lat.read_text().split()]
    sent = sum(s["sent"] for s in summaries)
    elapsed = max(s["last_send_at"] for s in summaries) - min(s["first_send_at"] for s in summaries)
    ctx.backlog["cpp-produce"] = (topic, sent)
    return {
        **throughput(sent, elapsed, args.body_size),
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
    }


def cpp_consume(ctx: RunContext) -> dict[str, float]:
    if "cpp-produce" not in ctx.backlog:
        raise NotAvailable("needs the cpp-produce backlog")
    topic, count = ctx.backlog["cpp-produce"]
    count += 20 * ctx.args.producers  # warm-up messages are in the topic too
    deadline = min(ctx.remaining(), ctx.args.scenario_timeout)
    argv = [
        sys.executable, str(CPP_CLIENT), "consume", "--namesrv", ctx.namesrv_addr, "--topic", topic,
        "--group", "bench_cpp_cg", "--expect", str(count), "--timeout", str(deadline), "--quiet",
        "--deadline", str(deadline + 30), "--home", str(ctx.workdir / "cpp-home"), "--log-level", "warn",
    ]  # fmt: skip
    events = run_json_lines(argv, deadline + 45, ctx.workdir / "cpp-home")
    started = next(e for e in events if e.get("event") == "started")["at"]
    summary = next(e for e in events if e.get("event") == "summary")
    return throughput(summary["received"], summary["last_message_at"] - started, ctx.args.body_size)


def _client() -> Any:
    try:
        from rocketmq_integration import client
    except ImportError as exc:
        raise NotAvailable(f"rocketmq_integration.client not importable: {exc}") from exc
    return client


def py_produce(ctx: RunContext) -> dict[str, float]:
    client = _client()
    args = ctx.args
    topic = ctx.new_topic("BenchPy")
    per_producer = max(1, args.messages // args.producers)
    body = fixed_body(args.body_size)
    latencies: list[float] = []

    async def one(n: int) -> None:
        async with client.Producer(f"bench_py_pg_{n}", namesrv_addr=ctx.namesrv_addr) as producer:
            for i in range(per_producer):
                msg = client.Message(topic, body)
                msg.tags = "TagA"
                msg.keys = f"key-{n}-{i}"
                t0 = time.perf_counter()
                await producer.send(msg)
                latencies.append((time.perf_counter() - t0) * 1000.0)

    async def main() -> float:
        async with client.Producer("bench_py_warmup", namesrv_addr=ctx.namesrv_addr) as warm:
            for _ in range(20):
                await warm.send(client.Message(topic, body))
        t0 = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(args.producers)))
        return time.perf_counter() - t0

    elapsed = asyncio.run(asyncio.wait_for(main(), min(ctx.remaining(), args.scenario_timeout)))
    ctx.backlog["py-produce"] = (topic, len(latencies) + 20)
    return {
        **throughput(len(latencies), elapsed, args.body_size),
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
    }


def py_consume(ctx: RunContext) -> dict[str, float]:
    client = _client()
    if "py-produce" not in ctx.backlog:
        raise NotAvailable("needs the py-produce backlog")
    topic, count = ctx.backlog["py-produce"]

    async def main() -> tuple[int, float]:
        seen = 0
        done = asyncio.Event()

        async def listener(msgs: list[Any]) -> Any:
            nonlocal seen
            seen += len(msgs)
            if seen >= count:
                done.set()
            return client.ConsumeResult.SUCCESS

        config = client.ConsumerConfig(offset_store_dir=ctx.workdir / "py-offsets")
        consumer = client.PushConsumer("bench_py_cg", namesrv_addr=ctx.namesrv_addr, config=config)
        consumer.subscribe(topic, "*")
        consumer.register_listener(listener)
        t0 = time.perf_counter()
        await consumer.start()
        try:
            await asyncio.wait_for(done.wait(), min(ctx.remaining(), ctx.args.scenario_timeout))
            return seen, time.perf_counter() - t0
        finally:
            await consumer.shutdown()

    seen, elapsed = asyncio.run(main())
    return throughput(seen, elapsed, ctx.args.body_size)


SCENARIOS: dict[str, Callable[[RunContext], dict[str, float]]] = {
    "cpp-produce": cpp_produce,
    "cpp-consume": cpp_consume,
    "py-produce": py_produce,
    "py-consume": py_consume,
}


# ------------------------------------------------------------------------------------- driver
def run_scenarios(
    args: argparse.Namespace, ctx: RunContext, names: list[str], pid: int, alive: Callable[[], bool]
) -> dict[str, dict[str, Any]]:
    """Run ``names`` in order against the broker of ``ctx`` (process ``pid``), each result or reason."""
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        if time.monotonic() > args.deadline_at:
            results[name] = {"status": "n/a", "reason": "time budget (--max-seconds) used up"}
            continue
        try:
            with rss_sampler(pid) as rss:
                metrics = SCENARIOS[name](ctx)
            metrics["broker_rss_mib"] = max(rss) if rss else float("nan")
            results[name] = {"status": "ok", **metrics}
        except NotAvailable as exc:
            results[name] = {"status": "n/a", "reason": str(exc)}
        except Exception as exc:  # keep going: one broken scenario must not hide the others
            results[name] = {"status": "error", "reason": f"{type(exc).__name__}: {exc}"[:300]}
        if not alive():
            raise RuntimeError(f"broker died during {name}")
    return results


def one_run(args: argparse.Namespace, run_no: int, names: list[str]) -> dict[str, dict[str, Any]]:
    """One run against our broker (NameServer + Broker as ``python -m broker_core`` subprocesses)."""
    workdir = Path(tempfile.mkdtemp(prefix=f"rmq-bench-{run_no}-"))
    namesrv = start_namesrv(workdir)
    try:
        broker = start_broker(workdir, namesrv, conf=BROKER_CONF, default_conf=False)
        try:
            ctx = RunContext(args, workdir, namesrv.addr, broker.addr)
            try:
                return run_scenarios(args, ctx, names, broker.pid, lambda: broker.running)
            except RuntimeError as exc:
                raise RuntimeError(f"{exc}\n{broker.log_tail(2000)}") from None
        finally:
            broker.cleanup(timeout=15)
    finally:
        namesrv.cleanup()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def one_apache_run(args: argparse.Namespace, run_no: int, names: list[str]) -> dict[str, dict[str, Any]]:
    """The same scenarios against Apache RocketMQ 4.9.8 (same broker.conf essentials, same clients)."""
    from oracle_support import oracle_home, oracle_status, start_apache, wait_registered

    home = oracle_home(args.rmq)
    reason = oracle_status(home)
    if reason or home is None:
        return {name: {"status": "n/a", "reason": reason} for name in names}
    workdir = Path(tempfile.mkdtemp(prefix=f"rmq-bench-apache-{run_no}-"))
    target = start_apache(home, workdir, BROKER_CONF)
    try:
        wait_registered(target)
        ctx = RunContext(args, workdir, target.namesrv, target.broker)
        return run_scenarios(args, ctx, names, target.broker_pid, lambda: _pid_alive(target.broker_pid))
    finally:
        target.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def summarise(runs: list[dict[str, dict[str, Any]]], names: list[str]) -> list[dict[str, Any]]:
    rows = []
    for name in names:
        oks = [r[name] for r in runs if r.get(name, {}).get("status") == "ok"]
        if not oks:
            first = next((r[name] for r in runs if name in r), {"status": "n/a", "reason": "not run"})
            rows.append({"scenario": name, "status": first["status"], "reason": first.get("reason", "")})
            continue
        row: dict[str, Any] = {"scenario": name, "status": "ok", "runs": len(oks)}
        for metric in METRICS:
            values = [r[metric] for r in oks if metric in r]
            if values:
                row[metric] = statistics.median(values)
        rows.append(row)
    return rows


def print_table(rows: list[dict[str, Any]], args: argparse.Namespace, target: str = "ours") -> None:
    print(
        f"\n{target}: messages/scenario={args.messages} body={args.body_size} B producers={args.producers} "
        f"runs={args.runs} (median); broker: ASYNC_FLUSH, 64 MiB segments"
    )
    header = (
        f"{'scenario':<13} {'msgs/s':>9} {'MiB/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'RSS MiB':>8} {'runs':>4}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        if row["status"] != "ok":
            print(f"{row['scenario']:<13} {row['status']:>9}  {row.get('reason', '')}")
            continue

        def fmt(metric: str, spec: str, row: dict[str, Any] = row) -> str:
            return format(row[metric], spec) if metric in row else "-"

        print(
            f"{row['scenario']:<13} {fmt('msgs_per_s', '9.0f')} {fmt('mib_per_s', '7.2f')} "
            f"{fmt('p50_ms', '8.2f'):>8} {fmt('p99_ms', '8.2f'):>8} {fmt('broker_rss_mib', '8.1f')} "
            f"{row['runs']:>4}"
        )


def print_ratios(ours: list[dict[str, Any]], apache: list[dict[str, Any]]) -> None:
    """ours / Apache per scenario: msgs/s (higher is better) and p99 (lower is better)."""
    print(f"\n{'scenario':<13} {'msgs/s ours/apache':>19} {'p99 ours/apache':>16}")
    for mine, theirs in zip(ours, apache, strict=True):
        if mine["status"] != "ok" or theirs["status"] != "ok":
            print(f"{mine['scenario']:<13} {'n/a':>19}")
            continue
        rate = mine["msgs_per_s"] / theirs["msgs_per_s"]
        p99 = f"{mine['p99_ms'] / theirs['p99_ms']:.2f}" if "p99_ms" in mine and "p99_ms" in theirs else "-"
        print(f"{mine['scenario']:<13} {rate:>19.2f} {p99:>16}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--messages", type=int, default=20_000, help="messages per produce scenario")
    parser.add_argument("--producers", type=int, default=4, help="C++ processes / our concurrent producers")
    parser.add_argument("--body-size", type=int, default=1024)
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument("--scenario-timeout", type=float, default=180.0)
    parser.add_argument("--max-seconds", type=float, default=900.0, help="stop starting scenarios after this")
    parser.add_argument("--json", help="also write raw per-run results and the summary here")
    parser.add_argument("--keep", action="store_true", help="keep the temp dirs (logs, stores)")
    parser.add_argument(
        "--apache", action="store_true",
        help="also run every scenario against Apache RocketMQ 4.9.8 in each run (needs --rmq or "
        "ROCKETMQ_ORACLE_HOME) and print ours/Apache ratios",
    )  # fmt: skip
    parser.add_argument("--rmq", default=None, help="the Apache RocketMQ 4.9.8 oracle build (for --apache)")
    args = parser.parse_args(argv)
    args.deadline_at = time.monotonic() + args.max_seconds
    return args


def quiet_client_logs() -> None:
    with contextlib.suppress(ImportError):
        from rocketmq_integration.logging import configure_logging

        configure_logging("WARNING")


#: Standalone feature benchmarks run after the table (each starts its own servers and prints its figures).
FEATURE_BENCHES: list[tuple[str, list[str]]] = [
    ("store append path, in process", ["store_append.py"]),
    ("SYNC_FLUSH group commit vs the disk's fsync/s", ["sync_flush.py", "--seconds", "3"]),
    ("1 vs 2 broker groups (--groups): msgs/s and broker CPU", ["groups_bench.py", "--seconds", "8"]),
    ("replication: master alone / ASYNC / SYNC slave / DLedger, and failover time", ["ha_bench.py"]),
    ("consume throughput and end-to-end latency, ours vs C++", ["consume_client.py"]),
    ("filtered consumption (10 % match) and transactional send", ["filter_tx.py"]),
    ("timer messages: throughput and delivery error", ["timer_bench.py"]),
    ("template / listener overhead vs the raw client (median of 3)", ["template_bench.py", "--runs", "3"]),
    (
        "cost of ACL verification and of message trace on sends (ratios, same run)",
        ["ops_bench.py", "--rounds", "3"],
    ),
    ("Celery over rocketmq:// vs Celery over Redis (tasks/s, latency)", ["celery_bench.py"]),
    ("Django: send_on_commit and the outbox relay vs a direct send (SQLite)", ["django_bench.py"]),
    ("5.x client through the gRPC proxy: produce / consume", ["proxy_bench.py"]),
    (
        "backlog drain time, ours vs Apache 4.9.8 (Java Consumer and our client)",
        ["drain_bench.py", "--messages", "200000"],
    ),
    ("broker CPU-us per message, ours vs Apache 4.9.8", ["cpu_per_msg.py", "--seconds", "8"]),
]


#: feature benches that need longer than the default 300 s (seconds)
FEATURE_TIMEOUTS = {"celery_bench.py": 900}


def run_feature_benches() -> None:
    for title, argv in FEATURE_BENCHES:
        script = REPO_ROOT / "bench" / argv[0]
        if not script.exists():
            continue
        print(f"\n== {title} (bench/{argv[0]})", flush=True)
        with contextlib.suppress(subprocess.TimeoutExpired):
            timeout = FEATURE_TIMEOUTS.get(argv[0], 300)
            subprocess.run([sys.executable, str(script), *argv[1:]], timeout=timeout, check=False)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_client_logs()
    names = [n for n in args.only.split(",") if n] or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        print(f"unknown scenarios {unknown}; known: {list(SCENARIOS)}", file=sys.stderr)
        return 2
    targets = [("ours", one_run)] + ([("apache", one_apache_run)] if args.apache else [])
    runs: dict[str, list[dict[str, dict[str, Any]]]] = {name: [] for name, _ in targets}
    for run_no in range(1, args.runs + 1):
        # alternate which broker goes first: the second one of a run meets a warmer page cache
        for target, run in targets if run_no % 2 else targets[::-1]:
            t0 = time.monotonic()
            results = run(args, run_no, names)
            runs[target].append(results)
            states = ", ".join(f"{k}={v['status']}" for k, v in results.items())
            print(
                f"{target} run {run_no}/{args.runs} done in {time.monotonic() - t0:.1f}s: {states}",
                flush=True,
            )
        if time.monotonic() > args.deadline_at:
            break
    tables = {target: summarise(runs[target], names) for target, _ in targets}
    for target, rows in tables.items():
        print_table(rows, args, target)
    if args.apache:
        print_ratios(tables["ours"], tables["apache"])
    rows = tables["ours"] + tables.get("apache", [])
    if not args.only:
        run_feature_benches()
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": runs, "summary": rows}, indent=2))
    return 0 if all(row["status"] != "error" for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
