"""Shared pieces of the CLI: the context object, consoles, option types."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import click
from rich.console import Console

from logpipe.config import Config, load_config, parse_duration
from logpipe.errors import UsageError

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


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """A time given as ``now``, a relative duration back from now (``2h``, ``7d``) or ISO 8601."""
    now = now or datetime.now(UTC)
    text = text.strip()
    if text == "now":
        return now
    try:
        return now - timedelta(seconds=parse_duration(text))
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{text!r} is not a time: use 'now', a duration back from now like 2h or 7d, "
            "or ISO 8601 like 2026-11-26T10:00:00Z") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def window_from(since: str, until: str, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The ``[start, end)`` window of ``--since`` / ``--until``, checked for order."""
    now = now or datetime.now(UTC)
    start, end = parse_time(since, now), parse_time(until, now)
    if start >= end:
        raise UsageError(f"--since ({start:%Y-%m-%dT%H:%M:%SZ}) must be before --until ({end:%Y-%m-%dT%H:%M:%SZ})")
    return start, end
