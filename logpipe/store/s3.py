"""An S3 bucket as the object store, read and written with boto3 (``logpipe.aws``).

Not s3fs: it does not resolve next to a current boto3. The same code talks to AWS or to a local
server through ``AWS_ENDPOINT_URL``. Local files of objects (what DuckDB reads: its httpfs extension
is a download and fails offline) are copies in ``cache_dir``, keyed by key and size: Firehose objects
never change once written.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from logpipe import aws
from logpipe.errors import StoreError
from logpipe.store.base import Progress

DOWNLOAD_THREADS = 8


def split_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ("bucket", "some/prefix")."""
    rest = url.removeprefix("s3://")
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise StoreError(f"{url!r} is not an s3:// URL with a bucket name")
    return bucket, key.strip("/")


class S3ObjectStore:
    """Objects under ``s3://bucket/base_key``; one client, made on first use and shared by threads."""

    def __init__(self, url: str, region: str | None = None, cache_dir: str | Path = "./.logpipe-cache",
                 client: Any = None) -> None:
        self.bucket, self.base_key = split_s3_url(url)
        self.region = region
        self.cache = Path(cache_dir).expanduser() / self.bucket / self.base_key
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

    def iter_objects(self, prefix: str) -> Iterator[tuple[str, int]]:
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self._full_key(prefix)):
                for item in page.get("Contents", []):
                    key = item["Key"][len(self.base_key) + 1 :] if self.base_key else item["Key"]
                    yield key, int(item["Size"])
        except Exception as exc:  # botocore raises many kinds; the user needs the URL and the reason
            raise StoreError(f"cannot list {self.url(prefix)}: {exc}") from exc

    def folders(self, prefix: str) -> list[str]:
        full = self._full_key(prefix)
        names = set()
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full, Delimiter="/"):
                for common in page.get("CommonPrefixes", []):
                    names.add(common["Prefix"][len(full) :].strip("/"))
        except Exception as exc:
            raise StoreError(f"cannot list {self.url(prefix)}: {exc}") from exc
        return sorted(names)

    def read(self, key: str) -> bytes:
        try:
            return bytes(self.client.get_object(Bucket=self.bucket, Key=self._full_key(key))["Body"].read())
        except Exception as exc:
            raise StoreError(f"cannot read {self.url(key)}: {exc}") from exc

    def write(self, key: str, data: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._full_key(key), Body=data,
                                   ContentType="application/x-ndjson", ContentEncoding="gzip")
        except Exception as exc:
            raise StoreError(f"cannot write {self.url(key)}: {exc}") from exc

    def local_paths(self, objects: Sequence[tuple[str, int]], progress: Progress | None = None) -> list[Path]:
        """Cached copies of the objects, downloading (in parallel) those missing or of another size."""
        paths = [self.cache / key for key, _size in objects]
        todo = [(key, path) for (key, size), path in zip(objects, paths, strict=True)
                if not (path.exists() and path.stat().st_size == size)]
        if todo:
            if progress:
                progress(f"downloading {len(todo)} of {len(objects)} objects into {self.cache}")

            def fetch(item: tuple[str, Path]) -> None:
                key, path = item
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(path.name + f".{os.getpid()}.{threading.get_ident()}.part")
                tmp.write_bytes(self.read(key))
                tmp.replace(path)

            with ThreadPoolExecutor(max_workers=DOWNLOAD_THREADS) as pool:
                list(pool.map(fetch, todo))
        return paths


__all__ = ["S3ObjectStore", "split_s3_url"]
