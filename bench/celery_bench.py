#!/usr/bin/env python3
"""Celery over ``rocketmq://`` vs Celery over Redis: worker throughput and end-to-end latency.

One run starts our NameServer + Broker (``python -m broker_core``, ASYNC_FLUSH) and a Debian
``redis-server`` on loopback, then for each broker:

* **throughput** (acks_late off, then on): ``--tasks`` no-op tasks are published first; then one
  ``celery worker -P prefork -c 2`` starts and the figure is tasks / (last task done - first task
  started), measured inside the pool processes (shared memory, no extra I/O per task).
* **latency**: with the worker running, ``--latency-tasks`` tasks are sent at ``--rate`` tasks/s;
  each records run time minus send time; p50 / p99 reported.

Both brokers get the same Celery settings (prefetch multiplier 4, results ignored, mingle, gossip
and heartbeats off). Usage: ``python bench/celery_bench.py [--tasks 10000] [--latency-tasks 1000]
[--rate 200] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
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

from tests.integration.framework.redis_server import redis_server_process  # noqa: E402
from tests.support.process import server_env, start_broker, start_namesrv  # noqa: E402

BROKER_CONF = {"flushDiskType": "ASYNC_FLUSH", "autoCreateTopicEnable": "true"}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))])


def client_app(url: str, queue: str) -> Any:
    from celery import Celery

    import rocketmq_integration.kombu  # noqa: F401

    app = Celery("celery_bench_client", broker=url)
    app.conf.update(task_default_queue=queue, task_ignore_result=True)
    return app


def start_worker(
    url: str, queue: str, acks_late: bool, count: int, out: Path, log: Path, warm: int = 0
) -> subprocess.Popen[bytes]:
    env = server_env(
        {"CB_BROKER": url, "CB_QUEUE": queue, "CB_ACKS_LATE": "1" if acks_late else "0",
         "CB_COUNT": str(count), "CB_OUT": str(out), "CB_WARM": str(warm)}
    )  # fmt: skip
    argv = [
        sys.executable, "-m", "celery", "-A", "bench.celery_bench_app", "worker", "-P", "prefork", "-c", "2",
        "-Q", queue, "-n", f"bench-{uuid.uuid4().hex[:6]}@%h", "--without-mingle", "--without-gossip",
        "--without-heartbeat", "-l", "WARNING",
    ]  # fmt: skip
    with log.open("ab") as fh:
        return subprocess.Popen(argv, env=env, stdout=fh, stderr=subprocess.STDOUT, cwd=str(REPO_ROOT))


def wait_file(
    path: Path, proc: subprocess.Popen[bytes], timeout: float, parse: bool = True
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"no result within {timeout}s")
        time.sleep(0.05)  # the file comes from another process
    if not parse:
        return {}
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def throughput(url: str, tasks: int, acks_late: bool, work: Path) -> dict[str, float]:
    queue = f"bench.tp.{uuid.uuid4().hex[:8]}"
    app = client_app(url, queue)
    t0 = time.perf_counter()
    with app.producer_or_acquire() as producer:
        for i in range(tasks):
            app.send_task("b.noop", (i, time.time()), producer=producer)
    publish_s = time.perf_counter() - t0
    out = work / f"{queue}.json"
    proc = start_worker(url, queue, acks_late, tasks, out, work / "worker.log")
    try:
        data = wait_file(out, proc, 600)
    finally:
        stop(proc)
        app.close()
    return {"tasks_per_s": tasks / (data["last"] - data["first"]), "publish_per_s": tasks / publish_s}


def latency(url: str, tasks: int, rate: float, work: Path) -> dict[str, float]:
    queue = f"bench.lat.{uuid.uuid4().hex[:8]}"
    app = client_app(url, queue)
    out = work / f"{queue}.json"
    proc = start_worker(url, queue, False, tasks + 50, out, work / "worker.log", warm=50)
    try:
        with app.producer_or_acquire() as producer:
            # warm-up (worker start, connections, routes), not measured: wait until the worker ran them
            for i in range(50):
                app.send_task("b.noop", (tasks + i, time.time()), producer=producer)
            wait_file(Path(f"{out}.warm"), proc, 120, parse=False)
            start = time.perf_counter()
            for i in range(tasks):
                target = start + i / rate
                delay = target - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                app.send_task("b.noop", (i, time.time()), producer=producer)
        data = wait_file(out, proc, 300)
    finally:
        stop(proc)
        app.close()
    lat = [v * 1000 for v in data["latencies"][:tasks]]
    return {"p50_ms": percentile(lat, 0.5), "p99_ms": percentile(lat, 0.99)}


def bench_broker(name: str, url: str, args: argparse.Namespace, work: Path) -> dict[str, float]:
    res: dict[str, float] = {}
    for acks_late in (False, True):
        runs = [throughput(url, args.tasks, acks_late, work) for _ in range(args.runs)]
        key = "acks_late" if acks_late else "acks_early"
        res[f"{key}_tasks_per_s"] = statistics.median(r["tasks_per_s"] for r in runs)
        res[f"{key}_publish_per_s"] = statistics.median(r["publish_per_s"] for r in runs)
        print(f"  {name} {key}: {res[f'{key}_tasks_per_s']:.0f} tasks/s", flush=True)
    res.update(latency(url, args.latency_tasks, args.rate, work))
    print(f"  {name} latency: p50 {res['p50_ms']:.1f} ms, p99 {res['p99_ms']:.1f} ms", flush=True)
    return res


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", type=int, default=10_000)
    p.add_argument("--latency-tasks", type=int, default=1000)
    p.add_argument("--rate", type=float, default=200.0)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--only", default="rocketmq,redis")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="celery-bench-") as tmp:
        work = Path(tmp)
        only = set(args.only.split(","))
        if "rocketmq" in only:
            ns = start_namesrv(work)
            broker = start_broker(work, ns, conf=BROKER_CONF)
            try:
                results["rocketmq"] = bench_broker("rocketmq", f"rocketmq://{ns.addr}//", args, work)
            finally:
                from rocketmq_integration.kombu.session import shutdown_sessions

                shutdown_sessions()
                broker.stop()
                ns.stop()
        if "redis" in only:
            with redis_server_process(work / "redis") as redis:
                results["redis"] = bench_broker("redis", redis.url, args, work)
    metrics = (
        "acks_early_tasks_per_s",
        "acks_late_tasks_per_s",
        "acks_early_publish_per_s",
        "p50_ms",
        "p99_ms",
    )
    print(
        f"\nCelery, prefork -c 2, {args.tasks} no-op tasks ({args.latency_tasks} at {args.rate:.0f}/s for latency)"
    )
    print(f"{'metric':28}" + "".join(f"{n:>14}" for n in results))
    for m in metrics:
        print(f"{m:28}" + "".join(f"{results[n][m]:14.1f}" for n in results))
    if "rocketmq" in results and "redis" in results:
        for m in ("acks_early_tasks_per_s", "acks_late_tasks_per_s"):
            print(f"rocketmq/redis {m}: {results['rocketmq'][m] / results['redis'][m]:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
