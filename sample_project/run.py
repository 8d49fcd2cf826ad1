"""``make run``: the whole sample shop in one command, stopped by one Ctrl-C.

Processes started (each in its own session, so the terminal's Ctrl-C reaches only this supervisor,
which then stops them in order; each also dies with the supervisor should it be killed):

==============  =================================================================================
NameServer      ``python -m broker_core namesrv`` (the project's own, on 127.0.0.1)
Broker          ``python -m broker_core broker`` (store and SQLite DB under ``--data-dir``;
                SQL92 property filters on); ``--groups N`` starts N of them (broker-a, broker-b,
                ..., one process, store and port each) and the shop's topics get queues on all
setup           ``manage.py migrate`` and ``manage.py sample_setup`` (demo staff user, topics)
site            ``manage.py runserver`` (the shop and the RocketMQ dashboard)
listeners       ``manage.py rocketmq_listeners`` (every ``@rocketmq_listener`` of the shop)
Celery          ``celery worker`` on ``rocketmq://`` when the kombu transport is installed
                (``--no-celery`` skips it; receipts are then sent inline by the listener)
==============  =================================================================================

Output of every process is prefixed with its name (and kept in ``<data-dir>/logs/<name>.log``). Ctrl-C (or SIGTERM) stops the site and the
workers first (they drain), then the broker and the NameServer, and exits 0. If a process dies on
its own, the others are stopped and the exit status is 1.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from broker_core.cluster import PORT_STEP, group_names, registered_masters
from broker_core.errors import BrokerCoreError

REPO = Path(__file__).resolve().parent.parent
MANAGE = str(Path(__file__).resolve().parent / "manage.py")
STAFF_USER, STAFF_PASSWORD = "admin", "admin"


def say(text: str) -> None:
    print(text, flush=True)


def port_or_free(port: int) -> int:
    """``port`` if it can be bound on loopback, else a free one (a second copy must not fail)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    """In the child: SIGKILL when the supervisor dies (Linux ``PR_SET_PDEATHSIG``; elsewhere a no-op)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


class Child:
    """One supervised process; its output lines go to ours prefixed by ``[name]``."""

    def __init__(
        self, name: str, argv: list[str], env: dict[str, str], log: Path, stop_signal: int = signal.SIGTERM
    ) -> None:
        self.name = name
        self.log = open(log, "a", encoding="utf-8")  # closed when the output ends
        self.stop_signal = stop_signal
        self.ready_line: str | None = None
        self.ready = threading.Event()
        self.proc = subprocess.Popen(
            argv, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent,
        )  # fmt: skip
        self._reader = threading.Thread(target=self._pump, name=f"out-{name}", daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        with self.log:
            for raw in self.proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip()
                if self.ready_line and self.ready_line in line:
                    self.ready.set()
                self.log.write(line + "\n")
                self.log.flush()
                say(f"[{self.name}] {line}")

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float) -> bool:
        """Signal and wait; SIGKILL after ``timeout``. True when it stopped by itself."""
        if self.running():
            try:
                self.proc.send_signal(self.stop_signal)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout)
            clean = True
        except subprocess.TimeoutExpired:
            say(f"{self.name} did not stop within {timeout:g}s: killing it")
            self.proc.kill()
            self.proc.wait()
            clean = False
        self._reader.join(5)
        return clean


class Supervisor:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.children: list[Child] = []
        self.stop_requested = threading.Event()
        self.data_dir = Path(args.data_dir).resolve()
        self.logs = self.data_dir / "logs"
        self.ns_port = port_or_free(args.namesrv_port)
        self.broker_port = port_or_free(args.broker_port)
        #: (brokerName, port, store dir) of each broker group; the first keeps ``<data-dir>/store``
        self.groups = [
            (name, self.broker_port if i == 0 else port_or_free(args.broker_port + PORT_STEP * i if args.broker_port else 0),
             self.data_dir / ("store" if i == 0 else f"store-{name}"))
            for i, name in enumerate(group_names(max(1, args.groups)))
        ]  # fmt: skip
        self.web_port = port_or_free(args.port)
        self.health_port = port_or_free(0)
        self.namesrv = f"127.0.0.1:{self.ns_port}"
        self.celery = (
            not args.no_celery and importlib.util.find_spec("rocketmq_integration.kombu") is not None
        )
        self.env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]),
            "DJANGO_SETTINGS_MODULE": "sample_project.settings",
            "SAMPLE_NAMESRV": self.namesrv,
            "SAMPLE_DATA_DIR": str(self.data_dir),
            "SAMPLE_CELERY": "1" if self.celery else "0",
        }

    # ---- steps ---------------------------------------------------------------------------------
    def start(self, name: str, argv: list[str], stop_signal: int = signal.SIGTERM) -> Child:
        child = Child(name, argv, self.env, self.logs / f"{name}.log", stop_signal)
        self.children.append(child)
        return child

    def wait_until(self, what: str, ok: Callable[[], bool], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not ok():
            if self.stop_requested.is_set():
                raise KeyboardInterrupt
            dead = [c.name for c in self.children if not c.running()]
            if dead:
                raise RuntimeError(f"{', '.join(dead)} exited while waiting for {what}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} not ready after {timeout:g}s")
            time.sleep(0.1)

    def _all_registered(self) -> bool:
        try:
            return registered_masters(self.namesrv) >= {name for name, _, _ in self.groups}
        except (OSError, BrokerCoreError):  # NameServer busy or restarting: ask again
            return False

    def run_step(self, name: str, argv: list[str]) -> None:
        say(f"[{name}] {' '.join(argv[1:])}")
        done = subprocess.run(argv, cwd=REPO, env=self.env, capture_output=True, text=True, timeout=300)
        with open(self.logs / f"{name}.log", "a", encoding="utf-8") as log:
            for line in (done.stdout + done.stderr).splitlines():
                log.write(line + "\n")
                say(f"[{name}] {line}")
        if done.returncode != 0:
            raise RuntimeError(f"{name} failed with exit status {done.returncode}")

    def bring_up(self) -> None:
        py = sys.executable
        self.logs.mkdir(parents=True, exist_ok=True)
        conf = self.data_dir / "broker.conf"
        conf.write_text("enablePropertyFilter=true\n")
        self.start("namesrv", [py, "-m", "broker_core", "namesrv", "--port", str(self.ns_port),
                               "--log-level", self.args.log_level])  # fmt: skip
        self.wait_until("the NameServer", lambda: port_open(self.ns_port))
        for name, port, store in self.groups:
            label = name if len(self.groups) > 1 else "broker"  # one group: output and log as before
            self.start(label, [py, "-m", "broker_core", "broker", "--namesrv", self.namesrv, "--port", str(port),
                              "--store-dir", str(store), "--broker-name", name, "-c", str(conf),
                              "--log-level", self.args.log_level])  # fmt: skip
        for name, port, _ in self.groups:
            self.wait_until(f"the broker {name}", lambda port=port: port_open(port))
        if len(self.groups) > 1:  # sample_setup creates the topics on every master registered by then
            self.wait_until("every broker group registered", self._all_registered)
        self.run_step("setup", [py, MANAGE, "migrate", "--noinput", "-v", "0"])
        self.run_step(
            "setup", [py, MANAGE, "sample_setup", "--username", STAFF_USER, "--password", STAFF_PASSWORD]
        )
        listeners = self.start("listeners", [py, MANAGE, "rocketmq_listeners", "--health-port",
                                             str(self.health_port), "--shutdown-timeout", "10"])  # fmt: skip
        if self.celery:
            worker = self.start("celery", [py, "-m", "celery", "-A", "sample_project.celery_app", "worker",
                                           "--loglevel", "INFO", "--pool", "solo", "-Q", "shop_receipts",
                                           "--without-heartbeat", "--without-gossip", "--without-mingle"])  # fmt: skip
            worker.ready_line = " ready."
        web = self.start("web", [py, MANAGE, "runserver", "--noreload", f"127.0.0.1:{self.web_port}"],
                         stop_signal=signal.SIGINT)  # fmt: skip
        self.wait_until("the listener worker", lambda: http_ok(f"http://127.0.0.1:{self.health_port}/readyz"))
        if self.celery:
            self.wait_until("the Celery worker", worker.ready.is_set, timeout=90)
        self.wait_until("the site", lambda: http_ok(f"http://127.0.0.1:{self.web_port}/"))
        del listeners, web
        base = f"http://127.0.0.1:{self.web_port}"
        say("")
        say("sample_project is up:")
        say(f"  shop        {base}/")
        say(
            f"  dashboard   {base}/admin/rocketmq/   (staff user {STAFF_USER!r}, password {STAFF_PASSWORD!r})"
        )
        brokers = ", ".join(f"{name} 127.0.0.1:{port}" for name, port, _ in self.groups)
        say(f"  NameServer  {self.namesrv}   {brokers}   data {self.data_dir}")
        say(
            f"  Celery      {'worker on ' + self.env['SAMPLE_NAMESRV'] if self.celery else 'off (receipts inline)'}"
        )
        say("serving until Ctrl-C ...")

    def shut_down(self) -> bool:
        """Stop every child, workers first; True when all stopped by themselves."""
        clean = True
        order = ["web", "celery", "listeners", "broker", "namesrv"]

        def rank(child: Child) -> int:
            name = "broker" if child.name.startswith("broker-") else child.name
            return order.index(name) if name in order else 0

        for child in sorted(self.children, key=rank):
            clean = child.stop(30.0) and clean
        return clean

    def serve(self) -> int:
        def on_signal(signum: int, frame: object) -> None:
            self.stop_requested.set()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        status = 0
        try:
            self.bring_up()
            while not self.stop_requested.wait(0.5):
                dead = [c for c in self.children if not c.running()]
                if dead:
                    say(f"{dead[0].name} exited with status {dead[0].proc.returncode}: stopping the others")
                    status = 1
                    break
        except KeyboardInterrupt:
            pass
        except RuntimeError as exc:
            say(f"start-up failed: {exc}")
            status = 1
        say("stopping ...")
        if not self.shut_down():
            status = status or 1
        say("stopped cleanly" if status == 0 else f"stopped (exit status {status})")
        return status


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return 200 <= int(resp.status) < 400
    except OSError:
        return False


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sample_project", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--port", type=int, default=8000, help="site port (default 8000, else a free one)")
    parser.add_argument(
        "--namesrv-port", type=int, default=9876, help="NameServer port (default 9876, else free)"
    )
    parser.add_argument(
        "--broker-port", type=int, default=10911, help="broker port (default 10911, else free)"
    )
    parser.add_argument(
        "--data-dir", default="run-data/sample", help="store, SQLite DB, cache (default ./run-data/sample)"
    )
    parser.add_argument(
        "--groups", type=int, default=1,
        help="broker groups (processes broker-a, broker-b, ...; topics get queues on each; default 1)",
    )  # fmt: skip
    parser.add_argument("--no-celery", action="store_true", help="do not start a Celery worker")
    parser.add_argument(
        "--log-level", default="warning", help="NameServer/broker log level (default warning)"
    )
    return Supervisor(parser.parse_args(argv)).serve()
