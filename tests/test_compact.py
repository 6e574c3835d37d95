"""Columnar hours (issue 19): ``logpipe compact`` writes closed hours as Parquet, and the ``logs`` view
reads the compacted hours and the raw hours after the watermark, each record exactly once; every
shipped query answers alike on both forms."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pytest
from support.configs import config_for
from support.records import SHIPPED, comparable_rows, rec

from logpipe.engines.compact import Compactor, open_compactor
from logpipe.layout import HOUR
from logpipe.queries.runner import adhoc_query, explain_query, run_query
from logpipe.store import gzip_lines
from logpipe.store.compacted import list_compacted, read_watermark

T0 = datetime(2024, 3, 1, 10, tzinfo=UTC)
LATE = timedelta(minutes=10)


def ids(store: Any, start: datetime, end: datetime, read: bool) -> list[str]:
    config = config_for(store, compact={"read": read})
    sql = ("SELECT request_id FROM logs WHERE dt BETWEEN :dt_start AND :dt_end AND "
           "concat(dt, hour) BETWEEN :dthour_start AND :dthour_end AND ts >= :window_start AND ts < :window_end")
    frame = run_query(config, adhoc_query(sql), start, end).frame
    return sorted(frame["request_id"].tolist())


def test_no_record_twice_or_missed_across_the_watermark(tmp_store) -> None:
    # Hour 10 holds a record of its last millisecond; hour 11 holds the first millisecond of 11:00 and a
    # record of 10:59:59.999 that Firehose delivered late (so it lies in hour=11); hour 12 likewise.
    store = tmp_store
    store.write_object(store.layout.object_key(T0, seq=1), gzip_lines(
        [rec(T0, "a0"), rec(T0 + HOUR - timedelta(milliseconds=1), "a1"), b"not json"]))
    store.write_object(store.layout.object_key(T0 + HOUR, seq=1), gzip_lines(
        [rec(T0 + HOUR, "b0"), rec(T0 + HOUR - timedelta(milliseconds=1), "b-late"), rec(T0 + HOUR * 1.5, "b1")]))
    store.write_object(store.layout.object_key(T0 + 2 * HOUR, seq=1), gzip_lines(
        [rec(T0 + 2 * HOUR, "c0"), rec(T0 + 2 * HOUR - timedelta(milliseconds=1), "c-late")]))
    config = config_for(store)
    # Compact what is closed at 11:10: hour 10 only (the watermark moves to 11:00).
    report = open_compactor(config).run(T0 + HOUR + LATE)
    assert [h.hour for h in report.written] == [T0] and read_watermark(store) == T0 + HOUR
    everything = ["a0", "a1", "b-late", "b0", "b1", "c-late", "c0"]
    for read in (True, False):
        assert ids(store, T0, T0 + 3 * HOUR, read) == everything
        # a window ending at the watermark takes the late record of 10:59:59.999 from raw hour 11
        assert ids(store, T0, T0 + HOUR, read) == ["a0", "a1", "b-late"]
        assert ids(store, T0 + HOUR, T0 + 2 * HOUR, read) == ["b0", "b1", "c-late"]
    # The compacted run really read the Parquet hour: 1 Parquet file and the 2 raw objects after it.
    result = run_query(config, adhoc_query("SELECT count(*) AS n FROM logs WHERE dt BETWEEN :dt_start AND :dt_end"),
                       T0, T0 + 3 * HOUR)
    assert result.stats.files_scanned == 3 and int(result.frame["n"][0]) == 7
    assert sum(result.stats.bad_records.values()) == 1  # the bad line of hour 10, from its verdict

    # Compact the rest; then an object arrives in hour 10 far too late: that hour is read raw (its
    # Parquet file no longer matches), never both, until a recheck compacts it again.
    open_compactor(config).run(T0 + 3 * HOUR + LATE)
    assert read_watermark(store) == T0 + 3 * HOUR
    assert ids(store, T0, T0 + 3 * HOUR, True) == everything
    store.write_object(store.layout.object_key(T0, seq=2), gzip_lines([rec(T0 + timedelta(minutes=5), "a-very-late")]))
    with_late = sorted([*everything, "a-very-late"])
    assert ids(store, T0, T0 + 3 * HOUR, True) == with_late == ids(store, T0, T0 + 3 * HOUR, False)
    old = list_compacted(store, T0, T0 + HOUR)[T0]
    again = open_compactor(config).run(T0 + 3 * HOUR + LATE, recheck=timedelta(hours=3))
    assert [h.hour for h in again.written] == [T0] and {h.action for h in again.hours if h.hour != T0} == {"kept"}
    new = list_compacted(store, T0, T0 + HOUR)[T0]
    assert new.key != old.key and not store.local_path(old.key).exists()
    assert ids(store, T0, T0 + 3 * HOUR, True) == with_late


def test_a_parquet_hour_is_zstd_sorted_and_keeps_every_raw_column(tmp_store) -> None:
    store = tmp_store
    lines = [rec(T0 + timedelta(minutes=m), f"r{m}", service=s, level=lv, status="abc")
             for m, (s, lv) in enumerate([("web", "INFO"), ("api", "WARN"), ("api", "ERROR"), ("db", None)])]
    store.write_object(store.layout.object_key(T0, seq=1), gzip_lines(lines))
    hour = Compactor(config_for(store).engine, store, None, LATE).compact_hour(T0)
    assert hour.action == "written" and hour.records == 4
    path = str(store.local_path(hour.key))
    con = duckdb.connect()
    codecs = {r[0] for r in con.execute(f"SELECT DISTINCT compression FROM parquet_metadata('{path}')").fetchall()}
    assert codecs == {"ZSTD"}
    rows = con.execute(f"SELECT lp_service, lp_level, level, status, request_id FROM '{path}'").fetchall()
    # level None: the view derives ERROR from "boom"? No: from the message text ("boom r3" says nothing): INFO
    assert rows == [("api", "ERROR", "ERROR", "abc", "r2"), ("api", "WARN", "WARN", "abc", "r1"),
                    ("db", "INFO", None, "abc", "r3"), ("web", "INFO", "INFO", "abc", "r0")]
    # compacting again with the same raw objects keeps the file
    assert Compactor(config_for(store).engine, store, None, LATE).compact_hour(T0).action == "kept"


@pytest.mark.slow
def test_every_shipped_query_answers_alike_on_both_forms(tmp_store) -> None:
    from logpipe.simulate import simulate

    store = tmp_store
    start, end = T0, T0 + 3 * HOUR
    simulate(store, start, end, seed=7, rate=0.15, bad_rate=0.01)
    config = config_for(store)
    report = open_compactor(config).run(end - HOUR + LATE)  # the last hour stays raw
    assert len(report.written) == 2
    raw_config = config_for(store, compact={"read": False})
    error_shapes = run_query(config, "error_shapes", start, end).frame
    top = error_shapes.sort_values("records", ascending=False).iloc[0]
    trace = next(t for t in run_query(raw_config, adhoc_query(
        "SELECT trace_id FROM logs WHERE dt BETWEEN :dt_start AND :dt_end AND trace_id IS NOT NULL LIMIT 1"),
        start, end).frame["trace_id"])
    params = {"trace_lines": {"id": trace}, "pattern_lines": {"patterns": top["pattern_id"], "service": top["service"]}}
    for name in SHIPPED:
        compacted = run_query(config, name, start, end, params.get(name, {}))
        raw = run_query(raw_config, name, start, end, params.get(name, {}))
        assert compacted.stats.files_scanned < raw.stats.files_scanned, name  # it did read Parquet hours
        assert compacted.table.schema == raw.table.schema, name
        # the same rows; arbitrary() may pick another row's value (on any engine), so it is left out
        assert comparable_rows(compacted.table, name) == comparable_rows(raw.table, name), name
        assert compacted.stats.bad_records == raw.stats.bad_records, name
    # a window wholly in the compacted hours (its lateness too) reads them through the compacted view
    # alone, without the JSON branch over an empty table: the same answers
    hour = (start, start + HOUR)
    for name in SHIPPED:
        compacted = run_query(config, name, *hour, params.get(name, {}))
        raw = run_query(raw_config, name, *hour, params.get(name, {}))
        assert compacted.table.schema == raw.table.schema, name
        assert comparable_rows(compacted.table, name) == comparable_rows(raw.table, name), name


def test_a_window_of_compacted_hours_gets_the_view_without_the_json_branch_once_per_form(tmp_store, monkeypatch
                                                                                        ) -> None:
    """Issue 19: over compacted hours only, the ``logs`` view has no JSON branch (binding its time
    parsing and level regexes over an empty table was half the planning of an hourly query), and the
    view's forms (with and without the shape columns) each keep a pooled connection: queries that
    alternate between them create each form once, not at every turn; nor is the view over the
    window's files made again for each query of the same window."""
    from logpipe.engines.duckdb import close_pool

    store = tmp_store
    for h in range(3):
        store.write_object(store.layout.object_key(T0 + h * HOUR, seq=1), gzip_lines(
            [rec(T0 + h * HOUR + timedelta(minutes=m), f"r{h}-{m}") for m in range(3)]))
    config = config_for(store)
    open_compactor(config).run(T0 + 2 * HOUR + LATE)  # hours 10 and 11; hour 12 stays raw
    close_pool()
    views: list[str] = []
    tables: list[str] = []  # logs_raw / logs_compacted (re)created
    execute = duckdb.DuckDBPyConnection.execute

    def spy(self: Any, sql: str, *args: Any, **kwargs: Any) -> Any:
        if sql.startswith("CREATE OR REPLACE VIEW logs AS"):
            views.append(sql)
        elif sql.startswith("CREATE OR REPLACE VIEW logs_"):
            tables.append(sql.split(" AS ")[0].removeprefix("CREATE OR REPLACE VIEW "))
        return execute(self, sql, *args, **kwargs)

    monkeypatch.setattr(duckdb.DuckDBPyConnection, "execute", spy)
    slim = "SELECT count(*) AS n FROM logs WHERE dt BETWEEN :dt_start AND :dt_end AND ts < :window_end"
    shaped = "SELECT count(DISTINCT pattern_id) AS n FROM logs WHERE dt BETWEEN :dt_start AND :dt_end AND ts < :window_end"
    try:
        answers = [run_query(config, adhoc_query(sql), T0, T0 + HOUR).table.column("n").to_pylist()
                   for sql in (slim, shaped, slim, shaped, slim)]
        assert answers == [[3], [1], [3], [1], [3]]
        assert len(views) == 2 and not any("logs_raw" in v for v in views)
        # the same window's files: each connection's logs_compacted is made once, not per query
        assert tables == ["logs_compacted", "logs_compacted"]
        # a window reaching the raw hour reads both forms of hours, through the view with both branches
        assert run_query(config, adhoc_query(slim), T0, T0 + 3 * HOUR).table.column("n").to_pylist() == [9]
        assert len(views) == 3 and "logs_raw" in views[-1] and "logs_compacted" in views[-1]
        assert tables[2:] == ["logs_raw", "logs_compacted"]
    finally:
        close_pool()


def test_the_partition_of_a_parquet_hour_is_read_from_its_folders_only_where_they_name_it(tmp_store, tmp_path
                                                                                          ) -> None:
    """Issue 19: dt and hour come from the folder names (hive partitioning: filters on them tested per
    file, not per row, and neither column read) when every file lies in its own hour's folders and no
    other folder looks like a partition; the values are the files' own either way."""
    from logpipe.engines.raw_sql import read_parquet_sql

    store = tmp_store
    store.write_object(store.layout.object_key(T0, seq=1), gzip_lines([rec(T0, "a0")]))
    open_compactor(config_for(store)).run(T0 + HOUR + LATE)
    hour = str(store.local_path(list_compacted(store, T0, T0 + HOUR)[T0].key))
    elsewhere = tmp_path / "team=ops" / hour.split("/", 1)[1]  # the same folders, below a key=value folder
    elsewhere.parent.mkdir(parents=True)
    elsewhere.write_bytes(store.local_path(list_compacted(store, T0, T0 + HOUR)[T0].key).read_bytes())
    assert "hive_partitioning=true" in read_parquet_sql([hour])
    for files in ([str(elsewhere)], [hour, str(elsewhere)], [hour.replace("/hour=10/", "/hour=11/")]):
        assert "hive_partitioning=false" in read_parquet_sql(files)
    for files in ([hour], [str(elsewhere)]):
        rows = duckdb.sql(f"SELECT dt, hour, request_id FROM {read_parquet_sql(files)}").fetchall()
        assert rows == [("2024-03-01", "10", "a0")]


def test_explain_shows_bytes_of_both_forms(tmp_store) -> None:
    store = tmp_store
    lines = [rec(T0 + timedelta(seconds=s), f"id{s}", stack_trace="x" * 200) for s in range(300)]
    store.write_object(store.layout.object_key(T0, seq=1), gzip_lines(lines))
    config = config_for(store)
    before = explain_query(config, "errors_by_service", T0, T0 + HOUR)
    assert before.compacted_hours == 0 and before.compacted_bytes == before.bytes_scanned
    open_compactor(config).run(T0 + 2 * HOUR)
    after = explain_query(config, "errors_by_service", T0, T0 + HOUR)
    assert after.compacted_hours == 1 and after.bytes_scanned == before.bytes_scanned
    assert set(after.columns) == {"dt", "hour", "level", "service", "ts"}
    # Athena on Parquet reads the three derived columns' chunks, not the stack traces and messages
    assert 0 < after.athena_compacted_bytes < after.compacted_bytes


def test_the_compact_command_and_the_service_job(cli) -> None:
    from logpipe.config import load_config
    from logpipe.service.jobs import JobRunner, build_jobs

    store_dir = cli.cwd / "logpipe-data"
    from logpipe.config import StoreConfig
    from logpipe.store import Store

    store = Store(StoreConfig(root=str(store_dir)))
    store.write_object(store.layout.object_key(T0, seq=1), gzip_lines([rec(T0, "x")]))
    store.write_object(store.layout.object_key(T0 + HOUR, seq=1), gzip_lines([rec(T0 + HOUR, "y")]))
    code, out, err = cli("compact", "--until", (T0 + HOUR + LATE).isoformat(), "--format", "json")
    assert code == 0, err
    body = json.loads(out)
    # the day's hours before the first record are looked at and found empty
    assert [(h["hour"][11:13], h["action"]) for h in body["hours"] if h["action"] != "empty"] == [("10", "written")]
    assert body["watermark"].startswith("2024-03-01T11:00")
    config = load_config(None)
    jobs = build_jobs(config)
    assert jobs[0].name == "compact"  # first: the queries of the same run read what it compacted
    JobRunner(config, clock=lambda: T0 + 2 * HOUR + LATE).run(jobs[0])
    assert read_watermark(store) == T0 + 2 * HOUR


def test_athena_reads_the_hours_before_the_watermark_from_the_parquet_table() -> None:
    import sqlglot

    from logpipe.config import Config, EngineConfig
    from logpipe.engines.athena import AthenaEngine
    from logpipe.queries.runner import bind_statement

    query_config = Config()
    from logpipe.queries.loader import get_query

    statement = bind_statement(get_query(query_config, "errors_by_service"), T0, T0 + 3 * HOUR, {})
    plain, _ = AthenaEngine(EngineConfig()).compile(statement)
    assert "logs_parquet" not in plain
    engine = AthenaEngine(EngineConfig(), parquet_table="logs_parquet", watermark=lambda: T0 + HOUR)
    sql, params = engine.compile(statement)
    tree = sqlglot.parse_one(sql.replace("?", "NULL"), read="trino")
    union = tree.find(sqlglot.exp.Union)
    assert union is not None
    parquet_side, json_side = union.left.sql(dialect="trino"), union.right.sql(dialect="trino")
    assert '"logs_parquet"' in parquet_side and "concat(dt, hour) < '2024-03-0111'" in parquet_side.lower()
    assert '"logpipe"."logs"' in json_side.lower() and "concat(dt, hour) >= '2024-03-0111'" in json_side.lower()
    assert "lp_level" in parquet_side and "lp_level" not in json_side
    assert len(params) == 6  # the statement's own values only: the watermark is part of the view


def test_the_stateful_stack_has_the_parquet_table_with_partition_projection() -> None:
    from logpipe.config import Config
    from logpipe.infra.render import render_stateful, render_stateless
    from logpipe.schema import COMPACTED_COLUMNS, RAW_COLUMNS

    config = Config()
    stateful = render_stateful(config)
    table = stateful["Resources"]["GlueParquetTable"]["Properties"]["TableInput"]
    assert table["Name"] == "logs_parquet"
    assert table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")
    assert [c["Name"] for c in table["StorageDescriptor"]["Columns"]] == [*RAW_COLUMNS, *COMPACTED_COLUMNS]
    params = table["Parameters"]
    assert params["projection.enabled"] == "true" and params["projection.hour.digits"] == "2"
    # ${!dt}: Fn::Sub keeps the literal ${dt} that partition projection fills in
    assert "logs-parquet/dt=${!dt}/hour=${!hour}/" in json.dumps(params["storage.location.template"])
    rules = stateful["Resources"]["LogBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert any(r["Prefix"] == "logs-parquet/" and r["ExpirationInDays"] == config.infra.retention_days for r in rules)
    statements = render_stateless(config)["Resources"]["ServiceTaskRole"]["Properties"]["Policies"][0][
        "PolicyDocument"]["Statement"]
    write = next(s for s in statements if s["Sid"] == "WriteTheCompactedHours")
    assert "s3:DeleteObject" in write["Action"] and "logs-parquet/*" in json.dumps(write["Resource"])
    # the service may not delete or overwrite raw objects: only the compacted prefix is writable
    assert not any("s3:DeleteObject" in s.get("Action", []) and "logs/*" in json.dumps(s["Resource"])
                   for s in statements)


def test_a_short_window_lists_its_own_parquet_hours_and_finds_what_a_long_one_finds(tmp_store) -> None:
    """Hourly windows list their hour folders, longer ones the day folders: the same Parquet hours either
    way; a Parquet file outside its hour's folder is no compacted hour of a short window (read raw)."""
    store = tmp_store
    for h in range(-2, 4):  # across midnight
        hour = T0.replace(hour=0) + h * HOUR
        store.write_object(store.layout.object_key(hour, seq=1), gzip_lines([rec(hour, f"r{h}")]))
    open_compactor(config_for(store)).run(T0.replace(hour=0) + 4 * HOUR + LATE)
    first = T0.replace(hour=0) - 2 * HOUR
    every = list_compacted(store, first - timedelta(days=3), first + timedelta(days=3))
    assert len(every) == 6
    for start in (first + h * HOUR for h in range(6)):
        for hours in (1, 2, 3, 4, 5):
            assert list_compacted(store, start, start + hours * HOUR) == \
                {h: made for h, made in every.items() if start <= h < start + hours * HOUR}
    made = every[T0.replace(hour=1)]
    stray = made.key.replace("/hour=01/", "/")  # in its day folder, not in its hour's
    store.write_object(stray, store.read_bytes(made.key))
    store.objects.delete(made.key)
    assert T0.replace(hour=1) not in list_compacted(store, T0.replace(hour=1), T0.replace(hour=2))
    assert ids(store, first, first + 6 * HOUR, read=True) == ids(store, first, first + 6 * HOUR, read=False)
