"""Variable masking: the first, cheap step of template mining.

Why a fixed, generic set of masks: the same masks must run in Python (the miner) and in SQL
(``regexp_replace`` in Athena/DuckDB, so detectors can group error messages in the engine before
Python sees them), and they must work on any service's logs without per-dataset tuning.

The masks are kept RE2-compatible (no lookarounds, no back-references) and are applied as an
ordered sequence of ``(regex, replacement)`` pairs, ``MASK_REGEXES_SQL``. Python applies the same
sequence, two shortcuts aside: the token rule runs as one pass with lookarounds (SQL needs one
pass per separator), and a regex is skipped when a substring every match needs is absent. Tests
check that ``mask`` and the SQL sequence agree, with Python's ``re`` and on DuckDB.

What becomes ``<*>``:

* ``key=value`` values that look like identifiers (contain a digit, ``@`` or ``/``); plain words
  after ``=`` (``tty=ssh``, ``level=error``, ``file=main.cpp``) are categorical and stay;
* ISO-8601 timestamps, ctime/syslog dates, clock times, URLs, absolute paths, host names (two or
  more dots, a common TLD, a digit or hyphen in the first label), double-quoted strings;
* any token with a digit in it (numbers, hex, IPs, UUIDs, durations like ``250ms``, ids like
  ``blk_-1608`` or ``container_1445_01``), except identifier words: letters, then one digit run,
  then letters (``ssh2``, ``jk2_init``, ``log4j``, ``sha256``). Tokens are split on whitespace and
  ``= : , ; ( ) [ ] { } " ' < > | .``, so ``/10.0.0.1:50010:Got`` keeps ``Got`` and
  ``core.1234`` keeps ``core.``; ``<*>.<*>`` (an IP, a version) then reads as one ``<*>``.

In SQL use each pair in order, e.g. DuckDB ``regexp_replace(msg, regex, repl, 'g')`` (Athena's
``regexp_replace`` replaces every match already).
"""

from __future__ import annotations

import re

WILDCARD = "<*>"

_WS = r" \t\n\r\f\v"  # explicit ASCII whitespace: Python's \s and RE2's \s differ
# Characters that end a token for the digit rule (whitespace too). "." splits tokens so that
# "core.1234" keeps "core." and "java.lang.Foo$1" keeps its package.
_SEP = _WS + r"=:,;()\[\]{}\"'<>|."
_T = f"[^{_SEP}]"  # a token character

# key=value: the value runs to the next separator (dots included, so hosts and versions stay one).
_KEY_VALUE = rf"=[^{_WS}=:,;()\[\]{{}}\"'<>|&]*[@/0-9][^{_WS}=:,;()\[\]{{}}\"'<>|&]*"

_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*"
_DAY_OR_MONTH = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun|Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*"

# Every rule treats a digit as "any digit, any number of them" (``[0-9]+``, never ``{4}``), so
# the mask of a line does not change when its digit runs change length. The miner relies on that:
# its cache key is the line with each digit run collapsed to one ``0``.
# Each shape is (substrings one of which every match contains, regex): the substring lets Python skip a regex
# that cannot match; the result is the same as applying the regex.
_SHAPES: list[tuple[tuple[str, ...], str]] = [
    # ISO-8601 timestamp with optional fraction and zone (before the digit rule: it has a space).
    ((":",), r"[0-9]+-[0-9]+-[0-9]+[T ][0-9]+:[0-9]+:[0-9]+(?:[.,][0-9]+)?(?:Z|[+-][0-9]+(?::[0-9]+)?)?"),
    # ctime / syslog dates: "Fri Jul  1 07:57:30 2005", "Jul 1 07:57:30"
    ((":",), rf"{_DAY_OR_MONTH},?[ \t]+(?:{_MONTH}[ \t]+)?[0-9]+,?[ \t]+[0-9]+:[0-9]+:[0-9]+(?:[ \t]+[0-9]+)?"),
    # clock time 12:34:56(.789)
    ((":",), r"[0-9]+:[0-9]+:[0-9]+(?:[.,][0-9]+)?"),
    # URL with a scheme
    (("://",), rf"[A-Za-z][A-Za-z0-9+.-]*://[^{_WS}\"'<>|]+"),
    # absolute file path (so "I/O" and "and/or" stay)
    (("/",), r"/[A-Za-z0-9_.~%+@-]*(?:/[A-Za-z0-9_.~%+@-]*)+"),
    # host name: two or more dots, a common top-level domain, and a digit or hyphen in the
    # first label (so Java packages like org.apache.hadoop.net stay)
    ((".com", ".net", ".org", ".io", ".internal", ".local"),
     r"[A-Za-z]*[0-9-][A-Za-z0-9-]*(?:\.[A-Za-z0-9-]+)+\.(?:com|net|org|io|internal|local)"),
    # double-quoted value
    (('"',), r"\"[^\"\n]*\""),
]

# A token with a digit is a variable (numbers, hex, IPs, UUIDs, durations, ids like blk_-1608
# or container_1445_01) unless it is an identifier word: letters, then digits, then letters
# (ssh2, jk2_init, log4j, sha256). Written as the four shapes of a variable token:
_P = f"[^{_SEP}A-Za-z0-9_]"  # punctuation inside a token
_VARIABLE_TOKEN = "(?:" + "|".join([
    rf"[0-9]{_T}*",                                                   # starts with a digit
    rf"[^{_SEP}A-Za-z0-9]{_T}*[0-9]{_T}*",                            # starts with punctuation or _
    rf"[A-Za-z][A-Za-z0-9_]*(?:{_P}{_T}*[0-9]|[0-9][A-Za-z0-9_]*{_P}){_T}*",  # word + punctuation
    r"[A-Za-z][A-Za-z0-9_]*(?:_[0-9]|[0-9][A-Za-z_]+[0-9])[A-Za-z0-9_]*",  # _digits or 2 digit runs
]) + ")"

_JOINED = r"<\*>(?:\.?<\*>)+"  # "<*>.<*>.<*>.<*>" (an IP, a version) reads as one "<*>"

_SEPARATORS = [" ", "\t", "\n", "\r", "\f", "\v", "=", ":", ",", ";", "(", ")", "[", "]", "{", "}",
               '"', "'", "<", ">", "|", "."]

MASK_REGEXES_SQL: list[tuple[str, str]] = [
    (_KEY_VALUE, "=" + WILDCARD),
    *[(regex, WILDCARD) for _, regex in _SHAPES],
    # RE2 has no lookbehind: a variable token is matched with the separator before it, one pass
    # per separator (and one at the start of the text); the separator is put back.
    ("^" + _VARIABLE_TOKEN, WILDCARD),
    *[(re.escape(sep) + _VARIABLE_TOKEN, sep + WILDCARD) for sep in _SEPARATORS],
    (_JOINED, WILDCARD),
]
"""The masks as ``(RE2 regex, replacement)``, to apply in order (Athena/DuckDB ``regexp_replace``).

No lookarounds and no back-references; the replacement is literal text (no ``$1``/``\\1``).
"""

_key_value_sub = re.compile(_KEY_VALUE).sub
# Python-only speed-ups that cannot change a result. Python's engine tries a match at every
# position unless the pattern starts with a character class (then it skips ahead in C), so:
# * a host name match always starts where a label starts (a lookbehind gives up at once);
# * ISO timestamps, ctime dates and clock times all contain "digit:digits:digit" (one search
#   decides whether the three passes can match at all);
# * every variable token has a digit (a lookahead skips the four alternatives on other tokens).
_PY_PREFIX = {_SHAPES[5][1]: "(?<![A-Za-z0-9-])"}
(_iso_sub, _ctime_sub, _clock_sub, _url_sub, _path_sub, _host_sub, _quoted_sub) = (
    re.compile(_PY_PREFIX.get(regex, "") + regex).sub for _, regex in _SHAPES)
assert [n for n, _ in _SHAPES[:5]] + [n for n, _ in _SHAPES[6:]] == [(":",), (":",), (":",), ("://",), ("/",), ('"',)]
_clock_search = re.compile("[0-9]:[0-9]+:[0-9]").search
# Python has lookarounds: the same token rule in one pass instead of one per separator.
_tokens_sub = re.compile(f"(?<!{_T})(?={_T}*[0-9]){_VARIABLE_TOKEN}(?!{_T})").sub
_joined_sub = re.compile(_JOINED).sub
_has_digit = re.compile("[0-9]").search
# The host rule's substrings as one search (it is the only shape with several).
_tld_search = re.compile("|".join(re.escape(n) for n in _SHAPES[5][0])).search


def mask(message: str) -> str:
    """Replace the variable parts of ``message`` with ``<*>`` (same result as the SQL sequence)."""
    if "=" in message:
        message = _key_value_sub("=<*>", message)
    if ":" in message and _clock_search(message):
        message = _iso_sub(WILDCARD, message)
        if ":" in message:
            message = _ctime_sub(WILDCARD, message)
            if ":" in message:
                message = _clock_sub(WILDCARD, message)
    if "://" in message:
        message = _url_sub(WILDCARD, message)
    if "/" in message:
        message = _path_sub(WILDCARD, message)
    if _tld_search(message):
        message = _host_sub(WILDCARD, message)
    if '"' in message:
        message = _quoted_sub(WILDCARD, message)
    if _has_digit(message):
        message = _tokens_sub(WILDCARD, message)
    if "*>.<*" in message or "*><*" in message:
        message = _joined_sub(WILDCARD, message)
    return message


# A digit run that does not follow a letter or digit, i.e. ``(?<![A-Za-z0-9])[0-9]+``, written to
# start with the digit and look behind after it: a pattern that starts with a character class
# lets Python's engine skip to the next digit in C instead of trying a match at every position.
_shape_sub = re.compile(r"[0-9](?<![A-Za-z0-9][0-9])[0-9]*").sub
# A whole hex literal that stands alone as a token part ("0x7f3a", not "0x1f-02"): always masked.
# (``(?<![A-Za-z0-9])0[xX]...``, starting with the "0" for the same reason.)
_shape_hex_sub = re.compile(r"0(?<![A-Za-z0-9]0)[xX][0-9A-Fa-f]+(?![\w.:-])").sub


def shape(message: str) -> str:
    """``message`` with every digit run that does not follow a letter collapsed to ``0``.

    Why: two messages with the same shape have the same ``mask`` (every rule above sees a digit
    run as "some digits", and a digit run that does not follow a letter is always masked), so the
    shape is an exact, cheap cache key for the miner: a stream's repeated patterns with fresh
    numbers skip masking entirely. Digit runs after a letter (``ssh2``) may survive masking, so
    they are kept as they are.
    """
    if "0x" in message or "0X" in message:
        message = _shape_hex_sub("0x0", message)
    return _shape_sub("0", message)
