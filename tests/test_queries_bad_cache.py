"""The DuckDB engine remembers each object's bad-record count on disk, so a new process (each
``logpipe query run``) does not scan every object a second time; a changed object is counted again."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from logpipe.config import Config
from logpipe.engines import duckdb as engine_module
from logpipe.engines.duckdb import BAD_CACHE_FILE, DuckDBEngine
from logpipe.queries.runner import run_query
from logpipe.store import gzip_lines

DAY = datetime(2024, 1, 1, tzinfo=UTC)


def lines(n_bad: int) -> list[bytes]:
    good = [json.dumps({"time": "2024-01-01T05:00:00Z", "service": "api", "level": "ERROR", "message": "x"}).encode()]
    return good * 3 + [b"not json"] * n_bad + [b'{"message": "bad \xff"}', b"[1]"]


def config_for(store) -> Config:
    return Config.model_validate({"store": store.config.model_dump()})


@pytest.fixture
def fresh_process(monkeypatch):
    """An empty in-process cache, as in a new ``logpipe`` process."""
    monkeypatch.setattr(engine_module, "_BAD_CACHE", {})
    return lambda: monkeypatch.setattr(engine_module, "_BAD_CACHE", {})


def test_counts_survive_a_new_process_and_a_changed_object_is_recounted(tmp_store, fresh_process, monkeypatch) -> None:
    key = tmp_store.layout.object_key(DAY.replace(hour=5))
    tmp_store.write_object(key, gzip_lines(lines(2)))
    config = config_for(tmp_store)
    first = run_query(config, "errors_by_service", DAY, DAY.replace(hour=6))
    assert first.stats.bad_records == {"not_json": 2, "invalid_utf8": 1, "not_an_object": 1}
    assert (Path(tmp_store.config.cache_dir) / BAD_CACHE_FILE).exists()

    fresh_process()
    scans: list[list[str]] = []
    count_bad = DuckDBEngine._count_bad

    def spy_count_bad(self, files, con):  # the one place new objects are scanned for bad records
        scans.append(list(files))
        return count_bad(self, files, con)

    monkeypatch.setattr(DuckDBEngine, "_count_bad", spy_count_bad)
    again = run_query(config, "errors_by_service", DAY, DAY.replace(hour=6))
    assert again.stats.bad_records == first.stats.bad_records and scans == []

    fresh_process()
    tmp_store.write_object(key, gzip_lines(lines(5)))  # a new object under the same key: size changes
    changed = run_query(config, "errors_by_service", DAY, DAY.replace(hour=6))
    assert changed.stats.bad_records == {"not_json": 5, "invalid_utf8": 1, "not_an_object": 1}
    assert scans == [[str(tmp_store.local_path(key))]]


def test_an_unwritable_cache_only_costs_time(tmp_store, fresh_process, tmp_path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    tmp_store.write_object(tmp_store.layout.object_key(DAY.replace(hour=5)), gzip_lines(lines(1)))
    config = Config.model_validate({"store": {**tmp_store.config.model_dump(), "cache_dir": str(blocker)}})
    result = run_query(config, "errors_by_service", DAY, DAY.replace(hour=6))
    assert result.stats.bad_records == {"not_json": 1, "invalid_utf8": 1, "not_an_object": 1}
    assert result.frame["errors"].tolist() == [3]
