"""The collaborators request processors share, assembled by :mod:`broker_core.broker.app`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from broker_core.broker.clients import ConsumerManager, ProducerManager
from broker_core.broker.filtering.consumer_filter import ConsumerFilterManager
from broker_core.broker.groups import SubscriptionGroupManager
from broker_core.broker.locks import RebalanceLockManager
from broker_core.broker.long_polling import PullHoldService
from broker_core.broker.offsets import ConsumerOffsetManager
from broker_core.broker.stats import BrokerStatsManager
from broker_core.broker.topics import TopicConfigManager
from broker_core.config.broker import BrokerConfig
from broker_core.store.message_store import MessageStore


@dataclass(slots=True)
class BrokerContext:
    config: BrokerConfig
    store: MessageStore
    topics: TopicConfigManager
    groups: SubscriptionGroupManager
    offsets: ConsumerOffsetManager
    consumers: ConsumerManager
    producers: ProducerManager
    locks: RebalanceLockManager
    hold: PullHoldService | None = None
    #: SQL92 subscriptions registered by heartbeats (None when enablePropertyFilter is off)
    filters: ConsumerFilterManager | None = None
    #: called after a topic is created or changed, so the NameServers learn it at once
    on_topics_changed: Callable[[], None] = lambda: None
    #: called with a topic's name after it was deleted (DELETE_TOPIC_IN_BROKER), e.g. by POP
    on_topic_deleted: list[Callable[[str], None]] = field(default_factory=list)
    #: put/get counters (VIEW_BROKER_STATS_DATA, runtime info, consume TPS, /metrics)
    stats: BrokerStatsManager = field(default_factory=BrokerStatsManager)

    @property
    def store_host(self) -> tuple[str, int]:
        return (self.config.broker_ip1, self.config.listen_port)
