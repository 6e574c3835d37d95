"""The log store: a local folder or an S3 bucket, both laid out by ``logpipe.layout``.

S3 is read with boto3 (not s3fs, which does not resolve next to a current boto3), so the same code
talks to AWS or to moto through ``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from logpipe.config import StoreConfig
from logpipe.errors import StoreError
from logpipe.layout import OBJECT_SUFFIX, Layout, Partition, hours_in_window


@dataclass(frozen=True)
class StoredObject:
    """One gzip object of the store."""

    key: str  # relative to the root: prefix/.../name.gz
    size: int
    partition: Partition


@dataclass
class ReadStats:
    """What a read saw: good records, and bad ones counted by reason (never silently dropped)."""

    records: int = 0
    bad: dict[str, int] = field(default_factory=dict)

    def count_bad(self, reason: str) -> None:
        self.bad[reason] = self.bad.get(reason, 0) + 1

    @property
    def bad_total(self) -> int:
        return sum(self.bad.values())


def split_s3_url(url: str) -> tuple[str, str]:
    rest = url.removeprefix("s3://")
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise StoreError(f"{url!r} is not an s3:// URL with a bucket name")
    return bucket, key.strip("/")


def s3_client(region: str | None = None) -> Any:
    """A boto3 S3 client with botocore's standard retries (endpoint from AWS_ENDPOINT_URL)."""
    import boto3
    from botocore.config import Config as BotoConfig

    return boto3.client("s3", region_name=region, config=BotoConfig(retries={"mode": "standard", "max_attempts": 8}))


class Store:
    """List, read and write the objects of the store."""

    def __init__(self, config: StoreConfig):
        self.config = config
        self.layout = Layout(config.prefix, config.service_partition)
        if config.is_s3:
            self.bucket, self.base_key = split_s3_url(config.root)
            self.local_root: Path | None = None
        else:
            self.bucket, self.base_key = "", ""
            self.local_root = Path(config.root)
        self._s3: Any = None

    # -- plumbing -------------------------------------------------------------------------------

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            self._s3 = s3_client(self.config.region)
        return self._s3

    def _full_key(self, key: str) -> str:
        return f"{self.base_key}/{key}" if self.base_key else key

    def url(self, key: str = "") -> str:
        """Where a key lives, as a user would type it."""
        if self.local_root is not None:
            return str(self.local_root / key)
        return f"s3://{self.bucket}/{self._full_key(key)}"

    def local_path(self, key: str) -> Path:
        if self.local_root is None:
            raise StoreError("the store is on S3; there is no local path")
        return self.local_root / key

    # -- listing --------------------------------------------------------------------------------

    def list_objects(self, start: datetime, end: datetime) -> list[StoredObject]:
        """Every object in the hour partitions of ``start <= t < end``, in time order."""
        objects: list[StoredObject] = []
        hours = hours_in_window(start, end)
        if self.config.service_partition:
            # The service level comes first: list it once, then each service's hours.
            for service in self.services():
                for hour in hours:
                    objects.extend(self._list_dir(self.layout.partition_dir(hour, service)))
        else:
            for hour in hours:
                objects.extend(self._list_dir(self.layout.partition_dir(hour)))
        objects.sort(key=lambda o: (o.partition.hour, o.key))
        return objects

    def list_all(self) -> list[StoredObject]:
        """Every object under the prefix (for explain without a window, and tests)."""
        found: list[StoredObject] = []
        if self.local_root is not None:
            base = self.local_root / self.layout.prefix
            if base.exists():
                for path in base.rglob("*.gz"):
                    key = path.relative_to(self.local_root).as_posix()
                    parsed = self.layout.parse_key(key)
                    if parsed:
                        found.append(StoredObject(key, path.stat().st_size, parsed[0]))
        else:
            for key, size in self._s3_list(self.layout.prefix + "/"):
                parsed = self.layout.parse_key(key)
                if parsed:
                    found.append(StoredObject(key, size, parsed[0]))
        found.sort(key=lambda o: (o.partition.hour, o.key))
        return found

    def services(self) -> list[str]:
        """Service partitions present (only with ``service_partition``)."""
        if self.local_root is not None:
            base = self.local_root / self.layout.prefix
            if not base.exists():
                return []
            return sorted(p.name.removeprefix("service=") for p in base.glob("service=*") if p.is_dir())
        names = set()
        paginator = self.s3.get_paginator("list_objects_v2")
        prefix = self._full_key(self.layout.prefix + "/")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, Delimiter="/"):
                for common in page.get("CommonPrefixes", []):
                    name = common["Prefix"][len(prefix) :].strip("/")
                    if name.startswith("service="):
                        names.add(name.removeprefix("service="))
        except Exception as exc:
            raise StoreError(f"cannot list {self.url(self.layout.prefix)}: {exc}") from exc
        return sorted(names)

    def _list_dir(self, directory: str) -> list[StoredObject]:
        out = []
        if self.local_root is not None:
            folder = self.local_root / directory
            if folder.is_dir():
                for path in sorted(folder.glob("*.gz")):
                    key = f"{directory}/{path.name}"
                    parsed = self.layout.parse_key(key)
                    if parsed:
                        out.append(StoredObject(key, path.stat().st_size, parsed[0]))
            return out
        for key, size in self._s3_list(directory + "/"):
            parsed = self.layout.parse_key(key)
            if parsed:
                out.append(StoredObject(key, size, parsed[0]))
        return out

    def _s3_list(self, prefix: str) -> Iterator[tuple[str, int]]:
        paginator = self.s3.get_paginator("list_objects_v2")
        full = self._full_key(prefix)
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
                for item in page.get("Contents", []):
                    if not item["Key"].endswith(OBJECT_SUFFIX):  # as the local listing: objects only
                        continue
                    key = item["Key"][len(self.base_key) + 1 :] if self.base_key else item["Key"]
                    yield key, int(item["Size"])
        except Exception as exc:  # botocore raises many kinds; the user needs the URL and the reason
            raise StoreError(f"cannot list {self.url(prefix)}: {exc}") from exc

    # -- reading --------------------------------------------------------------------------------

    def read_bytes(self, key: str) -> bytes:
        """The stored (compressed) bytes of one object."""
        try:
            if self.local_root is not None:
                return (self.local_root / key).read_bytes()
            return self.s3.get_object(Bucket=self.bucket, Key=self._full_key(key))["Body"].read()
        except Exception as exc:
            raise StoreError(f"cannot read {self.url(key)}: {exc}") from exc

    def iter_lines(self, key: str, stats: ReadStats | None = None) -> Iterator[bytes]:
        """Raw lines of one object (decompressed; a truncated gzip yields what it holds, counted)."""
        data = self.read_bytes(key)
        yield from decompress_lines(data, stats)

    def iter_records(self, objects: list[StoredObject], stats: ReadStats | None = None
                     ) -> Iterator[tuple[StoredObject, dict[str, Any]]]:
        """Parsed records of the objects; bad lines are counted in ``stats`` and skipped."""
        stats = stats if stats is not None else ReadStats()
        for obj in objects:
            for line in self.iter_lines(obj.key, stats):
                record = parse_record(line, stats)
                if record is not None:
                    stats.records += 1
                    yield obj, record

    # -- writing --------------------------------------------------------------------------------

    def write_object(self, key: str, data: bytes) -> str:
        """Store one (already gzip'd) object; returns its URL."""
        try:
            if self.local_root is not None:
                path = self.local_root / key
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(path.suffix + ".tmp")
                tmp.write_bytes(data)
                tmp.replace(path)  # readers never see half an object
            else:
                self.s3.put_object(Bucket=self.bucket, Key=self._full_key(key), Body=data,
                                   ContentType="application/x-ndjson", ContentEncoding="gzip")
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(f"cannot write {self.url(key)}: {exc}") from exc
        return self.url(key)


MAX_RECORD_BYTES = 1024 * 1024  # Firehose's own record limit is 1,000 KiB


def decompress_lines(data: bytes, stats: ReadStats | None = None) -> Iterator[bytes]:
    """Lines of gzip'd JSON lines, streamed. Several gzip members (Firehose may concatenate) are fine;
    a cut-off object yields the complete lines it holds and counts the partial tail as
    ``truncated_object``; a corrupt one counts ``corrupt_gzip`` and yields what came before."""
    chunk_size = 1 << 20
    decomp = zlib.decompressobj(wbits=31)
    member_started = False
    buffer = b""
    view = memoryview(data)
    pos = 0
    try:
        while pos < len(data) or decomp.unused_data:
            if decomp.eof:
                pending = decomp.unused_data
                decomp = zlib.decompressobj(wbits=31)
                member_started = False
                if not pending.strip(b"\x00"):
                    break
                buffer += decomp.decompress(pending)
                member_started = True
            else:
                piece = bytes(view[pos : pos + chunk_size])
                pos += chunk_size
                buffer += decomp.decompress(piece)
                member_started = True
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if line.strip():
                    yield line
    except zlib.error:
        if stats is not None:
            stats.count_bad("corrupt_gzip")
        return
    complete = decomp.eof or not member_started
    if buffer.strip():
        if complete:
            yield buffer
        elif stats is not None:
            stats.count_bad("truncated_object")
    elif not complete and stats is not None:
        stats.count_bad("truncated_object")


def _is_complete_json(line: bytes) -> bool:
    try:
        json.loads(line)
        return True
    except ValueError:
        return False


def parse_record(line: bytes, stats: ReadStats | None = None) -> dict[str, Any] | None:
    """One JSON object from one line, or None (counted by reason) for a bad one."""
    def bad(reason: str) -> None:
        if stats is not None:
            stats.count_bad(reason)

    if len(line) > MAX_RECORD_BYTES:
        bad("too_large")
        return None
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        bad("invalid_utf8")
        return None
    try:
        value = json.loads(text)
    except ValueError:
        bad("not_json")
        return None
    if not isinstance(value, dict):
        bad("not_an_object")
        return None
    return value


def gzip_lines(lines: list[bytes]) -> bytes:
    """gzip'd JSON lines, each ending in a newline (as Firehose writes with the newline delimiter)."""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=6, mtime=0) as gz:
        for line in lines:
            gz.write(line if line.endswith(b"\n") else line + b"\n")
    return buf.getvalue()
