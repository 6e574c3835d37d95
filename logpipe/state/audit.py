"""Who changed what: an append-only log of state changes made by people (mute, resolve, reopen,
run a query), kept in the state database and written to the ``logpipe.audit`` logger too."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert, select

from logpipe.layout import from_ms
from logpipe.state.db import now_ms
from logpipe.state.tables import audit_log

log = logging.getLogger("logpipe.audit")


@dataclass
class AuditEntry:
    at: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at.strftime("%Y-%m-%dT%H:%M:%SZ"), "actor": self.actor, "action": self.action,
                "target": self.target, "detail": self.detail}


def record(state: Engine, actor: str, action: str, target: str, **detail: Any) -> None:
    """Append one entry (and log it: ``actor action target``)."""
    with state.begin() as conn:
        conn.execute(insert(audit_log).values(at_ms=now_ms(), actor=actor[:255], action=action[:64],
                                              target=target[:255], detail=json.dumps(detail, default=str)))
    log.info("%s %s %s %s", actor, action, target, json.dumps(detail, default=str, sort_keys=True))


def entries(engine: Engine, target: str | None = None, limit: int = 100) -> list[AuditEntry]:
    """The newest entries first (for one target, or all)."""
    t = audit_log.c
    stmt = select(audit_log).order_by(t.at_ms.desc(), t.id.desc()).limit(limit)
    if target is not None:
        stmt = stmt.where(t.target == target)
    with engine.connect() as conn:
        return [AuditEntry(from_ms(r.at_ms), r.actor, r.action, r.target, json.loads(r.detail))
                for r in conn.execute(stmt)]


__all__ = ["AuditEntry", "entries", "record"]
