"""An S3 bucket as the object store, read and written with boto3 (``logpipe.aws``).

Not s3fs: it does not resolve next to a current boto3. The same code talks to AWS or to a local
server through ``AWS_ENDPOINT_URL``. Local files of objects (what DuckDB reads: its httpfs extension
is a download and fails offline) are copies in ``cache_dir``, keyed by key and size: Firehose objects
never change once written.

The cache is bounded (``[store] cache_max_bytes``): after each download the least recently used
copies (a copy's mtime is set when a query uses it) are removed until the cache fits, never one the
current query needs. Downloads go through a ``.part`` file that is removed on any failure, and
``.part`` files a crashed process left behind are swept. A full disk is a ``StoreError`` naming the
cache folder, not a bare ``[Errno 28]``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from logpipe import aws
from logpipe.errors import StoreError
from logpipe.store.base import ObjectMissing, Progress
from logpipe.store.cache import DEFAULT_CACHE_MAX_BYTES, disk_error, evict, touch

DOWNLOAD_THREADS = 8


def split_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ("bucket", "some/prefix")."""
    rest = url.removeprefix("s3://")
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise StoreError(f"{url!r} is not an s3:// URL with a bucket name")
    return bucket, key.strip("/")


def _missing(exc: BaseException) -> bool:
    return aws.error_code(exc) in ("NoSuchKey", "404", "NotFound")


class S3ObjectStore:
    """Objects under ``s3://bucket/base_key``; one client, made on first use and shared by threads."""

    def __init__(self, url: str, region: str | None = None, cache_dir: str | Path = "./.logpipe-cache",
                 client: Any = None, cache_max_bytes: int = DEFAULT_CACHE_MAX_BYTES) -> None:
        self.bucket, self.base_key = split_s3_url(url)
        self.region = region
        self.cache_root = Path(cache_dir).expanduser()
        self.cache = self.cache_root / self.bucket / self.base_key
        self.cache_max_bytes = cache_max_bytes
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = aws.client("s3", self.region)
            return self._client

    def _full_key(self, key: str) -> str:
        return f"{self.base_key}/{key}" if self.base_key else key

    def url(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{self._full_key(key)}"

    def iter_objects(self, prefix: str) -> Iterator[tuple[str, int, str]]:
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self._full_key(prefix)):
                for item in page.get("Contents", []):
                    key = item["Key"][len(self.base_key) + 1 :] if self.base_key else item["Key"]
                    yield key, int(item["Size"]), str(item.get("ETag", "")).strip('"')
        except Exception as exc:  # botocore raises many kinds; the user needs the URL and the reason
            raise StoreError(f"cannot list {self.url(prefix)}: {exc}") from exc

    def entries(self, prefix: str) -> tuple[list[str], list[str]]:
        full = self._full_key(prefix)
        folders, files = set(), set()
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full, Delimiter="/"):
                for common in page.get("CommonPrefixes", []):
                    folders.add(common["Prefix"][len(full) :].strip("/"))
                for item in page.get("Contents", []):
                    files.add(item["Key"][len(full) :])
        except Exception as exc:
            raise StoreError(f"cannot list {self.url(prefix)}: {exc}") from exc
        return sorted(folders), sorted(files)

    def folders(self, prefix: str) -> list[str]:
        return self.entries(prefix)[0]

    def read(self, key: str) -> bytes:
        try:
            return bytes(self.client.get_object(Bucket=self.bucket, Key=self._full_key(key))["Body"].read())
        except Exception as exc:
            if _missing(exc):
                raise ObjectMissing(f"cannot read {self.url(key)}: no such object (deleted after it was listed?)") from None
            raise StoreError(f"cannot read {self.url(key)}: {exc}") from exc

    def write(self, key: str, data: bytes) -> None:
        # Raw objects are gzip'd JSON lines (as Firehose writes them); Parquet hours and the compaction
        # watermark are what their names say.
        if key.endswith(".parquet"):
            headers = {"ContentType": "application/vnd.apache.parquet"}
        elif key.endswith(".json"):
            headers = {"ContentType": "application/json"}
        else:
            headers = {"ContentType": "application/x-ndjson", "ContentEncoding": "gzip"}
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._full_key(key), Body=data, **headers)
        except Exception as exc:
            raise StoreError(f"cannot write {self.url(key)}: {exc}") from exc

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._full_key(key))
        except Exception as exc:
            raise StoreError(f"cannot delete {self.url(key)}: {exc}") from exc

    # -- the download cache -------------------------------------------------------------------------

    def _fetch(self, key: str, path: Path) -> None:
        tmp = path.with_name(path.name + f".{os.getpid()}.{threading.get_ident()}.part")
        try:
            data = self.read(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            tmp.replace(path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise disk_error(exc, self.cache_root, f"downloading {self.url(key)}") from None
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def local_copies(self, objects: Sequence[tuple[str, int]], progress: Progress | None = None
                     ) -> list[Path | None]:
        """Cached copies of the objects, downloading (in parallel) those missing or of another size;
        None for an object that is gone."""
        paths = [self.cache / key for key, _size in objects]
        todo = [(key, path) for (key, size), path in zip(objects, paths, strict=True)
                if not (path.exists() and path.stat().st_size == size)]
        gone: set[Path] = set()
        if todo:
            if progress:
                progress(f"downloading {len(todo)} of {len(objects)} objects into {self.cache}")

            def fetch(item: tuple[str, Path]) -> None:
                try:
                    self._fetch(*item)
                except ObjectMissing:
                    gone.add(item[1])

            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=DOWNLOAD_THREADS) as pool:
                list(pool.map(fetch, todo))
        found = [p for p in paths if p not in gone]
        touch(found)
        self.evict(keep=set(found))
        return [None if p in gone else p for p in paths]

    def local_files(self, objects: Sequence[tuple[str, int]], progress: Progress | None = None
                    ) -> list[str | None]:
        return [None if p is None else str(p) for p in self.local_copies(objects, progress)]

    def local_paths(self, objects: Sequence[tuple[str, int]], progress: Progress | None = None) -> list[Path]:
        copies = self.local_copies(objects, progress)
        for (key, _size), path in zip(objects, copies, strict=True):
            if path is None:
                raise ObjectMissing(f"cannot read {self.url(key)}: no such object (deleted after it was listed?)")
        return [p for p in copies if p is not None]

    def evict(self, keep: set[Path] | None = None) -> int:
        """Fit the cache into ``cache_max_bytes`` (see ``logpipe.store.cache.evict``)."""
        return evict(self.cache_root, self.cache_max_bytes, keep)


__all__ = ["S3ObjectStore", "split_s3_url"]
