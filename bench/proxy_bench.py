#!/usr/bin/env python3
"""gRPC proxy benchmark: the official 5.x Python client's produce / consume throughput.

Starts a NameServer, a Broker and the proxy (``python -m broker_core proxy``) as subprocesses
(temp store), then in the 5.x client's own venv (``tests/support/rmq5.py`` creates it):

* ``5.x produce``: one Producer, ``send_async`` with at most ``--inflight`` outstanding sends of
  ``--body-size`` bodies;
* ``5.x consume``: one SimpleConsumer (new group) drains that backlog: ``receive(32)`` + acks from 16 threads.

Reported: messages/s of each (median over ``--runs``), wall seconds, and the proxy's peak RSS.

Usage: ``python bench/proxy_bench.py [--messages 5000] [--runs 1] [--inflight 64] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.support.admin import ensure_topic  # noqa: E402  (needs the path above)
from tests.support.process import ServerProcess, start_broker, start_namesrv  # noqa: E402
from tests.support.rmq5 import Rmq5Client  # noqa: E402

CONF = {"flushDiskType": "ASYNC_FLUSH", "mappedFileSizeCommitLog": str(64 * 1024 * 1024)}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def one_run(args: argparse.Namespace, tmp: Path, run: int) -> dict[str, float]:
    ns = start_namesrv(tmp)
    procs: list[ServerProcess] = [ns]
    try:
        broker = start_broker(tmp, ns, conf=CONF)
        procs.append(broker)
        proxy = ServerProcess("proxy", ["--namesrv", ns.addr], name="proxy", log_dir=tmp / "logs").start()
        procs.append(proxy)
        topic = f"ProxyBench{run}"
        ensure_topic(broker.addr, ns.addr, topic, queues=8)
        with Rmq5Client(proxy.addr, tmp / "producer" / "driver.log") as producer:
            producer.call("producer", topics=[topic])
            produced = producer.call(
                "bench_produce", timeout=600, topic=topic, count=args.messages,
                body_size=args.body_size, inflight=args.inflight,
            )  # fmt: skip
        with Rmq5Client(proxy.addr, tmp / "consumer" / "driver.log") as consumer:
            consumer.call("simple", group=f"ProxyBenchG{run}", topic=topic, **{"await": 5})
            consumed = consumer.call("bench_consume", timeout=600, count=args.messages)
        if consumed["received"] < args.messages:
            raise RuntimeError(f"consumed {consumed['received']} of {args.messages}")
        return {
            "produce_msgs_per_s": args.messages / produced["seconds"],
            "consume_msgs_per_s": consumed["received"] / consumed["seconds"],
            "proxy_peak_rss_mib": rss_mib(proxy.pid),
        }
    finally:
        for proc in reversed(procs):
            proc.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--body-size", type=int, default=1024)
    parser.add_argument("--inflight", type=int, default=64)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    results = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="proxy-bench-") as tmp:
            results.append(one_run(args, Path(tmp), run))
    summary = {key: statistics.median(r[key] for r in results) for key in results[0]}
    print(
        f"5.x client via gRPC proxy, {args.messages} msgs of {args.body_size} B, median of {args.runs} run(s):"
    )
    print(f"  produce  {summary['produce_msgs_per_s']:10.0f} msgs/s  (send_async, {args.inflight} in flight)")
    print(
        f"  consume  {summary['consume_msgs_per_s']:10.0f} msgs/s  (SimpleConsumer receive 32 + acks from 16 threads)"
    )
    print(f"  proxy peak RSS {summary['proxy_peak_rss_mib']:.0f} MiB")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
