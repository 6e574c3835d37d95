"""Redaction of secrets and personal data in anything logpipe stores or shows.

Why here, once: pattern templates and examples, digests, Slack messages, query results and error
messages all quote log lines, and log lines leak credentials and personal data more often than
anyone plans for. Two halves, one list of secret shapes:

* ``TEMPLATE_RULES``: RE2-compatible regexes with literal replacements (``<*>``, or ``password=<*>``
  where the key is worth keeping). They are the first steps of masking (``patterns.masking.MASKS``),
  in Python and in the engine's SQL alike, so a secret is a variable before mining ever sees it: no
  template, stored pattern or shape can carry one, even when the same secret repeats unchanged.
  Every class treats a digit like any other character of its class and no quantifier has an upper
  bound, so the miner's digits-to-zero cache keys stay exact.
* ``redact(text)`` for text that is shown or stored as it was logged (examples, samples, query
  results, error messages): each secret becomes a ``<redacted:KIND>`` marker, keys and structure
  kept. It never raises, and running it twice gives the same result as running it once.

What is masked:

* PEM private-key blocks (``-----BEGIN … PRIVATE KEY-----`` to its END line, or to the end of the body);
* passwords in URLs (``https://user:pass@host``) and webhook URLs (Slack, Discord, Teams, Sentry DSNs…);
* JSON Web Tokens; ``Bearer``/``Basic`` authorization values;
* vendor tokens by their documented prefixes: GitHub ``ghp_ gho_ ghu_ ghs_ ghr_ github_pat_``, GitLab
  ``glpat-``, Slack ``xoxb- xoxp- xoxa- xoxr- xoxs- xoxe- xapp-``, Stripe ``sk_live_ rk_live_ pk_live_
  sk_test_ whsec_``, Google ``AIza``, OpenAI/Anthropic ``sk-``, Hugging Face ``hf_``, npm ``npm_``, PyPI
  ``pypi-``, SendGrid ``SG.``, Shopify ``shpat_``, DigitalOcean ``dop_v1_``, Vault ``hvs.``, Grafana
  ``glsa_``, New Relic ``NRAK-``, Postman ``PMAK-``, Linear ``lin_api_``, age ``AGE-SECRET-KEY-1``,
  Mailgun ``key-``, Twilio ``SK``+hex, Square ``sq0atp-``;
* AWS access key ids (``AKIA``/``ASIA``… + 16) and secret keys given as key/value;
* values of secret-looking keys: ``password``, ``passwd``, ``pwd``, ``secret``, ``token``, ``api_key``,
  ``private_key``, ``authorization``, ``credentials``, ``signature``… (``k=v``, ``k: v``, JSON);
* email addresses; card numbers (13-19 digits passing the Luhn check);
* IPv4 and IPv6 addresses: on by default in shown text (``[redact] ip = false`` keeps them, for
  teams that need them to debug); in templates they are variables anyway.
* anything matching the rules added in ``[redact] rules`` (``configure``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

WILDCARD = "<*>"

# ---- template rules: RE2 syntax, literal replacement (they run in SQL too) ----

_VALUE = r"""(?:"[^"\n]*"|'[^'\n]*'|[^ \t\n\r\f\v,;&"'<>]+)"""
_SEP = r"""["']?[ \t]*[:=][ \t]*"""


def _key_rule(keys: str) -> str:
    # an optional quote, an optional prefix ending in _ . or - (db_password, x-api-key), the key,
    # then = or : and the value (quoted, or up to whitespace or a separator)
    return rf"""(?i)["']?\b(?:[A-Za-z0-9_.-]*[_.-])?(?:{keys})\b{_SEP}{_VALUE}"""


_TOKEN_SHAPES = "|".join([
    r"gh[pousr]_[A-Za-z0-9]{16,}", r"github_pat_[A-Za-z0-9_]{20,}", r"glpat-[A-Za-z0-9_-]{16,}",
    r"xox[abposre]-[A-Za-z0-9-]{8,}", r"xapp-[A-Za-z0-9-]{8,}",
    r"(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{8,}", r"whsec_[A-Za-z0-9]{16,}",
    r"AIza[A-Za-z0-9_-]{30,}", r"sk-[A-Za-z0-9_-]{20,}", r"hf_[A-Za-z0-9]{20,}", r"npm_[A-Za-z0-9]{20,}",
    r"pypi-[A-Za-z0-9_-]{16,}", r"SG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}", r"shp(?:at|ss|ca|pa)_[A-Fa-f0-9]{16,}",
    r"dop_v1_[a-f0-9]{32,}", r"hvs\.[A-Za-z0-9_-]{20,}", r"glsa_[A-Za-z0-9_]{20,}", r"NRAK-[A-Z0-9]{20,}",
    r"PMAK-[A-Za-z0-9-]{20,}", r"lin_api_[A-Za-z0-9]{20,}", r"AGE-SECRET-KEY-1[A-Z0-9]{20,}",
    r"key-[a-f0-9]{32,}", r"SK[a-f0-9]{32,}", r"sq0atp-[A-Za-z0-9_-]{16,}",
])
_AWS_KEY_ID = r"(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA)[A-Z0-9]{16,}"
_HEX = "[0-9A-Fa-f]"


@dataclass(frozen=True)
class TemplateRule:
    """One secret shape for masking: RE2 ``regex``, literal ``replacement``; ``needles``: substrings
    one of which every match contains (Python skips the regex without them): lower-case for a
    case-insensitive rule (compared with the lower-cased text), else as written."""

    name: str
    regex: str
    replacement: str
    needles: tuple[str, ...]


TEMPLATE_RULES: tuple[TemplateRule, ...] = (
    TemplateRule("pem_private_key",
                 r"-----BEGIN[ A-Z0-9]*PRIVATE KEY[ A-Z]*-----(?:[^-]|-[^-])*(?:-----END[ A-Z0-9]*PRIVATE KEY[ A-Z]*-----)?",
                 WILDCARD, ("-----BEGIN",)),
    TemplateRule("jwt", r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*", WILDCARD, ("eyJ",)),
    TemplateRule("token", rf"\b(?:{_TOKEN_SHAPES}|{_AWS_KEY_ID})", WILDCARD,
                 ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "xox", "xapp-", "_live_", "_test_",
                  "whsec_", "AIza", "sk-", "hf_", "npm_", "pypi-", "SG.", "shpat_", "shpss_", "shpca_", "shppa_",
                  "dop_v1_", "hvs.", "glsa_", "NRAK-", "PMAK-", "lin_api_", "AGE-SECRET-KEY-1", "key-",
                  # Twilio "SK" + 32 hex: "SK" and a hex digit ("SKU-123" is not a token)
                  *(f"SK{c}" for c in "0123456789abcdef"),
                  "sq0atp-", "AKIA", "ASIA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "ABIA", "ACCA")),
    TemplateRule("bearer", r"(?i)\bbearer[ \t]+[A-Za-z0-9._~+/-]{8,}=*", "Bearer " + WILDCARD, ("bearer",)),
    TemplateRule("basic", r"(?i)\bbasic[ \t]+[A-Za-z0-9+/]{12,}=*", "Basic " + WILDCARD, ("basic",)),
    TemplateRule("password", _key_rule("password|passwd|pwd|passphrase|pass"), "password=" + WILDCARD,
                 ("pass", "pwd")),
    TemplateRule("secret", _key_rule("secret|secret[_.-]?key|secret[_.-]?access[_.-]?key"), "secret=" + WILDCARD,
                 ("secret",)),
    TemplateRule("token_value", _key_rule("token"), "token=" + WILDCARD, ("token",)),
    TemplateRule("key_value", _key_rule("api[_.-]?key|apikey|private[_.-]?key|access[_.-]?key|account[_.-]?key"
                                        "|shared[_.-]?access[_.-]?key"), "key=" + WILDCARD, ("key",)),
    # (session ids are left to the generic masks in templates: random, so they hold digits; shown
    # text redacts them by key)
    TemplateRule("credential_value", _key_rule("authorization|credentials?|signature|sig|cookie"),
                 "credentials=" + WILDCARD, ("authoriz", "credential", "sig", "cookie")),
    TemplateRule("email", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}", WILDCARD, ("@",)),
    TemplateRule("ipv6", rf"\b{_HEX}+(?::{_HEX}+){{7,}}\b|\b{_HEX}+(?::{_HEX}+)*::(?:{_HEX}+(?::{_HEX}+)*)?"
                         rf"|::(?:[Ff]{{4}}:)?[0-9]{_HEX}*(?::{_HEX}+)*", WILDCARD, (":",)),
)
"""The secret shapes every template is masked with, in order (before the generic masks)."""

# Python-only prefixes that cannot change a result (a match only starts where a run starts), so the
# email rule does not backtrack from every position of a long local part.
_PY_PREFIX = {"email": "(?<![A-Za-z0-9._%+-])",
              **{name: "(?<![A-Za-z0-9_])" for name in ("password", "secret", "token_value", "key_value",
                                                        "credential_value")}}


@dataclass(frozen=True)
class _Compiled:
    name: str
    sub: Callable[..., str]
    replacement: str
    needles: tuple[str, ...]
    folded: bool  # case-insensitive: the needles are compared with the lower-cased text


def _py_regex(rule: TemplateRule) -> str:
    prefix = _PY_PREFIX.get(rule.name, "")
    if rule.regex.startswith("(?i)"):
        return "(?i)" + prefix + rule.regex[4:]
    return prefix + rule.regex


@functools.cache
def _template_compiled() -> tuple[_Compiled, ...]:
    """The template rules compiled, on first use: only the miner masks templates, and compiling them
    was ~3 ms of every process that only shows text (``logpipe query run``)."""
    return tuple(_Compiled(r.name, re.compile(_py_regex(r), re.ASCII).sub, r.replacement, r.needles,
                           r.regex.startswith("(?i)")) for r in TEMPLATE_RULES)


def _needed(rule: _Compiled, low: str, text: str) -> bool:
    if rule.needles == (":",):
        return "::" in text or text.count(":") >= 7
    where = low if rule.folded else text
    return any(map(where.__contains__, rule.needles))  # (a C loop: the token rule has 35 needles)


def mask_secrets(text: str, *, extra: bool = True) -> str:
    """``TEMPLATE_RULES`` applied in order (as the SQL masks do), then (``extra``) the configured rules.

    What the miner runs on a line before anything else, so a secret is a ``<*>`` in its template;
    ``masking.mask`` runs the built-in rules only (the SQL masks cannot know the configuration)."""
    if not text:
        return text
    low = text.lower()
    for rule in _template_compiled():
        if _needed(rule, low, text):
            text = rule.sub(rule.replacement, text)
            low = text.lower()
    if extra:
        for _name, regex in _settings.extra:
            text = regex.sub(WILDCARD, text)
    return text


# ---- settings: [redact] in the config (applied process-wide by ``configure``) ----


@dataclass
class _Settings:
    ip: bool = True
    extra: tuple[tuple[str, re.Pattern[str]], ...] = ()


_settings = _Settings()


def configure(*, ip: bool = True, rules: Sequence[tuple[str, str]] = ()) -> None:
    """Apply ``[redact]``: whether shown text keeps IP addresses, and extra ``(name, regex)`` rules.

    Why process-wide: every output path (digests, CLI, console, stored examples) must apply the
    same rules, and threading a setting through each of them is how one gets forgotten. The
    configuration loader calls this; a bad regex is reported there, with its name."""
    compiled = []
    for name, regex in rules:
        try:
            compiled.append((name, re.compile(regex)))
        except re.error as exc:
            raise ValueError(f"redaction rule {name!r}: invalid regex {regex!r}: {exc}") from exc
    _settings.ip = ip
    _settings.extra = tuple(compiled)


# ---- shown text: <redacted:KIND> markers ----
#
# Compiled on first use (``_Rule.regex``): compiling the dozen regexes below was ~8 ms of every process
# that shows text, and a ``query run`` whose rows are service names and counts never needs most of them.

_WEBHOOK = (
    r"""\b(https?://(?:[A-Za-z0-9-]+\.)*(?:hooks?\.[A-Za-z0-9.-]+|[A-Za-z0-9-]*webhooks?[A-Za-z0-9.-]*)(?::\d+)?)"""
    r"""(/(?!<redacted)(?:[^\s"'<>]|<[\w*:-]+>)*)"""
    r"""|\b(https?://[^/\s"'<>]+)(/[^\s"'<>]*?/(?:api/)?(?:webhooks?|hooks|webhookb2)/(?:[^\s"'<>]|<[\w*:-]+>)*)"""
)  # (a placeholder such as <num> may stand in the path: a masked copy)
_URL_CREDENTIALS = r"\b([A-Za-z][A-Za-z0-9+.-]*://)[^/\s:@<>]+:[^/\s@<>]+@"
_URL_KEY_USER = r"\b([A-Za-z][A-Za-z0-9+.-]*://)(?!<redacted)[A-Za-z0-9_-]{16,}@"  # a Sentry DSN's key
_VENDOR_TOKEN = rf"\b(?:{_TOKEN_SHAPES})"
_AUTH_HEADER = r"\b(Bearer|Basic|Token)(\s+)(?!<redacted)[A-Za-z0-9._~+/=-]{8,}"
_AWS_ACCESS_KEY = rf"\b{_AWS_KEY_ID}\b"
_AWS_SECRET = (
    r"""(?i)(aws_?secret_?(?:access_?)?key|secret_?access_?key)(["']?\s*[:=]\s*["']?)(?!<redacted)[A-Za-z0-9/+=]{40}""")
_SECRET_KEYS = (r"pass(?:word|wd|phrase)?|pwd|secret|(?:access[_-]?|refresh[_-]?|auth[_-]?|api[_-]?|session[_-]?|id[_-]?)?token"
                r"|api[_-]?key|apikey|client[_-]?secret|private[_-]?key|account[_-]?key|shared[_-]?access[_-]?key|authorization"
                r"|credentials?|signature|sig|cookie|session[_-]?id|sessionid")
# key (optionally quoted) = or : value (quoted, or up to whitespace/separator)
_SECRET_VALUE = (
    rf"""(?i)(["']?(?<![\w.-])(?:[\w.-]*[_.-])?(?:{_SECRET_KEYS})\b["']?)(\s*[:=]\s*)(?!<redacted)("[^"\n]*"|'[^'\n]*'|[^\s,;&"'<>]+)""")
# The lookbehinds make a match start only where a local part / key starts: without them a long
# run like "a.a.a.…@x" backtracks from every position (seconds for a few KB).
_EMAIL = r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"
# Not glued to a hex digit on either side: 13+ digits inside a hex id (a trace id, a UUID) are part of
# the id, not a card (a 32-hex trace id starts with 13 such digits once in ~500 and passes Luhn once in
# ten); a card glued to a word that is not hex ("PAN4111...", "4111...PASSWORD=x") still is one.
_CARD = r"(?<![0-9A-Fa-f-])\d(?:[ -]?\d){12,18}(?![0-9A-Fa-f-])"
_IPV4 = r"(?<![\d.])(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}(?![\d.])"
_H4 = "[0-9A-Fa-f]{1,4}"
_IPV6 = (
    rf"(?<![\w:])(?:{_H4}:){{7}}{_H4}(?![\w:])"
    rf"|(?<![\w:])(?:{_H4}:){{1,7}}:(?:{_H4}(?::{_H4}){{0,6}})?(?:%[\w.]+)?(?![\w:])"
    rf"|(?<![\w:])::(?:{_H4}(?::{_H4}){{0,6}})(?:%[\w.]+)?(?![\w:])")


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


def _webhook(match: re.Match[str]) -> str:
    return f"{match.group(1) or match.group(3)}/<redacted:webhook>"


class _Rule:
    """One shown-text rule: its regex (compiled on first use), its replacement, and the substrings one
    of which every match contains (``needles``; ``None``: no such filter), so that text without any is
    not searched at all. ``folded``: the regex ignores case, and the needles (lower case) are compared
    with the lower-cased text - only for ASCII text, where that is exactly what ``re.IGNORECASE``
    matches (it also matches "ı", "İ", "ſ" and the Kelvin sign to ASCII letters: such text is always
    searched)."""

    __slots__ = ("_regex", "flags", "folded", "needles", "pattern", "replacement")

    def __init__(self, needles: tuple[str, ...] | None, pattern: str, replacement: str | Callable[[re.Match[str]], str],
                 *, flags: int = 0, folded: bool = False) -> None:
        self.needles, self.pattern, self.replacement = needles, pattern, replacement
        self.flags, self.folded = flags, folded
        self._regex: re.Pattern[str] | None = None

    @property
    def regex(self) -> re.Pattern[str]:
        if self._regex is None:  # (two threads may both compile it: the same pattern either way)
            self._regex = re.compile(self.pattern, self.flags)
        return self._regex

    def needed(self, text: str) -> bool:
        """False only when ``text`` cannot hold a match (no needle in it)."""
        if self.needles is None:
            return True
        if self.folded:
            if not text.isascii():
                return True
            text = text.lower()
        return any(map(text.__contains__, self.needles))

    def apply(self, text: str) -> str:
        return self.regex.sub(self.replacement, text) if self.needed(text) else text


_TOKEN_NEEDLES = TEMPLATE_RULES[2].needles  # every vendor token and AWS key id holds one (case as written)
_RULES: tuple[_Rule, ...] = (
    _Rule(("-----BEGIN",), TEMPLATE_RULES[0].regex, "<redacted:private-key>"),
    _Rule(("://",), _WEBHOOK, _webhook, flags=re.IGNORECASE),
    _Rule(("://",), _URL_CREDENTIALS, r"\1<redacted:credentials>@"),
    _Rule(("://",), _URL_KEY_USER, r"\1<redacted:credentials>@"),
    _Rule(("eyJ",), TEMPLATE_RULES[1].regex, "<redacted:jwt>"),
    _Rule(_TOKEN_NEEDLES, _VENDOR_TOKEN, "<redacted:token>"),
    _Rule(("bearer", "basic", "token"), _AUTH_HEADER, r"\1\2<redacted:token>", flags=re.IGNORECASE, folded=True),
    _Rule(_TOKEN_NEEDLES, _AWS_ACCESS_KEY, "<redacted:aws-key>"),
    _Rule(("secret",), _AWS_SECRET, r"\1\2<redacted:aws-secret>", folded=True),  # (the pattern's own (?i))
    _Rule((":", "="), _SECRET_VALUE, _secret_value),
    _Rule(("@",), _EMAIL, "<redacted:email>"),
)
# Cards and IP addresses, before the rules above (see _once); their own tests stand for needles.
_CARD_RULE = _Rule(None, _CARD, _card)
_IPV6_RULE = _Rule(None, _IPV6, "<redacted:ip>")
_IPV4_RULE = _Rule(None, _IPV4, "<redacted:ip>")


def _once(text: str, ip: bool, *, prefilter: bool = True) -> str:
    """One pass of every rule. ``prefilter=False`` searches with every regex whatever the text holds
    (the tests compare both: the needles must never change a result)."""
    # Cards and IPs first: their markers end in ">", which would let a later pass find a key the
    # digits hid ("4111…PASSWORD=x").
    if not prefilter or sum(map(str.isdigit, text)) >= 13:  # (counted in C: a generator per character was slow)
        text = _CARD_RULE.regex.sub(_card, text)
    if ip:
        if not prefilter or "::" in text or text.count(":") >= 7:
            text = _IPV6_RULE.regex.sub("<redacted:ip>", text)
        if not prefilter or text.count(".") >= 3:
            text = _IPV4_RULE.regex.sub("<redacted:ip>", text)
    for rule in _RULES:
        text = rule.apply(text) if prefilter else rule.regex.sub(rule.replacement, text)
    for name, regex in _settings.extra:
        text = regex.sub(f"<redacted:{name}>", text)
    return text


def redact(text: str, *, ip: bool | None = None) -> str:
    """``text`` with secrets and personal data replaced by ``<redacted:KIND>``; never raises.

    ``ip``: mask IP addresses too (default: ``[redact] ip``, on). Idempotent: the rules run again
    until nothing changes (a replacement can expose a neighbour, e.g. a key glued to a card
    number), at most a few rounds.

    Texts redacted before are answered from a bounded memo (``_Memo``): a run cycle redacts the same
    service names and example lines in window after window, each time through a dozen regexes.
    """
    if not text:
        return text
    with_ip = _settings.ip if ip is None else ip
    rules = _settings.extra  # (what the result is made under: see _Memo)
    known = _memo.get(text, with_ip, rules)
    if known is not None:
        return known
    original = text
    for _ in range(4):
        again = _once(text, with_ip)
        if again == text:
            break
        text = again
    _memo.put(original, with_ip, rules, text)
    return text


class _Memo:
    """Redacted texts by (text, ip): ``redact`` is a function of the text, ``ip`` and the configured
    rules alone, so a text seen before is answered without running the rules again.

    The configured rules are not in the key: the memo belongs to one ``_settings.extra`` (the tuple
    ``configure`` sets) and empties itself when another one is in place, so a new ``[redact]``
    configuration is never answered with the old one's results. Bounded: at most ``MAX`` texts of at
    most ``TEXT_MAX`` characters each (emptied when full: a cycle's recurring texts come back at once)."""

    MAX = 4096
    TEXT_MAX = 4096

    def __init__(self) -> None:
        self._done: dict[tuple[str, bool], str] = {}
        self._rules: object = None  # the _settings.extra the entries were made under

    def get(self, text: str, ip: bool, rules: object) -> str | None:
        if self._rules is not rules:
            self._done = {}
            self._rules = rules
            return None
        return self._done.get((text, ip))

    def put(self, text: str, ip: bool, rules: object, redacted: str) -> None:
        """Keep a result made under ``rules`` - unless the memo has moved on to other rules since."""
        if len(text) > self.TEXT_MAX or self._rules is not rules:
            return
        done = self._done
        if len(done) >= self.MAX:
            done = self._done = {}
        done[(text, ip)] = redacted


_memo = _Memo()


def apply_redaction(config: Any) -> None:
    """Make ``[redact]`` of a configuration (a ``logpipe.config.Config``, or its snapshot from
    ``logpipe.config_cache``) the process's redaction (every output path reads it from here)."""
    configure(ip=config.redact.ip, rules=[(rule.name, rule.regex) for rule in config.redact.rules])


__all__ = ["TEMPLATE_RULES", "WILDCARD", "TemplateRule", "apply_redaction", "configure", "luhn_ok", "mask_secrets", "redact"]
