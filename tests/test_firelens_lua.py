"""The Lua filters (normalise.lua, route.lua) under LuaJIT, called the way Fluent Bit's lua filter calls
them: ``fn(tag, timestamp, record)`` with ``time_as_table On`` (plugins/filter_lua: return code 2 =
record changed, timestamp kept; 0 = unchanged). LuaJIT through lupa (the LuaJIT 2.1 that Fluent Bit
bundles); the same file also runs under Debian's ``luajit`` binary when it is installed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from support.fluentbit_multiline import compile_onigmo

from logpipe.config import Config
from logpipe.firelens.parse import parse_classic
from logpipe.firelens.render import DATADOG_TAG, ROUTE_MARKER, RenderedService, Section, render_service

EXCEPTION_HEADERS = Path(__file__).parent / "data" / "exception_headers.json"

DATADOG = {
    "enabled": True,
    "min_level": "WARN",
    "sample_rate": 0.1,
    "exclude": [r"GET /healthz", r"^poll(ing)? (queue|tick)"],
    "api_key_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:dd-api-key-AbCdEf",
    "tags": ["env:prod", "team:orders"],
    "max_per_second": 200,
}


def make_config(firelens: dict | None = None) -> Config:
    return Config.model_validate({"firelens": firelens or {}})


@pytest.fixture(scope="module")
def rendered_all() -> dict[str, RenderedService]:
    config = make_config({"services": {"orders": {"runtime": "java", "datadog": DATADOG}}})
    return {"orders": render_service(config, "orders")}


def sections_of(rendered: RenderedService, file: str = "fluent-bit.conf") -> list[Section]:
    return parse_classic(rendered.files[file], source=file)


def onigmo_to_python(regex: str) -> str:
    return compile_onigmo(f"/{regex}/").pattern


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
# Exception headers of every runtime the router joins: the level of the joined record

HEADER_CASES = json.loads(EXCEPTION_HEADERS.read_text(encoding="utf-8"))["cases"]


@pytest.mark.parametrize(("runtime", "text", "level"), HEADER_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(HEADER_CASES)])
def test_normalise_lua_levels_exception_headers(normalise, runtime, text, level):
    _, out = call_filter(normalise, "normalise", {"log": text, "container_name": "app"})
    assert out["level"] == level, (runtime, text)


def test_every_runtime_has_header_cases():
    runtimes = {c[0] for c in HEADER_CASES}
    assert {"java", "kotlin", "scala", "dotnet", "node", "python", "ruby", "go"} <= runtimes


def test_a_level_field_still_wins_over_the_header(normalise):
    _, out = call_filter(normalise, "normalise", {"log": "{}", "level": "warn", "msg": "TypeError: retrying"})
    assert out["level"] == "WARN"


# --------------------------------------------------------------------------------------------------
# One copy of the text to Datadog


def test_slim_for_datadog_keeps_one_copy_of_the_text(normalise, route):
    raw = '{"level":"error","msg":"payment failed","order":17}'
    record = {"log": raw, "level": "error", "msg": "payment failed", "order": 17, "container_name": "orders"}
    _, record = call_filter(normalise, "normalise", record)
    code, slim = call_filter(route, "slim_for_datadog", dict(record))
    assert code == 2
    assert "log" not in slim and "msg" not in slim
    assert slim["message"] == "payment failed" and slim["order"] == 17 and slim["level"] == "ERROR"
    # a text line: `message` is the line, `log` goes
    _, text = call_filter(normalise, "normalise", {"log": "ERROR payment failed\n", "container_name": "orders"})
    _, slim_text = call_filter(route, "slim_for_datadog", dict(text))
    assert slim_text["message"] == "ERROR payment failed" and "log" not in slim_text
    # an app field that is not the message stays
    _, other = call_filter(route, "slim_for_datadog", {"message": "a", "text": "b", "log": "x"})
    assert other["text"] == "b"
    # nothing to slim without a message
    assert call_filter(route, "slim_for_datadog", {"log": "x"})[0] == 0


def test_datadog_payload_bytes_halve(normalise, route):
    """What the datadog output would serialise (every key, plus its own dd keys) before and after."""
    sizes = []
    for i in range(50):
        line = json.dumps({"level": "error", "msg": f"payment {i} failed: provider returned 502",
                           "order": i, "trace_id": f"{i:032x}"})
        record = {"log": line, **json.loads(line), "container_name": "orders", "source": "stdout",
                  "container_id": "c" * 64, "ecs_cluster": "prod",
                  "ecs_task_arn": "arn:aws:ecs:us-east-1:123456789012:task/prod/0123456789abcdef",
                  "ecs_task_definition": "orders:7"}
        _, record = call_filter(normalise, "normalise", record)
        _, slim = call_filter(route, "slim_for_datadog", dict(record))
        sizes.append((len(json.dumps(record)), len(json.dumps(slim))))
    before, after = sum(b for b, _ in sizes), sum(a for _, a in sizes)
    assert after < before * 0.8, (before, after)
