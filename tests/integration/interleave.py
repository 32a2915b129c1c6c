"""Run a twin request to its commit at an exact point inside another request's transaction.

`twin_commits_after_key_lookup` hooks SQLAlchemy's `do_orm_execute` event: the first ORM
SELECT whose WHERE clause filters on `idempotency_key` runs, and then, before that request goes
on, the twin runs to completion in another thread (its own session and transaction). Under
PostgreSQL's READ COMMITTED the first request's later statements then see the twin's commit
while its key look-up did not: the window a double click can fall into. SQLite serializes
writers (BEGIN IMMEDIATE holds the write lock from the start), so there the twin would only
wait for the lock: the interleaving cannot happen.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session


@contextmanager
def twin_commits_after_key_lookup(twin: Callable[[], object]) -> Iterator[list[object]]:
    """Yield the list the twin's result (or exception) is appended to once it has run."""
    outcome: list[object] = []
    fired = threading.Event()

    def hook(state: ORMExecuteState) -> Any:
        where = getattr(state.statement, "whereclause", None)
        if fired.is_set() or not state.is_select or "idempotency_key" not in str(where):
            return None
        fired.set()
        result = state.invoke_statement()

        def run() -> None:
            try:
                outcome.append(twin())
            except Exception as error:  # handed to the test, which asserts on it
                outcome.append(error)

        thread = threading.Thread(target=run)
        thread.start()
        thread.join(timeout=60)
        return result

    event.listen(Session, "do_orm_execute", hook)
    try:
        yield outcome
    finally:
        event.remove(Session, "do_orm_execute", hook)
    assert fired.is_set(), "the request never looked up its idempotency key"
