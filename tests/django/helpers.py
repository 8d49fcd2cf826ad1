"""Helpers of the Django tests: ``manage.py`` subprocesses, self-signalling for ``call_command``,
HTTP probes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

from tests.support.process import die_with_parent, server_env

MANAGE = Path(__file__).resolve().parent / "manage.py"
REPO = Path(__file__).resolve().parents[2]


class ManagePy:
    """A ``manage.py <command>`` subprocess with its output in a log file."""

    def __init__(self, tmp_path: Path, *args: str, env: Mapping[str, str] | None = None) -> None:
        self.log = tmp_path / f"manage-{args[0]}-{time.monotonic_ns()}.log"
        extra = {"DJANGO_SETTINGS_MODULE": "tests.django.settings", **(env or {})}
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, str(MANAGE), *args], cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
                env=server_env(extra), preexec_fn=die_with_parent,
            )  # fmt: skip

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 60.0) -> None:
        """Wait until ``text`` appears in the output (the process must stay alive)."""
        deadline = time.monotonic() + timeout
        while text not in self.output():
            assert self.proc.poll() is None, f"exited {self.proc.returncode}:\n{self.output()}"
            assert time.monotonic() < deadline, f"{text!r} not seen within {timeout}s:\n{self.output()}"
            time.sleep(0.1)  # output arrives in a file; there is no event to await

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        """Send ``sig`` and return the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError(f"no exit within {timeout}s after {sig!r}:\n{self.output()}") from None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def wait(self, timeout: float = 120.0) -> int:
        return self.proc.wait(timeout)


def sigterm_self_when(condition: Callable[[], bool], timeout: float = 90.0) -> threading.Thread:
    """SIGTERM this process once a command running in the main thread handles SIGTERM itself
    (its handler replaced ours) and ``condition()`` holds. Used to stop ``call_command`` runs."""
    original = signal.getsignal(signal.SIGTERM)
    pid = os.getpid()

    def run() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if signal.getsignal(signal.SIGTERM) is not original and condition():
                os.kill(pid, signal.SIGTERM)
                return
            time.sleep(0.05)  # polling a handler slot / a condition; no event exists for it

    thread = threading.Thread(target=run, name="sigterm-self", daemon=True)
    thread.start()
    return thread


def http_get(port: int, path: str, timeout: float = 5.0) -> tuple[int, str]:
    """Status and body of ``GET http://127.0.0.1:<port><path>``."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as resp:
            return int(resp.status), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode()
