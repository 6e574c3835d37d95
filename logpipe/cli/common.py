"""Shared pieces of the CLI: the context object, consoles, option types."""

from __future__ import annotations

from dataclasses import dataclass, field

import click
from rich.console import Console

from logpipe.config import Config, load_config
from logpipe.queries.window import parse_time, window_from

console = Console()
err_console = Console(stderr=True)


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


__all__ = ["AppContext", "console", "err_console", "parse_time", "pass_app", "window_from"]
