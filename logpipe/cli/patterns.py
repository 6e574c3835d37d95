"""``logpipe patterns mine``: mine log templates from any text, one JSON object per input line.

Why a plain-text miner on the command line: it is the quickest way to see how the error-pattern
detectors will group a service's messages (``kubectl logs ... | logpipe patterns mine --summary``),
and it is a filter other tools can consume (``jq``, a spreadsheet).

Streaming contract: output line *i* belongs to input line *i* and is written as soon as that line is
mined (when the input is a pipe or terminal, each output line is flushed). Templates may be
generalised later in the stream (two patterns merge into one with a new ``<*>``); the
``pattern_id`` written for a line is the id at that moment. Every id ever written still resolves:
the miner keeps an alias map ``old_id -> new_id`` (``TemplateMiner.resolve``), and the final ids
are shown by ``--summary``.

The ``patterns`` group is shared: ``logpipe.cli.patterns_store`` adds list/show/mute/resolve to it.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING

import click

from logpipe.cli.common import console
from logpipe.errors import UsageError

if TYPE_CHECKING:
    from logpipe.patterns.miner import TemplateMiner

BATCH_LINES = 1000


@click.group("patterns")
def patterns_group() -> None:
    """Error patterns: mine templates from text, and the patterns the detectors learned."""


def _open_input(path: str) -> IO[bytes]:
    if path == "-":
        stream = getattr(sys.stdin, "buffer", None)
        if stream is None:  # a text-only stdin (rare): re-encode what it gives us
            import io

            return io.BytesIO(sys.stdin.read().encode("utf-8", "surrogateescape"))
        return stream
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise UsageError(f"patterns mine: no such file {path!r}; give a path or '-' for stdin") from None
    except IsADirectoryError:
        raise UsageError(f"patterns mine: {path!r} is a directory; give a file or '-' for stdin") from None
    except PermissionError:
        raise UsageError(f"patterns mine: cannot read {path!r} (permission denied)") from None


def _is_regular_file(stream: IO[bytes]) -> bool:
    try:
        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (OSError, ValueError, AttributeError):
        return False  # BytesIO and friends: treat as a stream


def _decode(raw: bytes) -> str:
    # One message per line; invalid UTF-8 becomes U+FFFD instead of an error.
    return raw.decode("utf-8", errors="replace").rstrip("\r\n")


@patterns_group.command("mine")
@click.argument("file", default="-", metavar="[FILE|-]")
@click.option("--summary", is_flag=True, help="Print a table of patterns and counts instead of one JSON line per input line.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="With --summary: how many patterns to show (most frequent first).")
def mine_command(file: str, summary: bool, limit: int) -> None:
    """Mine templates from FILE (or stdin): one JSON object per input line, in order.

    Each object has ``line`` (1-based), ``pattern_id`` (stable: the same template gets the same id
    in any run), ``template`` (variables as ``<*>``) and ``is_new``. An id written for an early
    line may later be merged into a more general pattern; it still identifies it (alias map).
    """
    import json

    from logpipe.patterns.miner import TemplateMiner

    miner = TemplateMiner()
    source = _open_input(file)
    out = sys.stdout
    try:
        if summary:
            _mine_all(miner, source)
            _print_summary(miner, limit)
            return
        streaming = not _is_regular_file(source)
        dumps = json.dumps
        number = 0
        if streaming:
            for raw in iter(source.readline, b""):
                number += 1
                r = miner.add(_decode(raw))
                out.write(dumps({"line": number, "pattern_id": r.pattern_id, "template": r.template,
                                 "is_new": r.is_new}, ensure_ascii=False) + "\n")
                out.flush()
        else:
            for batch in _batches(source):
                results = miner.add_many(batch)
                chunk = []
                for r in results:
                    number += 1
                    chunk.append(dumps({"line": number, "pattern_id": r.pattern_id, "template": r.template,
                                        "is_new": r.is_new}, ensure_ascii=False))
                out.write("\n".join(chunk) + "\n")
            out.flush()
    except BrokenPipeError:  # `... | head`: the reader is gone, which is not an error
        _silence_stdout()
    finally:
        if source is not getattr(sys.stdin, "buffer", None):
            source.close()


def _batches(source: IO[bytes]) -> Iterator[list[str]]:
    batch: list[str] = []
    for raw in source:
        batch.append(_decode(raw))
        if len(batch) >= BATCH_LINES:
            yield batch
            batch = []
    if batch:
        yield batch


def _mine_all(miner: TemplateMiner, source: IO[bytes]) -> None:
    for batch in _batches(source):
        miner.add_many(batch)


def _print_summary(miner: TemplateMiner, limit: int) -> None:
    from rich.table import Table
    from rich.text import Text

    patterns = miner.patterns()
    total = sum(p.count for p in patterns)
    table = Table(title=f"{len(patterns)} patterns in {total} lines", title_justify="left")
    table.add_column("pattern_id", style="cyan", no_wrap=True)
    table.add_column("count", justify="right")
    table.add_column("share", justify="right")
    table.add_column("template", overflow="fold")
    for p in patterns[:limit]:
        # Text(): templates hold brackets ("[preauth]") that rich would read as markup.
        table.add_row(p.pattern_id, str(p.count), f"{p.count / total:.1%}" if total else "-", Text(p.template))
    console.print(table, markup=False, highlight=False)
    if len(patterns) > limit:
        console.print(f"... and {len(patterns) - limit} more (--limit)", markup=False)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


commands = [patterns_group]
