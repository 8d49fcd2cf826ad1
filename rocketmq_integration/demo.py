"""``make demo``: an embedded NameServer + Broker on 127.0.0.1 and a short produce/consume demo.

Starts both servers in this process (the same ``NamesrvApp`` / ``BrokerApp`` that
``python -m broker_core`` runs), sends a few messages with our producer, consumes them with a push
consumer, prints what happened, then keeps serving so other clients (the official C++ or Java
clients, ``mqadmin``) can connect, until Ctrl-C. The store lives in ``./run-data/store``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from broker_core import eventloop
from broker_core.broker.app import BrokerApp
from broker_core.config.broker import BrokerConfig
from broker_core.config.namesrv import NamesrvConfig
from broker_core.config.store import StoreConfig
from broker_core.errors import StoreLockedError
from broker_core.logsetup import configure_logging
from broker_core.message.model import Message, MessageExt
from broker_core.namesrv.app import NamesrvApp
from rocketmq_integration.client import Admin, ConsumeResult, Producer, PushConsumer

TOPIC = "DemoTopic"


def _port_or_free(port: int) -> int:
    """``port`` if it can be bound on loopback, else a free one (a second demo must not fail)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def say(text: str) -> None:
    print(text, flush=True)


async def demo(args: argparse.Namespace) -> int:
    ns_port = _port_or_free(args.namesrv_port)
    namesrv = NamesrvApp(NamesrvConfig(host="127.0.0.1", port=ns_port))
    await namesrv.start()
    namesrv_addr = f"127.0.0.1:{ns_port}"
    store_root = Path(args.store_dir).resolve()
    broker = BrokerApp(
        BrokerConfig(namesrv_addr=namesrv_addr, listen_port=_port_or_free(args.broker_port)),
        StoreConfig(store_path_root_dir=store_root, mapped_file_size_commit_log=64 * 1024 * 1024,
                    mapped_file_size_consume_queue=300_000 * 20),
    )  # fmt: skip
    try:
        broker_port = await broker.start()
    except StoreLockedError:
        await namesrv.stop()
        print(
            f"demo: the store {store_root} is in use by another `make demo` (or broker); stop that one, "
            "or use another store: make demo DEMO_ARGS='--store-dir run-data/store2'",
            file=sys.stderr,
        )
        return 1
    say(f"NameServer listening on {namesrv_addr}")
    say(f"Broker {broker.config.broker_name} listening on 127.0.0.1:{broker_port} (store: {store_root})")

    producer = Producer("DemoProducerGroup", namesrv_addr=namesrv_addr)
    consumer = PushConsumer("DemoConsumerGroup", namesrv_addr=namesrv_addr)
    received: asyncio.Queue[MessageExt] = asyncio.Queue()
    try:
        async with Admin(namesrv_addr) as admin:
            await admin.create_topic(TOPIC, broker_addr=f"127.0.0.1:{broker_port}")
            await admin.wait_for_route(TOPIC, timeout=10)

        async def on_messages(msgs: list[MessageExt]) -> ConsumeResult:
            for m in msgs:
                received.put_nowait(m)
            return ConsumeResult.SUCCESS

        consumer.subscribe(TOPIC, "*")
        consumer.register_listener(on_messages)
        await consumer.start()
        await producer.start()
        sent_ids = set()
        for i in range(args.count):
            msg = Message(TOPIC, f"hello rocketmq {i} — héllo ✓ 中".encode(), properties={"demo": str(i)})
            msg.tags = "TagA" if i % 2 == 0 else "TagB"
            msg.keys = f"demo-key-{i}"
            result = await producer.send(msg)
            sent_ids.add(result.msg_id)
            say(
                f"sent     #{i} status={result.status.name} msgId={result.msg_id} queue={result.message_queue.queue_id} offset={result.queue_offset}"
            )
        got = 0
        while got < len(sent_ids):
            m = await asyncio.wait_for(received.get(), timeout=30)
            if m.msg_id in sent_ids:
                got += 1
                say(f"received msgId={m.msg_id} tags={m.tags} keys={m.keys} body={m.body.decode()!r}")
        say(f"demo complete: {got}/{len(sent_ids)} messages sent and consumed")
        if args.exit_after_demo:
            return 0
        say("serving until Ctrl-C ...")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        say("stopping ...")
        return 0
    finally:
        with contextlib.suppress(Exception):
            await producer.shutdown()
        with contextlib.suppress(Exception):
            await consumer.shutdown()
        await broker.stop()
        await namesrv.stop()
        say("stopped cleanly")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rocketmq_integration.demo", description=__doc__)
    parser.add_argument(
        "--namesrv-port", type=int, default=9876, help="NameServer port (default 9876, else a free one)"
    )
    parser.add_argument(
        "--broker-port", type=int, default=10911, help="Broker port (default 10911, else a free one)"
    )
    parser.add_argument("--store-dir", default="run-data/store", help="store root (default ./run-data/store)")
    parser.add_argument("--count", type=int, default=5, help="messages to send (default 5)")
    parser.add_argument(
        "--exit-after-demo", action="store_true", help="stop after the demo instead of serving"
    )
    parser.add_argument("--log-level", default="warning", help="server log level (default warning)")
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    try:
        return eventloop.run(demo(args))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
