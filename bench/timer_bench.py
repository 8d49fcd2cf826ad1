#!/usr/bin/env python3
"""Timer-message benchmark: send throughput and delivery-time error.

Starts a NameServer and a Broker subprocess (temp store), sends ``--messages`` timer messages with
delivery times spread uniformly over ``[now + --lead, now + --lead + --spread]`` seconds from
``--producers`` concurrent senders, and consumes them with a PushConsumer. Reported:

* ``send msgs/s``: timer messages accepted per second (transform + park in the timer topic);
* ``broker error`` p50/p99/max (ms): store time of the delivered copy minus its requested time,
  i.e. the timer wheel's own accuracy (1 s precision means 0..1000 ms by design, never early);
* ``consumer error`` p50/p99/max (ms): arrival at the listener minus the requested time;
* ``delivered``: messages received (each once) out of those sent.

Usage: ``python bench/timer_bench.py [--messages 5000] [--producers 8] [--spread 5] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.support.admin import ensure_topic  # noqa: E402  (needs the path above)
from tests.support.process import start_broker, start_namesrv  # noqa: E402

CONF = {"flushDiskType": "ASYNC_FLUSH", "mappedFileSizeCommitLog": str(64 * 1024 * 1024)}


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


async def scenario(args: argparse.Namespace, namesrv: str, topic: str) -> dict[str, Any]:
    from rocketmq_integration.client import (
        ClientConfig,
        ConsumeFromWhere,
        ConsumerConfig,
        ConsumeResult,
        Message,
        MessageExt,
        Producer,
        PushConsumer,
    )
    from rocketmq_integration.client.timer import deliver_at

    cc = ClientConfig(poll_name_server_interval=1.0, heartbeat_broker_interval=5.0)
    consumer_errs: list[float] = []
    broker_errs: list[float] = []
    seen: set[str] = set()
    done = asyncio.Event()

    async def listener(msgs: list[MessageExt]) -> ConsumeResult:
        now = time.time() * 1000
        for m in msgs:
            due = int(m.properties["TIMER_OUT_MS"])
            if m.msg_id not in seen:
                seen.add(m.msg_id)
                consumer_errs.append(now - due)
                broker_errs.append(m.store_timestamp - due)
        if len(seen) >= args.messages:
            done.set()
        return ConsumeResult.SUCCESS

    consumer = PushConsumer(
        f"timer_bench_cg_{uuid.uuid4().hex[:6]}",
        namesrv_addr=namesrv,
        client_config=cc,
        config=ConsumerConfig(consume_from_where=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET),
    )
    consumer.subscribe(topic, "*")
    consumer.register_listener(listener)
    await consumer.start()
    body = b"x" * args.body_size
    async with Producer("timer_bench_pg", namesrv_addr=namesrv, client_config=cc) as producer:
        base = time.time() + args.lead
        per = args.messages // args.producers

        async def sender(k: int) -> None:
            for i in range(per):
                n = k * per + i
                await producer.send(deliver_at(Message(topic, body), base + args.spread * n / args.messages))

        t0 = time.perf_counter()
        await asyncio.gather(*(sender(k) for k in range(args.producers)))
        send_s = time.perf_counter() - t0
    sent = per * args.producers
    args.messages = sent
    try:
        await asyncio.wait_for(done.wait(), args.lead + args.spread + 60)
    except TimeoutError:
        pass
    await consumer.shutdown()
    return {
        "sent": sent,
        "send_msgs_per_s": round(sent / send_s, 1),
        "delivered": len(seen),
        "broker_err_p50_ms": round(pct(broker_errs, 50), 1),
        "broker_err_p99_ms": round(pct(broker_errs, 99), 1),
        "broker_err_max_ms": round(max(broker_errs, default=float("nan")), 1),
        "broker_err_min_ms": round(min(broker_errs, default=float("nan")), 1),
        "consumer_err_p50_ms": round(pct(consumer_errs, 50), 1),
        "consumer_err_p99_ms": round(pct(consumer_errs, 99), 1),
        "consumer_err_max_ms": round(max(consumer_errs, default=float("nan")), 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--producers", type=int, default=8)
    ap.add_argument("--body-size", type=int, default=256)
    ap.add_argument("--lead", type=float, default=None, help="seconds before the first delivery")
    ap.add_argument("--spread", type=float, default=5.0, help="deliveries spread over this many seconds")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if args.lead is None:  # leave room to send everything before the first delivery
        args.lead = 3.0 + args.messages / 1500
    with tempfile.TemporaryDirectory(prefix="timer-bench-") as tmp:
        work = Path(tmp)
        ns = start_namesrv(work)
        broker = start_broker(work, ns, conf=CONF)
        try:
            topic = f"TimerBench_{uuid.uuid4().hex[:8]}"
            ensure_topic(broker.addr, ns.addr, topic, queues=4, timeout=30)
            result = asyncio.run(scenario(args, ns.addr, topic))
        finally:
            broker.cleanup()
            ns.cleanup()
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if result["delivered"] == result["sent"] else 1


if __name__ == "__main__":
    sys.exit(main())
