"""A shared idempotency store on any DB-API 2.0 database (sqlite3, psycopg, mysqlclient, Django's
``connection``), so several consumer processes dedupe against one table.

Table (created by :meth:`DbApiIdempotencyStore.create_table` or your migration)::

    rocketmq_idempotency(group_name VARCHAR(255), dedupe_key VARCHAR(255), done INTEGER,
                         expires_at DOUBLE PRECISION, PRIMARY KEY (group_name, dedupe_key))

``acquire`` deletes an expired row for the key and inserts a fresh claim; the primary key makes
concurrent claimers race safely (the loser's INSERT fails with the driver's IntegrityError and it
answers ``False``). Expiry uses wall-clock time, since several hosts share the table.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["DbApiIdempotencyStore"]

_DDL = (
    "CREATE TABLE IF NOT EXISTS {table} (group_name VARCHAR(255) NOT NULL, dedupe_key VARCHAR(255) NOT NULL, "
    "done INTEGER NOT NULL, expires_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (group_name, dedupe_key))"
)


class DbApiIdempotencyStore:
    """:class:`~rocketmq_integration.idempotency.IdempotencyStore` on a DB-API connection.

    Args:
        connect: returns a connection (called per operation; pooled or thread-local is fine).
        close: close the connection after each operation (True for plain ``sqlite3.connect``
            factories, False for Django's thread-local ``connection``).
        paramstyle: the driver's placeholder style: ``qmark`` (``?``) or ``format`` (``%s``).
        table: table name.
        ttl / processing_ttl: as for the in-memory store.
    """

    def __init__(
        self,
        connect: Callable[[], Any],
        *,
        close: bool = True,
        paramstyle: str = "qmark",
        table: str = "rocketmq_idempotency",
        ttl: float = 86400.0,
        processing_ttl: float = 900.0,
    ) -> None:
        if paramstyle not in ("qmark", "format"):
            raise ValueError("paramstyle must be 'qmark' or 'format'")
        if not table.replace("_", "").isalnum():
            raise ValueError(f"invalid table name {table!r}")
        self._connect = connect
        self._close = close
        self._p = "?" if paramstyle == "qmark" else "%s"
        self.table = table
        self.ttl = ttl
        self.processing_ttl = processing_ttl
        self._lock = threading.Lock()

    def _run(self, *statements: tuple[str, tuple[Any, ...]]) -> int:
        """Execute statements in one transaction; returns the last statement's rowcount."""
        conn = self._connect()
        try:
            cur = conn.cursor()
            rowcount = 0
            try:
                for sql, params in statements:
                    cur.execute(sql.format(t=self.table, p=self._p), params)
                    rowcount = cur.rowcount
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
            finally:
                cur.close()
            return int(rowcount)
        finally:
            if self._close:
                conn.close()

    def create_table(self) -> None:
        """Create the table if it does not exist."""
        self._run((_DDL.format(table="{t}"), ()))

    def acquire(self, group: str, key: str) -> bool:
        """See :meth:`IdempotencyStore.acquire`."""
        now = time.time()
        try:
            self._run(
                (
                    "DELETE FROM {t} WHERE group_name = {p} AND dedupe_key = {p} AND expires_at <= {p}",
                    (group, key, now),
                ),
                (
                    "INSERT INTO {t} (group_name, dedupe_key, done, expires_at) VALUES ({p}, {p}, 0, {p})",
                    (group, key, now + self.processing_ttl),
                ),
            )
        except Exception as exc:
            if type(exc).__name__ == "IntegrityError":  # every DB-API driver names it so
                return False
            raise
        return True

    def mark_done(self, group: str, key: str) -> None:
        """See :meth:`IdempotencyStore.mark_done`."""
        self._run(
            (
                "UPDATE {t} SET done = 1, expires_at = {p} WHERE group_name = {p} AND dedupe_key = {p}",
                (time.time() + self.ttl, group, key),
            )
        )

    def release(self, group: str, key: str) -> None:
        """See :meth:`IdempotencyStore.release`."""
        self._run(("DELETE FROM {t} WHERE group_name = {p} AND dedupe_key = {p} AND done = 0", (group, key)))

    def is_done(self, group: str, key: str) -> bool:
        """Whether ``key`` is recorded as processed (and not expired)."""
        conn = self._connect()
        try:
            cur = conn.cursor()
            cur.execute(
                f"SELECT 1 FROM {self.table} WHERE group_name = {self._p} AND dedupe_key = {self._p} AND done = 1 AND expires_at > {self._p}",
                (group, key, time.time()),
            )
            found = cur.fetchone() is not None
            cur.close()
            return found
        finally:
            if self._close:
                conn.close()
