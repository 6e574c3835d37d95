"""``logpipe patterns mine``: mine log templates from any text, one JSON object per input line.

Why a plain-text miner on the command line: it is the quickest way to see how the error-pattern
detectors will group a service's messages (``kubectl logs ... | logpipe patterns mine --summary``),
and it is a filter other tools can consume (``jq``, a spreadsheet).

Two modes, one contract: output line *i* belongs to input line *i*.

* **Final** (the default for a regular file, ``--final`` for any input): the whole input is mined
  first, then every line gets its *final* pattern: the id and template after all merges, exactly
  the grouping ``--summary`` counts and ``benchmarks/patterns.py`` scores.
* **Streaming** (the default for a pipe or terminal, ``--stream`` for a file): each line's object is
  written (and flushed) as soon as the line is mined, with the id known at that moment. Patterns
  may merge later in the stream (two become one with a new ``<*>``); every id ever written still
  resolves, and when the input ends one closing object ``{"aliases": {"old id": "final id", ...}}``
  maps each written id that changed to its final id (it has no ``line`` key).

The ``patterns`` group is shared: ``logpipe.cli.patterns_store`` adds list/show/mute/resolve to it.
This module imports click and (when it runs) the miner only: ``logpipe patterns mine`` is a filter
users pipe text through, so ``logpipe.cli.main`` runs it without loading the rest of the CLI (the
configuration, the engines, pandas, SQLAlchemy: a second of start-up).
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterable, Iterator
from typing import IO, TYPE_CHECKING, cast

import click

from logpipe.errors import UsageError

if TYPE_CHECKING:
    from logpipe.patterns.miner import MatchResult, TemplateMiner

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
@click.option("--final/--stream", "final", default=None,
              help="--final: mine everything, then give each line its final pattern (default for a file). "
                   "--stream: write each line at once with the id known then, and a closing alias map "
                   "(default for a pipe).")
@click.option("--field", "fields", metavar="NAME[,NAME...]", default=None,
              help="Each input line is a JSON object (a FireLens record, `query run --format json`): mine its "
                   "NAME value, the first of the names it holds as text (`message,log`); a multi-line message "
                   "stays one message. Lines without one are skipped and counted.")
def mine_command(file: str, summary: bool, limit: int, final: bool | None, fields: str | None) -> None:
    """Mine templates from FILE (or stdin): one JSON object per input line, in order.

    Each object has ``line`` (1-based), ``pattern_id`` (stable: the same template gets the same id
    in any run), ``template`` (variables as ``<*>``) and ``is_new`` (the first line of its pattern).
    With --stream an id written early may be merged later: the closing ``{"aliases": {...}}`` object
    maps it to its final id. With --field, ``line`` is the input line the message came from.
    """
    from logpipe.patterns.miner import TemplateMiner

    names = _field_names(fields)
    miner = TemplateMiner()
    source = _open_input(file)
    if names:
        _mine_fields(miner, source, names, summary, limit, final, sys.stdout)
        return
    out = sys.stdout
    if summary or final or (final is None and _is_regular_file(source)):
        # A batch over the whole input: it allocates millions of long-lived objects (cache keys,
        # one id per line) and no reference cycles, so the cyclic collector's passes over them
        # only cost time (about 15% of a run on 1M long messages). Not for --stream, which may
        # run for days: there the collector stays on.
        import gc

        gc.disable()
    try:
        if summary:
            for batch in _chunks(source):
                _mine_lines(miner, batch)
            _print_summary(miner, limit)
            return
        if final is None:
            final = _is_regular_file(source)
        if final:
            _mine_final(miner, source, out)
        else:
            _mine_streaming(miner, ((n, _decode(raw)) for n, raw in enumerate(iter(source.readline, b""), 1)), out)
    except BrokenPipeError:  # `... | head`: the reader is gone, which is not an error
        _silence_stdout()
    finally:
        if source is not getattr(sys.stdin, "buffer", None):
            source.close()


def _field_names(fields: str | None) -> list[str]:
    if fields is None:
        return []
    names = [n.strip() for n in fields.split(",")]
    if not all(names):
        raise UsageError(f"--field {fields!r}: give field names separated by commas, such as message,log")
    return names


def _message_of(raw: bytes | str, names: list[str]) -> str | None:
    """The first of ``names`` an input line's JSON object holds as text, or None."""
    import json

    try:
        record = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    for name in names:
        value = record.get(name)
        if isinstance(value, str):
            return value
    return None


def _field_messages(source: IO[bytes], names: list[str], skipped: list[int]) -> Iterator[tuple[int, str]]:
    """(input line number, message) of each JSON line holding one of ``names`` as text; the numbers
    of the other non-blank lines go to ``skipped``."""
    for number, raw in enumerate(iter(source.readline, b""), 1):
        if not raw.strip():
            continue
        message = _message_of(raw, names)
        if message is None:
            skipped.append(number)
        else:
            yield number, message


def _mine_fields(miner: TemplateMiner, source: IO[bytes], names: list[str], summary: bool, limit: int,
                 final: bool | None, out: IO[str]) -> None:
    """``patterns mine --field``: one message per JSON line, its number kept; lines without a text
    value under any of ``names`` are skipped and counted (reported on stderr, never silently)."""
    from logpipe.cli.common import err_console
    from logpipe.text import plural

    skipped: list[int] = []
    messages = _field_messages(source, names, skipped)
    try:
        if summary:
            for _number, message in messages:
                miner.add(message)
            _print_summary(miner, limit)
        elif final if final is not None else _is_regular_file(source):
            numbers: list[int] = []
            ids: list[str] = []
            for number, message in messages:
                numbers.append(number)
                ids.append(miner.add(message).pattern_id)
            _write_final(miner, ids, out, numbers)
        else:
            _mine_streaming(miner, messages, out)
    except BrokenPipeError:
        _silence_stdout()
    finally:
        if source is not getattr(sys.stdin, "buffer", None):
            source.close()
    if skipped:
        shown = ", ".join(str(n) for n in skipped[:5]) + (", ..." if len(skipped) > 5 else "")
        err_console.print(f"patterns mine: skipped {plural(len(skipped), 'line')} without a text value under "
                          f"{' or '.join(repr(n) for n in names)} (not a JSON object, or no such field): line {shown}",
                          markup=False, highlight=False, style="yellow")


def _chunks(source: IO[bytes], size: int = 1 << 22) -> Iterator[list[bytes] | list[str]]:
    """The input's lines, a few MB at a time (one split per block; CRLF line ends too).

    A block of valid UTF-8 comes as its lines' bytes (``add_many_utf8``: the miner reads bytes,
    and these are the very bytes of the decoded lines); a block with invalid UTF-8 comes decoded,
    each bad byte a U+FFFD (a line is never refused)."""
    pending = b""
    while True:
        block = source.read(size)
        if not block:
            break
        block = pending + block
        cut = block.rfind(b"\n")
        if cut < 0:
            pending = block
            continue
        pending = block[cut + 1:]
        body = block[:cut]
        if not body.isascii():
            try:
                body.decode("utf-8")
            except UnicodeDecodeError:
                text = body.decode("utf-8", errors="replace")
                lines = text.split("\n")
                yield [line.rstrip("\r") for line in lines] if "\r" in text else lines
                continue
        raw_lines = body.split(b"\n")
        yield [line.rstrip(b"\r") for line in raw_lines] if b"\r" in body else raw_lines
    if pending:
        yield [pending.decode("utf-8", errors="replace").rstrip("\r\n")]


def _mine_lines(miner: TemplateMiner, lines: list[bytes] | list[str]) -> list[MatchResult]:
    """``add_many_utf8`` for a block of bytes, ``add_many`` for decoded text."""
    if lines and isinstance(lines[0], bytes):
        return miner.add_many_utf8(lines)
    return miner.add_many(cast("list[str]", lines))


def _tail(pattern_id: str, template: str, is_new: bool) -> str:
    import json

    return (f', "pattern_id": "{pattern_id}", "template": {json.dumps(template, ensure_ascii=False)}, '
            f'"is_new": {"true" if is_new else "false"}}}')


def _mine_final(miner: TemplateMiner, source: IO[bytes], out: IO[str], block: int = 100_000) -> None:
    """Mine the whole input, then write each line's final pattern (ids after every merge).

    Per line only a lookup in C (``map``) and one f-string: for millions of lines, writing costs
    about as much as mining a line that hits the fast cache.
    """
    from operator import attrgetter

    ids: list[str] = []
    for batch in _chunks(source):
        ids.extend(map(attrgetter("pattern_id"), _mine_lines(miner, batch)))
    _write_final(miner, ids, out, block=block)


def _write_final(miner: TemplateMiner, ids: list[str], out: IO[str], numbers: list[int] | None = None,
                 block: int = 100_000) -> None:
    """One object per mined line with its final pattern; ``is_new`` on the first line of each final
    pattern. ``numbers``: each line's input line number (default 1, 2, ...)."""
    final = {p.pattern_id: p.template for p in miner.patterns()}
    resolve = miner.resolve
    # The first line of each written id (the smallest index wins: later keys overwrite, reversed).
    first_of = dict(zip(reversed(ids), range(len(ids) - 1, -1, -1), strict=True))
    tails: dict[str, str] = {}  # written id -> the object's text after "line" (final id, template)
    opening: dict[str, int] = {}  # final id -> its first line (there is_new is true)
    for written, first in first_of.items():
        pid = resolve(written)
        tails[written] = _tail(pid, final[pid], False)
        if opening.get(pid, first + 1) > first:
            opening[pid] = first
    line_tails = list(map(tails.__getitem__, ids))
    del ids
    for pid, first in opening.items():
        line_tails[first] = _tail(pid, final[pid], True)
    for start in range(0, len(line_tails), block):
        end = min(start + block, len(line_tails))
        lines = numbers[start:end] if numbers is not None else range(start + 1, end + 1)
        out.write("\n".join([f'{{"line": {number}{tail}'
                              for number, tail in zip(lines, line_tails[start:end], strict=True)]) + "\n")
    out.flush()


def _mine_streaming(miner: TemplateMiner, messages: Iterable[tuple[int, str]], out: IO[str]) -> None:
    """Write each (line number, message)'s object as soon as it is mined; close with the alias map of
    written ids."""
    written: set[str] = set()
    for number, message in messages:
        r = miner.add(message)
        written.add(r.pattern_id)
        out.write(f'{{"line": {number}{_tail(r.pattern_id, r.template, r.is_new)}\n')
        out.flush()
    import json

    aliases = {pid: miner.resolve(pid) for pid in sorted(written) if miner.resolve(pid) != pid}
    out.write(json.dumps({"aliases": aliases}) + "\n")
    out.flush()


def _print_summary(miner: TemplateMiner, limit: int) -> None:
    from rich.table import Table
    from rich.text import Text

    from logpipe.cli.common import console

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
