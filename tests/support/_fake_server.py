"""A stand-in for ``python -m broker_core`` used by the helper self-tests.

``python -m tests.support._fake_server ROLE --host H --port P [--exit-at-start N]
[--ignore-sigterm] [--start-delay S] [...]``: listens on H:P, accepts and closes connections,
exits 0 on SIGTERM (unless told to ignore it). Unknown options are ignored.
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import time
from types import FrameType


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("role")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--exit-at-start", type=int, default=None)
    parser.add_argument("--ignore-sigterm", action="store_true")
    parser.add_argument("--start-delay", type=float, default=0.0)
    args, rest = parser.parse_known_args()
    print(f"fake {args.role} starting on {args.host}:{args.port} extra={rest}", flush=True)
    if args.exit_at_start is not None:
        print("fatal: told to die at start", file=sys.stderr, flush=True)
        return int(args.exit_at_start)

    def on_term(signum: int, frame: FrameType | None) -> None:
        print("SIGTERM received, exiting", flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, signal.SIG_IGN if args.ignore_sigterm else on_term)
    time.sleep(args.start_delay)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))  # EADDRINUSE propagates as an [Errno 98] traceback
    sock.listen(16)
    print("listening", flush=True)
    while True:
        conn, _ = sock.accept()
        conn.close()


if __name__ == "__main__":
    sys.exit(main())
