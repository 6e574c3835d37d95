"""The ``logpipe`` console script: one group (``logpipe.cli.app``), a module per subcommand."""

from __future__ import annotations

from logpipe.cli.app import COMMAND_MODULES, cli, main

__all__ = ["COMMAND_MODULES", "cli", "main"]
