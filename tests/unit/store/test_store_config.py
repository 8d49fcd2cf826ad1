"""StoreConfig defaults and broker.conf loading."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker_core.config.store import FlushDiskType, StoreConfig, parse_delay_levels
from broker_core.errors import ConfigError


def test_defaults_match_apache() -> None:
    c = StoreConfig()
    assert c.mapped_file_size_commit_log == 1073741824
    assert c.mapped_file_size_consume_queue == 6_000_000
    assert c.flush_disk_type is FlushDiskType.ASYNC_FLUSH
    assert (c.flush_interval_commit_log, c.flush_commit_log_least_pages) == (500, 4)
    assert (c.flush_interval_consume_queue, c.flush_consume_queue_least_pages) == (1000, 2)
    assert c.flush_commit_log_thorough_interval == 10000
    assert c.max_message_size == 4194304
    assert c.sync_flush_timeout == 5000
    assert (c.file_reserved_time, c.delete_when, c.disk_max_used_space_ratio) == (72, "04", 75)
    assert (c.max_hash_slot_num, c.max_index_num, c.message_index_enable) == (5000000, 20000000, True)
    assert c.transient_store_pool_enable is False
    assert c.commit_log_dir == c.store_path_root_dir / "commitlog"


def test_from_properties(tmp_path: Path) -> None:
    c = StoreConfig.from_properties(
        {
            "storePathRootDir": "data",
            "mappedFileSizeCommitLog": "65536",
            "mappedFileSizeConsumeQueue": "5990",
            "flushDiskType": "SYNC_FLUSH",
            "flushIntervalCommitLog": " 200 ",
            "maxMessageSize": "1024",
            "messageIndexEnable": "False",
            "brokerName": "ignored-not-a-store-key",
        },
        tmp_path,
    )
    assert c.store_path_root_dir == tmp_path / "data"
    assert c.commit_log_dir == tmp_path / "data" / "commitlog"
    assert c.mapped_file_size_commit_log == 65536
    assert c.mapped_file_size_consume_queue == 6000  # rounded up to whole units
    assert c.flush_disk_type is FlushDiskType.SYNC_FLUSH
    assert c.flush_interval_commit_log == 200
    assert c.max_message_size == 1024
    assert c.message_index_enable is False
    assert StoreConfig.from_properties({}, tmp_path).store_path_root_dir == tmp_path / "store"
    abs_cl = StoreConfig.from_properties({"storePathCommitLog": str(tmp_path / "cl")}, tmp_path)
    assert abs_cl.commit_log_dir == tmp_path / "cl"
    assert StoreConfig.apache_keys()["checkCRCOnRecover"] == "check_crc_on_recover"


@pytest.mark.parametrize(
    "props",
    [
        {"mappedFileSizeCommitLog": "1 gallon"},
        {"flushDiskType": "SOMETIMES"},
        {"messageIndexEnable": "yes"},
        {"maxMessageSize": "0"},
        {"messageDelayLevel": "1s 5x"},
        {"storePathRootDir": ""},
    ],
)
def test_bad_values(props: dict[str, str], tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        StoreConfig.from_properties(props, tmp_path)


def test_delay_levels() -> None:
    levels = parse_delay_levels(StoreConfig().message_delay_level)
    assert len(levels) == 18
    assert (levels[1], levels[5], levels[17], levels[18]) == (1000, 60_000, 3_600_000, 7_200_000)
