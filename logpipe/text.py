"""How numbers and durations read in everything logpipe prints: ``1 spike``, ``2 spikes``, ``24h``.

One place so the CLI, the digest renderers and the report agree (a reader notices "1 spikes" or
``1 day, 0:00:00`` at once, and a test can hold every output to the same words).
"""

from __future__ import annotations

from datetime import timedelta

# Words whose plural is not the word plus "s".
_IRREGULAR = {"breach": "breaches", "query": "queries", "entry": "entries", "this": "these", "is": "are",
              "was": "were", "has": "have"}


def plural_word(n: float, word: str, plural: str | None = None) -> str:
    """``word`` for one, its plural otherwise (``plural`` when given, else a known form or word + s)."""
    if n == 1:
        return word
    if plural is not None:
        return plural
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    return word + "s"


def plural(n: float, word: str, plural: str | None = None, *, thousands: bool = True) -> str:
    """``n`` and the word agreeing with it: ``1 spike``, ``2 spikes``, ``1,204 records``."""
    number = f"{n:,}" if thousands and isinstance(n, int) else f"{n:g}" if isinstance(n, float) else str(n)
    return f"{number} {plural_word(n, word, plural)}"


def duration_text(value: timedelta | float | int) -> str:
    """A duration as a user writes it on the command line: ``90s``, ``15m``, ``1h``, ``24h``, ``7d``.

    Whole hours up to two days stay hours (a day-long window reads ``24h``, as ``--since 24h`` is
    written); longer whole days are days; anything else falls back to the largest exact unit.
    """
    seconds = int(value.total_seconds()) if isinstance(value, timedelta) else int(value)
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds == 0:
        return "0s"
    if seconds % 86400 == 0 and seconds > 2 * 86400:
        return f"{sign}{seconds // 86400}d"
    if seconds % 3600 == 0:
        return f"{sign}{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{sign}{seconds // 60}m"
    return f"{sign}{seconds}s"


__all__ = ["duration_text", "plural", "plural_word"]
