#!/usr/bin/env python3
"""Produce or consume with the official C++ client (PyPI ``rocketmq==0.4.4``), one JSON line per event.

Usage::

    python tests/interop/cpp_client.py produce --namesrv ADDR --topic T --group G --count N
        [--start I] [--run R] [--tags A,B,C] [--delay-level L] [--orderly [--shards M]] [--oneway]
        [--body-size BYTES] [--quiet] [--warmup K] [--retries K] [--first-send-timeout S]
    python tests/interop/cpp_client.py consume --namesrv ADDR --topic T --group G --expect N
        --timeout S [--expression 'A || C'] [--broadcast] [--orderly]
        [--reconsume-later-times K] [--linger S] [--threads N] [--property-keys k1,k2] [--quiet]

Common options: ``--home DIR`` (HOME for the client's ``~/logs/rocketmq-cpp`` and
``~/.rocketmq_offsets``), ``--log-level``, ``--access-key/--secret-key/--channel``,
``--deadline S`` (watchdog, exit 3).

produce: message ``i`` (``--start`` .. ``--start + --count - 1``) is
``tests.support.payloads.make_message(i, run)`` (tags, keys, UTF-8 properties ``idx``, ``run``,
``utf8``, ``sha1`` and a multi-byte body; every 10th body > 4 KiB, which the client compresses), or
with ``--body-size`` a fixed ASCII body with tag/keys/``idx`` only (benchmarks). Events:
``started``; ``sent`` {i, status, msg_id, offset, attempts, latency_ms}; ``send_failed`` {i, error};
``summary`` {sent, failed, elapsed_s, first_send_at, last_send_at, latency_ms:{p50,p99,max}}.
A fresh producer may fail its first send while its broker connection opens (seen against Apache
too), so the first message is retried for ``--first-send-timeout`` seconds, later ones
``--retries`` times. Exit 0 iff every message was sent.

consume: a PushConsumer (clustering, or ``--broadcast``; concurrent, or ``--orderly`` which uses
LOCK_BATCH_MQ). Events: ``started``; ``message`` {msg_id, topic, tags, keys, body (UTF-8) or
body_b64, properties, queue_id, queue_offset, reconsume_times, ..., action, attempt, duplicate};
``summary``. A message is identified by its UNIQ_KEY property (else its msg id) plus its keys; its first
``--reconsume-later-times`` deliveries are answered RECONSUME_LATER, later ones CONSUME_SUCCESS.
The consumer stops once ``--expect`` distinct messages were acknowledged (plus ``--linger``
seconds to catch extras) and exits 0, or exits 1 at ``--timeout``. ``--expect 0`` collects for
``--timeout`` seconds and exits 0. Bodies must not contain NUL bytes (the wrapper reads C strings).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.interop._cpp_common import (
    EXIT_FAILED,
    EXIT_OK,
    LOG_LEVELS,
    SYSTEM_PROPERTY_KEYS,
    add_common_args,
    describe_message,
    emit,
    hard_exit,
    now,
    prepare_home,
    start_watchdog,
)
from tests.support.payloads import DEFAULT_TAGS, PROPERTY_NAMES, fixed_body, make_message


def percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return round(sorted_values[index], 3)


def bounded(fn: Any, seconds: float) -> bool:
    """Run ``fn`` in a daemon thread; False if it did not return in time (C++ shutdown can hang)."""
    thread = threading.Thread(target=fn, daemon=True)
    thread.start()
    thread.join(seconds)
    return not thread.is_alive()


# --------------------------------------------------------------------------------------- produce
def build_message(client: Any, dll: Any, topic: str, i: int, args: argparse.Namespace) -> Any:
    msg = client.Message(topic)
    tags = tuple(t for t in args.tags.split(",") if t) or DEFAULT_TAGS
    if args.body_size is not None:
        body = fixed_body(args.body_size)
        msg.set_tags(tags[i % len(tags)])
        msg.set_keys(f"key-{args.run}-{args.group}-{i}")
        msg.set_property("idx", str(i))
    else:
        spec = make_message(i, args.run, tags)
        body = spec.body
        msg.set_tags(spec.tags)
        msg.set_keys(spec.keys)
        for name, value in spec.properties.items():
            msg.set_property(name, value)
    # Message.set_body passes a C string; SetByteMessageBody takes an explicit length.
    client.ffi_check(dll.SetByteMessageBody(msg._handle, body, len(body)))
    if args.delay_level:
        msg.set_delay_time_level(args.delay_level)
    return msg


def produce(args: argparse.Namespace) -> int:
    from rocketmq import client
    from rocketmq.exceptions import RocketMQException
    from rocketmq.ffi import dll

    producer = client.Producer(args.group, timeout=args.send_timeout_ms)
    producer.set_namesrv_addr(args.namesrv)
    client.ffi_check(dll.SetProducerLogLevel(producer._handle, LOG_LEVELS[args.log_level]))
    if args.access_key:
        producer.set_session_credentials(args.access_key, args.secret_key or "", args.channel)
    producer.start()
    emit("started", role="producer", group=args.group, topic=args.topic, at=now())

    def send(msg: Any, shard: int) -> Any:
        if args.oneway:
            producer.send_oneway(msg)
            return None
        if args.orderly:
            return producer.send_orderly(msg, shard)
        return producer.send_sync(msg)

    for w in range(args.warmup):  # benchmark warm-up: not part of the measured range
        try:
            send(build_message(client, dll, args.topic, -1 - w, args), 0)
        except RocketMQException:
            time.sleep(0.2)

    latencies: list[float] = []
    failed = 0
    first_send_at = last_send_at = None
    first_deadline = time.monotonic() + args.first_send_timeout
    for n, i in enumerate(range(args.start, args.start + args.count)):
        msg = build_message(client, dll, args.topic, i, args)
        shard = i % args.shards
        attempts = 0
        t0 = time.perf_counter()
        if first_send_at is None:
            first_send_at = now()
        while True:
            attempts += 1
            try:
                result = send(msg, shard)
            except RocketMQException as exc:
                retry = time.monotonic() < first_deadline if n == 0 else attempts <= args.retries
                if retry:
                    time.sleep(0.2 if n == 0 else 0.05)
                    continue
                failed += 1
                emit("send_failed", i=i, attempts=attempts, error=str(exc)[:500])
                break
            latency_ms = (time.perf_counter() - t0) * 1000.0
            latencies.append(latency_ms)
            if not args.quiet:
                fields: dict[str, Any] = {"i": i, "attempts": attempts, "latency_ms": round(latency_ms, 3)}
                if args.orderly:
                    fields["shard"] = shard
                if result is not None:
                    fields.update(status=result.status.name, msg_id=result.msg_id, offset=result.offset)
                else:
                    fields.update(status="ONEWAY")
                emit("sent", **fields)
            break
        last_send_at = now()

    if args.latency_out:
        Path(args.latency_out).write_text("".join(f"{v:.4f}\n" for v in latencies))
    latencies.sort()
    emit(
        "summary",
        role="producer",
        sent=len(latencies),
        failed=failed,
        elapsed_s=round((last_send_at or 0) - (first_send_at or 0), 4),
        first_send_at=first_send_at,
        last_send_at=last_send_at,
        latency_ms={
            "p50": percentile(latencies, 0.5),
            "p99": percentile(latencies, 0.99),
            "max": percentile(latencies, 1.0),
            "mean": round(statistics.fmean(latencies), 3) if latencies else None,
        },
    )
    bounded(producer.shutdown, 10.0)
    return EXIT_OK if failed == 0 else EXIT_FAILED


# --------------------------------------------------------------------------------------- consume
def consume(args: argparse.Namespace) -> int:
    from rocketmq import client
    from rocketmq.ffi import MessageModel, dll

    model = MessageModel.BROADCASTING if args.broadcast else MessageModel.CLUSTERING
    consumer = client.PushConsumer(args.group, orderly=args.orderly, message_model=model)
    consumer.set_namesrv_addr(args.namesrv)
    client.ffi_check(dll.SetPushConsumerLogLevel(consumer._handle, LOG_LEVELS[args.log_level]))
    if args.access_key:
        consumer.set_session_credentials(args.access_key, args.secret_key or "", args.channel)
    if args.threads:
        consumer.set_thread_count(args.threads)
    if args.instance_name:
        consumer.set_instance_name(args.instance_name)
    extra_keys = tuple(k for k in args.property_keys.split(",") if k)
    property_keys = tuple(dict.fromkeys(PROPERTY_NAMES + SYSTEM_PROPERTY_KEYS + extra_keys))

    lock = threading.Lock()
    attempts: dict[str, int] = {}
    acked: set[str] = set()
    counters = {"deliveries": 0, "first_at": 0.0, "last_at": 0.0}
    enough = threading.Event()

    def on_message(_consumer: Any, msg_ptr: Any) -> int:
        # Own callback instead of PushConsumer.subscribe's: that one re-raises after choosing
        # RECONSUME_LATER, and a ctypes callback that raises returns an undefined status.
        try:
            msg = client.RecvMessage(msg_ptr)
            record = describe_message(msg, property_keys)
            # UNIQ_KEY survives redelivery, but C++ producers started at the same moment in
            # different processes can generate equal ones; the keys tell those apart.
            identity = f"{record['properties'].get('UNIQ_KEY') or record['msg_id']}|{record['keys']}"
            with lock:
                attempt = attempts[identity] = attempts.get(identity, 0) + 1
                later = attempt <= args.reconsume_later_times
                duplicate = False
                if not later:
                    duplicate = identity in acked
                    acked.add(identity)
                counters["deliveries"] += 1
                counters["last_at"] = now()
                counters["first_at"] = counters["first_at"] or counters["last_at"]
                if not args.quiet:
                    emit(
                        "message",
                        action="reconsume_later" if later else "success",
                        attempt=attempt,
                        duplicate=duplicate,
                        received_at=counters["last_at"],
                        **record,
                    )
                if args.expect and len(acked) >= args.expect:
                    enough.set()
            return 1 if later else 0
        except BaseException as exc:  # never let an exception cross into C++
            emit("callback_error", error=repr(exc)[:500])
            return 1

    client.ffi_check(dll.Subscribe(consumer._handle, args.topic.encode(), args.expression.encode()))
    consumer._register_callback(on_message)
    consumer.start()
    started = time.monotonic()
    emit("started", role="consumer", group=args.group, topic=args.topic, expression=args.expression, at=now())

    if args.expect:
        reached = enough.wait(args.timeout)
    else:  # collection run: consume for the whole timeout, then report
        time.sleep(args.timeout)
        reached = True
    if reached and args.linger:
        time.sleep(args.linger)
    with lock:
        summary = {
            "received": len(acked),
            "deliveries": counters["deliveries"],
            "expected": args.expect,
            "timed_out": not reached,
            "elapsed_s": round(time.monotonic() - started, 3),
            "first_message_at": counters["first_at"] or None,
            "last_message_at": counters["last_at"] or None,
        }
    emit("summary", role="consumer", **summary)
    bounded(consumer.shutdown, 15.0)
    return EXIT_OK if reached else EXIT_FAILED


# --------------------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("produce", help="send messages with the C++ Producer")
    add_common_args(p)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--start", type=int, default=0, help="index of the first message")
    p.add_argument("--run", default="r0", help="run id mixed into keys, bodies and properties")
    p.add_argument("--tags", default=",".join(DEFAULT_TAGS), help="tags cycled over the messages")
    p.add_argument("--delay-level", type=int, default=0)
    p.add_argument("--orderly", action="store_true", help="send_orderly with sharding key i %% shards")
    p.add_argument("--shards", type=int, default=4)
    p.add_argument("--oneway", action="store_true")
    p.add_argument("--body-size", type=int, default=None, help="fixed ASCII body of N bytes (benchmarks)")
    p.add_argument("--send-timeout-ms", type=int, default=3000)
    p.add_argument("--retries", type=int, default=2, help="retries per message after the first")
    p.add_argument("--first-send-timeout", type=float, default=20.0)
    p.add_argument("--warmup", type=int, default=0, help="unmeasured messages sent first (index < 0)")
    p.add_argument("--quiet", action="store_true", help="only started/summary/failures")
    p.add_argument("--latency-out", help="write every send latency (ms), one per line, to this file")

    c = sub.add_parser("consume", help="receive messages with the C++ PushConsumer")
    add_common_args(c)
    c.add_argument("--expect", type=int, required=True, help="distinct messages to acknowledge")
    c.add_argument("--timeout", type=float, required=True, help="seconds before giving up (exit 1)")
    c.add_argument("--expression", default="*", help="tag expression, e.g. 'TagA || TagC'")
    c.add_argument("--broadcast", action="store_true")
    c.add_argument("--orderly", action="store_true")
    c.add_argument("--reconsume-later-times", type=int, default=0)
    c.add_argument("--linger", type=float, default=0.0, help="keep consuming S seconds after --expect")
    c.add_argument("--threads", type=int, default=0)
    c.add_argument("--instance-name", default="")
    c.add_argument("--property-keys", default="", help="extra property names to report")
    c.add_argument("--quiet", action="store_true", help="no per-message lines")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    start_watchdog(args.deadline)
    prepare_home(args.home)
    try:
        code = produce(args) if args.command == "produce" else consume(args)
    except Exception as exc:
        emit("error", error=f"{type(exc).__name__}: {exc}"[:1000])
        code = EXIT_FAILED
    hard_exit(code)


if __name__ == "__main__":
    main()
