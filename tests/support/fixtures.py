"""The shared Apache RocketMQ 4.9.8 fixtures (real frames and a real store), found or failed loudly.

Where they are: ``$ROCKETMQ_FIXTURES`` when set (either the ``fixtures`` folder or its
``apache-4.9.8`` child), else ``<checkout>/../shared/fixtures/apache-4.9.8``: the ``shared`` folder
sits beside the repository checkout, on a developer machine and in CI alike.

Every loader raises :class:`FixturesMissing` when the folder or the file is not there. Raised while
pytest collects a module (a parameter list built from ``frames.jsonl``), it is a collection error and
the run fails; raised inside a test, the test fails. Nothing here skips, and nothing returns an empty
list for a missing folder: a test parametrised over the captured frames must never pass by running
zero cases.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.frame import FrameDecoder

REPO_ROOT = Path(__file__).resolve().parents[2]
APACHE = "apache-4.9.8"
#: Each wire session and the number of frames its ``frames.jsonl`` lists (fixtures README).
WIRE_SESSIONS = {"cpp": 54, "java": 21}


class FixturesMissing(AssertionError):
    """The shared fixtures (or one file of them) are not where the tests expect them."""


def apache_dir() -> Path:
    """``.../fixtures/apache-4.9.8``; raises :class:`FixturesMissing` when it is not a folder."""
    env = os.environ.get("ROCKETMQ_FIXTURES")
    root = Path(env) if env else REPO_ROOT.parent / "shared" / "fixtures"
    path = root / APACHE if (root / APACHE).is_dir() or not env else root
    if not (path / "wire").is_dir() or not (path / "store").is_dir():
        raise FixturesMissing(
            f"Apache fixtures not found at {path} (set ROCKETMQ_FIXTURES or put shared/ beside the checkout)"
        )
    return path


def fixture_path(*parts: str) -> Path:
    """A file or folder under ``apache-4.9.8``; raises :class:`FixturesMissing` when absent."""
    path = apache_dir().joinpath(*parts)
    if not path.exists():
        raise FixturesMissing(f"Apache fixture not found: {path}")
    return path


def store_dir() -> Path:
    """``apache-4.9.8/store`` (``data/``, ``messages.jsonl``, ``consumed.jsonl``)."""
    return fixture_path("store")


def wire_bytes(name: str) -> bytes:
    """One captured frame, length prefix included; ``name`` is ``"<session>/<file>"``."""
    return fixture_path("wire", *name.split("/")).read_bytes()


def wire_command(name: str) -> RemotingCommand:
    """One captured frame decoded by our frame decoder."""
    cmds = FrameDecoder().feed(wire_bytes(name))
    if len(cmds) != 1:
        raise AssertionError(f"{name}: expected exactly one frame, decoded {len(cmds)}")
    return cmds[0]


def wire_index(session: str) -> list[dict[str, Any]]:
    """The rows of ``wire/<session>/frames.jsonl``, each with its frame file present and its count checked."""
    index = fixture_path("wire", session, "frames.jsonl")
    rows = [json.loads(line) for line in index.read_text(encoding="utf-8").splitlines() if line.strip()]
    expected = WIRE_SESSIONS.get(session)
    if expected is not None and len(rows) != expected:
        raise FixturesMissing(f"{index}: {len(rows)} frames listed, the fixtures README says {expected}")
    for row in rows:
        fixture_path("wire", session, row["file"])
    return rows


def all_wire_frames() -> list[tuple[str, dict[str, Any]]]:
    """``("<session>/<file>", row)`` for every captured frame of every session (75 in all)."""
    return [(f"{session}/{row['file']}", row) for session in WIRE_SESSIONS for row in wire_index(session)]


def frame_body(frame: bytes) -> bytes:
    """The body bytes of one whole frame (after the length word, type word and header)."""
    header_length = int.from_bytes(frame[5:8], "big")
    return frame[8 + header_length :]


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
