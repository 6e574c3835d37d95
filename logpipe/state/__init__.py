"""State behind one SQLAlchemy URL: SQLite on a laptop, PostgreSQL (Aurora) on ECS.

Its schema (``tables``) is built by Alembic migrations; ``outbox`` delivers exactly once;
``watermarks`` remembers what every scheduled job has done.

The names below load their module on first use: ``logpipe.state.db`` alone (what a ``query run``
needs to find remembered object verdicts) must not import SQLAlchemy, the outbox and the watermarks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from logpipe.lazy import lazy_attributes as _lazy_attributes

if TYPE_CHECKING:
    from logpipe.state.db import insert_ignore, migrate, open_state, upsert
    from logpipe.state.outbox import Outbox, OutboxItem, OutboxRow
    from logpipe.state.watermarks import JobState, WatermarkStore, WindowRecord, due_windows

_LAZY = {"insert_ignore": "db", "migrate": "db", "open_state": "db", "upsert": "db",
         "Outbox": "outbox", "OutboxItem": "outbox", "OutboxRow": "outbox",
         "JobState": "watermarks", "WatermarkStore": "watermarks", "WindowRecord": "watermarks",
         "due_windows": "watermarks"}

__getattr__ = _lazy_attributes(__name__, _LAZY)


__all__ = ["JobState", "Outbox", "OutboxItem", "OutboxRow", "WatermarkStore", "WindowRecord", "due_windows",
           "insert_ignore", "migrate", "open_state", "upsert"]
