"""A Python model of Fluent Bit's multiline engine (``type regex`` parsers), for the tests.

Fluent Bit has no package here, so the tests run our ``[MULTILINE_PARSER]`` rules through this model
instead. It is a line-by-line transcription of the engine, not a re-design; where the engine does
something surprising, the model does it too. Sources (fluent/fluent-bit, ``src/multiline/``):

``flb_ml_rule.c``
  * ``flb_ml_rule_create``: ``from_states`` is a comma-separated list; a rule whose list names
    ``start_state`` is a *start rule*. Rules keep their declaration order (``mk_list_add`` appends).
  * ``set_to_state_map`` / ``flb_ml_rule_init``: each rule's successors are every rule (in order)
    whose ``from_states`` contains its ``to_state``; a ``to_state`` that no rule lists as a from-state
    is an error at start-up ("to_state='%s' is not registered").
  * ``flb_ml_rule_process``: if the group has a current rule, try its successors in order, *skipping
    start rules*; a match appends the line (a ``\\n`` first when the buffer does not already end in
    one; an empty line appends ``\\n``). If nothing continued, try the start rules in order
    (``try_start_state``): a match flushes any pending buffer, appends the line and registers the
    line's record as the group's context (``flb_ml_register_context``). With a matched rule the group
    remembers it and calls ``try_flushing_buffer``; with none it returns -1 *without* forgetting the
    current rule (so a later line may still continue an interrupted trace).
  * ``try_flushing_buffer``: when any successor of the matched rule is a start rule (its ``to_state``
    is ``start_state``, or a state a start rule also lists), the buffer -- *including the line just
    appended* -- is flushed at once.

``flb_ml.c``
  * ``package_content``: after ``flb_ml_rule_process`` returns 0, *if the group has no context*
    (``mp_sbuf.size == 0``) the current line's record is registered as the context. Right after a
    flush from ``try_flushing_buffer`` that is the line that ended the record: the group now holds
    an empty buffer with that line's record as context.
  * ``flb_ml_flush_stream_group``: with a context, the record is the context's map with the
    ``key_content`` value replaced by the buffer -- or, *when the buffer is empty, the context map as
    it is*. So the line that ended a record is emitted a second time, on its own, at the next flush
    (the timer, or a line no parser takes). Without a context (``flb_ml_append_text``, as Fluent Bit's
    own tests use) an empty buffer emits nothing, which is why those tests never show the duplicate.
    ``breakline_prepare`` appends a final ``\\n`` only when the parser has no ``key_content``.
  * ``flb_ml_append_object`` / ``flb_ml_append_text``: the group's last used parser (``lru_parser``)
    is tried first, then the others in order; the first that returns >= 0 wins. When none does, every
    parser's groups of the stream are flushed (pending records and stale contexts alike) and the line
    is emitted on its own through the first parser's group.
  * ``cb_ml_flush_timer`` / ``flb_ml_flush_pending``: every ``flush_ms`` the timer flushes *all*
    groups of every parser, whatever their age (a trace still arriving when the timer fires is cut).
  * ``flb_ml_auto_flush_init``: ``flush_ms`` below 500 is refused.

``plugins/filter_multiline/ml.c``
  * buffered mode calls ``flb_ml_append_object`` for each record and emits flushed records through its
    emitter; ``ctx->m->flush_ms = ctx->flush_ms`` (the filter's ``flush_ms``, default 2000, sets the
    timer; the parsers' ``flush_timeout`` does not, in buffered mode).
  * ``cb_ml_exit`` destroys the engine without flushing: whatever is buffered at shutdown is lost
    (fluent/fluent-bit#4918, fixed by #12352). ``shutdown()`` models that and returns what was lost.

Regexes: ``flb_regex.c`` strips the surrounding ``/`` and compiles with Onigmo's Ruby syntax, UTF-8,
searched anywhere in the line (``onig_search``). Ruby's ``^``/``$`` are line anchors and ``\\d \\s \\w``
are ASCII-only, so they are compiled here with ``re.MULTILINE | re.ASCII``; ``^`` is rewritten because
Onigmo's does not match after a newline that ends the string (Python's does). ``\\h`` (hex digit) is
rewritten. Options after the closing slash are not supported by ``flb_regex`` and are refused here.

Not modelled: ``endswith``/``equal`` parsers, the ``docker``/``cri`` parsers and ``key_group``;
the ``multiline_buffer_limit`` truncation (records over 2 MiB by default are cut and flagged
``multiline_truncated``); the exact time the timer fires (``tick()`` is called by the test).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

START_STATE = "start_state"
MIN_FLUSH_MS = 500


class RuleError(ValueError):
    """What Fluent Bit refuses at start-up."""


def compile_onigmo(pattern: str) -> re.Pattern[str]:
    """A ``/regex/`` as ``flb_regex_create`` compiles it (Ruby syntax: line anchors, ASCII classes)."""
    if len(pattern) >= 2 and pattern[0] == "/" and pattern[-1] == "/":
        pattern = pattern[1:-1]
    elif pattern.startswith("/"):
        raise RuleError(f"regex {pattern!r}: flb_regex takes /.../ with no options after the slash")
    body = _line_start_anchors(re.sub(r"\(\?<([A-Za-z_]\w*)>", r"(?P<\1>", pattern).replace(r"\h", "[0-9a-fA-F]"))
    try:
        return re.compile(body, re.MULTILINE | re.ASCII)
    except re.error as exc:
        raise RuleError(f"regex {pattern!r} does not compile: {exc}") from exc


# Onigmo's ^ (OP_BEGIN_LINE) matches at the start of the string or after a newline that is not the
# string's last character; Python's re.MULTILINE ^ also matches after a final newline. Fluent Bit's own
# java test shows the difference: "single line\n" must not match the java rule /^[\r\n]*$/.
_ONIGMO_LINE_START = r"(?:\A|(?<=\n)(?!\Z))"


def _line_start_anchors(regex: str) -> str:
    out, in_class, escaped, class_start = [], False, False, -1
    for i, char in enumerate(regex):
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            out.append(char)
            escaped = True
        elif in_class:
            out.append(char)
            if char == "]" and i > class_start + 1 and not (i == class_start + 2 and regex[class_start + 1] == "^"):
                in_class = False
        elif char == "[":
            out.append(char)
            in_class, class_start = True, i
        elif char == "^":
            out.append(_ONIGMO_LINE_START)
        else:
            out.append(char)
    return "".join(out)


@dataclass(eq=False)
class Rule:
    from_states: tuple[str, ...]
    regex: re.Pattern[str]
    to_state: str
    successors: list[Rule] = field(default_factory=list)

    @property
    def is_start(self) -> bool:
        return START_STATE in self.from_states

    def matches(self, line: str) -> bool:
        return self.regex.search(line) is not None


@dataclass
class Parser:
    """A ``[MULTILINE_PARSER]`` of ``type regex`` (or a built-in one) after ``flb_ml_rule_init``."""

    name: str
    rules: list[Rule]

    @classmethod
    def from_rules(cls, name: str, rules: Iterable[tuple[str, str, str]]) -> Parser:
        compiled = [Rule(tuple(s.strip() for s in states.split(",")), compile_onigmo(regex), to_state)
                    for states, regex, to_state in rules]
        known = {state for rule in compiled for state in rule.from_states}
        for rule in compiled:
            if rule.to_state not in known:
                raise RuleError(f"[multiline parser: {name}] to_state='{rule.to_state}' is not registered")
            rule.successors = [r for r in compiled if rule.to_state in r.from_states]
        return cls(name, compiled)

    def re_emitting_rules(self) -> list[Rule]:
        """Rules after which ``try_flushing_buffer`` flushes mid-line: the line is emitted twice."""
        return [rule for rule in self.rules if any(s.is_start for s in rule.successors)]


@dataclass
class _Group:
    """``struct flb_ml_stream_group``: the buffer, the current rule and the first line's record."""

    buf: str = ""
    rule_to_state: Rule | None = None
    context: list[dict[str, Any]] = field(default_factory=list)  # msgpack maps packed in mp_sbuf


class Engine:
    """One ``flb_ml`` context with its parser instances, fed one stream's records in order.

    ``key_content`` is the filter's ``multiline.key_content`` (``None`` for the text API). Records are
    dicts; ``append(record)`` models ``flb_ml_append_object``, ``append_text(line)`` models
    ``flb_ml_append_text``. Emitted records collect in ``out`` in the order Fluent Bit emits them.
    """

    def __init__(self, parsers: Sequence[Parser], key_content: str | None = "log", flush_ms: int = 2000):
        if not parsers:
            raise RuleError("multiline: at least one multiline.parser is needed")
        if flush_ms < MIN_FLUSH_MS:
            raise RuleError(f"[multiline] flush timeout '{flush_ms}' is too low")
        self.parsers = list(parsers)
        self.key_content = key_content
        self.flush_ms = flush_ms
        self.groups = {id(p): _Group() for p in self.parsers}
        self.lru: Parser | None = None
        self.out: list[dict[str, Any]] = []

    # -- flb_ml.c ---------------------------------------------------------------------------------

    def append(self, record: dict[str, Any]) -> None:
        self._append(record, text=None)

    def append_text(self, line: str) -> None:
        self._append(None, text=line)

    def feed(self, lines: Iterable[str]) -> list[dict[str, Any]]:
        for line in lines:
            if self.key_content is None:
                self.append_text(line)
            else:
                self.append({self.key_content: line})
        return self.out

    def tick(self) -> None:
        """The flush timer fired (``cb_ml_flush_timer``): flush every group, forced."""
        for parser in self.parsers:
            self._flush(parser)

    def shutdown(self) -> list[str]:
        """``cb_ml_exit`` -> ``flb_ml_destroy`` with no flush: the buffered text is lost; returned."""
        lost = [g.buf for g in self.groups.values() if g.buf]
        lost += [str(g.context[0].get(self.key_content or "log", "")) for g in self.groups.values()
                 if g.context and not g.buf]
        for group in self.groups.values():
            group.buf, group.context = "", []
        return lost

    def _append(self, record: dict[str, Any] | None, text: str | None) -> None:
        order = ([self.lru] if self.lru else []) + [p for p in self.parsers if p is not self.lru]
        for parser in order:
            if self._package_content(parser, record, text) >= 0:
                self.lru = parser
                return
        # No parser took it: flush all pending data of the stream, then the line on its own.
        for parser in self.parsers:
            self._flush(parser)
        first = self.groups[id(self.parsers[0])]
        if record is not None:
            first.context.append(dict(record))
        else:
            first.buf += text or ""
        self._flush(self.parsers[0])

    def _content(self, record: dict[str, Any] | None, text: str | None) -> str | None:
        if record is None:
            return text
        value = record.get(self.key_content) if self.key_content else None
        return value if isinstance(value, str) else None

    def _package_content(self, parser: Parser, record: dict[str, Any] | None, text: str | None) -> int:
        if record is not None and (self.key_content is None or self.key_content not in record):
            return -1  # process_append: no key_content in the map
        line = self._content(record, text)
        if line is None:
            line = ""
        group = self.groups[id(parser)]
        if self._rule_process(parser, group, line, record) == -1:
            return -1
        if not group.context and record is not None:
            group.context.append(dict(record))  # package_content re-registers after a flush
        return 0

    def _flush(self, parser: Parser) -> None:
        """``flb_ml_flush_stream_group``."""
        group = self.groups[id(parser)]
        if self.key_content is None and group.buf and not group.buf.endswith("\n"):
            group.buf += "\n"  # breakline_prepare
        if group.context:
            record = dict(group.context[0])
            if group.buf:
                record[self.key_content or "log"] = group.buf
            self.out.append(record)
            group.context = []
        elif group.buf:
            self.out.append({self.key_content or "log": group.buf})
        group.buf = ""

    # -- flb_ml_rule.c ----------------------------------------------------------------------------

    def _rule_process(self, parser: Parser, group: _Group, line: str, record: dict[str, Any] | None) -> int:
        rule: Rule | None = None
        if group.rule_to_state is not None:
            for candidate in group.rule_to_state.successors:
                if candidate.is_start:
                    continue
                if candidate.matches(line):
                    if group.buf and not group.buf.endswith("\n"):
                        group.buf += "\n"
                    group.buf += line if line else "\n"
                    rule = candidate
                    break
        if rule is None:
            rule = next((r for r in parser.rules if r.is_start and r.matches(line)), None)
            if rule is not None:
                if group.buf:
                    self._flush(parser)
                group.rule_to_state = rule
                group.buf += line
                if record is not None:
                    group.context.append(dict(record))
        if rule is None:
            return -1
        group.rule_to_state = rule
        if group.buf and any(s.is_start for s in rule.successors):
            self._flush(parser)  # try_flushing_buffer
        return 0


def contents(records: Sequence[dict[str, Any]], key: str = "log") -> list[str]:
    return [str(r.get(key, "")) for r in records]


# Fluent Bit's built-in parsers, copied rule by rule (same order) from
# src/multiline/flb_ml_parser_{java,python,go,ruby}.c. The C strings are shown unescaped.
BUILTIN_RULES: dict[str, list[tuple[str, str, str]]] = {
    "java": [
        ("start_state, java_start_exception", r"/(.)(?:Exception|Error|Throwable|V8 errors stack trace)[:\r\n]/",
         "java_after_exception"),
        ("java_after_exception", r"/^[\t ]*nested exception is:[\t ]*/", "java_start_exception"),
        ("java_after_exception", r"/^[\r\n]*$/", "java_after_exception"),
        ("java_after_exception, java", r"/^[\t ]+(?:eval )?at /", "java"),
        ("java_after_exception, java", r"/^[\t ]+--- End of inner exception stack trace ---$/", "java"),
        ("java_after_exception, java",
         r"/^--- End of stack trace from previous (?x:)location where exception was thrown ---$/", "java"),
        ("java_after_exception, java", r"/^[\t ]*(?:Caused by|Suppressed):/", "java_after_exception"),
        ("java_after_exception, java", r"/^[\t ]*... \d+ (?:more|common frames omitted)/", "java"),
    ],
    "python": [
        ("start_state", r"/^Traceback \(most recent call last\):$/", "python"),
        ("python", r"/^[\t ]+File /", "python_code"),
        ("python_code", r"/[^\t ]/", "python"),
        ("python", r"/^(?:[^\s.():]+\.)*[^\s.():]+:/", "start_state"),
    ],
    "go": [
        ("start_state", r"/\bpanic: /", "go_after_panic"),
        ("start_state", r"/http: panic serving/", "go_goroutine"),
        ("go_after_panic", r"/^$/", "go_goroutine"),
        ("go_after_panic, go_after_signal, go_frame_1", r"/^$/", "go_goroutine"),
        ("go_after_panic", r"/^\[signal /", "go_after_signal"),
        ("go_goroutine", r"/^goroutine \d+ \[[^\]]+\]:$/", "go_frame_1"),
        ("go_frame_1", r"/^(?:[^\s.:]+\.)*[^\s.():]+\(|^created by /", "go_frame_2"),
        ("go_frame_2", r"/^\s/", "go_frame_1"),
    ],
    "ruby": [
        ("start_state, ruby_start_exception", r"/^.+:\d+:in\s+.*/", "ruby_after_exception"),
        ("ruby_after_exception, ruby", r"/^\s+from\s+.*:\d+:in\s+.*/", "ruby"),
    ],
}


def builtin(name: str) -> Parser:
    return Parser.from_rules(name, BUILTIN_RULES[name])
