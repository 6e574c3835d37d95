"""Stack-trace joining: the rendered multiline rules run through a model of Fluent Bit's engine.

The model (``support.fluentbit_multiline``) is checked first against Fluent Bit's own test cases
(``tests/internal/multiline.c``, copied into ``data/fluentbit/multiline_cases.json``) and against what a
real Fluent Bit 5.1.1 did with the built-in ``python`` parser (the last line of a traceback emitted
twice). Only then are our rules run through it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.fluentbit_multiline import (
    BUILTIN_RULES,
    Engine,
    Parser,
    RuleError,
    builtin,
    contents,
)

from logpipe.config import Config
from logpipe.firelens.parse import parse_classic, rule_fields
from logpipe.firelens.render import MULTILINE_PARSERS, render_service

DATA = Path(__file__).parent / "data"
TRACES = DATA / "traces"
FLUENT_BIT_CASES = json.loads((DATA / "fluentbit" / "multiline_cases.json").read_text(encoding="utf-8"))


def rendered_parsers() -> dict[str, Parser]:
    """Every [MULTILINE_PARSER] of the rendered parsers_multiline.conf, plus the built-ins we use."""
    text = render_service(Config.model_validate({}), "app").files["parsers_multiline.conf"]
    parsers = {}
    for section in parse_classic(text):
        values = {k.lower(): v for k, v in section.entries}
        assert values["type"] == "regex"
        rules = [rule_fields(v) for k, v in section.entries if k.lower() == "rule"]
        parsers[values["name"]] = Parser.from_rules(values["name"], [(s, f"/{r}/", t) for s, r, t in rules])
    for name in ("go", "ruby"):
        parsers[name] = builtin(name)
    return parsers


PARSERS = rendered_parsers()


def engine_for(runtime: str, flush_ms: int = 1000) -> Engine:
    return Engine([PARSERS[name] for name in MULTILINE_PARSERS[runtime]], key_content="log", flush_ms=flush_ms)


def join(runtime: str, lines: list[str]) -> list[str]:
    """Lines as FireLens delivers them (one record each, no trailing newline), then the timer fires."""
    engine = engine_for(runtime)
    for line in lines:
        engine.append({"log": line, "container_name": "app", "source": "stdout"})
    engine.tick()
    return contents(engine.out)


def expected_records(name: str) -> list[str]:
    text = (TRACES / name).read_text(encoding="utf-8")
    return [block.strip("\n") if block.strip() else block for block in text.split("#---\n")]


# -- the model against Fluent Bit's own tests and behaviour ------------------------------------------

@pytest.mark.parametrize("case", FLUENT_BIT_CASES["cases"], ids=lambda c: c["name"])
def test_model_reproduces_fluent_bits_own_test_cases(case):
    parser = (Parser.from_rules(case["parser"], [tuple(r) for r in case["rules"]]) if "rules" in case
              else builtin(case["parser"]))
    if case["api"] == "object":
        engine = Engine([parser], key_content="log")
        for line in case["input"]:
            engine.append({"log": line})
    else:
        engine = Engine([parser], key_content=None)
        for line in case["input"]:
            engine.append_text(line)
    assert contents(engine.out) == case["output"]


def test_model_shows_the_builtin_python_parser_emitting_the_last_line_twice():
    """What Fluent Bit 5.1.1 did under the filter (records, not text): the joined traceback, then the
    exception line again on its own when the next line (or the timer) flushes."""
    lines = ["Traceback (most recent call last):", '  File "/app/api.py", line 18, in process',
             '    return payload["items"][0]', "KeyError: 'items'", "INFO request finished"]
    engine = Engine([builtin("python")], key_content="log")
    for line in lines:
        engine.append({"log": line, "source": "stderr"})
    assert contents(engine.out) == ["\n".join(lines[:4]), "KeyError: 'items'", "INFO request finished"]
    # the duplicate carries the exception line's whole record, as a real record would
    assert engine.out[1] == {"log": "KeyError: 'items'", "source": "stderr"}
    # ... and with the timer instead of a next line
    engine = Engine([builtin("python")], key_content="log")
    for line in lines[:4]:
        engine.append({"log": line})
    engine.tick()
    assert contents(engine.out) == ["\n".join(lines[:4]), "KeyError: 'items'"]
    assert [r.to_state for r in builtin("python").re_emitting_rules()] == ["start_state"]
    assert [r.to_state for r in builtin("java").re_emitting_rules()] == ["java_start_exception"]


def test_model_keeps_fluent_bits_quirks():
    # a line no rule takes, inside a trace: the trace so far is flushed, the line goes alone, and the
    # remembered state lets the rest of the trace continue as a second record
    rules = [("start_state", "/^Start/", "cont"), ("cont", "/^ /", "cont")]
    engine = Engine([Parser.from_rules("t", rules)], key_content="log")
    for line in ["Start", " a", "other", " b"]:
        engine.append({"log": line})
    engine.tick()
    assert contents(engine.out) == ["Start\n a", "other", " b"]
    # a start line during a trace that cannot continue starts a new record
    engine = Engine([Parser.from_rules("t", rules)], key_content="log")
    for line in ["Start", " a", "Start", " b"]:
        engine.append({"log": line})
    engine.tick()
    assert contents(engine.out) == ["Start\n a", "Start\n b"]
    # what Fluent Bit refuses at start-up
    with pytest.raises(RuleError, match="not registered"):
        Parser.from_rules("t", [("start_state", "/a/", "nowhere")])
    with pytest.raises(RuleError, match="too low"):
        Engine([Parser.from_rules("t", rules)], flush_ms=499)
    with pytest.raises(RuleError, match="no options"):
        Parser.from_rules("t", [("start_state", "/a/i", "start_state")])


def test_model_loses_what_is_buffered_at_shutdown():
    """cb_ml_exit destroys the engine without a flush (fluent/fluent-bit#4918)."""
    engine = engine_for("python")
    for line in ["Traceback (most recent call last):", '  File "x.py", line 1, in <module>', "    f()",
                 "ValueError: boom"]:
        engine.append({"log": line})
    assert engine.out == []
    assert engine.shutdown() == ['Traceback (most recent call last):\n  File "x.py", line 1, in <module>\n'
                                 "    f()\nValueError: boom"]


# -- our rules ---------------------------------------------------------------------------------------

def test_no_rendered_rule_re_emits_a_line():
    """No rule moves to a state a start rule lists (flb_ml_rule.c try_flushing_buffer)."""
    for runtime, names in MULTILINE_PARSERS.items():
        for name in names:
            assert PARSERS[name].re_emitting_rules() == [], (runtime, name)


def test_every_rendered_parser_is_ours_or_a_builtin():
    for names in MULTILINE_PARSERS.values():
        for name in names:
            assert name in PARSERS, name
            assert name in BUILTIN_RULES or name.startswith("multiline-"), name


@pytest.mark.parametrize(("runtime", "trace_file"), [
    ("java", "java.log"), ("node", "node.log"), ("python", "python.log"), ("go", "go.log"),
    ("dotnet", "dotnet.log"), ("ruby", "ruby.log"),
    ("other", "java.log"), ("other", "python.log"), ("other", "go.log"), ("other", "ruby.log"),
    ("other", "dotnet.log"), ("other", "node.log"),
])
def test_rules_join_each_trace_once_and_nothing_else(runtime, trace_file):
    records = expected_records(trace_file)
    lines = "\n".join(records).split("\n")
    assert join(runtime, lines) == records
    assert any("\n" in r for r in records) and any("\n" not in r for r in records)


def test_the_last_line_of_a_python_traceback_is_not_doubled():
    lines = ["Traceback (most recent call last):", '  File "/app/orders/api.py", line 18, in process',
             '    return payload["items"][0]', "KeyError: 'items'", "INFO:orders.api:request finished"]
    assert join("python", lines) == ["\n".join(lines[:4]), lines[4]]
    assert join("python", lines[:4]) == ["\n".join(lines[:4])]  # the timer ends the last trace


def test_a_trace_is_held_until_its_next_line_or_flush_ms():
    """The price of never re-emitting: the record leaves at the next line, or at the timer."""
    engine = engine_for("java")
    engine.append({"log": "java.lang.IllegalStateException: boom"})
    engine.append({"log": "\tat a.B.c(B.java:1)"})
    assert engine.out == []
    engine.tick()
    assert contents(engine.out) == ["java.lang.IllegalStateException: boom\n\tat a.B.c(B.java:1)"]


def test_the_join_model_can_fail():
    """Without the caret rule a Python 3.11+ traceback is cut at the caret line."""
    rules = [r for r in BUILTIN_RULES["python"][:3]] + [
        ("python", r"/^(?:[^\s.():]+\.)*[^\s.():]+:/", "python_exception"),
        ("python_exception", "/^$/", "python_exception")]
    records = expected_records("python.log")
    engine = Engine([Parser.from_rules("p", rules)], key_content="log")
    for line in "\n".join(records).split("\n"):
        engine.append({"log": line})
    engine.tick()
    assert contents(engine.out) != records


def test_rendered_flush_ms_is_what_fluent_bit_accepts():
    for ms in (500, 1000, 10000):
        config = Config.model_validate({"firelens": {"multiline_flush_ms": ms}})
        text = render_service(config, "app").files["fluent-bit.conf"]
        flushes = [v for s in parse_classic(text) if s.plugin() == "multiline"
                   for k, v in s.entries if k.lower() == "flush_ms"]
        assert flushes == [str(ms), str(ms)]
        Engine([PARSERS["multiline-python"]], flush_ms=int(flushes[1]))
    with pytest.raises(ValueError, match="greater than or equal to 500"):
        Config.model_validate({"firelens": {"multiline_flush_ms": 400}})
