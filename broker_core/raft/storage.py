"""The Raft log on disk, in DLedger 0.3.1.2's file layout (storage spec §8.4).

Under ``<storePathRootDir>/dledger-<selfId>/``::

    data/        entries, files of ``data_file_size`` bytes named by their 20-digit start offset
    index/       one 32-byte unit per entry at ``dledger_index * 32``
    currterm     Java properties: currTerm, voteLeader
    checkpoint   Java properties: endIndex, committedIndex

Data entry (big-endian)::

    0  int   magic (1; -1 = blank end-of-file marker: [magic][remaining bytes])
    4  int   size = 48 + body length
    8  long  index (DLedger's, 0-based)
    16 long  term
    24 long  pos (physical offset of this entry in the data files)
    32 int   channel (0)     36 int chainCrc (0)     40 int bodyCrc (0)
    44 int   body size
    48 ...   body

Index unit: ``[magic int][pos long][size int][index long][term long]``.

The Raft core numbers entries from 1; DLedger from 0: ``dledger_index = raft_index - 1``.
On load the units are checked against the data file one by one; the first unit whose entry is missing
or different ends the log (a torn tail after a crash), and both files are cut there.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from pathlib import Path

from broker_core.raft.core import Entry
from broker_core.store.segments import MappedFileQueue

__all__ = ["DLedgerStore", "ENTRY_HEADER", "INDEX_UNIT"]

ENTRY_HEADER = struct.Struct(">iiqqqiiii")
INDEX_UNIT = struct.Struct(">iqiqq")
assert ENTRY_HEADER.size == 48 and INDEX_UNIT.size == 32
MAGIC = 1
BLANK_MAGIC = -1
_BLANK = struct.Struct(">ii")


def _read_properties(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    out: dict[str, str] = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip()
    return out


def _write_properties(path: Path, values: dict[str, str]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")
    os.replace(tmp, path)


class DLedgerStore:
    """Entries, index, term/vote and checkpoint of one member; a :class:`~broker_core.raft.core.LogView`."""

    def __init__(
        self, directory: Path, *, data_file_size: int, index_file_size: int = 32 * 1024 * 1024
    ) -> None:
        self.directory = directory
        self.data = MappedFileQueue(directory / "data", data_file_size)
        self.index = MappedFileQueue(directory / "index", index_file_size - index_file_size % 32)
        self.term = 0
        self.vote = ""
        self.committed = 0
        self._last = 0

    # ---- lifecycle ----------------------------------------------------------------------------
    def load(self) -> None:
        """Open the files, cut a torn tail, read term/vote and the checkpoint."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.data.load()
        self.index.load()
        count, data_end = self._scan()
        self._last = count
        self.index.truncate_dirty_files(count * INDEX_UNIT.size)
        self.data.truncate_dirty_files(data_end)
        hard = _read_properties(self.directory / "currterm")
        self.term = int(hard.get("currTerm", "0") or 0)
        self.vote = hard.get("voteLeader", "")
        checkpoint = _read_properties(self.directory / "checkpoint")
        self.committed = min(int(checkpoint.get("committedIndex", "-1") or -1) + 1, count)

    def _scan(self) -> tuple[int, int]:
        """Entries whose unit and data agree, and the end of their data."""
        count = 0
        data_end = self.data.min_offset
        while True:
            unit = self._unit(count + 1)
            if unit is None:
                return count, data_end
            magic, pos, size, index, term = unit
            if magic != MAGIC or index != count or size < ENTRY_HEADER.size:
                return count, data_end
            header = self._header_at(pos, size)
            if header is None or header[2] != index or header[3] != term or header[1] != size:
                return count, data_end
            count += 1
            data_end = pos + size

    def _unit(self, raft_index: int) -> tuple[int, int, int, int, int] | None:
        offset = (raft_index - 1) * INDEX_UNIT.size
        mf = self.index.locate(offset)
        if mf is None:
            return None
        pos = offset - mf.file_from_offset
        if pos + INDEX_UNIT.size > mf.wrote_position:
            return None
        return INDEX_UNIT.unpack_from(mf.mm, pos)

    def _header_at(self, pos: int, size: int) -> tuple[int, ...] | None:
        mf = self.data.locate(pos)
        if mf is None:
            return None
        p = pos - mf.file_from_offset
        if p + size > mf.wrote_position:
            return None
        return ENTRY_HEADER.unpack_from(mf.mm, p)

    def close(self) -> None:
        self.data.close()
        self.index.close()

    # ---- hard state ---------------------------------------------------------------------------
    def save_hard_state(self, term: int, vote: str) -> None:
        """Persist ``currterm`` (before any message of that term leaves)."""
        self.term, self.vote = term, vote
        _write_properties(self.directory / "currterm", {"currTerm": str(term), "voteLeader": vote})

    def save_checkpoint(self, committed: int) -> None:
        """Persist ``checkpoint`` (DLedger writes it every 3 s; recovery starts from it)."""
        self.committed = committed
        _write_properties(
            self.directory / "checkpoint",
            {"endIndex": str(self._last - 1), "committedIndex": str(committed - 1)},
        )

    # ---- LogView ------------------------------------------------------------------------------
    def last_index(self) -> int:
        return self._last

    def term_at(self, index: int) -> int:
        if index <= 0:
            return 0
        unit = self._unit(index)
        return int(unit[4]) if unit is not None else -1

    def entry(self, index: int) -> Entry:
        unit = self._unit(index)
        assert unit is not None, index
        _, pos, size, _, term = unit
        mf = self.data.locate(pos)
        assert mf is not None
        p = pos - mf.file_from_offset
        return Entry(index, int(term), bytes(mf.mm[p + ENTRY_HEADER.size : p + size]))

    def entries(self, lo: int, hi: int) -> list[Entry]:
        return [self.entry(i) for i in range(max(lo, 1), min(hi, self._last + 1))]

    # ---- writes -------------------------------------------------------------------------------
    def truncate(self, from_index: int) -> None:
        """Drop entries from ``from_index`` on."""
        if from_index > self._last:
            return
        unit = self._unit(from_index)
        assert unit is not None
        self.data.truncate_dirty_files(unit[1])
        self.index.truncate_dirty_files((from_index - 1) * INDEX_UNIT.size)
        self._last = from_index - 1
        self.committed = min(self.committed, self._last)

    def append(self, entries: Sequence[Entry]) -> None:
        """Append entries that follow the last one (with their index units)."""
        for entry in entries:
            assert entry.index == self._last + 1, (entry.index, self._last)
            size = ENTRY_HEADER.size + len(entry.data)
            mf = self.data.get_last_mapped_file(0)
            assert mf is not None
            if mf.remaining < size + _BLANK.size:
                if mf.remaining >= _BLANK.size:
                    _BLANK.pack_into(mf.mm, mf.wrote_position, BLANK_MAGIC, mf.remaining)
                mf.wrote_position = mf.file_size
                mf = self.data.get_last_mapped_file(0)
                assert mf is not None
                if size + _BLANK.size > mf.file_size:
                    raise ValueError(f"entry of {size} bytes does not fit a data file")
            pos = mf.file_from_offset + mf.wrote_position
            dl_index = entry.index - 1
            ENTRY_HEADER.pack_into(
                mf.mm, mf.wrote_position, MAGIC, size, dl_index, entry.term, pos, 0, 0, 0, len(entry.data)
            )
            start = mf.wrote_position + ENTRY_HEADER.size
            mf.mm[start : start + len(entry.data)] = entry.data
            mf.wrote_position += size
            imf = self.index.get_last_mapped_file(0)
            assert imf is not None
            INDEX_UNIT.pack_into(imf.mm, imf.wrote_position, MAGIC, pos, size, dl_index, entry.term)
            imf.wrote_position += INDEX_UNIT.size
            self._last = entry.index

    async def flush(self) -> None:
        """Force data and index to disk (worker threads)."""
        await self.data.flush(0)
        await self.index.flush(0)
