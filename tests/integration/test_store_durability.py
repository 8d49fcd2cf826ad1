"""Store durability against a real broker process: SIGKILL crash rounds (SYNC_FLUSH), ASYNC_FLUSH loss
window, torn tails, corrupt bytes, oversized messages, retention.

Messages go over the wire with SEND_MESSAGE (code 10) from several asyncio senders on one
``RemotingClient``; reads use PULL_MESSAGE and QUERY_MESSAGE. Consume queues are checked against the
commit log with the offline verifier (``broker_core.store.dump.verify``) after every restart.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

from broker_core.remoting.client import RemotingClient
from broker_core.remoting.codes import RequestCode, ResponseCode
from broker_core.remoting.command import RemotingCommand
from broker_core.store.dump import verify
from tests.support.admin import create_topic
from tests.support.cluster import ServerGroup
from tests.support.process import ServerProcess
from tests.support.store_load import (
    QUEUES,
    Acked,
    check_all_readable,
    pull_all,
    query_keys,
    send_one,
)


def start_broker(
    servers: ServerGroup, conf: dict[str, str | int | bool]
) -> tuple[ServerProcess, ServerProcess]:
    ns = servers.namesrv()
    broker = servers.broker(ns, conf={"autoCreateSubscriptionGroup": "true", **conf})
    return ns, broker


SIGKILL_ROUNDS = 20


def test_sigkill_rounds_sync_flush_lose_nothing(servers: ServerGroup) -> None:
    """20 rounds: senders run, the broker is SIGKILLed at a random moment, restarted, everything acked is there."""
    rng = random.Random(int(os.environ.get("STORE_CRASH_SEED", "3")))
    conf: dict[str, str | int | bool] = {
        "flushDiskType": "SYNC_FLUSH", "mappedFileSizeCommitLog": 256 * 1024, "mappedFileSizeConsumeQueue": 200 * 20,
        "maxHashSlotNum": 64, "maxIndexNum": 400, "autoCreateTopicEnable": "false",
    }  # fmt: skip
    _, broker = start_broker(servers, conf)
    topic = "StoreCrashTopic"
    create_topic(broker.addr, topic, queues=QUEUES)
    acked: list[Acked] = []

    async def round_(r: int) -> list[Acked]:
        client = RemotingClient()
        got: list[Acked] = []
        stop = asyncio.Event()

        async def sender(s: int) -> None:
            i = 0
            while not stop.is_set():
                key = f"r{r}-s{s}-{i}"
                i += 1
                try:
                    resp = await send_one(
                        client, broker.addr, topic, (s + i) % QUEUES, key, key.encode() * 20
                    )
                except Exception:
                    return
                if resp.code == ResponseCode.SUCCESS:
                    ext = resp.ext_fields or {}
                    got.append(Acked(key, int(ext["queueId"]), int(ext["queueOffset"]), ext["msgId"]))

        tasks = [asyncio.create_task(sender(s)) for s in range(6)]
        await asyncio.sleep(rng.uniform(0.15, 0.6))
        os.kill(broker.pid, signal.SIGKILL)
        stop.set()
        await asyncio.wait(tasks, timeout=10)
        await client.close()
        return got

    rounds = 0
    for r in range(SIGKILL_ROUNDS):
        got = asyncio.run(round_(r))
        broker.wait(10)
        assert got, f"round {r}: nothing acknowledged"
        acked += got
        broker.restart()
        asyncio.run(asyncio.wait_for(check_all_readable(broker.addr, topic, acked, query_all=False), 30))
        # every new round's acked messages are found by key; consume queues match the commit log
        asyncio.run(asyncio.wait_for(check_all_readable(broker.addr, topic, got, query_all=True), 30))
        assert broker.store_dir is not None
        problems = verify(broker.store_dir)
        assert not problems, problems
        rounds += 1
    print(f"{rounds} SIGKILL rounds, {len(acked)} acknowledged messages, all readable")
    assert rounds == SIGKILL_ROUNDS
    broker.stop()
    assert broker.store_dir is not None and verify(broker.store_dir) == []
    assert len(list((broker.store_dir / "index").iterdir())) > 1  # index files rolled during the rounds
    assert len(list((broker.store_dir / "commitlog").iterdir())) > 1  # and commit-log segments


def test_async_flush_clean_stop_loses_nothing(servers: ServerGroup) -> None:
    conf: dict[str, str | int | bool] = {"flushDiskType": "ASYNC_FLUSH", "flushIntervalCommitLog": 200}
    _, broker = start_broker(servers, conf)
    topic = "StoreAsyncTopic"
    create_topic(broker.addr, topic, queues=QUEUES)

    async def produce(n: int, tag: str) -> list[Acked]:
        client = RemotingClient()
        out = []
        try:
            for i in range(n):
                resp = await send_one(client, broker.addr, topic, i % QUEUES, f"{tag}-{i}", b"a" * 100)
                assert resp.code == ResponseCode.SUCCESS
                ext = resp.ext_fields or {}
                out.append(Acked(f"{tag}-{i}", int(ext["queueId"]), int(ext["queueOffset"]), ext["msgId"]))
        finally:
            await client.close()
        return out

    acked = asyncio.run(produce(300, "clean"))
    broker.restart()  # SIGTERM: clean stop flushes everything
    asyncio.run(check_all_readable(broker.addr, topic, acked, query_all=True))
    # SIGKILL of the *process* keeps the page cache: nothing is lost either; only an OS crash or power
    # loss can drop the unflushed window (docs/storage.md).
    acked += asyncio.run(produce(200, "kill"))
    os.kill(broker.pid, signal.SIGKILL)
    broker.wait(10)
    broker.restart()
    asyncio.run(check_all_readable(broker.addr, topic, acked, query_all=False))


def _last_segment(store: Path) -> Path:
    return sorted((store / "commitlog").iterdir())[-1]


def test_torn_tail_and_corrupt_byte_are_detected_and_truncated(servers: ServerGroup) -> None:
    conf: dict[str, str | int | bool] = {
        "flushDiskType": "SYNC_FLUSH",
        "mappedFileSizeCommitLog": 1024 * 1024,
    }
    _, broker = start_broker(servers, conf)
    topic = "StoreTornTopic"
    create_topic(broker.addr, topic, queues=1)

    async def produce(n: int, tag: str) -> list[tuple[str, int]]:
        client = RemotingClient()
        try:
            out = []
            for i in range(n):
                resp = await send_one(client, broker.addr, topic, 0, f"{tag}-{i}", b"b" * 300)
                assert resp.code == ResponseCode.SUCCESS
                out.append((f"{tag}-{i}", int((resp.ext_fields or {})["msgId"][-16:], 16)))
            return out
        finally:
            await client.close()

    sent = asyncio.run(produce(30, "m"))
    broker.stop()
    assert broker.store_dir is not None
    store = broker.store_dir
    seg = _last_segment(store)
    data = bytearray(seg.read_bytes())
    end = sent[-1][1] + (sent[-1][1] - sent[-2][1])
    data[end : end + 200] = data[sent[0][1] : sent[0][1] + 200]  # a torn copy of a whole record's head
    seg.write_bytes(bytes(data))
    cli = [sys.executable, "-m", "broker_core", "verify", str(store)]
    res = subprocess.run(cli, capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and f"@ {end}" in res.stdout, res.stdout
    broker.restart()
    asyncio.run(check_all_readable_one_queue(broker.addr, topic, [k for k, _ in sent]))
    broker.stop()
    assert subprocess.run(cli, capture_output=True, timeout=60).returncode == 0
    # a corrupt byte in the middle: reported, and recovery truncates from that record on (Apache semantics)
    data = bytearray(seg.read_bytes())
    data[sent[10][1] + 150] ^= 0x5A
    seg.write_bytes(bytes(data))
    res = subprocess.run(cli, capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and f"@ {sent[10][1]}" in res.stdout and "CRC" in res.stdout, res.stdout
    broker.restart()
    asyncio.run(check_all_readable_one_queue(broker.addr, topic, [k for k, _ in sent[:10]]))
    after = asyncio.run(produce(3, "after"))
    assert after[0][1] == sent[10][1]


async def check_all_readable_one_queue(addr: str, topic: str, keys: list[str]) -> None:
    client = RemotingClient()
    try:
        stored = await pull_all(client, addr, topic, 0)
        assert [stored[i] for i in sorted(stored)] == keys
    finally:
        await client.close()


def test_oversized_message_is_illegal_and_broker_continues(servers: ServerGroup) -> None:
    conf: dict[str, str | int | bool] = {"maxMessageSize": 1024}
    _, broker = start_broker(servers, conf)
    topic = "StoreBigTopic"
    create_topic(broker.addr, topic, queues=1)

    async def scenario() -> None:
        client = RemotingClient()
        try:
            big = await send_one(client, broker.addr, topic, 0, "big", b"x" * 1025)
            assert big.code == ResponseCode.MESSAGE_ILLEGAL, (big.code, big.remark)
            ok = await send_one(client, broker.addr, topic, 0, "ok", b"x" * 1024)
            assert ok.code == ResponseCode.SUCCESS
            assert list((await pull_all(client, broker.addr, topic, 0)).values()) == ["ok"]
        finally:
            await client.close()

    asyncio.run(scenario())
    assert broker.running


def test_retention_deletes_old_files_and_moves_consumers(servers: ServerGroup) -> None:
    conf: dict[str, str | int | bool] = {
        "mappedFileSizeCommitLog": 64 * 1024, "mappedFileSizeConsumeQueue": 50 * 20, "fileReservedTime": "0.0003",
        "deleteWhen": ";".join(f"{h:02d}" for h in range(24)), "cleanResourceInterval": 300,
        "maxHashSlotNum": 16, "maxIndexNum": 60,
    }  # fmt: skip
    _, broker = start_broker(servers, conf)
    topic = "StoreRetentionTopic"
    create_topic(broker.addr, topic, queues=1)
    assert broker.store_dir is not None
    cl_dir = broker.store_dir / "commitlog"

    async def scenario() -> None:
        client = RemotingClient()
        try:
            for i in range(300):  # ~1.2 KiB records: ~6 segments
                resp = await send_one(client, broker.addr, topic, 0, f"k{i}", b"r" * 1000)
                assert resp.code == ResponseCode.SUCCESS
            first_files = sorted(p.name for p in cl_dir.iterdir())
            assert len(first_files) >= 4
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 15
            while sorted(p.name for p in cl_dir.iterdir()) != first_files[-1:]:  # only the current one stays
                assert loop.time() < deadline, sorted(p.name for p in cl_dir.iterdir())
                await asyncio.sleep(0.2)
            ext = {
                "consumerGroup": "G", "topic": topic, "queueId": "0", "queueOffset": "0", "maxMsgNums": "32",
                "sysFlag": "4", "commitOffset": "0", "suspendTimeoutMillis": "0", "subscription": "*",
                "subVersion": "0",
            }  # fmt: skip
            resp = await client.invoke(
                broker.addr, RemotingCommand.request(RequestCode.PULL_MESSAGE, ext), 5.0
            )
            assert resp.code == ResponseCode.PULL_OFFSET_MOVED
            moved_to = int((resp.ext_fields or {})["nextBeginOffset"])
            assert moved_to > 0
            minr = await client.invoke(
                broker.addr,
                RemotingCommand.request(RequestCode.GET_MIN_OFFSET, {"topic": topic, "queueId": "0"}),
                5.0,
            )
            assert int((minr.ext_fields or {})["offset"]) == moved_to
            stored = await pull_all(client, broker.addr, topic, 0)
            assert sorted(stored) == list(range(moved_to, 300))
            assert [stored[i] for i in sorted(stored)] == [f"k{i}" for i in range(moved_to, 300)]
            assert await query_keys(client, broker.addr, topic, "k299") == ["k299"]
            assert await query_keys(client, broker.addr, topic, "k0") == []
        finally:
            await client.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))
