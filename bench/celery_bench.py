#!/usr/bin/env python3
"""Celery over ``rocketmq://`` vs Celery over Redis: worker throughput and end-to-end latency.

One run starts our NameServer + Broker (``python -m broker_core``, ASYNC_FLUSH) and a Debian
``redis-server`` on loopback, then measures both brokers:

* **throughput** (acks_late off, then on): ``--tasks`` no-op tasks are published first; then one
  ``celery worker -P prefork -c 2`` starts and the figure is tasks / (last task done - first task
  started), measured inside the pool processes (shared memory, no extra I/O per task). With
  ``--runs N`` the brokers' runs alternate and the median is reported.
* **latency**: one worker per broker runs; ``--latency-tasks`` tasks per broker are sent at
  ``--rate`` tasks/s in ``--rounds`` interleaved rounds (20 tasks to one broker, then 20 to the
  other, ...), so load spikes of a shared machine hit both alike. Latency = the task's start in
  the pool process minus the time taken just before ``send_task`` (same clock, same definition
  for both); p50 / p99 / p99.9 / max, and the time ``send_task`` itself took. With ``--runs N``
  the latency measurement is repeated and medians are reported. ``--trace`` times every task
  along its path (send call; sent -> stored by the broker (ours only, ms resolution) -> reached
  the worker process -> delivered by Celery's event loop -> handed to the pool -> started in a
  pool process) and prints p50/p99 of each segment and its mean over the slowest 1%.

Both brokers get the same Celery settings (prefetch multiplier 4, results ignored, mingle, gossip
and heartbeats off). Usage: ``python bench/celery_bench.py [--tasks 10000] [--runs 1]
[--latency-tasks 2000] [--rate 200] [--rounds 100] [--trace] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
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

from rocketmq_integration.kombu.session import shutdown_sessions  # noqa: E402
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
    url: str,
    queue: str,
    acks_late: bool,
    count: int,
    out: Path,
    log: Path,
    warm: int = 0,
    trace: bool = False,
) -> subprocess.Popen[bytes]:
    env = server_env(
        {"CB_BROKER": url, "CB_QUEUE": queue, "CB_ACKS_LATE": "1" if acks_late else "0",
         "CB_COUNT": str(count), "CB_OUT": str(out), "CB_WARM": str(warm), "CB_TRACE": "1" if trace else "0"}
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


#: latency figures of one run (medians over ``--runs`` are reported)
LATENCY_METRICS = ("p50_ms", "p99_ms", "p999_ms", "max_ms", "send_p50_ms", "send_p99_ms")
#: warm-up tasks per latency worker (not measured)
WARM = 50


class LatencyRun:
    """One broker's side of the latency measurement: a worker, and a client that sends to it."""

    def __init__(self, url: str, tasks: int, work: Path, trace: bool = False) -> None:
        self.tasks = tasks
        queue = f"bench.lat.{uuid.uuid4().hex[:8]}"
        self.app = client_app(url, queue)
        self.out = work / f"{queue}.json"
        self.trace = trace
        self.proc = start_worker(
            url, queue, False, tasks + WARM, self.out, work / "worker.log", warm=WARM, trace=trace
        )
        self.producer = self.app.producer_pool.acquire(block=True)
        self.sent = 0
        #: per measured task: when ``send_task`` was called and how long it took (s)
        self.sent_at = [0.0] * tasks
        self.send_s = [0.0] * tasks
        self.data: dict[str, Any] = {}

    def warm_up(self) -> None:
        """Worker start, connections, routes; not measured: wait until the worker ran them."""
        for i in range(WARM):
            self.app.send_task("b.noop", (self.tasks + i, time.time()), producer=self.producer)
        wait_file(Path(f"{self.out}.warm"), self.proc, 120, parse=False)

    def send(self, count: int, rate: float) -> None:
        """The next ``count`` measured tasks, at ``rate`` tasks/s."""
        start = time.perf_counter()
        for k in range(count):
            delay = start + k / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            i = self.sent
            t0 = time.perf_counter()
            self.sent_at[i] = now = time.time()
            self.app.send_task("b.noop", (i, now), producer=self.producer)
            self.send_s[i] = time.perf_counter() - t0
            self.sent += 1

    def result(self) -> dict[str, float]:
        self.data = data = wait_file(self.out, self.proc, 300)
        lat = [v * 1000 for v in data["latencies"][: self.tasks]]
        send = [v * 1000 for v in self.send_s]
        return {
            "p50_ms": percentile(lat, 0.5),
            "p99_ms": percentile(lat, 0.99),
            "p999_ms": percentile(lat, 0.999),
            "max_ms": max(lat),
            "send_p50_ms": percentile(send, 0.5),
            "send_p99_ms": percentile(send, 0.99),
        }

    def breakdown(self) -> dict[str, Any]:
        """With ``trace``: the path of every measured task in segments (ms), after :meth:`close`:
        send call, sent -> reached the worker process, -> delivered by the worker's event loop,
        -> handed to the pool, -> started in a pool process; p50/p99 of each, and their mean over
        the slowest 1% of tasks."""
        path = Path(f"{self.out}.trace")
        if not self.trace or not path.exists() or not self.data:
            return {}
        trace = {int(k): v for k, v in json.loads(path.read_text()).items()}
        starts = self.data["starts"]
        rows = []
        for i in range(self.tasks):
            t = trace.get(i)
            if t is None or len(t) < 4:
                continue
            got, delivered, stored, handed = t[:4]
            got = got or delivered  # kombu's own transports: reached = delivered
            sent = self.sent_at[i]
            stored = stored or sent  # the broker's store time (ms resolution), when it has one
            rows.append(
                {
                    "send_call": self.send_s[i] * 1000,
                    "to_store": (stored - sent) * 1000,
                    "to_worker": (got - stored) * 1000,
                    "to_hub": (delivered - got) * 1000,
                    "to_pool": (handed - delivered) * 1000,
                    "in_pool": (starts[i] - handed) * 1000,
                    "total": (starts[i] - sent) * 1000,
                }
            )
        if not rows:
            return {}
        slow = sorted(rows, key=lambda r: r["total"])[-max(1, len(rows) // 100) :]
        out: dict[str, Any] = {}
        for seg in rows[0]:
            vals = [r[seg] for r in rows]
            out[seg] = {
                "p50": percentile(vals, 0.5),
                "p99": percentile(vals, 0.99),
                "slow1pct_mean": statistics.fmean(r[seg] for r in slow),
            }
        return out

    def close(self) -> None:
        stop(self.proc)
        self.producer.release()
        self.app.close()


def latency(
    targets: dict[str, str], tasks: int, rate: float, rounds: int, work: Path, trace: bool = False
) -> dict[str, dict[str, Any]]:
    """End-to-end latency of every target, measured in interleaved rounds: a round sends
    ``tasks / rounds`` tasks at ``rate`` to one broker's worker, then as many to the next, so a
    load spike of the (shared) machine hits both sides alike. One definition for both: the task's
    start in the pool process minus the time taken just before ``send_task``."""
    runs = {name: LatencyRun(url, tasks, work, trace) for name, url in targets.items()}
    results: dict[str, dict[str, Any]] = {}
    try:
        for run in runs.values():
            run.warm_up()
        per_round = max(1, tasks // max(1, rounds))
        while any(run.sent < tasks for run in runs.values()):
            for run in runs.values():
                run.send(min(per_round, tasks - run.sent), rate)
        results = {name: run.result() for name, run in runs.items()}
    finally:
        for run in runs.values():
            run.close()
    for name, run in runs.items():
        if parts := run.breakdown():
            results[name]["breakdown"] = parts
    return results


def bench_throughput(
    targets: dict[str, str], args: argparse.Namespace, work: Path
) -> dict[str, dict[str, float]]:
    """Throughput of every target, acks early then late; with ``--runs`` N the brokers' runs
    alternate (median reported), so both see the machine in much the same state."""
    res: dict[str, dict[str, float]] = {name: {} for name in targets}
    for acks_late in (False, True):
        key = "acks_late" if acks_late else "acks_early"
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
        for _ in range(args.runs):
            for name, url in targets.items():
                runs[name].append(throughput(url, args.tasks, acks_late, work))
        for name in targets:
            res[name][f"{key}_tasks_per_s"] = statistics.median(r["tasks_per_s"] for r in runs[name])
            res[name][f"{key}_publish_per_s"] = statistics.median(r["publish_per_s"] for r in runs[name])
            print(f"  {name} {key}: {res[name][f'{key}_tasks_per_s']:.0f} tasks/s", flush=True)
    return res


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", type=int, default=10_000, help="tasks per throughput run (0: no throughput)")
    p.add_argument("--latency-tasks", type=int, default=2000)
    p.add_argument("--rate", type=float, default=200.0)
    p.add_argument(
        "--runs",
        type=int,
        default=1,
        help="throughput runs per broker and ack mode, and latency runs (medians)",
    )
    p.add_argument("--rounds", type=int, default=100, help="interleaved latency rounds")
    p.add_argument("--only", default="rocketmq,redis")
    p.add_argument(
        "--trace", action="store_true", help="latency: time every task along its path (segments, ms)"
    )
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    only = [n for n in ("rocketmq", "redis") if n in args.only.split(",")]
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="celery-bench-")))
        targets: dict[str, str] = {}
        if "rocketmq" in only:
            ns = start_namesrv(work)
            stack.callback(ns.stop)
            broker = start_broker(work, ns, conf=BROKER_CONF)
            stack.callback(broker.stop)
            stack.callback(shutdown_sessions)
            targets["rocketmq"] = f"rocketmq://{ns.addr}//"
        if "redis" in only:
            targets["redis"] = stack.enter_context(redis_server_process(work / "redis")).url
        results: dict[str, dict[str, Any]] = {n: {} for n in targets}
        if args.tasks > 0:
            results = {n: dict(r) for n, r in bench_throughput(targets, args, work).items()}
        results_lat: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
        for run in range(args.runs):
            lats = latency(targets, args.latency_tasks, args.rate, args.rounds, work, args.trace)
            for name, lat in lats.items():
                results_lat[name].append(lat)
                print(
                    f"  {name} latency (run {run + 1}, load {os.getloadavg()[0]:.1f}): p50 {lat['p50_ms']:.1f} ms, "
                    f"p99 {lat['p99_ms']:.1f} ms, p99.9 {lat['p999_ms']:.1f} ms, max {lat['max_ms']:.1f} ms",
                    flush=True,
                )
                for seg, q in lat.get("breakdown", {}).items():
                    print(
                        f"    {seg:10} p50 {q['p50']:7.2f}  p99 {q['p99']:7.2f}  "
                        f"slowest 1% mean {q['slow1pct_mean']:7.2f}"
                    )
        for name, runs in results_lat.items():  # medians over the runs
            for key in LATENCY_METRICS:
                results[name][key] = statistics.median(r[key] for r in runs)
            results[name]["latency_runs"] = runs
    metrics = (
        "acks_early_tasks_per_s",
        "acks_late_tasks_per_s",
        "acks_early_publish_per_s",
        *LATENCY_METRICS,
    )
    print(
        f"\nCelery, prefork -c 2, {args.tasks} no-op tasks ({args.latency_tasks} at {args.rate:.0f}/s for latency)"
    )
    print(f"{'metric (medians of --runs)':28}" + "".join(f"{n:>14}" for n in results))
    for m in metrics:
        print(f"{m:28}" + "".join(f"{results[n].get(m, math.nan):14.1f}" for n in results))
    if "rocketmq" in results and "redis" in results:
        ours, theirs = results["rocketmq"], results["redis"]
        for m in ("acks_early_tasks_per_s", "acks_late_tasks_per_s", "p99_ms", "p999_ms"):
            if m in ours and m in theirs:
                print(f"rocketmq/redis {m}: {ours[m] / theirs[m]:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
