#!/usr/bin/env python3
"""CPU per SEND_MESSAGE_V2 on the broker's remoting side, in-process and repeatable.

An in-process broker (ASYNC_FLUSH, temporary store, no NameServer) gets request frames shaped like
the Java benchmark Producer's (SEND_MESSAGE_V2, JSON header by default, 1 KiB body) fed straight into
a server :class:`~broker_core.remoting.channel.Channel` with an in-memory transport, ``--batch``
frames per ``data_received`` call (a busy connection delivers several at once). Measured: process CPU
time per message from the bytes arriving to the response frames handed to ``writelines``: frame and
header decoding, the send processor, the store append (commit log + dispatch), the response encoding.
Not measured: the socket syscalls and the event loop's own work, which ``bench/cpu_per_msg.py``
includes (that one is the end-to-end figure against Apache; this one isolates the Python per-message
work with no client competing for the two cores).

The best of ``--rounds`` rounds counts (a shared machine adds noise, never removes it).
``--profile FILE`` writes a cProfile of one round. Usage::

    python bench/send_path.py [--messages 20000] [--rounds 5] [--batch 4] [--serialize json|rocketmq]
                              [--flush ASYNC_FLUSH|SYNC_FLUSH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from broker_core import _accel, eventloop  # noqa: E402
from broker_core.broker.app import BrokerApp  # noqa: E402
from broker_core.config.broker import BrokerConfig  # noqa: E402
from broker_core.config.store import FlushDiskType, StoreConfig  # noqa: E402
from broker_core.remoting.channel import Channel  # noqa: E402
from broker_core.remoting.codes import LanguageCode, SerializeType  # noqa: E402
from broker_core.remoting.command import RemotingCommand  # noqa: E402
from broker_core.remoting.frame import encode_frame  # noqa: E402

TOPIC = "SendPathBench"


class _Transport:
    """Enough of an asyncio transport for a server channel: it counts the bytes written."""

    def __init__(self) -> None:
        self.written = 0
        self.frames = 0
        self.parts = 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50001), "sockname": ("127.0.0.1", 10911)}.get(name, default)

    def writelines(self, data: list[bytes | memoryview]) -> None:
        self.frames += 1
        self.parts += len(data)
        for d in data:
            self.written += len(d)

    def write(self, data: bytes) -> None:
        self.writelines([data])

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def request_frames(n: int, serialize: SerializeType, body_size: int) -> list[bytes]:
    """``n`` frames like the Java benchmark Producer's (4.9.8, ``-s body_size``)."""
    body = (b"abcdefghijklmnopqrstuvwxyz0123456789" * (body_size // 36 + 1))[:body_size]
    out = []
    for i in range(n):
        props = f"UNIQ_KEY\x017F0000010D7A18B4AAC2{i:016X}\x02WAIT\x01true"
        ext = {
            "a": "benchmark_producer", "b": TOPIC, "c": "TBW102", "d": "4", "e": str(i % 8), "f": "0",
            "g": str(1795711956049 + i), "h": "0", "i": props, "j": "0", "k": "false", "m": "false",
            "n": "broker-a",
        }  # fmt: skip
        cmd = RemotingCommand(
            code=310, opaque=i + 1, language=LanguageCode.JAVA, ext_fields=ext, body=body,
            serialize_type=serialize,
        )  # fmt: skip
        out.append(encode_frame(cmd))
    return out


@contextlib.asynccontextmanager
async def in_process_broker(prefix: str, flush: str = "ASYNC_FLUSH") -> AsyncIterator[BrokerApp]:
    """A started broker on a temporary store (no NameServer), with topic TOPIC of 8 queues."""
    store = Path(tempfile.mkdtemp(prefix=prefix))
    app = BrokerApp(
        BrokerConfig(listen_port=0, broker_ip1="127.0.0.1"),
        StoreConfig(
            store_path_root_dir=store,
            mapped_file_size_commit_log=256 * 1024 * 1024,
            flush_disk_type=FlushDiskType[flush],
        ),
    )
    await app.start()
    try:
        app.ctx.topics.create_in_send(TOPIC, "TBW102", 8)
        yield app
    finally:
        await app.stop()
        shutil.rmtree(store, ignore_errors=True)


def server_channel(app: BrokerApp) -> tuple[Channel, _Transport]:
    """A server channel of ``app`` on an in-memory transport."""
    ch = Channel(app.dispatcher, max_frame_length=16 * 1024 * 1024)
    tr = _Transport()
    ch.connection_made(tr)  # type: ignore[arg-type]
    return ch, tr


async def run(args: argparse.Namespace) -> list[float]:
    async with in_process_broker("send-path-", args.flush) as app:
        st = SerializeType.ROCKETMQ if args.serialize == "rocketmq" else SerializeType.JSON
        frames = request_frames(args.messages, st, args.body_size)
        chunks = [b"".join(frames[i : i + args.batch]) for i in range(0, len(frames), args.batch)]
        results = []
        for r in range(args.rounds + 1):  # round 0 warms up (topic, mapped file, caches)
            ch, tr = server_channel(app)
            prof = cProfile.Profile() if args.profile and r == 1 else None
            t0 = time.process_time()
            if prof:
                prof.enable()
            for chunk in chunks:
                ch.data_received(chunk)
                await asyncio.sleep(0)  # the loop's own work in between: dispatch (reput), flushes
            await app.store.reput.wait_dispatched()
            deadline = time.monotonic() + 60
            while tr.parts < args.messages and time.monotonic() < deadline:
                await asyncio.sleep(0.001)  # SYNC_FLUSH: the answers follow the group commits
            if prof:
                prof.disable()
                prof.dump_stats(args.profile)
            el = time.process_time() - t0
            if tr.written == 0:
                raise SystemExit("no responses written: the send path failed")
            if r:
                results.append(el / args.messages * 1e6)
        return results


def base_parser(doc: str | None, messages: int) -> argparse.ArgumentParser:
    """The options every in-process path benchmark shares (this one and ``pull_path.py``)."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0] if doc else None)
    ap.add_argument("--messages", type=int, default=messages)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch", type=int, default=4, help="frames per data_received call")
    ap.add_argument("--body-size", type=int, default=1024)
    ap.add_argument("--profile", help="cProfile output file for round 1")
    return ap


def main() -> int:
    ap = base_parser(__doc__, 20000)
    ap.add_argument("--serialize", choices=("json", "rocketmq"), default="json")
    ap.add_argument(
        "--flush", choices=("ASYNC_FLUSH", "SYNC_FLUSH"), default="ASYNC_FLUSH",
        help="SYNC_FLUSH: each answer waits for its group commit (the fdatasync CPU counts too)",
    )  # fmt: skip
    args = ap.parse_args()
    res = eventloop.run(run(args))
    st = _accel.status()
    print(
        f"send path ({args.serialize}, {args.flush}, batch {args.batch}, {args.body_size} B, "
        f"{'compiled' if st.active else 'pure'}): best {min(res):.1f} us/msg, "
        f"rounds {' '.join(f'{x:.1f}' for x in res)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
