"""Every shipped saved query: exact rows on DuckDB over records the test writes, the Athena text and
bound ExecutionParameters against moto, the CLI over simulated data, and partition predicates.

errors_by_service and top_error_messages have their row tests in test_engine_duckdb.py; error_shapes
and records_by_service in the detector tests. All of them go through the Athena, CLI and partition
checks here.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlglot
from sqlglot import exp
from support.configs import config_for

from logpipe.config import Config
from logpipe.patterns.miner import TemplateMiner
from logpipe.queries.loader import SHIPPED_DIR, load_query_file
from logpipe.queries.runner import adhoc_query, explain_query, run_query
from logpipe.store import gzip_lines

DAY = datetime(2024, 1, 1, tzinfo=UTC)
NEXT_DAY = DAY + timedelta(days=1)
SHIPPED = sorted(p.stem for p in SHIPPED_DIR.glob("*.sql"))
GIB = 1024**3


def record(minute: int, service: str = "api", level: str | None = "INFO", message: str | None = "ok",
           hour: int = 10, **fields: Any) -> dict[str, Any]:
    """A FireLens record at DAY hour:minute (router keys filled; None values left out)."""
    rec: dict[str, Any] = {
        "container_name": service, "container_id": "c0ffee" * 10, "ecs_cluster": "prod",
        "ecs_task_arn": f"arn:aws:ecs:us-east-1:123456789012:task/prod/{service}-task-1",
        "ecs_task_definition": f"{service}:1", "source": "stdout",
        "log": message, "time": f"2024-01-01T{hour:02d}:{minute:02d}:00.000Z", "service": service,
        "level": level, "message": message,
    }
    rec.update(fields)
    return {k: v for k, v in rec.items() if v is not None}


def write(store, records: list[dict[str, Any]]) -> list[bytes]:
    """The records as compact JSON lines (as Fluent Bit writes them), one object per hour."""
    by_hour: dict[int, list[bytes]] = defaultdict(list)
    lines = []
    for rec in records:
        line = json.dumps(rec, separators=(",", ":")).encode()
        lines.append(line)
        by_hour[int(rec["time"][11:13])].append(line)
    for hour, hour_lines in by_hour.items():
        store.write_object(store.layout.object_key(DAY.replace(hour=hour)), gzip_lines(hour_lines))
    return lines


def run(store, name: str, params: dict[str, Any] | None = None, start: datetime = DAY,
        end: datetime = NEXT_DAY) -> list[dict[str, Any]]:
    frame = run_query(config_for(store), name, start, end, params or {}).frame
    return json.loads(frame.to_json(orient="records", date_format="iso"))


def pick(rows: list[dict[str, Any]], *columns: str) -> list[tuple]:
    return [tuple(r[c] for c in columns) for r in rows]


# -- DuckDB: exact rows -------------------------------------------------------------------------------

def test_http_status_latency(tmp_store) -> None:
    recs = []
    for i in range(100):  # latencies 1..100 ms; 5 x 404, 5 x 503
        status = 404 if i < 5 else 503 if i < 10 else 200
        recs.append(record(i % 60, "api", status=status, latency_ms=float(i + 1), path="/x", method="GET"))
    recs += [record(1, "web", status=str(200), latency_ms="10", path="/", method="GET") for _ in range(10)]
    recs += [record(2, "web", status="abc", latency_ms=5000.0, path="/"),  # junk status: not a request
             record(3, "web", message="no status here"),
             record(4, "api", status=500, latency_ms=1.0, hour=9)]  # before the window
    write(tmp_store, recs)
    rows = run(tmp_store, "http_status_latency", start=DAY.replace(hour=10), end=DAY.replace(hour=11))
    assert pick(rows, "service", "requests", "http_4xx", "http_5xx", "http_5xx_rate") == [
        ("api", 100, 5, 5, 5.0), ("web", 10, 0, 0, 0.0)]
    api, web = rows
    assert math.isclose(api["latency_p50_ms"], 50.5, abs_tol=1.5)
    assert math.isclose(api["latency_p95_ms"], 95.5, abs_tol=1.5)
    assert math.isclose(api["latency_p99_ms"], 99.5, abs_tol=1.5)
    assert api["latency_max_ms"] == 100.0
    assert (web["latency_p50_ms"], web["latency_p95_ms"], web["latency_max_ms"]) == (10.0, 10.0, 10.0)
    only = run(tmp_store, "http_status_latency", {"service": "web"}, DAY.replace(hour=10), DAY.replace(hour=11))
    assert pick(only, "service", "requests") == [("web", 10)]


def test_slowest_endpoints_groups_ids_into_routes(tmp_store) -> None:
    recs = []
    for i, path in enumerate(["/api/v1/orders/7059215", "/api/v1/orders/42?expand=lines",
                              "/api/v1/orders/33716d50-1b6b-445b-a207-e7953f2f0f6b", "/api/v1/orders/8"]):
        recs.append(record(i, "gw", status=200, latency_ms=100.0 * (i + 1), path=path, method="get"))
    recs += [record(10 + i, "gw", status=503, latency_ms=900.0, path="/api/v1/products/SKU-77615", method="GET")
             for i in range(2)]
    recs += [record(20 + i, "gw", status=200, latency_ms=5.0, path="/api/v1", method="GET") for i in range(3)]
    recs += [record(30, "gw", status=200, latency_ms=9999.0, path="/rare", method="GET"),
             record(31, "gw", status=200, path="/no-latency", method="GET")]
    write(tmp_store, recs)
    rows = run(tmp_store, "slowest_endpoints", {"min_requests": "2"})
    assert pick(rows, "service", "method", "endpoint", "requests", "latency_max_ms", "http_5xx_rate") == [
        ("gw", "GET", "/api/v1/products/{id}", 2, 900.0, 100.0),
        ("gw", "GET", "/api/v1/orders/{id}", 4, 400.0, 0.0),
        ("gw", "GET", "/api/v1", 3, 5.0, 0.0),
    ]
    assert rows[1]["latency_p95_ms"] >= 300.0  # the slow id pages, whatever their ids
    assert [r["endpoint"] for r in run(tmp_store, "slowest_endpoints", {"min_requests": "1", "limit": "1"})] == ["/rare"]


def test_container_crashes(tmp_store) -> None:
    recs = [
        record(1, "checkout", "ERROR", "Essential container in task exited: container checkout exited with code 137 "
               "(OutOfMemoryError: Container killed due to memory usage)", ecs_task_arn="t1"),
        record(2, "checkout", "FATAL", 'Exception in thread "main" java.lang.OutOfMemoryError: Java heap space',
               ecs_task_arn="t1"),
        record(3, "checkout", "FATAL", 'Exception in thread "exec-7" java.lang.OutOfMemoryError: Java heap space',
               ecs_task_arn="t2"),
        record(4, "checkout", "INFO", "/entrypoint.sh: line 14:     7 Killed     java -jar /app/checkout.jar"),
        record(5, "orders", "ERROR", "Worker (pid:12) was sent SIGKILL! Perhaps out of memory?"),
        record(6, "orders", "ERROR", "Worker (pid:13) was sent SIGKILL!"),
        record(7, "inventory", "FATAL", "panic: runtime error: invalid memory address or nil pointer dereference"),
        record(8, "inventory", "FATAL", "fatal error: concurrent map writes"),
        record(9, "inventory", "ERROR", "Essential container in task exited: container inventory exited with code 2"),
        # not crash signals
        record(10, "orders", "INFO", "request killed by client after 30s"),
        record(11, "orders", "INFO", "migration done, exit code 0"),
        record(12, "orders", "INFO", "don't panic: retrying"),
    ]
    write(tmp_store, recs)
    rows = run(tmp_store, "container_crashes")
    assert pick(rows, "service", "signal", "exit_code", "occurrences", "tasks") == [
        ("checkout", "oom", None, 2, 2),
        ("inventory", "panic", None, 2, 1),
        ("checkout", "killed", None, 1, 1),
        ("checkout", "task_exited", "137", 1, 1),
        ("inventory", "task_exited", "2", 1, 1),
        ("orders", "killed", None, 1, 1),
        ("orders", "oom", None, 1, 1),
    ]
    oom = rows[0]
    assert oom["first_seen"].startswith("2024-01-01T10:02:00") and oom["last_seen"].startswith("2024-01-01T10:03:00")
    assert oom["example"].startswith('Exception in thread "main"')
    assert {r["service"] for r in run(tmp_store, "container_crashes", {"service": "orders"})} == {"orders"}


def test_errors_since_deploy(tmp_store) -> None:
    recs = [record(i, "checkout", "ERROR" if i < 1 else "INFO", ecs_task_definition="checkout:41",
                   ecs_task_arn=f"old{i % 2}") for i in range(10)]
    recs += [record(20 + i, "checkout", "FATAL" if i < 4 else "INFO", ecs_task_definition="checkout:42",
                    ecs_task_arn=f"new{i % 3}") for i in range(10)]
    recs += [record(30, "web", "INFO", ecs_task_definition="arn:aws:ecs:us-east-1:1:task-definition/web:7"),
             record(31, "web", "INFO", ecs_task_definition="no-revision")]
    write(tmp_store, recs)
    rows = run(tmp_store, "errors_since_deploy")
    assert pick(rows, "service", "task_definition", "revision", "tasks", "records", "errors", "error_rate") == [
        ("checkout", "checkout:42", 42, 3, 10, 4, 40.0),
        ("checkout", "checkout:41", 41, 2, 10, 1, 10.0),
        ("web", "web:7", 7, 1, 1, 0, 0.0),
    ]
    assert rows[0]["first_seen"].startswith("2024-01-01T10:20:00") and rows[1]["last_seen"].startswith("2024-01-01T10:09:00")


def test_trace_lines(tmp_store) -> None:
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    recs = [
        record(5, "checkout", "ERROR", "payment failed", trace_id=trace),
        record(1, "gateway", "INFO", f'10.0.0.1 - - "GET /x HTTP/1.1" 200 12 trace_id={trace}'),
        record(3, "payments", "INFO", "authorised", request_id=trace),
        record(4, "payments", "INFO", "other request", trace_id="0" * 32),
        record(2, "orders", "INFO", "no id"),
    ]
    write(tmp_store, recs)
    rows = run(tmp_store, "trace_lines", {"id": trace})
    assert pick(rows, "service", "message") == [  # (shown text: the client address redacted)
        ("gateway", f'<redacted:ip> - - "GET /x HTTP/1.1" 200 12 trace_id={trace}'),
        ("payments", "authorised"), ("checkout", "payment failed")]
    assert run(tmp_store, "trace_lines", {"id": trace, "limit": "1"})[0]["service"] == "gateway"
    assert run(tmp_store, "trace_lines", {"id": "4bf9"}) == []  # too short to mean one request
    assert run(tmp_store, "trace_lines", {"id": "x' OR '1'='1"}) == []  # bound, so only ever compared


def test_trace_lines_needs_an_id(tmp_store) -> None:
    from logpipe.errors import UsageError

    with pytest.raises(UsageError, match="parameter 'id' is required"):
        run(tmp_store, "trace_lines")


def test_log_volume_bytes_and_cost(tmp_store) -> None:
    recs = [record(i, "api", "INFO", f"GET /orders/{i} done in {i} ms", hour=i % 24, status=200, latency_ms=1.5,
                   trace_id="ab" * 16) for i in range(48)]
    recs += [record(i, "worker", "DEBUG", "x" * 400 + "é", hour=i % 24) for i in range(12)]
    lines = write(tmp_store, recs)
    actual = defaultdict(int)
    for rec, line in zip(recs, lines, strict=True):
        actual[rec["service"]] += len(line) + 1  # and its newline
    rows = run(tmp_store, "log_volume", {"firehose_usd_per_gb": "1000", "s3_usd_per_gb_month": "2000",
                                         "compression_ratio": "0.1", "retention_days": "30"})
    assert pick(rows, "service", "records") == [("api", 48), ("worker", 12)]
    for row in rows:
        # the estimate is the JSON line's size within 3% (it cannot see the exact escapes and spacing)
        assert abs(row["bytes"] - actual[row["service"]]) / actual[row["service"]] < 0.03, (row, dict(actual))
        month_gb = row["bytes"] * 30 / GIB  # a one-day window
        assert row["gb_per_month"] == round(month_gb, 3)
        assert row["firehose_usd_per_month"] == pytest.approx(round(month_gb * 1000, 2))
        assert row["s3_usd_per_month"] == pytest.approx(round(row["bytes"] * 30 * 0.1 / GIB * 2000, 2))
    assert sum(r["share_of_bytes"] for r in rows) == pytest.approx(100.0, abs=0.01)


def test_datadog_forwarded_follows_the_router_rule(tmp_store) -> None:
    recs = [record(i, "api", level) for i, level in enumerate(["INFO"] * 10 + ["DEBUG"] * 4 + ["WARN"] * 3)]
    recs += [record(20, "api", "ERROR", "db timeout after 3000 ms"),
             record(21, "api", "ERROR", "can't reach payments"),
             record(22, "api", "WARN", "health check failed"),
             record(23, "api", "INFO", "health check ok")]
    recs += [record(30 + i, "web", "FATAL", "disk full") for i in range(2)]
    write(tmp_store, recs)
    params = {"min_level": "WARN", "sample_rate": "0.5", "exclude": json.dumps(["^health", "can't reach"]),
              "index_usd_per_million": "1000000", "ingest_usd_per_gb": str(GIB)}
    rows = run(tmp_store, "datadog_forwarded", params)
    by = {r["service"]: r for r in rows}
    # api: excluded 2 health + 1 can't reach; at/above WARN: 3 WARN + 1 ERROR; below: 14 -> 7 sampled
    assert (by["api"]["records"], by["api"]["excluded"], by["api"]["forwarded_records"]) == (21, 3, 11.0)
    assert (by["web"]["records"], by["web"]["excluded"], by["web"]["forwarded_records"]) == (2, 0, 2.0)
    for row in rows:  # a one-day window: a month is 30 of them; prices set to read the counts back
        assert row["events_per_month"] == row["forwarded_records"] * 30
        assert row["index_usd_per_month"] == pytest.approx(row["forwarded_records"] * 30)
        assert row["ingest_usd_per_month"] == pytest.approx(row["forwarded_bytes"] * 30, rel=1e-6, abs=1)
    assert [r["service"] for r in rows] == ["api", "web"]  # most expensive first
    strict = {r["service"]: r for r in run(tmp_store, "datadog_forwarded", {"min_level": "ERROR"})}
    assert (strict["api"]["forwarded_records"], strict["api"]["excluded"]) == (2.0, 0)
    everything = {r["service"]: r for r in run(tmp_store, "datadog_forwarded", {"min_level": "TRACE"})}
    assert everything["api"]["forwarded_records"] == 21.0 and everything["api"]["forwarded_share"] == 100.0


def test_datadog_forwarded_default_costs(tmp_store) -> None:
    write(tmp_store, [record(i % 60, "api", "ERROR", "boom " + "y" * 200, hour=i % 24) for i in range(240)])
    (row,) = run(tmp_store, "datadog_forwarded")
    events = 240 * 30
    assert row["index_usd_per_month"] == pytest.approx(round(events / 1e6 * 1.70, 2))
    assert row["ingest_usd_per_month"] == pytest.approx(round(row["forwarded_bytes"] * 30 / GIB * 0.10, 2))


def test_datadog_forwarded_counts_one_copy_of_the_text(tmp_store) -> None:
    """The router drops `log` from the Datadog copy (route.lua slim_for_datadog; `message` carries the
    text): forwarded bytes leave it out, saved_usd_per_month prices what sending it would add."""
    raw = '{"level":"error","msg":"' + "x" * 300 + '"}'
    recs = []
    for service, log in (("api", raw), ("web", raw * 10)):  # same records but a 10x longer raw line
        recs += [record(1, service, "ERROR", "x" * 300, log=log), record(2, service, "ERROR", "y" * 100)]
    write(tmp_store, recs)
    params = {"ingest_usd_per_gb": str(GIB), "index_usd_per_million": "0"}
    by = {r["service"]: r for r in run(tmp_store, "datadog_forwarded", params)}
    # each raw log plus '"log":"",' is saved (a one-day window: x 30 a month)
    assert by["api"]["saved_usd_per_month"] == pytest.approx((len(raw) + 9 + 109) * 30)
    assert by["web"]["saved_usd_per_month"] == pytest.approx((len(raw) * 10 + 9 + 109) * 30)
    # the payload does not grow with the raw line; it still carries the message text
    assert by["web"]["forwarded_bytes"] - by["api"]["forwarded_bytes"] == 2 * (len("web") - len("api"))
    assert by["api"]["forwarded_bytes"] > 400
    assert by["api"]["ingest_usd_per_month"] == pytest.approx(by["api"]["forwarded_bytes"] * 30, abs=1)


def test_noisiest_lines(tmp_store) -> None:
    recs = [record(i, "api", "INFO", f"GET /healthz 200 in {i} ms") for i in range(5)]
    recs += [record(10 + i, "api", "DEBUG", f"cache hit for user {100 + i}") for i in range(2)]
    recs += [record(20, "web", "ERROR", "template not found: 'home.html'")]
    write(tmp_store, recs)
    rows = run(tmp_store, "noisiest_lines")
    assert pick(rows, "service", "level", "template", "records", "share_of_records") == [
        ("api", "INFO", "GET /healthz 2xx in <*> ms", 5, 62.5),
        ("api", "DEBUG", "cache hit for user <*>", 2, 25.0),
        ("web", "ERROR", "template not found: 'home.html'", 1, 12.5),
    ]
    # grouped by the logs view's pattern_id: the miner's id of the template
    assert rows[1]["pattern_id"] == TemplateMiner().add("cache hit for user 7").pattern_id
    assert rows[0]["example"] == "GET /healthz 200 in 0 ms"
    assert sum(r["share_of_bytes"] for r in rows) == pytest.approx(100.0, abs=0.01)
    assert rows[0]["share_of_bytes"] > rows[1]["share_of_bytes"] > 0
    assert pick(run(tmp_store, "noisiest_lines", {"min_level": "WARN"}), "template") == [("template not found: 'home.html'",)]
    assert len(run(tmp_store, "noisiest_lines", {"limit": "2"})) == 2


def test_level_breakdown(tmp_store) -> None:
    recs = [record(i, "api", level) for i, level in enumerate(["INFO"] * 6 + ["ERROR"] * 2)]
    recs += [record(20, "web", None, "WARNING: disk 91% full"), record(21, "web", "debug", "x")]
    write(tmp_store, recs)
    rows = run(tmp_store, "level_breakdown")
    assert pick(rows, "service", "level", "records", "share_of_service") == [
        ("api", "INFO", 6, 75.0), ("api", "ERROR", 2, 25.0), ("web", "DEBUG", 1, 50.0), ("web", "WARN", 1, 50.0)]


# -- Athena on moto: the Athena text and its ExecutionParameters ---------------------------------------

ATHENA_PARAMS: dict[str, dict[str, Any]] = {
    "trace_lines": {"id": "4bf92f3577b34da6' --"},
    "pattern_lines": {"patterns": "0123456789abcdef,ffffffffffffffff"},
    "datadog_forwarded": {"exclude": json.dumps(["^health", "can't reach"]), "sample_rate": "0.25"},
}
# DuckDB spellings that must never reach Athena: the text sent is the file's own Athena SQL.
DUCKDB_ONLY = ("REGEXP_MATCHES", "APPROX_QUANTILE", "LIST_FILTER", "OCTET_LENGTH", "ARG_MIN", "ENCODE(",
               "$WINDOW_START", "$DT_START")


def _athena_config() -> Config:
    return Config.model_validate({"engine": {"kind": "athena", "database": "logpipe", "table": "logs",
                                             "output_location": "s3://athena-results/q/",
                                             "poll_interval_seconds": 0.01}})


def _post(url: str, body: dict) -> None:
    import urllib.request

    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request).read()


@pytest.mark.parametrize("name", SHIPPED)
def test_runs_on_athena_with_bound_parameters(name: str, aws: str, boto_client, monkeypatch, tmp_store) -> None:
    import botocore.client

    query = load_query_file(SHIPPED_DIR / f"{name}.sql")
    params = dict(ATHENA_PARAMS.get(name, {}))
    if any(p.name == "service" for p in query.params):
        params["service"] = "checkout' OR 1=1 --"
    # The columns the query returns, from DuckDB over an empty store: Athena's canned result mirrors them.
    columns = list(run_query(config_for(tmp_store), query, DAY, NEXT_DAY, params).frame.columns)
    boto_client("s3").create_bucket(Bucket="athena-results")
    meta = [{"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": c, "Label": c, "Type": "varchar",
             "Precision": 0, "Scale": 0, "Nullable": "UNKNOWN", "CaseSensitive": True} for c in columns]
    rows = [{"Data": [{"VarCharValue": c} for c in columns]},
            {"Data": [{"VarCharValue": f"v{i}"} for i in range(len(columns))]}]
    _post(f"{aws}/moto-api/static/athena/query-results", {"results": [{"rows": rows, "column_info": meta}]})
    sent: list[dict] = []
    original = botocore.client.BaseClient._make_api_call

    def spy(self, operation, api_params):
        if operation == "StartQueryExecution":
            sent.append(api_params)
        return original(self, operation, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", spy)
    result = run_query(_athena_config(), name, DAY, NEXT_DAY, params, engine="athena")
    assert result.frame.to_dict("records") == [{c: f"v{i}" for i, c in enumerate(columns)}]
    (call,) = sent
    sql, values = call["QueryString"], call.get("ExecutionParameters", [])
    assert sql.startswith("WITH logs AS (") and '"logpipe"."logs"' in sql
    placeholders = list(sqlglot.parse_one(sql, read="trino").find_all(exp.Placeholder))  # valid Trino, too
    assert len(placeholders) == len(values) > 0
    assert [token for token in DUCKDB_ONLY if token in sql.upper()] == []
    assert ":window_start" not in sql and "2024-01-01" not in sql  # no value is pasted into the text
    # the day's partitions, and the next day's first hour for records that arrived late ([service] lateness)
    assert {"'2024-01-01'", "'2024-01-02'", "'2024-01-0100'", "'2024-01-0200'"} <= set(values)
    assert "'2024-01-01T00:00:00.000000Z'" in values
    if "service" in params:
        assert "OR 1=1" not in sql and "'checkout'' OR 1=1 --'" in values
    if name == "trace_lines":
        assert "'4bf92f3577b34da6'' --'" in values and "' --" not in sql
        assert "1000" in values  # the default limit, bound too
    if name == "pattern_lines":  # the id is Trino's own md5 of the UTF-8 template, the list bound item by item
        assert "LOWER(TO_HEX(MD5(TO_UTF8(" in sql.upper() and "'ffffffffffffffff'" in values
    if name == "datadog_forwarded":
        assert "ANY_MATCH(ARRAY[?, ?], p -> REGEXP_LIKE(" in sql and "'^health'" in values and "'can''t reach'" in values
        assert "0.25E0" in values and "'WARN'" in values and "0.1E0" in values and "1.7E0" in values


# -- the CLI over simulated data --------------------------------------------------------------------

@pytest.mark.slow
def test_every_shipped_query_from_the_cli(cli) -> None:
    from logpipe.config import StoreConfig
    from logpipe.simulate import simulate
    from logpipe.store import Store

    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    store = Store(StoreConfig(root=str(cli.cwd / "logpipe-data")))
    summary = simulate(store, end - timedelta(hours=3), end, seed=3, rate=0.1)
    trace = None
    for line in gzip_lines_of(store):
        rec = json.loads(line) if line.startswith(b"{") else {}
        if isinstance(rec, dict) and rec.get("trace_id"):
            trace = rec["trace_id"]
            break
    assert trace
    outputs: dict[str, list[dict]] = {}
    stderr: dict[str, str] = {}
    for name in SHIPPED:
        args = ["query", "run", name, "--since", "4h", "--format", "json"]
        if name == "trace_lines":
            args += ["-p", f"id={trace}"]
        if name == "pattern_lines":  # the lines of the most frequent error pattern error_shapes returned
            top = max(outputs["error_shapes"], key=lambda r: r["records"])
            args += ["-p", f"patterns={top['pattern_id']}", "-p", f"service={top['service']}"]
        code, out, err = cli(*args)
        assert code == 0, (name, err)
        outputs[name] = [json.loads(line) for line in out.splitlines() if line.strip()]
        stderr[name] = err
        assert outputs[name], f"{name} returned no rows over simulated data: {err}"
        assert "Traceback" not in err
    services = set(summary.services)
    total = sum(r["records"] for r in outputs["log_volume"])
    assert total == sum(r["records"] for r in outputs["level_breakdown"]) == sum(
        r["records"] for r in outputs["records_by_service"])
    # every line written is either a row or a counted bad record (wrong types still make a row)
    assert total + int(re.search(r"bad records (\d+)", stderr["log_volume"])[1]) == summary.records
    assert {r["service"] for r in outputs["log_volume"]} == services
    assert sum(r["errors"] for r in outputs["errors_by_service"]) == sum(
        r["records"] for r in outputs["level_breakdown"] if r["level"] in ("ERROR", "FATAL"))
    assert all(0 <= r["http_5xx_rate"] <= 100 and r["latency_p50_ms"] <= r["latency_p95_ms"] <= r["latency_p99_ms"]
               for r in outputs["http_status_latency"])
    assert all(r["trace_id"] == trace or r["request_id"] or trace in (r["message"] or "")
               for r in outputs["trace_lines"])
    # pattern_lines returns exactly the records error_shapes counted for the id (every hour of it)
    top = max(outputs["error_shapes"], key=lambda r: r["records"])
    assert len(outputs["pattern_lines"]) == sum(r["records"] for r in outputs["error_shapes"]
                                                if r["pattern_id"] == top["pattern_id"] and r["service"] == top["service"])
    deploy = [r for r in outputs["errors_since_deploy"] if r["service"] == summary.deploy_service]
    assert [r["task_definition"] for r in deploy] == [summary.deploy_to, summary.deploy_from]
    crashed = {c.service for c in summary.crashes}
    assert crashed and crashed <= {r["service"] for r in outputs["container_crashes"]}
    forwarded = {r["service"]: r for r in outputs["datadog_forwarded"]}
    assert all(0 <= r["forwarded_records"] <= r["records"] for r in forwarded.values())
    assert 0 < sum(r["share_of_bytes"] for r in outputs["noisiest_lines"]) <= 100.01


def gzip_lines_of(store) -> list[bytes]:
    import gzip

    objects = store.list_objects(datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC) + timedelta(hours=1))
    return [line for o in objects for line in gzip.decompress(store.read_bytes(o.key)).splitlines()]


# -- partitions ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_query_bounds_its_partitions(name: str, tmp_store) -> None:
    params = {"trace_lines": {"id": "abcdef123456"}, "pattern_lines": {"patterns": "0" * 16}}.get(name, {})
    result = explain_query(config_for(tmp_store), name, DAY, NEXT_DAY, params)
    assert result.bounded and result.warnings == [], result.warnings
    sql = load_query_file(SHIPPED_DIR / f"{name}.sql").sql
    assert ":dt_start" in sql and ":dthour_start" in sql and ":window_start" in sql


def test_explain_warns_on_a_query_without_partition_predicates(tmp_store) -> None:
    result = explain_query(config_for(tmp_store), adhoc_query("SELECT count(*) FROM logs"), DAY, NEXT_DAY)
    assert not result.bounded and "no predicate on the partition column dt" in result.warnings[0]


def test_at_least_ten_shipped_queries_with_the_contract_names() -> None:
    contract = {"errors_by_service", "top_error_messages", "http_status_latency", "slowest_endpoints",
                "container_crashes", "errors_since_deploy", "trace_lines", "log_volume", "datadog_forwarded",
                "noisiest_lines"}
    assert contract <= set(SHIPPED) and len(SHIPPED) >= 10
