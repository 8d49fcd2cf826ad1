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
        assert j.append(line)
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
    path.write_text(journal.pop_line(KEY, 0, 1, 1000, 30000, [0]) + "A cg@T@0 0", encoding="utf-8")
    j = journal.LeaseJournal(path)  # killed in the middle of the ack line
    table = LeaseTable()
    assert j.replay(table) == 1
    assert _live(table) == {0: 1000}
    j.reset()
    assert path.read_bytes().strip(b"\0") == b""
    assert journal.LeaseJournal(path).replay(LeaseTable()) == 0
    j.close()


def test_a_pop_that_skipped_filtered_messages_records_no_leases(tmp_path: Path) -> None:
    table = LeaseTable()
    assert _write(tmp_path / "j", journal.pop_line(KEY, 0, 4, 1000, 30000, [])).replay(table) == 1
    assert _live(table) == {}
    assert table.queues[KEY].next_offset == 4


def test_a_torn_pop_line_leases_nothing_and_the_next_append_replaces_it(tmp_path: Path) -> None:
    """A pop line cut inside its offset list would parse ("0,1" of "0,1,2") and skip offset 2 for
    good: only lines with their newline count, and the next run writes over the fragment."""
    path = tmp_path / "j"
    whole = journal.pop_line(KEY, 0, 1, 1000, 30000, [0])
    torn = journal.pop_line(KEY, 1, 4, 2000, 30000, [1, 2, 3])[:-4]  # "... 1,2" without ",3\n"
    path.write_text(whole + torn, encoding="utf-8")
    j = journal.LeaseJournal(path)
    table = LeaseTable()
    assert j.replay(table) == 1
    assert _live(table) == {0: 1000} and table.queues[KEY].next_offset == 1
    assert j.append(journal.ack_line(KEY, 0, 1000))  # the next run appends after the whole line
    again = LeaseTable()
    assert journal.LeaseJournal(path).replay(again) == 2
    assert _live(again) == {} and again.queues[KEY].committed() == 1
    assert path.read_bytes().rstrip(b"\0") == (whole + journal.ack_line(KEY, 0, 1000)).encode()
    j.close()


def test_an_unusable_journal_is_skipped_and_a_full_one_asks_for_a_snapshot(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("", encoding="utf-8")
    broken = journal.LeaseJournal(blocker / "popLeases.journal")  # its folder cannot be created
    assert broken.append(journal.ack_line(KEY, 0, 1000))  # logged once, the snapshot covers it
    assert broken.append(journal.ack_line(KEY, 1, 1000))
    broken.close()
    line = journal.ack_line(KEY, 0, 1000)
    small = journal.LeaseJournal(tmp_path / "small", capacity=len(line) * 2 + 1)
    assert small.append(line) and small.append(line)
    assert not small.append(line)  # full: the caller writes a snapshot, then resets
    small.reset()
    assert small.append(line)
    small.close()
    table = LeaseTable()
    table.ensure(KEY, 0)
    table.lease(KEY, 0, 1000, 30000)
    assert journal.LeaseJournal(tmp_path / "small").replay(table) == 1
    assert _live(table) == {}


def test_a_process_killed_mid_run_leaves_its_appends_in_the_file(tmp_path: Path) -> None:
    """The journal is a shared memory map: what was appended is in the file without a close."""
    path = tmp_path / "j"
    j = _write(path, journal.pop_line(KEY, 0, 2, 1000, 30000, [0, 1]), journal.ack_line(KEY, 0, 1000))
    table = LeaseTable()
    assert journal.LeaseJournal(path).replay(table) == 2  # read while the writer is still open
    assert _live(table) == {1: 1000}
    j.reset()
    assert journal.LeaseJournal(path).replay(LeaseTable()) == 0
    j.close()
