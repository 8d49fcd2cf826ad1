"""Acceptance (issue 4, item 2): three consumer processes of one group; one joins, one is SIGKILLed.

Each consumer runs ``consumer_proc.py`` in its own process and logs every consumed message with
its queue, offset and wall-clock start/end. While a producer sends continuously, B and A consume,
C joins, then A is killed with SIGKILL (the broker notices the closed connection and notifies the
survivors). From the logs alone we check at-least-once delivery, that the queues of the killed
process and of the joiner change hands within the rebalance interval (plus the 6 s broker lock
lease in orderly mode), that duplicates come only from the killed process' uncommitted tail, and
in orderly mode that no two calls of one queue ever overlap, across processes, and that offsets
only increase per queue except where the killed process' tail is consumed again.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from rocketmq_integration.client import Producer
from tests.integration.client.helpers import CLIENT, create_topic, to_message, unique
from tests.support.cluster import Cluster
from tests.support.payloads import make_message
from tests.support.process import REPO_ROOT, server_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(200)]

SCRIPT = Path(__file__).with_name("consumer_proc.py")
QUEUES = 8
REBALANCE = 2.0
LOCK_LEASE = 6.0  # broker rebalanceLockMaxLiveTimeMs below
SLACK = 2.5
KILL_AFTER_JOIN = 5.5  # A keeps its share for a while after the join, then dies


@pytest.fixture
def broker_conf() -> dict[str, str | int | bool]:
    return {"rebalanceLockMaxLiveTimeMs": int(LOCK_LEASE * 1000)}


class Proc:
    def __init__(self, name: str, tmp: Path, cluster: Cluster, topic: str, group: str, orderly: bool) -> None:
        self.name = name
        self.log = tmp / f"{name}.jsonl"
        cmd = [
            sys.executable, str(SCRIPT), "--namesrv", cluster.namesrv_addr, "--topic", topic,
            "--group", group, "--log", str(self.log), "--rebalance", str(REBALANCE),
        ] + (["--orderly"] if orderly else [])  # fmt: skip
        self.p = subprocess.Popen(
            cmd,
            cwd=REPO_ROOT,
            env=server_env(),
            stdout=subprocess.PIPE,
            stderr=open(tmp / f"{name}.err", "w"),
        )
        self.pid = self.p.pid

    def wait_ready(self, timeout: float = 30.0) -> None:
        assert self.p.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.p.stdout.readline().decode()
            if line.startswith("READY"):
                return
            if not line and self.p.poll() is not None:
                break
        raise AssertionError(f"{self.name} did not start")

    def records(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        out = []
        for line in self.log.read_text().splitlines():
            if line.endswith("}"):
                out.append(json.loads(line))
        return out

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)


def _run_scenario(cluster: Cluster, tmp_path: Path, orderly: bool) -> None:
    topic, group, total = unique("GroupProc"), unique("cgproc"), 900
    asyncio.run(create_topic(cluster.namesrv_addr, cluster.broker_addr, topic, QUEUES))
    marks: dict[str, float] = {"start": time.time()}
    procs = {n: Proc(n, tmp_path, cluster, topic, group, orderly) for n in ("A", "B")}
    try:
        for p in procs.values():
            p.wait_ready()
        marks["ready"] = time.time()

        def a_consumed_after_join() -> bool:
            cutoff = marks["join"] + REBALANCE + SLACK
            return any(r["start"] > cutoff for r in procs["A"].records())

        async def produce() -> int:
            """Send at ~75 msgs/s; C joins after a sixth; A is killed once it has shown it still owns
            queues after the join (event-driven, so a loaded machine cannot squeeze that window
            shut); at least 150 messages follow the kill so the hand-over is observable."""
            async with Producer(
                unique("pg"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT
            ) as prod:
                t0 = time.monotonic()
                i = after_kill = 0
                while i < 3 * total and (i < total or after_kill < 150):
                    await prod.send(to_message(topic, make_message(i, "grp")))
                    i += 1
                    if "kill" in marks:
                        after_kill += 1
                    if i == total // 6:
                        procs["C"] = Proc("C", tmp_path, cluster, topic, group, orderly)
                        await asyncio.to_thread(procs["C"].wait_ready)
                        marks["join"] = time.time()
                    if (
                        "kill" not in marks
                        and "join" in marks
                        and i % 10 == 0
                        and time.time() > marks["join"] + KILL_AFTER_JOIN
                        and (a_consumed_after_join() or time.time() > marks["join"] + 30)
                    ):
                        procs["A"].p.send_signal(signal.SIGKILL)
                        procs["A"].p.wait(5)
                        marks["kill"] = time.time()
                    # ~75 msgs/s so that the run spans both rebalances
                    await asyncio.sleep(max(0.0, t0 + i / 75 - time.monotonic()))
                return i

        total = asyncio.run(asyncio.wait_for(produce(), 90))
        deadline = time.monotonic() + 40
        seen: set[int] = set()
        while time.monotonic() < deadline:
            seen = {r["idx"] for p in procs.values() for r in p.records()}
            if len(seen) >= total:
                break
            time.sleep(0.3)
        for name in ("B", "C"):
            procs[name].stop()
        _check(procs, marks, total, orderly)
    finally:
        for p in procs.values():
            if p.p.poll() is None:
                p.p.kill()
                p.p.wait(5)


def _check(procs: dict[str, Proc], marks: dict[str, float], total: int, orderly: bool) -> None:
    recs = {name: p.records() for name, p in procs.items()}
    every = [dict(r, who=name) for name, rs in recs.items() for r in rs]
    # 1. at least once
    missing = set(range(total)) - {r["idx"] for r in every}
    assert not missing, f"never consumed: {sorted(missing)[:20]}"
    # 2. hand-over within the rebalance interval (orderly: plus the broker lock lease of the dead owner)
    join, kill = marks["join"], marks["kill"]
    c_first = min(r["start"] for r in recs["C"])
    assert c_first - join < REBALANCE + SLACK, f"joiner got its first queue after {c_first - join:.1f}s"
    dead_queues = {r["qid"] for r in recs["A"] if r["start"] > join + REBALANCE + SLACK}
    assert dead_queues, "A owned nothing after the join"
    bound = REBALANCE + SLACK + (LOCK_LEASE if orderly else 0)
    for qid in dead_queues:
        after = [r["start"] for r in every if r["qid"] == qid and r["who"] != "A" and r["start"] > kill]
        assert after, f"queue {qid} of the killed consumer was never taken over"
        assert min(after) - kill < bound, f"queue {qid} taken over after {min(after) - kill:.1f}s"
    # 3. duplicates only around the rebalances: the killed consumer's uncommitted tail (consumed at
    # most a couple of offset-commit periods before the kill), or hand-overs right after join/kill
    by_key: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for r in every:
        by_key[(r["qid"], r["offset"])].append(r)
    dups = {k: v for k, v in by_key.items() if len(v) > 1}
    for key, rs in dups.items():
        windows = [
            (marks["start"], marks["ready"] + REBALANCE + SLACK),  # A and B start (B joins A)
            (join - SLACK, join + REBALANCE + SLACK),
            (kill - SLACK, kill + bound),
        ]
        assert any(all(lo < r["start"] < hi for r in rs) for lo, hi in windows), (
            f"duplicate away from a rebalance: {key} {rs} (marks {marks})"
        )
    assert len(dups) < total // 5, f"{len(dups)} duplicates"
    if not orderly:
        return
    # 4. orderly: one call at a time per queue across processes; offsets only increase per queue,
    # except that the killed consumer's uncommitted tail is consumed again after the kill
    for qid in range(QUEUES):
        calls = sorted({(r["start"], r["end"], r["who"]) for r in every if r["qid"] == qid})
        for (s1, e1, w1), (s2, e2, w2) in zip(calls, calls[1:], strict=False):
            assert s2 >= e1, f"queue {qid}: {w1} [{s1:.3f},{e1:.3f}] overlaps {w2} [{s2:.3f},{e2:.3f}]"
        ordered = sorted((r for r in every if r["qid"] == qid), key=lambda r: (r["start"], r["offset"]))
        for prev, cur in zip(ordered, ordered[1:], strict=False):
            if cur["offset"] <= prev["offset"]:
                assert prev["who"] == "A" and cur["who"] != "A" and cur["start"] > kill, (
                    f"queue {qid}: offset {cur['offset']} after {prev['offset']} ({prev['who']}->{cur['who']})"
                )


@pytest.mark.parametrize("orderly", [False, True], ids=["concurrent", "orderly"])
def test_group_join_and_sigkill(cluster: Cluster, tmp_path: Path, orderly: bool) -> None:
    _run_scenario(cluster, tmp_path, orderly)
