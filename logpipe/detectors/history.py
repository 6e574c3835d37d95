"""The detectors' findings over time: each learned window's findings, kept in the state database.

Written in the transaction that records the window as learned (``run_detectors``), so a window's
findings are kept exactly once; read by the web console and the API.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from logpipe.detectors.base import Finding
from logpipe.layout import from_ms, to_ms
from logpipe.state.db import insert_ignore, now_ms
from logpipe.state.tables import findings as findings_table


def finding_id(finding: Finding) -> str:
    key = "\n".join([str(to_ms(finding.window_start)), str(to_ms(finding.window_end)), finding.kind,
                     finding.service or "", finding.pattern_id or "", finding.title])
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]


def record_findings(conn: Connection, found: Iterable[Finding]) -> int:
    """Keep the findings (a finding already kept is left as it is); returns how many were added."""
    rows = [{"finding_id": finding_id(f), "window_start_ms": to_ms(f.window_start),
             "window_end_ms": to_ms(f.window_end), "kind": f.kind, "severity": f.severity, "service": f.service,
             "pattern_id": f.pattern_id, "title": f.title, "body": json.dumps(f.to_dict(), default=str),
             "created_ms": now_ms()} for f in found]
    return insert_ignore(conn, findings_table, rows, ["finding_id"])


@dataclass
class KeptFinding:
    finding_id: str
    window_start: datetime
    window_end: datetime
    kind: str
    severity: str
    service: str | None
    pattern_id: str | None
    title: str
    body: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {**self.body, "finding_id": self.finding_id}


def list_findings(engine: Engine, start: datetime | None = None, end: datetime | None = None,
                  pattern_id: str | None = None, service: str | None = None, limit: int = 500) -> list[KeptFinding]:
    """Findings whose window overlaps ``[start, end)``, newest first."""
    t = findings_table.c
    stmt = select(findings_table).order_by(t.window_end_ms.desc(), t.severity, t.finding_id).limit(limit)
    if start is not None:
        stmt = stmt.where(t.window_end_ms > to_ms(start))
    if end is not None:
        stmt = stmt.where(t.window_start_ms < to_ms(end))
    if pattern_id is not None:
        stmt = stmt.where(t.pattern_id == pattern_id)
    if service is not None:
        stmt = stmt.where(t.service == service)
    with engine.connect() as conn:
        return [KeptFinding(r.finding_id, from_ms(r.window_start_ms), from_ms(r.window_end_ms), r.kind, r.severity,
                            r.service, r.pattern_id, r.title, json.loads(r.body)) for r in conn.execute(stmt)]


def findings_per_window(engine: Engine, start: datetime | None = None, end: datetime | None = None,
                        service: str | None = None) -> list[tuple[datetime, str, int]]:
    """(window end, severity, count): the findings over time (of windows overlapping ``[start, end)``, as
    ``list_findings`` selects them)."""
    t = findings_table.c
    stmt = (select(t.window_end_ms, t.severity, func.count()).group_by(t.window_end_ms, t.severity)
            .order_by(t.window_end_ms))
    if start is not None:
        stmt = stmt.where(t.window_end_ms > to_ms(start))
    if end is not None:
        stmt = stmt.where(t.window_start_ms < to_ms(end))
    if service is not None:
        stmt = stmt.where(t.service == service)
    with engine.connect() as conn:
        return [(from_ms(ms), sev, int(n)) for ms, sev, n in conn.execute(stmt)]


__all__ = ["KeptFinding", "finding_id", "findings_per_window", "list_findings", "record_findings"]
