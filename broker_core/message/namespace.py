"""4.9 client namespaces (``NamespaceUtil``): resources are prefixed ``<namespace>%`` on the wire.

=====================================  =========================================
resource                               wrapped in namespace ``NS``
=====================================  =========================================
``Orders``                             ``NS%Orders``
``%RETRY%GroupA``                      ``%RETRY%NS%GroupA``
``%DLQ%GroupA``                        ``%DLQ%NS%GroupA``
system topics / ``CID_RMQ_SYS_`` groups  unchanged
already ``NS%…``                       unchanged
=====================================  =========================================

The broker knows nothing of namespaces: isolation comes from the names alone, so clients of
different namespaces never see each other's topics, groups, retry or dead-letter queues.
"""

from __future__ import annotations

SEPARATOR = "%"
RETRY_PREFIX = "%RETRY%"
DLQ_PREFIX = "%DLQ%"
SYS_GROUP_PREFIX = "CID_RMQ_SYS_"
#: ``TopicValidator``'s system topics (4.9.8) and its ``rmq_sys_`` prefix
SYSTEM_TOPICS = frozenset(
    {
        "TBW102", "SCHEDULE_TOPIC_XXXX", "BenchmarkTest", "RMQ_SYS_TRANS_HALF_TOPIC", "RMQ_SYS_TRACE_TOPIC",
        "RMQ_SYS_TRANS_OP_HALF_TOPIC", "TRANS_CHECK_MAX_TIME_TOPIC", "SELF_TEST_TOPIC", "OFFSET_MOVED_EVENT",
    }
)  # fmt: skip


def is_system_resource(resource: str) -> bool:
    return resource in SYSTEM_TOPICS or resource.startswith(("rmq_sys_", SYS_GROUP_PREFIX))


def _strip_retry_dlq(resource: str) -> tuple[str, str]:
    for prefix in (RETRY_PREFIX, DLQ_PREFIX):
        if resource.startswith(prefix):
            return prefix, resource[len(prefix) :]
    return "", resource


def wrap(namespace: str | None, resource: str) -> str:
    """``NamespaceUtil.wrapNamespace``."""
    if not namespace or not resource or is_system_resource(resource):
        return resource
    prefix, rest = _strip_retry_dlq(resource)
    if rest.startswith(namespace + SEPARATOR):
        return resource
    return f"{prefix}{namespace}{SEPARATOR}{rest}"


def unwrap(namespace: str | None, resource: str) -> str:
    """``NamespaceUtil.withoutNamespace(resource, namespace)``: strip only this namespace."""
    if not namespace or not resource:
        return resource
    prefix, rest = _strip_retry_dlq(resource)
    if rest.startswith(namespace + SEPARATOR):
        return prefix + rest[len(namespace) + 1 :]
    return resource
