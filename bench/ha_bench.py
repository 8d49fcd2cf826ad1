#!/usr/bin/env python3
"""Replication cost and failover time: master alone vs ASYNC_MASTER / SYNC_MASTER + slave vs DLedger.

Each scenario starts fresh processes (NameServer + brokers, ASYNC_FLUSH, store in a temp dir) and
runs ``--producers`` concurrent senders (SEND_MESSAGE over ``RemotingClient``, ``--body-size``
bodies) against the master / leader for ``--seconds``:

=============== =====================================================================
alone           one ASYNC_MASTER, no slave
async-slave     ASYNC_MASTER + SLAVE (the put does not wait for the slave)
sync-slave      SYNC_MASTER + SLAVE (each put waits for the slave's ack)
dledger-3       three DLedger members; each put waits for a quorum commit
=============== =====================================================================

Reported: msgs/s, send latency p50/p99 (ms), non-SUCCESS answers. Then the DLedger failover time
over ``--failover-rounds`` rounds: SIGKILL the leader, time until a new leader is registered as
master with the NameServer and until a send to it succeeds (median and max). DLedger timers as in
the tests: heartbeat 500 ms, 3 missed heartbeats, up to 500 ms random vote delay (DLedger's
defaults are 2 s / 3 / 1 s, i.e. about 4x longer).

Usage: ``python bench/ha_bench.py [--seconds 5] [--producers 16] [--body-size 1024]
[--failover-rounds 5] [--only alone,sync-slave] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from broker_core.message import encode_properties  # noqa: E402
from broker_core.remoting.client import RemotingClient  # noqa: E402
from broker_core.remoting.codes import RequestCode, ResponseCode  # noqa: E402
from broker_core.remoting.command import RemotingCommand  # noqa: E402
from tests.integration.ha.helpers import start_master, start_slave, wait_for  # noqa: E402
from tests.support import admin  # noqa: E402
from tests.support.cluster import ServerGroup  # noqa: E402
from tests.support.net import free_port  # noqa: E402
from tests.support.process import ServerProcess  # noqa: E402

TOPIC = "BenchHa"
CONF = {"mappedFileSizeCommitLog": str(256 * 1024 * 1024)}
SCENARIOS = ("alone", "async-slave", "sync-slave", "dledger-3")


def _request(queue_id: int, body: bytes) -> RemotingCommand:
    ext = {
        "producerGroup": "BenchHaPG", "topic": TOPIC, "defaultTopic": "TBW102", "defaultTopicQueueNums": "8",
        "queueId": str(queue_id), "sysFlag": "0", "bornTimestamp": str(int(time.time() * 1000)), "flag": "0",
        "properties": encode_properties({"WAIT": "true"}), "reconsumeTimes": "0", "unitMode": "false",
    }  # fmt: skip
    return RemotingCommand.request(RequestCode.SEND_MESSAGE, ext, body)


async def produce(addr: str, producers: int, seconds: float, body: bytes) -> dict[str, float]:
    clients = [RemotingClient() for _ in range(min(producers, 8))]
    latencies: list[float] = []
    failed = 0
    stop_at = time.perf_counter() + seconds

    async def sender(i: int) -> None:
        nonlocal failed
        client = clients[i % len(clients)]
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            resp = await client.invoke(addr, _request(i % 8, body), 10.0)
            if resp.code == ResponseCode.SUCCESS:
                latencies.append(time.perf_counter() - t0)
            else:
                failed += 1

    start = time.perf_counter()
    try:
        await asyncio.gather(*(sender(i) for i in range(producers)))
    finally:
        for c in clients:
            await c.close()
    elapsed = time.perf_counter() - start
    latencies.sort()

    def pick(q: float) -> float:
        if not latencies:
            return 0.0
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 2)

    return {
        "msgs_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": pick(0.5),
        "p99_ms": pick(0.99),
        "failed": failed,
    }


def dledger_group(servers: ServerGroup, namesrv: ServerProcess) -> list[ServerProcess]:
    ids = ["n0", "n1", "n2"]
    peers = ";".join(f"{i}-127.0.0.1:{free_port()}" for i in ids)
    members = []
    for i in ids:
        conf = {
            **CONF, "enableDLegerCommitLog": "true", "dLegerGroup": "broker-a", "dLegerPeers": peers,
            "dLegerSelfId": i, "heartBeatTimeIntervalMs": "500", "maxHeartBeatLeak": "3", "maxVoteIntervalMs": "500",
        }  # fmt: skip
        members.append(servers.broker(namesrv, conf=conf, broker_name="broker-a", broker_id=int(i[1:]) + 1))
    return members


def leader_of(namesrv: ServerProcess, members: list[ServerProcess]) -> str | None:
    by_addr = {m.addr: m for m in members}
    try:
        route = admin.get_route(namesrv.addr, "broker-a")
    except admin.RemotingError:
        return None
    if route is None:
        return None
    addr = route["brokerDatas"][0]["brokerAddrs"].get("0")
    return addr if addr in by_addr and by_addr[addr].running else None


def sends_ok(addr: str) -> bool:
    async def once() -> bool:
        client = RemotingClient()
        try:
            resp = await client.invoke(addr, _request(0, b"probe"), 3.0)
            return resp.code == ResponseCode.SUCCESS
        except Exception:
            return False
        finally:
            await client.close()

    return asyncio.run(once())


def run_scenario(
    name: str, args: argparse.Namespace, work: Path
) -> tuple[dict[str, float], list[tuple[float, float]]]:
    servers = ServerGroup(work / name)
    failovers: list[tuple[float, float]] = []
    try:
        namesrv = servers.namesrv()
        if name == "dledger-3":
            members = dledger_group(servers, namesrv)
            target = wait_for(lambda: leader_of(namesrv, members), 60, "a DLedger leader")
        else:
            role = "SYNC_MASTER" if name == "sync-slave" else "ASYNC_MASTER"
            master = start_master(servers, namesrv, role, CONF)
            target = master.addr
            if name != "alone":
                start_slave(servers, namesrv, CONF)
        admin.create_topic(target, TOPIC, queues=8)
        if name == "dledger-3":
            wait_for(lambda: sends_ok(target), 30, "leader accepts sends")
        elif name == "sync-slave":
            wait_for(lambda: sends_ok(target), 30, "slave connected")
        body = b"h" * args.body_size
        asyncio.run(produce(target, 4, 1.0, body))  # warm-up
        result = asyncio.run(produce(target, args.producers, args.seconds, body))
        if name == "dledger-3":
            for _ in range(args.failover_rounds):
                old = wait_for(lambda: leader_of(namesrv, members), 60, "a leader")
                victim = next(m for m in members if m.addr == old)
                t0 = time.monotonic()
                victim.kill()
                new = wait_for(
                    lambda o=old: (a := leader_of(namesrv, members)) not in (None, o) and a, 60, "new leader"
                )  # type: ignore[misc]
                registered = time.monotonic() - t0
                wait_for(lambda n=new: sends_ok(n), 60, "sends on the new leader")  # type: ignore[misc]
                failovers.append((registered, time.monotonic() - t0))
                victim.restart()
        return result, failovers
    finally:
        servers.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--producers", type=int, default=16)
    parser.add_argument("--body-size", type=int, default=1024)
    parser.add_argument("--failover-rounds", type=int, default=5)
    parser.add_argument("--only", default="")
    parser.add_argument("--json")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or list(SCENARIOS)
    work = Path(tempfile.mkdtemp(prefix="bench-ha-"))
    results: dict[str, dict[str, float]] = {}
    failovers: list[tuple[float, float]] = []
    try:
        for name in names:
            try:
                results[name], fo = run_scenario(name, args, work)
                failovers += fo
            except Exception as exc:  # report and go on with the next scenario
                print(f"{name}: error {exc!r}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{args.producers} producers, {args.body_size} B bodies, {args.seconds:.0f} s per scenario")
    print(f"{'scenario':<12} {'msgs/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'failed':>7}")
    for name, r in results.items():
        print(f"{name:<12} {r['msgs_per_s']:>9.0f} {r['p50_ms']:>8} {r['p99_ms']:>8} {r['failed']:>7}")
    if failovers:
        reg = [f[0] for f in failovers]
        ok = [f[1] for f in failovers]
        print(
            f"DLedger failover over {len(failovers)} leader kills: new master registered median "
            f"{statistics.median(reg):.2f} s max {max(reg):.2f} s; first send accepted median "
            f"{statistics.median(ok):.2f} s max {max(ok):.2f} s"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "failovers": failovers}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
