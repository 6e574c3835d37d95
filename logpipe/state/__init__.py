"""State behind one SQLAlchemy URL: SQLite on a laptop, PostgreSQL (Aurora) on ECS.

Its schema (``tables``) is built by Alembic migrations; ``outbox`` delivers exactly once;
``watermarks`` remembers what every scheduled job has done.
"""

from __future__ import annotations

from logpipe.state.db import insert_ignore, migrate, open_state, upsert
from logpipe.state.outbox import Outbox, OutboxItem, OutboxRow
from logpipe.state.watermarks import JobState, WatermarkStore, WindowRecord, due_windows

__all__ = ["JobState", "Outbox", "OutboxItem", "OutboxRow", "WatermarkStore", "WindowRecord", "due_windows",
           "insert_ignore", "migrate", "open_state", "upsert"]
