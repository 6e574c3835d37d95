"""Shared pieces of the CLI: the context object, consoles, option types."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from logpipe.config import Config, load_config
from logpipe.queries.window import parse_time, window_from

console = Console()
err_console = Console(stderr=True)


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
                      TimeElapsedColumn(), console=out, transient=True) as progress:
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
    "format_for",
    "parse_time",
    "pass_app",
    "print_json",
    "stage_progress",
    "warn_if_no_store",
    "window_from",
]
