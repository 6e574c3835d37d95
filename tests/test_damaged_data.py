"""Damaged data never blocks, corrupts or vanishes: a corpus of damaged objects (tests/support/
damaged_corpus.py) in one hour of an otherwise good store, read by every path that reads the store.

Every good record is counted exactly once, every bad one with a reason, every damaged object and every
path that is not an object of the layout is named, and no query fails."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import pytest
from support import damaged_corpus
from support.configs import config_for

from logpipe.queries.runner import run_query
from logpipe.store.logs import UNRECOGNISED

HOUR = datetime(2024, 1, 1, 5, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.fixture(autouse=True)
def _fresh_unrecognised():
    UNRECOGNISED.clear()  # paths are named once per process: each test is a run of its own
    yield
    UNRECOGNISED.clear()


def check_quality(quality, corpus, store) -> None:
    bad = dict(quality.bad)
    for reason, n in corpus.at_least.items():
        assert bad.pop(reason, 0) >= n, (reason, quality.bad)
    assert bad == corpus.bad
    assert quality.misplaced == corpus.misplaced
    assert {d.url: d.problem for d in quality.damaged} == {store.url(k): p for k, p in corpus.damaged.items()}
    assert all(d.detail for d in quality.damaged)


@pytest.mark.parametrize("store_kind", ["local", "s3"])
def test_a_query_over_the_damaged_hour_counts_every_record_once(store_kind, tmp_store, request) -> None:
    store = tmp_store if store_kind == "local" else request.getfixturevalue("s3_store")
    corpus = damaged_corpus.build(store, HOUR)
    config = config_for(store)
    result = run_query(config, "errors_by_service", HOUR, HOUR + H)
    assert int(result.frame["errors"].sum()) == corpus.good
    quality = result.stats.quality
    check_quality(quality, corpus, store)
    assert quality.records == corpus.good + corpus.misplaced + corpus.late
    assert sorted(quality.unrecognised) == sorted(store.url(k).rstrip("/") + ("/" if k.endswith("/") else "")
                                                  for k in corpus.unrecognised)
    # Again, from the remembered verdicts (a new process): the same answer; unrecognised paths are
    # named once per run.
    again = run_query(config, "errors_by_service", HOUR, HOUR + H)
    assert int(again.frame["errors"].sum()) == corpus.good
    check_quality(again.stats.quality, corpus, store)
    # The hour before counts its own records and the one that arrived late in this hour's partition;
    # the damage belongs to this hour, not to it.
    before = run_query(config, "errors_by_service", HOUR - H, HOUR)
    assert int(before.frame["errors"].sum()) == corpus.neighbours + corpus.late
    assert before.stats.quality.bad == {} and before.stats.quality.damaged == []
    # A day around it: everything once.
    day = run_query(config, "errors_by_service", HOUR - 5 * H, HOUR + 5 * H)
    assert int(day.frame["errors"].sum()) == corpus.good + corpus.late + 2 * corpus.neighbours


def test_query_run_prints_counts_with_reasons_and_names_what_is_damaged(tmp_store, cli) -> None:
    corpus = damaged_corpus.build(tmp_store, HOUR)
    config = config_for(tmp_store)
    (cli.cwd / "logpipe.toml").write_text(
        f'[store]\nroot = "{config.store.root}"\ncache_dir = "{config.store.cache_dir}"\n'
        f'[state]\nurl = "{config.state.url}"\n')
    code, out, err = cli("query", "run", "errors_by_service", "--since", "2024-01-01T05:00:00Z",
                         "--until", "2024-01-01T06:00:00Z", "--format", "json")
    assert code == 0, err
    assert sum(json.loads(line)["errors"] for line in out.splitlines()) == corpus.good
    text = " ".join(err.split())
    squeezed = "".join(err.split())  # rich wraps long lines
    assert "bad records" in text and "not_json=3" in text and "trailing_garbage=1" in text and "corrupt_gzip=" in text
    assert "misplaced 2" in text
    for key, problem in corpus.damaged.items():
        assert key.rsplit("/", 1)[1] in squeezed and problem in text
    for key in corpus.unrecognised:
        assert key in squeezed


def _engine(config, objects):
    from logpipe.engines.bad_records import ObjectReader
    from logpipe.engines.duckdb import DuckDBEngine
    from logpipe.state.db import open_state
    from logpipe.store import Store

    store = Store(config.store, objects)
    return DuckDBEngine(config.engine, store, ObjectReader(open_state(config.state.url), config.engine, store, 600))


@pytest.mark.parametrize("store_kind", ["local", "s3"])
def test_an_object_deleted_between_listing_and_reading_is_named_not_fatal(store_kind, tmp_store, request) -> None:
    """The object store lists the object, then it is deleted (a lifecycle rule, an operator): the query
    answers from the others and names it as missing."""
    from logpipe.queries.loader import get_query
    from logpipe.queries.runner import bind_statement
    from logpipe.store.local import LocalObjectStore
    from logpipe.store.s3 import S3ObjectStore

    store = tmp_store if store_kind == "local" else request.getfixturevalue("s3_store")
    layout = store.layout
    keep = layout.object_key(HOUR, stream="keep")
    doomed = layout.object_key(HOUR, stream="doomed")
    store.write_object(keep, damaged_corpus.gz([damaged_corpus.record(i, HOUR) for i in range(7)]))
    store.write_object(doomed, damaged_corpus.gz([damaged_corpus.record(100 + i, HOUR) for i in range(5)]))
    base = type(store.objects)

    class DeletingAfterListing(base):  # type: ignore[misc, valid-type]
        def iter_objects(self, prefix):
            listed = list(super().iter_objects(prefix))
            for key, *_ in listed:
                if key == doomed:
                    if isinstance(self, LocalObjectStore):
                        self.local_path(key).unlink()
                    else:
                        assert isinstance(self, S3ObjectStore)
                        self.client.delete_object(Bucket=self.bucket, Key=self._full_key(key))
            yield from listed

    objects = (DeletingAfterListing(store.objects.root) if store_kind == "local"
               else DeletingAfterListing(store.config.root, "us-east-1", store.config.cache_dir))
    config = config_for(store)
    engine = _engine(config, objects)
    statement = bind_statement(get_query(config, "errors_by_service"), HOUR, HOUR + H, {})
    frame, stats = engine.run(statement)
    assert int(frame["errors"].sum()) == 7
    assert [(d.url, d.problem) for d in stats.quality.damaged] == [(store.url(doomed), "missing_object")]


def test_an_s3_object_that_fails_twice_is_read_on_the_third_try(s3_store, fault_proxy, aws, monkeypatch) -> None:
    """S3 answers 500 twice for one object; botocore's retries read it: nothing lost, nothing doubled."""
    corpus = damaged_corpus.build(s3_store, HOUR)
    key = corpus.keys["members"]
    proxy = fault_proxy(aws, failure_rate=0.0)
    proxy.fail_next(key, times=2, mode="500", method="GET")
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    config = config_for(s3_store)
    result = run_query(config, "errors_by_service", HOUR, HOUR + H)
    assert proxy.stats["500"] == 2
    faulted = [(method, unquote(path)) for method, path, outcome in proxy.log if outcome == "500"]
    assert len(faulted) == 2 and all(method == "GET" and key in path for method, path in faulted)
    assert int(result.frame["errors"].sum()) == corpus.good
    check_quality(result.stats.quality, corpus, s3_store)
