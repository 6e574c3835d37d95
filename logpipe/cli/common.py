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


def print_json(value: object) -> None:
    """A listing as JSON on stdout (``--format json``): for scripts, so plain ``json.dumps``, no colour."""
    import json

    click.echo(json.dumps(value, indent=2, default=str, ensure_ascii=False))


@dataclass
class AppContext:
    """What every subcommand gets: the config (loaded on first use) and the debug flag."""

    config_path: str | None = None
    debug: bool = False
    _config: Config | None = field(default=None, repr=False)

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config


pass_app = click.make_pass_decorator(AppContext)


__all__ = ["SUFFIX_FORMATS", "AppContext", "console", "err_console", "format_for", "parse_time", "pass_app",
           "print_json", "window_from"]
