"""The Raft log in DLedger's file layout: byte layout, reload, truncation, torn tails, file rolls."""

from __future__ import annotations

from pathlib import Path

from broker_core.raft.core import Entry
from broker_core.raft.storage import ENTRY_HEADER, INDEX_UNIT, DLedgerStore


def store(tmp_path: Path) -> DLedgerStore:
    s = DLedgerStore(tmp_path / "dledger-n0", data_file_size=4096, index_file_size=32 * 64)
    s.load()
    return s


def entries(lo: int, hi: int, term: int = 1) -> list[Entry]:
    return [Entry(i, term, f"body-{i}".encode() * 10) for i in range(lo, hi)]


def test_entry_and_index_unit_layout(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.append([Entry(1, 3, b"hello")])
    data = (tmp_path / "dledger-n0" / "data" / f"{0:020d}").read_bytes()
    assert ENTRY_HEADER.unpack_from(data, 0) == (1, 53, 0, 3, 0, 0, 0, 0, 5)
    assert data[48:53] == b"hello"
    index = (tmp_path / "dledger-n0" / "index" / f"{0:020d}").read_bytes()
    assert INDEX_UNIT.unpack_from(index, 0) == (1, 0, 53, 0, 3)
    s.close()


def test_reload_truncate_and_roll(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.append(entries(1, 60))
    assert len(s.data.files) > 1  # rolled over data files with blank markers
    s.save_hard_state(4, "n2")
    s.save_checkpoint(50)
    s.close()
    s = store(tmp_path)
    assert s.last_index() == 59 and (s.term, s.vote, s.committed) == (4, "n2", 50)
    assert s.entries(1, 60) == entries(1, 60)
    s.truncate(30)
    s.append(entries(30, 35, term=2))
    s.close()
    s = store(tmp_path)
    assert s.last_index() == 34
    assert s.entries(28, 35) == entries(28, 30) + entries(30, 35, term=2)
    assert s.term_at(35) == -1 and s.term_at(0) == 0
    s.close()


def test_torn_tail_is_cut_on_load(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.append(entries(1, 10))
    last = s._unit(9)
    assert last is not None
    s.close()
    data = tmp_path / "dledger-n0" / "data" / f"{0:020d}"
    raw = bytearray(data.read_bytes())
    raw[last[1] + 8 : last[1] + 16] = (77).to_bytes(8, "big")  # entry 9's header no longer matches its unit
    data.write_bytes(bytes(raw))
    s = store(tmp_path)
    assert s.last_index() == 8
    s.append(entries(9, 10))
    assert s.entries(1, 10) == entries(1, 10)
    s.close()
