"""Log records as stored: gzip'd JSON lines, read back line by line, bad ones counted by reason.

Why this is its own module: reading a record is the same whatever holds the object (a local folder,
S3, the download cache), and the reasons a record is bad (``not_json``, ``invalid_utf8``,
``too_large``, ``truncated_object``...) are one vocabulary the DuckDB engine's bad-record count shares.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


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


__all__ = ["MAX_RECORD_BYTES", "ReadStats", "decompress_lines", "gzip_lines", "parse_record"]
