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

* ``true``/``false`` (any case): booleans are values, as the corrected Loghub labelling has them;
* Windows paths (``C:\\Windows\\...``, ``\\\\host\\share``) like POSIX ones;
* a size printed human-readably with its unit (``512 B``, ``3.1 KB``, ``2 GiB``): the unit is picked
  by magnitude, so it belongs to the value.

**HTTP requests** (access logs: nginx, Apache, ALB, most web frameworks) are grouped the way an
engineer reads them: ``METHOD /route`` stays, with path segments that hold ids or numbers masked and
literal segments kept (``GET /api/v1/orders/<*>``), a query string becomes ``?<*>``, and a status
right after the request keeps its class (``504`` -> ``5xx``); the text before and after the request
is masked as usual (latency and sizes are variables). ``request_shape`` does that part.

Everything is defined once, as data: ``MASKS`` is the ordered table of :class:`MaskRule` (name,
RE2 regex, literal replacement) for the generic part, ``REQUEST`` describes the HTTP request, and
``MASK_REGEXES_SQL`` is the table as plain pairs. Rules are kept RE2-compatible so that a generator
can render them into SQL for DuckDB and Trino. The redaction rules (secret-shaped tokens, from
``logpipe.redact.TEMPLATE_RULES``) are the table's first rules (``REDACTION_MASKS``): they run on
the whole message before an HTTP request is cut out, so no template or shape carries a secret.

In SQL use each pair in order, e.g. DuckDB ``regexp_replace(msg, regex, repl, 'g')`` (Athena's
``regexp_replace`` replaces every match already).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from logpipe.redact import TEMPLATE_RULES, mask_secrets

WILDCARD = "<*>"


@dataclass(frozen=True)
class MaskRule:
    """One masking step: every match of ``regex`` (RE2 syntax) becomes ``replacement`` (literal)."""

    name: str
    regex: str
    replacement: str = WILDCARD

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
    # Windows path: drive letter or UNC share, then backslash-separated parts
    (("\\",), r"(?:[A-Za-z]:|\\\\[A-Za-z0-9_.$-]+)(?:\\[^\\ \t\n\r\f\v\"'<>|:*?]+)+\\?"),
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
# A size printed human-readably picks its unit by magnitude ("512 B", "3.1 KB"): the unit is part
# of the value, so "<*> KB" and "<*> B" are one variable.
_SIZE_UNIT = r"<\*> ?(?:[KMGTPE]i?B|B)\b"

# Booleans are values (a flag's state), not part of the statement.
_BOOLEAN = r"\b(?:[Tt]rue|TRUE|[Ff]alse|FALSE)\b"

_SEPARATORS = [" ", "\t", "\n", "\r", "\f", "\v", "=", ":", ",", ";", "(", ")", "[", "]", "{", "}",
               '"', "'", "<", ">", "|", "."]

_SHAPE_NAMES = ("iso_timestamp", "ctime_date", "clock_time", "url", "posix_path", "host_name", "quoted",
                "windows_path")

REDACTION_MASKS: tuple[MaskRule, ...] = tuple(MaskRule(r.name, r.regex, r.replacement) for r in TEMPLATE_RULES)
"""Secret shapes (``logpipe.redact.TEMPLATE_RULES``): the first steps, before an HTTP request is
cut out and before any generic rule, so a secret is a variable wherever it stands."""

GENERIC_MASKS: tuple[MaskRule, ...] = (
    MaskRule("key_value", _KEY_VALUE, "=" + WILDCARD),
    *[MaskRule(name, regex) for name, (_, regex) in zip(_SHAPE_NAMES, _SHAPES, strict=True)],
    MaskRule("boolean", _BOOLEAN),
    # RE2 has no lookbehind: a variable token is matched with the separator before it, one pass
    # per separator (and one at the start of the text); the separator is put back.
    MaskRule("token_at_start", "^" + _VARIABLE_TOKEN),
    *[MaskRule(f"token_after_{sep.encode('unicode_escape').decode()!s}", re.escape(sep) + _VARIABLE_TOKEN,
               sep + WILDCARD) for sep in _SEPARATORS],
    MaskRule("joined_wildcards", _JOINED),
    MaskRule("size_with_unit", _SIZE_UNIT),
)
"""The generic masks, in order (after the redaction masks and the HTTP request's cut)."""

MASKS: tuple[MaskRule, ...] = (*REDACTION_MASKS, *GENERIC_MASKS)
"""All masks, in order: the one definition the miner and the SQL shapes are built from.

No lookarounds and no back-references; the replacement is literal text (no ``$1``/``\\1``), so
one rendering serves Athena (Trino) and DuckDB. To add a generic rule, add a :class:`MaskRule`
here and its Python step in ``_mask_generic`` (a secret shape goes to ``logpipe.redact``); the tests run the
table itself on Python's ``re`` and on DuckDB and compare with ``mask``.
"""

MASK_REGEXES_SQL: list[tuple[str, str]] = [(rule.regex, rule.replacement) for rule in MASKS]
"""``MASKS`` as ``(RE2 regex, replacement)`` pairs, for ``regexp_replace`` in order."""

# ---- HTTP requests (access logs) ----

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE")
# METHOD /path[?query][ HTTP/x.y]["][ status]: the status only when it follows the request
# directly (common/combined log format, "GET /x 200 12ms"). Masked forms match again (idempotent).
# Groups: method, path, query, version, closing quote, status class digit, what ends the status.
# "{END}" is the end of the text: ``\Z`` in Python, ``$`` in RE2.
_REQUEST_TEMPLATE = ("(" + "|".join(HTTP_METHODS) + rf") (/[^{_WS}\"?]*)(\?[^{_WS}\"]*)?"
                     r'( HTTP/(?:[0-9.]+|<\*>))?("?)(?: ([1-5])(?:[0-9][0-9]|xx)([ \t,;]|{END}))?')
_REQUEST_RE = _REQUEST_TEMPLATE.replace("{END}", r"\Z")
# In Python, each method is followed by its lookbehind, ``(?<![A-Za-z0-9_])GET`` written as
# ``GET(?<![A-Za-z0-9_]GET)``: a pattern that starts with literals lets the engine skip in C to
# the next possible first letter (a leading lookbehind makes it try every position).
_REQUEST_PY = _REQUEST_RE.replace(
    "(" + "|".join(HTTP_METHODS) + ")",
    "(" + "|".join(f"{m}(?<![A-Za-z0-9_]{m})" for m in HTTP_METHODS) + ")", 1)
assert _REQUEST_PY != _REQUEST_RE
_request_search = re.compile(_REQUEST_PY).search

ROUTE_MASKS: tuple[MaskRule, ...] = (
    # a segment with a character that is not a letter, digit or "_.~-" (masked text too)
    MaskRule("route_segment_special", r"/[^/]*[^A-Za-z0-9_.~/-][^/]*", "/" + WILDCARD),
    # a segment with a digit, unless it is a version word (letters then digits: v1, oauth2)
    MaskRule("route_segment_digits",
             r"/(?:[0-9]|[_.~-][^/]*[0-9]|[A-Za-z]+(?:[0-9]+[^/0-9]|[_.~-][^/]*[0-9]))[^/]*", "/" + WILDCARD),
)
"""How a request path becomes a route (applied in order to the path alone): literal segments stay."""

_route_subs = [(re.compile(rule.regex).sub, rule.replacement) for rule in ROUTE_MASKS]


def _route(path: str) -> str:
    for sub, replacement in _route_subs:
        path = sub(replacement, path)
    return path


def request_shape(match: re.Match[str]) -> str:
    """The masked form of one HTTP request match: method, route, ``?<*>``, version, status class."""
    method, path, query, version, quote, status, end = match.groups()
    out = f"{method} {_route(path)}"
    if query:
        out += "?" + WILDCARD
    if version:
        out += " HTTP/" + WILDCARD
    out += quote
    if status:
        out += f" {status}xx{end}"
    return out


_key_value_sub = re.compile(_KEY_VALUE).sub
# Python-only speed-ups that cannot change a result. Python's engine tries a match at every
# position unless the pattern starts with a character class (then it skips ahead in C), so:
# * a host name match always starts where a label starts (a lookbehind gives up at once);
# * ISO timestamps, ctime dates and clock times all contain "digit:digits:digit" (one search
#   decides whether the three passes can match at all);
# * every variable token has a digit (a lookahead skips the four alternatives on other tokens).
_PY_PREFIX = {_SHAPES[5][1]: "(?<![A-Za-z0-9-])"}
(_iso_sub, _ctime_sub, _clock_sub, _url_sub, _path_sub, _host_sub, _quoted_sub, _windows_sub) = (
    re.compile(_PY_PREFIX.get(regex, "") + regex).sub for _, regex in _SHAPES)
assert [n for n, _ in _SHAPES[:5]] + [n for n, _ in _SHAPES[6:]] == [
    (":",), (":",), (":",), ("://",), ("/",), ('"',), ("\\",)]
_clock_search = re.compile("[0-9]:[0-9]+:[0-9]").search
_boolean_sub = re.compile(_BOOLEAN, re.ASCII).sub
_boolean_search = re.compile("[Tt]rue|TRUE|[Ff]alse|FALSE").search
# Python has lookarounds: the same token rule in one pass instead of one per separator.
_tokens_sub = re.compile(f"(?<!{_T})(?={_T}*[0-9]){_VARIABLE_TOKEN}(?!{_T})").sub
_joined_sub = re.compile(_JOINED).sub
_size_unit_sub = re.compile(_SIZE_UNIT, re.ASCII).sub
_has_digit = re.compile("[0-9]").search
# The host rule's substrings as one search (it is the only shape with several).
_tld_search = re.compile("|".join(re.escape(n) for n in _SHAPES[5][0])).search


def _mask_generic(message: str) -> str:
    """``MASKS`` applied in order (each step skipped when a substring its matches need is absent)."""
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
    if "\\" in message:
        message = _windows_sub(WILDCARD, message)
    if _boolean_search(message):
        message = _boolean_sub(WILDCARD, message)
    if _has_digit(message):
        message = _tokens_sub(WILDCARD, message)
    if "*>.<*" in message or "*><*" in message:
        message = _joined_sub(WILDCARD, message)
    if "*> " in message and "B" in message:
        message = _size_unit_sub(WILDCARD, message)
    return message


# Where an HTTP request was, while the text around it is masked: no rule matches across a newline
# or changes one, so the mark comes through unchanged and masking around it equals masking the
# two sides apart (SQL does the same: ``sql_request_parts``).
_REQUEST_MARK = "\n\x1f\n"


def mask(message: str) -> str:
    """Replace the variable parts of ``message`` with ``<*>`` (HTTP requests keep their route).

    Secret shapes first (``REDACTION_MASKS``), on the whole message, as the SQL does."""
    message = mask_secrets(message, extra=False)
    if " /" in message:
        request = _request_search(message)
        if request is not None:
            around = message[:request.start()] + _REQUEST_MARK + message[request.end():]
            return _mask_generic(around).replace(_REQUEST_MARK, request_shape(request))
    return _mask_generic(message)


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
    if " /" in message:  # an HTTP status keeps its class: "504" -> "5xx" (masks the same)
        request = _request_search(message)
        if request is not None and request.group(6):
            at = request.start(6)
            return _collapse(message[:at]) + message[at] + "xx" + _collapse(message[at + 3:])
    return _collapse(message)


# A whole token of hex digits and hyphens (request ids, trace ids, UUIDs, hashes) with a letter
# and a digit that the token rule masks (anything but letters, one digit run, letters): always
# masked, whatever its letters, so it collapses to "0" too. Bounded by separators other than ":"
# (the clock rules look across ":"), "/" (path and route rules mask it whole either way) or a
# preceding "_" ("pay_<hex>" is masked either way); never before a date's day (", 1", " 12").
# A ":" after it counts as a separator where a space, a tab or the end follows ("cart <uuid>:
# ..."): no rule that looks across a ":" (times, dates, IPv6, URLs, drive letters) matches a ":"
# followed by a space. 8 characters or more, so it never holds a status or a short word.
_HEX_LEFT = frozenset(" \t\n\r\f\v=,;()[]{}\"'<>|./_")  # may stand before such a token
_HEX_RIGHT = frozenset(" \t\n\r\f\v=,;()[]{}\"'<>|./")
_COLON_END = ("", " ", "\t")  # what may follow a ":" that ends such a token
_hex_run_sub = re.compile(r"[0-9a-fA-F-]{8,}").sub
_hex_token_hint = re.compile("[0-9a-fA-F-]{8}").search
# Not such a token: no digit, no letter, or letters, one digit run, letters (one C call).
_not_an_id = re.compile(r"[a-fA-F-]*\Z|[0-9-]*\Z|[a-fA-F]+[0-9]+[a-fA-F]*\Z").match
_date_follows = re.compile(r",?[ \t]+[0-9]").match  # a ctime/ISO date could run across the token
# ``_hex_token_hint`` without a regex: hex digits and "-" become 0xFF (bytes.translate, a C
# loop), a byte UTF-8 never holds, so eight of them in a row are eight such characters.
_HEX_CLASS = bytes.maketrans(b"0123456789abcdefABCDEF-", b"\xff" * 23)
_EIGHT = b"\xff" * 8


def has_hex_run(text: str) -> bool:
    """Whether ``text`` has 8 hex digits or hyphens in a row (``_hex_token_hint``, faster)."""
    return _EIGHT in text.encode("utf-8", "surrogatepass").translate(_HEX_CLASS)


def _hex_token(match: re.Match[str]) -> str:
    token = match.group()
    if _not_an_id(token):
        return token
    text = match.string
    start, end = match.span()
    if ((start and (text[start - 1] not in _HEX_LEFT
                    or (text[start - 1] in ".," and start > 1 and text[start - 2].isdigit())))  # a fraction
            or (end < len(text) and text[end] not in _HEX_RIGHT
                and not (text[end] == ":" and text[end + 1:end + 2] in _COLON_END))
            or _date_follows(text, end)):
        return token
    return "0"


_ID_LEFT = frozenset(b" \t\n\r\f\v=,;()[]{}\"'<>|./_")  # ``_HEX_LEFT`` as bytes
_ID_RIGHT = frozenset(b" \t\n\r\f\v=,;()[]{}\"'<>|./")
_ID_DIGITS = frozenset(b"0123456789")
_not_an_id_bytes = re.compile(rb"[a-fA-F-]*\Z|[0-9-]*\Z|[a-fA-F]+[0-9]+[a-fA-F]*\Z").match
_date_follows_bytes = re.compile(rb",?[ \t]+[0-9]").match
_DATE_GAP = frozenset(b", \t")  # where ``_date_follows_bytes`` can start
_BLANKS = frozenset(b" \t")


def id_free(raw: bytes) -> tuple[bytes, list[tuple[int, int]]]:
    """``(view, spans)``: the spans of ``raw`` (ASCII text) that ``_hex_token`` collapses to ``0``
    (id-like hex tokens, judged on the whole text), and ``raw`` with each replaced by a 3-byte
    mark; ``(raw, [])`` without such a token. Found with ``bytes.translate`` and ``find``, not
    a regex scan: this is the miner's id-free cache key before its digits become ``0``.

    A mark is 0xFE (a byte UTF-8 never holds) between two bytes that say whether the token's
    first and last character is a digit where a neighbour's rule reads that (a date may follow
    a hex token: ``<token>, 12``; a fraction's digit stands before ``.<token>``), else ``n``.

    Where ``shape`` cuts an HTTP status out first, a token is judged on less text there and may
    collapse where this says it does not (never the reverse): a key built from these spans is
    at worst finer than the shape, never coarser. Why the key is exact: ``miner._add_slow``.
    """
    marked = raw.translate(_HEX_CLASS)
    at = marked.find(_EIGHT)
    if at < 0:
        return raw, []
    n = len(raw)
    spans = []
    pieces: list[bytes] = []
    last = 0
    while at >= 0:
        end = n - len(marked[at + 8:].lstrip(b"\xff"))
        if not (_not_an_id_bytes(raw, at, end)
                or (at and (raw[at - 1] not in _ID_LEFT
                            or (raw[at - 1] in b".," and at > 1 and raw[at - 2] in _ID_DIGITS)))
                or (end < n and raw[end] not in _ID_RIGHT
                    and not (raw[end] == 58 and raw[end + 1:end + 2] in (b"", b" ", b"\t")))  # ":"
                or (end < n and raw[end] in _DATE_GAP and _date_follows_bytes(raw, end))):
            head = tail = b"n"
            if at and raw[at - 1] in _BLANKS and marked[:at].rstrip(b" \t").removesuffix(b",").endswith(_EIGHT):
                head = b"0" if raw[at] in _ID_DIGITS else b"a"
            if end < n and raw[end] in b".," and marked.startswith(_EIGHT, end + 1):
                tail = b"0" if raw[end - 1] in _ID_DIGITS else b"a"
            spans.append((at, end))
            pieces += (raw[last:at], head, b"\xfe", tail)
            last = end
        at = marked.find(_EIGHT, end)
    if not spans:
        return raw, spans
    pieces.append(raw[last:])
    return b"".join(pieces), spans


def id_runs(raw: bytes) -> list[tuple[int, int]]:
    """The spans of ``id_free``: the id-like hex tokens ``_hex_token`` collapses to ``0``."""
    return id_free(raw)[1]


_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _hex_literal(match: re.Match[str]) -> str:
    """``_shape_hex_sub``'s "0x0", except after a "::" in the run of hex digits and colons just before
    the literal: the IPv6 rule (``redact.TEMPLATE_RULES``) may then take its "0" ("::0x1" masks to
    "<*>x1"), and what is left of it is not masked; such a literal stays as it is."""
    text, at = match.string, match.start()
    left = at
    while left > 0 and (text[left - 1] == ":" or text[left - 1] in _HEX_DIGITS):
        left -= 1
    return match[0] if "::" in text[left:at] else "0x0"


def _collapse(message: str) -> str:
    if "0x" in message or "0X" in message:
        message = _shape_hex_sub(_hex_literal if "::" in message else "0x0", message)
    if "://" not in message and has_hex_run(message):  # (a URL scheme may start inside a token)
        message = _hex_run_sub(_hex_token, message)
    return _shape_sub("0", message)


_status_candidate_search = re.compile(_REQUEST_PY.replace(" ([1-5])", " ([0-9])")).search


def status_digit_offset(message: str) -> int | None:
    """Where the digit that decides an HTTP status class would be, if ``message`` has a request.

    Why: it is the one digit that is neither masked away nor kept whole, so the miner's digits-to-
    zero cache key must check it (a ``404`` and a ``504`` share that key). Any first digit counts
    here (``004`` too): lines with one key must be checked at one place.
    """
    if " /" not in message:
        return None
    request = _status_candidate_search(message)
    return request.start(6) if request is not None and request.group(6) else None


# ---- SQL ----

def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


_CONTROL_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r", "\f": "\\f", "\v": "\\v"}


def _sql_regex(regex: str) -> str:
    """The regex as an SQL literal, control characters written as RE2 escapes (no raw tabs in .sql)."""
    for char, escape in _CONTROL_ESCAPES.items():
        regex = regex.replace("\\" + char, escape).replace(char, escape)
    return _sql_literal(regex)


def sql_generic_steps(expr: str, rules: tuple[MaskRule, ...] = MASKS) -> str:
    """``rules`` applied to the SQL expression ``expr`` as nested ``regexp_replace`` calls."""
    for rule in rules:
        expr = f"regexp_replace({expr}, {_sql_regex(rule.regex)}, {_sql_literal(rule.replacement)})"
    return expr


SQL_REQUEST_MARK = "concat(chr(10), chr(31), chr(10))"
"""``_REQUEST_MARK`` in SQL."""


def sql_request_parts(column: str) -> tuple[str, str]:
    """``(text, request)``: SQL for the text to mask (the request cut out, ``_REQUEST_MARK`` in its
    place, or the whole message) and for the request's masked shape (``''`` without one).

    Literal replacements only (no ``$1``, which sqlglot does not carry from Trino to DuckDB): the
    request is cut out with ``regexp_extract`` (each wrapped in ``coalesce``: Trino gives NULL where
    DuckDB gives ``''``) and rebuilt with ``concat``.
    """
    full = _sql_regex("(?s)^((?:.*?[^A-Za-z0-9_])??)" + _REQUEST_TEMPLATE.replace("{END}", "$"))

    def part(group: int) -> str:
        return f"coalesce(regexp_extract({column}, {full}, {group}), '')"

    path = sql_generic_steps(part(3), ROUTE_MASKS)
    has_request = f"(strpos({column}, ' /') > 0 AND regexp_like({column}, {full}))"
    shape = (f"concat({part(2)}, ' ', {path}, "
             f"CASE WHEN {part(4)} = '' THEN '' ELSE '?<*>' END, "
             f"CASE WHEN {part(5)} = '' THEN '' ELSE ' HTTP/<*>' END, {part(6)}, "
             f"CASE WHEN {part(7)} = '' THEN '' ELSE concat(' ', {part(7)}, 'xx', {part(8)}) END)")
    text = (f"CASE WHEN {has_request} THEN concat({part(1)}, {SQL_REQUEST_MARK}, "
            f"regexp_replace({column}, {full}, '')) ELSE {column} END")
    return text, f"CASE WHEN {has_request} THEN {shape} ELSE '' END"


def sql_put_request_back(masked: str, request: str) -> str:
    """The last step: the request's shape where ``_REQUEST_MARK`` is (nothing to do without one)."""
    return f"CASE WHEN {request} = '' THEN {masked} ELSE replace({masked}, {SQL_REQUEST_MARK}, {request}) END"
