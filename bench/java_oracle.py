"""The Apache RocketMQ 4.9.8 oracle and its Java benchmark Producer, for the benchmarks.

``ROCKETMQ_ORACLE_HOME`` names the oracle build (a folder with ``java.sh``; see
``../shared/oracle/apache-rocketmq.md``). Without it (CI has no Java) :func:`oracle_home` is None and
the benchmarks fall back to our own client.

Rates are read from the broker, not from the Producer's 10-s TPS lines: :func:`put_total` asks a
broker (ours or Apache's) for ``msgPutTotalTodayNow`` (GET_BROKER_RUNTIME_INFO), so a window of any
length after a warm-up gives msgs/s, and :func:`cpu_seconds` (``/proc/PID/stat``) over the same
window gives the broker CPU per message.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.admin import invoke
from tests.support.net import free_port, port_is_open, wait_for_port

__all__ = [
    "JavaProcess",
    "Window",
    "apache_port",
    "cpu_seconds",
    "java_producer",
    "measure_window",
    "oracle_home",
    "put_total",
    "start_apache",
]

ORACLE_ENV = "ROCKETMQ_ORACLE_HOME"
GET_BROKER_RUNTIME_INFO = 28


def oracle_home() -> Path | None:
    """The oracle folder when ``ROCKETMQ_ORACLE_HOME`` names a usable one, else None."""
    home = os.environ.get(ORACLE_ENV)
    if not home or not (Path(home) / "java.sh").is_file():
        return None
    return Path(home)


def apache_port() -> int:
    """A port P with P-2 (fast channel) and P+1 (HA) free too: Apache 4.9.8 binds all three."""
    for _ in range(100):
        port = free_port()
        if port > 1026 and not any(port_is_open("127.0.0.1", p) for p in (port - 2, port + 1)):
            return port
    raise RuntimeError("no free port with free neighbours")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def put_total(addr: str) -> int:
    """Messages the broker at ``addr`` stored since it started (``msgPutTotalTodayNow``)."""
    resp = invoke(addr, GET_BROKER_RUNTIME_INFO, timeout=10.0)
    table = resp.json_body()["table"]
    return int(table["msgPutTotalTodayNow"])


class JavaProcess:
    """One ``java.sh CLASS ARGS`` process of the oracle, logging to a file, stopped by its PID."""

    def __init__(self, home: Path, work: Path, name: str, argv: Sequence[str], heap: str) -> None:
        work.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, RMQ_USER_HOME=str(work), JAVA_OPTS=heap)
        self.log_path = work / f"{name}.out"
        with self.log_path.open("ab") as out:
            self.popen = subprocess.Popen(
                [str(home / "java.sh"), *argv], stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, cwd=work, env=env, start_new_session=True,
            )  # fmt: skip

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM the process group, SIGKILL after ``timeout``; never raises."""
        if self.popen.poll() is not None:
            return
        try:
            os.killpg(self.popen.pid, signal.SIGTERM)
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()
        except ProcessLookupError:
            pass


def start_apache(
    home: Path, work: Path, *, flush: str = "ASYNC_FLUSH", broker_names: Sequence[str] = ("broker-a",)
) -> tuple[str, list[tuple[str, JavaProcess]], list[JavaProcess]]:
    """Apache NameServer + one master per name (own store and port each), all registered with it.

    Returns (namesrv address, [(broker address, process)], every process started, NameServer first).
    """
    procs: list[JavaProcess] = []
    ns_port = free_port()
    (work / "namesrv.conf").parent.mkdir(parents=True, exist_ok=True)
    (work / "namesrv.conf").write_text(f"listenPort={ns_port}\n")
    procs.append(
        JavaProcess(home, work, "namesrv", ["org.apache.rocketmq.namesrv.NamesrvStartup", "-c",
                                            str(work / "namesrv.conf")], "-Xms256m -Xmx256m -Xmn128m")
    )  # fmt: skip
    wait_for_port("127.0.0.1", ns_port, 90)
    namesrv = f"127.0.0.1:{ns_port}"
    brokers: list[tuple[str, JavaProcess]] = []
    for name in broker_names:
        port = apache_port()
        store = work / f"store-{name}"
        conf = work / f"{name}.conf"
        conf.write_text(
            "\n".join([
                "brokerClusterName=DefaultCluster", f"brokerName={name}", "brokerId=0",
                "brokerRole=ASYNC_MASTER", f"flushDiskType={flush}", "brokerIP1=127.0.0.1",
                f"namesrvAddr={namesrv}", f"listenPort={port}", "autoCreateTopicEnable=true",
                f"storePathRootDir={store}", f"storePathCommitLog={store}/commitlog",
                "deleteWhen=04", "fileReservedTime=48",
            ]) + "\n"
        )  # fmt: skip
        proc = JavaProcess(
            home, work, name, ["org.apache.rocketmq.broker.BrokerStartup", "-c", str(conf)],
            "-Xms512m -Xmx512m -Xmn256m -XX:MaxDirectMemorySize=1g",
        )  # fmt: skip
        procs.append(proc)
        wait_for_port("127.0.0.1", port, 120)
        brokers.append((f"127.0.0.1:{port}", proc))
    return namesrv, brokers, procs


def java_producer(
    home: Path, work: Path, namesrv: str, topic: str, threads: int, size: int = 1024
) -> JavaProcess:
    """The Java benchmark Producer (``-w threads -s size``, sync sends, runs until stopped)."""
    return JavaProcess(
        home, work, f"producer-{topic}-{threads}-{time.monotonic_ns()}",
        ["-Dorg.apache.rocketmq.client.sendSmartMsg=true", "org.apache.rocketmq.example.benchmark.Producer",
         "-n", namesrv, "-t", topic, "-w", str(threads), "-s", str(size)],
        "-Xms1g -Xmx1g -Xmn256m -XX:+PerfDisableSharedMem",
    )  # fmt: skip


@dataclass(frozen=True)
class Window:
    """Messages stored and broker CPU over one measuring window."""

    seconds: float
    messages: int
    broker_cpu_s: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0

    @property
    def cpu_us_per_msg(self) -> float:
        return self.broker_cpu_s * 1e6 / self.messages if self.messages else float("nan")

    @property
    def cpu_share(self) -> float:
        return self.broker_cpu_s / self.seconds if self.seconds else 0.0


def measure_window(
    broker_addrs: Sequence[str], broker_pids: Sequence[int], warmup: float, seconds: float,
    alive: Callable[[], bool] = lambda: True,
) -> Window:  # fmt: skip
    """Messages stored by all brokers and their CPU over ``seconds`` s, starting ``warmup`` s after the
    first message arrived (a JVM client under load can take many seconds to send at all: its first
    sends may time out, after which the benchmark Producer's threads pause 3 s)."""
    start = sum(put_total(a) for a in broker_addrs)
    deadline = time.monotonic() + 120
    while sum(put_total(a) for a in broker_addrs) == start and time.monotonic() < deadline and alive():
        time.sleep(0.2)
    time.sleep(warmup)
    m0 = sum(put_total(a) for a in broker_addrs)
    c0 = sum(cpu_seconds(p) for p in broker_pids)
    t0 = time.perf_counter()
    end = t0 + seconds
    while time.perf_counter() < end and alive():
        time.sleep(min(0.5, max(0.0, end - time.perf_counter())))
    m1 = sum(put_total(a) for a in broker_addrs)
    c1 = sum(cpu_seconds(p) for p in broker_pids)
    return Window(time.perf_counter() - t0, m1 - m0, c1 - c0)
