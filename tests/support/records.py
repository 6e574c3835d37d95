"""Raw records and shipped-query results as the compaction and object-cache tests compare them: the
same query over two forms of the same hours must give the same rows."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from logpipe.queries.loader import SHIPPED_DIR

SHIPPED = sorted(p.stem for p in SHIPPED_DIR.glob("*.sql"))
# result columns of arbitrary(): any row's value is right, so they are left out of a comparison
ARBITRARY = {"top_error_messages": ("example",)}


def rec(at: datetime, ident: str, **extra: Any) -> bytes:
    """One api ERROR record at ``at`` whose message and request_id carry ``ident``; ``extra`` keys
    added or (None) removed."""
    body = {"time": at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z", "service": "api",
            "level": "ERROR", "message": f"boom {ident}", "log": f"boom {ident}", "request_id": ident,
            "container_name": "api"}
    body.update(extra)
    return json.dumps({k: v for k, v in body.items() if v is not None}).encode()


def comparable_rows(table: Any, name: str) -> list[str]:
    """A result's rows, order-free, without the columns arbitrary() fills."""
    drop = [c for c in ARBITRARY.get(name, ()) if c in table.column_names]
    return sorted(map(repr, table.drop_columns(drop).to_pylist()))
