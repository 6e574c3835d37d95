"""The DuckDB engine remembers each object's bad-record verdict in the state database, so a new
process (each ``logpipe query run``) does not scan every object a second time; a changed object is
counted again."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import func, select
from support.configs import config_for

from logpipe.engines.bad_records import BadRecordCounter
from logpipe.queries.runner import run_query
from logpipe.state.db import open_state
from logpipe.state.tables import bad_record_counts
from logpipe.store import gzip_lines

DAY = datetime(2024, 1, 1, tzinfo=UTC)


def lines(n_bad: int) -> list[bytes]:
    good = [json.dumps({"time": "2024-01-01T05:00:00Z", "service": "api", "level": "ERROR", "message": "x"}).encode()]
    return good * 3 + [b"not json"] * n_bad + [b'{"message": "bad \xff"}', b"[1]"]


def test_verdicts_outlive_the_engine_and_a_changed_object_is_recounted(tmp_store, monkeypatch) -> None:
    key = tmp_store.layout.object_key(DAY.replace(hour=5))
    tmp_store.write_object(key, gzip_lines(lines(2)))
    config = config_for(tmp_store)
    first = run_query(config, "errors_by_service", DAY, DAY.replace(hour=6))
    assert first.stats.bad_records == {"not_json": 2, "invalid_utf8": 1, "not_an_object": 1}
    with open_state(config.state.url).connect() as conn:
        assert conn.execute(select(func.count()).select_from(bad_record_counts)).scalar_one() == 1

    scans: list[list[str]] = []
    count_bad = BadRecordCounter._count_bad

    def spy_count_bad(self, files, con):  # the one place new objects are scanned for bad records
        scans.append(list(files))
        return count_bad(self, files, con)

    monkeypatch.setattr(BadRecordCounter, "_count_bad", spy_count_bad)
    again = run_query(config, "errors_by_service", DAY, DAY.replace(hour=6))  # a new engine, as in a new process
    assert again.stats.bad_records == first.stats.bad_records and scans == []

    tmp_store.write_object(key, gzip_lines(lines(5)))  # a new object under the same key: size changes
    changed = run_query(config, "errors_by_service", DAY, DAY.replace(hour=6))
    assert changed.stats.bad_records == {"not_json": 5, "invalid_utf8": 1, "not_an_object": 1}
    assert scans == [[str(tmp_store.local_path(key))]]


def test_a_state_database_that_fails_only_costs_time(tmp_store, tmp_path) -> None:
    """Verdicts that cannot be read or written are counted again; the query still answers."""
    tmp_store.write_object(tmp_store.layout.object_key(DAY.replace(hour=5)), gzip_lines(lines(1)))
    config = config_for(tmp_store)
    state = open_state(config.state.url)
    with state.begin() as conn:
        conn.exec_driver_sql("DROP TABLE bad_record_counts")
    counter = BadRecordCounter(state)
    import duckdb

    path = tmp_store.local_paths(tmp_store.list_all())
    assert counter.count(path, duckdb.connect()) == {"not_json": 1, "invalid_utf8": 1, "not_an_object": 1}
