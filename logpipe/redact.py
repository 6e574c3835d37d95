"""Redaction of secrets and personal data in anything logpipe stores or shows.

Log lines leak: emails, access keys, bearer tokens, passwords in URLs, card numbers. Everything that
leaves the engine for a human (pattern examples, digest samples, report tables) passes through
``redact`` first. It is idempotent (redacting twice changes nothing more) and never raises.
"""

from __future__ import annotations

import re

_CARD_CANDIDATE = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")

_RULES: list[tuple[re.Pattern[str], str]] = [
    # JWTs first: three base64url parts, the first two starting with '{"' encoded (eyJ).
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}"), "<jwt>"),
    (re.compile(r"(?i)\b(bearer|token)(\s+|=|:\s*)(?!<)[A-Za-z0-9._~+/-]{8,}=*"), r"\1\2<token>"),
    (re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(?!<)(basic|digest)\s+[A-Za-z0-9+/=._-]{6,}"), r"\1\2 <token>"),
    (re.compile(r"\b(AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b"), "<aws-access-key>"),
    (re.compile(r"(?i)(aws_?secret_?(access_?)?key[\"']?\s*[:=]\s*[\"']?)(?!<)[A-Za-z0-9/+=]{40}"), r"\1<secret>"),
    (re.compile(r"([a-z][a-z0-9+.-]*://[^:/@\s]+:)(?!<)[^@/\s]+(@)", re.IGNORECASE), r"\1<password>\2"),
    (re.compile(r"(?i)\b(password|passwd|pwd|secret|api_?key|apikey|access_?token|client_?secret)"
                r"([\"']?\s*[:=]\s*[\"']?)(?!<)[^\s\"',;&}]+"), r"\1\2<redacted>"),
    (re.compile(r"(?i)(?<![\w.+-])[\w.+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}\b"), "<email>"),
]


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = ord(ch) - 48
        if i % 2 == 1:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"[ -]", "", match.group(0))
    if 13 <= len(digits) <= 19 and _luhn_ok(digits):
        return "<card>"
    return match.group(0)


def redact(text: str) -> str:
    """``text`` with secrets and personal data replaced by ``<kind>`` markers."""
    if not text:
        return text
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return _CARD_CANDIDATE.sub(_card, text)
