#!/usr/bin/env python3
"""CPU per pulled message on the broker's remoting side, in-process and repeatable.

An in-process broker (ASYNC_FLUSH, temporary store, no NameServer) is filled with ``--messages``
1 KiB messages over 8 queues, then PULL_MESSAGE request frames shaped like the Java push consumer's
(4.9.8: JSON header, ``maxMsgNums`` 32, COMMIT_OFFSET | SUSPEND | SUBSCRIPTION, tag ``*``) are fed
straight into a server :class:`~broker_core.remoting.channel.Channel` with an in-memory transport,
``--batch`` frames per ``data_received`` call, each pull starting where the previous one of its
queue ended, until everything has been pulled. Measured: process CPU per message pulled, from the
request bytes arriving to the response parts handed to ``writelines`` (header decoding, checks,
consume-queue lookup, the views of the commit-log records, the response header). Not measured:
socket syscalls (``bench/cpu_per_msg.py`` and ``bench/drain_bench.py`` have those). The pull-side
twin of ``bench/send_path.py``; the best of ``--rounds`` rounds counts.

Usage::

    python bench/pull_path.py [--messages 40000] [--rounds 5] [--batch 4] [--max-nums 32]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))

from send_path import TOPIC, base_parser, in_process_broker, server_channel  # noqa: E402

from broker_core import _accel, eventloop  # noqa: E402
from broker_core.message.model import BrokerMessage  # noqa: E402
from broker_core.remoting.codes import LanguageCode  # noqa: E402
from broker_core.remoting.command import RemotingCommand  # noqa: E402
from broker_core.remoting.frame import encode_frame  # noqa: E402

GROUP = "pull_path_bench"
QUEUES = 8


def pull_frame(queue_id: int, offset: int, max_nums: int, opaque: int) -> bytes:
    """One PULL_MESSAGE (code 11) as the Java push consumer sends it."""
    ext = {
        "consumerGroup": GROUP, "topic": TOPIC, "queueId": str(queue_id), "queueOffset": str(offset),
        "maxMsgNums": str(max_nums), "sysFlag": "7", "commitOffset": str(offset),
        "suspendTimeoutMillis": "15000", "subscription": "*", "subVersion": "1", "expressionType": "TAG",
    }  # fmt: skip
    cmd = RemotingCommand(code=11, opaque=opaque, language=LanguageCode.JAVA, ext_fields=ext)
    return encode_frame(cmd)


async def run(args: argparse.Namespace) -> list[float]:
    async with in_process_broker("pull-path-") as app:
        body = b"x" * args.body_size
        for i in range(args.messages):
            msg = BrokerMessage(
                topic=TOPIC, queue_id=i % QUEUES, body=body,
                properties_str=f"UNIQ_KEY\x017F0000010D7A18B4AAC2{i:016X}",
            )  # fmt: skip
            app.store.put_message_now(msg)
        await app.store.reput.wait_dispatched()
        per_queue = args.messages // QUEUES
        results = []
        for r in range(args.rounds + 1):  # round 0 warms up (page cache, caches)
            # the frames of a round: each queue pulled from 0 to its end in max-nums steps
            frames = []
            opaque = 1
            for start in range(0, per_queue, args.max_nums):
                for q in range(QUEUES):
                    frames.append(pull_frame(q, start, args.max_nums, opaque))
                    opaque += 1
            chunks = [b"".join(frames[i : i + args.batch]) for i in range(0, len(frames), args.batch)]
            ch, tr = server_channel(app)
            prof = cProfile.Profile() if args.profile and r == 1 else None
            t0 = time.process_time()
            if prof:
                prof.enable()
            for chunk in chunks:
                ch.data_received(chunk)
            if prof:
                prof.disable()
                prof.dump_stats(args.profile)
            el = time.process_time() - t0
            expected = per_queue * QUEUES * args.body_size
            if tr.written < expected:
                raise SystemExit(
                    f"pulled {tr.written} bytes, expected at least {expected}: the pull path failed"
                )
            if r:
                results.append(el / (per_queue * QUEUES) * 1e6)
            await asyncio.sleep(0)
        return results


def main() -> int:
    ap = base_parser(__doc__, 40000)
    ap.add_argument("--max-nums", type=int, default=32, help="maxMsgNums of each pull")
    args = ap.parse_args()
    res = eventloop.run(run(args))
    st = _accel.status()
    print(
        f"pull path (maxMsgNums {args.max_nums}, batch {args.batch}, {args.body_size} B, "
        f"{'compiled' if st.active else 'pure'}): best {min(res):.2f} us/msg, "
        f"rounds {' '.join(f'{x:.2f}' for x in res)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
