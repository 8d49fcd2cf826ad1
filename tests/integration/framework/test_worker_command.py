"""``python -m rocketmq_integration worker``: a real worker subprocess against the plugin's cluster.

The listener module is written to ``tmp_path``; its handler appends ``started``/``done`` lines to
files, which is how the test sees the other process work. A payload ``slow:S`` sleeps S seconds
inside the handler (only while ``WORKER_TEST_SLOW`` is set, so a second worker handles the
redelivered message at once).
"""

from __future__ import annotations

import contextlib
import http.client
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.net import free_port
from tests.support.process import die_with_parent, server_env

from .helpers import new_topic

LISTENERS = """
import os
import time
from pathlib import Path

from rocketmq_integration import ConsumeFrom, rocketmq_listener

OUT = Path(os.environ["WORKER_TEST_OUT"])


@rocketmq_listener(
    topic=os.environ["WORKER_TEST_TOPIC"],
    consumer_group=os.environ["WORKER_TEST_GROUP"],
    consume_from=ConsumeFrom.FIRST_OFFSET,
)
def record(payload: str) -> None:
    with open(OUT / "started", "a") as f:
        f.write(payload + "\\n")
    if payload.startswith("slow:") and os.environ.get("WORKER_TEST_SLOW"):
        time.sleep(float(payload.split(":")[1]))
    with open(OUT / "done", "a") as f:
        f.write(payload + "\\n")
"""


class Worker:
    def __init__(self, root: Path, namesrv: str, topic: str, group: str, slow: bool, tag: str) -> None:
        self.root = root
        self.health_port = free_port()
        self.stderr = root / f"worker-{tag}.err"
        self.stdout = root / f"worker-{tag}.out"
        env = server_env({
            "PYTHONPATH": f"{root}:{server_env()['PYTHONPATH']}",
            "WORKER_TEST_OUT": str(root), "WORKER_TEST_TOPIC": topic, "WORKER_TEST_GROUP": group,
        })  # fmt: skip
        if slow:
            env["WORKER_TEST_SLOW"] = "1"
        argv = [
            sys.executable, "-m", "rocketmq_integration", "worker", "test_worker_listeners",
            "--namesrv", namesrv, "--concurrency", "1", "--drain-timeout", "15",
            "--health-port", str(self.health_port),
        ]  # fmt: skip
        with open(self.stdout, "wb") as out, open(self.stderr, "wb") as err:
            self.proc = subprocess.Popen(
                argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=root,
                preexec_fn=die_with_parent,
            )  # fmt: skip

    def probe(self, path: str) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", self.health_port, timeout=2)
        try:
            conn.request("GET", path)
            return conn.getresponse().status
        finally:
            conn.close()

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"worker exited {self.proc.returncode}: {self.errors()}"
            with contextlib.suppress(OSError):
                if self.probe("/readyz") == 200:
                    return
            time.sleep(0.1)  # a port in another process has no event to await
        raise AssertionError(f"worker not ready within {timeout}s: {self.errors()}")

    def errors(self) -> str:
        return self.stderr.read_text(errors="replace")

    def wait_exit(self, timeout: float) -> int:
        return self.proc.wait(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def wait_lines(path: Path, wanted: set[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if wanted <= set(lines(path)):
            return
        time.sleep(0.05)  # another process writes the file
    raise AssertionError(f"{path.name}: expected {sorted(wanted)}, got {lines(path)}")


@pytest.fixture
def worker_env(rocketmq_cluster: Any, tmp_path: Path) -> Iterator[Any]:
    (tmp_path / "test_worker_listeners.py").write_text(LISTENERS)
    topic = new_topic(rocketmq_cluster, "worker", queues=2)
    group = rocketmq_cluster.unique("worker_g")
    started: list[Worker] = []

    def start(slow: bool = True) -> Worker:
        w = Worker(tmp_path, rocketmq_cluster.namesrv_addr, topic, group, slow, str(len(started)))
        started.append(w)
        w.wait_ready()
        return w

    try:
        yield start, topic
    finally:
        for w in started:
            w.close()


def test_worker_receives_then_sigterm_drains_in_flight_and_closes_health_port(
    worker_env: Any, rocketmq_template: Any, tmp_path: Path
) -> None:
    start, topic = worker_env
    worker = start()
    assert worker.probe("/livez") == 200
    for i in range(3):
        rocketmq_template.send(topic, f"m{i}")
    wait_lines(tmp_path / "done", {"m0", "m1", "m2"})

    rocketmq_template.send(topic, "slow:2")
    wait_lines(tmp_path / "started", {"slow:2"})
    t0 = time.monotonic()
    worker.proc.send_signal(signal.SIGTERM)
    assert worker.wait_exit(60) == 0, worker.errors()
    assert time.monotonic() - t0 < 15 + 40
    assert "slow:2" in lines(tmp_path / "done"), "the in-flight message was not finished"
    assert "Traceback" not in worker.errors()
    assert "draining" in worker.errors()
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", worker.health_port), 2),
    ):
        pass


def test_second_sigint_stops_at_once_without_traceback_and_loses_nothing(
    worker_env: Any, rocketmq_template: Any, tmp_path: Path
) -> None:
    start, topic = worker_env
    worker = start()
    rocketmq_template.send(topic, "slow:60")
    wait_lines(tmp_path / "started", {"slow:60"})
    worker.proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 10
    while "draining" not in worker.errors() and time.monotonic() < deadline:
        time.sleep(0.05)  # the worker's stderr line is the only event
    assert worker.probe("/readyz") == 503  # draining: not ready any more
    worker.proc.send_signal(signal.SIGINT)
    assert worker.wait_exit(20) == 128 + signal.SIGINT
    assert "Traceback" not in worker.errors(), worker.errors()
    assert "stopping now" in worker.errors()
    assert "slow:60" not in lines(tmp_path / "done")

    start(slow=False)  # the next member of the group gets the unacknowledged message
    wait_lines(tmp_path / "done", {"slow:60"}, timeout=60)


def test_unknown_module_is_a_usage_error_without_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "rocketmq_integration", "worker", "no_such_listeners_module"],
        capture_output=True, text=True, env=server_env(), cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "cannot import listener module 'no_such_listeners_module'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_a_busy_health_port_is_a_usage_error_without_traceback(tmp_path: Path) -> None:
    (tmp_path / "test_worker_listeners.py").write_text(LISTENERS)
    env = server_env({
        "PYTHONPATH": f"{tmp_path}:{server_env()['PYTHONPATH']}",
        "WORKER_TEST_OUT": str(tmp_path), "WORKER_TEST_TOPIC": "T", "WORKER_TEST_GROUP": "g",
    })  # fmt: skip
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "rocketmq_integration", "worker", "test_worker_listeners",
             "--health-port", str(port)],
            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60,
        )  # fmt: skip
    assert proc.returncode == 2
    assert f"cannot serve the health endpoint on 127.0.0.1:{port}" in proc.stderr
    assert "Traceback" not in proc.stderr
