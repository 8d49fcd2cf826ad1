"""Drives the official RocketMQ 5.x Python client (PyPI ``rocketmq-python-client``), one JSON line per call.

Runs *inside the client's own virtual environment* (its top-level package ``rocketmq`` clashes with
the C++ client wheel of the test venv); :mod:`tests.support.rmq5` starts it and talks to it. Each
stdin line is ``{"op": ..., ...}``; each answer is one stdout line ``{"ok": true, ...}`` or
``{"ok": false, "error": ..., "code": ...}``. This file must not import anything from the repo.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rocketmq import (  # type: ignore[import-not-found]
    ClientConfiguration,
    ConsumeResult,
    Credentials,
    FilterExpression,
    Message,
    MessageListener,
    Producer,
    PushConsumer,
    SimpleConsumer,
    TransactionChecker,
    TransactionResolution,
)

_out = sys.stdout
sys.stdout = sys.stderr  # the client library prints; keep the protocol channel clean


class State:
    def __init__(self, endpoints: str, tls: bool) -> None:
        credentials = Credentials(os.environ.get("RMQ5_AK", ""), os.environ.get("RMQ5_SK", ""))
        self.config = ClientConfiguration(endpoints, credentials, request_timeout=5)
        self.tls = tls
        self.producer: Any = None
        self.simple: Any = None
        self.push: Any = None
        self.received: dict[str, Any] = {}
        self.pushed: list[dict[str, Any]] = []
        self.checked: list[str] = []
        self.check_answer = "commit"
        self.lock = threading.Lock()


def _msg_dict(m: Any) -> dict[str, Any]:
    return {
        "id": m.message_id,
        "topic": m.topic,
        "body": m.body.decode("utf-8", "replace"),
        "tag": m.tag,
        "keys": sorted(m.keys or []),
        "props": dict(m.properties or {}),
        "group": m.message_group,
        "attempt": m.delivery_attempt,
        "delivery_ts": m.delivery_timestamp,
        "born_ts": m.born_timestamp,
        "corrupted": bool(getattr(m, "corrupted", False)),
    }


def _message(spec: dict[str, Any]) -> Any:
    msg = Message()
    msg.topic = spec["topic"]
    msg.body = spec["body"].encode("utf-8")
    if spec.get("tag"):
        msg.tag = spec["tag"]
    for key in spec.get("keys") or ():
        msg.keys = key
    for k, v in (spec.get("props") or {}).items():
        msg.add_property(k, v)
    if spec.get("group"):
        msg.message_group = spec["group"]
    if spec.get("delivery_s"):  # the Python client takes epoch *seconds* here
        msg.delivery_timestamp = int(time.time()) + int(spec["delivery_s"])
    return msg


def handle(st: State, req: dict[str, Any]) -> dict[str, Any]:
    op = req["op"]
    if op == "producer":
        state = st

        class Checker(TransactionChecker):  # type: ignore[misc]
            def check(self, message: Any) -> Any:
                with state.lock:
                    state.checked.append(message.message_id)
                if state.check_answer == "commit":
                    return TransactionResolution.COMMIT
                return TransactionResolution.ROLLBACK

        st.check_answer = req.get("check_answer", "commit")
        st.producer = Producer(st.config, tuple(req["topics"]), checker=Checker(), tls_enable=st.tls)
        st.producer.startup()
        return {}
    if op == "send":
        ids = []
        for spec in req["messages"]:
            receipt = st.producer.send(_message(spec))
            ids.append(receipt.message_id)
        return {"ids": ids}
    if op == "send_async":
        futures = [st.producer.send_async(_message(spec)) for spec in req["messages"]]
        return {"ids": [f.result(timeout=30).message_id for f in futures]}
    if op == "tx_send":
        tx = st.producer.begin_transaction()
        receipt = st.producer.send(_message(req["message"]), tx)
        if req["action"] == "commit":
            tx.commit()
        elif req["action"] == "rollback":
            tx.rollback()
        return {"id": receipt.message_id}
    if op == "checked":
        with st.lock:
            return {"ids": list(st.checked)}
    if op == "simple":
        sub = {req["topic"]: FilterExpression(req.get("tag", "*"))}
        st.simple = SimpleConsumer(
            st.config, req["group"], sub, await_duration=req.get("await", 3), tls_enable=st.tls
        )
        st.simple.startup()
        return {}
    if op == "receive":
        msgs = st.simple.receive(req.get("max", 16), req.get("invisible", 15)) or []
        for m in msgs:
            st.received[m.message_id] = m
        return {"messages": [_msg_dict(m) for m in msgs]}
    if op == "ack":
        for mid in req["ids"]:
            st.simple.ack(st.received.pop(mid))
        return {}
    if op == "change":
        st.simple.change_invisible_duration(st.received[req["id"]], req["invisible"])
        return {}
    if op == "push":
        state = st

        class Listener(MessageListener):  # type: ignore[misc]
            def consume(self, message: Any) -> Any:
                with state.lock:
                    state.pushed.append(_msg_dict(message))
                return ConsumeResult.SUCCESS

        sub = {req["topic"]: FilterExpression(req.get("tag", "*"))}
        st.push = PushConsumer(st.config, req["group"], Listener(), sub, tls_enable=st.tls)
        st.push.startup()
        return {}
    if op == "pushed":
        with st.lock:
            return {"messages": list(st.pushed)}
    if op == "bench_produce":  # send_async with at most ``inflight`` outstanding; elapsed seconds
        body = "x" * int(req.get("body_size", 1024))
        inflight, count, topic = int(req.get("inflight", 64)), int(req["count"]), req["topic"]
        start = time.perf_counter()
        pending: list[Any] = []
        for _ in range(count):
            pending.append(st.producer.send_async(_message({"topic": topic, "body": body})))
            if len(pending) >= inflight:
                pending.pop(0).result(timeout=60)
        for f in pending:
            f.result(timeout=60)
        return {"seconds": time.perf_counter() - start}
    if op == "bench_consume":  # receive 32 + acks from 16 threads until ``count``; elapsed seconds
        count, got = int(req["count"]), 0
        start = time.perf_counter()
        deadline = time.monotonic() + float(req.get("timeout", 300))
        # 5.1.2's ack_async() returns None, so parallel acks come from a thread pool
        with ThreadPoolExecutor(16) as pool:
            while got < count and time.monotonic() < deadline:
                msgs = st.simple.receive(32, 30) or []
                list(pool.map(st.simple.ack, msgs))
                got += len(msgs)
        return {"seconds": time.perf_counter() - start, "received": got}
    if op == "shutdown":
        for client in (st.producer, st.simple, st.push):
            if client is not None:
                client.shutdown()
        return {}
    raise ValueError(f"unknown op {op!r}")


def main() -> int:
    st = State(sys.argv[1], len(sys.argv) > 2 and sys.argv[2] == "tls")
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        try:
            answer = {"ok": True, **handle(st, req)}
        except Exception as exc:
            answer = {
                "ok": False,
                "error": f"{type(exc).__name__}: {exc}",
                "code": getattr(exc, "code", None),
            }
        _out.write(json.dumps(answer) + "\n")
        _out.flush()
        if req.get("op") == "shutdown":
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
