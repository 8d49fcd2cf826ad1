"""Message store settings (Apache ``MessageStoreConfig``, only the keys this store honours).

Each field records its Apache ``broker.conf`` key in its metadata, so :meth:`StoreConfig.from_properties`
maps a broker.conf dict onto the dataclass without a hand-written table that could drift. Units follow
Apache: intervals/timeouts in milliseconds, ``file_reserved_time`` in hours, sizes in bytes.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from broker_core.config.values import parse_enum, parse_size
from broker_core.errors import ConfigError

__all__ = [
    "CQ_STORE_UNIT_SIZE",
    "DEFAULT_MESSAGE_DELAY_LEVEL",
    "FlushDiskType",
    "StoreConfig",
    "parse_delay_levels",
]

CQ_STORE_UNIT_SIZE = 20
DEFAULT_MESSAGE_DELAY_LEVEL = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h"
_TIME_UNITS_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
#: byte-count keys: they also accept units (``4MB``, ``512KB``, ``1g``; binary multiples)
SIZE_KEYS = frozenset({
    "mappedFileSizeCommitLog", "mappedFileSizeConsumeQueue", "maxMessageSize",
    "maxTransferBytesOnMessageInMemory", "maxTransferBytesOnMessageInDisk", "haTransferBatchSize",
    "haSlaveFallbehindMax",
})  # fmt: skip


class FlushDiskType(enum.Enum):
    """``flushDiskType``: when a put is acknowledged relative to the disk flush."""

    ASYNC_FLUSH = "ASYNC_FLUSH"
    SYNC_FLUSH = "SYNC_FLUSH"


def _key(name: str) -> dict[str, str]:
    return {"key": name}


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """Store configuration; field metadata ``key`` = Apache camelCase name.

    Attributes:
        store_path_root_dir: ``storePathRootDir`` — root of commitlog/, consumequeue/, index/, checkpoint.
        store_path_commit_log: ``storePathCommitLog`` — commit-log dir; None = ``<root>/commitlog``.
        mapped_file_size_commit_log: ``mappedFileSizeCommitLog`` — commit-log segment size (1 GiB).
        mapped_file_size_consume_queue: ``mappedFileSizeConsumeQueue`` — CQ file size, rounded up to a
            multiple of 20 (300,000 units).
        flush_disk_type: ``flushDiskType`` — ASYNC_FLUSH (ack after append) or SYNC_FLUSH (ack after
            the group commit covering the message).
        flush_interval_commit_log: ``flushIntervalCommitLog`` — async flush period, ms.
        flush_commit_log_least_pages: ``flushCommitLogLeastPages`` — dirty 4 KiB pages needed to flush.
        flush_commit_log_thorough_interval: ``flushCommitLogThoroughInterval`` — ms after which a flush
            ignores the page threshold.
        flush_interval_consume_queue: ``flushIntervalConsumeQueue`` — CQ flush period, ms.
        flush_consume_queue_least_pages: ``flushConsumeQueueLeastPages``.
        flush_consume_queue_thorough_interval: ``flushConsumeQueueThoroughInterval`` — ms; a thorough CQ
            flush also persists the checkpoint.
        max_message_size: ``maxMessageSize`` — max body bytes (batch: whole body), 4 MiB.
        sync_flush_timeout: ``syncFlushTimeout`` — SYNC_FLUSH wait before FLUSH_DISK_TIMEOUT, ms.
        check_crc_on_recover: ``checkCRCOnRecover`` — verify body CRCs while recovering.
        file_reserved_time: ``fileReservedTime`` — hours a commit-log file is kept (retention). Apache
            takes an int; fractions are accepted here (e.g. ``0.0003`` ≈ 1 s) so tests can expire files.
        clean_resource_interval: ``cleanResourceInterval`` — period of the retention task, ms (10 s).
        disk_space_warning_level_ratio: ``diskSpaceWarningLevelRatio`` — above it writes are refused
            (Apache system property ``rocketmq.broker.diskSpaceWarningLevelRatio``, 0.90).
        disk_space_clean_forcibly_ratio: ``diskSpaceCleanForciblyRatio`` — above it expired-or-not files
            are deleted (system property ``rocketmq.broker.diskSpaceCleanForciblyRatio``, 0.85).
        delete_when: ``deleteWhen`` — hours of day (``"04"``, ``"03;04"``) when expired files go.
        disk_max_used_space_ratio: ``diskMaxUsedSpaceRatio`` — percent, clamped to [10, 95].
        clean_file_forcibly_enable: ``cleanFileForciblyEnable``.
        max_hash_slot_num: ``maxHashSlotNum`` — index file hash slots.
        max_index_num: ``maxIndexNum`` — index file entries.
        message_index_enable: ``messageIndexEnable`` — build the key index.
        message_index_safe: ``messageIndexSafe`` — abnormal recovery also trusts only flushed index.
        max_msgs_num_batch: ``maxMsgsNumBatch`` — max offsets per index query.
        default_query_max_num: ``defaultQueryMaxNum`` — index query size for msgId look-ups.
        transient_store_pool_enable: ``transientStorePoolEnable`` — accepted, not implemented (mmap
            writes are already page-cache writes in Python).
        max_transfer_bytes_on_message_in_memory: ``maxTransferBytesOnMessageInMemory`` (256 KiB).
        max_transfer_count_on_message_in_memory: ``maxTransferCountOnMessageInMemory`` (32).
        max_transfer_bytes_on_message_in_disk: ``maxTransferBytesOnMessageInDisk`` (64 KiB).
        max_transfer_count_on_message_in_disk: ``maxTransferCountOnMessageInDisk`` (8).
        access_message_in_memory_max_ratio: ``accessMessageInMemoryMaxRatio`` — percent of RAM.
        os_page_cache_busy_timeout_millis: ``osPageCacheBusyTimeOutMills``.
        message_delay_level: ``messageDelayLevel`` — delay per level (``"1s 5s 10s ... 2h"``); the store
            needs it to compute the delivery time kept as tagsCode of ``SCHEDULE_TOPIC_XXXX`` entries.
        ha_listen_port: ``haListenPort`` — the master's replication port; 0 (default) means
            ``listenPort + 1`` (Apache always forces that; here an explicit value is honoured).
        ha_master_address: ``haMasterAddress`` — a slave's fixed master HA address (else the one the
            NameServer returns at registration).
        ha_send_heartbeat_interval: ``haSendHeartbeatInterval`` — slave report / master heartbeat period.
        ha_housekeeping_interval: ``haHousekeepingInterval`` — an HA connection silent this long closes.
        ha_transfer_batch_size: ``haTransferBatchSize`` — the most bytes in one transfer frame.
        ha_slave_fallbehind_max: ``haSlaveFallbehindMax`` — a SYNC_MASTER answers SLAVE_NOT_AVAILABLE
            when its slave is further behind than this.
        ha_connect_retry_interval: pause before a slave reconnects to its master (Apache: fixed 5 s).
        slave_timeout: ``slaveTimeout`` — how long a SYNC_MASTER put waits for the slave's ack.
        enable_dleger_commit_log: ``enableDLegerCommitLog`` — replicate the commit log with Raft
            (DLedger mode) instead of master/slave HA.
        dleger_group / dleger_peers / dleger_self_id: ``dLegerGroup``, ``dLegerPeers``
            (``n0-host:port;n1-host:port;…``, the Raft RPC ports), ``dLegerSelfId``.
        store_path_dledger_commit_log: ``storePathDLedgerCommitLog`` — default
            ``<root>/dledger-<selfId>``.
        heart_beat_time_interval_ms / max_heart_beat_leak / max_vote_interval_ms /
            max_wait_ack_time_ms: DLedger's timers: a leader heartbeats every interval; a follower
            that missed ``leak`` heartbeats campaigns after a random extra up to the vote interval;
            a put waits this long for the quorum (then OS_PAGECACHE_BUSY).
    """

    store_path_root_dir: Path = field(default=Path.home() / "store", metadata=_key("storePathRootDir"))
    store_path_commit_log: Path | None = field(default=None, metadata=_key("storePathCommitLog"))
    mapped_file_size_commit_log: int = field(default=1073741824, metadata=_key("mappedFileSizeCommitLog"))
    mapped_file_size_consume_queue: int = field(
        default=300000 * CQ_STORE_UNIT_SIZE, metadata=_key("mappedFileSizeConsumeQueue")
    )
    flush_disk_type: FlushDiskType = field(default=FlushDiskType.ASYNC_FLUSH, metadata=_key("flushDiskType"))
    flush_interval_commit_log: int = field(default=500, metadata=_key("flushIntervalCommitLog"))
    flush_commit_log_least_pages: int = field(default=4, metadata=_key("flushCommitLogLeastPages"))
    flush_commit_log_thorough_interval: int = field(
        default=10000, metadata=_key("flushCommitLogThoroughInterval")
    )
    flush_interval_consume_queue: int = field(default=1000, metadata=_key("flushIntervalConsumeQueue"))
    flush_consume_queue_least_pages: int = field(default=2, metadata=_key("flushConsumeQueueLeastPages"))
    flush_consume_queue_thorough_interval: int = field(
        default=60000, metadata=_key("flushConsumeQueueThoroughInterval")
    )
    max_message_size: int = field(default=4194304, metadata=_key("maxMessageSize"))
    sync_flush_timeout: int = field(default=5000, metadata=_key("syncFlushTimeout"))
    check_crc_on_recover: bool = field(default=True, metadata=_key("checkCRCOnRecover"))
    file_reserved_time: float = field(default=72, metadata=_key("fileReservedTime"))
    clean_resource_interval: int = field(default=10000, metadata=_key("cleanResourceInterval"))
    disk_space_warning_level_ratio: float = field(default=0.90, metadata=_key("diskSpaceWarningLevelRatio"))
    disk_space_clean_forcibly_ratio: float = field(default=0.85, metadata=_key("diskSpaceCleanForciblyRatio"))
    delete_when: str = field(default="04", metadata=_key("deleteWhen"))
    disk_max_used_space_ratio: int = field(default=75, metadata=_key("diskMaxUsedSpaceRatio"))
    clean_file_forcibly_enable: bool = field(default=True, metadata=_key("cleanFileForciblyEnable"))
    max_hash_slot_num: int = field(default=5000000, metadata=_key("maxHashSlotNum"))
    max_index_num: int = field(default=20000000, metadata=_key("maxIndexNum"))
    message_index_enable: bool = field(default=True, metadata=_key("messageIndexEnable"))
    message_index_safe: bool = field(default=False, metadata=_key("messageIndexSafe"))
    max_msgs_num_batch: int = field(default=64, metadata=_key("maxMsgsNumBatch"))
    default_query_max_num: int = field(default=32, metadata=_key("defaultQueryMaxNum"))
    transient_store_pool_enable: bool = field(default=False, metadata=_key("transientStorePoolEnable"))
    max_transfer_bytes_on_message_in_memory: int = field(
        default=262144, metadata=_key("maxTransferBytesOnMessageInMemory")
    )
    max_transfer_count_on_message_in_memory: int = field(
        default=32, metadata=_key("maxTransferCountOnMessageInMemory")
    )
    max_transfer_bytes_on_message_in_disk: int = field(
        default=65536, metadata=_key("maxTransferBytesOnMessageInDisk")
    )
    max_transfer_count_on_message_in_disk: int = field(
        default=8, metadata=_key("maxTransferCountOnMessageInDisk")
    )
    access_message_in_memory_max_ratio: int = field(
        default=40, metadata=_key("accessMessageInMemoryMaxRatio")
    )
    os_page_cache_busy_timeout_millis: int = field(default=1000, metadata=_key("osPageCacheBusyTimeOutMills"))
    message_delay_level: str = field(default=DEFAULT_MESSAGE_DELAY_LEVEL, metadata=_key("messageDelayLevel"))
    # master/slave replication (storage spec §7)
    ha_listen_port: int = field(default=0, metadata=_key("haListenPort"))
    ha_master_address: str = field(default="", metadata=_key("haMasterAddress"))
    ha_send_heartbeat_interval: int = field(default=5000, metadata=_key("haSendHeartbeatInterval"))
    ha_housekeeping_interval: int = field(default=20000, metadata=_key("haHousekeepingInterval"))
    ha_transfer_batch_size: int = field(default=32768, metadata=_key("haTransferBatchSize"))
    ha_slave_fallbehind_max: int = field(default=268435456, metadata=_key("haSlaveFallbehindMax"))
    ha_connect_retry_interval: int = field(default=5000, metadata=_key("haConnectRetryInterval"))
    slave_timeout: int = field(default=3000, metadata=_key("slaveTimeout"))
    # DLedger commit log (storage spec §8)
    enable_dleger_commit_log: bool = field(default=False, metadata=_key("enableDLegerCommitLog"))
    dleger_group: str = field(default="", metadata=_key("dLegerGroup"))
    dleger_peers: str = field(default="", metadata=_key("dLegerPeers"))
    dleger_self_id: str = field(default="", metadata=_key("dLegerSelfId"))
    store_path_dledger_commit_log: Path | None = field(
        default=None, metadata=_key("storePathDLedgerCommitLog")
    )
    heart_beat_time_interval_ms: int = field(default=2000, metadata=_key("heartBeatTimeIntervalMs"))
    max_heart_beat_leak: int = field(default=3, metadata=_key("maxHeartBeatLeak"))
    max_vote_interval_ms: int = field(default=1000, metadata=_key("maxVoteIntervalMs"))
    max_wait_ack_time_ms: int = field(default=2500, metadata=_key("maxWaitAckTimeMs"))

    def __post_init__(self) -> None:
        if self.mapped_file_size_commit_log < 4096:
            raise ConfigError(
                f"mappedFileSizeCommitLog must be >= 4096, got {self.mapped_file_size_commit_log}"
            )
        if self.mapped_file_size_consume_queue < CQ_STORE_UNIT_SIZE:
            raise ConfigError("mappedFileSizeConsumeQueue must hold at least one 20-byte unit")
        # Apache's getter rounds the CQ file size up to a multiple of the unit size.
        rounded = -(-self.mapped_file_size_consume_queue // CQ_STORE_UNIT_SIZE) * CQ_STORE_UNIT_SIZE
        object.__setattr__(self, "mapped_file_size_consume_queue", rounded)
        object.__setattr__(
            self, "disk_max_used_space_ratio", min(95, max(10, self.disk_max_used_space_ratio))
        )
        parse_delay_levels(self.message_delay_level)
        for name in (
            "max_message_size", "flush_interval_commit_log", "flush_interval_consume_queue",
            "clean_resource_interval", "max_hash_slot_num", "max_index_num",
        ):  # fmt: skip
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")

    # ---- derived paths -------------------------------------------------------------------------
    @property
    def commit_log_dir(self) -> Path:
        """Directory of the commit-log segments."""
        return self.store_path_commit_log or self.store_path_root_dir / "commitlog"

    @property
    def consume_queue_dir(self) -> Path:
        """``<root>/consumequeue``."""
        return self.store_path_root_dir / "consumequeue"

    @property
    def index_dir(self) -> Path:
        """``<root>/index``."""
        return self.store_path_root_dir / "index"

    @property
    def checkpoint_path(self) -> Path:
        """``<root>/checkpoint``."""
        return self.store_path_root_dir / "checkpoint"

    @property
    def abort_path(self) -> Path:
        """``<root>/abort`` — exists while the store runs."""
        return self.store_path_root_dir / "abort"

    @property
    def lock_path(self) -> Path:
        """``<root>/lock``."""
        return self.store_path_root_dir / "lock"

    # ---- loading -------------------------------------------------------------------------------
    @classmethod
    def apache_keys(cls) -> dict[str, str]:
        """Map of Apache camelCase key -> field name."""
        return {f.metadata["key"]: f.name for f in dataclasses.fields(cls) if "key" in f.metadata}

    @classmethod
    def from_properties(cls, props: dict[str, str], base_dir: Path) -> StoreConfig:
        """Build a config from broker.conf entries; unknown keys are ignored (they belong to others).

        Args:
            props: raw ``key=value`` strings, Apache camelCase keys.
            base_dir: directory against which relative paths are resolved; the root defaults to
                ``base_dir/store`` when ``storePathRootDir`` is absent.

        Raises:
            ConfigError: a value does not parse as its field's type, or fails validation.
        """
        types = {f.name: str(f.type) for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {"store_path_root_dir": base_dir / "store"}
        for key, name in cls.apache_keys().items():
            if key in props:
                kwargs[name] = _convert(key, props[key].strip(), types[name], base_dir)
        return cls(**kwargs)


def parse_delay_levels(spec: str) -> dict[int, int]:
    """Parse ``messageDelayLevel`` into {level (1-based): delay ms}.

    Raises:
        ConfigError: a token is not ``<int><s|m|h|d>``.
    """
    levels: dict[int, int] = {}
    for level, token in enumerate(spec.split(), start=1):
        unit = _TIME_UNITS_MS.get(token[-1:])
        if unit is None or not token[:-1].isdigit():
            raise ConfigError(f"invalid messageDelayLevel token {token!r}")
        levels[level] = int(token[:-1]) * unit
    return levels


def _convert(key: str, raw: str, type_name: str, base_dir: Path) -> object:
    try:
        if type_name == "int":
            if key in SIZE_KEYS:
                return parse_size(raw)
            try:
                return int(raw)
            except ValueError:
                raise ValueError("expected an integer") from None
        if type_name == "float":
            return float(raw)
        if type_name == "bool":
            lowered = raw.lower()
            if lowered not in ("true", "false"):
                raise ValueError("expected true or false")
            return lowered == "true"
        if type_name == "FlushDiskType":
            return parse_enum(FlushDiskType, raw)
        if type_name in ("Path", "Path | None"):
            if not raw:
                raise ValueError("empty path")
            path = Path(raw).expanduser()
            return path if path.is_absolute() else base_dir / path
        return raw
    except ValueError as exc:
        raise ConfigError(f"invalid value {raw!r} for {key}: {exc}") from exc
