"""``DjangoAtomicTransactionListener``: the half message and the ``atomic`` block commit or roll
back together, also when the producer dies before answering (the check-back reads the DB)."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings

from rocketmq_integration.django import get_template
from rocketmq_integration.django.models import TransactionRecord
from rocketmq_integration.django.signals import transaction_checked
from rocketmq_integration.pytest_plugin import MessageCollector
from rocketmq_integration.transactions import LocalTransactionState, default_transaction_registry
from tests.django.test_db import stored
from tests.django.testapp.models import Order
from tests.django.testapp.tx import register
from tests.support.process import die_with_parent, server_env

pytestmark = pytest.mark.django_db(transaction=True)
TX_PRODUCER = Path(__file__).resolve().parent / "tx_producer.py"


@pytest.fixture
def tx(rocketmq_cluster: Any) -> Iterator[tuple[str, str]]:
    """(producer group, topic) with OrderTx registered and the settings aimed at the cluster."""
    group = rocketmq_cluster.unique("DjTxGroup")
    topic = rocketmq_cluster.create_topic(rocketmq_cluster.unique("DjTx"))
    register(group, topic)
    try:
        with override_settings(ROCKETMQ={"NAME_SERVER": rocketmq_cluster.namesrv_addr}):
            yield group, topic
    finally:
        default_transaction_registry.unregister(group)


def test_commit_writes_row_record_and_message(rocketmq_cluster: Any, tx: tuple[str, str]) -> None:
    group, topic = tx
    result = get_template().send_in_transaction(topic, {"order": "o-ok", "mode": "ok"}, producer_group=group)
    assert result.local_state.name == "COMMIT_MESSAGE"
    assert Order.objects.filter(number="o-ok").exists()
    assert TransactionRecord.objects.filter(
        transaction_id=result.transaction_id, producer_group=group
    ).exists()
    assert stored(rocketmq_cluster, topic) == 1


def test_exception_in_block_rolls_back_row_and_half_message(
    rocketmq_cluster: Any, tx: tuple[str, str]
) -> None:
    group, topic = tx
    result = get_template().send_in_transaction(
        topic, {"order": "o-fail", "mode": "fail"}, producer_group=group
    )
    assert result.local_state.name == "ROLLBACK_MESSAGE"
    assert not Order.objects.filter(number="o-fail").exists()
    assert not TransactionRecord.objects.exists()
    assert stored(rocketmq_cluster, topic) == 0


def _checked(order: str) -> tuple[threading.Event, list[LocalTransactionState]]:
    seen = threading.Event()
    states: list[LocalTransactionState] = []

    def on_checked(sender: Any, message: Any, state: LocalTransactionState, **kw: Any) -> None:
        if isinstance(message.payload, dict) and message.payload.get("order") == order:
            states.append(state)
            seen.set()

    transaction_checked.connect(on_checked, weak=False, dispatch_uid=f"test-{order}")
    return seen, states


def _killed_producer(group: str, topic: str, order: str, mode: str, namesrv: str) -> None:
    env = server_env(
        {
            "DJANGO_SETTINGS_MODULE": "tests.django.settings",
            "ROCKETMQ_TEST_NAMESRV": namesrv,
            "ROCKETMQ_TEST_DB": str(connection.settings_dict["NAME"]),
        }
    )
    proc = subprocess.run(
        [sys.executable, str(TX_PRODUCER), group, topic, order, mode], env=env, capture_output=True, text=True,
        timeout=120, preexec_fn=die_with_parent,
    )  # fmt: skip
    assert proc.returncode == -9, (proc.returncode, proc.stdout, proc.stderr)  # SIGKILLed itself


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("kill-after-commit", LocalTransactionState.COMMIT), ("kill-inside", LocalTransactionState.ROLLBACK)],
)
def test_producer_killed_before_answering_check_back_answers_from_db(
    rocketmq_cluster: Any,
    rocketmq_listeners: Any,
    tx: tuple[str, str],
    mode: str,
    expected: LocalTransactionState,
) -> None:
    group, topic = tx
    # a live producer of the group, which the broker's check-back will reach
    warm = get_template().send_in_transaction(topic, {"order": "o-warm", "mode": "ok"}, producer_group=group)
    assert warm.local_state.name == "COMMIT_MESSAGE"
    order = f"o-{mode}"
    seen, states = _checked(order)
    try:
        _killed_producer(group, topic, order, mode, rocketmq_cluster.namesrv_addr)
        assert seen.wait(60), "the broker never checked the half message back"
    finally:
        transaction_checked.disconnect(dispatch_uid=f"test-{order}")
    assert states[0] is expected
    collector = MessageCollector()
    rocketmq_listeners.run(
        lambda p: collector(p["order"]), topic=topic, consumer_group=rocketmq_cluster.unique("DjTxC")
    )
    if expected is LocalTransactionState.COMMIT:
        assert Order.objects.filter(number=order).exists()
        assert sorted(set(collector.wait_for(2, timeout=60))) == sorted(["o-warm", order])
    else:
        assert not Order.objects.filter(number=order).exists()
        assert collector.wait_for(1, timeout=60) == ["o-warm"]
        assert stored(rocketmq_cluster, topic) == 1  # the rolled-back half message never became visible
