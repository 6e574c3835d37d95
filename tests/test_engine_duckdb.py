"""DuckDB engine over exact records: rows, partition pruning, bad records, S3 cache."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import duckdb
import pytest
from support.configs import config_for

from logpipe.engines import open_engine
from logpipe.engines.bad_records import BadRecordCounter
from logpipe.engines.raw_sql import all_null_predicate, read_json_sql
from logpipe.patterns.miner import TemplateMiner
from logpipe.queries.runner import adhoc_query, bind_statement, run_query, run_sql
from logpipe.store import MAX_RECORD_BYTES, gzip_lines

DAY = datetime(2024, 1, 1, tzinfo=UTC)


def rec(hour: int, minute: int, service: str, level: str, message: str) -> bytes:
    return json.dumps({"time": f"2024-01-01T{hour:02d}:{minute:02d}:00Z", "service": service,
                       "level": level, "message": message}).encode()


def fill(store) -> None:
    for hour in range(24):
        lines = [rec(hour, 1, "api", "ERROR", f"user {hour} failed"), rec(hour, 2, "web", "INFO", "ok")]
        if hour == 5:
            lines += [rec(5, 3, "web", "FATAL", "disk full on /dev/sda1"), b"not json", b'{"message": "cut',
                      b'{"message": "bad \xff utf8"}', b"[1, 2]"]
        store.write_object(store.layout.object_key(DAY.replace(hour=hour)), gzip_lines(lines))


def counter_for(store) -> BadRecordCounter:
    return BadRecordCounter()


def test_errors_by_service_exact_rows(tmp_store) -> None:
    fill(tmp_store)
    result = run_query(config_for(tmp_store), "errors_by_service", DAY.replace(hour=4), DAY.replace(hour=6))
    rows = [(str(r.hour), r.service, r.errors) for r in result.frame.itertuples()]
    assert rows == [("2024-01-01 04:00:00+00:00", "api", 1), ("2024-01-01 05:00:00+00:00", "api", 1),
                    ("2024-01-01 05:00:00+00:00", "web", 1)]
    # hours 04 and 05, and 06 for records that arrived late ([service] lateness): each counted once
    assert result.stats.files_scanned == 3
    assert result.stats.bad_records == {"not_json": 2, "invalid_utf8": 1, "not_an_object": 1}
    only_web = run_query(config_for(tmp_store), "errors_by_service", DAY.replace(hour=4), DAY.replace(hour=6),
                         {"service": "web"})
    assert only_web.frame["service"].tolist() == ["web"]


def test_window_edges_inside_an_hour(tmp_store) -> None:
    fill(tmp_store)
    # 04:01:30 .. 05:02:30 holds the 05:01 error but not 04:01 (before start) or 05:03 (after end)
    result = run_sql(config_for(tmp_store), "SELECT service, message FROM logs WHERE level = 'ERROR' "
                     "AND ts >= :window_start AND ts < :window_end",
                     datetime(2024, 1, 1, 4, 1, 30, tzinfo=UTC), datetime(2024, 1, 1, 5, 2, 30, tzinfo=UTC))
    assert result.frame.to_dict("records") == [{"service": "api", "message": "user 5 failed"}]


def test_top_error_messages_masks_and_limits(tmp_store) -> None:
    fill(tmp_store)
    result = run_query(config_for(tmp_store), "top_error_messages", DAY, DAY.replace(hour=23, minute=59),
                       {"limit": "1"})
    assert result.frame[["template", "count"]].to_dict("records") == [{"template": "user <*> failed", "count": 24}]
    assert result.frame["pattern_id"][0] == TemplateMiner().add("user 3 failed").pattern_id


def test_only_the_window_partitions_are_scanned(tmp_store) -> None:
    fill(tmp_store)
    config = config_for(tmp_store)
    engine = open_engine(config, "duckdb")
    statement = bind_statement(adhoc_query("SELECT count(*) FROM logs"), DAY.replace(hour=10), DAY.replace(hour=12), {})
    plan = engine.explain(statement)
    assert "Total Files Read: 2" in plan  # of the 24 hour objects in the store
    assert "hour=10/" in plan and "hour=11/" in plan and "hour=12/" not in plan and "hour=09/" not in plan
    files = tmp_store.local_paths(tmp_store.list_objects(statement.window_start, statement.window_end))
    assert [f.split("/")[-2] for f in files] == ["hour=10", "hour=11"]
    # The runner reads one more hour, for records that arrived late (10 minutes by default).
    late = bind_statement(adhoc_query("SELECT count(*) FROM logs"), DAY.replace(hour=10), DAY.replace(hour=12), {},
                          timedelta(minutes=10))
    assert "Total Files Read: 3" in engine.explain(late) and late.values["dthour_end"] == "2024-01-0112"
    assert run_sql(config, "SELECT count(*) AS n FROM logs WHERE ts >= :window_start AND ts < :window_end",
                   DAY.replace(hour=10), DAY.replace(hour=12)).frame["n"][0] == 4


def test_empty_window_returns_no_rows(tmp_store) -> None:
    result = run_query(config_for(tmp_store), "errors_by_service", DAY, DAY.replace(hour=1))
    assert list(result.frame.columns) == ["hour", "service", "errors"] and len(result.frame) == 0


def test_s3_store_is_cached_locally(s3_store) -> None:
    fill(s3_store)
    config = config_for(s3_store)
    result = run_query(config, "errors_by_service", DAY.replace(hour=5), DAY.replace(hour=6))
    assert result.frame["errors"].sum() == 2
    assert result.stats.bytes_scanned > 0
    cached = sorted((__import__("pathlib").Path(config.store.cache_dir)).rglob("*.gz"))
    # hour 05, and hour 06 where records of 05 that arrived late would lie
    assert [p.parent.name for p in cached] == ["hour=05", "hour=06"]


# Lines as shippers and broken encoders write them, each with the reason the engine must name.
EDGE_LINES: list[tuple[bytes, str | None]] = [
    (rec(5, 1, "api", "ERROR", "good"), None),
    (b"", None), (b"   \t", None),  # blank lines: read_json skips them, so they are not records
    (b'  {"message": "leading blank"}', None), (b'{"foo": 1, "service": "api"}', None),
    (b'{"mess\\u0061ge": "an escaped known key"}', None), (b'{"message": {"nested": 1}}', None),
    (b"not json", "not_json"), (b'{"message": "a"} trailing', "not_json"),
    (b'{"message": "a\x01b"}', "not_json"),  # a raw control character (the line scan's delimiter)
    (b'{"message": "\\ud800"}', "not_json"),  # a lone surrogate: DuckDB rejects it (Python's json did not)
    (b"[1, 2]", "not_an_object"), (b'"text"', "not_an_object"), (b"null", "not_an_object"),
    (b'{"level":"INFO"}', None), (b'{"message": null, "level": "INFO"}', None),
    (b"{}", "no_known_keys"), (b'{"foo": 1}', "no_known_keys"), (b'{"message": null}', "no_known_keys"),
    (b'{"message":null}', "no_known_keys"), (b'{"level" :\tnull, "foo": 1}', "no_known_keys"),
    (b'{"MESSAGE": "keys are case-sensitive"}', "no_known_keys"), (b'{"x": {"message": "nested"}}', "no_known_keys"),
    (b'{"message": "caf\xe9"}', "invalid_utf8"),
    # A large record DuckDB reads is a row of the query, not a lost one; a large unreadable one is too_large.
    (b'{"message": "' + b"a" * (3 * MAX_RECORD_BYTES) + b'"}', None),
    (b'{"message": "' + b"a" * MAX_RECORD_BYTES, "too_large"), (b"[" + b"1," * MAX_RECORD_BYTES + b"1]", "too_large"),
    (b'{"message": "' + b"a" * (17 * MAX_RECORD_BYTES), "too_large"),  # past the line scan's limit (16 MiB)
]


def test_line_scan_names_every_line_read_json_drops(tmp_store) -> None:
    key = tmp_store.layout.object_key(DAY.replace(hour=5))
    tmp_store.write_object(key, gzip_lines([line for line, _ in EDGE_LINES]))
    path = str(tmp_store.local_path(key))
    expected: dict[str, int] = {}
    for _, reason in EDGE_LINES:
        if reason:
            expected[reason] = expected.get(reason, 0) + 1
    counter = counter_for(tmp_store)
    found = counter._scan([path])
    assert found == {path: expected}
    # DuckDB's read_json is the reference: every row it makes all-NULL has exactly one reason.
    con = duckdb.connect()
    dropped = con.execute(f"SELECT count(*) FILTER (WHERE {all_null_predicate()}) FROM {read_json_sql([path])}").fetchone()[0]
    assert dropped == sum(expected.values())
    # The slower fallback (read_json's count, reasons named in Python) has the same total; it names a
    # lone surrogate (valid to Python's json) no better than by that total.
    assert sum(counter._count_and_classify([path], con)[path].values()) == dropped


def test_crlf_objects_take_the_line_scan(tmp_store) -> None:
    key = tmp_store.layout.object_key(DAY.replace(hour=5))
    lines = [rec(5, 1, "api", "ERROR", "x"), b"", b"not json", b'{"foo": 1}', b"[1]", b'{"message": "caf\xe9"}']
    tmp_store.write_object(key, gzip_lines([line + b"\r" for line in lines]))
    path = str(tmp_store.local_path(key))
    found = counter_for(tmp_store)._scan([path])
    assert found == {path: {"not_json": 1, "no_known_keys": 1, "not_an_object": 1, "invalid_utf8": 1}}


def test_objects_the_line_scan_cannot_split_are_counted_the_slow_way(tmp_store, monkeypatch) -> None:
    """The CSV reader breaks lines at a lone CR where read_json does not, and refuses LF and CRLF mixed
    (strict mode): the line scan fails rather than miscount. Then each object is scanned on its own
    and only those that still fail are counted with read_json and named in Python - same reasons."""
    plain = tmp_store.layout.object_key(DAY.replace(hour=4))
    tmp_store.write_object(plain, gzip_lines([rec(4, 1, "api", "ERROR", "x"), b"not json", b"{}"]))
    odd = tmp_store.layout.object_key(DAY.replace(hour=5))
    tmp_store.write_object(odd, gzip_lines([rec(5, 1, "api", "ERROR", "x"), b'{"message": "a"}\r{"message": "b"}',
                                            b"not json\r", b"[1]"]))
    paths = [str(tmp_store.local_path(plain)), str(tmp_store.local_path(odd))]
    counter = counter_for(tmp_store)
    with pytest.raises(duckdb.Error):
        counter._scan([paths[1]])
    slow: list[list[str]] = []
    count_and_classify = BadRecordCounter._count_and_classify

    def spy(self, files, con):
        slow.append(list(files))
        return count_and_classify(self, files, con)

    monkeypatch.setattr(BadRecordCounter, "_count_and_classify", spy)
    con = duckdb.connect()
    try:
        bad, placed = counter.count(paths, con, 600)
    finally:
        con.close()
    assert bad == {paths[0]: {"not_json": 1, "no_known_keys": 1}, paths[1]: {"not_json": 2, "not_an_object": 1}}
    assert placed == {paths[0]: (1, 0), paths[1]: (1, 0)}  # the records the logs view reads
    assert slow == [[paths[1]]]


def test_known_clean_objects_skip_the_unreadable_row_filter_and_count_alike(tmp_store, monkeypatch) -> None:
    """Issue 19: an object whose verdict counted no bad line is read without the all-NULL filter (which
    needs every column); the counts are those of the first (filtered, counting) run, and the second
    query takes its connection from the pool (no new connection, no macros created again)."""
    import logpipe.engines.duckdb as duck

    fill(tmp_store)
    config = config_for(tmp_store)
    sql = "SELECT count(*) AS n, count(*) FILTER (WHERE level = 'INFO') AS info FROM logs"
    first = run_sql(config, sql, DAY.replace(hour=4), DAY.replace(hour=7))  # checks and counts hours 04-07
    engine = open_engine(config)
    plan, _ = engine.plan(bind_statement(adhoc_query(sql), DAY.replace(hour=4), DAY.replace(hour=7), {}))
    damaged = [e.file for e in plan.entries if e.obj.partition.hour.hour == 5]
    assert plan.clean_files and not set(damaged) & plan.clean_files  # hour 05 holds bad lines: filtered
    opened: list[object] = []
    real = duck.open_connection
    monkeypatch.setattr(duck, "open_connection", lambda *a, **k: opened.append(1) or real(*a, **k))
    again = run_sql(config, sql, DAY.replace(hour=4), DAY.replace(hour=7))
    assert again.table.to_pylist() == first.table.to_pylist() == [{"n": 9, "info": 4}]  # hours 04-07 (07: the lateness)
    assert again.stats.bad_records == first.stats.bad_records == {"not_json": 2, "invalid_utf8": 1, "not_an_object": 1}
    assert opened == []  # the first run's connection, back in the pool


def test_a_connection_gets_the_macros_its_sql_calls_and_what_they_call() -> None:
    from logpipe.engines import duckdb_macros

    assert duckdb_macros.needed("SELECT 1") == []
    # sqlglot may write a call in capitals; a macro's own calls come first (creation order)
    assert duckdb_macros.needed("SELECT LP_URL_DECODE(x, TRUE)") == ["lp_fail", "lp_url_decode"]
    every = duckdb_macros.needed(" ".join(duckdb_macros.NAMES))
    assert every == list(duckdb_macros.NAMES)


def test_the_macros_a_text_calls_are_kept_per_text_and_asked_again_for_another() -> None:
    """``needed`` keeps what each text calls (a run cycle passes the same view and statements a few
    hundred times): the same text answers the same, another text - or one more text - its own macros,
    and a caller changing the list it got changes nothing kept."""
    from logpipe.engines import duckdb_macros

    sql = "SELECT lp_url_port(u) FROM logs"
    first = duckdb_macros.needed(sql)
    assert first == duckdb_macros.needed(sql) and "lp_url_port" in first and "lp_url_decode" not in first
    first.clear()  # the caller's own list
    assert duckdb_macros.needed(sql) == duckdb_macros.needed("SELECT LP_URL_PORT(u) FROM logs") != []
    other = duckdb_macros.needed("SELECT lp_url_decode(u, TRUE) FROM logs")
    assert other == ["lp_fail", "lp_url_decode"]
    both = duckdb_macros.needed(sql, "SELECT lp_url_decode(u, TRUE) FROM logs")
    assert set(both) == set(duckdb_macros.needed(sql)) | set(other)
    assert both == sorted(both, key=duckdb_macros.NAMES.index)  # creation order across the texts
    assert duckdb_macros.needed("SELECT 1 FROM logs") == []


def test_a_statement_that_reads_no_shape_gets_the_view_without_it(tmp_store) -> None:
    """The ``logs`` view without ``shape``/``pattern_id`` (bound in half the time) only for SQL that
    reads neither: a star standing for columns, or either name, gets the whole view."""
    from logpipe.engines.duckdb import reads_shape
    from logpipe.schema import VIEW_COLUMNS

    assert not reads_shape('SELECT 100 * "x" AS "y", COUNT_STAR() FROM logs')
    # kept per text: the same text again answers alike, a changed one by what it holds
    assert not reads_shape('SELECT 100 * "x" AS "y", COUNT_STAR() FROM logs')
    assert reads_shape('SELECT 100 * "x" AS "y", COUNT_STAR(), "shape" FROM logs')
    for sql in ("SELECT * FROM logs", "SELECT t.* FROM logs AS t", 'SELECT "pattern_id" FROM logs',
                "SELECT * EXCLUDE (ts) FROM logs", "SELECT count(*) FROM logs", ""):
        assert reads_shape(sql), sql
    fill(tmp_store)
    config = config_for(tmp_store)
    # (``SELECT *`` itself fails to bind: the translator expands it with the raw columns, an older bug)
    every = run_sql(config, "SELECT service, level, message, shape, pattern_id FROM logs", DAY.replace(hour=4),
                    DAY.replace(hour=5))
    assert {"shape", "pattern_id"} <= set(VIEW_COLUMNS) and every.table.column("shape").null_count == 0
    some = run_sql(config, "SELECT service, level, 2 * length(message) AS n FROM logs ORDER BY 1, 2",
                   DAY.replace(hour=4), DAY.replace(hour=5))
    assert some.table.to_pylist() == [{"service": s, "level": v, "n": 2 * len(m)} for s, v, m in sorted(
        (r["service"], r["level"], r["message"]) for r in every.table.to_pylist())]


def test_select_star_gives_the_views_columns_in_its_order(tmp_store) -> None:
    """``SELECT *`` expands to the ``logs`` view's own columns (``raw_time``, not the raw ``time``),
    in the order of the Athena view, with a qualified star and extra columns beside it."""
    from logpipe.schema import VIEW_COLUMNS

    fill(tmp_store)
    config = config_for(tmp_store)
    window = (DAY.replace(hour=5), DAY.replace(hour=6))
    star = run_sql(config, "SELECT * FROM logs WHERE level = 'ERROR' AND ts < :window_end", *window).frame
    assert tuple(star.columns) == VIEW_COLUMNS and len(star) == 1
    assert star["message"][0] == "user 5 failed" and star["raw_time"][0] == "2024-01-01T05:01:00Z"
    qualified = run_sql(config, "SELECT l.*, 1 AS x FROM logs AS l WHERE level = 'ERROR' AND ts < :window_end",
                        *window).frame
    assert tuple(qualified.columns) == (*VIEW_COLUMNS, "x")
