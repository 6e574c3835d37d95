"""The simulator writes what the rest of logpipe is tested and demonstrated on: check the records are
what the contract says, that bad ones are there and counted, and that the deploy story holds."""

from __future__ import annotations

import gzip
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from logpipe.config import StoreConfig
from logpipe.errors import UsageError
from logpipe.layout import Layout
from logpipe.schema import ROUTER_KEYS
from logpipe.simulate import SimulationSummary, simulate
from logpipe.store import ReadStats, Store

START = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
END = START + timedelta(hours=2)
SERVICES = {"api-gateway", "checkout", "orders", "payments", "inventory"}
ISO_MS_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
KEY_RE = re.compile(r"^logs/dt=\d{4}-\d{2}-\d{2}/hour=\d{2}/[^/]+\.gz$")
# How the ``logs`` view derives service from container_name (logpipe.schema.LOGS_VIEW_SQL).
CONTAINER_SERVICE = re.compile(r"^(ecs-)?([A-Za-z0-9_.-]+?)(-[0-9]+)?(-[a-f0-9]{16,})?$")


def _store(root: Path, prefix: str = "logs") -> Store:
    return Store(StoreConfig(root=str(root), prefix=prefix, cache_dir=str(root / "cache")))


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.gz"))}


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, SimulationSummary, list[dict[str, Any]]]:
    """Two hours at a low rate with many bad records: the shared material of most tests."""
    root = tmp_path_factory.mktemp("sim")
    store = _store(root)
    summary = simulate(store, START, END, seed=7, rate=0.05, bad_rate=0.02)
    records = [record for _, record in store.iter_records(store.list_objects(START, END))]
    return store, summary, records


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    window = (START, START + timedelta(minutes=70))
    simulate(_store(tmp_path / "a"), *window, seed=3, rate=0.03)
    simulate(_store(tmp_path / "b"), *window, seed=3, rate=0.03)
    simulate(_store(tmp_path / "c"), *window, seed=4, rate=0.03)
    a, b, c = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert a and a == b
    assert a.keys() == c.keys()  # same layout and object names...
    assert all(a[key] != c[key] for key in a)  # ...different content


def test_objects_are_gzip_json_lines_in_the_layout(simulated: tuple[Store, SimulationSummary, list]) -> None:
    store, summary, _ = simulated
    objects = store.list_all()
    assert len(objects) == summary.objects == 8  # one object per 15 minutes
    assert sum(o.size for o in objects) == summary.bytes_written
    lines = 0
    for obj in objects:
        assert KEY_RE.match(obj.key), obj.key
        assert Layout("logs").parse_key(obj.key) is not None
        raw = gzip.decompress(store.read_bytes(obj.key))
        assert raw.endswith(b"\n")
        lines += raw.count(b"\n")
        times = []
        for line in raw.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("time"), str):
                moment = _parse_time(record["time"])
                assert obj.partition.hour <= moment < obj.partition.hour + timedelta(hours=1)
                times.append(moment)
        assert times == sorted(times), f"records out of time order in {obj.key}"
    assert lines == summary.records


def test_every_good_record_has_the_router_keys(simulated: tuple[Store, SimulationSummary, list]) -> None:
    _, summary, records = simulated
    assert 400 < len(records) < 3000
    for record in records:
        missing = [key for key in ROUTER_KEYS if key not in record]
        assert not missing, (missing, record)
        assert record["source"] in ("stdout", "stderr")
        assert record["ecs_cluster"] == "shop-prod"
        assert record["ecs_task_arn"].startswith("arn:aws:ecs:us-east-1:123456789012:task/shop-prod/")
        if isinstance(record.get("time"), str):
            assert ISO_MS_Z.match(record["time"]), record["time"]
            assert START <= _parse_time(record["time"]) < END
    assert summary.services == sorted(SERVICES)


def test_bad_records_are_there_and_the_reader_counts_them(simulated: tuple[Store, SimulationSummary, list]) -> None:
    store, summary, records = simulated
    stats = ReadStats()
    read = sum(1 for _ in store.iter_records(store.list_objects(START, END), stats))
    assert read == len(records) == stats.records
    assert stats.records + stats.bad_total == summary.records
    assert stats.bad_total == summary.unreadable_records > 0
    kinds = summary.bad_by_kind
    assert stats.bad.get("too_large") == kinds["too_large"] == 1  # one ~1 MB line per simulation
    assert stats.bad.get("invalid_utf8", 0) == kinds.get("invalid_utf8", 0) > 0
    # truncated JSON is "not JSON" to a reader
    assert stats.bad.get("not_json", 0) == kinds.get("not_json", 0) + kinds.get("truncated", 0) > 0
    assert summary.bad_records == sum(kinds.values())
    wrong_types = [r for r in records if r.get("level") == 3 or r.get("status") == "abc"
                   or r.get("latency_ms") == "n/a" or isinstance(r.get("time"), int)]
    assert len(wrong_types) == kinds["wrong_types"] > 0


def test_deploy_then_a_brand_new_error(simulated: tuple[Store, SimulationSummary, list]) -> None:
    _, summary, records = simulated
    assert summary.deploy_time == START + timedelta(minutes=84)  # 70% of the window
    assert (summary.deploy_from, summary.deploy_to) == ("checkout:41", "checkout:42")
    pattern = re.compile("^" + re.escape(summary.new_error_pattern).replace(re.escape("<*>"), r"\S+") + "$")
    assert pattern.match(summary.new_error_message)

    def when(record: dict[str, Any]) -> datetime:
        return _parse_time(record["time"])

    checkout = [r for r in records if r["ecs_task_definition"].startswith("checkout:") and isinstance(r.get("time"), str)]
    old = [r for r in checkout if r["ecs_task_definition"] == "checkout:41"]
    new = [r for r in checkout if r["ecs_task_definition"] == "checkout:42"]
    assert old and new
    assert min(map(when, new)) >= summary.deploy_time
    assert max(map(when, old)) < summary.deploy_time + timedelta(minutes=3)  # the rolling replacement
    assert {r["ecs_task_arn"] for r in new}.isdisjoint({r["ecs_task_arn"] for r in old})

    hits = [r for r in records if pattern.match(str(r.get("message", "")))]
    assert len(hits) == summary.new_error_count >= 3
    assert all(when(r) > summary.deploy_time and r["ecs_task_definition"] == "checkout:42" for r in hits)
    assert all(r["level"] == "ERROR" and "NullPointerException" in r["stack_trace"] for r in hits)
    # nothing like it before the deploy, in any field
    assert not any("discount tier is null" in json.dumps(r) for r in records if
                   isinstance(r.get("time"), str) and when(r) < summary.deploy_time)


def test_stack_traces_are_one_record_with_newlines(simulated: tuple[Store, SimulationSummary, list]) -> None:
    _, _, records = simulated
    multiline = [r for r in records if "\n" in r["log"]]
    assert multiline
    styles = {"java": "\n\tat ", "dotnet": "\n   at ", "python": "Traceback (most recent call last):\n",
              "go": "\ngoroutine "}
    found = {name for name, marker in styles.items() if any(marker in r["log"] for r in multiline)}
    # JSON-logging apps keep the trace in stack_trace (with real newlines) and the raw line in log
    json_traces = [r for r in records if "stack_trace" in r and r["log"].startswith("{")]
    assert json_traces and all("\n" in r["stack_trace"] and "\n" not in r["log"] for r in json_traces)
    assert len(found) >= 2, found  # text runtimes print their traces over several lines


def test_content_is_varied_like_a_real_fleet(simulated: tuple[Store, SimulationSummary, list]) -> None:
    _, summary, records = simulated
    levels = {r["level"] for r in records if isinstance(r.get("level"), str)}
    assert levels == {"DEBUG", "INFO", "WARN", "ERROR", "FATAL"}
    # records the analysis must complete: no service, level or time; service from container_name
    bare = [r for r in records if "service" not in r]
    assert bare and any("time" not in r and "level" not in r for r in bare)
    for record in bare:
        assert CONTAINER_SERVICE.match(record["container_name"])[2] in SERVICES
    assert any(r["container_name"].startswith("ecs-") for r in records)
    # access logs with parsed fields, 5xx and a latency tail
    access = [r for r in records if "status" in r and isinstance(r["status"], int)]
    assert {"method", "path", "latency_ms", "bytes", "client_ip", "user_agent", "request_id", "trace_id"} <= access[0].keys()
    assert any(r["status"] >= 500 for r in access)
    latencies = sorted(r["latency_ms"] for r in access if isinstance(r["latency_ms"], float))
    assert latencies[-1] > 10 * latencies[len(latencies) // 2]
    # the same request seen by the gateway and an upstream service
    gateway_traces = {r["trace_id"] for r in access}
    assert any(r.get("trace_id") in gateway_traces for r in records if r.get("service") not in (None, "api-gateway"))
    # personal data for redaction to find
    assert any(re.search(r"[\w.]+@[\w.-]+\.\w+", str(r.get("message", ""))) for r in records)
    # crashes and restarts
    text = "\n".join(r["log"] for r in records)
    assert (summary.crashes and "Essential container in task exited" in text) or "SIGKILL" in text


def test_bursts_stand_out(simulated: tuple[Store, SimulationSummary, list]) -> None:
    _, summary, records = simulated
    assert len(summary.bursts) == 1
    burst = summary.bursts[0]
    assert timedelta(minutes=10) <= burst.end - burst.start <= timedelta(minutes=20)
    pattern = re.compile("^" + re.escape(burst.pattern).replace(re.escape("<*>"), ".+?") + "$")

    def matching(lo: datetime, hi: datetime) -> int:
        return sum(1 for r in records if isinstance(r.get("time"), str) and r.get("service") == burst.service
                   and lo <= _parse_time(r["time"]) < hi and pattern.match(str(r.get("message", ""))))

    inside = matching(burst.start, burst.end)
    outside_per_minute = (matching(START, END) - inside) / (120 - (burst.end - burst.start).total_seconds() / 60)
    assert inside / ((burst.end - burst.start).total_seconds() / 60) > 10 * max(outside_per_minute, 0.1)


def test_rate_scales_volume_and_the_day_has_a_curve(tmp_path: Path) -> None:
    night = simulate(_store(tmp_path / "n"), START.replace(hour=3), START.replace(hour=4), rate=0.2, bad_rate=0)
    peak = simulate(_store(tmp_path / "p"), START.replace(hour=15), START.replace(hour=16), rate=0.2, bad_rate=0)
    double = simulate(_store(tmp_path / "d"), START.replace(hour=15), START.replace(hour=16), rate=0.4, bad_rate=0)
    assert peak.records > 3 * night.records
    assert 1.7 < double.records / peak.records < 2.3
    # about 200k a day at rate 1: the peak hour at rate 0.2 is ~0.2 * 1.65 * 200k/24
    assert 2_000 < peak.records < 3_500


def test_writes_to_s3(s3_store: Store) -> None:
    summary = simulate(s3_store, START, START + timedelta(hours=1), rate=0.02)
    objects = s3_store.list_objects(START, START + timedelta(hours=1))
    assert len(objects) == summary.objects == 4
    assert all(o.key.startswith("logs/dt=2026-11-25/hour=14/") for o in objects)
    stats = ReadStats()
    assert sum(1 for _ in s3_store.iter_records(objects, stats)) + stats.bad_total == summary.records


def test_service_partitioning_splits_objects_per_service(tmp_path: Path) -> None:
    store = Store(StoreConfig(root=str(tmp_path), prefix="logs", service_partition=True))
    simulate(store, START, START + timedelta(minutes=30), rate=0.05, bad_rate=0)
    assert store.services() == sorted(SERVICES)
    for obj, record in store.iter_records(store.list_all()):
        assert obj.partition.service in record["container_name"]


def test_bad_rate_zero_writes_clean_data(tmp_path: Path) -> None:
    store = _store(tmp_path)
    summary = simulate(store, START, START + timedelta(hours=1), rate=0.05, bad_rate=0)
    stats = ReadStats()
    assert sum(1 for _ in store.iter_records(store.list_all(), stats)) == summary.records > 0
    assert summary.bad_records == stats.bad_total == 0


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"rate": 0}, "rate"), ({"rate": float("nan")}, "rate"), ({"bad_rate": 1.5}, "bad rate"),
    ({"end": START}, "window is empty"),
])
def test_bad_arguments_raise_usage_errors(tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    args = {"start": START, "end": END, **kwargs}
    with pytest.raises(UsageError, match=message):
        simulate(_store(tmp_path), **args)
    assert not list(tmp_path.rglob("*.gz"))


@pytest.mark.slow
def test_a_day_at_rate_one(tmp_path: Path) -> None:
    """The demo's day: its volume and shape (its speed is measured in benchmarks/, never here)."""
    summary = simulate(_store(tmp_path), START - timedelta(hours=14), START + timedelta(hours=10))
    assert 150_000 <= summary.records <= 250_000
    assert summary.objects == 96
    assert len(summary.bursts) == 3 and len(summary.crashes) == 4


# -- the command -------------------------------------------------------------------------------------------

def test_cli_simulates_into_out_keeping_the_config_prefix(cli: Any, tmp_path: Path) -> None:
    (cli.cwd / "logpipe.toml").write_text('[store]\nprefix = "ecs/logs"\n')
    out = tmp_path / "out"
    code, stdout, stderr = cli("simulate", "--out", out, "--start", "2026-11-25T14:00:00Z", "--end",
                               "2026-11-25T15:00:00Z", "--rate", "0.02", "--seed", "5")
    assert code == 0, stderr
    assert re.search(r"[\d,]+ records \(\d+ bad lines: [a-z_ ,\d]+; \d+ unreadable, 1 oversized \(DuckDB still reads it\)\) in 4 objects, [\d.]+ MB, [\d.]+ s, [\d,]+ records/s", stdout)
    assert "checkout:41 -> checkout:42" in stdout
    keys = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.gz"))
    assert len(keys) == 4 and all(k.startswith("ecs/logs/dt=2026-11-25/hour=14/") for k in keys)
    assert not (cli.cwd / "logpipe-data").exists()


def test_the_unreadable_lines_simulate_reports_are_the_bad_records_a_query_counts(cli: Any) -> None:
    """What ``simulate`` calls unreadable is what the queries over the same hours count as bad records
    (an oversized record is named apart: DuckDB still reads it)."""
    code, stdout, stderr = cli("simulate", "--start", "2026-11-25T14:00:00Z", "--end", "2026-11-25T15:00:00Z",
                               "--rate", "0.05", "--seed", "3")
    assert code == 0, stderr
    unreadable = int(re.search(r"([\d,]+) unreadable", stdout)[1].replace(",", ""))
    code, _stdout, stderr = cli("query", "sql", "SELECT count(*) AS n FROM logs", "--since", "2026-11-25T14:00:00Z",
                                "--until", "2026-11-25T15:00:00Z", "--format", "csv")
    assert code == 0, stderr
    counted = re.search(r"bad records ([\d,]+)", stderr)
    assert counted and int(counted[1].replace(",", "")) == unreadable > 0


def test_cli_default_is_the_last_24_hours_into_the_store(cli: Any) -> None:
    code, _stdout, stderr = cli("simulate", "--rate", "0.002", "--bad-rate", "0")
    assert code == 0, stderr
    hours = {p.parent.name for p in (cli.cwd / "logpipe-data" / "logs").rglob("*.gz")}
    assert len(hours) >= 24  # 24 hours ending now touch 24 or 25 hour partitions


@pytest.mark.parametrize(("args", "message"), [
    (["--hours", "0"], "--hours"),
    (["--hours", "2", "--start", "3h"], "not both"),
    (["--start", "1h", "--end", "2h"], "must be before"),
    (["--start", "yesterday"], "not a time"),
    (["--rate", "-1"], "rate"),
    (["--bad-rate", "2"], "bad rate"),
    (["--rate", "abc"], "--rate"),
    (["--out", "s3://"], "--out"),
])
def test_cli_bad_arguments_exit_2_with_one_line(cli: Any, args: list[str], message: str) -> None:
    code, _stdout, stderr = cli("simulate", *args)
    assert code == 2
    assert message in stderr
    assert "Traceback" not in stderr
    assert not (cli.cwd / "logpipe-data").exists()


def test_cli_writes_to_an_s3_bucket(cli: Any, boto_client: Any) -> None:
    s3 = boto_client("s3")
    s3.create_bucket(Bucket="sim-out")
    code, stdout, stderr = cli("simulate", "--out", "s3://sim-out/team", "--start", "2026-11-25T14:00:00Z",
                               "--end", "2026-11-25T14:30:00Z", "--rate", "0.02")
    assert code == 0, stderr
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="sim-out")["Contents"]]
    assert len(keys) == 2 and all(k.startswith("team/logs/dt=2026-11-25/hour=14/") for k in keys)
    assert "s3://sim-out/team/logs" in stdout


def test_cli_unwritable_out_is_one_line_and_exit_1(cli: Any) -> None:
    (cli.cwd / "afile").write_text("not a folder")
    code, _, stderr = cli("simulate", "--out", "afile", "--hours", "1", "--rate", "0.01")
    assert code == 1
    assert stderr.splitlines()[-1].startswith("error: cannot write afile/logs/dt=") and "Traceback" not in stderr
