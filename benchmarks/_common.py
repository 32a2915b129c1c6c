"""What the benchmark scripts share: a throw-away PostgreSQL schema, and the JSON report.

Imported by load.py, kill.py and fuzz.py as `_common` (each script puts benchmarks/ on the path).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool


def fresh_postgres_schema(base_url: str) -> tuple[str, str]:
    """Create an empty schema on the server; return (URL using it, schema name)."""
    schema = f"load_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    admin.dispose()
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False), schema


def drop_postgres_schema(base_url: str, schema: str) -> None:
    """Drop a schema made by `fresh_postgres_schema`, with everything in it."""
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as connection:
        connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


def report_head(benchmark: str, **fields: Any) -> dict[str, Any]:
    """Return the start of a JSON report: what ran, when, on which machine, by which command,
    then `fields` (in their order)."""
    head: dict[str, Any] = {"benchmark": benchmark}
    if "backend" in fields:  # the backend stays second, as in the reports already written
        head["backend"] = fields.pop("backend")
    return head | {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_1_5_15": os.getloadavg(),
        },
        "command": " ".join([sys.executable, *sys.argv]),
        **fields,
    }


def write_report(out: Path, name: str, report: dict[str, Any]) -> Path:
    """Write `report` as `<out>/<name>-<UTC time>.json` (making the folder); return the path."""
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out / f"{name}-{stamp}.json"
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return path
