"""NamespaceUtil rules: wrap / unwrap of topics, groups, retry and DLQ names."""

from __future__ import annotations

import pytest

from broker_core.message.namespace import unwrap, wrap


@pytest.mark.parametrize(
    ("ns", "plain", "wire"),
    [
        ("NS1", "Orders", "NS1%Orders"),
        ("NS1", "%RETRY%GroupA", "%RETRY%NS1%GroupA"),
        ("NS1", "%DLQ%GroupA", "%DLQ%NS1%GroupA"),
        ("NS1", "TBW102", "TBW102"),
        ("NS1", "RMQ_SYS_TRACE_TOPIC", "RMQ_SYS_TRACE_TOPIC"),
        ("NS1", "CID_RMQ_SYS_X", "CID_RMQ_SYS_X"),
        ("", "Orders", "Orders"),
    ],
)
def test_wrap_and_unwrap(ns: str, plain: str, wire: str) -> None:
    assert wrap(ns, plain) == wire
    assert wrap(ns, wire) == wire  # idempotent
    assert unwrap(ns, wire) == plain


def test_unwrap_leaves_other_namespaces() -> None:
    assert unwrap("NS1", "NS2%Orders") == "NS2%Orders"
    assert unwrap("NS1", "%RETRY%NS2%G") == "%RETRY%NS2%G"
