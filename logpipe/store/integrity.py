"""Is a stored object what it claims to be? Its gzip members checked one by one before any reader trusts it.

Why: DuckDB's gzip reader checks no CRC. An object with bytes overwritten in the middle decodes to
garbage it returns as rows (duplicated records, others gone, nothing counted); a cut-off object, a
0-byte ``.gz``, a plain-text file named ``.gz`` or a gzip with bytes after its last member fail every
query over the hour. So each object is decoded once here (zlib-ng, output discarded, GIL released),
member by member, with gzip's own CRC and length checks, and gets a verdict:

* ``clean``: every member ended with a good CRC, nothing follows, no lone CR: a reader may read the
  object as it is (several members are fine: DuckDB reads concatenated members);
* otherwise ``salvage`` decodes it again and writes what can be trusted to a new gzip file, and says
  what was lost, by reason:

  - ``corrupt_gzip``: a member whose CRC or length check fails, or whose deflate data is invalid.
    Nothing of it is kept (the check covers the whole member, so no byte of it is known good); it is
    counted as the lines it decoded to (an estimate: the lines it would have held), at least one.
    Later members are found by their header and kept when their own CRC holds.
  - ``truncated_object``: the object ends inside a member (a cut-off upload). What a cut-off deflate
    stream decodes to is a true prefix of the original, so its complete lines are kept; the cut line
    is counted.
  - ``trailing_garbage``: bytes after the last member that are not a gzip member: one record counted
    (zero padding is dropped without a count).
  - ``not_gzip``: the object is not gzip at all (a plain-text file named ``.gz``): its bytes are read as
    plain JSON lines, each line then counted good or bad like any other.
  - ``empty_object``: no bytes at all (nothing to read, nothing lost).
  - ``missing_object``: listed, then gone before it could be read (set by the caller).

A lone CR (``\\r`` not followed by ``\\n``) between two records is a record separator to some shippers
but not to newline-delimited JSON readers, which would see one bad line where two records are:
objects holding one are rewritten too, splitting a line at its lone CRs when every part is JSON.

This module knows bytes only - no store, no state, no engine - so any reader (the DuckDB engine, a
Parquet compactor) can use it; ``logpipe.store.verdicts`` remembers its answers.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

try:  # zlib-ng: the same API, about three times the speed of the standard library's zlib
    from zlib_ng import zlib_ng as _zlib
except ImportError:  # pragma: no cover - the dependency is declared; stay correct without it
    import zlib as _zlib  # type: ignore[no-redef]

_DecodeError = cast(type[Exception], _zlib.error)

GZIP_MAGIC = b"\x1f\x8b\x08"
CHUNK = 1 << 20  # compressed bytes per decode step
SPOOL_BYTES = 64 << 20  # a member's output is held in memory up to this, then in a temporary file

TRUNCATED = "truncated_object"
CORRUPT = "corrupt_gzip"
TRAILING = "trailing_garbage"
NOT_GZIP = "not_gzip"
EMPTY = "empty_object"
MISSING = "missing_object"
OBJECT_PROBLEMS = (CORRUPT, TRUNCATED, TRAILING, NOT_GZIP, EMPTY, MISSING)

_LONE_CR = re.compile(rb"\r(?!\n)")
_CR_BEFORE_OTHER = re.compile(rb"\r[^\n]")  # a lone CR with a byte after it in the same piece


@dataclass(frozen=True)
class ObjectCheck:
    """The verdict on one object's bytes.

    ``clean``: read the object as it is. Otherwise read the salvaged copy (``kept_lines`` > 0) or
    nothing. ``lost``: records counted bad at the object level, by reason; ``problems``: the reasons
    with a line each for people (where in the object, what failed).
    """

    clean: bool
    lost: dict[str, int] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    members: int = 0
    kept_lines: int = 0
    lone_cr: bool = False

    @property
    def problem(self) -> str | None:
        """The first reason the object is not clean (None for a clean one, or one only rewritten)."""
        return next(iter(self.problems), None)

    def to_json(self) -> str:
        return json.dumps({"clean": self.clean, "lost": self.lost, "problems": self.problems,
                           "members": self.members, "kept_lines": self.kept_lines, "lone_cr": self.lone_cr},
                          sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ObjectCheck:
        data = json.loads(text)
        return cls(clean=bool(data["clean"]), lost={str(k): int(v) for k, v in data.get("lost", {}).items()},
                   problems={str(k): str(v) for k, v in data.get("problems", {}).items()},
                   members=int(data.get("members", 0)), kept_lines=int(data.get("kept_lines", 0)),
                   lone_cr=bool(data.get("lone_cr", False)))


def missing(detail: str) -> ObjectCheck:
    """The verdict on an object listed but gone when read."""
    return ObjectCheck(clean=False, problems={MISSING: detail})


def _chunks(handle: IO[bytes]) -> Iterator[bytes]:
    while True:
        piece = handle.read(CHUNK)
        if not piece:
            return
        yield piece


def check_file(path: str | Path) -> ObjectCheck:
    """Decode every member of a gzip file, keeping nothing: clean, or not (then ``salvage`` says why).

    The fast path of every new object: one streaming decode, whose output is only searched for a CR.
    """
    members = 0
    with open(path, "rb") as handle:
        first = handle.read(len(GZIP_MAGIC))
        if first != GZIP_MAGIC:
            return ObjectCheck(clean=False)
        handle.seek(0)
        decomp = _zlib.decompressobj(wbits=31)
        started = False
        cr_carry = False
        for piece in _chunks(handle):
            while piece:
                if decomp.eof:
                    members += 1
                    if not piece.startswith(GZIP_MAGIC[: min(3, len(piece))]):
                        return ObjectCheck(clean=False)  # trailing bytes (or zero padding) DuckDB would refuse
                    decomp = _zlib.decompressobj(wbits=31)
                try:
                    out = decomp.decompress(piece)
                except _DecodeError:
                    return ObjectCheck(clean=False)
                started = True
                if b"\r" in out or cr_carry:
                    if _CR_BEFORE_OTHER.search(out) or (cr_carry and out and not out.startswith(b"\n")):
                        return ObjectCheck(clean=False)
                    cr_carry = out.endswith(b"\r") if out else cr_carry
                piece = decomp.unused_data if decomp.eof else b""
        if not started or not decomp.eof or cr_carry:
            return ObjectCheck(clean=False)
    return ObjectCheck(clean=True, members=members + 1)


class _Spool:
    """A member's decoded output, held until its CRC says whether it may be kept."""

    def __init__(self) -> None:
        self.file: Any = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - closed by close()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.file.write(data)
        self.size += len(data)

    def pieces(self) -> Iterator[bytes]:
        self.file.seek(0)
        yield from _chunks(self.file)

    def count_lines(self) -> int:
        lines, last = 0, b"\n"
        for piece in self.pieces():
            lines += piece.count(b"\n")
            last = piece[-1:]
        return lines + (0 if last == b"\n" else 1)

    def close(self) -> None:
        self.file.close()


def split_lone_cr(line: bytes) -> list[bytes]:
    """A line cut at its lone CRs when every non-blank part is JSON (two records a shipper separated
    by a CR); otherwise the line as it is (a CR inside one broken record)."""
    if not _LONE_CR.search(line):
        return [line]
    parts = [p for p in _LONE_CR.split(line) if p.strip()]
    try:
        for part in parts:
            json.loads(part)
    except ValueError:
        return [line]
    return parts


class _LineWriter:
    """Kept bytes out as whole lines (lone CRs split), counted."""

    def __init__(self, out: IO[bytes] | None) -> None:
        self.out = out
        self.buffer = b""
        self.lines = 0
        self.lone_cr = False

    def write(self, data: bytes) -> None:
        self.buffer += data
        if b"\n" not in data:
            return
        head, _, self.buffer = self.buffer.rpartition(b"\n")
        self._emit(head.split(b"\n"))

    def _emit(self, lines: list[bytes]) -> None:
        kept: list[bytes] = []
        for line in lines:
            if b"\r" in line and _LONE_CR.search(line.rstrip(b"\r")):
                self.lone_cr = True
                kept.extend(split_lone_cr(line))
            else:
                kept.append(line)
        self.lines += sum(1 for line in kept if line.strip())
        if self.out is not None and kept:
            self.out.write(b"\n".join(kept) + b"\n")

    def end_member_tail(self) -> bytes:
        """The partial line left at the end of a cut-off member (removed from the output)."""
        tail, self.buffer = self.buffer, b""
        return tail

    def close(self) -> None:
        if self.buffer.strip():
            self._emit([self.buffer])
        self.buffer = b""


def salvage(path: str | Path, out: IO[bytes] | None = None) -> ObjectCheck:
    """Decode an object member by member and write what can be trusted to ``out`` (newline-delimited,
    uncompressed; None: only count), with what was lost by reason (see the module docstring)."""
    data = Path(path).read_bytes()
    if not data:
        return ObjectCheck(clean=False, problems={EMPTY: "the object has 0 bytes"})
    writer = _LineWriter(out)
    lost: dict[str, int] = {}
    problems: dict[str, str] = {}

    def note(reason: str, n: int, detail: str) -> None:
        if n:
            lost[reason] = lost.get(reason, 0) + n
        problems.setdefault(reason, detail)

    if not data.startswith(GZIP_MAGIC):
        note(NOT_GZIP, 0, f"no gzip header (starts with {data[:8]!r}): read as plain JSON lines")
        for start in range(0, len(data), CHUNK):
            writer.write(data[start:start + CHUNK])
        writer.close()
        return ObjectCheck(clean=False, lost=lost, problems=problems, kept_lines=writer.lines,
                           lone_cr=writer.lone_cr)

    pos, members, after_corrupt = 0, 0, False
    while pos < len(data):
        if not data.startswith(GZIP_MAGIC, pos):
            rest = data[pos:]
            if rest.strip(b"\x00"):
                note(TRAILING, 1, f"{len(rest)} bytes after the last gzip member (at byte {pos}) are not gzip")
            break
        spool = _Spool()
        decomp = _zlib.decompressobj(wbits=31)
        cursor = pos
        try:
            while cursor < len(data) and not decomp.eof:
                piece = data[cursor:cursor + CHUNK]
                spool.write(decomp.decompress(piece))
                cursor += len(piece)
            if decomp.eof:
                cursor -= len(decomp.unused_data)
        except _DecodeError as exc:
            if not after_corrupt:
                note(CORRUPT, max(1, spool.count_lines()), f"gzip member {members + 1} at byte {pos}: {exc}; "
                     "none of its records kept")
            after_corrupt = True
            spool.close()
            found = data.find(GZIP_MAGIC, pos + 1)
            if found < 0:
                break
            pos = found
            continue
        if decomp.eof:  # the member's CRC and length held: keep all of it
            members += 1
            after_corrupt = False
            for piece in spool.pieces():
                writer.write(piece)
            spool.close()
            pos = cursor
            continue
        # The input ended inside the member.
        if after_corrupt:  # a header found inside damaged bytes, never confirmed by a CRC: not trusted
            spool.close()
            break
        for piece in spool.pieces():
            writer.write(piece)
        spool.close()
        tail = writer.end_member_tail()
        note(TRUNCATED, 1 if tail.strip() else 0,
             f"the object ends inside gzip member {members + 1} (at byte {len(data)}): its complete lines are kept"
             + (", the cut line counted" if tail.strip() else ""))
        break
    writer.close()
    return ObjectCheck(clean=False, lost=lost, problems=problems, members=members, kept_lines=writer.lines,
                       lone_cr=writer.lone_cr)


def write_salvaged(path: str | Path, dest: Path) -> ObjectCheck:
    """``salvage`` into ``dest`` as gzip (fast level; through a temporary file and a rename). Nothing is
    written when nothing is kept."""
    import gzip

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + f".{os.getpid()}.part")
    try:
        with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) as gz:
            check = salvage(path, gz)  # type: ignore[arg-type]
        if check.kept_lines:
            tmp.replace(dest)
        else:
            tmp.unlink()
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return check


__all__ = ["CORRUPT", "EMPTY", "MISSING", "NOT_GZIP", "OBJECT_PROBLEMS", "TRAILING", "TRUNCATED", "ObjectCheck",
           "check_file", "missing", "salvage", "split_lone_cr", "write_salvaged"]
