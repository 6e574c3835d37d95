"""Shared pieces of the CLI: the context object, consoles, option types."""

from __future__ import annotations

from dataclasses import dataclass, field

import click
from rich.console import Console

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


__all__ = ["SUFFIX_FORMATS", "AppContext", "console", "err_console", "format_for", "parse_time", "pass_app",
           "print_json", "warn_if_no_store", "window_from"]
