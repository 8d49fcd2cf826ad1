#!/usr/bin/env python3
"""Pull from explicit offsets with the official C++ PullConsumer, one JSON line per event.

Usage::

    python tests/interop/cpp_pull.py --namesrv ADDR --topic T --group G
        [--offset QID=OFFSET ...] [--start-offset N] [--queue-id Q ...] [--expression 'A || B']
        [--max-num 32] [--max-messages N] [--property-keys k1,k2] [--home DIR] [--deadline S]

For every queue of the topic (``FetchSubscriptionMessageQueues``), or only the ``--queue-id`` ones,
pulls from ``--offset QID=OFFSET`` (default ``--start-offset``) until the broker answers
NO_NEW_MSG (or OFFSET_ILLEGAL without progress). The wrapper's own ``PullConsumer.pull`` keeps
offsets in a class-level dict keyed by ``b'topic'@qid`` and cannot start at a given offset, so
this script calls ``dll.Pull`` directly.

Events: ``started``; ``queues`` {queues:[{queue_id, broker_name}]}; ``pull`` {queue_id, offset,
status, next_begin_offset, min_offset, max_offset, size}; ``message`` {... as cpp_client.py,
plus queue_id, queue_offset}; ``summary`` {received, per_queue:{qid: next_offset}}.
Exit 0 unless an error occurred; 3 when the watchdog fires.
"""

from __future__ import annotations

import argparse
import ctypes
import sys
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
    prepare_home,
    start_watchdog,
)
from tests.support.payloads import PROPERTY_NAMES

PULL_STATUS = {0: "FOUND", 1: "NO_NEW_MSG", 2: "NO_MATCHED_MSG", 3: "OFFSET_ILLEGAL", 4: "BROKER_TIMEOUT"}


def parse_offsets(items: list[str]) -> dict[int, int]:
    offsets = {}
    for item in items:
        qid, _, off = item.partition("=")
        offsets[int(qid)] = int(off)
    return offsets


def pull_queue(
    dll: Any,
    client: Any,
    handle: Any,
    mq: Any,
    offset: int,
    args: argparse.Namespace,
    property_keys: tuple[str, ...],
    budget: list[int],
) -> int:
    """Pull one queue from ``offset`` until nothing new; return the next offset."""
    timeouts = 0
    while budget[0] > 0:
        result = dll.Pull(handle, ctypes.pointer(mq), args.expression.encode(), offset, args.max_num)
        try:
            status = PULL_STATUS.get(result.pullStatus, str(result.pullStatus))
            emit(
                "pull",
                queue_id=mq.queueId,
                offset=offset,
                status=status,
                next_begin_offset=result.nextBeginOffset,
                min_offset=result.minOffset,
                max_offset=result.maxOffset,
                size=result.size if status == "FOUND" else 0,
            )
            if status == "BROKER_TIMEOUT":
                timeouts += 1
                if timeouts > 3:
                    return offset
                continue
            if status == "FOUND":
                for k in range(int(result.size)):
                    msg = client.RecvMessage(result.msgFoundList[k])
                    emit("message", **describe_message(msg, property_keys))
                    budget[0] -= 1
            progressed = result.nextBeginOffset != offset
            offset = result.nextBeginOffset
            if status == "NO_NEW_MSG" or not progressed:
                return offset
        finally:
            dll.ReleasePullResult(result)
    return offset


def run(args: argparse.Namespace) -> int:
    from rocketmq import client
    from rocketmq.ffi import _CMessageQueue, dll

    consumer = client.PullConsumer(args.group)
    consumer.set_namesrv_addr(args.namesrv)
    client.ffi_check(dll.SetPullConsumerLogLevel(consumer._handle, LOG_LEVELS[args.log_level]))
    if args.access_key:
        consumer.set_session_credentials(args.access_key, args.secret_key or "", args.channel)
    consumer.start()
    emit("started", role="pull_consumer", group=args.group, topic=args.topic)

    mqs = ctypes.POINTER(_CMessageQueue)()
    size = ctypes.c_int()
    client.ffi_check(
        dll.FetchSubscriptionMessageQueues(
            consumer._handle, args.topic.encode(), ctypes.pointer(mqs), ctypes.pointer(size)
        )
    )
    queues = [mqs[k] for k in range(size.value)]
    emit("queues", queues=[{"queue_id": q.queueId, "broker_name": q.brokerName.decode()} for q in queues])
    offsets = parse_offsets(args.offset)
    wanted = set(args.queue_id)
    extra_keys = tuple(k for k in args.property_keys.split(",") if k)
    property_keys = tuple(dict.fromkeys(PROPERTY_NAMES + SYSTEM_PROPERTY_KEYS + extra_keys))
    budget = [args.max_messages]
    received_before = budget[0]
    next_offsets: dict[int, int] = {}
    for mq in sorted(queues, key=lambda q: q.queueId):
        if wanted and mq.queueId not in wanted:
            continue
        start = offsets.get(mq.queueId, args.start_offset)
        next_offsets[mq.queueId] = pull_queue(
            dll, client, consumer._handle, mq, start, args, property_keys, budget
        )
    client.ffi_check(dll.ReleaseSubscriptionMessageQueue(mqs))
    emit("summary", role="pull_consumer", received=received_before - budget[0], per_queue=next_offsets)
    return EXIT_OK


def main() -> None:
    parser = argparse.ArgumentParser(description="C++ PullConsumer with explicit offsets")
    add_common_args(parser)
    parser.add_argument("--offset", action="append", default=[], help="QID=OFFSET (repeatable)")
    parser.add_argument("--start-offset", type=int, default=0)
    parser.add_argument("--queue-id", type=int, action="append", default=[])
    parser.add_argument("--expression", default="*")
    parser.add_argument("--max-num", type=int, default=32, help="messages per pull request")
    parser.add_argument("--max-messages", type=int, default=1_000_000)
    parser.add_argument("--property-keys", default="")
    args = parser.parse_args()
    start_watchdog(args.deadline)
    prepare_home(args.home)
    try:
        code = run(args)
    except Exception as exc:
        emit("error", error=f"{type(exc).__name__}: {exc}"[:1000])
        code = EXIT_FAILED
    hard_exit(code)


if __name__ == "__main__":
    main()
