#!/usr/bin/env python3
"""Micro-benchmark of the mypyc-compiled modules: the same codec calls, pure Python vs compiled.

For each mode a child process (``ROCKETMQ_PURE_PYTHON=1`` for pure, the default for compiled)
times, in CPU time per call (best of alternating rounds): a SEND_MESSAGE_V2-like request frame decoded (JSON and ROCKETMQ headers), a
response frame encoded, and a 1 KiB commit-log record prepared + written + decoded. Prints ns per
call and the pure/compiled ratio. Needs a current build (``make accel``); without one both columns
are pure and the script says so.

Usage: ``python bench/accel_codec.py [--seconds 1.0]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, sys, time
from broker_core import _accel
from broker_core.message.codec import decode_record, prepare_record, write_record
from broker_core.message.model import BrokerMessage
from broker_core.remoting.codes import SerializeType
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.frame import FrameDecoder, encode_frame

seconds = float(sys.argv[1])
ext = {"a": "pg", "b": "JavaBench8", "c": "TBW102", "d": "4", "e": "3", "f": "0", "g": "1764750000000",
       "h": "0", "i": "UNIQ_KEY\x01AC1100020000\x02WAIT\x01true\x02", "j": "0", "k": "false", "m": "false"}
frames = {st: encode_frame(RemotingCommand(code=310, opaque=9, ext_fields=ext, body=b"x" * 1024, serialize_type=st))
          for st in (SerializeType.JSON, SerializeType.ROCKETMQ)}
resp = RemotingCommand(code=0, opaque=9, flag=1, ext_fields={"msgId": "7F00000100002A9F0000000000000000",
                       "queueId": "3", "queueOffset": "12345"})
msg = BrokerMessage(topic="JavaBench8", queue_id=3, body=b"x" * 1024, properties_str=ext["i"],
                    born_timestamp=1764750000000, born_host=("127.0.0.1", 50000))
buf = bytearray(4096)

def timed(fn):
    n, t0 = 0, time.process_time()
    while True:
        for _ in range(1000):
            fn()
        n += 1000
        el = time.process_time() - t0
        if el >= seconds:
            return el / n * 1e9

def record():
    prep = prepare_record(msg)
    write_record(buf, 0, msg, prep, 1, 2, 3)
    decode_record(buf, 0)

out = {
    "decode JSON request frame": timed(lambda: FrameDecoder().feed(frames[SerializeType.JSON])),
    "decode ROCKETMQ request frame": timed(lambda: FrameDecoder().feed(frames[SerializeType.ROCKETMQ])),
    "encode JSON response frame": timed(lambda: encode_frame(resp)),
    "record prepare+write+decode (1 KiB)": timed(record),
}
print(json.dumps({"active": _accel.status().active, "ns": out}))
"""


def run(pure: bool, seconds: float) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != "ROCKETMQ_PURE_PYTHON"}
    if pure:
        env["ROCKETMQ_PURE_PYTHON"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(seconds)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def best(results: list[dict[str, object]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for r in results:
        ns = r["ns"]
        assert isinstance(ns, dict)
        for name, value in ns.items():
            out[name] = min(out.get(name, float("inf")), float(value))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="CPU time per measurement (default 0.5)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating rounds; the best counts (default 3)"
    )
    args = parser.parse_args()
    pure_runs, compiled_runs = [], []
    for _ in range(args.rounds):  # alternate, so a busy moment of a shared machine hits both modes
        pure_runs.append(run(True, args.seconds))
        compiled_runs.append(run(False, args.seconds))
    if not all(r["active"] for r in compiled_runs):
        print("no current compiled build (make accel): both columns are pure Python")
    pns, cns = best(pure_runs), best(compiled_runs)
    print(f"{'call':40} {'pure ns':>9} {'compiled ns':>12} {'ratio':>6}")
    for name, p in pns.items():
        c = cns[name]
        print(f"{name:40} {p:9.0f} {c:12.0f} {p / c:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
