"""Shared pieces of the CLI: the context object, consoles, option types."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import click

from logpipe.config_cache import load_or_validate as load_config
from logpipe.queries.window import parse_time, window_from

if TYPE_CHECKING:
    from rich.console import Console

    from logpipe.config import Config


class LazyConsole:
    """A rich ``Console`` made on first use, standing in for it everywhere.

    Why: importing rich costs ~25 ms, a tenth of what ``logpipe query run --format csv > out.csv``
    adds to DuckDB's own process, and such a run, writing to a file or a pipe, has nothing to style:
    it writes its one line of stats with ``say`` and never makes the console."""

    def __init__(self, stderr: bool = False) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def made(self) -> Console:
        """The rich console itself (for rich's own widgets: a Progress, a Status)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.made(), name)

    @property
    def is_terminal(self) -> bool:
        """rich's answer, without importing rich where it would surely be "no" (``plainly_piped``)."""
        if self._console is None and plainly_piped(self._stream()):
            return False
        return self.made().is_terminal

    def _stream(self) -> Any:
        return sys.stderr if self._stderr else sys.stdout


def plainly_piped(stream: Any) -> bool:
    """Whether rich would treat ``stream`` as no terminal (its ``Console.is_terminal``, for a console
    made with no ``force_terminal``: ``TTY_COMPATIBLE=0``; else not ``TTY_COMPATIBLE=1``, and
    ``FORCE_COLOR`` empty or, unset, the stream no tty), so text written to it plainly is what rich
    would write."""
    tty_compatible = os.environ.get("TTY_COMPATIBLE", "")
    if tty_compatible in ("0", "1"):
        return tty_compatible == "0"
    force_color = os.environ.get("FORCE_COLOR")
    if force_color is not None:
        return force_color == ""
    isatty = getattr(stream, "isatty", None)
    try:
        return isatty is None or not isatty()
    except ValueError:  # a closed stream: rich says "no terminal" too
        return True


console = cast("Console", LazyConsole())
err_console = cast("Console", LazyConsole(stderr=True))


def escape(text: str) -> str:
    """rich's ``escape`` (markup in ``text`` shown as written), imported when first needed."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def rich_console(out: Console) -> Console:
    """``out`` itself, or the rich console a ``LazyConsole`` stands for."""
    return out.made() if isinstance(out, LazyConsole) else out


def say(text: str, style: str = "", out: Console | None = None) -> None:
    """One line of plain ``text`` on ``out`` (stderr's console by default), in ``style`` on a terminal;
    written as is, without rich, where rich would not style it anyway (``plainly_piped``)."""
    out = out or err_console
    if isinstance(out, LazyConsole) and not out.is_terminal:
        stream = out._stream()
        stream.write(text + "\n")
        stream.flush()
        return
    out.print(escape(text), style=style or None, highlight=False, soft_wrap=True)


def status(text: str, out: Console | None = None) -> AbstractContextManager[Any]:
    """rich's spinner with ``text`` on a terminal; nothing elsewhere, as rich shows nothing there either,
    and without importing rich (``logpipe run`` from cron or a container never draws one)."""
    out = out or err_console
    if not out.is_terminal:
        return nullcontext()
    return out.status(text)


# A result file's format from its suffix, when --format is not given ("-o out.json" writes JSON).
SUFFIX_FORMATS = {".json": "json", ".jsonl": "json", ".ndjson": "json", ".csv": "csv", ".md": "markdown",
                  ".markdown": "markdown", ".parquet": "parquet", ".pq": "parquet"}


def format_for(fmt: str | None, output: str | None, default: str = "table",
               suffixes: dict[str, str] | None = None) -> str:
    """The output format: ``--format`` when given, else the output file's suffix, else ``default``.

    An output file whose suffix names no format is an error rather than a guess (a file named
    ``out.xlsx`` holding CSV would surprise whoever opens it).
    """
    if fmt is not None:
        return fmt
    if not output:
        return default
    from pathlib import Path

    from logpipe.errors import UsageError

    table = SUFFIX_FORMATS if suffixes is None else suffixes
    suffix = Path(output).suffix.lower()
    if suffix not in table:
        known = ", ".join(sorted(table))
        raise UsageError(f"cannot tell the format of {output} from its suffix {suffix or '(none)'!r}: "
                         f"give --format, or name the file with one of {known}")
    return table[suffix]


@contextmanager
def stage_progress(stages: dict[str, str], out: Console | None = None, every_seconds: float = 5.0
                   ) -> Iterator[Callable[[str, int, int], None]]:
    """``tick(stage, done, total)`` for long work in named stages, on stderr.

    On a terminal: a bar per stage with ``done/total`` (a stage not started yet shows nothing, not
    ``0/None``). Otherwise (output to a file, CI, a container's log): a plain line per stage at most
    every ``every_seconds`` and when it completes, so a log shows the work advancing.
    """
    out = out or err_console
    if out.is_terminal:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[count]}"),
                      TimeElapsedColumn(), console=rich_console(out), transient=True) as progress:
            tasks = {stage: progress.add_task(escape(text), total=None, start=False, count="")
                     for stage, text in stages.items()}

            def bar(stage: str, done: int, total: int) -> None:
                task = tasks[stage]
                progress.start_task(task)
                progress.update(task, completed=done, total=total or None,
                                count=f"{done:,}/{total:,}" if total else f"{done:,}")

            yield bar
        return
    started = time.monotonic()
    said: dict[str, float] = {}
    finished: set[str] = set()

    def line(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        complete = bool(total) and done >= total
        if stage in finished or (not complete and now - said.get(stage, -every_seconds) < every_seconds):
            return
        said[stage] = now
        if complete:
            finished.add(stage)
        count = f"{done:,}/{total:,}" if total else f"{done:,}"
        out.print(f"{stages.get(stage, stage)}: {count}{' done' if complete else ''} ({now - started:.0f} s)",
                  markup=False, highlight=False, soft_wrap=True)

    yield line


# -- shell completion (click's: `eval "$(_LOGPIPE_COMPLETE=bash_source logpipe)"`) ----------------------
# Completers never fail: a missing or broken config or state completes nothing rather than printing
# a traceback into the user's prompt.

def _completion_config(ctx: click.Context) -> Config | None:
    root = ctx.find_root()
    try:
        config = load_config(root.params.get("config_path"))
        if root.params.get("store_root"):
            config.store.root = root.params["store_root"]
        return config
    except Exception:
        return None


def complete_query_name(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Saved-query names (from the listing catalogue: no SQL parsed on a key press)."""
    from click.shell_completion import CompletionItem

    config = _completion_config(ctx)
    if config is None:
        return []
    try:
        from logpipe.queries.catalog import query_catalog

        entries = query_catalog(config)
    except Exception:
        return []
    return [CompletionItem(name, help=entry.description.split(": ")[0][:60])
            for name, entry in sorted(entries.items()) if name.startswith(incomplete)]


def complete_param(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """``NAME=`` for the parameters of the query named on the line so far."""
    from click.shell_completion import CompletionItem

    config = _completion_config(ctx)
    # While an option's value is being completed click leaves the positional NAME unparsed, in args.
    name = ctx.params.get("name") or next((a for a in ctx.args if not a.startswith("-")), None)
    if config is None or not name:
        return []
    try:
        from logpipe.queries.catalog import query_catalog

        entry = query_catalog(config).get(name)
    except Exception:
        return []
    if entry is None:
        return []
    return [CompletionItem(f"{p}=", help=kind + (", required" if required else ""))
            for p, kind, required in entry.params if f"{p}=".startswith(incomplete) or p.startswith(incomplete)]


def complete_pattern_id(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Pattern ids from the pattern store (without creating a state file that is not there)."""
    from click.shell_completion import CompletionItem

    config = _completion_config(ctx)
    if config is None:
        return []
    try:
        from pathlib import Path

        from sqlalchemy.engine import make_url

        url = make_url(config.state.url)
        if url.drivername.startswith("sqlite") and url.database and not Path(url.database).exists():
            return []
        from logpipe.patterns.store import PatternStore

        records = PatternStore.from_config(config).list()
    except Exception:
        return []
    return [CompletionItem(r.pattern_id, help=r.template[:60]) for r in records
            if r.pattern_id.startswith(incomplete)][:200]


def warn_if_no_store(config: Config) -> None:
    """Say so when a local store's folder does not exist: an empty result from a folder that is not
    there (a typo, or logs written elsewhere) must not look like "no errors"."""
    from pathlib import Path

    store = config.store
    if store.is_s3:
        return
    folder = Path(store.root).expanduser() / store.prefix
    if not folder.is_dir():
        err_console.print(f"warning: no logs at {folder} (the folder does not exist): write some with "
                          f"'logpipe simulate', or point --store or [store] root at your logs",
                          highlight=False, markup=False, soft_wrap=True)


def print_json(value: object) -> None:
    """A listing as JSON on stdout (``--format json``): for scripts, so plain ``json.dumps``, no colour."""
    import json

    click.echo(json.dumps(value, indent=2, default=str, ensure_ascii=False))


@dataclass
class AppContext:
    """What every subcommand gets: the config (loaded on first use) and the debug flag."""

    config_path: str | None = None
    debug: bool = False
    store_root: str | None = None  # --store: [store] root for this run
    _config: Config | None = field(default=None, repr=False)

    @property
    def config(self) -> Config:
        if self._config is None:
            config = load_config(self.config_path)
            if self.store_root is not None:
                from logpipe.errors import UsageError

                root = self.store_root.strip()
                if not root or root == "s3://":
                    raise UsageError("--store needs a folder or an s3://bucket URL")
                config.store.root = root
            self._config = config
        return self._config


pass_app = click.make_pass_decorator(AppContext)


__all__ = [
    "SUFFIX_FORMATS",
    "AppContext",
    "complete_param",
    "complete_pattern_id",
    "complete_query_name",
    "console",
    "err_console",
    "escape",
    "format_for",
    "parse_time",
    "pass_app",
    "plainly_piped",
    "print_json",
    "rich_console",
    "say",
    "stage_progress",
    "status",
    "warn_if_no_store",
    "window_from",
]
