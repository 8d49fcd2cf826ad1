"""Topic configuration table (``config/topics.json``), system topics and auto-creation.

System topics are created in memory at start-up as Apache's ``TopicConfigManager`` does; the
table is persisted on every change and its :class:`DataVersion` advances, which tells the
NameServer to replace this broker's queue data.
"""

from __future__ import annotations

from pathlib import Path

from broker_core.broker.persist import ConfigFile
from broker_core.config.broker import BrokerConfig
from broker_core.logsetup import get_logger
from broker_core.message.names import validate_topic
from broker_core.remoting.body.topic_config import (
    PERM_INHERIT,
    PERM_READ,
    PERM_WRITE,
    DataVersion,
    TopicConfig,
    TopicConfigSerializeWrapper,
)

log = get_logger(__name__)

AUTO_CREATE_TOPIC_KEY = "TBW102"
SCHEDULE_TOPIC = "SCHEDULE_TOPIC_XXXX"
SELF_TEST_TOPIC = "SELF_TEST_TOPIC"
BENCHMARK_TOPIC = "BenchmarkTest"
OFFSET_MOVED_EVENT = "OFFSET_MOVED_EVENT"
TRANS_HALF_TOPIC = "RMQ_SYS_TRANS_HALF_TOPIC"
TRANS_OP_HALF_TOPIC = "RMQ_SYS_TRANS_OP_HALF_TOPIC"
TRANS_CHECK_MAX_TIME_TOPIC = "TRANS_CHECK_MAX_TIME_TOPIC"
RETRY_GROUP_TOPIC_PREFIX = "%RETRY%"
DLQ_GROUP_TOPIC_PREFIX = "%DLQ%"
SYSTEM_TOPIC_PREFIX = "rmq_sys_"

#: Topics a client may not send to (remoting spec 6.4).
NOT_ALLOWED_SEND_TOPICS = frozenset(
    {SCHEDULE_TOPIC, TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC, TRANS_CHECK_MAX_TIME_TOPIC, SELF_TEST_TOPIC,
     OFFSET_MOVED_EVENT}
)  # fmt: skip

RW = PERM_READ | PERM_WRITE


def is_system_topic(topic: str, cfg: BrokerConfig) -> bool:
    return (
        topic in NOT_ALLOWED_SEND_TOPICS
        or topic in (AUTO_CREATE_TOPIC_KEY, BENCHMARK_TOPIC, cfg.broker_cluster_name, cfg.broker_name)
        or topic == f"{cfg.broker_cluster_name}_REPLY_TOPIC"
        or topic.lower().startswith(SYSTEM_TOPIC_PREFIX)
    )


class TopicConfigManager:
    """The broker's topic table; state lives on the event loop (no locks)."""

    def __init__(self, cfg: BrokerConfig, config_dir: Path) -> None:
        self.cfg = cfg
        self.table: dict[str, TopicConfig] = {}
        self.data_version = DataVersion.now()
        self._file = ConfigFile(config_dir / "topics.json")
        self._add_system_topics()

    def _add_system_topics(self) -> None:
        c = self.cfg
        system = [
            TopicConfig(SELF_TEST_TOPIC, 1, 1),
            TopicConfig(BENCHMARK_TOPIC, 1024, 1024),
            TopicConfig(c.broker_cluster_name, 16, 16, PERM_INHERIT | (RW if c.cluster_topic_enable else 0)),
            TopicConfig(c.broker_name, 1, 1, PERM_INHERIT | (RW if c.broker_topic_enable else 0)),
            TopicConfig(OFFSET_MOVED_EVENT, 1, 1),
            TopicConfig(SCHEDULE_TOPIC, 18, 18),
            TopicConfig(f"{c.broker_cluster_name}_REPLY_TOPIC", 1, 1),
        ]
        if c.auto_create_topic_enable:
            n = c.default_topic_queue_nums
            system.append(TopicConfig(AUTO_CREATE_TOPIC_KEY, n, n, PERM_INHERIT | RW))
        if c.trace_topic_enable:
            system.append(TopicConfig(c.msg_trace_topic_name, 1, 1))
        for tc in system:
            self.table[tc.topic_name] = tc

    def load(self) -> None:
        wrapper = self._file.load(TopicConfigSerializeWrapper.from_json_dict)
        if wrapper is None:
            return
        self.table.update(wrapper.topic_config_table)
        self.data_version = wrapper.data_version
        log.info("topics loaded", count=len(wrapper.topic_config_table))

    def persist(self) -> None:
        self._file.save(self.wrapper().to_json_dict())

    def wrapper(self) -> TopicConfigSerializeWrapper:
        return TopicConfigSerializeWrapper(dict(self.table), self.data_version)

    def get(self, topic: str) -> TopicConfig | None:
        return self.table.get(topic)

    def _changed(self) -> None:
        self.data_version = self.data_version.next_version()
        self.persist()

    def update(self, tc: TopicConfig) -> None:
        """Create or replace a topic config (admin UPDATE_AND_CREATE_TOPIC)."""
        self.table[tc.topic_name] = tc
        log.info("topic updated", topic=tc.topic_name, read=tc.read_queue_nums, write=tc.write_queue_nums)
        self._changed()

    def delete(self, topic: str) -> bool:
        if self.table.pop(topic, None) is None:
            return False
        self._changed()
        return True

    def create_in_send(self, topic: str, default_topic: str, queue_nums: int) -> TopicConfig | None:
        """Auto-create ``topic`` from the template ``default_topic`` (send path, spec 4.1 step 4).

        Returns the new config, or ``None`` when the template is missing or does not allow inheriting.
        """
        existing = self.table.get(topic)
        if existing is not None:
            return existing
        template = self.table.get(default_topic)
        if template is None:
            return None
        if default_topic == AUTO_CREATE_TOPIC_KEY and not self.cfg.auto_create_topic_enable:
            return None
        if not template.perm & PERM_INHERIT:
            return None
        if validate_topic(topic) is not None:
            return None
        n = max(1, min(queue_nums, template.write_queue_nums))
        tc = TopicConfig(topic, n, n, template.perm & ~PERM_INHERIT, template.topic_filter_type)
        self.table[topic] = tc
        log.info("topic auto-created", topic=topic, queues=n, template=default_topic)
        self._changed()
        return tc

    def create_system_like(self, topic: str, queue_nums: int, perm: int = RW) -> TopicConfig:
        """Create (if missing) a retry/DLQ/internal topic with ``queue_nums`` queues."""
        existing = self.table.get(topic)
        if existing is not None:
            return existing
        tc = TopicConfig(topic, queue_nums, queue_nums, perm)
        self.table[topic] = tc
        log.info("topic created", topic=topic, queues=queue_nums)
        self._changed()
        return tc
