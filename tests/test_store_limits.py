"""Limits that keep a mistake from hurting: a window longer than ``[engine] max_window`` needs --force
(and a forced one lists only the days that exist), the download cache stays within ``[store]
cache_max_bytes`` (least recently used first), cleans its temporary files, and a full disk is an error
naming the cache folder; the outbox waiting from a previous process is flushed when ``serve`` starts."""

from __future__ import annotations

import errno
import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support import damaged_corpus
from support.configs import config_for

from logpipe.errors import StoreError
from logpipe.queries.runner import run_query

T0 = datetime(2024, 1, 1, tzinfo=UTC)
H = timedelta(hours=1)


def _write_config(cli, config) -> None:
    (cli.cwd / "logpipe.toml").write_text(
        f'[store]\nroot = "{config.store.root}"\ncache_dir = "{config.store.cache_dir}"\n'
        f'[state]\nurl = "{config.state.url}"\n')


def test_a_window_past_max_window_needs_force_and_lists_only_days_that_exist(tmp_store, cli, monkeypatch) -> None:
    for hour in (T0, T0 + 30 * H):
        tmp_store.write_object(tmp_store.layout.object_key(hour), damaged_corpus.gz([damaged_corpus.record(1, hour)]))
    _write_config(cli, config_for(tmp_store))
    code, _, err = cli("query", "run", "errors_by_service", "--since", "99999d", "--format", "json")
    assert code != 0 and "max_window" in err and "--force" in err
    for command in (["detect"], ["digest"]):
        code, _, err = cli(*command, "--since", "99999d")
        assert code != 0 and "--force" in err, command
    listed: list[str] = []
    from logpipe.store.local import LocalObjectStore

    iter_objects = LocalObjectStore.iter_objects

    def spy(self, prefix):
        listed.append(prefix)
        return iter_objects(self, prefix)

    monkeypatch.setattr(LocalObjectStore, "iter_objects", spy)
    code, out, err = cli("query", "run", "errors_by_service", "--since", "99999d", "--force", "--format", "json")
    assert code == 0, err
    assert sum(json.loads(line)["errors"] for line in out.splitlines()) == 2
    assert sorted(listed) == ["logs/dt=2024-01-01/", "logs/dt=2024-01-02/"]  # two days, not 2.4 million hours
    code, out, err = cli("query", "explain", "errors_by_service", "--since", "99999d")
    assert code == 0 and "2 objects" in " ".join(out.split()) and "max_window" in err


def test_the_download_cache_is_bounded_least_recently_used_first(s3_store) -> None:
    hours = [T0 + k * H for k in range(6)]
    for hour in hours:
        lines = [json.dumps({"time": f"{hour:%Y-%m-%dT%H}:00:00Z", "service": "api", "level": "ERROR",
                             "message": "failed " + os.urandom(10_000).hex()}).encode() for _ in range(40)]
        s3_store.write_object(s3_store.layout.object_key(hour), damaged_corpus.gz(lines))
    size = max(o.size for o in s3_store.list_all())
    config = config_for(s3_store)
    config.store.cache_max_bytes = 3 * size + size // 2  # type: ignore[assignment]
    s3_store.config.cache_max_bytes = config.store.cache_max_bytes
    cache = Path(config.store.cache_dir)
    for hour in hours:  # each query reads its hour and the next (late records)
        run_query(config, "errors_by_service", hour, hour + H)
        files = [p for p in cache.rglob("*") if p.is_file()]
        assert sum(p.stat().st_size for p in files) <= config.store.cache_max_bytes
        names = {p.parent.name for p in files if p.suffix == ".gz"}
        assert f"hour={hour:%H}" in names  # what the query needed stayed
    assert "hour=00" not in {p.parent.name for p in cache.rglob("*.gz")}  # the oldest went first
    stale = cache / "stale.gz.123.part"
    stale.write_bytes(b"x")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    run_query(config, "errors_by_service", hours[0], hours[0] + H)
    assert not stale.exists()


def test_a_full_cache_disk_names_the_folder_and_leaves_no_part_file(s3_store, monkeypatch) -> None:
    s3_store.write_object(s3_store.layout.object_key(T0), damaged_corpus.gz([damaged_corpus.record(1, T0)]))
    config = config_for(s3_store)
    real_write = Path.write_bytes

    def full(self, data):  # only the cache's write fails: no local server can fill a disk on demand
        if self.name.endswith(".part"):
            real_write(self, data[:1])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(StoreError, match=r"no space left in .*cache") as caught:
        run_query(config, "errors_by_service", T0, T0 + H)
    assert str(Path(config.store.cache_dir)) in str(caught.value)
    assert list(Path(config.store.cache_dir).rglob("*.part")) == []


def test_serve_start_flushes_what_a_previous_process_left_queued(tmp_path: Path) -> None:
    from support.service_config import write_service_config

    from logpipe.config import load_config
    from logpipe.metrics.model import DataPoint
    from logpipe.service.scheduler import Service
    from logpipe.sinks.publisher import Publisher

    config = load_config(write_service_config(tmp_path))
    publisher = Publisher.from_config(config)
    points = [DataPoint("ErrorCount", T0 + H, value=1.0, unit="Count", dimensions=(("service", f"s{i}"),))
              for i in range(35)]
    assert publisher.enqueue("killed-mid-send", T0, T0 + H, points)
    assert publisher.outbox.count_open("local") == 1
    service = Service(config)
    service.start(catch_up=False)
    try:
        deadline = time.monotonic() + 60
        while service.start_flush is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert service.start_flush is not None and service.start_flush.sent_points == 35
        assert service.status()["metrics_outbox"]["pending"] == {"metrics": 0, "digests": 0}
    finally:
        service.stop(timeout=5)
