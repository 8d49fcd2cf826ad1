"""The DB idempotency store (``IDEMPOTENCY.BACKEND = "db"``) and the app's migrations."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command
from django.test import override_settings

from rocketmq_integration.django.conf import configured_container
from rocketmq_integration.django.idempotency import DjangoIdempotencyStore
from rocketmq_integration.django.models import IdempotencyKey


@pytest.mark.django_db
def test_migrations_match_the_models() -> None:
    out = io.StringIO()
    call_command("makemigrations", "rocketmq", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


@pytest.mark.django_db
def test_claim_done_release_and_expiry() -> None:
    store = DjangoIdempotencyStore(ttl=60.0, processing_ttl=60.0)
    assert store.acquire("g", "k1")
    assert not store.acquire("g", "k1")  # in progress elsewhere
    assert store.acquire("other", "k1")  # groups are separate
    store.release("g", "k1")
    assert store.acquire("g", "k1")  # a failed attempt lets the retry run
    store.mark_done("g", "k1")
    assert store.is_done("g", "k1")
    store.release("g", "k1")  # releasing a processed key keeps it
    assert not store.acquire("g", "k1")
    IdempotencyKey.objects.filter(group="g", key="k1").update(expires_at=0)
    assert not store.is_done("g", "k1")
    assert store.acquire("g", "k1")  # expired keys are claimable again
    assert store.purge_expired() == 0


@pytest.mark.django_db
def test_db_backend_from_settings() -> None:
    with override_settings(ROCKETMQ={"IDEMPOTENCY": {"BACKEND": "db", "TTL": 30.0}}):
        store = configured_container().idempotency_store()
    assert isinstance(store, DjangoIdempotencyStore)
    assert store.ttl == 30.0


@pytest.mark.django_db(transaction=True)
def test_idempotent_listener_on_the_db_backend_handles_a_resent_message_once(rocketmq_cluster: Any) -> None:
    from rocketmq_integration.django import get_template
    from rocketmq_integration.django.worker import build_runner
    from rocketmq_integration.listeners import ConsumeFrom, ConsumeMode, build_spec
    from rocketmq_integration.pytest_plugin import MessageCollector

    topic = rocketmq_cluster.create_topic(rocketmq_cluster.unique("DjIdem"))
    group = rocketmq_cluster.unique("DjIdemG")
    got = MessageCollector()
    spec = build_spec(
        got, topic=topic, consumer_group=group, name=group, idempotent=True, consume_mode=ConsumeMode.ORDERLY,
        consume_from=ConsumeFrom.FIRST_OFFSET,
    )  # fmt: skip
    rocketmq = {"NAME_SERVER": rocketmq_cluster.namesrv_addr, "IDEMPOTENCY": {"BACKEND": "db"}}
    with override_settings(ROCKETMQ=rocketmq):
        runner = build_runner()
        assert isinstance(runner.idempotency_store, DjangoIdempotencyStore)
        runner.run_spec(spec)
        try:
            template = get_template()
            once = template.build_message(topic, "once")
            template.send(topic, once, hash_key="k")
            template.send(topic, once, hash_key="k")  # a producer retry: same msg id
            template.send(topic, "after", hash_key="k")
            assert got.wait_for(2, timeout=60) == ["once", "after"]
        finally:
            runner.stop(10)
    assert IdempotencyKey.objects.filter(group=group, done=True).count() == 2
