"""The DuckDB engine remembers each object's verdict (gzip check, bad lines, misplaced and good records)
in the state database, so a new process (each ``logpipe query run``) neither checks nor scans an object
a second time; a changed object is checked again, and a verdict that cannot be read or written only
costs time."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import func, select
from support.configs import config_for

from logpipe.engines.bad_records import BadRecordCounter
from logpipe.queries.runner import run_query
from logpipe.state.db import open_state
from logpipe.state.tables import object_verdicts
from logpipe.store import gzip_lines, integrity

DAY = datetime(2024, 1, 1, tzinfo=UTC)


def lines(n_bad: int) -> list[bytes]:
    good = [json.dumps({"time": "2024-01-01T05:00:00Z", "service": "api", "level": "ERROR", "message": "x"}).encode()]
    return good * 3 + [b"not json"] * n_bad + [b'{"message": "bad \xff"}', b"[1]"]


def test_verdicts_outlive_the_engine_and_a_changed_object_is_rechecked(tmp_store, monkeypatch) -> None:
    key = tmp_store.layout.object_key(DAY.replace(hour=5))
    tmp_store.write_object(key, gzip_lines(lines(2)))
    config = config_for(tmp_store)
    first = run_query(config, "errors_by_service", DAY, DAY.replace(hour=6))
    assert first.stats.bad_records == {"not_json": 2, "invalid_utf8": 1, "not_an_object": 1}
    assert first.stats.quality.records == 3 and first.stats.quality.objects == 1
    with open_state(config.state.url).connect() as conn:
        assert conn.execute(select(func.count()).select_from(object_verdicts)).scalar_one() == 1

    scans: list[list[str]] = []
    checks: list[str] = []
    count_bad = BadRecordCounter._count_bad
    check_file = integrity.check_file

    def spy_count_bad(self, files, con, lateness_s=600):  # the one place new objects' lines are scanned
        scans.append(list(files))
        return count_bad(self, files, con, lateness_s)

    def spy_check(path):
        checks.append(str(path))
        return check_file(path)

    monkeypatch.setattr(BadRecordCounter, "_count_bad", spy_count_bad)
    monkeypatch.setattr("logpipe.engines.bad_records.check_file", spy_check)
    again = run_query(config, "errors_by_service", DAY, DAY.replace(hour=6))  # a new engine, as in a new process
    assert again.stats.bad_records == first.stats.bad_records and scans == [] and checks == []

    tmp_store.write_object(key, gzip_lines(lines(5)))  # a new object under the same key: size changes
    changed = run_query(config, "errors_by_service", DAY, DAY.replace(hour=6))
    assert changed.stats.bad_records == {"not_json": 5, "invalid_utf8": 1, "not_an_object": 1}
    assert scans == [[str(tmp_store.local_path(key))]] and checks == [str(tmp_store.local_path(key))]


def test_a_state_database_that_fails_only_costs_time(tmp_store) -> None:
    """Verdicts that cannot be read or written are made again; the query still answers."""
    tmp_store.write_object(tmp_store.layout.object_key(DAY.replace(hour=5)), gzip_lines(lines(1)))
    config = config_for(tmp_store)
    state = open_state(config.state.url)
    with state.begin() as conn:
        conn.exec_driver_sql("DROP TABLE object_verdicts")
    for _ in range(2):
        result = run_query(config, "errors_by_service", DAY, DAY.replace(hour=6))
        assert result.stats.bad_records == {"not_json": 1, "invalid_utf8": 1, "not_an_object": 1}
        assert int(result.frame["errors"].sum()) == 3


def test_a_lookup_answers_each_wanted_version_with_a_verdict_of_its_own(state_url) -> None:
    """Verdicts read back as saved, only for the versions asked for (another version of the same URL is
    not an answer), on SQLite and PostgreSQL; verdicts whose rows hold the same JSON share the parsed
    check but not their bad lines (a caller may change one verdict's)."""
    from logpipe.store.integrity import ObjectCheck
    from logpipe.store.verdicts import ObjectVerdict, VerdictStore

    clean = ObjectCheck(clean=True, members=1)
    damaged = ObjectCheck(clean=False, kept_lines=2, lost={"corrupt_gzip": 1}, problems={"corrupt_gzip": "bad crc"})
    saved = [ObjectVerdict(f"s3://b/logs/dt=2024-01-01/hour=05/{n}.gz", 10 + n, "v1", 1704085200000, clean,
                           {"not_json": 1} if n % 2 else {}, 0, 5 + n, 600) for n in range(7)]
    saved.append(ObjectVerdict("s3://b/logs/dt=2024-01-01/hour=05/0.gz", 10, "v0", 1704085200000, damaged, None,
                               None, None, None))  # an older version of object 0, never scanned
    saved.append(ObjectVerdict("s3://b/logs/dt=2024-01-01/hour=06/x.gz", 3, "v1", 1704088800000, damaged,
                               {"invalid_utf8": 2}, 1, 1, 600))
    store = VerdictStore(state_url)
    store.save(saved)
    wanted = [v.key for v in saved[1:]] + [("s3://b/logs/dt=2024-01-01/hour=05/never.gz", 1, "v1")]
    for reader in (VerdictStore(state_url), VerdictStore(open_state(state_url))):  # stdlib sqlite3 and SQLAlchemy
        found = reader.lookup(wanted)
        assert found == {v.key: v for v in saved[1:]}
        odd = [found[v.key] for v in saved[1:7] if v.bad_lines]
        assert odd[0].check is odd[1].check and odd[0].bad_lines == odd[1].bad_lines == {"not_json": 1}
        odd[0].bad_lines["not_json"] = 9  # type: ignore[index]
        assert odd[1].bad_lines == {"not_json": 1}
    assert VerdictStore(state_url).lookup([]) == {}


def test_the_verdicts_of_hours_are_the_newest_of_each_url_in_time_order(state_url, monkeypatch) -> None:
    """What the service's and the digest's data quality read (``in_hours``): per URL the verdict saved
    last, only of the hours asked for, ordered by hour then URL, on SQLite and PostgreSQL."""
    from logpipe.store.integrity import ObjectCheck
    from logpipe.store.verdicts import ObjectVerdict, VerdictStore

    clean = ObjectCheck(clean=True, members=1)
    h5, h6, h7 = 1704085200000, 1704088800000, 1704092400000

    def verdict(name: str, hour: int, version: str, bad: dict[str, int] | None) -> ObjectVerdict:
        return ObjectVerdict(f"s3://b/logs/{name}.gz", 10, version, hour, clean, bad, 0, 3, 600)

    store = VerdictStore(state_url)
    monkeypatch.setattr("logpipe.store.verdicts.now_ms", lambda: 1000)
    store.save([verdict("b", h5, "v1", {"not_json": 1}), verdict("a", h6, "v1", None), verdict("c", h7, "v1", {})])
    monkeypatch.setattr("logpipe.store.verdicts.now_ms", lambda: 2000)
    store.save([verdict("b", h5, "v2", {})])  # b rewritten: its newer version answers
    found = VerdictStore(open_state(state_url)).in_hours(datetime(2024, 1, 1, 5, tzinfo=UTC),
                                                         datetime(2024, 1, 1, 7, tzinfo=UTC))
    assert found == [verdict("b", h5, "v2", {}), verdict("a", h6, "v1", None)]
