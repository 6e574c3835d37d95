"""DuckDB engine over exact records: rows, partition pruning, bad records, S3 cache."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from logpipe.config import Config
from logpipe.engines.duckdb import DuckDBEngine
from logpipe.queries.runner import _statement, adhoc_query, run_query, run_sql
from logpipe.store import gzip_lines

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


def config_for(store) -> Config:
    return Config.model_validate({"store": store.config.model_dump()})


def test_errors_by_service_exact_rows(tmp_store) -> None:
    fill(tmp_store)
    result = run_query(config_for(tmp_store), "errors_by_service", DAY.replace(hour=4), DAY.replace(hour=6))
    rows = [(str(r.hour), r.service, r.errors) for r in result.frame.itertuples()]
    assert rows == [("2024-01-01 04:00:00+00:00", "api", 1), ("2024-01-01 05:00:00+00:00", "api", 1),
                    ("2024-01-01 05:00:00+00:00", "web", 1)]
    assert result.stats.files_scanned == 2
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
    assert result.frame[["template", "count"]].to_dict("records") == [{"template": "user <num> failed", "count": 24}]


def test_only_the_window_partitions_are_scanned(tmp_store) -> None:
    fill(tmp_store)
    config = config_for(tmp_store)
    engine = DuckDBEngine(config)
    statement = _statement(adhoc_query("SELECT count(*) FROM logs"), DAY.replace(hour=10), DAY.replace(hour=12), {})
    plan = engine.explain(statement)
    assert "Total Files Read: 2" in plan  # of the 24 hour objects in the store
    assert "hour=10/" in plan and "hour=11/" in plan and "hour=12/" not in plan and "hour=09/" not in plan
    files = engine.local_files(engine.window_objects(statement.window_start, statement.window_end))
    assert [f.split("/")[-2] for f in files] == ["hour=10", "hour=11"]
    assert run_sql(config, "SELECT count(*) AS n FROM logs", DAY.replace(hour=10), DAY.replace(hour=12)).frame["n"][0] == 4


def test_empty_window_returns_no_rows(tmp_store) -> None:
    result = run_query(config_for(tmp_store), "errors_by_service", DAY, DAY.replace(hour=1))
    assert list(result.frame.columns) == ["hour", "service", "errors"] and len(result.frame) == 0


def test_s3_store_is_cached_locally(s3_store) -> None:
    fill(s3_store)
    config = config_for(s3_store)
    result = run_query(config, "errors_by_service", DAY.replace(hour=5), DAY.replace(hour=6))
    assert result.frame["errors"].sum() == 2
    assert result.stats.bytes_scanned > 0
    cached = list((__import__("pathlib").Path(config.store.cache_dir)).rglob("*.gz"))
    assert len(cached) == 1 and "dt=2024-01-01/hour=05" in str(cached[0])
