"""Redaction of secrets and personal data in anything logpipe stores or shows.

Why here, once: pattern examples, digests, Slack messages and error messages all quote raw log
lines, and raw log lines leak credentials and personal data more often than anyone plans for. Every
place that shows or stores a raw line calls ``redact(text)``; it never raises, and running it twice
gives the same result as running it once (so already-redacted text can pass through again).

What is masked (each replaced by a ``<redacted:KIND>`` marker, keys and structure kept):

* passwords in URLs (``https://user:pass@host`` -> ``https://<redacted:credentials>@host``);
* JSON Web Tokens (``eyJ...eyJ...sig``) and ``Bearer``/``Basic`` authorization values;
* AWS access key ids (``AKIA``/``ASIA``... + 16) and AWS secret keys given as key/value;
* values of secret-looking keys: ``password=``, ``passwd``, ``pwd``, ``secret``, ``token``,
  ``api_key``, ``access_token``, ``client_secret``, ``private_key``... (``k=v``, ``k: v``, JSON);
* email addresses;
* card numbers: 13-19 digits, optionally grouped by spaces or dashes, that pass the Luhn check
  (so ordinary ids and timestamps stay);
* IPv4 addresses only when asked (``ip=True``): they are often needed to debug, and are not
  secrets, but can be personal data.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_URL_CREDENTIALS = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*://)[^/\s:@<>]+:[^/\s@<>]+@")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_AUTH_HEADER = re.compile(r"\b(Bearer|Basic)(\s+)(?!<redacted)[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)
_AWS_ACCESS_KEY = re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA)[A-Z0-9]{16}\b")
_AWS_SECRET = re.compile(
    r"""(?i)(aws_?secret_?(?:access_?)?key|secret_?access_?key)(["']?\s*[:=]\s*["']?)(?!<redacted)[A-Za-z0-9/+=]{40}""")
_SECRET_KEYS = (r"pass(?:word|wd|phrase)?|pwd|secret|(?:access_?|refresh_?|auth_?|api_?|session_?)?token"
                r"|api_?key|apikey|client_?secret|private_?key|authorization|credentials?")
# key (optionally quoted) = or : value (quoted, or up to whitespace/separator)
_SECRET_VALUE = re.compile(
    rf"""(?i)(["']?(?<![\w.-])(?:[\w.-]*[_.-])?(?:{_SECRET_KEYS})\b["']?)(\s*[:=]\s*)(?!<redacted)("[^"\n]*"|'[^'\n]*'|[^\s,;&"'<>]+)""")
# The lookbehinds make a match start only where a local part / key starts: without them a long
# run like "a.a.a.…@x" backtracks from every position (seconds for a few KB).
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_IPV4 = re.compile(r"(?<![\d.])(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}(?![\d.])")


def luhn_ok(digits: str) -> bool:
    """True when the digit string passes the Luhn checksum (card numbers do, most ids do not)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = re.sub(r"[ -]", "", text)
    if 13 <= len(digits) <= 19 and luhn_ok(digits) and len(set(digits)) > 1:
        return "<redacted:card>"
    return text


def _secret_value(match: re.Match[str]) -> str:
    value = match.group(3)
    quote = value[0] if value[:1] in "\"'" and len(value) >= 2 else ""
    return f"{match.group(1)}{match.group(2)}{quote}<redacted:secret>{quote}"


_RULES: list[tuple[str | None, re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    ("://", _URL_CREDENTIALS, r"\1<redacted:credentials>@"),
    ("eyJ", _JWT, "<redacted:jwt>"),
    (None, _AUTH_HEADER, r"\1\2<redacted:token>"),
    (None, _AWS_ACCESS_KEY, "<redacted:aws-key>"),
    (None, _AWS_SECRET, r"\1\2<redacted:aws-secret>"),
    (None, _SECRET_VALUE, _secret_value),
    ("@", _EMAIL, "<redacted:email>"),
]


def _once(text: str, ip: bool) -> str:
    # Cards and IPs first: their markers end in ">", which would let a later pass find a key the
    # digits hid ("4111…PASSWORD=x").
    if sum(ch.isdigit() for ch in text) >= 13:
        text = _CARD.sub(_card, text)
    if ip:
        text = _IPV4.sub("<redacted:ip>", text)
    for needle, regex, replacement in _RULES:
        if needle is None or needle in text:
            text = regex.sub(replacement, text)
    return text


def redact(text: str, *, ip: bool = False) -> str:
    """``text`` with secrets and personal data replaced by ``<redacted:KIND>``; never raises.

    Idempotent: the rules run again until nothing changes (a replacement can expose a neighbour,
    e.g. a key glued to a card number), at most a few rounds.
    """
    if not text:
        return text
    for _ in range(4):
        again = _once(text, ip)
        if again == text:
            break
        text = again
    return text


__all__ = ["luhn_ok", "redact"]
