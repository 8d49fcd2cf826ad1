"""Tag filtering (storage spec 5.1): the broker's consume-queue stage on tag hash codes.

The consume queue stores ``hashCode(TAGS)`` per message, so the broker compares integers and never
reads the commit log for a tag miss. Hash collisions are removed by the client, which re-checks the
``TAGS`` string against the subscription's tag set (``rocketmq_integration.client.pull``).
``*``/empty subscriptions and class-filter mode match everything (``None`` filter).
"""

from __future__ import annotations

from collections.abc import Callable

from broker_core.remoting.body.heartbeat import SubscriptionData

__all__ = ["tag_filter", "tags_match"]


def tag_filter(sub: SubscriptionData) -> Callable[[int], bool] | None:
    """Broker-side tag filter on the consume-queue tags code; ``None`` = everything matches."""
    if sub.expression_type != "TAG" or sub.class_filter_mode or not sub.code_set:
        return None
    return frozenset(sub.code_set).__contains__


def tags_match(sub: SubscriptionData, tags: str | None) -> bool:
    """The client-side exact check: with a non-empty tag set, ``TAGS`` must be one of them."""
    if not sub.tags_set:
        return True
    return tags is not None and tags in sub.tags_set
