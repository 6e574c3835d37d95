"""Types of the compiled per-line loop (``_fastpath.c``): see that file and ``miner.add_many_utf8``."""

from collections.abc import Iterator
from typing import Any

def scan(
    lines: Iterator[bytes],
    out: list[Any],
    cache: dict[bytes, Any],
    hex_cache: dict[bytes, Any],
    id_cache: dict[bytes, Any],
    checked_type: type,
    max_chars: int,
    /,
) -> tuple[int, tuple[bytes] | None]:
    """Serve lines whose lookup ends on a hot pattern; ``(hex_hits, (line,))`` at the first other
    line (mine it in Python, then call again), ``(hex_hits, None)`` when ``lines`` is exhausted."""

def id_view(raw: bytes, /) -> bytes:
    """``masking.id_free(raw)[0]`` for an ASCII ``raw``."""
