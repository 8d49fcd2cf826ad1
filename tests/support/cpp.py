"""Run the C++ client scripts (``tests/interop/cpp_client.py``, ``cpp_pull.py``) as subprocesses.

The official client is a ctypes wrapper that can crash or hang its interpreter, so tests never
load it in the pytest process. Each script run gets ``HOME`` pointed at a per-test directory (the
client writes ``~/logs/rocketmq-cpp`` and ``~/.rocketmq_offsets``), writes its JSON-lines stdout to a
file, and is bounded twice: by its own ``--deadline`` watchdog and by a kill from here.

Options are given as keyword arguments and turned into flags: ``expect=10`` -> ``--expect 10``,
``broadcast=True`` -> ``--broadcast``, ``False``/``None`` -> omitted.
"""

from __future__ import annotations

import functools
import itertools
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.process import REPO_ROOT, server_env

__all__ = ["CPP_CLIENT", "CPP_PULL", "CppProcess", "CppResult", "CppRunner", "cpp_client_status"]

CPP_CLIENT = REPO_ROOT / "tests" / "interop" / "cpp_client.py"
CPP_PULL = REPO_ROOT / "tests" / "interop" / "cpp_pull.py"
_seq = itertools.count(1)


@functools.cache
def cpp_client_status() -> str | None:
    """``None`` if ``import rocketmq.client`` works in a subprocess, else the reason it does not."""
    try:
        proc = subprocess.run(
            [sys.executable, "-c", "import rocketmq.client"],
            capture_output=True,
            text=True,
            timeout=60,
            env=server_env(),
        )
    except subprocess.TimeoutExpired:
        return "importing rocketmq.client timed out"
    if proc.returncode != 0:
        return f"rocketmq.client does not load: {proc.stderr.strip()[-500:]}"
    return None


def to_flags(options: dict[str, Any]) -> list[str]:
    flags: list[str] = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            flags.append(flag)
        elif isinstance(value, list | tuple):
            for item in value:
                flags += [flag, str(item)]
        else:
            flags += [flag, str(value)]
    return flags


def _parse_lines(text: str) -> list[dict[str, Any]]:
    events = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut short by a kill
    return events


@dataclass
class CppResult:
    """Outcome of one script run: exit code and the JSON events it printed."""

    returncode: int | None
    events: list[dict[str, Any]]
    stdout_path: Path
    stderr_path: Path
    argv: list[str] = field(default_factory=list)

    def of(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == event]

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.of("message")

    @property
    def sent(self) -> list[dict[str, Any]]:
        return self.of("sent")

    @property
    def summary(self) -> dict[str, Any] | None:
        found = self.of("summary")
        return found[-1] if found else None

    def describe(self, nlines: int = 40) -> str:
        """Exit code, argv and the tails of stdout/stderr, for assertion messages."""
        out = self.stdout_path.read_text("utf-8", "replace").splitlines()[-nlines:]
        err = self.stderr_path.read_text("utf-8", "replace").splitlines()[-nlines:]
        return (
            f"exit code {self.returncode}; argv: {' '.join(self.argv)}\n--- stdout tail ---\n"
            + "\n".join(out)
            + "\n--- stderr tail ---\n"
            + "\n".join(err)
        )


class CppProcess:
    """One running script; stdout/stderr go to files under ``log_dir``."""

    def __init__(self, argv: list[str], *, home: Path, log_dir: Path, name: str) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        home.mkdir(parents=True, exist_ok=True)
        self.argv = argv
        self.name = name
        self.stdout_path = log_dir / f"{name}.stdout.jsonl"
        self.stderr_path = log_dir / f"{name}.stderr.log"
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                cwd=log_dir,
                env=server_env({"HOME": str(home)}),
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def events(self) -> list[dict[str, Any]]:
        return _parse_lines(self.stdout_path.read_text("utf-8", "replace"))

    def wait_for_event(self, event: str, timeout: float = 30.0, count: int = 1) -> list[dict[str, Any]]:
        """Wait until ``count`` events named ``event`` were printed.

        Raises:
            TimeoutError: not seen in time (or the process exited first); message has the log tails.
        """
        deadline = time.monotonic() + timeout
        while True:
            found = [e for e in self.events() if e.get("event") == event]
            if len(found) >= count:
                return found
            if self.popen.poll() is not None or time.monotonic() >= deadline:
                raise TimeoutError(f"{self.name}: {count} x {event!r} not seen\n{self.result().describe()}")
            time.sleep(0.05)

    def wait(self, timeout: float) -> CppResult:
        """Wait for exit (kill after ``timeout`` s) and return the result."""
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        return self.result()

    def result(self) -> CppResult:
        return CppResult(self.popen.poll(), self.events(), self.stdout_path, self.stderr_path, self.argv)

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()


class CppRunner:
    """Starts C++ client scripts for one test; all share ``home``; :meth:`close` kills leftovers."""

    def __init__(self, base_dir: Path) -> None:
        self.home = base_dir / "cpp-home"
        self.log_dir = base_dir / "cpp-logs"
        self.procs: list[CppProcess] = []

    def start(self, command: str, *, deadline: float | None = None, **options: Any) -> CppProcess:
        """Start ``cpp_client.py COMMAND`` (or ``cpp_pull.py`` for ``command="pull"``) in the background.

        ``deadline`` is the script's watchdog (default: its ``timeout`` option + 120 s, else 300 s).
        """
        if deadline is None:
            deadline = float(options["timeout"]) + 120.0 if "timeout" in options else 300.0
        script = CPP_PULL if command == "pull" else CPP_CLIENT
        sub = [] if command == "pull" else [command]
        argv = [sys.executable, str(script), *sub, *to_flags(options), "--deadline", str(deadline)]
        argv += ["--home", str(self.home)]
        name = f"{next(_seq):03d}-{command}-{options.get('group', '')}"
        proc = CppProcess(argv, home=self.home, log_dir=self.log_dir, name=name)
        self.procs.append(proc)
        return proc

    def run(self, command: str, *, deadline: float | None = None, **options: Any) -> CppResult:
        """Run to completion (watchdog at ``deadline``, kill 15 s later) and return the result."""
        proc = self.start(command, deadline=deadline, **options)
        return proc.wait(float(proc.argv[proc.argv.index("--deadline") + 1]) + 15.0)

    def close(self) -> None:
        for proc in self.procs:
            proc.kill()
