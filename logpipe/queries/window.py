"""Times as people type them (``now``, ``2h`` back, ISO 8601) and the ``[start, end)`` window they make.

Shared by the CLI's ``--since/--until`` and the web console's window fields.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from logpipe.durations import parse_duration
from logpipe.errors import UsageError


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """A time given as ``now``, a relative duration back from now (``2h``, ``7d``) or ISO 8601."""
    now = now or datetime.now(UTC)
    text = text.strip()
    if text == "now":
        return now
    try:
        return now - timedelta(seconds=parse_duration(text))
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{text!r} is not a time: use 'now', a duration back from now like 2h or 7d, "
            "or ISO 8601 like 2026-11-26T10:00:00Z") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def window_from(since: str, until: str, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The ``[start, end)`` window of ``--since`` / ``--until``, checked for order."""
    now = now or datetime.now(UTC)
    start, end = parse_time(since, now), parse_time(until, now)
    if start >= end:
        raise UsageError(f"--since ({start:%Y-%m-%dT%H:%M:%SZ}) must be before --until ({end:%Y-%m-%dT%H:%M:%SZ})")
    return start, end


__all__ = ["parse_time", "window_from"]
