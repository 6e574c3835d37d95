"""A store hour full of damaged objects, made by code (no binary fixtures), with what every reader must
answer for it: the good records (each counted exactly once), the bad ones by reason, the misplaced
ones, the damaged objects by problem and the paths that are not objects of the layout.

Every record is an ERROR of service ``api`` with a unique message, so ``errors_by_service`` over the
hour must count exactly ``good``; the paths that are not objects hold records too, which no query may
count. The expected numbers are computed here independently of logpipe's reader: with the standard
library's zlib (logpipe decodes with zlib-ng) and plain counting.
"""

from __future__ import annotations

import gzip
import json
import random
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

H = timedelta(hours=1)


def record(i: int, at: datetime, service: str = "api") -> bytes:
    return json.dumps({"time": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "service": service, "level": "ERROR",
                       "message": f"payment {i} failed: card declined"}, separators=(",", ":")).encode()


def gz(lines: list[bytes]) -> bytes:
    return gzip.compress(b"".join(line + b"\n" for line in lines), mtime=0)


def complete_lines_of_prefix(data: bytes) -> tuple[int, bool]:
    """(complete lines, whether a partial line follows) of what a cut-off gzip decodes to (stdlib zlib)."""
    out = zlib.decompressobj(wbits=31).decompress(data)
    lines = out.split(b"\n")
    return len(lines) - 1, bool(lines[-1].strip())


def corrupted(data: bytes, seed: int) -> bytes:
    """300 bytes overwritten in the middle, chosen so that the member fails a check (stdlib zlib)."""
    rng = random.Random(seed)
    while True:
        damaged = bytearray(data)
        middle = len(data) // 2 - 150
        damaged[middle:middle + 300] = bytes(rng.randrange(256) for _ in range(300))
        decomp = zlib.decompressobj(wbits=31)
        try:
            decomp.decompress(bytes(damaged))
        except zlib.error:
            return bytes(damaged)


@dataclass
class Corpus:
    hour: datetime
    good: int = 0  # records of the hour every query counts exactly once
    bad: dict[str, int] = field(default_factory=dict)  # exact counts by reason
    at_least: dict[str, int] = field(default_factory=dict)  # estimated counts (a corrupt member's lines)
    misplaced: int = 0
    damaged: dict[str, str] = field(default_factory=dict)  # key -> problem
    unrecognised: list[str] = field(default_factory=list)  # keys
    late: int = 0  # records of the hour before that lie in this hour's partition
    neighbours: int = 0  # good records in each of the hours before and after
    keys: dict[str, str] = field(default_factory=dict)  # name -> key

    def count(self, reason: str, n: int) -> None:
        if n:
            self.bad[reason] = self.bad.get(reason, 0) + n


def build(store: Any, hour: datetime, neighbours: int = 10) -> Corpus:
    """Write the corpus into ``store`` (a ``logpipe.store.Store``) at ``hour``; returns what it holds."""
    layout = store.layout
    corpus = Corpus(hour, neighbours=neighbours)
    serial = iter(range(1_000_000))

    def records(n: int, at: datetime | None = None) -> list[bytes]:
        return [record(next(serial), (at or hour) + timedelta(seconds=i % 3000)) for i in range(n)]

    def put(name: str, data: bytes, problem: str | None = None) -> str:
        key = layout.object_key(hour, stream=name, seq=len(corpus.keys))
        store.write_object(key, data)
        corpus.keys[name] = key
        if problem:
            corpus.damaged[key] = problem
        return key

    # The hours around: clean, so windows before and after have data (detect's baseline reads this hour).
    for other in (hour - H, hour + H):
        store.write_object(layout.object_key(other, stream="neighbour"), gz(records(neighbours, other)))

    # 1. A good object with a bad line, two records from a clock in 2099 and one record of the hour
    #    before that arrived late (it belongs to the window before).
    late_record = record(next(serial), hour - timedelta(minutes=4))
    future = [record(next(serial), datetime(2099, 1, 1, 5, tzinfo=hour.tzinfo)) for _ in range(2)]
    put("good", gz([*records(40), b"not json", *future, late_record]))
    corpus.good += 40
    corpus.count("not_json", 1)
    corpus.misplaced += 2
    corpus.late += 1

    # 2. Cut off in the middle: its complete lines are kept, the cut line counted.
    whole = gz(records(100))
    cut = whole[: len(whole) * 6 // 10]
    kept, partial = complete_lines_of_prefix(cut)
    put("truncated", cut, "truncated_object")
    corpus.good += kept
    corpus.count("truncated_object", 1 if partial else 0)

    # 3. A 0-byte .gz; 4. plain JSON lines named .gz (read as text).
    put("empty", b"", "empty_object")
    put("plain", b"".join(line + b"\n" for line in [*records(10), b"not json"]), "not_gzip")
    corpus.good += 10
    corpus.count("not_json", 1)

    # 5. 300 bytes overwritten in the middle: none of it kept, never garbage.
    put("corrupt", corrupted(gz(records(100)), seed=1), "corrupt_gzip")
    corpus.at_least["corrupt_gzip"] = 1

    # 6. Two gzip members, concatenated (clean); 7. a member then bytes that are not gzip.
    put("members", gz(records(20)) + gz(records(30)))
    corpus.good += 50
    put("trailing", gz(records(25)) + b"garbage appended by a broken uploader\n", "trailing_garbage")
    corpus.good += 25
    corpus.count("trailing_garbage", 1)

    # 8. A lone CR between two records (two records), and one inside a string (one bad record).
    first, second, third = records(3)
    put("lone_cr", gz([first + b"\r" + second, third, b'{"message": "half\ra line"}']))
    corpus.good += 3
    corpus.count("not_json", 1)

    # 9. A damaged member followed by an intact one: the second is kept.
    put("corrupt_then_good", corrupted(gz(records(30)), seed=2) + gz(records(20)), "corrupt_gzip")
    corpus.good += 20
    corpus.at_least["corrupt_gzip"] = 2

    # Paths under the prefix that are not objects of the layout: named, never read.
    prefix = layout.prefix
    day = hour.strftime("%Y-%m-%d")
    for key in (f"{prefix}/dt=notadate/x.gz", f"{prefix}/dt={day}/hour=99/x.gz",
                f"{layout.partition_dir(hour)}/nested/x.gz", f"{layout.partition_dir(hour)}/notes.txt"):
        store.write_object(key, gz(records(5)))
    corpus.unrecognised = [f"{prefix}/dt=notadate/", f"{prefix}/dt={day}/hour=99/",
                           f"{layout.partition_dir(hour)}/nested/x.gz", f"{layout.partition_dir(hour)}/notes.txt"]
    return corpus


__all__ = ["Corpus", "build", "complete_lines_of_prefix", "corrupted", "gz", "record"]
