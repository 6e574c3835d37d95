"""FireLens router: rendered configs parsed back and checked option by option, multiline rules run
over real stack traces, the Lua filters run under LuaJIT (lupa), checkov on the Dockerfile and the
task definition.

Fluent Bit itself has no package here, so each moving part is exercised on its own with the real
text we ship: the regexes of the rendered parsers, the actual .lua files, the rendered task JSON.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from logpipe.config import Config, load_config
from logpipe.errors import ConfigError, UsageError
from logpipe.firelens import options
from logpipe.firelens.parse import ConfigParseError, parse_classic, rule_fields
from logpipe.firelens.render import (
    APP_TAG_MATCH,
    DATADOG_TAG,
    ROUTE_MARKER,
    RenderedService,
    Section,
    render_service,
)

REPO = Path(__file__).resolve().parents[1]
TRACES = Path(__file__).parent / "data" / "traces"


def make_config(firelens: dict | None = None) -> Config:
    return Config.model_validate({"firelens": firelens or {}})


DATADOG = {
    "enabled": True,
    "min_level": "WARN",
    "sample_rate": 0.1,
    "exclude": [r"GET /healthz", r"^poll(ing)? (queue|tick)"],
    "api_key_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:dd-api-key-AbCdEf",
    "tags": ["env:prod", "team:orders"],
    "max_per_second": 200,
}

SERVICES = {
    "orders": {"runtime": "java", "firehose_stream": "orders-logs", "datadog": DATADOG},
    "worker": {"runtime": "python", "log_format": "text"},
    "edge": {"runtime": "go"},
    "billing": {"runtime": "dotnet", "log_format": "json"},
    "web": {"runtime": "node"},
    "misc": {"runtime": "other"},
}


@pytest.fixture(scope="module")
def rendered_all() -> dict[str, RenderedService]:
    config = make_config({"services": SERVICES})
    return {name: render_service(config, name) for name in SERVICES}


def sections_of(rendered: RenderedService, file: str = "fluent-bit.conf") -> list[Section]:
    return parse_classic(rendered.files[file], source=file)


# --------------------------------------------------------------------------------------------------
# Rendered configs parsed back; every key against the documented options of its plugin


def check_sections(sections: list[Section], file: str) -> None:
    assert sections, f"{file} has no sections"
    for section in sections:
        plugin = section.plugin()
        if section.name in ("INPUT", "FILTER", "OUTPUT"):
            assert plugin, f"{file}: [{section.name}] without Name"
        try:
            allowed = options.allowed_keys(section.name, plugin)
        except KeyError as exc:
            pytest.fail(f"{file}: [{section.name}] Name {plugin}: no documented options in the table ({exc})")
        for key, value in section.entries:
            assert key.lower() in allowed, f"{file}: [{section.name}] {plugin}: undocumented key {key!r}"
            assert value.strip(), f"{file}: [{section.name}] {plugin}: empty value for {key!r}"
            enum = options.ENUM_VALUES.get(((plugin or "").lower(), key.lower()))
            if enum is not None:
                assert value.lower() in enum, f"{file}: {plugin}.{key} = {value!r}, expected one of {sorted(enum)}"
        if section.name in ("FILTER", "OUTPUT"):
            assert any(k.lower() in ("match", "match_regex") for k, _ in section.entries), \
                f"{file}: [{section.name}] {plugin} has no Match"


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_key_of_every_section_is_documented(rendered_all, service):
    rendered = rendered_all[service]
    for file in ("fluent-bit.conf", "parsers.conf", "parsers_multiline.conf"):
        check_sections(sections_of(rendered, file), file)


def test_the_option_check_catches_a_misspelt_key():
    bad = parse_classic("[OUTPUT]\n    Name kinesis_firehose\n    Match *\n    deliverystream x\n")
    with pytest.raises(AssertionError, match="undocumented key 'deliverystream'"):
        check_sections(bad, "bad.conf")
    with pytest.raises(AssertionError, match="expected one of"):
        check_sections(parse_classic("[FILTER]\n  Name multiline\n  Match *\n  mode partial\n"), "bad.conf")


def test_parser_rejects_what_fluent_bit_rejects():
    with pytest.raises(ConfigParseError, match="indented"):
        parse_classic("Name x\n")
    with pytest.raises(ConfigParseError, match="inconsistent indentation"):
        parse_classic("[FILTER]\n    Name grep\n  Match *\n")
    with pytest.raises(ConfigParseError, match="no value"):
        parse_classic("[FILTER]\n    Name\n")
    with pytest.raises(ConfigParseError, match="three double-quoted"):
        rule_fields('"start_state" "/a/"')


def test_parsers_and_multiline_files_define_what_the_main_config_uses(rendered_all):
    for rendered in rendered_all.values():
        main = sections_of(rendered)
        parsers = {s.plugin() for s in sections_of(rendered, "parsers.conf")}
        ml_parsers = {s.plugin() for s in sections_of(rendered, "parsers_multiline.conf")}
        for section in main:
            values = {k.lower(): v for k, v in section.entries}
            if section.plugin() == "parser":
                assert values["parser"] in parsers
            for name in values.get("multiline.parser", "").split(","):
                if name:
                    assert name in ml_parsers | options.BUILTIN_MULTILINE_PARSERS, name
        service = next(s for s in main if s.name == "SERVICE")
        files = [v for k, v in service.entries if k.lower() == "parsers_file"]
        assert [Path(f).name for f in files] == ["parsers.conf", "parsers_multiline.conf"]
        lua_scripts = [dict((k.lower(), v) for k, v in s.entries)["script"] for s in main if s.plugin() == "lua"]
        for script in lua_scripts:
            assert Path(script).name in rendered.files, f"{script} is referenced but not rendered"


def test_pipeline_order_and_routing(rendered_all):
    main = sections_of(rendered_all["orders"])
    names = [(s.name, s.plugin()) for s in main]
    filters = [p for kind, p in names if kind == "FILTER"]
    # multiline first (partial messages, then traces): anything before them would run twice
    assert filters[:2] == ["multiline", "multiline"]
    first, second = ({k.lower(): v for k, v in s.entries} for s in main if s.plugin() == "multiline")
    assert first["mode"] == "partial_message" and "multiline.parser" not in first
    assert second["multiline.parser"] == "java"
    assert filters.index("parser") < filters.index("lua") < filters.index("rewrite_tag")
    outputs = {s.plugin(): {k.lower(): v for k, v in s.entries} for s in main if s.name == "OUTPUT"}
    firehose, datadog = outputs["kinesis_firehose"], outputs["datadog"]
    assert firehose["match"] == APP_TAG_MATCH and firehose["delivery_stream"] == "orders-logs"
    assert firehose["simple_aggregation"] == "On"
    assert datadog["match"] == DATADOG_TAG
    # the Datadog copy stream must not also match the Firehose pattern (it would be stored twice)
    assert not fnmatch_tag(APP_TAG_MATCH, DATADOG_TAG)
    assert fnmatch_tag(APP_TAG_MATCH, "orders-firelens-0123456789abcdef")
    assert datadog["apikey"] == "${DD_API_KEY}"
    assert datadog["host"] == "http-intake.logs.datadoghq.com" and datadog["tls"] == "On"
    assert datadog["dd_tags"] == "env:prod,team:orders"
    grep = next(s for s in main if s.plugin() == "grep")
    assert [v for k, v in grep.entries if k == "Exclude"] == [f"message {p}" for p in DATADOG["exclude"]]
    throttle = {k.lower(): v for k, v in next(s for s in main if s.plugin() == "throttle").entries}
    assert throttle["rate"] == "200"


def fnmatch_tag(pattern: str, tag: str) -> bool:
    """Fluent Bit's Match: '*' matches any run of characters (dots included)."""
    return re.fullmatch(".*".join(re.escape(p) for p in pattern.split("*")), tag) is not None


def test_no_buffering_in_memory_only(rendered_all):
    """Every emitter buffers on disk; storage has a path and each output a disk limit."""
    main = sections_of(rendered_all["orders"])
    service = {k.lower(): v for k, v in main[0].entries}
    assert main[0].name == "SERVICE" and service["storage.path"].startswith("/")
    assert 1 <= int(service["grace"]) < 120
    for section in main:
        values = {k.lower(): v for k, v in section.entries}
        if section.plugin() in ("multiline", "rewrite_tag"):
            assert values["emitter_storage.type"] == "filesystem"
        if section.name == "OUTPUT":
            assert "storage.total_limit_size" in values and int(values["retry_limit"]) >= 1


def test_text_services_skip_the_json_parser_and_no_datadog_by_default(rendered_all):
    worker = sections_of(rendered_all["worker"])
    assert "parser" not in [s.plugin() for s in worker]
    assert "datadog" not in [s.plugin() for s in worker]
    assert "route.lua" not in rendered_all["worker"].files
    assert {k: v for k, v in worker[1].entries}["mode"] == "partial_message"


def test_secret_never_in_rendered_files(rendered_all):
    rendered = rendered_all["orders"]
    task = json.loads(rendered.files["task-definition.json"])
    router = task["containerDefinitions"][0]
    assert router["secrets"] == [{"name": "DD_API_KEY", "valueFrom": DATADOG["api_key_secret_arn"]}]
    for name, text in rendered.files.items():
        if name != "task-definition.json":
            assert "secretsmanager" not in text and "AbCdEf" not in text, name


def test_task_definition_snippet(rendered_all):
    task = json.loads(rendered_all["edge"].files["task-definition.json"])
    router, app = task["containerDefinitions"]
    assert router["name"] == "log_router" and router["essential"] is True
    assert router["firelensConfiguration"] == {
        "type": "fluentbit",
        "options": {"enable-ecs-log-metadata": "true", "config-file-type": "file",
                    "config-file-value": "/fluent-bit/etc/logpipe/fluent-bit.conf"},
    }
    assert router["memoryReservation"] == 256 and "memory" not in router
    assert router["healthCheck"]["command"][0] == "CMD-SHELL"
    assert "/api/v1/uptime" in router["healthCheck"]["command"][1]
    assert "secrets" not in router
    assert app["logConfiguration"] == {"logDriver": "awsfirelens"}
    assert app["dependsOn"] == [{"containerName": "log_router", "condition": "START"}]


def test_unknown_service_lists_known_ones_and_defaults_without_services():
    config = make_config({"services": SERVICES})
    with pytest.raises(UsageError, match=r"unknown service 'nope'.*billing, edge, misc, orders, web, worker"):
        render_service(config, "nope")
    rendered = render_service(make_config(), "anything")
    assert "logpipe-logs" in rendered.files["fluent-bit.conf"]
    with pytest.raises(UsageError, match="not a service name"):
        render_service(make_config(), "a b")
    no_key = make_config({"datadog": {"enabled": True}})
    with pytest.raises(ConfigError, match="api_key_secret_arn"):
        render_service(no_key, "x")


def test_committed_firelens_folder_matches_the_renderer():
    """firelens/ is the rendering for the example service 'app' with the embedded default config."""
    rendered = render_service(load_config(environ={}), "app")
    for name, text in rendered.files.items():
        committed = REPO / "firelens" / name
        assert committed.exists(), f"firelens/{name} missing: run logpipe firelens render --service app --out firelens"
        assert committed.read_text(encoding="utf-8") == text, \
            f"firelens/{name} is stale: run logpipe firelens render --service app --out firelens"


def test_cli_render(tmp_path, monkeypatch):
    from logpipe.cli import cli

    config_file = tmp_path / "logpipe.toml"
    config_file.write_text(
        '[firelens.services.orders]\nruntime = "java"\n[firelens.services.worker]\nruntime = "python"\n')
    runner = CliRunner()
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli, ["--config", str(config_file), "firelens", "render", "--service", "orders"])
    assert result.exit_code == 0, result.output
    assert "firelens-out/orders/fluent-bit.conf" in result.output
    assert (tmp_path / "firelens-out" / "orders" / "task-definition.json").exists()
    result = runner.invoke(cli, ["--config", str(config_file), "firelens", "render", "--all", "--out", "o"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["orders", "worker"]
    result = runner.invoke(cli, ["--config", str(config_file), "firelens", "render", "--service", "nope"])
    assert result.exit_code != 0 and isinstance(result.exception, UsageError)
    assert "orders, worker" in str(result.exception)
    assert not (tmp_path / "firelens-out" / "nope").exists()


# --------------------------------------------------------------------------------------------------
# Multiline rules over real stack traces (Fluent Bit's rule engine, re-implemented faithfully)

# Fluent Bit's built-in rules, copied from src/multiline/flb_ml_parser_{java,go}.c (Onigmo syntax).
BUILTIN_RULES: dict[str, list[tuple[str, str, str]]] = {
    "java": [
        ("start_state, java_start_exception", r"(.)(?:Exception|Error|Throwable|V8 errors stack trace)[:\r\n]",
         "java_after_exception"),
        ("java_after_exception", r"^[\t ]*nested exception is:[\t ]*", "java_start_exception"),
        ("java_after_exception", r"^[\r\n]*$", "java_after_exception"),
        ("java_after_exception, java", r"^[\t ]+(?:eval )?at ", "java"),
        ("java_after_exception, java", r"^[\t ]+--- End of inner exception stack trace ---$", "java"),
        ("java_after_exception, java", r"^--- End of stack trace from previous (?x:)location where exception was thrown ---$",
         "java"),
        ("java_after_exception, java", r"^[\t ]*(?:Caused by|Suppressed):", "java_after_exception"),
        ("java_after_exception, java", r"^[\t ]*... \d+ (?:more|common frames omitted)", "java"),
    ],
    "go": [
        ("start_state", r"\bpanic: ", "go_after_panic"),
        ("start_state", r"http: panic serving", "go_goroutine"),
        ("go_after_panic", r"^$", "go_goroutine"),
        ("go_after_panic, go_after_signal, go_frame_1", r"^$", "go_goroutine"),
        ("go_after_panic", r"^\[signal ", "go_after_signal"),
        ("go_goroutine", r"^goroutine \d+ \[[^\]]+\]:$", "go_frame_1"),
        ("go_frame_1", r"^(?:[^\s.:]+\.)*[^\s.():]+\(|^created by ", "go_frame_2"),
        ("go_frame_2", r"^\s", "go_frame_1"),
    ],
}


def onigmo_to_python(regex: str) -> str:
    """The few Onigmo spellings Python's re spells differently."""
    regex = re.sub(r"\(\?<([A-Za-z_]\w*)>", r"(?P<\1>", regex)
    return regex.replace(r"\h", "[0-9a-fA-F]").replace(r"\z", r"\Z")


@dataclass(frozen=True)
class Rule:
    from_states: frozenset[str]
    regex: re.Pattern[str]
    to_state: str

    @property
    def is_start(self) -> bool:
        return "start_state" in self.from_states


def compile_rules(rules: list[tuple[str, str, str]]) -> list[Rule]:
    return [Rule(frozenset(s.strip() for s in states.split(",")), re.compile(onigmo_to_python(regex)), to)
            for states, regex, to in rules]


def rules_from_conf(text: str, parser_name: str) -> list[Rule]:
    for section in parse_classic(text):
        if section.name == "MULTILINE_PARSER" and section.plugin() == parser_name:
            values = {k.lower(): v for k, v in section.entries}
            assert values["type"] == "regex"
            return compile_rules([rule_fields(v) for k, v in section.entries if k.lower() == "rule"])
    raise AssertionError(f"no [MULTILINE_PARSER] {parser_name}")


def join_lines(rules: list[Rule], lines: list[str]) -> list[str]:
    """Fluent Bit's flb_ml_rule_process: continue with a matching non-start rule reachable from the
    current state, else start with a start rule, else flush and pass the line alone. A rule whose
    next state can start a new record ends the current one."""
    out: list[str] = []
    buffer: str | None = None
    current: Rule | None = None
    for line in lines:
        matched = None
        if current is not None:
            for rule in rules:
                if current.to_state in rule.from_states and not rule.is_start and rule.regex.search(line):
                    buffer = (buffer or "") + "\n" + line
                    matched = rule
                    break
        if matched is None:
            for rule in rules:
                if rule.is_start and rule.regex.search(line):
                    if buffer is not None:
                        out.append(buffer)
                    buffer, matched = line, rule
                    break
        if matched is not None:
            current = matched
            if any(matched.to_state in r.from_states and r.is_start for r in rules):
                out.append(buffer or "")
                buffer, current = None, None
            continue
        if buffer is not None:
            out.append(buffer)
        buffer, current = None, None
        out.append(line)
    if buffer is not None:
        out.append(buffer)
    return out


def expected_records(name: str) -> list[str]:
    text = (TRACES / name).read_text(encoding="utf-8")
    return [block.strip("\n") if block.strip() else block for block in text.split("#---\n")]


@pytest.mark.parametrize(("runtime", "trace_file"), [
    ("java", "java.log"), ("python", "python.log"), ("go", "go.log"), ("dotnet", "dotnet.log"),
    ("node", "java.log"),
])
def test_multiline_rules_join_each_trace_and_nothing_else(rendered_all, runtime, trace_file):
    service = next(name for name, s in SERVICES.items() if s["runtime"] == runtime)
    rendered = rendered_all[service]
    filters = [dict((k.lower(), v) for k, v in s.entries) for s in sections_of(rendered) if s.plugin() == "multiline"]
    (parser_name,) = [f["multiline.parser"] for f in filters if "multiline.parser" in f]
    if parser_name in BUILTIN_RULES:
        rules = compile_rules(BUILTIN_RULES[parser_name])
    else:
        rules = rules_from_conf(rendered.files["parsers_multiline.conf"], parser_name)
    records = expected_records(trace_file)
    lines = "\n".join(records).split("\n")
    assert join_lines(rules, lines) == records
    assert any("\n" in r for r in records) and any("\n" not in r for r in records)


def test_the_join_emulator_can_fail():
    """Without the caret rule, a Python 3.11+ traceback is cut at the caret line."""
    rules = compile_rules([
        ("start_state", r"^Traceback \(most recent call last\):$", "python"),
        ("python", r"^[\t ]+File ", "python_code"),
        ("python_code", r"[^\t ]", "python"),
        ("python", r"^(?:[^\s.():]+\.)*[^\s.():]+:", "start_state"),
    ])
    records = expected_records("python.log")
    assert join_lines(rules, "\n".join(records).split("\n")) != records


def test_every_rendered_regex_compiles_in_python(rendered_all):
    rendered = rendered_all["misc"]
    for section in sections_of(rendered, "parsers.conf"):
        values = {k.lower(): v for k, v in section.entries}
        if values["format"] == "regex":
            regex = re.compile(onigmo_to_python(values["regex"]))
            match = regex.match("2024-05-01T12:00:00.123Z ERROR [main] c.e.Orders - payment failed")
            assert match and match["level"] == "ERROR" and match["message"] == "[main] c.e.Orders - payment failed"
            assert regex.match("payment failed") is None
    for name in ("multiline-dotnet", "multiline-python"):
        assert rules_from_conf(rendered.files["parsers_multiline.conf"], name)


# --------------------------------------------------------------------------------------------------
# Lua filters under LuaJIT (lupa), called the way Fluent Bit calls them


@pytest.fixture(scope="module")
def lua():
    lupa = pytest.importorskip("lupa")
    try:
        from lupa import luajit21 as flavour
    except ImportError:  # pragma: no cover - lupa built without LuaJIT
        flavour = lupa
    return flavour


def load_lua(lua, text: str):
    runtime = lua.LuaRuntime(unpack_returned_tuples=True)
    runtime.execute(text)
    return runtime


def call_filter(runtime, function: str, record: dict, sec: int = 1714564800, nsec: int = 250_000_000,
                tag: str = "app-firelens-0123abcd"):
    ts = runtime.table_from({"sec": sec, "nsec": nsec})
    code, _ts, out = runtime.globals()[function](tag, ts, runtime.table_from(record))
    return code, (dict(out.items()) if out is not None else None)


@pytest.fixture(scope="module")
def normalise(lua, rendered_all):
    runtime = load_lua(lua, rendered_all["orders"].files["normalise.lua"])
    return runtime


@pytest.mark.parametrize(("record", "expected"), [
    # JSON app log merged by the parser filter: its fields win
    ({"log": '{"level":"warning","msg":"disk 91%","time":"2024-05-01T14:30:00.5+02:00"}', "level": "warning",
      "msg": "disk 91%", "time": "2024-05-01T14:30:00.5+02:00", "container_name": "orders"},
     {"level": "WARN", "message": "disk 91%", "time": "2024-05-01T12:30:00.500Z", "service": "orders"}),
    # pino numbers, epoch milliseconds, service set by the app
    ({"log": "{}", "level": 50, "time": 1714564800123, "msg": "boom", "service": "payments",
      "container_name": "app"},
     {"level": "ERROR", "message": "boom", "time": "2024-05-01T12:00:00.123Z", "service": "payments"}),
    # plain text: level from the words, time from the router, service from the ECS-on-EC2 name
    ({"log": "2024-05-01 12:00:01 ERROR [main] payment failed\n",
      "container_name": "/ecs-orders-task-7-orders-e4c3b2a1f0d9c8b7a601"},
     {"level": "ERROR", "message": "2024-05-01 12:00:01 ERROR [main] payment failed",
      "time": "2024-05-01T12:00:00.250Z", "service": "orders"}),
    ({"log": "panic: runtime error: index out of range [5] with length 3\n\ngoroutine 1 [running]:",
      "container_name": "edge"},
     {"level": "FATAL", "service": "edge"}),
    ({"log": "Traceback (most recent call last):\n  File \"x.py\", line 1\nKeyError: 'a'", "container_name": "w"},
     {"level": "ERROR"}),
    ({"log": "listening on :8080", "container_name": "edge"}, {"level": "INFO", "message": "listening on :8080"}),
    # Serilog compact JSON, epoch seconds with a fraction, a Z time in a leap year
    ({"log": "{}", "@l": "Fatal", "@m": "crashed", "@t": "2024-02-29T23:59:59.999Z"},
     {"level": "FATAL", "message": "crashed", "time": "2024-02-29T23:59:59.999Z"}),
    ({"log": "{}", "severity": "CRITICAL", "timestamp": 1714564800.5}, {"level": "FATAL",
                                                                          "time": "2024-05-01T12:00:00.500Z"}),
    # an unparseable app time: router time, the original kept
    ({"log": "{}", "level": "info", "time": "yesterday"},
     {"level": "INFO", "time": "2024-05-01T12:00:00.250Z", "time_original": "yesterday"}),
    # negative offset across midnight and a year boundary
    ({"log": "{}", "level": "debug", "time": "2023-12-31T22:15:00-05:00"},
     {"level": "DEBUG", "time": "2024-01-01T03:15:00.000Z"}),
])
def test_normalise_lua(normalise, record, expected):
    code, out = call_filter(normalise, "normalise", record)
    assert code == 2
    for key, value in expected.items():
        assert out[key] == value, (key, out)
    assert out["log"] == record["log"], "the raw line is kept"
    assert out["level"] in ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")


def test_normalise_lua_time_matches_python_over_many_instants(normalise):
    from datetime import UTC, datetime, timedelta

    start = datetime(1999, 12, 31, 23, 0, tzinfo=UTC)
    for step in range(0, 400 * 24 * 3600 * 30, 7 * 24 * 3600 + 3671):  # ~30 years, odd stride
        moment = start + timedelta(seconds=step)
        _, out = call_filter(normalise, "normalise", {"log": "x"}, sec=int(moment.timestamp()), nsec=7_000_000)
        assert out["time"] == moment.strftime("%Y-%m-%dT%H:%M:%S") + ".007Z"


@pytest.fixture(scope="module")
def route(lua, rendered_all):
    return load_lua(lua, rendered_all["orders"].files["route.lua"])


def test_route_lua_marks_what_goes_to_datadog(route, normalise):
    for level, always in (("WARN", True), ("ERROR", True), ("FATAL", True)):
        code, out = call_filter(route, "route_datadog", {"level": level, "message": "m"})
        assert always and code == 2 and out[ROUTE_MARKER] == "1"
    marked = 0
    for _ in range(5000):
        code, out = call_filter(route, "route_datadog", {"level": "INFO", "message": "m"})
        if code == 2:
            assert out[ROUTE_MARKER] == "1"
            marked += 1
        else:
            assert code == 0 and ROUTE_MARKER not in out
    assert 400 <= marked <= 600, marked  # sample_rate 0.1 of 5000, +-4.7 sigma


def test_route_lua_without_sampling_drops_everything_below_min_level(lua):
    config = make_config({"datadog": {**DATADOG, "sample_rate": 0.0, "min_level": "ERROR"}})
    runtime = load_lua(lua, render_service(config, "x").files["route.lua"])
    assert [call_filter(runtime, "route_datadog", {"level": lvl})[0] for lvl in
            ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")] == [0, 0, 0, 0, 2, 2]


def test_datadog_stream_end_to_end(rendered_all, normalise, route):
    """normalise -> route -> rewrite_tag rule -> grep Exclude, with the rendered values."""
    main = sections_of(rendered_all["orders"])
    rule_key, rule_regex, new_tag, keep = dict(next(s for s in main if s.plugin() == "rewrite_tag").entries)["Rule"].split()
    excludes = [v.split(" ", 1) for k, v in next(s for s in main if s.plugin() == "grep").entries if k == "Exclude"]
    lines = [
        '{"level":"error","msg":"payment failed"}',
        '{"level":"warn","msg":"GET /healthz took 2s"}',
        '{"level":"error","msg":"polling queue failed"}',
        '{"level":"debug","msg":"cache hit"}',
    ]
    to_datadog, to_firehose = [], []
    for line in lines:
        record = {"log": line, **json.loads(line), "container_name": "orders"}
        _, record = call_filter(normalise, "normalise", record)
        code, routed = call_filter(route, "route_datadog", record)
        record = routed if code == 2 else record
        value = record.get(rule_key.lstrip("$"))
        if isinstance(value, str) and re.search(onigmo_to_python(rule_regex), value):
            copy = {k: v for k, v in record.items() if k != ROUTE_MARKER}
            if not any(re.search(onigmo_to_python(rx), str(copy.get(key, ""))) for key, rx in excludes):
                to_datadog.append(copy["message"])
        if keep == "true":
            to_firehose.append(record)
    assert new_tag == DATADOG_TAG
    assert to_datadog[0] == "payment failed" and "GET /healthz took 2s" not in to_datadog
    assert "polling queue failed" not in to_datadog
    assert len(to_firehose) == 4


@pytest.mark.skipif(shutil.which("luajit") is None, reason="luajit binary not on PATH (lupa covers LuaJIT)")
def test_normalise_lua_under_the_luajit_binary(tmp_path, rendered_all):
    script = tmp_path / "run.lua"
    (tmp_path / "normalise.lua").write_text(rendered_all["orders"].files["normalise.lua"])
    script.write_text(
        'dofile("normalise.lua")\n'
        'local code, ts, r = normalise("t", {sec = 1714564800, nsec = 0}, '
        '{log = "x ERROR y", container_name = "/ecs-f-1-api-abcdef0123456789"})\n'
        'print(code, r.level, r.service, r.time)\n')
    out = subprocess.run(["luajit", str(script)], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["2", "ERROR", "api", "2024-05-01T12:00:00.000Z"]


# --------------------------------------------------------------------------------------------------
# checkov on the Dockerfile and the task definition (as a CloudFormation resource)

# Checks that do not fit a FireLens router, with the reason.
ACCEPTED_TASK_CHECKS = {
    # Fluent Bit writes its filesystem buffer and FireLens's unix socket: not a read-only root.
    "CKV_AWS_336",
}


def _cfn_keys(value, key: str = ""):
    """ECS JSON (camelCase) to CloudFormation properties (PascalCase); option maps keep their keys."""
    if isinstance(value, dict):
        if key in ("options", "Options"):
            return dict(value)
        return {k[0].upper() + k[1:]: _cfn_keys(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_cfn_keys(v, key) for v in value]
    return value


@pytest.mark.slow
def test_checkov_dockerfile(tmp_path):
    from support.checkov import failed_checks, run_checkov

    report = run_checkov(REPO / "firelens" / "Dockerfile", "dockerfile")
    assert report["summary"]["passed"] > 0
    assert failed_checks(report) == []


@pytest.mark.slow
def test_checkov_task_definition(tmp_path, rendered_all):
    from support.checkov import failed_checks, run_checkov

    task = _cfn_keys(json.loads(rendered_all["orders"].files["task-definition.json"]))
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {"RouterTask": {"Type": "AWS::ECS::TaskDefinition", "Properties": {
            **task,
            "ExecutionRoleArn": "arn:aws:iam::123456789012:role/exec",
            "TaskRoleArn": "arn:aws:iam::123456789012:role/task",
        }}},
    }
    path = tmp_path / "task.json"
    path.write_text(json.dumps(template))
    report = run_checkov(path, "cloudformation")
    assert report["summary"]["passed"] > 0
    failed = [line for line in failed_checks(report) if line.split()[0] not in ACCEPTED_TASK_CHECKS]
    assert failed == []
