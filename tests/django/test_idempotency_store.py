"""The DB idempotency store (``IDEMPOTENCY.BACKEND = "db"``) and the app's migrations."""

from __future__ import annotations

import io

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
