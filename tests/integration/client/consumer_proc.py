"""A push consumer in its own process for the rebalance tests; logs every listener call as JSON lines.

Usage: ``python consumer_proc.py --namesrv ADDR --topic T --group G --log FILE [--orderly]``.
Prints ``READY <client id>`` on stdout once started; stops gracefully on SIGTERM. Each consumed
message becomes one line ``{"pid", "qid", "offset", "msg_id", "idx", "start", "end"}`` (wall-clock
seconds, so lines of several processes on one machine can be compared), flushed at once so a
SIGKILLed process leaves everything it consumed in its log.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from typing import TextIO

from broker_core.message.model import MessageExt
from rocketmq_integration.client import (
    ClientConfig,
    ConsumeFromWhere,
    ConsumerConfig,
    ConsumeResult,
    ListenerKind,
    PushConsumer,
)


class Logger:
    def __init__(self, out: TextIO, delay: float) -> None:
        self.out = out
        self.delay = delay

    async def __call__(self, msgs: list[MessageExt]) -> ConsumeResult:
        start = time.time()
        if self.delay:
            await asyncio.sleep(self.delay)
        end = time.time()
        for m in msgs:
            line = {
                "pid": os.getpid(), "qid": m.queue_id, "offset": m.queue_offset, "msg_id": m.msg_id,
                "idx": int(m.properties.get("idx", "-1")), "start": start, "end": end,
            }  # fmt: skip
            self.out.write(json.dumps(line) + "\n")
        self.out.flush()
        return ConsumeResult.SUCCESS


async def main(args: argparse.Namespace) -> None:
    client = ClientConfig(
        namesrv_addr=args.namesrv, poll_name_server_interval=1.0, heartbeat_broker_interval=5.0,
        persist_consumer_offset_interval=0.5,
    )  # fmt: skip
    config = ConsumerConfig(
        consume_from_where=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET, rebalance_interval=args.rebalance,
        lock_renew_interval=1.0, lock_expire=4.0, consume_thread_max=8,
    )  # fmt: skip
    consumer = PushConsumer(args.group, client_config=client, config=config)
    consumer.subscribe(args.topic)
    kind = ListenerKind.ORDERLY if args.orderly else ListenerKind.CONCURRENTLY
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    with open(args.log, "a", encoding="utf-8") as out:
        consumer.register_listener(Logger(out, args.delay), kind)
        await consumer.start()
        print("READY", consumer.client_id, flush=True)
        await stop.wait()
        await consumer.shutdown()
    print("STOPPED", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--namesrv", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--orderly", action="store_true")
    parser.add_argument("--rebalance", type=float, default=2.0)
    parser.add_argument("--delay", type=float, default=0.005)
    asyncio.run(main(parser.parse_args()))
    sys.exit(0)
