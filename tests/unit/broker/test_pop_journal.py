"""The POP lease journal: replay on top of a snapshot rebuilds the table the broker answered from."""

from __future__ import annotations

from pathlib import Path

from broker_core.broker.pop import journal
from broker_core.broker.pop.leases import Key, LeaseTable

KEY: Key = ("cg", "T", 0)


def _live(table: LeaseTable) -> dict[int, int]:
    q = table.queues[KEY]
    return {off: lease.pop_time for off, lease in q.leases.items()}


def _write(path: Path, *lines: str) -> journal.LeaseJournal:
    j = journal.LeaseJournal(path)
    for line in lines:
        j.append(line)
    return j


def test_replay_on_an_empty_table_rebuilds_pops_acks_and_changes(tmp_path: Path) -> None:
    j = _write(
        tmp_path / "j",
        journal.pop_line(KEY, 5, 8, 1000, 30000, [5, 6, 7]),
        journal.ack_line(KEY, 6, 1000),
        journal.change_line(KEY, 5, 1000, 2000, 60000),
    )
    table = LeaseTable()
    assert j.replay(table) == 3
    assert _live(table) == {5: 2000, 7: 1000}
    assert table.queues[KEY].next_offset == 8
    assert table.queues[KEY].committed() == 5


def test_replay_is_idempotent_over_a_snapshot_that_already_holds_the_changes(tmp_path: Path) -> None:
    lines = (
        journal.pop_line(KEY, 0, 3, 1000, 30000, [0, 1, 2]),
        journal.ack_line(KEY, 0, 1000),
        journal.ack_line(KEY, 1, 1000),
    )
    snapshot = LeaseTable()
    assert _write(tmp_path / "a", *lines).replay(snapshot) == 3
    # a crash between writing the snapshot and emptying the journal: replay the same lines again
    table = LeaseTable.from_json_dict(snapshot.to_json_dict())
    assert _write(tmp_path / "b", *lines).replay(table) == 3
    assert _live(table) == {2: 1000}
    assert table.queues[KEY].committed() == 2


def test_a_torn_last_line_stops_the_replay_and_reset_empties_the_file(tmp_path: Path) -> None:
    path = tmp_path / "j"
    j = _write(path, journal.pop_line(KEY, 0, 1, 1000, 30000, [0]))
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("A cg@T@0 0")  # killed in the middle of a line
    table = LeaseTable()
    assert journal.LeaseJournal(path).replay(table) == 1
    assert _live(table) == {0: 1000}
    j.reset()
    assert path.read_bytes() == b""
    j.close()


def test_a_pop_that_skipped_filtered_messages_records_no_leases(tmp_path: Path) -> None:
    table = LeaseTable()
    assert _write(tmp_path / "j", journal.pop_line(KEY, 0, 4, 1000, 30000, [])).replay(table) == 1
    assert _live(table) == {}
    assert table.queues[KEY].next_offset == 4
