"""The log store, on a local folder and on S3 (moto over HTTP): the same layout, the same reads, and bad
data counted, never a crash, never silently dropped."""

from __future__ import annotations

import gzip
import json
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logpipe.config import StoreConfig
from logpipe.errors import StoreError
from logpipe.store import MAX_RECORD_BYTES, ReadStats, Store, decompress_lines, gzip_lines, parse_record

T0 = datetime(2026, 11, 25, 22, 0, tzinfo=UTC)


def record(i: int, hour: datetime) -> bytes:
    return json.dumps({"time": (hour + timedelta(minutes=i)).isoformat(), "service": "web", "level": "INFO",
                       "message": f"request {i}"}).encode()


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest) -> Store:
    """The same tests on both kinds of store."""
    return request.getfixturevalue("tmp_store" if request.param == "local" else "s3_store")


def fill(store: Store, hours: int = 5, per_object: int = 3, objects_per_hour: int = 2,
         service: str | None = None) -> list[str]:
    keys = []
    for h in range(hours):
        hour = T0 + timedelta(hours=h)
        for n in range(objects_per_hour):
            key = store.layout.object_key(hour + timedelta(minutes=n), service=service, seq=n)
            store.write_object(key, gzip_lines([record(i, hour) for i in range(per_object)]))
            keys.append(key)
    return keys


# -- write, list, read --------------------------------------------------------------------------------------

def test_write_list_window_and_read(store: Store) -> None:
    keys = fill(store)  # 22:00 .. 02:00, crossing midnight
    window = store.list_objects(T0 + timedelta(hours=1, minutes=30), T0 + timedelta(hours=3))
    assert [o.key for o in window] == keys[2:6]
    assert [o.partition.dt for o in window] == ["2026-11-25", "2026-11-25", "2026-11-26", "2026-11-26"]
    assert all(o.size > 0 for o in window)
    stats = ReadStats()
    records = [r for _, r in store.iter_records(window, stats)]
    assert stats.records == len(records) == 12 and stats.bad == {}
    assert {r["message"] for r in records} == {f"request {i}" for i in range(3)}
    assert [o.key for o in store.list_all()] == keys


def test_listing_an_empty_window_or_store(store: Store) -> None:
    assert store.list_objects(T0, T0 + timedelta(hours=3)) == []
    assert store.list_all() == []
    fill(store, hours=1)
    assert store.list_objects(T0 + timedelta(hours=1), T0 + timedelta(hours=3)) == []
    assert store.list_objects(T0, T0) == []


def test_objects_outside_the_layout_are_not_listed(store: Store) -> None:
    fill(store, hours=1)
    store.write_object("logs/2026/11/25/22/moto-style.gz", gzip_lines([b"{}"]))
    store.write_object("logs/dt=2026-11-25/hour=22/notes.txt", b"not an object")
    assert len(store.list_all()) == 2
    assert len(store.list_objects(T0, T0 + timedelta(hours=1))) == 2


def test_service_partitions(store: Store) -> None:
    store = Store(store.config.model_copy(update={"service_partition": True}))
    fill(store, hours=2, service="web")
    fill(store, hours=2, service="billing")
    assert store.services() == ["billing", "web"]
    window = store.list_objects(T0, T0 + timedelta(hours=1))
    assert sorted({o.partition.service for o in window}) == ["billing", "web"]
    assert len(window) == 4 and {o.partition.hour for o in window} == {T0}


def test_local_write_is_atomic_and_where_the_layout_says(tmp_store: Store) -> None:
    key = tmp_store.layout.object_key(T0, seq=1)
    url = tmp_store.write_object(key, gzip_lines([b"{}"]))
    assert Path(url) == tmp_store.local_path(key) and Path(url).is_file()
    assert list(Path(url).parent.glob("*.tmp")) == []


def test_s3_keys_sit_under_the_base_prefix(s3_store: Store, boto_client: Any) -> None:
    key = s3_store.layout.object_key(T0, seq=1)
    assert s3_store.write_object(key, gzip_lines([b"{}"])) == f"s3://logpipe-test/base/{key}"
    stored = boto_client("s3").list_objects_v2(Bucket="logpipe-test")["Contents"]
    assert [o["Key"] for o in stored] == [f"base/{key}"]
    with pytest.raises(StoreError, match="the store is on S3"):
        s3_store.local_path(key)


def test_missing_object_is_a_store_error_with_the_url(store: Store) -> None:
    with pytest.raises(StoreError, match=r"cannot read .*logs/dt=2026-11-25/hour=22/missing\.gz"):
        store.read_bytes("logs/dt=2026-11-25/hour=22/missing.gz")


def test_missing_bucket_is_a_store_error(aws: str) -> None:
    store = Store(StoreConfig(root="s3://no-such-bucket", prefix="logs"))
    with pytest.raises(StoreError, match=r"cannot list s3://no-such-bucket/logs.*NoSuchBucket"):
        store.list_objects(T0, T0 + timedelta(hours=1))


def test_bad_lines_in_a_stored_object_are_counted_not_fatal(store: Store) -> None:
    lines = [record(1, T0), b"\xff\xfe not utf-8", b"not json", b"[1, 2]", b'{"message": "ok"}',
             b'{"message": "' + b"x" * (MAX_RECORD_BYTES + 10) + b'"}', b'{"truncated": ']
    key = store.layout.object_key(T0, seq=0)
    store.write_object(key, gzip_lines(lines))
    stats = ReadStats()
    records = [r for _, r in store.iter_records(store.list_objects(T0, T0 + timedelta(hours=1)), stats)]
    assert [r.get("message") for r in records] == ["request 1", "ok"]
    assert stats.bad == {"invalid_utf8": 1, "not_json": 2, "not_an_object": 1, "too_large": 1}
    assert stats.records + stats.bad_total == len(lines)


def test_truncated_stored_object(store: Store) -> None:
    full = gzip_lines([record(i, T0) for i in range(200)])
    store.write_object(store.layout.object_key(T0, seq=0), full[: len(full) // 2])
    stats = ReadStats()
    records = [r for _, r in store.iter_records(store.list_all(), stats)]
    assert 0 < len(records) < 200
    assert [r["message"] for r in records] == [f"request {i}" for i in range(len(records))]
    assert stats.bad == {"truncated_object": 1}


# -- decompress_lines ----------------------------------------------------------------------------------------

def test_multi_member_gzip_yields_every_member() -> None:
    data = gzip_lines([b'{"a": 1}', b'{"a": 2}']) + gzip_lines([b'{"a": 3}']) + gzip.compress(b'{"a": 4}')
    stats = ReadStats()
    assert list(decompress_lines(data, stats)) == [b'{"a": 1}', b'{"a": 2}', b'{"a": 3}', b'{"a": 4}']
    assert stats.bad == {}


def test_last_line_without_newline_and_blank_lines() -> None:
    data = gzip.compress(b'\n{"a": 1}\r\n\n   \n{"a": 2}')
    assert [json.loads(line) for line in decompress_lines(data)] == [{"a": 1}, {"a": 2}]


def test_zero_padding_after_the_last_member_is_ignored() -> None:
    stats = ReadStats()
    assert list(decompress_lines(gzip_lines([b"{}"]) + b"\x00" * 64, stats)) == [b"{}"]
    assert stats.bad == {}


@pytest.mark.parametrize("cut", [1, 5, 12, 30, -8, -1])
def test_truncated_gzip_yields_complete_lines_and_counts_once(cut: int) -> None:
    lines = [f'{{"n": {i}, "pad": "{"y" * 40}"}}'.encode() for i in range(50)]
    data = gzip_lines(lines)
    stats = ReadStats()
    got = list(decompress_lines(data[:cut], stats))
    assert got == lines[: len(got)]  # a prefix, each line whole
    assert stats.bad == {"truncated_object": 1}


def test_corrupt_gzip_is_counted() -> None:
    data = bytearray(gzip_lines([b'{"a": 1}'] * 100))
    data[20:40] = b"\xff" * 20
    stats = ReadStats()
    list(decompress_lines(bytes(data), stats))
    assert stats.bad_total == 1 and set(stats.bad) <= {"corrupt_gzip", "truncated_object"}
    stats = ReadStats()
    assert list(decompress_lines(b"this is not gzip at all", stats)) == []
    assert stats.bad == {"corrupt_gzip": 1}


def test_large_object_streams_across_chunks() -> None:
    lines = [json.dumps({"n": i, "message": "z" * 500}).encode() for i in range(5000)]  # > 1 MiB raw
    data = gzip_lines(lines)
    assert list(decompress_lines(data)) == lines


# -- parse_record -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("line", "reason"), [
    (b"\xc3\x28", "invalid_utf8"),
    (b"{not json}", "not_json"),
    (b'{"a": 1', "not_json"),
    (b'"just a string"', "not_an_object"),
    (b"null", "not_an_object"),
    (b"x" * (MAX_RECORD_BYTES + 1), "too_large"),
])
def test_parse_record_counts_bad_lines(line: bytes, reason: str) -> None:
    stats = ReadStats()
    assert parse_record(line, stats) is None
    assert stats.bad == {reason: 1}


def test_parse_record_accepts_any_json_object_with_wrong_types() -> None:
    stats = ReadStats()
    line = b'{"level": 3, "status": "abc", "time": null, "nested": {"k": [1]}, "emoji": "\xf0\x9f\x94\xa5"}'
    assert parse_record(line, stats) == {"level": 3, "status": "abc", "time": None, "nested": {"k": [1]},
                                         "emoji": "\U0001f525"}
    assert stats.bad == {}


# -- properties: no input crashes the readers -------------------------------------------------------------

@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_random_bytes_never_crash(data: bytes) -> None:
    stats = ReadStats()
    for line in decompress_lines(data, stats):
        parse_record(line, stats)
    parse_record(data, stats)
    assert stats.bad_total >= 0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=30))
def test_random_lines_in_valid_gzip_are_each_a_record_or_counted(lines: list[bytes]) -> None:
    # Each element is one line; newlines inside an element would split it, so remove them.
    lines = [line.replace(b"\n", b" ") for line in lines]
    stats = ReadStats()
    got = list(decompress_lines(gzip_lines(lines), stats))
    assert got == [line for line in lines if line.strip()]
    parsed = [parse_record(line, stats) for line in got]
    assert sum(p is not None for p in parsed) + stats.bad_total == len(got)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.dictionaries(st.text(max_size=8), st.integers() | st.text(max_size=20), max_size=4),
                min_size=1, max_size=20), st.data())
def test_any_truncation_yields_a_prefix_of_the_records(records: list[dict], data: st.DataObject) -> None:
    lines = [json.dumps(r).encode() for r in records]
    blob = gzip_lines(lines)
    cut = data.draw(st.integers(0, len(blob)))
    stats = ReadStats()
    got = [parse_record(line, stats) for line in decompress_lines(blob[:cut], stats)]
    assert got == records[: len(got)]
    if cut == len(blob):
        assert stats.bad == {} and len(got) == len(records)
    elif cut > 0:
        assert stats.bad_total == 1


def test_decompressobj_sanity() -> None:
    # gzip_lines is what Firehose writes: gzip (wbits=31) with a newline after every record.
    assert zlib.decompress(gzip_lines([b"a", b"b\n"]), wbits=31) == b"a\nb\n"


# -- the local store's names and files --------------------------------------------------------------------

@pytest.mark.parametrize("root", ["/data/store", "/data/store/", "/", ".", "", "relative/store", "//net/share"])
@pytest.mark.parametrize("key", [
    "logs/dt=2026-11-25/hour=22/a.gz", "a.gz", "", ".", "./a.gz", "logs//a.gz", "logs/./a.gz", "logs/../a.gz",
    "logs/", "logs/.", "/abs/a.gz", "logs/.hidden.gz", "logs/a b.gz", "logs/\u00e9.gz",
])
def test_a_local_url_is_the_path_pathlib_joins(root: str, key: str) -> None:
    """Verdicts are remembered by URL: the local store's text join must name exactly what
    ``str(Path(root) / key)`` named before, for every key (plain ones take the fast path)."""
    from logpipe.store.local import LocalObjectStore

    assert LocalObjectStore(root).url(key) == str(Path(root) / key)


def test_local_files_are_the_objects_or_none_when_gone(tmp_store: Store) -> None:
    keys = fill(tmp_store, hours=1)
    gone = tmp_store.layout.object_key(T0, stream="gone")
    wanted = [(keys[0], 1), (gone, 1), (keys[1], 1)]
    assert tmp_store.objects.local_files(wanted) == [str(p) if p else None
                                                     for p in tmp_store.objects.local_copies(wanted)]
    assert tmp_store.objects.local_files(wanted) == [tmp_store.url(keys[0]), None, tmp_store.url(keys[1])]


def test_s3_local_files_are_the_download_cache_copies(s3_store: Store) -> None:
    keys = fill(s3_store, hours=1)
    files = s3_store.objects.local_files([(k, 0) for k in keys])
    assert all(f is not None and Path(f).is_file() for f in files)
    assert [Path(f) for f in files if f] == s3_store.objects.local_paths([(k, 0) for k in keys])


def test_objects_of_a_folder_share_its_partition_and_strays_beside_them_are_named(tmp_store: Store) -> None:
    """The listing parses each folder once: objects of one hour get its partition, a stray file or a
    nested folder's object in the same hour is still named as not of the layout."""
    keys = fill(tmp_store, hours=2, objects_per_hour=3)
    hour_dir = tmp_store.layout.partition_dir(T0)
    tmp_store.write_object(f"{hour_dir}/notes.txt", b"x")
    tmp_store.write_object(f"{hour_dir}/nested/x.gz", gzip_lines([record(0, T0)]))
    listing = tmp_store.list_window(T0, T0 + timedelta(hours=2))
    assert [o.key for o in listing.objects] == sorted(keys)
    assert {o.partition.hour for o in listing.objects} == {T0, T0 + timedelta(hours=1)}
    assert [o.partition for o in listing.objects] == [tmp_store.layout.parse_key(k)[0] for k in sorted(keys)]
    assert set(listing.unrecognised) == {tmp_store.url(f"{hour_dir}/notes.txt"), tmp_store.url(f"{hour_dir}/nested/x.gz")}


def test_a_local_file_that_cannot_be_looked_at_is_an_error_not_a_gone_object(tmp_store: Store, monkeypatch) -> None:
    """``local_files`` answers as ``Path.exists`` did: gone is None, a refused look is raised."""
    import errno
    import os

    keys = fill(tmp_store, hours=1)
    stat = os.stat

    def refused(path, *args, **kwargs):
        if str(path).endswith(keys[0]):
            raise PermissionError(errno.EACCES, "denied", str(path))
        return stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", refused)
    with pytest.raises(PermissionError):
        tmp_store.objects.local_files([(keys[0], 1)])
    with pytest.raises(PermissionError):
        tmp_store.objects.local_copies([(keys[0], 1)])
    assert tmp_store.objects.local_files([(keys[1], 1), (keys[1] + "/nested.gz", 1)]) == [tmp_store.url(keys[1]), None]
