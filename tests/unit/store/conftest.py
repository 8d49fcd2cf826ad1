"""Fixtures for the store tests: small-segment configs and a writable copy of the Apache store."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from broker_core.config.store import StoreConfig
from tests.support.fixtures import store_dir


@pytest.fixture(scope="session")
def apache_store_dir() -> Path:
    """``apache-4.9.8/store`` (read-only; fails loudly when the shared fixtures are missing)."""
    return store_dir()


@pytest.fixture
def apache_store_copy(apache_store_dir: Path, tmp_path: Path) -> Path:
    """A writable copy of the Apache store root (``data/``)."""
    dest = tmp_path / "apache-store"
    shutil.copytree(apache_store_dir / "data", dest)
    for root, dirs, files in os.walk(dest):
        for name in dirs + files:
            p = Path(root) / name
            p.chmod(p.stat().st_mode | stat.S_IWUSR | stat.S_IRUSR | (stat.S_IXUSR if p.is_dir() else 0))
    dest.chmod(dest.stat().st_mode | stat.S_IWUSR)
    return dest


@pytest.fixture
def small_config(tmp_path: Path) -> StoreConfig:
    """64 KiB commit-log segments, 50-unit consume-queue files, fast flush intervals."""
    return StoreConfig(
        store_path_root_dir=tmp_path / "store",
        mapped_file_size_commit_log=64 * 1024,
        mapped_file_size_consume_queue=50 * 20,
        flush_interval_commit_log=20,
        flush_interval_consume_queue=20,
    )
