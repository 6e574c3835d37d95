"""Types of the compiled per-line loop (``_fastpath.c``): see that file and ``miner.add_many_utf8``."""

from collections.abc import Iterator, Sequence
from typing import Any

def scan(
    lines: Iterator[bytes],
    out: list[Any],
    miner: Any,
    checked_type: type,
    max_chars: int,
    max_examples: int,
    cache_size: int,
    hex_trial: int,
    /,
) -> tuple[int, bytes | None, tuple[bytes, Sequence[tuple[int, int]], bytes] | None]:
    """Serve lines whose lookup ends on a hot pattern; ``(hex_hits, line, slow)`` at the first
    other line (mine it in Python, then call again; ``slow``: ``(key, spans, view)`` for
    ``_add_slow`` when both digits-to-zero caches missed it, else None), ``(hex_hits, None, None)``
    when ``lines`` is exhausted."""

def id_view(raw: bytes, /) -> bytes:
    """``masking.id_free(raw)[0]`` for an ASCII ``raw``."""

def shape_key(raw: bytes, /) -> str | None:
    """``masking.shape(raw.decode())`` where the compiled loop computes it, else None."""
