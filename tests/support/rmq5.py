"""The official RocketMQ 5.x Python client in its own virtual environment, driven line by line.

``rocketmq-python-client`` installs a top-level package named ``rocketmq``, as does the C++ client
wheel in the test venv, so it gets a venv of its own: ``.venv-rmq5`` at the repository root,
created on first use (under a file lock, so parallel pytest workers create it once) and reused
while it holds the pinned version. :class:`Rmq5Client` runs ``tests/interop/rmq5_driver.py`` in
it; each :meth:`Rmq5Client.call` writes one JSON request and waits (bounded) for one JSON answer.
"""

from __future__ import annotations

import fcntl
import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

from tests.support.process import REPO_ROOT, die_with_parent

__all__ = ["RMQ5_VERSION", "Rmq5Client", "Rmq5Error", "ensure_rmq5_venv"]

RMQ5_VERSION = "5.1.2"
VENV = REPO_ROOT / ".venv-rmq5"
DRIVER = REPO_ROOT / "tests" / "interop" / "rmq5_driver.py"


class Rmq5Error(RuntimeError):
    """The client answered ``ok: false``; ``code`` is the v2 status code when it had one."""

    def __init__(self, op: str, error: str, code: int | None) -> None:
        super().__init__(f"{op}: {error}")
        self.error = error
        self.code = code


def ensure_rmq5_venv() -> Path:
    """The venv's python, creating the venv and installing the client when needed."""
    python = VENV / "bin" / "python"
    stamp = VENV / f".installed-{RMQ5_VERSION}"
    if stamp.exists():
        return python
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(REPO_ROOT / ".venv-rmq5.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not stamp.exists():
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, timeout=300)
            subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", f"rocketmq-python-client=={RMQ5_VERSION}"],
                check=True,
                timeout=900,
            )
            stamp.touch()
    return python


def _pump_lines(stream: IO[str], out: queue.Queue[str | None]) -> None:
    for line in stream:
        out.put(line)
    out.put(None)


class Rmq5Client:
    """One driver process: ``Rmq5Client(endpoint, log_path).call("send", messages=[...])``."""

    def __init__(
        self, endpoint: str, log_path: Path, *, tls: bool = False, env: dict[str, str] | None = None
    ):
        python = ensure_rmq5_venv()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "ab")
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        full_env["HOME"] = str(log_path.parent)  # the client logs to ~/logs/rocketmq_python
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [str(python), str(DRIVER), endpoint, "tls" if tls else "plain"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=full_env,
            cwd=str(log_path.parent),
            preexec_fn=die_with_parent,
        )
        assert self.proc.stdout is not None
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_pump_lines, args=(self.proc.stdout, self._lines), daemon=True).start()

    def call(self, op: str, timeout: float = 60.0, **args: Any) -> dict[str, Any]:
        """Send one request; return the answer or raise Rmq5Error / TimeoutError."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"5.x client: no answer to {op} within {timeout} s") from None
        if line is None:
            raise Rmq5Error(op, f"driver exited with {self.proc.wait(5)}", None)
        answer: dict[str, Any] = json.loads(line)
        if not answer.pop("ok"):
            raise Rmq5Error(op, str(answer.get("error")), answer.get("code"))
        return answer

    def close(self) -> None:
        """Shut the clients down (bounded), then make sure the process is gone."""
        if self.proc.poll() is None:
            try:
                self.call("shutdown", timeout=20)
            except (Rmq5Error, TimeoutError, OSError, ValueError):
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()

    def __enter__(self) -> Rmq5Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
