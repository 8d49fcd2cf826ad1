"""The POP lease journal: replay on top of a snapshot rebuilds the table the broker answered from."""

from __future__ import annotations

from pathlib import Path

from broker_core.broker.pop import journal
from broker_core.broker.pop.leases import Key, LeaseTable

KEY: Key = ("cg", "T", 0)


def _live(table: LeaseTable) -> dict[int, int]:
    q = table.queues[KEY]
    return {off: lease.pop_time for off, lease in q.leases.items()}


def _write(path: Path, *lines: str, capacity: int = journal.CAPACITY) -> journal.LeaseJournal:
    j = journal.LeaseJournal(path, capacity)
    for line in lines:
        j.append(line)
    return j


def _replay(path: Path, table: LeaseTable | None = None) -> tuple[int, LeaseTable]:
    table = LeaseTable() if table is None else table
    j = journal.LeaseJournal(path)
    try:
        return j.replay(table), table
    finally:
        j.close()


def test_replay_on_an_empty_table_rebuilds_pops_acks_and_changes(tmp_path: Path) -> None:
    j = _write(
        tmp_path / "j",
        journal.pop_line(KEY, 5, 8, 1000, 30000, [5, 6, 7]),
        journal.ack_line(KEY, 6, 1000),
        journal.change_line(KEY, 5, 1000, 2000, 60000),
    )
    applied, table = _replay(tmp_path / "j")  # read while the writer is open: a shared map, no close
    j.close()
    assert applied == 3
    assert _live(table) == {5: 2000, 7: 1000}
    assert table.queues[KEY].next_offset == 8
    assert table.queues[KEY].committed() == 5


def test_replay_is_idempotent_over_a_snapshot_that_already_holds_the_changes(tmp_path: Path) -> None:
    lines = (
        journal.pop_line(KEY, 0, 3, 1000, 30000, [0, 1, 2]),
        journal.ack_line(KEY, 0, 1000),
        journal.ack_line(KEY, 1, 1000),
    )
    _write(tmp_path / "a", *lines).close()
    applied, snapshot = _replay(tmp_path / "a")
    assert applied == 3
    # a crash between writing the snapshot and emptying the journal: replay the same lines again
    table = LeaseTable.from_json_dict(snapshot.to_json_dict())
    assert _replay(tmp_path / "a", table)[0] == 3
    assert _live(table) == {2: 1000}
    assert table.queues[KEY].committed() == 2


def test_a_torn_last_line_stops_the_replay_and_reset_empties_the_files(tmp_path: Path) -> None:
    path = tmp_path / "j"
    path.write_text("G 1\n" + journal.pop_line(KEY, 0, 1, 1000, 30000, [0]) + "A cg@T@0 0", encoding="utf-8")
    j = journal.LeaseJournal(path)  # killed in the middle of the ack line
    table = LeaseTable()
    assert j.replay(table) == 1
    assert _live(table) == {0: 1000}
    j.reset()
    assert path.read_bytes().strip(b"\0") == b""
    assert _replay(path)[0] == 0
    j.close()


def test_a_pop_that_skipped_filtered_messages_records_no_leases(tmp_path: Path) -> None:
    _write(tmp_path / "j", journal.pop_line(KEY, 0, 4, 1000, 30000, [])).close()
    applied, table = _replay(tmp_path / "j")
    assert applied == 1
    assert _live(table) == {}
    assert table.queues[KEY].next_offset == 4


def test_a_torn_pop_line_leases_nothing_and_the_next_append_replaces_it(tmp_path: Path) -> None:
    """A pop line cut inside its offset list would parse ("0,1" of "0,1,2") and skip offset 2 for
    good: only lines with their newline count, and the next run writes over the fragment."""
    path = tmp_path / "j"
    whole = journal.pop_line(KEY, 0, 1, 1000, 30000, [0])
    torn = journal.pop_line(KEY, 1, 4, 2000, 30000, [1, 2, 3])[:-4]  # "... 1,2" without ",3\n"
    path.write_text("G 7\n" + whole + torn, encoding="utf-8")
    j = journal.LeaseJournal(path)
    table = LeaseTable()
    assert j.replay(table) == 1
    assert _live(table) == {0: 1000} and table.queues[KEY].next_offset == 1
    j.append(journal.ack_line(KEY, 0, 1000))  # appended after the whole line, over the fragment
    applied, again = _replay(path)
    assert applied == 2
    assert _live(again) == {} and again.queues[KEY].committed() == 1
    assert path.read_bytes().rstrip(b"\0") == ("G 7\n" + whole + journal.ack_line(KEY, 0, 1000)).encode()
    j.close()


def test_changes_made_while_a_snapshot_is_written_survive_its_release(tmp_path: Path) -> None:
    """The snapshot is written by a worker thread: what is journaled meanwhile goes to the other
    file, and releasing the snapshot's file keeps it; replay applies the older file first."""
    path = tmp_path / "j"
    j = _write(path, journal.pop_line(KEY, 0, 2, 1000, 30000, [0, 1]))
    covered = j.rotate()  # snapshot taken: it holds the pop
    j.append(journal.ack_line(KEY, 0, 1000))  # while it is written
    # a crash before the snapshot is on disk: both files, in order (pop, then ack)
    assert _live(_replay(path)[1]) == {1: 1000}
    j.release(covered)  # the snapshot is on disk
    snapshot = LeaseTable()
    snapshot.ensure(KEY, 0)
    snapshot.lease(KEY, 0, 1000, 30000)
    snapshot.lease(KEY, 1, 1000, 30000)
    snapshot.queues[KEY].next_offset = 2
    applied, table = _replay(path, snapshot)
    assert applied == 1 and _live(table) == {1: 1000}  # only the ack is left to replay
    covered = j.rotate()
    j.append(journal.ack_line(KEY, 1, 1000))  # the first file again, emptied by the release
    j.release(covered)
    applied, table = _replay(path, LeaseTable.from_json_dict(table.to_json_dict()))
    assert applied == 1 and _live(table) == {}
    j.close()


def test_a_failed_snapshot_keeps_both_files_until_one_succeeds(tmp_path: Path) -> None:
    path = tmp_path / "j"
    j = _write(path, journal.pop_line(KEY, 0, 3, 1000, 30000, [0, 1, 2]))
    j.rotate()  # this snapshot's write fails: no release
    j.append(journal.ack_line(KEY, 0, 1000))
    covered = j.rotate()  # the next one covers both; the other file is not empty: no switch
    j.append(journal.ack_line(KEY, 1, 1000))  # while it is written
    j.release(covered)  # frees the older file only: the active one got the second ack
    snapshot = LeaseTable()
    snapshot.ensure(KEY, 0)
    for off in (1, 2):
        snapshot.lease(KEY, off, 1000, 30000)
    snapshot.queues[KEY].next_offset = 3
    applied, table = _replay(path, snapshot)
    assert _live(table) == {2: 1000}
    j.close()


def test_an_unusable_journal_is_skipped_and_a_full_one_grows(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("", encoding="utf-8")
    broken = journal.LeaseJournal(blocker / "popLeases.journal")  # its folder cannot be created
    broken.append(journal.ack_line(KEY, 0, 1000))  # logged once, the snapshot covers it
    broken.append(journal.ack_line(KEY, 1, 1000))
    broken.close()
    small = _write(
        tmp_path / "small",
        journal.pop_line(KEY, 0, 50, 1000, 30000, range(50)),
        *(journal.ack_line(KEY, off, 1000) for off in range(49)),
        capacity=64,
    )
    applied, table = _replay(tmp_path / "small")
    assert applied == 50 and _live(table) == {49: 1000}
    small.close()


def test_a_deleted_topic_stays_forgotten_after_replay(tmp_path: Path) -> None:
    _write(
        tmp_path / "j",
        journal.pop_line(KEY, 0, 3, 1000, 30000, [0, 1, 2]),
        journal.drop_line(KEY[1]),
        journal.pop_line(KEY, 0, 1, 2000, 30000, [0]),  # created again under the same name
    ).close()
    applied, table = _replay(tmp_path / "j")
    assert applied == 3
    assert _live(table) == {0: 2000} and table.queues[KEY].next_offset == 1
