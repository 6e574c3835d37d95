"""Variable masking: the first, cheap step of template mining.

Why a fixed, generic set of masks: the same masks must run in Python (the miner) and in SQL
(``regexp_replace`` in Athena/DuckDB, so detectors can group error messages in the engine before
Python sees them), and they must work on any service's logs without per-dataset tuning.

The masks are kept RE2-compatible (no lookarounds, no back-references) and are applied as an
ordered sequence of ``(regex, replacement)`` pairs, ``MASK_REGEXES_SQL``. Python applies the very
same sequence (compiled once), so both sides agree by construction; a test checks it.

What becomes ``<*>``:

* ``key=value`` values that look like identifiers (contain a digit or one of ``. @ /``); plain
  words after ``=`` (``tty=ssh``, ``level=error``) are categorical and stay;
* ISO-8601 timestamps, clock times, UUIDs, URLs and file paths (two or more ``/``), host names
  under common top-level domains, double-quoted strings;
* any token with a digit in it: numbers, hex (``0x1f``, ``deadbeef42``), IPs, ``ip:port``,
  durations (``250ms``), ids (``blk_-1608``, ``container_1445_01``). Tokens are split on
  whitespace and ``= : , ; ( ) [ ] { } " ' < > |`` so ``/10.0.0.1:50010:Got`` keeps ``Got``.

In SQL use each pair in order, e.g. DuckDB ``regexp_replace(msg, regex, repl, 'g')`` (Athena's
``regexp_replace`` replaces every match already).
"""

from __future__ import annotations

import re

WILDCARD = "<*>"

# Characters that end a token for the digit rule (besides whitespace).
_SEP = r"\s=:,;()\[\]{}\"'<>|"

_KEY_VALUE = rf"=[^{_SEP}&]*[.@/0-9][^{_SEP}&]*"

_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*"
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*"

# Every rule treats a digit as "any digit, any number of them" (``[0-9]+``, never ``{4}``), so
# the mask of a line does not change when its digit runs change length. The miner relies on that:
# its cache key is the line with each digit run collapsed to one ``0`` (see ``shape``).
_VARIABLES = "|".join([
    # ISO-8601 timestamp with optional fraction and zone (before the digit rule: it has a space).
    r"[0-9]+-[0-9]+-[0-9]+[T ][0-9]+:[0-9]+:[0-9]+(?:[.,][0-9]+)?(?:Z|[+-][0-9]+(?::[0-9]+)?)?",
    # ctime / syslog dates: "Fri Jul  1 07:57:30 2005", "Jul 1 07:57:30"
    rf"(?:{_DAY},?\s+)?{_MONTH}\s+[0-9]+,?\s+[0-9]+:[0-9]+:[0-9]+(?:\s+[0-9]+)?",
    # clock time 12:34:56(.789)
    r"[0-9]+:[0-9]+:[0-9]+(?:[.,][0-9]+)?",
    # URL with a scheme
    r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>|]+",
    # file path: at least two slashes (so "I/O" and "and/or" stay)
    r"[A-Za-z0-9_.~+-]*(?:/[A-Za-z0-9_.~%+@-]*){2,}",
    # host name under a common top-level domain
    r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.(?:com|net|org|io|edu|gov|internal|local|lan|cloud)\b",
    # double-quoted value
    r"\"[^\"\n]*\"",
    # any token containing a digit: numbers, hex, IPs, UUIDs, durations, ids
    rf"[^{_SEP}]*[0-9][^{_SEP}]*",
])

MASK_REGEXES_SQL: list[tuple[str, str]] = [
    (_KEY_VALUE, "=" + WILDCARD),
    (_VARIABLES, WILDCARD),
]
"""The masks as ``(RE2 regex, replacement)``, to apply in order (Athena/DuckDB ``regexp_replace``)."""

_key_value_sub = re.compile(_KEY_VALUE).sub
_variables_sub = re.compile(_VARIABLES).sub


def mask(message: str) -> str:
    """Replace the variable parts of ``message`` with ``<*>`` (same result as the SQL sequence)."""
    if "=" in message:
        message = _key_value_sub("=<*>", message)
    return _variables_sub(WILDCARD, message)
