"""``RedisIdempotencyStore`` against a real ``redis-server`` subprocess: claim/complete/release
semantics, expiry, key prefix, concurrent claimers, the lazy ``redis`` import, and a listener
container deduplicating a re-sent message through Redis end to end."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from broker_core.message.model import Message
from rocketmq_integration.idempotency import IdempotencyStore, RedisIdempotencyStore
from rocketmq_integration.listeners import MessageContext, ReconsumeLater
from rocketmq_integration.pytest_plugin import MessageCollector

from .helpers import new_topic
from .redis_server import redis_server_process


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server_process(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url, decode_responses=True)
    yield c
    c.close()


def test_claim_complete_release_semantics(redis_url: str, client: redis.Redis) -> None:
    store = RedisIdempotencyStore(redis_url, prefix="t1:")
    assert isinstance(store, IdempotencyStore)
    assert store.acquire("g", "m1") is True
    assert store.acquire("g", "m1") is False  # in progress elsewhere
    assert store.acquire("other_g", "m1") is True  # groups are independent
    assert not store.is_done("g", "m1")
    store.release("g", "m1")  # failure: the retry may claim again
    assert store.acquire("g", "m1") is True
    store.mark_done("g", "m1")
    assert store.is_done("g", "m1")
    store.release("g", "m1")  # a processed key is never released
    assert store.acquire("g", "m1") is False and store.is_done("g", "m1")
    assert client.get("t1:g:m1") == "1"
    assert 86_000_000 < client.pttl("t1:g:m1") <= 86_400_000  # done: remembered for ttl
    assert 899_000 < client.pttl("t1:other_g:m1") <= 900_000  # claim: processing_ttl
    assert sorted(client.scan_iter("t1:*")) == ["t1:g:m1", "t1:other_g:m1"]
    store.close()


def test_expiry_and_existing_client(client: redis.Redis) -> None:
    # an existing client (decode_responses=True here) is used as is; the prefix keeps apps apart
    store = RedisIdempotencyStore(client, prefix="t2:", ttl=1.0, processing_ttl=0.2)
    assert store.client is client
    assert store.acquire("g", "k")
    time.sleep(0.3)  # Redis expires the abandoned claim (crashed worker) by itself
    assert store.acquire("g", "k")
    store.mark_done("g", "k")
    assert store.is_done("g", "k") and not store.acquire("g", "k")
    time.sleep(1.1)
    assert not store.is_done("g", "k") and store.acquire("g", "k")
    store.close()  # not ours: stays usable
    assert client.ping()
    with pytest.raises(ValueError, match="ttl"):
        RedisIdempotencyStore(client, ttl=0)
    with pytest.raises(TypeError):
        RedisIdempotencyStore(client, socket_timeout=1.0)


def test_concurrent_claimers_exactly_one_wins(redis_url: str) -> None:
    stores = [RedisIdempotencyStore(redis_url, prefix="t3:") for _ in range(8)]
    barrier = threading.Barrier(len(stores))
    wins: list[bool] = []
    lock = threading.Lock()

    def claim(store: RedisIdempotencyStore) -> None:
        barrier.wait(5)
        won = store.acquire("g", "race")
        with lock:
            wins.append(won)

    threads = [threading.Thread(target=claim, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(wins) == [False] * 7 + [True]
    for s in stores:
        s.close()


def test_package_works_without_redis_installed() -> None:
    code = (
        "import sys; sys.modules['redis'] = None\n"
        "import rocketmq_integration.idempotency as idem, rocketmq_integration.listeners\n"
        "assert 'redis' not in {m for m in sys.modules if sys.modules[m] is not None}\n"
        "try:\n"
        "    idem.RedisIdempotencyStore('redis://127.0.0.1:1/0')\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert "rocketmq-python[redis]" in out.stdout, out.stdout + out.stderr


def test_listener_with_redis_store_processes_resent_duplicate_once(
    rocketmq_cluster: Any, rocketmq_template: Any, rocketmq_listeners: Any, redis_url: str
) -> None:
    topic = new_topic(rocketmq_cluster, "l_redis_idem")
    group = rocketmq_cluster.unique("l_redis_idem_g")
    store = RedisIdempotencyStore(redis_url, prefix=f"{group}:")
    rocketmq_listeners.idempotency_store = store
    seen = MessageCollector()

    def handler(payload: dict[str, int], ctx: MessageContext) -> None:
        seen(payload, ctx)
        if payload["pay"] == 3 and ctx.reconsume_times == 0:
            raise ReconsumeLater()  # the claim is released, so the retry is not a "duplicate"

    container = rocketmq_listeners.run(
        handler, topic=topic, consumer_group=group, idempotent=True, name="redis_idem"
    )
    raw = Message(topic, b'{"pay":1}')
    first = rocketmq_template.send(topic, raw)
    again = rocketmq_template.send(topic, raw)  # a producer-level re-send: same UNIQ_KEY msg id
    assert first.msg_id == again.msg_id
    rocketmq_template.send(topic, {"pay": 2})
    retried = rocketmq_template.send(topic, {"pay": 3})
    seen.wait_for(4, 30)
    stats = container.wait_settled(5, 15)
    assert sorted(p["pay"] for p in seen.items) == [1, 2, 3, 3]
    threes = [c.reconsume_times for p, c in zip(seen.items, seen.contexts, strict=True) if p["pay"] == 3]
    assert threes == [0, 1]
    assert stats.duplicates == 1 and stats.succeeded == 3 and stats.failed == 1
    assert store.is_done(group, first.msg_id) and store.is_done(group, retried.msg_id)
    container.stop()
    store.close()
