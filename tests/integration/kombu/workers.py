"""Real ``celery worker`` subprocesses for the kombu-transport tests.

:class:`CeleryWorker` runs ``python -m celery -A tests.integration.kombu.celery_app worker`` with
the test's broker URL, queue and options in the environment, copies its output to a log file and
watches it line by line, so a test waits for an event (``ready.``, a task id in the log) instead
of sleeping. Workers are stopped with SIGTERM (warm shutdown) or SIGKILL, always by PID.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.process import die_with_parent, server_env

APP = "tests.integration.kombu.celery_app"


class CeleryWorker:
    """One worker process; see the module docstring."""

    def __init__(
        self,
        broker: str,
        queue: str,
        log_dir: Path,
        *,
        name: str = "w1",
        pool: str = "threads",
        concurrency: int = 2,
        options: dict[str, Any] | None = None,
        acks_late: bool = False,
        backend: str = "rpc://",
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.log_path = log_dir / f"celery-{name}.log"
        self.argv = [
            sys.executable, "-m", "celery", "-A", APP, "worker", "-P", pool, "-c", str(concurrency),
            "-Q", queue, "-n", f"{name}@%h", "--without-mingle", "--without-gossip", "-l", "INFO",
            *extra_args,
        ]  # fmt: skip
        self.env = server_env(
            {
                "KOMBU_TEST_BROKER": broker,
                "KOMBU_TEST_QUEUE": queue,
                "KOMBU_TEST_OPTIONS": json.dumps(options or {}),
                "KOMBU_TEST_ACKS_LATE": "1" if acks_late else "0",
                "KOMBU_TEST_BACKEND": backend,
            }
        )
        self._lines: list[str] = []
        self._cond = threading.Condition()
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def hostname(self) -> str:
        """The worker's node name (``name@host``), as remote control reports it."""
        return f"{self.name}@{socket.gethostname()}"

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 60.0) -> CeleryWorker:
        self._proc = subprocess.Popen(
            self.argv, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            text=True, preexec_fn=die_with_parent, cwd=str(self.log_path.parent),
        )  # fmt: skip
        self._reader = threading.Thread(target=self._read, name=f"celery-{self.name}-out", daemon=True)
        self._reader.start()
        self.wait_for("ready.", timeout)
        return self

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        with open(self.log_path, "a", encoding="utf-8") as log:
            for line in self._proc.stdout:
                log.write(line)
                log.flush()
                with self._cond:
                    self._lines.append(line)
                    self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_for(self, text: str, timeout: float = 30.0, count: int = 1) -> None:
        """Wait until ``text`` appeared in ``count`` output lines (AssertionError with the log if not)."""

        def seen() -> bool:
            return sum(text in line for line in self._lines) >= count or not self.running

        with self._cond:
            self._cond.wait_for(seen, timeout)
            if sum(text in line for line in self._lines) < count:
                raise AssertionError(f"worker {self.name}: {text!r} not seen ({count}x):\n{self.log_tail()}")

    def count(self, text: str) -> int:
        with self._cond:
            return sum(text in line for line in self._lines)

    def log_tail(self, n: int = 60) -> str:
        with self._cond:
            return "".join(self._lines[-n:])

    def stop(self, timeout: float = 30.0, warm: bool = True) -> int:
        """Warm (SIGTERM) or cold (SIGQUIT) shutdown; SIGKILL if it does not exit within ``timeout``."""
        if self._proc is None:
            return 0
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM if warm else signal.SIGQUIT)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)
        if self._reader is not None:
            self._reader.join(10)
        return int(self._proc.returncode)

    def kill(self) -> None:
        """SIGKILL the worker and its pool children (its process group is the test's, so by PID)."""
        if self._proc is None or self._proc.poll() is not None:
            return
        children = _children(self._proc.pid)
        self._proc.kill()
        self._proc.wait(10)
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self._reader is not None:
            self._reader.join(10)


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


@contextmanager
def running_worker(*args: Any, **kwargs: Any) -> Iterator[CeleryWorker]:
    worker = CeleryWorker(*args, **kwargs)
    try:
        yield worker.start()
    finally:
        worker.stop()
