"""``python -m broker_core cluster --groups N``: one NameServer and N broker groups on one host.

RocketMQ uses more than one core of a host by running several broker *groups*: each is a master with
its own commit log, store directory and port (brokerName ``broker-a``, ``broker-b``, ...), all in
one cluster and registered with one NameServer. A topic created on every master (``sample_setup``,
``Admin.create_topic`` without an address, ``mqadmin updateTopic -c DefaultCluster``) or auto-created
from ``TBW102`` (which every master registers) gets queues on each group, and producers spread their
sends over all of a topic's queues, so the groups share the load — each broker process on its own core.

This command supervises the processes: the NameServer (``python -m broker_core namesrv``), then one
``python -m broker_core broker`` per group, every line of their output prefixed by its name.
Group *i* listens on ``--port + 10*i`` (``--port 0``: each picks a free port and prints it), keeps its
store in ``--store-dir/broker-x`` and reads the same ``-c broker.conf``. SIGINT/SIGTERM stops the
brokers (each flushes and unregisters), then the NameServer, and exits 0; if one process dies, the
others are stopped and the exit status is 1.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import string
import subprocess
import sys
import threading
import time
from pathlib import Path

from broker_core.errors import BrokerCoreError

__all__ = ["PORT_STEP", "group_names", "registered_masters", "run_from_args", "wait_registered"]

#: ports between consecutive groups: a broker also uses listenPort+1 (HA) and Apache listenPort-2
PORT_STEP = 10


def group_names(groups: int) -> list[str]:
    """``broker-a``, ``broker-b``, ... ``broker-z``, ``broker-aa``, ... for ``groups`` groups."""
    letters = string.ascii_lowercase
    names = []
    for i in range(groups):
        suffix = ""
        n = i
        while True:
            suffix = letters[n % 26] + suffix
            n = n // 26 - 1
            if n < 0:
                break
        names.append(f"broker-{suffix}")
    return names


class _Child:
    """One supervised process; its output goes to ours, each line prefixed by ``[name]``."""

    def __init__(self, name: str, argv: list[str], ready_marker: str) -> None:
        self.name = name
        self.ready = threading.Event()
        self.ready_line = ""
        self._signalled = False
        self._marker = ready_marker
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True, env=env,
        )  # fmt: skip
        self._reader = threading.Thread(target=self._pump, name=f"out-{name}", daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            if not self.ready.is_set() and self._marker in line:
                self.ready_line = line
                self.ready.set()
            print(f"[{self.name}] {line}", flush=True)

    def running(self) -> bool:
        return self.proc.poll() is None

    def terminate(self) -> None:
        """Send SIGTERM once (the process flushes and exits; a second one may kill it mid-flush)."""
        if self.running() and not self._signalled:
            self._signalled = True
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass

    def stop(self, timeout: float) -> bool:
        """SIGTERM, SIGKILL after ``timeout``; True when it stopped by itself with status 0."""
        self.terminate()
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            print(f"{self.name} did not stop within {timeout:g}s: killing it", flush=True)
            self.proc.kill()
            self.proc.wait()
            status = -1
        self._reader.join(5)
        if status != 0:
            print(f"{self.name} exited with status {status}", flush=True)
        return status == 0


def _wait_ready(child: _Child, stop: threading.Event, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while not child.ready.wait(0.1):
        if stop.is_set():
            raise KeyboardInterrupt
        if not child.running():
            raise RuntimeError(f"{child.name} exited with status {child.proc.returncode} during start-up")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{child.name} not ready after {timeout:g}s")
    return child.ready_line.rsplit(" ", 1)[-1]  # "... listening on HOST:PORT"


def registered_masters(namesrv: str, timeout: float = 3.0) -> set[str]:
    """Names of the brokers with a master registered at the NameServer (GET_BROKER_CLUSTER_INFO)."""
    from broker_core.remoting import fastjson
    from broker_core.remoting.blocking import BlockingConnection
    from broker_core.remoting.codes import RequestCode, ResponseCode
    from broker_core.remoting.command import RemotingCommand

    conn = BlockingConnection(namesrv, connect_timeout=timeout)
    try:
        reply = conn.invoke(RemotingCommand.request(RequestCode.GET_BROKER_CLUSTER_INFO), timeout)
    finally:
        conn.close()
    if reply.code != ResponseCode.SUCCESS or not reply.body:
        return set()
    table = fastjson.loads(reply.body).get("brokerAddrTable", {})
    return {name for name, data in table.items() if "0" in {str(k) for k in data.get("brokerAddrs", {})}}


def wait_registered(namesrv: str, names: list[str], timeout: float = 60.0) -> None:
    """Block until every broker in ``names`` has its master registered (topics created afterwards on
    "every master" then reach all groups).

    Raises:
        TimeoutError: some are still missing after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    missing = set(names)
    while True:
        try:
            missing = set(names) - registered_masters(namesrv)
        except (OSError, BrokerCoreError):  # not up yet, a refused connection: keep polling
            pass
        if not missing:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"not registered with {namesrv} after {timeout:g}s: {', '.join(sorted(missing))}"
            )
        time.sleep(0.2)


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def run_from_args(args: argparse.Namespace) -> int:
    """CLI entry (see the module docstring)."""
    if args.groups < 1:
        print("cluster: --groups must be at least 1", file=sys.stderr)
        return 2
    host = args.host or "127.0.0.1"
    store_root = Path(args.store_dir or Path.home() / "store").expanduser().resolve()
    names = group_names(args.groups)
    ports = [0 if args.port == 0 else args.port + PORT_STEP * i for i in range(args.groups)]
    busy = [p for p in [args.namesrv_port, *ports] if p and not _port_free(host, p)]
    if busy:
        print(f"cluster: port(s) in use on {host}: {', '.join(map(str, busy))}", file=sys.stderr)
        return 1
    py = sys.executable
    log_args = ["--log-level", args.log_level]
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    children: list[_Child] = []
    status = 0
    try:
        ns = _Child("namesrv", [py, "-m", "broker_core", "namesrv", "--host", host, "--port",
                                str(args.namesrv_port), *log_args], "namesrv listening on")  # fmt: skip
        children.append(ns)
        namesrv = _wait_ready(ns, stop, 60)
        addrs = []
        for name, port in zip(names, ports, strict=True):
            argv = [py, "-m", "broker_core", "broker", "--namesrv", namesrv, "--host", host,
                    "--port", str(port), "--store-dir", str(store_root / name), "--cluster", args.cluster,
                    "--broker-name", name, *log_args]  # fmt: skip
            if args.config:
                argv += ["-c", args.config]
            child = _Child(name, argv, "listening on")
            children.append(child)
            addrs.append((name, child))
        up = [(name, _wait_ready(child, stop, 120)) for name, child in addrs]
        try:
            wait_registered(namesrv, names)
        except TimeoutError as exc:
            raise RuntimeError(str(exc)) from exc
        print(f"cluster {args.cluster} is up: NameServer {namesrv}", flush=True)
        for name, addr in up:
            print(f"  {name}  {addr}  store {store_root / name}", flush=True)
        print("serving until Ctrl-C ...", flush=True)
        while not stop.wait(0.5):
            dead = [c for c in children if not c.running()]
            if dead:
                print(f"{dead[0].name} exited with status {dead[0].proc.returncode}: stopping the others")
                status = 1
                break
    except KeyboardInterrupt:
        pass
    except RuntimeError as exc:
        print(f"cluster: start-up failed: {exc}", file=sys.stderr, flush=True)
        status = 1
    print("stopping ...", flush=True)
    brokers = [c for c in children if c.name != "namesrv"]
    for c in brokers:  # all at once; each flushes and unregisters; the NameServer goes last
        c.terminate()
    results = [c.stop(60.0) for c in brokers]
    results += [c.stop(30.0) for c in children if c.name == "namesrv"]
    if not all(results):
        status = status or 1
    print("stopped" if status == 0 else f"stopped (exit status {status})", flush=True)
    return status
