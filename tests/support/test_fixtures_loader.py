"""The fixtures loader fails loudly: a missing ``shared/fixtures`` is an error, never zero test cases."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.fixtures import (
    REPO_ROOT,
    FixturesMissing,
    all_wire_frames,
    apache_dir,
    fixture_path,
    store_dir,
    wire_index,
)


def test_loader_finds_every_captured_frame_and_the_store() -> None:
    assert len(all_wire_frames()) == 75
    assert (store_dir() / "data" / "commitlog").is_dir()
    assert apache_dir().name == "apache-4.9.8"


@pytest.mark.parametrize("loader", [apache_dir, store_dir, lambda: wire_index("cpp"), all_wire_frames])
def test_loaders_raise_when_the_fixtures_are_missing(
    loader: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROCKETMQ_FIXTURES", str(tmp_path / "nowhere"))
    with pytest.raises(FixturesMissing, match="not found"):
        loader()  # type: ignore[operator]


def test_a_missing_file_raises_not_a_silent_none() -> None:
    with pytest.raises(FixturesMissing, match="no-such-frame"):
        fixture_path("wire", "cpp", "no-such-frame.bin")


def test_fixtures_folder_may_be_given_as_either_level(monkeypatch: pytest.MonkeyPatch) -> None:
    apache = apache_dir()
    monkeypatch.setenv("ROCKETMQ_FIXTURES", str(apache.parent))
    assert apache_dir() == apache
    monkeypatch.setenv("ROCKETMQ_FIXTURES", str(apache))
    assert apache_dir() == apache


def test_frame_tests_fail_the_run_when_the_fixtures_are_missing(tmp_path: Path) -> None:
    """Positive control for the old failure: collection with no fixtures must not exit 0."""
    env = {"ROCKETMQ_FIXTURES": str(tmp_path / "nowhere"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/unit/remoting/test_frame.py"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0, proc.stdout
    assert "FixturesMissing" in proc.stdout
