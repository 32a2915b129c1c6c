"""A bounded retry of a whole write transaction when the database was only briefly in the way.

A nurse saving a set at 3 a.m. should never see "database is locked" because someone else was
saving at the same moment. SQLite waits for the lock itself (`busy_timeout`), but can still
give up, and a busy error can come back without waiting (a checkpoint, a writer recovering the
WAL index); PostgreSQL can abort a transaction as a deadlock victim or a serialization failure,
or lose its connection. `retrying` runs the use case's transaction again, a few times with a
growing pause, when the fault is one of those; any other fault is raised at once.

Which faults are retried depends on whether the transaction is idempotent:
  - busy / locked (SQLite), deadlock and serialization failures (PostgreSQL): the database
    rolled the transaction back, so nothing was written and running it again is always safe;
  - a lost connection: the commit may or may not have happened. Only a transaction that is
    safe to run twice (an idempotency key, or "already stored, identical" on import) retries;
    the second run finds the first one's rows if they were committed.
When the attempts run out the last error is raised: the caller reports it (and, in the
dashboard, keeps what was typed).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

T = TypeVar("T")

ATTEMPTS = 4  # the first try and three more
FIRST_PAUSE_S = 0.05  # then 0.1, 0.2: under half a second in all, on top of SQLite's own wait

_SQLITE_BUSY = ("database is locked", "database is busy", "database table is locked")
_ROLLED_BACK_SQLSTATES = ("40001", "40P01")  # serialization_failure, deadlock_detected


def rolled_back(error: BaseException) -> bool:
    """Return True when the database refused the transaction only because it was busy, and
    rolled it back (nothing written): SQLite busy or locked, a PostgreSQL deadlock victim or
    serialization failure."""
    if not isinstance(error, DBAPIError):
        return False
    if getattr(error.orig, "sqlstate", None) in _ROLLED_BACK_SQLSTATES:
        return True
    message = str(error.orig).lower()
    return any(text in message for text in _SQLITE_BUSY)


def connection_lost(error: BaseException) -> bool:
    """Return True when the connection to the database broke (the outcome may be unknown)."""
    if not isinstance(error, DBAPIError):
        return False
    sqlstate = getattr(error.orig, "sqlstate", None) or ""
    return error.connection_invalidated or sqlstate.startswith("08")


def transient(error: BaseException, idempotent: bool) -> bool:
    """Return True when running the transaction again is both useful and safe."""
    return rolled_back(error) or (idempotent and connection_lost(error))


def retrying(
    transaction: Callable[[], T],
    *,
    idempotent: bool,
    attempts: int = ATTEMPTS,
    first_pause_s: float = FIRST_PAUSE_S,
) -> T:
    """Return `transaction()`, run again after a transient fault, at most `attempts` times.

    `transaction` must open and finish its own write transaction (so each attempt starts
    afresh). With `idempotent=False` only faults the database rolled back are retried.
    """
    pause = first_pause_s
    for attempt in range(1, attempts + 1):
        try:
            return transaction()
        except DBAPIError as error:
            if attempt == attempts or not transient(error, idempotent):
                raise
        time.sleep(pause)
        pause *= 2
    raise AssertionError("unreachable")  # pragma: no cover


__all__ = ["ATTEMPTS", "connection_lost", "retrying", "rolled_back", "transient"]
