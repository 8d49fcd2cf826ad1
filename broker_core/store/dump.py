"""``python -m broker_core dump|verify STORE_DIR``: read a store directory offline (ours or Apache's).

``dump`` prints every commit-log record (offset, size, topic, queue, queue offset, store time, keys,
CRC verdict), every consume-queue unit and every index entry. ``verify`` checks:

* commit log: each segment scans as valid records (framing + body CRC) up to a BLANK end-of-file
  marker or an all-zero tail; any other bytes after the last good record are corruption (a torn or
  damaged record; recovery would truncate there, dropping everything after it, as Apache does);
* consume queues: each unit points at a record of that topic/queue with the unit's size;
* index files: header counts are in range.

It works on files alone (segment sizes are taken from the files), never on a running store's lock.
"""

from __future__ import annotations

import mmap
import struct
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from broker_core.message.codec import BLANK_MAGIC_CODE
from broker_core.store.dispatch import DispatchRequest, parse_record
from broker_core.store.index_file import HEADER_SIZE, IndexFile

__all__ = ["Problem", "dump", "main", "verify"]

_UNIT = struct.Struct(">qiq")
_MAGIC = struct.Struct(">ii")


@dataclass(frozen=True, slots=True)
class Problem:
    """One corruption finding."""

    file: str
    offset: int
    what: str

    def __str__(self) -> str:
        return f"CORRUPT {self.file} @ {self.offset}: {self.what}"


@contextmanager
def _mapped(path: Path) -> Iterator[mmap.mmap | bytes]:
    size = path.stat().st_size
    if size == 0:
        yield b""
        return
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), size, access=mmap.ACCESS_READ) as mm:
        yield mm


def _segments(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.is_file() and p.name.isdigit())


def _scan_commit_log(root: Path, out: TextIO | None) -> tuple[list[Problem], dict[int, DispatchRequest]]:
    problems: list[Problem] = []
    records: dict[int, DispatchRequest] = {}
    for path in _segments(root / "commitlog"):
        base = int(path.name)
        with _mapped(path) as buf:
            size = len(buf)
            pos = 0
            while pos < size:
                req = parse_record(buf, pos, size, base, check_crc=True)
                if isinstance(req, DispatchRequest):
                    records[base + pos] = req
                    if out is not None:
                        out.write(
                            f"record {base + pos} size={req.msg_size} topic={req.topic} queue={req.queue_id} "
                            f"qoffset={req.consume_queue_offset} store_ts={req.store_timestamp} "
                            f"sysflag={req.sys_flag} keys={req.keys!r} uniq={req.uniq_key!r} crc=ok\n"
                        )
                    pos += req.msg_size
                    continue
                if req == 0:
                    if out is not None:
                        out.write(f"blank {base + pos} size={size - pos}\n")
                    break
                tail = bytes(buf[pos:size])
                if tail.strip(b"\x00"):
                    what = "invalid record (bad magic, size, framing or body CRC)"
                    if pos + 8 <= size:
                        total, magic = _MAGIC.unpack_from(buf, pos)
                        if magic not in (BLANK_MAGIC_CODE,) and 0 < total <= size - pos:
                            ok = parse_record(buf, pos, size, base, check_crc=False)
                            if isinstance(ok, DispatchRequest):
                                what = "body CRC mismatch"
                    problems.append(Problem(path.name, base + pos, what))
                    if out is not None:
                        out.write(f"{problems[-1]}\n")
                break
    return problems, records


def _scan_consume_queues(
    root: Path, records: dict[int, DispatchRequest], out: TextIO | None
) -> list[Problem]:
    problems: list[Problem] = []
    cq_root = root / "consumequeue"
    if not cq_root.is_dir():
        return problems
    min_phy = min(records) if records else 0
    for topic_dir in sorted(p for p in cq_root.iterdir() if p.is_dir()):
        for qdir in sorted((p for p in topic_dir.iterdir() if p.is_dir()), key=lambda p: p.name):
            for path in _segments(qdir):
                with _mapped(path) as buf:
                    for pos in range(0, len(buf) - len(buf) % 20, 20):
                        phy, size, tags = _UNIT.unpack_from(buf, pos)
                        if (phy, size, tags) == (0, 0, 0):
                            break
                        index = (int(path.name) + pos) // 20
                        if out is not None:
                            out.write(
                                f"cq {topic_dir.name}/{qdir.name} #{index} phy={phy} size={size} tags={tags}\n"
                            )
                        if size == 0x7FFFFFFF or phy < min_phy:  # filler / deleted commit log
                            continue
                        rec = records.get(phy)
                        if rec is None or rec.msg_size != size or rec.topic != topic_dir.name:
                            problems.append(Problem(
                                f"consumequeue/{topic_dir.name}/{qdir.name}/{path.name}", pos,
                                f"unit #{index} points at no matching record (phy={phy}, size={size})",
                            ))  # fmt: skip
    return problems


def _index_geometry(size: int) -> tuple[int, int] | None:
    for slots, max_index in (
        (5000000, 20000000),
        ((size - HEADER_SIZE) // 84, 4 * ((size - HEADER_SIZE) // 84)),
    ):
        if HEADER_SIZE + slots * 4 + max_index * 20 == size:
            return slots, max_index
    return None


def _scan_index(root: Path, out: TextIO | None, geometry: tuple[int, int] | None) -> list[Problem]:
    problems: list[Problem] = []
    for path in _segments(root / "index"):
        geo = geometry or _index_geometry(path.stat().st_size)
        if geo is None:
            if out is not None:
                out.write(f"index {path.name}: unknown geometry (pass --index-slots/--index-entries)\n")
            continue
        f = IndexFile(path, geo[0], geo[1], readonly=True)
        try:
            if not 1 <= f.index_count <= f.max_index or f.hash_slot_count > f.slots:
                problems.append(Problem(f"index/{path.name}", 32, "header counts out of range"))
                continue
            if out is not None:
                out.write(
                    f"index {path.name} slots={f.slots} entries={f.entry_count} hash_slots={f.hash_slot_count} "
                    f"begin_ts={f.begin_timestamp} end_ts={f.end_timestamp} "
                    f"begin_phy={f.begin_phy_offset} end_phy={f.end_phy_offset}\n"
                )
                for number, (khash, phy, diff, prev) in enumerate(f.entries(), start=1):
                    out.write(f"  entry {number} hash={khash} phy={phy} time_diff={diff}s prev={prev}\n")
        finally:
            f.close()
    return problems


def verify(
    root: Path, out: TextIO | None = None, index_geometry: tuple[int, int] | None = None
) -> list[Problem]:
    """All corruption findings of the store at ``root``; ``out`` also receives the full dump."""
    problems, records = _scan_commit_log(root, out)
    problems += _scan_consume_queues(root, records, out)
    problems += _scan_index(root, out, index_geometry)
    return problems


def dump(root: Path, out: TextIO, index_geometry: tuple[int, int] | None = None) -> list[Problem]:
    """Print everything (records, units, index entries) and return the findings."""
    problems = verify(root, out, index_geometry)
    out.write(f"{len(problems)} problem(s)\n")
    return problems


def main(command: str, root: Path, index_geometry: tuple[int, int] | None = None) -> int:
    """CLI entry: ``dump`` prints and returns 0 unless corrupt; ``verify`` prints findings only.

    Returns:
        0 when the store is sound, 1 on corruption, 2 when ``root`` holds no store.
    """
    if not (root / "commitlog").is_dir():
        sys.stderr.write(f"{root}: no commitlog directory\n")
        return 2
    if command == "dump":
        problems = dump(root, sys.stdout, index_geometry)
    else:
        problems = verify(root, None, index_geometry)
        for p in problems:
            sys.stdout.write(f"{p}\n")
        sys.stdout.write("OK\n" if not problems else f"{len(problems)} problem(s)\n")
    return 1 if problems else 0
