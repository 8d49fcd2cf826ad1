"""Real ``python -m broker_core`` subprocesses for integration tests.

CLI contract (owned by ``broker_core/__main__.py``)::

    python -m broker_core namesrv --host 127.0.0.1 --port PORT
    python -m broker_core broker --namesrv 127.0.0.1:NSPORT --host 127.0.0.1 --port PORT \
        --store-dir DIR [--cluster NAME] [--broker-name NAME] [--broker-id 0] [-c broker.conf]

A :class:`ServerProcess` owns one such process. Its stdout and stderr go to files (never pipes,
which block the server once they fill up), it is ready when its port accepts a TCP connection, and
a death during start-up raises :class:`ServerStartError` carrying the tail of both logs. Every
live process is also kept in a module-level registry so that :func:`kill_all` (called at the end
of the pytest session) can reap leftovers by PID. On Linux the children also get
``PR_SET_PDEATHSIG=SIGKILL`` (when started from the main thread) so that they die with the test
process even if it is SIGKILLed.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.support.net import free_port, listening_pid_owns_port, port_is_open

__all__ = [
    "DEFAULT_BROKER_CONF",
    "REPO_ROOT",
    "ConfValue",
    "ServerProcess",
    "ServerStartError",
    "ServerStopTimeout",
    "kill_all",
    "server_env",
    "start_broker",
    "start_namesrv",
    "write_broker_conf",
]

#: Repository root (computed, so the repo never records a machine path).
REPO_ROOT = Path(__file__).resolve().parents[2]

#: Broker settings every test broker gets unless overridden: small segments so that rolling,
#: recovery and retention are reachable with little data; async flush so tests are fast.
DEFAULT_BROKER_CONF: Mapping[str, str] = {
    "mappedFileSizeCommitLog": str(4 * 1024 * 1024),  # 4 MiB commit-log segments
    "mappedFileSizeConsumeQueue": str(6000 * 20),  # 6,000 units of 20 bytes per CQ file
    "flushDiskType": "ASYNC_FLUSH",
    "autoCreateTopicEnable": "true",
}

ConfValue = str | int | bool

_ADDR_IN_USE_MARKERS = ("Address already in use", "EADDRINUSE", "[Errno 98]")
_LIVE: dict[int, ServerProcess] = {}
_PR_SET_PDEATHSIG = 1

try:  # loaded before any fork: calling dlopen in a forked child of a threaded parent can deadlock
    _LIBC: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None
except OSError:  # an exotic libc: no parent-death signal, cleanup by PID still works
    _LIBC = None


class ServerStartError(RuntimeError):
    """A server died during start-up or its port never opened; the message holds its log tails."""


class ServerStopTimeout(RuntimeError):
    """A server ignored its stop signal for longer than the timeout (it has been SIGKILLed)."""


def die_with_parent() -> None:
    """``preexec_fn``: the kernel SIGKILLs the child when the spawning thread exits (Linux)."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def server_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for a child Python process: unbuffered, repo importable, plus ``extra``."""
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    pythonpath = [str(REPO_ROOT)]
    if env.get("PYTHONPATH"):
        pythonpath.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(pythonpath)
    if extra:
        env.update(extra)
    return env


def _tail(path: Path, nbytes: int) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - nbytes))
            return fh.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


class ServerProcess:
    """One ``python -m broker_core ROLE`` subprocess listening on ``host:port``.

    Args:
        role: ``namesrv`` or ``broker`` (the first CLI argument).
        options: CLI options after ``--host``/``--port`` (which this class adds itself).
        name: label used for log file names and error messages.
        log_dir: directory for ``NAME.stdout.log`` / ``NAME.stderr.log`` (appended across restarts).
        host: listen address.
        port: listen port; ``None`` picks a free one (and re-picks if it is taken meanwhile).
        env: extra environment variables.
        cwd: working directory (default ``log_dir``).
        start_timeout: seconds to wait for the port to open.
        die_with_parent: ask the kernel to SIGKILL the server when the spawning *thread* exits
            (Linux ``PR_SET_PDEATHSIG``); ``None`` = only when spawned from the main thread, since a
            server started from a short-lived worker thread would die with that thread.
        module: the ``python -m`` module (tests of this helper substitute a fake server).

    Call :meth:`start` (or use :func:`start_namesrv` / :func:`start_broker`, which do).
    """

    def __init__(
        self,
        role: str,
        options: Sequence[str],
        *,
        name: str,
        log_dir: Path,
        host: str = "127.0.0.1",
        port: int | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        start_timeout: float = 20.0,
        die_with_parent: bool | None = None,
        module: str = "broker_core",
    ) -> None:
        self.module = module
        self.role = role
        self.options = list(options)
        self.name = name
        self.host = host
        self._auto_port = port is None
        self.port = free_port(host) if port is None else port
        self.log_dir = Path(log_dir)
        self.env = dict(env or {})
        self.cwd = Path(cwd) if cwd is not None else self.log_dir
        self.start_timeout = start_timeout
        self.die_with_parent = die_with_parent
        self.start_count = 0
        #: store root and conf file (brokers only; set by :func:`start_broker`).
        self.store_dir: Path | None = None
        self.conf_path: Path | None = None
        self._popen: subprocess.Popen[bytes] | None = None

    # ----------------------------------------------------------------- introspection
    @property
    def addr(self) -> str:
        """``host:port``, the form RocketMQ uses for addresses."""
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        if self._popen is None:
            raise RuntimeError(f"{self.name} was never started")
        return self._popen.pid

    @property
    def argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            self.module,
            self.role,
            "--host",
            self.host,
            "--port",
            str(self.port),
            *self.options,
        ]

    @property
    def stdout_path(self) -> Path:
        return self.log_dir / f"{self.name}.stdout.log"

    @property
    def stderr_path(self) -> Path:
        return self.log_dir / f"{self.name}.stderr.log"

    @property
    def returncode(self) -> int | None:
        """Exit code (negative = killed by that signal), ``None`` while running or never started."""
        return None if self._popen is None else self._popen.poll()

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def log_tail(self, nbytes: int = 4000) -> str:
        """The last ``nbytes`` of stderr and stdout, labelled, for assertion messages."""
        return (
            f"--- {self.name} stderr ({self.stderr_path.name}) ---\n{_tail(self.stderr_path, nbytes)}\n"
            f"--- {self.name} stdout ({self.stdout_path.name}) ---\n{_tail(self.stdout_path, nbytes)}"
        )

    def __repr__(self) -> str:
        state = "running" if self.running else f"exited({self.returncode})"
        pid = self._popen.pid if self._popen is not None else None
        return f"<ServerProcess {self.name} {self.addr} pid={pid} {state}>"

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> Self:
        """Spawn the server and wait until its port accepts connections.

        Raises:
            ServerStartError: the process exited early or its port did not open in time.
        """
        if self.running:
            raise RuntimeError(f"{self!r} is already running")
        attempts = 3 if self._auto_port else 1
        for attempt in range(1, attempts + 1):
            try:
                self._spawn_and_wait()
                return self
            except ServerStartError:
                if attempt == attempts or not self._lost_port_race():
                    raise
                self.port = free_port(self.host)
        raise AssertionError("unreachable: the loop returns or raises")

    def restart(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 10.0) -> Self:
        """Stop (if running) and start again on the same port, store dir and arguments.

        The port is retried for a few seconds if it is briefly still in use.
        """
        if self.running:
            self.stop(sig, timeout)
        deadline = time.monotonic() + 5.0
        while True:
            try:
                self._spawn_and_wait()
                return self
            except ServerStartError:
                if time.monotonic() >= deadline or not self._lost_port_race():
                    raise
                time.sleep(0.2)

    def send_signal(self, sig: signal.Signals) -> None:
        """Deliver ``sig`` (e.g. SIGSTOP/SIGCONT to freeze a server) without waiting."""
        if self.running:
            assert self._popen is not None
            self._popen.send_signal(sig)

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the process to exit by itself and return its exit code.

        Raises:
            subprocess.TimeoutExpired: still running after ``timeout`` seconds.
        """
        if self._popen is None:
            raise RuntimeError(f"{self.name} was never started")
        rc = self._popen.wait(timeout)
        _LIVE.pop(self._popen.pid, None)
        return rc

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Send ``sig`` and wait for the exit; return the exit code (``-N`` = died of signal N).

        Raises:
            ServerStopTimeout: still alive after ``timeout`` seconds; it is SIGKILLed first, so
                nothing leaks, but a server that ignores SIGTERM is a bug worth failing on.
        """
        if self._popen is None:
            raise RuntimeError(f"{self.name} was never started")
        if self._popen.poll() is None:
            self._popen.send_signal(sig)
            try:
                self._popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self._popen.kill()
                self._popen.wait()
                _LIVE.pop(self._popen.pid, None)
                raise ServerStopTimeout(
                    f"{self.name} (pid {self._popen.pid}) did not exit within {timeout:.1f}s of "
                    f"{signal.Signals(sig).name}; killed\n{self.log_tail()}"
                ) from None
        _LIVE.pop(self._popen.pid, None)
        return self._popen.returncode

    def kill(self) -> int:
        """SIGKILL (a crash, no shutdown hooks) and return the exit code."""
        return self.stop(signal.SIGKILL, timeout=30.0)

    def cleanup(self, timeout: float = 5.0) -> int | None:
        """Teardown helper: SIGTERM, then SIGKILL after ``timeout``; never raises."""
        if self._popen is None:
            return None
        try:
            return self.stop(signal.SIGTERM, timeout)
        except ServerStopTimeout:
            return self._popen.returncode

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()

    # ----------------------------------------------------------------- internals
    def _spawn_and_wait(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.cwd.mkdir(parents=True, exist_ok=True)
        self.start_count += 1
        banner = f"=== start #{self.start_count} at {time.strftime('%H:%M:%S')}: {' '.join(self.argv)}\n"
        with self.stdout_path.open("ab") as out, self.stderr_path.open("ab") as err:
            out.write(banner.encode())
            err.write(banner.encode())
            out.flush()
            err.flush()
            self._popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                cwd=self.cwd,
                env=server_env(self.env),
                preexec_fn=die_with_parent if self._pdeathsig() else None,
            )
        _LIVE[self._popen.pid] = self
        deadline = time.monotonic() + self.start_timeout
        while True:
            rc = self._popen.poll()
            if rc is not None:
                _LIVE.pop(self._popen.pid, None)
                raise ServerStartError(
                    f"{self.name} exited with code {rc} during start-up\n"
                    f"argv: {' '.join(self.argv)}\n{self.log_tail()}"
                )
            if port_is_open(self.host, self.port):
                owned = listening_pid_owns_port(self._popen.pid, self.port)
                if owned is None or owned:
                    return
                # someone else listens there: our server will die with EADDRINUSE (or bind late)
            if time.monotonic() >= deadline:
                self._popen.kill()
                self._popen.wait()
                _LIVE.pop(self._popen.pid, None)
                raise ServerStartError(
                    f"{self.name} did not accept connections on {self.addr} within "
                    f"{self.start_timeout:.1f}s (killed)\nargv: {' '.join(self.argv)}\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def _pdeathsig(self) -> bool:
        if self.die_with_parent is None:
            return threading.current_thread() is threading.main_thread()
        return self.die_with_parent

    def _lost_port_race(self) -> bool:
        for path in (self.stderr_path, self.stdout_path):
            tail = _tail(path, 4000)
            since_last_start = tail[max(tail.rfind("=== start #"), 0) :]
            if any(marker in since_last_start for marker in _ADDR_IN_USE_MARKERS):
                return True
        return False


def kill_all() -> list[ServerProcess]:
    """SIGKILL every server this process started and that is still alive (session safety net)."""
    reaped = []
    for proc in list(_LIVE.values()):
        if proc.running:
            with contextlib.suppress(Exception):
                proc.kill()
                reaped.append(proc)
    _LIVE.clear()
    return reaped


def _conf_text(value: ConfValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def write_broker_conf(path: Path, conf: Mapping[str, ConfValue]) -> Path:
    """Write a RocketMQ-style ``key=value`` broker.conf and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{key}={_conf_text(value)}" for key, value in conf.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _addr_of(target: str | ServerProcess) -> str:
    return target.addr if isinstance(target, ServerProcess) else target


def start_namesrv(
    tmp_path: Path,
    *,
    port: int | None = None,
    host: str = "127.0.0.1",
    name: str = "namesrv",
    extra_args: Iterable[str] = (),
    env: Mapping[str, str] | None = None,
    start_timeout: float = 20.0,
    module: str = "broker_core",
) -> ServerProcess:
    """Start ``python -m broker_core namesrv`` and wait until its port is open.

    Logs go to ``tmp_path/logs/NAME.std{out,err}.log``.
    """
    proc = ServerProcess(
        "namesrv",
        list(extra_args),
        name=name,
        log_dir=tmp_path / "logs",
        host=host,
        port=port,
        env=env,
        cwd=tmp_path,
        start_timeout=start_timeout,
        module=module,
    )
    return proc.start()


def start_broker(
    tmp_path: Path,
    namesrv_addr: str | ServerProcess,
    store_dir: Path | None = None,
    conf: Mapping[str, ConfValue] | None = None,
    *,
    port: int | None = None,
    host: str = "127.0.0.1",
    cluster: str = "DefaultCluster",
    broker_name: str = "broker-a",
    broker_id: int = 0,
    default_conf: bool = True,
    extra_args: Iterable[str] = (),
    env: Mapping[str, str] | None = None,
    start_timeout: float = 20.0,
    module: str = "broker_core",
) -> ServerProcess:
    """Start ``python -m broker_core broker`` and wait until its port is open.

    Args:
        tmp_path: per-test directory; holds ``logs/``, the conf file and (by default) the store.
        namesrv_addr: ``host:port`` (``;``-separated for several) or a namesrv ServerProcess.
        store_dir: store root; default ``tmp_path/store-BROKERNAME-BROKERID``.
        conf: broker.conf entries, merged over :data:`DEFAULT_BROKER_CONF`.
        port: listen port, ``None`` = a free one.
        host: listen address.
        cluster: ``--cluster``.
        broker_name: ``--broker-name``.
        broker_id: ``--broker-id`` (0 = master).
        default_conf: merge :data:`DEFAULT_BROKER_CONF` under ``conf`` (False = ``conf`` only).
        extra_args: further CLI arguments.
        env: extra environment variables.
        start_timeout: seconds to wait for the port.
        module: the ``python -m`` module to run (helper self-tests use a fake).
    """
    label = f"{broker_name}-{broker_id}"
    store = store_dir if store_dir is not None else tmp_path / f"store-{label}"
    merged: dict[str, ConfValue] = dict(DEFAULT_BROKER_CONF) if default_conf else {}
    merged.update(conf or {})
    conf_path = write_broker_conf(tmp_path / f"{label}.conf", merged)
    options = [
        "--namesrv",
        _addr_of(namesrv_addr),
        "--store-dir",
        str(store),
        "--cluster",
        cluster,
        "--broker-name",
        broker_name,
        "--broker-id",
        str(broker_id),
        "-c",
        str(conf_path),
        *extra_args,
    ]
    proc = ServerProcess(
        "broker",
        options,
        name=label,
        log_dir=tmp_path / "logs",
        host=host,
        port=port,
        env=env,
        cwd=tmp_path,
        start_timeout=start_timeout,
        module=module,
    )
    proc.store_dir = store
    proc.conf_path = conf_path
    return proc.start()
