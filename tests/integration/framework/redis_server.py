"""A throw-away ``redis-server`` subprocess for the Redis idempotency store tests.

Started on 127.0.0.1 with a free port, no persistence (``--save ''``, ``--appendonly no``) and its
working directory and log in a pytest tmp dir; ready once it answers PING; killed by PID at
teardown (and, on Linux, SIGKILLed if pytest itself dies). The binary comes from Debian's
``redis-server`` package, which ``.ci/run`` installs when it is missing — a missing binary fails
the test with that hint instead of skipping it.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.net import free_port, port_is_open
from tests.support.process import die_with_parent

__all__ = ["RedisServer", "redis_server_process"]

START_TIMEOUT = 15.0


class RedisServer:
    """A running server: ``url``, ``port``, ``pid`` and its log for failure messages."""

    def __init__(self, popen: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
        self.popen = popen
        self.port = port
        self.log_path = log_path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log_tail(self, nbytes: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-nbytes:]
        except OSError:
            return "<no log>"


def _binary() -> str:
    path = shutil.which("redis-server")
    if path is None:
        raise AssertionError(
            "redis-server is not installed: the Redis idempotency tests need a real server "
            "(Debian package 'redis-server'; .ci/run installs it: apt-get install -y redis-server)"
        )
    return path


def _ping(port: int) -> bool:
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1.0, socket_connect_timeout=1.0)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _start(binary: str, work_dir: Path, attempt: int) -> RedisServer | None:
    """One start attempt; ``None`` if the process died (typically a lost race for the port)."""
    port = free_port()
    log_path = work_dir / f"redis-{port}-{attempt}.log"
    argv = [
        binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        "--dir", str(work_dir), "--daemonize", "no", "--logfile", "",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        popen = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            # the death signal follows the spawning *thread*: only safe from the main thread
            preexec_fn=die_with_parent if threading.current_thread() is threading.main_thread() else None,
        )  # fmt: skip
    server = RedisServer(popen, port, log_path)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            return None
        if port_is_open("127.0.0.1", port) and _ping(port):
            return server
        time.sleep(0.05)
    _kill(server)
    raise AssertionError(f"redis-server did not answer PING within {START_TIMEOUT}s:\n{server.log_tail()}")


def _kill(server: RedisServer) -> None:
    if server.popen.poll() is None:
        server.popen.kill()
    server.popen.wait(10.0)


@contextmanager
def redis_server_process(work_dir: Path) -> Iterator[RedisServer]:
    """Run ``redis-server`` for the duration of the ``with`` block."""
    binary = _binary()
    work_dir.mkdir(parents=True, exist_ok=True)
    server = None
    for attempt in range(3):
        server = _start(binary, work_dir, attempt)
        if server is not None:
            break
    if server is None:
        logs = "\n".join(p.read_text(errors="replace")[-1500:] for p in sorted(work_dir.glob("redis-*.log")))
        raise AssertionError(f"redis-server exited during start-up (3 attempts):\n{logs}")
    try:
        yield server
    finally:
        _kill(server)
