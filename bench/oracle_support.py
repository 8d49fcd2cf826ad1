"""Shared by the benchmarks that run Apache RocketMQ 4.9.8 (the "oracle") beside our broker.

Apache is the javac build described in ``../shared/oracle/apache-rocketmq.md``; its folder is named by
``ROCKETMQ_ORACLE_HOME`` (or ``--rmq``) and holds ``start.sh``/``stop.sh``/``java.sh``. Without it (or
without ``java``) the Apache columns of a benchmark print ``n/a`` with :func:`oracle_status`'s reason.

Both brokers get the same broker.conf essentials (ASYNC_FLUSH, 1 GiB commit-log segments, one master,
auto-created topics); ours runs as ``python -m broker_core`` behind our NameServer, Apache as its
NameServer + BrokerStartup (``start.sh``). :func:`cpu_seconds` reads a process's user+system CPU from
``/proc/PID/stat``, the figure every benchmark here compares.

Rates under the Java benchmark Producer are read from the broker, not from the Producer's 10-s TPS
lines: :func:`put_total` asks a broker (ours or Apache's) for ``msgPutTotalTodayNow``
(GET_BROKER_RUNTIME_INFO), so :func:`measure_window` gives msgs/s and broker CPU per message over a
window of any length after a warm-up.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from broker_core.admin.client import AdminError, MQAdmin  # noqa: E402
from broker_core.remoting.body.client_info import ConsumerRunningInfo  # noqa: E402
from broker_core.remoting.body.heartbeat import decode_consumer_list  # noqa: E402
from broker_core.remoting.codes import RequestCode, ResponseCode  # noqa: E402
from tests.support.admin import invoke  # noqa: E402
from tests.support.net import free_apache_port, free_port  # noqa: E402
from tests.support.process import ServerProcess, start_broker, start_namesrv  # noqa: E402

ORACLE_ENV = "ROCKETMQ_ORACLE_HOME"
GET_BROKER_RUNTIME_INFO = 28
#: broker.conf lines both brokers share (Apache's start.sh writes its own cluster/name/ports/store)
COMMON_CONF = {
    "flushDiskType": "ASYNC_FLUSH",
    "autoCreateTopicEnable": "true",
    "enablePropertyFilter": "true",
    "brokerIP1": "127.0.0.1",
}


def oracle_home(explicit: str | None = None) -> Path | None:
    value = explicit or os.environ.get(ORACLE_ENV)
    return Path(value) if value else None


def oracle_status(home: Path | None) -> str:
    """Why Apache cannot run here ('' when it can)."""
    if home is None:
        return f"{ORACLE_ENV} not set (no Apache RocketMQ build)"
    if not (home / "start.sh").is_file() or not (home / "java.sh").is_file():
        return f"{ORACLE_ENV}={home} has no start.sh/java.sh"
    if shutil.which("java") is None and not (home / "env.sh").is_file():
        return "no java on PATH"
    return ""


def usable_oracle_home(explicit: str | None = None) -> Path | None:
    """The oracle folder when it can run here, else None (the benchmark then skips Apache)."""
    home = oracle_home(explicit)
    return None if oracle_status(home) else home


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` (all threads), from /proc/PID/stat."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            parts = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


@dataclass
class Target:
    """One running broker (with its NameServer) under test."""

    kind: str  # "apache" or "ours"
    namesrv: str
    broker: str
    broker_pid: int
    workdir: Path
    _stop: list[Any] = field(default_factory=list, repr=False)

    def stop(self) -> None:
        for fn in reversed(self._stop):
            try:
                fn()
            except Exception as exc:  # keep stopping the rest
                print(f"# {self.kind}: stop failed: {exc}", file=sys.stderr)
        self._stop.clear()


def start_ours(workdir: Path, extra_conf: dict[str, str] | None = None) -> Target:
    workdir.mkdir(parents=True, exist_ok=True)
    ns: ServerProcess = start_namesrv(workdir)
    try:
        conf = {**COMMON_CONF, **(extra_conf or {})}
        br = start_broker(workdir, ns, conf=conf, default_conf=False, start_timeout=60)
    except BaseException:
        ns.cleanup()
        raise
    t = Target("ours", ns.addr, br.addr, br.pid, workdir)
    t._stop += [ns.cleanup, lambda: br.cleanup(timeout=30)]
    return t


def start_apache(home: Path, workdir: Path, extra_conf: dict[str, str] | None = None) -> Target:
    """NameServer + broker with ``start.sh`` (its conf plus ``extra_conf``); stop() runs stop.sh.

    Three attempts with fresh ports: on a shared machine a free port can be taken meanwhile.
    """
    for attempt in range(3):
        try:
            return _start_apache_once(home, workdir / f"try{attempt}" if attempt else workdir, extra_conf)
        except RuntimeError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _start_apache_once(home: Path, workdir: Path, extra_conf: dict[str, str] | None) -> Target:
    workdir.mkdir(parents=True, exist_ok=True)
    ns_port, br_port = free_port(), free_apache_port()
    extra = {**COMMON_CONF, **(extra_conf or {})}
    env = dict(os.environ, BROKER_EXTRA="\n".join(f"{k}={v}" for k, v in extra.items()))
    out = subprocess.run(
        [str(home / "start.sh"), str(ns_port), str(br_port), str(workdir)],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    pids = (workdir / "pids").read_text().split() if (workdir / "pids").exists() else []
    t = Target(
        "apache", f"127.0.0.1:{ns_port}", f"127.0.0.1:{br_port}", int(pids[-1]) if pids else -1, workdir
    )
    t._stop.append(
        lambda: subprocess.run(
            [str(home / "stop.sh"), str(workdir)], capture_output=True, timeout=60, check=False
        )
    )
    if out.returncode != 0 or len(pids) < 2:
        t.stop()
        raise RuntimeError(f"Apache did not start: {out.stdout[-500:]} {out.stderr[-1500:]}")
    return t


def wait_registered(target: Target, timeout: float = 30.0) -> None:
    """Until the NameServer lists the broker (so clients find routes)."""
    deadline = time.monotonic() + timeout
    with MQAdmin(target.namesrv) as admin:
        while time.monotonic() < deadline:
            try:
                if admin.cluster_info().broker_addr_table:
                    return
            except Exception:
                pass
            time.sleep(0.2)
    raise RuntimeError(f"{target.kind}: broker never registered with its NameServer")


def max_offsets(admin: MQAdmin, target: Target, topic: str, queues: int) -> list[int]:
    out = []
    for q in range(queues):
        resp = admin.call(target.broker, RequestCode.GET_MAX_OFFSET, {"topic": topic, "queueId": str(q)})
        out.append(int((resp.ext_fields or {}).get("offset", "0")))
    return out


class GroupProgress:
    """A consumer group's in-memory consume offsets, asked through the broker.

    GET_CONSUMER_RUNNING_INFO is relayed by the broker to each client of the group; its per-queue
    ``commitOffset`` moves as listener calls return (the committed offsets the broker holds lag by
    up to the client's 5-s persist interval). ``maxes`` are the queues' max offsets to reach.
    """

    def __init__(self, target: Target, group: str, topic: str, maxes: list[int]) -> None:
        self.target, self.group, self.topic, self.maxes = target, group, topic, maxes
        self.admin = MQAdmin(target.namesrv, timeout=5.0)
        self.client_ids: list[str] = []

    def close(self) -> None:
        self.admin.close()

    def consumed(self) -> tuple[int, bool]:
        """(messages consumed so far, all queues at their max offset)."""
        if not self.client_ids:
            try:
                resp = self.admin.call(
                    self.target.broker, RequestCode.GET_CONSUMER_LIST_BY_GROUP, {"consumerGroup": self.group},
                    ok=(ResponseCode.SUCCESS, ResponseCode.SYSTEM_ERROR),
                )  # fmt: skip
            except AdminError:
                return 0, False
            if resp.code != ResponseCode.SUCCESS:
                return 0, False
            self.client_ids = decode_consumer_list(resp.body or b"{}")
            if not self.client_ids:
                return 0, False
        offsets: dict[int, int] = {}
        for cid in self.client_ids:
            try:
                resp = self.admin.call(
                    self.target.broker, RequestCode.GET_CONSUMER_RUNNING_INFO,
                    {"consumerGroup": self.group, "clientId": cid, "jstackEnable": "false"},
                )  # fmt: skip
            except AdminError:
                return 0, False
            for mq, info in ConsumerRunningInfo.decode(resp.body or b"{}").mq_table.items():
                if mq[0] == self.topic:
                    offsets[mq[2]] = max(offsets.get(mq[2], 0), info.commit_offset)
        done = all(offsets.get(q, -1) >= m for q, m in enumerate(self.maxes))
        return sum(max(0, v) for v in offsets.values()), done


def java_client(
    home: Path, cls: str, namesrv: str, args: list[str], log: Path, user_home: Path
) -> subprocess.Popen[bytes]:
    """The Java benchmark ``Producer``/``Consumer`` (``org.apache.rocketmq.example.benchmark``)."""
    opts = "-Xms1g -Xmx1g -Xmn256m -XX:+PerfDisableSharedMem"
    if cls == "Producer":
        opts += " -Dorg.apache.rocketmq.client.sendSmartMsg=true"
    env = dict(os.environ, JAVA_OPTS=opts, RMQ_USER_HOME=str(user_home))
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(home / "java.sh"), f"org.apache.rocketmq.example.benchmark.{cls}", "-n", namesrv, *args],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True, cwd=user_home,
        )  # fmt: skip


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM the process group of ``proc`` (its own session), SIGKILL after ``timeout``."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def java_producer(
    home: Path, work: Path, namesrv: str, topic: str, threads: int, size: int = 1024
) -> subprocess.Popen[bytes]:
    """The Java benchmark Producer (``-w threads -s size``, sync sends, runs until stopped)."""
    work.mkdir(parents=True, exist_ok=True)
    log = work / f"producer-{topic}-{threads}-{time.monotonic_ns()}.out"
    return java_client(
        home, "Producer", namesrv, ["-t", topic, "-w", str(threads), "-s", str(size)], log, work
    )


def put_total(addr: str) -> int:
    """Messages the broker at ``addr`` stored since it started (``msgPutTotalTodayNow``)."""
    deadline = time.monotonic() + 15.0
    while True:  # a broker that has just started may answer SYSTEM_ERROR/no body for a moment
        resp = invoke(addr, GET_BROKER_RUNTIME_INFO, timeout=10.0)
        if resp.code == ResponseCode.SUCCESS and resp.body:
            return int(resp.json_body()["table"]["msgPutTotalTodayNow"])
        if time.monotonic() > deadline:
            raise RuntimeError(f"GET_BROKER_RUNTIME_INFO from {addr}: code {resp.code} {resp.remark}")
        time.sleep(0.2)


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
