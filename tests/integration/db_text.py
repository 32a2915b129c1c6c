"""Everything a database holds, as one text: to prove a secret was never stored in clear."""

from __future__ import annotations

from sqlalchemy import select

from il2_tox.store import Database
from il2_tox.store.models import Base


def all_stored_text(db: Database) -> str:
    """Return every row of every table, each value as text, one row per line."""
    lines = []
    with db.read_session() as session:
        for table in Base.metadata.sorted_tables:
            for row in session.execute(select(table)):
                lines.append(" ".join(repr(value) for value in row))
    return "\n".join(lines)
