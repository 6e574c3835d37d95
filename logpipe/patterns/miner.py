"""The online template miner: one message in, a stable pattern id and template out.

How it works, and why:

1. **Stack traces** (multi-line records) are grouped by exception type + message template + top
   frames (``traces.stack_trace_key``), never by their whole text.
2. **Caches**: most lines in a real stream repeat a known pattern with new numbers. A line's key
   is the line with every digit turned into ``0`` (``bytes.translate``, nearly free); a hit costs
   one dict lookup. Lines with the same key mask the same except for digits masking keeps
   (``ssh2``): for those the entry also compares the digits right after a letter. An id-free key
   (the same with each id-like hex token cut out: request and trace ids, UUIDs) serves lines
   that differ only in their ids; ``masking.shape`` (digit runs collapsed) catches numbers of new
   lengths; masking's input is cached last. All are exact (tested). The fast path takes a
   pattern once it has its examples; until then a hit only counts. ``add_many``/``add_many_utf8``
   run that fast path (both digits-to-zero keys, the three lookups, a plain shape's lookup, counting
   a hot hit) in C where the optional extension ``logpipe.patterns._fastpath`` is built: it hands
   every other line to the Python code, so the output is the same (``FAST_PATH`` says which runs;
   ``LOGPIPE_PURE_PYTHON=1`` forces Python).
3. **Masking** (``masking.mask``), only on a miss: one generic set of RE2-compatible regexes turns
   numbers, ids, IPs, paths, timestamps... into ``<*>``; identical masked text is one pattern.
4. On a miss the masked line is compared with the *generalised* patterns of the same token count
   (those with a learned wildcard). If none matches it becomes a new pattern, and
5. **generalisation**: patterns that are equal except at one position are siblings; once
   ``merge_distinct`` siblings with distinct values at that position exist, the position is a
   variable (user names, host names: variables without digits) and the siblings merge into one
   pattern with ``<*>`` there (two values suffice when one of them was already masked, as in
   ``()`` and ``(<*>)``: that slot is known to hold variables). Requiring several distinct values, instead of Drain's similarity
   threshold, keeps ``... from RUNNING to FAILED`` and ``... to SUCCEEDED`` apart: words without
   digits are usually the constant part of a log statement.

**Ids.** A pattern id is a hash of the template (or of the stack-trace grouping key), never a
counter: the same pattern has the same id in another run, process or machine. When patterns merge,
the merged pattern gets the id of its new template and every old id is kept in ``aliases``
(``old -> new``); ``resolve(id)`` follows them. A streaming consumer therefore stores the id it
was given for a line at that time and resolves it later. Both the aliases and the patterns are
in ``to_state()``, so a pattern store can persist and reload the miner.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from operator import itemgetter, methodcaller
from typing import Any

from logpipe.patterns.masking import (
    HTTP_METHODS,
    WILDCARD,
    has_hex_run,
    id_free,
    mask,
    shape,
    status_digit_offset,
)
from logpipe.patterns.traces import stack_trace_key
from logpipe.redact import mask_secrets

STATE_VERSION = 2
# Version 1 had BLAKE2b ids (``from_state`` re-keys its patterns, old id -> new id in ``aliases``).

# The fast cache key: the UTF-8 bytes with every digit turned into "0". bytes.translate with a
# static table is a C loop (str.translate rebuilds its table on every call: 10x slower).
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_ENCODE = methodcaller("encode", "utf-8", "surrogatepass")  # a message's bytes, in C (``add_many``)
_has_digit = re.compile("[0-9]").search
# An enum-like value (see ``MinerConfig.merge_distinct_enum``).
_ENUM_WORD = re.compile(r"[A-Z][A-Z0-9]*_?[A-Z][A-Z0-9_]*\Z|[^<]{1,2}\Z").match
# Digit runs right after an ASCII letter (the "2" of "ssh2"): the only digits masking can keep.
_LETTER_DIGITS = re.compile(rb"(?<=[A-Za-z])[0-9]+")
# Lines with an id-like hex token that are tried in the fast cache before their hit rate decides.
_HEX_TRIAL = 4096

# The compiled per-line loop (``_fastpath.c``, built by ``pip install``), unless it is missing (no
# compiler where the package was installed) or ``LOGPIPE_PURE_PYTHON`` is set to anything but
# ``""``/``0``. Either way the output is the same (tests/test_miner_fastpath.py); the pure-Python loop
# is the reference and the fallback.
_Scan = Callable[[Any, list["MatchResult"], Any, type, int, int, int, int],
                 tuple[int, bytes | None, tuple[bytes, Sequence[tuple[int, int]], bytes] | None]]
_fast_scan: _Scan | None
if os.environ.get("LOGPIPE_PURE_PYTHON", "") not in ("", "0"):
    _fast_scan = None
    FAST_PATH = "pure Python (LOGPIPE_PURE_PYTHON is set)"
else:
    try:
        from logpipe.patterns._fastpath import scan as _fast_scan
        FAST_PATH = "compiled (logpipe.patterns._fastpath)"
    except ImportError as exc:  # not built: no compiler at install time
        _fast_scan = None
        FAST_PATH = f"pure Python (logpipe.patterns._fastpath not built: {exc})"
"""Which per-line loop ``add_many``/``add_many_utf8`` run: ``compiled (...)`` or ``pure Python (why)``."""
_path_logged = False


def _log_fast_path() -> None:
    """Say once, at debug level, which loop runs (``logpipe --debug patterns mine`` shows it).

    ``logging`` is not imported for it: a debug line is seen only where logging was set up, which
    imported it already, and ``patterns mine`` starts faster without it."""
    global _path_logged
    logging = sys.modules.get("logging")
    if logging is not None and not _path_logged:
        _path_logged = True
        logging.getLogger(__name__).debug("pattern miner per-line loop: %s", FAST_PATH)


@dataclass(frozen=True)
class MinerConfig:
    """The one generic configuration (tuned across all benchmark data sets, none special-cased)."""

    merge_distinct: int = 3
    """Distinct values seen at one position before that position becomes a variable."""
    merge_distinct_enum: int = 4
    """``merge_distinct`` where every value is enum-like: upper-case words (``RUNNING``, ``LOOKING``,
    ``CONTAINER_LAUNCH``) or one or two characters (``x+``, ``on``). Such values name states,
    axes and kinds: the constant part of a statement more often than a variable (0: no such rule).
    Chosen by leave-one-system-out on the benchmark sets (``benchmarks/patterns.py``)."""
    max_examples: int = 3
    """Raw example messages kept per pattern (for digests; pass them through ``redact``)."""
    cache_size: int = 200_000
    """Entries each of the miner's caches keeps (fast key, hex-id key, id-free key, shape, masking
    input); a cache is cleared when it grows past this (memory stays bounded on endless input)."""
    max_chars: int = 2000
    """Messages (not stack traces) are masked and grouped on their first ``max_chars`` characters, as the
    SQL path does (``logpipe.patterns.sql.SHAPE_PREFIX_CHARS``): a 1 MB line must not cost seconds
    (some masks are quadratic on adversarial input in Python's regex engine, never in RE2)."""


@dataclass(frozen=True)
class MatchResult:
    """What ``add``/``match`` say about one message: its pattern now (ids resolve later)."""

    pattern_id: str
    template: str
    is_new: bool


@dataclass
class Pattern:
    """A current pattern: template, how many messages it has seen, a few raw examples."""

    pattern_id: str
    template: str
    count: int
    examples: list[str] = field(default_factory=list)


def pattern_id_for(key: str) -> str:
    """The stable id of a template or grouping key: the first 16 hex digits of its MD5.

    Why MD5 (not a keyed or newer hash): it is the one both engines compute, so the ``logs`` view's
    ``pattern_id`` column is this very id for a line's own template
    (``substr(lower(to_hex(md5(to_utf8(template)))), 1, 16)``, ``logpipe.patterns.sql``). It
    names groups, it protects nothing.
    """
    return hashlib.md5(key.encode("utf-8", "replace"), usedforsecurity=False).hexdigest()[:16]


def _legacy_pattern_id(key: str) -> str:
    """The id state version 1 gave a key (BLAKE2b), to carry such a state's patterns over."""
    return hashlib.blake2b(key.encode("utf-8", "replace"), digest_size=8).hexdigest()


class _Cluster:
    __slots__ = ("constant", "count", "examples", "hot", "index_keys", "indexed", "pattern_id", "result", "seq",
                 "sibling_keys", "target", "template", "tokens", "wild")

    def __init__(self, tokens: list[str] | None, template: str, pattern_id: str,
                 wild: dict[int, tuple[str, str]] | None = None) -> None:
        self.tokens = tokens  # None for stack-trace patterns
        self.template = template
        self.pattern_id = pattern_id
        self.wild = wild or {}  # position -> (prefix, suffix) around a learned wildcard
        self.count = 0
        self.examples: list[str] = []
        self.target: _Cluster | None = None  # set when merged into another pattern
        self.result = MatchResult(pattern_id, template, False)  # shared by every cache hit
        # True while the cluster is live and has all its examples: then a fast-cache hit only counts.
        self.hot = False
        self.sibling_keys: list[tuple[int, str]] | None = None  # computed once, on first need
        self.seq = 0  # registration order
        # (getter of the constant positions, their tokens), for ``matches``; reset when ``wild`` grows
        self.constant: tuple[Callable[[list[str]], Any], Any] | None = None
        self.indexed = False  # its sibling keys are in the sibling index (see ``_register``)
        self.index_keys: list[tuple[int, str]] | None = None  # its keys when registered, if changed since

    def live(self) -> _Cluster:
        c = self
        while c.target is not None:
            c = c.target
        return c

    def matches(self, tokens: list[str]) -> bool:
        """Same constant tokens (one C-level compare), and each learned wildcard's prefix/suffix."""
        check = self.constant
        if check is None:
            own = self.tokens
            assert own is not None
            positions = [i for i in range(len(own)) if i not in self.wild]
            check = self.constant = ((itemgetter(*positions), itemgetter(*positions)(own)) if positions
                                     else (lambda _tokens: (), ()))
        if check[0](tokens) != check[1]:
            return False
        for i, (pre, suf) in self.wild.items():
            tok = tokens[i]
            if not (tok.startswith(pre) and tok.endswith(suf) and len(tok) >= len(pre) + len(suf)):
                return False
        return True


class _Checked:
    """A fast-cache entry for lines whose masked text keeps digits (``ssh2``, ``jk2_init``).

    Lines with the same digits-to-zero key mask alike except where masking keeps a digit, and a
    kept digit is always in a digit run right after an ASCII letter (a masked span never ends
    with a letter, and no mask matches the empty string). So the entry reads those positions of
    the UTF-8 line (``pick``) and maps their digits to the cluster: exact, and one C call.
    """

    __slots__ = ("by_digits", "pick")
    hot = False  # the digits are checked first (inline in ``add_many``, else in ``_add_slow``)

    def __init__(self, pick: Callable[[bytes], Any]) -> None:
        self.pick = pick
        self.by_digits: dict[Any, _Cluster] = {}


def _template(tokens: list[str]) -> str:
    return " ".join(tokens)


def _sibling_keys(tokens: list[str], template: str, wild: dict[int, tuple[str, str]]) -> list[tuple[int, str]]:
    n = len(tokens)
    if n < 2:
        return []
    constant = [WILDCARD not in t for t in tokens]
    n_constant = constant.count(True)
    # A learned variable needs some constant text around it: with one constant token, only the
    # other positions qualify; with none, no position does.
    if n_constant >= 2:
        positions: Iterable[int] = range(n)
    elif n_constant == 1:
        positions = [p for p in range(n) if not constant[p]]
    else:
        return []
    starts = list(accumulate([len(t) + 1 for t in tokens], initial=0))  # offset of each token
    fixed = _request_positions(tokens) if "/" in template else ()
    return [(p, template[:starts[p]] + "\x1e" + template[starts[p + 1] - 1:]) for p in positions
            if p not in wild and p not in fixed]


_METHOD_TOKEN = re.compile('"?(?:' + "|".join(HTTP_METHODS) + r")\Z").match
_STATUS_CLASS_TOKEN = re.compile(r"[1-5]xx[,;]?\Z").match


def _request_positions(tokens: list[str]) -> set[int]:
    """Positions an HTTP request keeps on purpose (method, route, status class): never variables."""
    fixed: set[int] = set()
    for i, tok in enumerate(tokens[:-1]):
        if _METHOD_TOKEN(tok) and tokens[i + 1].startswith("/"):
            fixed.update((i, i + 1))
    if fixed:
        fixed.update(i for i, tok in enumerate(tokens) if _STATUS_CLASS_TOKEN(tok))
    return fixed


def _trim_prefix(values: list[str]) -> str:
    """Common prefix of ``values``, cut back to end at a non-alphanumeric character."""
    first = min(values)
    last = max(values)
    n = 0
    while n < len(first) and n < len(last) and first[n] == last[n]:
        n += 1
    prefix = first[:n]
    while prefix and prefix[-1].isalnum():
        prefix = prefix[:-1]
    return prefix


class TemplateMiner:
    """Online, streaming log template miner with stable, hash-derived pattern ids.

    Not thread-safe: use one miner per thread (or a lock); persist and share through ``to_state``.
    """

    def __init__(self, config: MinerConfig | None = None, *, pure_python: bool = False) -> None:
        """``pure_python``: run the pure-Python per-line loop even where the compiled one is built
        (the reference; the output is the same either way)."""
        self.config = config or MinerConfig()
        self._scan = None if pure_python else _fast_scan
        _log_fast_path()
        self.aliases: dict[str, str] = {}
        self._by_id: dict[str, _Cluster] = {}
        self._cache: dict[bytes, _Cluster | _Checked] = {}
        self._shape_cache: dict[str, tuple[_Cluster, bool]] = {}
        self._mask_cache: dict[str, str] = {}  # masking's input -> its output (``_add_slow``)
        # The fast cache for lines with an id-like hex token (see ``_add_slow``): kept apart, and
        # filled only while its keys come again (``_hex_hits``) often enough to pay for themselves.
        self._hex_cache: dict[bytes, _Cluster | _Checked] = {}
        self._hex_hits = 0
        self._hex_tries = 0
        self._id_cache: dict[bytes, _Cluster | _Checked] = {}  # the id-free key's (``_add_slow``)
        self._by_masked: dict[str, _Cluster] = {}
        self._generalised: dict[int, list[_Cluster]] = {}
        self._siblings: dict[str, list[_Cluster]] = {}
        self._halves: dict[tuple[int, int, str], list[_Cluster]] = {}
        self._seq = 0
        # Patterns whose stored template no longer hashes to their id (a migration re-redacted
        # it, state migration 0006): found by template, so a line of theirs keeps the id it had.
        self._renamed: dict[str, _Cluster] = {}
        self._legacy_traces: dict[str, _Cluster] = {}  # version-1 stack-trace patterns, by old id

    # ---- public API ----

    def add(self, message: str) -> MatchResult:
        """Mine one message: the id and template of its pattern (learning from it)."""
        raw = message.encode("utf-8", "surrogatepass")
        key = raw.translate(_DIGITS_TO_ZERO)
        cluster = self._cache.get(key)
        if cluster is not None and cluster.hot:
            cluster.count += 1  # type: ignore[union-attr]
            return cluster.result  # type: ignore[union-attr]
        return self._add_slow(message, raw, key)

    def add_many(self, messages: Iterable[str]) -> list[MatchResult]:
        """``[add(m) for m in messages]``, faster (no method call per message on the fast path)."""
        return self.add_many_utf8(map(_ENCODE, messages))

    def add_many_utf8(self, lines: Iterable[bytes]) -> list[MatchResult]:
        """``add_many`` of messages given as their UTF-8 bytes (``str.encode("utf-8",
        "surrogatepass")``): a reader that has the input's bytes skips decoding each line, which
        the fast path never needs (only a miss or a pattern's example decodes its line).

        With the compiled fast path (``FAST_PATH``), ``_fastpath.scan`` serves the lines whose
        lookup ends on a hot pattern (the fast, hex and id-free caches, and the shape cache for
        lines whose ``shape`` is a plain digit-run collapse, with ``_add_slow``'s bookkeeping for
        that hit) and hands every other line back untouched: one both digits-to-zero caches miss
        with the arguments the Python loop would give ``_add_slow`` (its key, and ``id_free``'s
        spans and view), any other to the Python loop (``_add_many_utf8_py``). The same changes
        in the same order, so the same output (tests/test_miner_fastpath.py)."""
        out: list[MatchResult] = []
        scan = self._scan
        if scan is None:
            hits = self._add_many_utf8_py(lines, out)
            self._hex_hits += hits  # (after the loop: ``_add_slow`` may reset the counter)
            return out
        it = iter(lines)
        cfg = self.config
        hex_hits = 0
        append = out.append
        while True:
            hits, raw, slow = scan(it, out, self, _Checked, cfg.max_chars, cfg.max_examples, cfg.cache_size, _HEX_TRIAL)
            hex_hits += hits
            if raw is None:
                break
            if slow is None:
                hex_hits += self._add_many_utf8_py((raw,), out)
            else:
                key, spans, view = slow
                append(self._add_slow(raw.decode("utf-8", "surrogatepass"), raw, key, False, (spans, view)))
        self._hex_hits += hex_hits
        return out

    def _add_many_utf8_py(self, lines: Iterable[bytes], out: list[MatchResult]) -> int:
        """The pure-Python loop of ``add_many_utf8`` (the reference): each line's result appended
        to ``out``; returns how many lines the hex cache served (the caller adds them to
        ``_hex_hits`` once the batch is done, as this loop always has)."""
        table = _DIGITS_TO_ZERO
        get = self._cache.get
        hex_get = self._hex_cache.get
        id_get = self._id_cache.get
        max_chars = self.config.max_chars
        hex_hits = 0
        append = out.append
        checked = _Checked
        max_examples = self.config.max_examples
        for raw in lines:
            key = raw.translate(table)
            cluster = get(key)
            if cluster is None:
                cluster = hex_get(key)
                if cluster is None:
                    # The id-free key (``_add_slow`` says why): a hit on a hot pattern, inline.
                    # (ASCII: a byte is a character, the tests on ``raw`` are the ones on the line)
                    if (raw.isascii() and b"0x" not in key and b"0X" not in key and b"://" not in raw
                            and b"\n" not in raw and len(raw) <= max_chars):
                        view, spans = id_free(raw)
                        if spans:
                            entry = id_get(view.translate(table))
                            if entry is not None:
                                if type(entry) is checked:
                                    entry = entry.by_digits.get(entry.pick(view))
                                if entry is not None and entry.hot:
                                    entry.count += 1  # type: ignore[union-attr]
                                    append(entry.result)  # type: ignore[union-attr]
                                    continue
                            append(self._add_slow(raw.decode("utf-8", "surrogatepass"), raw, key, False, (spans, view)))
                            continue
                    append(self._add_slow(raw.decode("utf-8", "surrogatepass"), raw, key, False, ((), b"")))
                    continue
                hex_hits += 1
            if type(cluster) is checked:
                cluster = cluster.by_digits.get(cluster.pick(raw))
                if cluster is None:
                    append(self._add_slow(raw.decode("utf-8", "surrogatepass"), raw, key, False))
                    continue
            if cluster.hot:
                cluster.count += 1  # type: ignore[union-attr]
                append(cluster.result)  # type: ignore[union-attr]
                continue
            if cluster.target is None:  # type: ignore[union-attr]
                # A live pattern still collecting examples: ``_count``, inline.
                cluster.count += 1  # type: ignore[union-attr]
                examples = cluster.examples  # type: ignore[union-attr]
                if len(examples) < max_examples:
                    examples.append(raw.decode("utf-8", "surrogatepass"))
                    cluster.hot = len(examples) >= max_examples
                append(cluster.result)  # type: ignore[union-attr]
                continue
            # a merged pattern: find the live one
            append(self._add_slow(raw.decode("utf-8", "surrogatepass"), raw, key))
        return hex_hits

    def match(self, message: str) -> MatchResult | None:
        """The pattern ``message`` belongs to, without learning; ``None`` if it is unknown."""
        if "\n" in message:
            trace = stack_trace_key(mask_secrets(message))
            if trace is not None:
                found = self._by_id.get(pattern_id_for("trace\x1f" + trace[0]))
                if found is None and self._legacy_traces:
                    found = self._legacy_traces.get(_legacy_pattern_id("trace\x1f" + trace[0]))
                return MatchResult(found.pattern_id, found.template, False) if found else None
        cluster = None
        if len(message) <= self.config.max_chars:
            raw = message.encode("utf-8", "surrogatepass")
            cluster = self._cached(raw, raw.translate(_DIGITS_TO_ZERO))
        if cluster is None and len(message) <= self.config.max_chars:
            hit = self._shape_cache.get(shape(message))
            cluster = hit[0] if hit else None
        if cluster is None:
            tokens = mask(mask_secrets(message[:self.config.max_chars])).split()
            template = _template(tokens)
            cluster = (self._by_id.get(pattern_id_for(template)) or self._renamed.get(template)
                       or self._find_generalised(tokens))
        if cluster is None:
            return None
        return cluster.live().result

    def resolve(self, pattern_id: str) -> str:
        """Follow merge aliases from any id this miner ever returned to the current id."""
        seen = 0
        while pattern_id in self.aliases and seen < 1000:
            pattern_id = self.aliases[pattern_id]
            seen += 1
        return pattern_id

    def patterns(self) -> list[Pattern]:
        """The current patterns, most frequent first."""
        return [Pattern(c.pattern_id, c.template, c.count, list(c.examples))
                for c in sorted(self._by_id.values(), key=lambda c: (-c.count, c.pattern_id))]

    # ---- state ----

    def to_state(self) -> dict[str, Any]:
        """A JSON-serialisable snapshot: patterns, learned wildcards, counts, examples, aliases."""
        return {
            "version": STATE_VERSION,
            "config": {"merge_distinct": self.config.merge_distinct,
                       "merge_distinct_enum": self.config.merge_distinct_enum, "max_examples": self.config.max_examples,
                       "cache_size": self.config.cache_size, "max_chars": self.config.max_chars},
            "patterns": [
                {"pattern_id": c.pattern_id, "template": c.template, "tokens": c.tokens,
                 "wild": {str(k): list(v) for k, v in c.wild.items()}, "count": c.count,
                 "examples": list(c.examples)}
                for c in self._by_id.values()
            ],
            "aliases": dict(self.aliases),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TemplateMiner:
        """Rebuild a miner from ``to_state()`` output (indexes are recomputed, not stored).

        A version-1 state (BLAKE2b ids) is re-keyed: each template pattern gets its MD5 id and
        ``aliases`` maps the old id to it, so stores and findings that hold old ids resolve. A
        stack-trace pattern's key is not in the state: it keeps its old id until its next line,
        which re-keys it the same way (``_add_trace``).
        """
        version = state.get("version")
        if version not in (1, STATE_VERSION):
            from logpipe.errors import LogpipeError

            raise LogpipeError(f"miner state version {version!r} is not supported "
                               f"(expected {STATE_VERSION}); re-mine the patterns")
        miner = cls(MinerConfig(**state.get("config", {})))
        rekeyed: dict[str, str] = {}
        for item in state["patterns"]:
            wild = {int(k): (v[0], v[1]) for k, v in item.get("wild", {}).items()}
            pid = item["pattern_id"]
            if version == 1 and item.get("tokens") is not None:
                new = pattern_id_for(item["template"])
                if new != pid:
                    rekeyed[pid] = new
                    pid = new
            c = _Cluster(item.get("tokens"), item["template"], pid, wild)
            c.count = int(item.get("count", 0))
            c.examples = list(item.get("examples", []))
            c.hot = len(c.examples) >= miner.config.max_examples
            if version == 1 and c.tokens is None:
                miner._legacy_traces[pid] = c
            miner._register(c)
            if c.tokens is not None and pattern_id_for(c.template) != c.pattern_id:
                miner._renamed[c.template] = c
        miner.aliases.update(state.get("aliases", {}))
        miner.aliases.update({old: rekeyed.get(new, new) for old, new in state.get("aliases", {}).items()})
        miner.aliases.update(rekeyed)
        return miner

    # ---- internals ----

    def _add_trace(self, message: str, key: str, display: str) -> MatchResult:
        pid = pattern_id_for("trace\x1f" + key)
        cluster = self._by_id.get(pid)
        if cluster is None and self._legacy_traces:
            cluster = self._rekey_legacy_trace(_legacy_pattern_id("trace\x1f" + key), pid)
        is_new = cluster is None
        if cluster is None:
            cluster = _Cluster(None, display, pid)
            self._by_id[pid] = cluster
        self._count(cluster, message)
        return MatchResult(pid, cluster.template, is_new)

    def _rekey_legacy_trace(self, old: str, pid: str) -> _Cluster | None:
        """A version-1 stack-trace pattern under its new id (``old`` -> ``pid`` in ``aliases``)."""
        cluster = self._legacy_traces.pop(old, None)
        if cluster is None or self._by_id.get(old) is not cluster:
            return None
        del self._by_id[old]
        cluster.pattern_id = pid
        cluster.result = MatchResult(pid, cluster.template, False)
        self._by_id[pid] = cluster
        self.aliases[old] = pid
        return cluster

    def _count(self, cluster: _Cluster, message: str) -> None:
        cluster.count += 1
        examples = cluster.examples
        if len(examples) < self.config.max_examples:
            examples.append(message)
            cluster.hot = len(examples) >= self.config.max_examples and cluster.target is None

    def _cached(self, raw: bytes, key: bytes) -> _Cluster | None:
        """The fast cache's cluster for a line (UTF-8 ``raw``, digits-to-zero ``key``), if any."""
        cache = self._cache
        entry = cache.get(key)
        if entry is None:
            cache = self._hex_cache
            entry = cache.get(key)
            if entry is None:
                return None
            self._hex_hits += 1
        if type(entry) is _Checked:
            picked = entry.pick(raw)
            cluster = entry.by_digits.get(picked)
            if cluster is None:
                return None
            if cluster.target is not None:
                cluster = entry.by_digits[picked] = cluster.live()
            return cluster
        assert isinstance(entry, _Cluster)
        if entry.target is not None:
            entry = cache[key] = entry.live()
        return entry

    def _add_slow(self, message: str, raw: bytes, key: bytes, cached: bool = True,
                  ids: tuple[Sequence[tuple[int, int]], bytes] | None = None) -> MatchResult:
        """Everything but the inline fast-cache hit: traces, cache checks, masking, new patterns.

        Two caches, both exact. ``_cache`` is keyed by the UTF-8 message with every digit turned
        into ``0`` (``bytes.translate``: nearly free); lines with that key mask alike, except for
        digits masking keeps, which a ``_Checked`` entry compares. ``add``/``add_many`` serve a hit
        inline once the pattern is ``hot`` (live, examples collected); other hits land here and
        only count. ``_shape_cache`` is keyed by ``masking.shape`` (digit runs collapsed, so
        numbers of any length share a key): a new key with a known shape skips masking.
        """
        # Secret shapes become variables (``mask_secrets``, the configured rules too) before a
        # template or trace key is built from a line. The caches are keyed by the raw line, which
        # stays in memory only: a key's template is built from the first line that had the key,
        # after its own secrets were masked, so no line's secret can reach a template through
        # them (and the rules treat every digit alike, see ``logpipe.redact``).
        if "\n" in message:
            trace = stack_trace_key(mask_secrets(message))
            if trace is not None:
                return self._add_trace(message, *trace)
        # Multi-line records are not cached: whether they are stack traces is decided per record.
        # Nor are over-long ones: their keys would be as big as they are, and they are masked on
        # a prefix (shapes of different lengths cut differently), as the SQL does: prefix first.
        if "\n" in message or len(message) > self.config.max_chars:
            masked = mask(mask_secrets(message[:self.config.max_chars]))
            return self._add_masked(message, masked)[0]
        # (``raw``, ``key``: the UTF-8 message and its digits-to-zero cache key; ``cached``: False
        # when the caller knows the fast cache has nothing for it)
        cluster = self._cached(raw, key) if cached else None
        if cluster is not None:
            self._count(cluster, message)
            return cluster.result
        if len(self._cache) >= self.config.cache_size:
            self._cache.clear()
            self._shape_cache.clear()
            self._mask_cache.clear()
            self._by_masked.clear()
        # The id-free key: the fast cache's key made from ``masking.id_free(raw)``, the line with
        # each id-like hex token that ``shape`` collapses (request/trace ids, UUIDs) cut out, so
        # lines that differ only in their ids and numbers share it. Why it is exact: two lines
        # with one such key differ only in digit values and in those tokens' text; ``shape``
        # collapses those tokens whatever their text, judges every other token and digit run on
        # characters both lines share (the marks say whether a token's first or last character
        # is a digit where a neighbour's rule reads that), and keeps only the digits right after
        # a letter and an HTTP status's first digit: those a ``_Checked`` entry compares. Same
        # shape, same pattern. ASCII lines only (tokens are judged on bytes), none with a URL or
        # a digit before "x" (``shape`` treats those differently).
        # (``ids``: ``id_free``'s spans and view when ``add_many`` made them, ``((), b"")`` when
        # the line has no such token or cannot use the key)
        id_view = id_key = None
        spans: Sequence[tuple[int, int]] = ()
        if ids is not None:
            spans, id_view = ids
        elif message.isascii() and b"0x" not in key and b"0X" not in key and "://" not in message:
            id_view, spans = id_free(raw)
        if spans and id_view:
            id_key = id_view.translate(_DIGITS_TO_ZERO)
            cluster = self._lookup(self._id_cache, id_key, id_view)
            if cluster is not None:
                self._count(cluster, message)
                return cluster.result
        else:
            id_view = None
        shaped = shape(message)
        hit = self._shape_cache.get(shaped)
        if hit is None and len(self._shape_cache) >= self.config.cache_size:
            self._shape_cache.clear()  # (lines with hex ids fill it, not the fast cache)
        if hit is not None:
            cluster, digit_free = hit[0].live(), hit[1]
            self._count(cluster, message)
            result = cluster.result
        else:
            # The shape masks like the message (same shape, same mask) and is shorter. Masking
            # is the costly step: its input is cached too (secrets masked first, an e-mail with
            # digits becomes a variable: such lines differ in shape, but not in this key).
            secret_free = shape(mask_secrets(message))
            known = self._mask_cache.get(secret_free)
            if known is None:
                if len(self._mask_cache) >= self.config.cache_size:
                    self._mask_cache.clear()
                known = self._mask_cache[secret_free] = mask(secret_free)
            masked = known
            digit_free = _has_digit(masked) is None
            result, cluster = self._add_masked(message, masked)
        self._shape_cache[shaped] = (cluster, digit_free)
        if id_view is not None and id_key is not None:
            if len(self._id_cache) >= self.config.cache_size:
                self._id_cache.clear()
            status_at = status_digit_offset(message)
            if status_at is not None:  # (ASCII: a character is a byte) where it is in ``id_view``
                status_at -= sum(end - start - 3 for start, end in spans if end <= status_at)
            self._remember(self._id_cache, id_key, id_view, cluster, digit_free, status_at)
        cache = self._cache
        if has_hex_run(message):
            # An id-like hex token (request id, trace id, UUID) usually makes this key unique: the
            # shape cache serves such lines. Where such tokens repeat (a fixed set of ids, the
            # Loghub replays) the key comes again: those go to a fast cache of their own, kept
            # filled only while a fair share of its lookups hit (else every line would pay for
            # an entry that is never used).
            if self._hex_tries >= _HEX_TRIAL and self._hex_hits * 4 < self._hex_tries:
                return result
            cache = self._hex_cache
            if len(cache) >= self.config.cache_size:
                cache.clear()
                self._hex_hits = self._hex_tries = 0
            self._hex_tries += 1
        status_at = status_digit_offset(message)
        if status_at is not None:  # an HTTP status's class digit (byte offset in ``raw``)
            status_at = len(message[:status_at].encode("utf-8", "surrogatepass"))
        self._remember(cache, key, raw, cluster, digit_free, status_at)
        return result

    @staticmethod
    def _remember(cache: dict[bytes, _Cluster | _Checked], key: bytes, view: bytes, cluster: _Cluster,
                  digit_free: bool, status_at: int | None) -> None:
        """Put ``cluster`` in a digits-to-zero ``cache`` under ``key`` (``view``: the bytes the
        key was made from, where a ``_Checked`` entry reads the digits masking keeps and the
        HTTP status digit at byte ``status_at``)."""
        if digit_free and status_at is None:
            cache[key] = cluster
            return
        entry = cache.get(key)
        if entry is None:
            positions = [i for m in _LETTER_DIGITS.finditer(view) for i in range(m.start(), m.end())]
            if status_at is not None:
                positions.append(status_at)
            if not positions:  # cannot happen (see _Checked); then simply do not cache
                return
            entry = cache[key] = _Checked(itemgetter(*positions))
        if type(entry) is _Checked:
            entry.by_digits[entry.pick(view)] = cluster

    @staticmethod
    def _lookup(cache: dict[bytes, _Cluster | _Checked], key: bytes, view: bytes) -> _Cluster | None:
        """The live cluster ``cache`` has for ``key`` (made from ``view``), if any."""
        entry = cache.get(key)
        if entry is None:
            return None
        if type(entry) is _Checked:
            picked = entry.pick(view)
            cluster = entry.by_digits.get(picked)
            if cluster is None:
                return None
            if cluster.target is not None:
                cluster = entry.by_digits[picked] = cluster.live()
            return cluster
        assert isinstance(entry, _Cluster)
        if entry.target is not None:
            entry = cache[key] = entry.live()
        return entry

    def _add_masked(self, message: str, masked: str) -> tuple[MatchResult, _Cluster]:
        """Count ``message`` (masked as ``masked``) into its pattern, creating it if new."""
        # The pattern whose template is this masked text, while it is live (then the id lookup
        # below would find it): skips tokenising and hashing for a known masked text.
        cluster = self._by_masked.get(masked)
        if cluster is not None and cluster.target is None:
            self._count(cluster, message)
            return cluster.result, cluster
        tokens = masked.split()
        template = _template(tokens)
        pid = pattern_id_for(template)
        cluster = self._by_id.get(pid) or self._renamed.get(template)
        if cluster is not None:
            self._by_masked[masked] = cluster
        else:
            cluster = self._find_generalised(tokens)
        if cluster is not None:
            cluster = cluster.live()
            self._count(cluster, message)
            return cluster.result, cluster
        cluster = self._by_masked[masked] = _Cluster(tokens, template, pid)
        self._count(cluster, message)
        cluster = self._generalise(cluster, self._register(cluster))
        return MatchResult(cluster.pattern_id, cluster.template, True), cluster

    def _find_generalised(self, tokens: list[str]) -> _Cluster | None:
        candidates = self._generalised.get(len(tokens))
        if not candidates:
            return None
        best: _Cluster | None = None
        dead = False
        for c in candidates:
            if c.target is not None:
                dead = True
            elif c.matches(tokens) and (best is None or len(c.wild) < len(best.wild)):
                best = c
        if dead:
            candidates[:] = [c for c in candidates if c.target is None]
        return best

    def _sibling_keys(self, cluster: _Cluster) -> list[tuple[int, str]]:
        """``(position, key)`` for each position that may become a variable (cached per pattern).

        The key is the template with that token replaced by ``\x1e``: patterns equal except at
        one position share it. Tokens never hold whitespace (``\x1e`` is whitespace to
        ``str.split``), so the key tells the position too.
        """
        keys = cluster.sibling_keys
        if keys is None:
            tokens = cluster.tokens
            assert tokens is not None
            keys = cluster.sibling_keys = _sibling_keys(tokens, cluster.template, cluster.wild)
        return keys

    def _register(self, cluster: _Cluster) -> list[tuple[int, str]]:
        """Index a pattern; returns its sibling keys shared with another pattern.

        The sibling index (one key per position: what ``_generalise`` needs) is built lazily:
        two siblings differ at one position, so they share the first or the second half of their
        tokens. A pattern is indexed only once another pattern shares one of its halves, and then
        those patterns are indexed first (in registration order, so every sibling group keeps its
        order). Most patterns share no half with another and never pay for one key per position;
        the groups ``_generalise`` sees are exactly those of indexing every pattern at once.
        """
        self._by_id[cluster.pattern_id] = cluster
        cluster.hot = cluster.target is None and len(cluster.examples) >= self.config.max_examples
        tokens = cluster.tokens
        if tokens is None:
            return []
        if cluster.wild:
            self._generalised.setdefault(len(tokens), []).append(cluster)
        n = len(tokens)
        if n < 2:  # no sibling keys
            return []
        self._seq += 1
        cluster.seq = self._seq
        halves = self._halves
        mates: list[_Cluster] | None = None
        for half_key in ((n, 0, " ".join(tokens[:n // 2])), (n, 1, " ".join(tokens[n // 2:]))):
            bucket = halves.get(half_key)
            if bucket is None:
                halves[half_key] = [cluster]
            else:
                if mates is None:
                    mates = []
                mates.extend(bucket)
                bucket.append(cluster)
        if mates is None:
            return []
        pending = [c for c in mates if not c.indexed and c.target is None]
        if len(pending) > 1:
            pending = sorted(dict.fromkeys(pending), key=lambda c: c.seq)
        for c in pending:
            self._index(c)
        return self._index(cluster)

    def _index(self, cluster: _Cluster) -> list[tuple[int, str]]:
        """Put ``cluster``'s sibling keys (as of its registration) in the sibling index."""
        cluster.indexed = True
        keys = cluster.index_keys if cluster.index_keys is not None else self._sibling_keys(cluster)
        cluster.index_keys = None
        siblings = self._siblings
        shared = []
        for item in keys:
            group = siblings.get(item[1])
            if group is None:
                siblings[item[1]] = [cluster]
            else:
                group.append(cluster)
                shared.append(item)
        return shared

    def _generalise(self, cluster: _Cluster, shared: list[tuple[int, str]] | None = None) -> _Cluster:
        """Merge ``cluster`` with its siblings where a position has enough distinct values.

        ``shared``: what ``_register(cluster)`` returned (the keys with other patterns), when it
        was just registered; otherwise every key of ``cluster`` is looked at.
        """
        siblings = self._siblings
        for p, key in self._sibling_keys(cluster) if shared is None else shared:
            group = siblings.get(key)
            if group is None or len(group) < 2:
                continue
            group = [c for c in group if c.target is None]
            siblings[key] = group
            if len(group) >= self._needed(group, p) or (
                    len(group) >= 2 and any(WILDCARD in c.tokens[p] for c in group)):  # type: ignore[index]
                merged, merged_shared = self._merge(group, p)
                return self._generalise(merged, merged_shared) if merged.target is None else merged.live()
        return cluster

    def _needed(self, group: list[_Cluster], p: int) -> int:
        """Distinct values at position ``p`` before it becomes a variable: more for enum-like words."""
        cfg = self.config
        if cfg.merge_distinct_enum > cfg.merge_distinct and all(
                _ENUM_WORD(c.tokens[p]) for c in group):  # type: ignore[index]
            return cfg.merge_distinct_enum
        return cfg.merge_distinct

    def _merge(self, group: list[_Cluster], p: int) -> tuple[_Cluster, list[tuple[int, str]] | None]:
        """Merge ``group`` at position ``p``; returns the merged pattern (and its ``_register``
        result if it is new)."""
        values = [c.tokens[p] for c in group]  # type: ignore[index]
        prefix = _trim_prefix(values)
        suffix = _trim_prefix([v[len(prefix):][::-1] for v in values])[::-1]
        first = group[0]
        tokens = list(first.tokens)  # type: ignore[arg-type]
        tokens[p] = prefix + WILDCARD + suffix
        wild = dict(first.wild)
        wild[p] = (prefix, suffix)
        template = _template(tokens)
        pid = pattern_id_for(template)
        merged = self._by_id.get(pid)
        shared = None
        if merged is None:
            merged = _Cluster(tokens, template, pid, wild)
            shared = self._register(merged)
        else:
            merged = merged.live()
            if merged.tokens is not None and p not in merged.wild:
                # A pattern with this very template exists (its variable came from masking):
                # it now also stands for the learned wildcard.
                if not merged.indexed and merged.index_keys is None:
                    merged.index_keys = self._sibling_keys(merged)  # what indexing it then would have added
                merged.wild[p] = (prefix, suffix)
                merged.constant = None
                merged.sibling_keys = None  # position p may no longer become a variable
                if len(merged.wild) == 1:
                    self._generalised.setdefault(len(tokens), []).append(merged)
        for c in group:
            if c is merged:
                continue
            c.target = merged
            c.hot = False
            self.aliases[c.pattern_id] = merged.pattern_id
            self._by_id.pop(c.pattern_id, None)
            merged.count += c.count
            room = self.config.max_examples - len(merged.examples)
            if room > 0:
                merged.examples.extend(c.examples[:room])
        merged.hot = merged.target is None and len(merged.examples) >= self.config.max_examples
        return merged, shared
