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


def shipped_params(config: Any, raw_config: Any, start: datetime, end: datetime) -> dict[str, dict[str, Any]]:
    """Parameters the shipped queries that need some take, found in the window's own records: the
    commonest error shape (pattern_lines) and a trace id (trace_lines)."""
    error_shapes = run_query(config, "error_shapes", start, end).frame
    top = error_shapes.sort_values("records", ascending=False).iloc[0]
    trace = next(t for t in run_query(raw_config, adhoc_query(
        "SELECT trace_id FROM logs WHERE dt BETWEEN :dt_start AND :dt_end AND trace_id IS NOT NULL LIMIT 1"),
        start, end).frame["trace_id"])
    return {"trace_lines": {"id": trace}, "pattern_lines": {"patterns": top["pattern_id"], "service": top["service"]}}


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
    params = shipped_params(config, raw_config, start, end)
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


def test_a_run_at_a_pretended_time_compacts_the_hours_closed_then(cli) -> None:
    """``logpipe run --now T`` ("pretend the time is this", for backfills and replays) compacts the hours
    closed at T, not every hour up to the real clock: the compact job used the clock, and a run over a
    day of last year compacted (as empty Parquet hours) up to ``max_hours_per_run`` hours past it."""
    from logpipe.config import StoreConfig
    from logpipe.store import Store

    store = Store(StoreConfig(root=str(cli.cwd / "logpipe-data")))
    for hour in range(3):
        store.write_object(store.layout.object_key(T0 + hour * HOUR, seq=1), gzip_lines([rec(T0 + hour * HOUR, "x")]))
    now = T0 + 2 * HOUR + LATE  # 10:00 and 11:00 are closed then; 12:00 is not
    code, out, err = cli("run", "--job", "compact", "--now", now.isoformat(), "--format", "json")
    assert code == 0, err
    assert [j["job"] for j in json.loads(out)] == ["compact"]
    assert read_watermark(store) == T0 + 2 * HOUR
    assert sorted(list_compacted(store, T0 - 24 * HOUR, T0 + 48 * HOUR)) == [T0, T0 + HOUR]


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


# -- the columnar days ----------------------------------------------------------------------------

D1 = datetime(2024, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def _two_days_and_a_bit(store: Any) -> list[str]:
    """Records at the edges of two whole days, late ones lying in the next day's first hour, and two
    hours of a third day; the ids, sorted."""
    d2, d3 = D1 + DAY, D1 + 2 * DAY
    objects = {
        D1: [rec(D1, "d1-first"), b"not json"],
        D1 + 5 * HOUR: [rec(D1 + 5 * HOUR + timedelta(minutes=1), "d1-05")],
        D1 + 23 * HOUR: [rec(d2 - timedelta(milliseconds=1), "d1-last")],
        d2: [rec(d2, "d2-first"), rec(d2 - timedelta(milliseconds=1), "d1-late")],
        d2 + 10 * HOUR: [rec(d2 + 10 * HOUR, "d2-mid")],
        d2 + 23 * HOUR: [rec(d3 - timedelta(milliseconds=1), "d2-last")],
        d3: [rec(d3, "d3-first"), rec(d3 - timedelta(milliseconds=1), "d2-late")],
        d3 + HOUR: [rec(d3 + HOUR, "d3-01")],
    }
    for hour, lines in objects.items():
        store.write_object(store.layout.object_key(hour, seq=1), gzip_lines(lines))
    return sorted(["d1-first", "d1-05", "d1-last", "d1-late", "d2-first", "d2-mid", "d2-last", "d2-late",
                   "d3-first", "d3-01"])


def files_read(config: Any, start: datetime, end: datetime) -> tuple[int, int]:
    """(files scanned, records) of a count over the window."""
    result = run_query(config, adhoc_query(
        "SELECT count(*) AS n FROM logs WHERE dt BETWEEN :dt_start AND :dt_end AND "
        "concat(dt, hour) BETWEEN :dthour_start AND :dthour_end AND ts >= :window_start AND ts < :window_end"),
        start, end)
    return result.stats.files_scanned, int(result.frame["n"][0])


def test_no_record_twice_or_missed_across_days_hours_and_raw(tmp_store) -> None:
    """Issue 19, columnar days: a day wholly inside a window is read from its day file, a day covered
    in part from its hour files, hours past the watermark raw: each record once, in every window."""
    from logpipe.store.compacted import list_compacted_days, read_day_watermark

    store = tmp_store
    everything = _two_days_and_a_bit(store)
    d2, d3 = D1 + DAY, D1 + 2 * DAY
    config = config_for(store)
    report = open_compactor(config).run(d3 + HOUR + LATE)  # hours to d3 00:00; days 1 and 2 merged
    assert read_watermark(store) == d3 + HOUR and read_day_watermark(store) == d3
    assert [(d.day, d.action, d.hours) for d in report.days] == [(D1, "written", 3), (d2, "written", 3)]
    day1 = list_compacted_days(store, D1, d2)[D1]
    assert day1.key.startswith("logs-parquet-daily/dt=2024-03-01/2024-03-01-")
    assert report.days[0].records == 3  # the bad line was never a record
    # the day file keeps the hour files' columns and order: service, level, time
    con = duckdb.connect()
    path = str(store.local_path(day1.key))
    assert [r[0] for r in con.execute(f"SELECT request_id FROM '{path}'").fetchall()] == ["d1-first", "d1-05", "d1-last"]
    assert {r[0] for r in con.execute(f"SELECT DISTINCT compression FROM parquet_metadata('{path}')").fetchall()} == {"ZSTD"}
    windows = {
        (D1, d3 + 2 * HOUR): everything,
        (D1, d2): ["d1-05", "d1-first", "d1-last", "d1-late"],  # the late record of 23:59:59.999 lies in d2's hour 00
        (d2, d3): ["d2-first", "d2-last", "d2-late", "d2-mid"],
        (D1 + 12 * HOUR, d2 + 12 * HOUR): ["d1-last", "d1-late", "d2-first", "d2-mid"],
        (D1 + 5 * HOUR, D1 + 6 * HOUR): ["d1-05"],
        (d3, d3 + 2 * HOUR): ["d3-01", "d3-first"],
    }
    for read in (True, False):
        for (start, end), expected in windows.items():
            assert ids(store, start, end, read) == expected, (start, end, read)
    # What was read: the two day files, the hour file of d3 00:00 and the raw hour after the watermark;
    # a day covered in part is read from its hour files (3 with records: d1 23:00, d2 00:00 and 10:00).
    assert files_read(config, D1, d3 + 2 * HOUR) == (4, 10)
    assert files_read(config, D1, d2) == (2, 4)
    assert files_read(config, D1 + 12 * HOUR, d2 + 12 * HOUR) == (3, 4)
    raw = config_for(store, compact={"read": False})
    assert files_read(raw, D1, d3 + 2 * HOUR) == (8, 10)
    # the bad line of d1 00:00 is counted once, from its verdict, whether the day file or the raw hour is read
    for cfg in (config, raw):
        assert run_query(cfg, "errors_by_service", D1, d2).stats.bad_records == {"not_json": 1}
    # compacting again changes nothing
    again = open_compactor(config).run(d3 + HOUR + LATE)
    assert again.days == [] and list_compacted_days(store, D1, d2)[D1] == day1


def test_days_are_merged_as_many_per_run_as_hours_are_compacted(tmp_store) -> None:
    """A first run over a long compacted history merges at most max_hours // 24 days (at least one),
    the rest in the next runs, in order, the day watermark after each."""
    import shutil

    from logpipe.store.compacted import read_day_watermark

    store = tmp_store
    _two_days_and_a_bit(store)
    d3 = D1 + 2 * DAY
    compactor = open_compactor(config_for(store))
    first = compactor.run(d3 + HOUR + LATE, max_hours=30)  # 30 hours: to d2 06:00, so one whole day
    assert [d.day for d in first.days] == [D1] and first.day_backlog == 0
    second = compactor.run(d3 + HOUR + LATE, max_hours=23)  # the 19 hours left, and at least one day
    assert second.backlog == 0 and [d.day for d in second.days] == [D1 + DAY]
    # every hour compacted, no day merged yet (as after an upgrade): one day a run for 24 hours a run
    shutil.rmtree(store.local_path(store.layout.daily_prefix))
    third = compactor.run(d3 + HOUR + LATE, max_hours=24)
    assert [(d.day, d.action) for d in third.days] == [(D1, "written")] and third.day_backlog == 1
    assert read_day_watermark(store) == D1 + DAY
    fourth = compactor.run(d3 + HOUR + LATE, max_hours=24)
    assert [(d.day, d.action) for d in fourth.days] == [(D1 + DAY, "written")] and fourth.day_backlog == 0
    assert read_day_watermark(store) == d3


def test_a_stale_day_file_is_not_read_and_a_recheck_merges_the_day_again(tmp_store, monkeypatch) -> None:
    """An object delivered far too late into a merged day's hour: the hour is read raw and the day
    from its hour files (never the day file and the hour both); an hour compacted again without its
    day merged again leaves the day file stale, and it is not read; a recheck merges the day again,
    the day watermark moved back over it before its hour changes (Athena reads the day table below
    that watermark without checking fingerprints)."""
    from logpipe.store.compacted import list_compacted_days, read_day_watermark

    store = tmp_store
    everything = _two_days_and_a_bit(store)
    d2, d3 = D1 + DAY, D1 + 2 * DAY
    config = config_for(store)
    open_compactor(config).run(d3 + HOUR + LATE)
    old_day = list_compacted_days(store, D1, d2)[D1]
    late = rec(D1 + 5 * HOUR + timedelta(minutes=30), "d1-very-late")
    store.write_object(store.layout.object_key(D1 + 5 * HOUR, seq=2), gzip_lines([late]))
    with_late = sorted([*everything, "d1-very-late"])
    for window in ((D1, d3 + 2 * HOUR), (D1, d2)):
        assert ids(store, *window, True) == ids(store, *window, False) == sorted(
            i for i in with_late if window == (D1, d3 + 2 * HOUR) or i.startswith("d1"))
    # day 1 from its hour files (2 current, hour 05 raw: 2 objects) and d2's hour 00: the day file is not read
    assert files_read(config, D1, d2) == (5, 5)

    # the hour compacted again, its day not merged: the day file is stale, the hour files are read
    hour = Compactor(config.engine, store, None, LATE).compact_hour(D1 + 5 * HOUR)
    assert hour.action == "written"
    assert files_read(config, D1, d2) == (4, 5)
    assert ids(store, D1, d3 + 2 * HOUR, True) == with_late

    # a recheck (the hour is current now, so the day is found stale by its fingerprint) merges it again
    open_compactor(config).run(d3 + HOUR + LATE)  # nothing new: no hour written, so no day looked at
    assert list_compacted_days(store, D1, d2)[D1] == old_day
    store.write_object(store.layout.object_key(D1 + 5 * HOUR, seq=3), gzip_lines([rec(D1 + 5 * HOUR, "d1-later")]))
    writes: list[str] = []
    write = type(store).write_object

    def spy(self: Any, key: str, data: bytes) -> Any:
        writes.append(json.loads(data)["watermark"][:10] if key.endswith("_watermark.json") and "daily" in key
                      else key.split("/")[0])
        return write(self, key, data)

    monkeypatch.setattr(type(store), "write_object", spy)
    report = open_compactor(config).run(d3 + HOUR + LATE, recheck=timedelta(days=3))
    monkeypatch.undo()
    assert [h.hour for h in report.written] == [D1 + 5 * HOUR]
    assert [(d.day, d.action) for d in report.days] == [(D1, "written"), (d2, "kept")]
    # the day watermark steps back to day 1 before its hour is written again, and forward day by day
    # once the day is merged again
    assert writes == ["2024-03-01", "logs-parquet", "logs-parquet-daily", "2024-03-02", "2024-03-03"]
    assert read_day_watermark(store) == d3
    new_day = list_compacted_days(store, D1, d2)[D1]
    assert new_day.key != old_day.key and not store.local_path(old_day.key).exists()
    assert files_read(config, D1, d2) == (2, 6)
    all_ids = sorted([*with_late, "d1-later"])
    assert ids(store, D1, d3 + 2 * HOUR, True) == all_ids == ids(store, D1, d3 + 2 * HOUR, False)


def test_explain_bytes_with_day_files(tmp_store) -> None:
    """``query explain``: DuckDB's bytes are those of the files it reads (the day file for a whole
    day, hour files for a part of one); Athena's are the day table's column chunks in both cases (its
    partition projection prunes the day table by dt only, and this day is one row group)."""
    store = tmp_store
    for h in range(24):
        lines = [rec(D1 + h * HOUR + timedelta(seconds=s), f"id{h}-{s}", stack_trace="x" * 200) for s in range(40)]
        store.write_object(store.layout.object_key(D1 + h * HOUR, seq=1), gzip_lines(lines))
    config = config_for(store)
    raw_day = explain_query(config, "errors_by_service", D1, D1 + 23 * HOUR)
    open_compactor(config).run(D1 + DAY + HOUR + LATE)
    from logpipe.store.compacted import list_compacted, list_compacted_days

    day = list_compacted_days(store, D1, D1 + DAY)[D1]
    hours = list_compacted(store, D1, D1 + DAY)
    # a window ending at 23:50 scans to 00:00 (its lateness): the whole day, from the day file
    assert explain_query(config, "errors_by_service", D1, D1 + DAY - LATE).compacted_days == 1
    whole = explain_query(config, "errors_by_service", D1, D1 + DAY)
    # the day file, and d2's hour 00 which the lateness reaches (no object there)
    assert (whole.compacted_hours, whole.compacted_days) == (24, 1) and whole.compacted_bytes == day.size
    part = explain_query(config, "errors_by_service", D1 + 5 * HOUR, D1 + 6 * HOUR)
    assert (part.compacted_hours, part.compacted_days) == (2, 0)
    assert part.compacted_bytes == hours[D1 + 5 * HOUR].size + hours[D1 + 6 * HOUR].size
    # Athena: the day file's chunks of the columns used, for the whole day and for an hour of it
    assert 0 < whole.athena_compacted_bytes == part.athena_compacted_bytes < day.size
    partial = explain_query(config, "errors_by_service", D1, D1 + 23 * HOUR)
    assert partial.bytes_scanned == raw_day.bytes_scanned and partial.athena_compacted_bytes == whole.athena_compacted_bytes


def test_the_compact_command_reports_the_days(cli) -> None:
    from logpipe.config import StoreConfig
    from logpipe.store import Store

    store = Store(StoreConfig(root=str(cli.cwd / "logpipe-data")))
    store.write_object(store.layout.object_key(D1 + 3 * HOUR, seq=1), gzip_lines([rec(D1 + 3 * HOUR, "x")]))
    store.write_object(store.layout.object_key(D1 + DAY, seq=1), gzip_lines([rec(D1 + DAY, "y")]))
    code, out, err = cli("compact", "--until", (D1 + DAY).isoformat(), "--format", "json")
    assert code == 0, err
    body = json.loads(out)
    assert body["days"] == [] and body["day_watermark"] is None  # d1's hour 23 is not closed yet
    code, out, err = cli("compact", "--until", (D1 + DAY + LATE).isoformat(), "--format", "json")
    assert code == 0, err
    body = json.loads(out)
    assert [(d["day"], d["action"], d["hours"], d["records"]) for d in body["days"]] == [("2024-03-01", "written", 1, 1)]
    assert body["days"][0]["key"].startswith("logs-parquet-daily/dt=2024-03-01/")
    assert body["day_watermark"].startswith("2024-03-02T00:00") and body["day_watermark_before"] is None
    code, out, err = cli("compact", "--until", (D1 + DAY + 2 * HOUR + LATE).isoformat())
    assert code == 0, err
    assert "day watermark" not in out  # no day to look at: no line about days
    store.objects.delete(store.layout.daily_watermark_key())  # as before the first merge: d1 is looked at again
    code, out, err = cli("compact", "--until", (D1 + DAY + 2 * HOUR + LATE).isoformat())
    assert code == 0, err
    assert "0 days merged (0 hour files, 0 bytes), 1 unchanged; day watermark 2024-03-02" in " ".join(out.split())


@pytest.mark.slow
def test_every_shipped_query_answers_alike_on_raw_hourly_and_daily_files(tmp_store) -> None:
    """Issue 19: every shipped query gives the same rows over raw objects, over Parquet hours, and
    over a day file with Parquet and raw hours after it (a window over a whole day and one beyond)."""
    from logpipe.simulate import simulate
    from logpipe.store.compacted import read_day_watermark

    store = tmp_store
    start, end = D1, D1 + DAY + 3 * HOUR
    simulate(store, start, end, seed=5, rate=0.03, bad_rate=0.01)
    config = config_for(store)
    report = open_compactor(config).run(end - HOUR + LATE)  # the last hour stays raw
    assert [(d.day, d.action) for d in report.days] == [(D1, "written")] and read_day_watermark(store) == D1 + DAY
    raw_config = config_for(store, compact={"read": False})
    params = shipped_params(config, raw_config, start, end)

    def answers(cfg: Any, window: tuple[datetime, datetime]) -> dict[str, Any]:
        return {name: run_query(cfg, name, *window, params.get(name, {})) for name in SHIPPED}

    windows = [(start, end), (D1, D1 + DAY)]
    daily = {w: answers(config, w) for w in windows}
    raw = {w: answers(raw_config, w) for w in windows}
    store.objects.delete(store.layout.daily_watermark_key())  # no day merged: the hour files are read
    hourly = {w: answers(config, w) for w in windows}
    for window in windows:
        for name in SHIPPED:
            d, h, r = daily[window][name], hourly[window][name], raw[window][name]
            assert d.stats.files_scanned < h.stats.files_scanned < r.stats.files_scanned, (name, window)
            assert d.table.schema == h.table.schema == r.table.schema, (name, window)
            assert comparable_rows(d.table, name) == comparable_rows(h.table, name) == comparable_rows(r.table, name), \
                (name, window)
            assert d.stats.bad_records == h.stats.bad_records == r.stats.bad_records, (name, window)
    # the next compaction finds the day file current and puts the day watermark back
    again = open_compactor(config).run(end - HOUR + LATE)
    assert [(d.day, d.action) for d in again.days] == [(D1, "kept")] and read_day_watermark(store) == D1 + DAY


def test_athena_reads_the_days_before_the_day_watermark_from_the_day_table() -> None:
    import sqlglot

    from logpipe.config import Config, EngineConfig
    from logpipe.engines.athena import AthenaEngine
    from logpipe.queries.loader import get_query
    from logpipe.queries.runner import bind_statement

    statement = bind_statement(get_query(Config(), "errors_by_service"), D1, D1 + 3 * DAY, {})
    hours_only = AthenaEngine(EngineConfig(), parquet_table="logs_parquet", watermark=lambda: D1 + 2 * DAY + HOUR,
                              daily_table="logs_parquet_daily", day_watermark=lambda: None)
    assert "logs_parquet_daily" not in hours_only.compile(statement)[0]
    for day_mark, days_before in ((D1 + 2 * DAY, "2024-03-03"), (D1 + 9 * DAY, "2024-03-03"), (D1 + DAY, "2024-03-02")):
        engine = AthenaEngine(EngineConfig(), parquet_table="logs_parquet", watermark=lambda: D1 + 2 * DAY + HOUR,
                              daily_table="logs_parquet_daily", day_watermark=lambda mark=day_mark: mark)
        sql, params = engine.compile(statement)
        tree = sqlglot.parse_one(sql.replace("?", "NULL"), read="trino")
        union = tree.find(sqlglot.exp.Union)
        assert union is not None and isinstance(union.left, sqlglot.exp.Union)
        daily, hourly, raw = (side.sql(dialect="trino").lower() for side in (union.left.left, union.left.right, union.right))
        # a day watermark past the hour watermark's day is never believed: days stop where hours do
        assert '"logs_parquet_daily"' in daily and f"dt < '{days_before}'" in daily
        assert '"logs_parquet"' in hourly and f"dt >= '{days_before}'" in hourly
        assert "concat(dt, hour) < '2024-03-0301'" in hourly
        assert '"logpipe"."logs"' in raw and "concat(dt, hour) >= '2024-03-0301'" in raw
        assert len(params) == 6


def test_the_athena_view_reads_what_duckdb_reads(tmp_store) -> None:
    """The Athena view's three-way split (days, hours, raw at the two watermarks), run on DuckDB over
    the store's files as the three Glue tables would see them, holds each record once: the same
    records the DuckDB engine reads, after a compaction and after a recheck merged a day again."""
    from logpipe.engines.athena import _split_view
    from logpipe.engines.duckdb import open_connection
    from logpipe.engines.raw_sql import read_json_sql, read_parquet_sql
    from logpipe.engines.transpile import to_duckdb
    from logpipe.engines.trino.compiler import logs_schema
    from logpipe.store.compacted import read_day_watermark

    store = tmp_store
    everything = _two_days_and_a_bit(store)
    d3 = D1 + 2 * DAY
    config = config_for(store)

    def athena_ids() -> list[str]:
        mark, day_mark = read_watermark(store), read_day_watermark(store)
        assert mark is not None and day_mark is not None
        root = store.local_path("")
        # the JSON table, the hours' table and the days' table (named as the translator's schema knows them)
        tables = {
            "logs_raw": read_json_sql(sorted(str(p) for p in root.glob("logs/dt=*/hour=*/*.gz"))),
            "logs_compacted": read_parquet_sql(sorted(str(p) for p in root.glob("logs-parquet/dt=*/hour=*/*.parquet"))),
            "logs_days": read_parquet_sql(sorted(str(p) for p in root.glob("logs-parquet-daily/dt=*/*.parquet"))),
        }
        view = _split_view('"logpipe"."logs_raw"', '"logpipe"."logs_compacted"', mark.strftime("%Y-%m-%d%H"),
                           '"logpipe"."logs_days"', day_mark.strftime("%Y-%m-%d"))
        schema = logs_schema()
        schema["logs_days"] = schema["logs_compacted"]
        con = open_connection(config.engine, readable=[str(root)])
        try:
            con.execute("CREATE SCHEMA logpipe")
            for name, source in tables.items():
                con.execute(f"CREATE VIEW logpipe.{name} AS SELECT * FROM {source}")
            sql = to_duckdb(view.sql(dialect="trino"), schema=schema)
            return sorted(r[0] for r in con.execute(f"SELECT request_id FROM ({sql})").fetchall())
        finally:
            con.close()

    open_compactor(config).run(d3 + HOUR + LATE)
    assert athena_ids() == everything == ids(store, D1, d3 + 2 * HOUR, True)
    store.write_object(store.layout.object_key(D1 + 5 * HOUR, seq=2), gzip_lines([rec(D1 + 5 * HOUR, "d1-late-2")]))
    open_compactor(config).run(d3 + HOUR + LATE, recheck=timedelta(days=3))
    assert athena_ids() == sorted([*everything, "d1-late-2"]) == ids(store, D1, d3 + 2 * HOUR, True)


def test_the_stateful_stack_has_the_day_table_partitioned_by_dt_only() -> None:
    from logpipe.config import Config
    from logpipe.infra.render import render_stateful, render_stateless
    from logpipe.schema import COMPACTED_COLUMNS, RAW_COLUMNS

    config = Config()
    stateful = render_stateful(config)
    table = stateful["Resources"]["GlueDailyTable"]["Properties"]["TableInput"]
    assert table["Name"] == "logs_parquet_daily"
    assert table["PartitionKeys"] == [{"Name": "dt", "Type": "string"}]
    assert [c["Name"] for c in table["StorageDescriptor"]["Columns"]] == [*RAW_COLUMNS, "hour", *COMPACTED_COLUMNS]
    assert table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")
    params = table["Parameters"]
    assert params["projection.enabled"] == "true" and params["projection.dt.type"] == "date"
    assert not any(k.startswith("projection.hour") for k in params)
    assert json.dumps(params["storage.location.template"]).endswith('logs-parquet-daily/dt=${!dt}/"}')
    rules = stateful["Resources"]["LogBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert any(r["Prefix"] == "logs-parquet-daily/" and r["ExpirationInDays"] == config.infra.retention_days
               for r in rules)
    assert stateful["Outputs"]["DailyTableName"]["Value"] == "logs_parquet_daily"
    statements = render_stateless(config)["Resources"]["ServiceTaskRole"]["Properties"]["Policies"][0][
        "PolicyDocument"]["Statement"]
    write = next(s for s in statements if s["Sid"] == "WriteTheCompactedDays")
    assert "s3:DeleteObject" in write["Action"] and "logs-parquet-daily/*" in json.dumps(write["Resource"])
    read = next(s for s in statements if s["Sid"] == "ReadTheLogTable")
    assert "${DailyTable}" in json.dumps(read["Resource"]) and "DailyTableName" in json.dumps(read["Resource"])


def test_the_day_tier_on_s3(s3_store) -> None:
    """The same tiers on an S3 store (moto): the day files and watermark in the bucket, DuckDB reading
    their downloaded copies, a recheck replacing a day file, and the Athena engine's view reading the
    day watermark from the bucket."""
    from logpipe.engines.registry import open_engine
    from logpipe.store.compacted import list_compacted_days, read_day_watermark

    store = s3_store
    everything = _two_days_and_a_bit(store)
    d2, d3 = D1 + DAY, D1 + 2 * DAY
    config = config_for(store)
    report = open_compactor(config).run(d3 + HOUR + LATE)
    assert [(d.day, d.action) for d in report.days] == [(D1, "written"), (d2, "written")]
    assert read_day_watermark(store) == d3
    for read in (True, False):
        assert ids(store, D1, d3 + 2 * HOUR, read) == everything
    assert files_read(config, D1, d3 + 2 * HOUR) == (4, 10)
    old = list_compacted_days(store, D1, d3)
    store.write_object(store.layout.object_key(D1 + 5 * HOUR, seq=2), gzip_lines([rec(D1 + 5 * HOUR, "d1-late")]))
    assert files_read(config, D1, d3 + 2 * HOUR) == (7, 11)  # day 1 from 2 hour files and hour 05 raw (2)
    open_compactor(config).run(d3 + HOUR + LATE, recheck=timedelta(days=3))
    new = list_compacted_days(store, D1, d3)
    assert new[D1].key != old[D1].key and new[d2] == old[d2] and read_day_watermark(store) == d3
    keys = [k for k, _s, _v in store.objects.iter_objects(store.layout.daily_prefix + "/")]
    assert sorted(keys) == sorted([new[D1].key, new[d2].key, store.layout.daily_watermark_key()])
    assert files_read(config, D1, d3 + 2 * HOUR) == (4, 11)
    athena = open_engine(config_for(store, engine={"kind": "athena"}), "athena")
    view = athena.view_sql()  # type: ignore[attr-defined]
    assert '"logs_parquet_daily"' in view and "dt < '2024-03-03'" in view and "< '2024-03-0301'" in view


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


def test_a_compacted_days_data_quality_is_remembered_and_is_that_of_its_raw_objects(tmp_store) -> None:
    """A window reading a whole day from its day file gets the day's data quality (bad records, damaged
    objects, misplaced) from one small file in the cache folder, keyed by the day file's URL (its
    fingerprint: the raw objects it was merged from) and the lateness - written once every verdict
    was found scanned, never trusted when malformed, and the same as the raw objects' own."""
    from pathlib import Path

    from support import damaged_corpus

    from logpipe.config import parse_duration
    from logpipe.engines import translation_cache
    from logpipe.engines.duckdb import QUALITY_FOLDER, _quality_key
    from logpipe.state.db import open_state
    from logpipe.store.logs import UNRECOGNISED

    store = tmp_store
    damaged_corpus.build(store, D1 + 5 * HOUR)
    store.write_object(store.layout.object_key(D1 + 20 * HOUR, seq=1), gzip_lines([rec(D1 + 20 * HOUR, "z")]))
    config, raw = config_for(store), config_for(store, compact={"read": False})
    report = open_compactor(config).run(D1 + DAY + LATE)
    assert [(d.day, d.action) for d in report.days] == [(D1, "written")]
    day_url = store.url(report.days[0].key)

    def quality(cfg: Any) -> dict[str, Any]:
        UNRECOGNISED.clear()
        result = run_query(cfg, "errors_by_service", D1, D1 + DAY)
        body = result.stats.quality.to_dict()
        body["damaged_objects"] = sorted(map(json.dumps, body["damaged_objects"]))
        return {**body, "files": result.stats.files_scanned}

    expected = {**quality(raw), "files": 1}  # the day file alone
    assert expected["damaged_objects"] and expected["bad_total"] > 0
    folder = Path(config.store.cache_dir) / QUALITY_FOLDER
    assert quality(config) == expected and len(list(folder.glob("*.json"))) == 1  # from the verdicts, remembered
    assert quality(config) == expected  # from the cache folder
    key = _quality_key(day_url, parse_duration(config.service.lateness))
    remembered = translation_cache.load(config.store.cache_dir, key, QUALITY_FOLDER)
    assert remembered is not None and remembered["objects"] == expected["objects"]
    # what is remembered is what answers (an edited part shows), a malformed one is not trusted
    translation_cache.save(config.store.cache_dir, key, {**remembered, "misplaced": 1234}, QUALITY_FOLDER)
    assert quality(config)["misplaced"] == 1234
    # another lateness counts misplaced records otherwise: what was remembered under this one is not its answer
    other = config_for(store, service={"lateness": "1m"})
    assert quality(other)["misplaced"] != 1234
    translation_cache.save(config.store.cache_dir, key, {"objects": "many"}, QUALITY_FOLDER)
    assert quality(config) == expected
    # a verdict not found: the day's quality is what was found, and nothing is remembered
    for file in folder.glob("*.json"):
        file.unlink()
    with open_state(config.state.url).begin() as conn:
        from sqlalchemy import text

        gone = conn.execute(text("DELETE FROM object_verdicts WHERE url LIKE :u"), {"u": "%hour=20%"}).rowcount
    assert gone == 1
    assert quality(config)["objects"] == expected["objects"] - 1 and list(folder.glob("*.json")) == []


def _backdate(store: Any, day: datetime, seconds_ago: int) -> None:
    """Give a day's raw folders (the day's and its hours') an mtime in the past: a settled day."""
    import os
    import time
    from pathlib import Path

    moment = time.time() - seconds_ago
    folder = Path(store.objects.root) / store.layout.prefix / f"dt={day:%Y-%m-%d}"
    for path in [folder, *[p for p in folder.iterdir() if p.is_dir()]]:
        os.utime(path, (moment, moment))


def test_a_settled_day_is_read_from_its_day_file_without_listing_its_raw_objects(tmp_store, monkeypatch) -> None:
    """A whole day whose raw folders are as they were when a listing found its objects merged into its
    day file (with their data quality remembered) is read without listing them: the same records, the
    same data quality. An object added or removed since - even with the folders' times set back, as
    long as they differ - is seen: the day is listed and read as before. A folder changed within the
    last seconds is never stamped."""
    from pathlib import Path

    from support import damaged_corpus

    from logpipe.engines.duckdb import QUALITY_FOLDER
    from logpipe.store.local import LocalObjectStore
    from logpipe.store.logs import UNRECOGNISED

    store = tmp_store
    damaged_corpus.build(store, D1 + 5 * HOUR)
    store.write_object(store.layout.object_key(D1 + 20 * HOUR, seq=1), gzip_lines([rec(D1 + 20 * HOUR, "z")]))
    store.write_object(store.layout.object_key(D1 + DAY + HOUR, seq=1), gzip_lines([rec(D1 + DAY + HOUR, "n")]))
    config, raw = config_for(store), config_for(store, compact={"read": False})
    assert [d.action for d in open_compactor(config).run(D1 + DAY + LATE).days] == ["written"]
    listed: list[str] = []
    real = LocalObjectStore.iter_objects

    def spy(self: Any, prefix: str) -> Any:
        listed.append(prefix)
        return real(self, prefix)

    monkeypatch.setattr(LocalObjectStore, "iter_objects", spy)
    day_folder = f"{store.layout.prefix}/dt={D1:%Y-%m-%d}"
    stamps = Path(config.store.cache_dir) / QUALITY_FOLDER

    def answer(cfg: Any, end: datetime = D1 + DAY) -> tuple[dict[str, Any], list[str], bool]:
        UNRECOGNISED.clear()
        listed.clear()
        result = run_query(cfg, adhoc_query("SELECT request_id, level FROM logs WHERE dt BETWEEN :dt_start AND "
                                            ":dt_end AND ts >= :window_start AND ts < :window_end"), D1, end)
        body = result.stats.quality.to_dict()
        body["damaged_objects"] = sorted(map(json.dumps, body["damaged_objects"]))
        rows = sorted(map(str, result.frame.itertuples(index=False)))
        return body, rows, any(p.startswith(day_folder) for p in listed)

    expected_quality, expected_rows, _ = answer(raw)
    assert answer(config) == (expected_quality, expected_rows, True)  # changed just now: listed, no stamp
    assert answer(config) == (expected_quality, expected_rows, True)
    assert not any("day-stamp" in f.read_text() for f in stamps.glob("*.json"))
    _backdate(store, D1, 3600)
    assert answer(config) == (expected_quality, expected_rows, True)  # listed once more, stamped
    assert answer(config) == (expected_quality, expected_rows, False)  # settled: not listed
    assert answer(config, D1 + DAY + 2 * HOUR)[2] is False  # a longer window too (the next day listed raw)
    # a late object in the day: its folder changes (set back again, but to another time)
    store.write_object(store.layout.object_key(D1 + 7 * HOUR, seq=9), gzip_lines([rec(D1 + 7 * HOUR, "late")]))
    _backdate(store, D1, 1800)
    late_quality, late_rows, _ = answer(raw)
    assert any("late" in r for r in late_rows) and late_rows != expected_rows
    assert answer(config) == (late_quality, late_rows, True)  # listed: the hour is read raw
    # an object removed
    victim = store.layout.object_key(D1 + 20 * HOUR, seq=1)
    store.objects.delete(victim)
    _backdate(store, D1, 900)
    gone_quality, gone_rows, _ = answer(raw)
    assert answer(config) == (gone_quality, gone_rows, True)
    # compacted again, settled again: still the raw objects' answer
    open_compactor(config).run(D1 + DAY + LATE, recheck=timedelta(days=3))
    _backdate(store, D1, 600)
    assert answer(config) == (gone_quality, gone_rows, True)
    assert answer(config) == (gone_quality, gone_rows, False)
    # what is remembered with the stamp is what answers; damaged, it is not trusted: listed again
    from logpipe.config import parse_duration
    from logpipe.engines import translation_cache
    from logpipe.engines.duckdb import _stamp_key
    from logpipe.store.compacted import list_compacted_days

    key = _stamp_key(store.url(list_compacted_days(store, D1, D1 + DAY)[D1].key), parse_duration(config.service.lateness))
    remembered = translation_cache.load(config.store.cache_dir, key, QUALITY_FOLDER)
    assert remembered is not None and remembered["hours"] > 1
    translation_cache.save(config.store.cache_dir, key, {**remembered, "quality": {**remembered["quality"],
                                                                                  "misplaced": 4321}}, QUALITY_FOLDER)
    assert answer(config)[0]["misplaced"] == 4321
    translation_cache.save(config.store.cache_dir, key, {**remembered, "quality": "damaged"}, QUALITY_FOLDER)
    assert answer(config) == (gone_quality, gone_rows, True)
    assert answer(config) == (gone_quality, gone_rows, False)  # stamped again by that listing


def test_the_compaction_select_is_remembered_in_the_cache_folder(tmp_path, monkeypatch) -> None:
    """A warm compaction reads the hour's DuckDB SELECT from the cache folder: the same text, and
    sqlglot is not called (nor imported by a process that finds it)."""
    import logpipe.engines.compact as compact
    import logpipe.engines.transpile as transpile

    compact._compaction_select.cache_clear()
    first = compact._compaction_select(str(tmp_path))
    assert first == transpile.to_duckdb(compact.compaction_select_sql("logs_raw"))
    compact._compaction_select.cache_clear()  # as in a new process

    def refuse(*args: Any, **kwargs: Any) -> str:
        raise AssertionError("translated again")

    monkeypatch.setattr(transpile, "to_duckdb", refuse)
    assert compact._compaction_select(str(tmp_path)) == first
    compact._compaction_select.cache_clear()
    with pytest.raises(AssertionError, match="translated again"):  # another folder: translated
        compact._compaction_select(str(tmp_path / "other"))
    compact._compaction_select.cache_clear()
