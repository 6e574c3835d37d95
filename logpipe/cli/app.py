"""The ``logpipe`` console script: one group, a module per subcommand.

Errors are caught once, at the edge (``logpipe.cli.guard``): a ``LogpipeError`` (or a click usage
error) prints one line and exits non-zero; ``--debug`` shows the traceback instead.

Subcommand modules are imported only when their command runs (``LazyGroup``): ``logpipe --help`` or
``logpipe query list`` should not pay for pandas, DuckDB, boto3 or the web stack (issue 19: start-up
under 0.3 s). ``COMMANDS`` holds each command's modules and its one-line help for ``--help``; a test
holds the table against the commands themselves.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from logpipe import __version__
from logpipe.cli.common import AppContext
from logpipe.cli.guard import guarded

# Each module defines ``commands``: a list of click commands or groups to add to the top level.
COMMAND_MODULES = [
    "logpipe.cli.config_cmd",
    "logpipe.cli.infra",
    "logpipe.cli.firelens",
    "logpipe.cli.query",
    "logpipe.cli.compact",
    "logpipe.cli.simulate",
    "logpipe.cli.detect",
    "logpipe.cli.demo",
    "logpipe.cli.metrics",
    "logpipe.cli.dashboard",
    "logpipe.cli.patterns",
    "logpipe.cli.patterns_store",
    "logpipe.cli.serve",
    "logpipe.cli.digest",
    "logpipe.cli.ui",
]

# Top-level command -> (the modules that define it and its subcommands, the one-line help of --help).
COMMANDS: dict[str, tuple[tuple[str, ...], str]] = {
    "config": (("logpipe.cli.config_cmd",), "Inspect the configuration."),
    "infra": (("logpipe.cli.infra",),
              "CloudFormation stacks: stateful (bucket, Glue, Athena) and stateless..."),
    "firelens": (("logpipe.cli.firelens",),
                 "The FireLens (Fluent Bit) log router: configs, parsers, Lua filters, task..."),
    "query": (("logpipe.cli.query",), "Saved queries (queries/*.sql): list, show, run, explain; or ad-hoc SQL."),
    "compact": (("logpipe.cli.compact",), "Rewrite closed hours of raw logs as Parquet (columnar hours) for fast queries."),
    "simulate": (("logpipe.cli.simulate",), "Write realistic FireLens records in the storage layout."),
    "detect": (("logpipe.cli.detect",),
               "Run the error-pattern detectors over a window and print the findings (exit 0..."),
    "demo": (("logpipe.cli.demo",), "Run the whole product locally on a simulated day of logs."),
    "metrics": (("logpipe.cli.metrics",), "Derived metrics: cost estimate, publish queue status, flush."),
    "dashboard": (("logpipe.cli.dashboard",),
                  "CloudWatch dashboard and alarms from the metric definitions; locally, an HTML..."),
    "patterns": (("logpipe.cli.patterns", "logpipe.cli.patterns_store"),
                 "Error patterns: mine templates from text, and the patterns the detectors..."),
    "serve": (("logpipe.cli.serve",), "Run the scheduled jobs and serve /healthz, /status, the API and the console..."),
    "run": (("logpipe.cli.serve",), "Run every due window of every scheduled job once, then exit (non-zero if any..."),
    "digest": (("logpipe.cli.digest",),
               "Build the error digest of a window: errors per service against the previous..."),
    "ui": (("logpipe.cli.ui",), "Open the web console (saved queries, patterns, digests, dashboards) on this..."),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported when one is asked for (see the module docstring)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            for module in COMMANDS[cmd_name][0]:
                for command in importlib.import_module(module).commands:
                    self.commands.setdefault(command.name or "", command)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from the table: ``--help`` imports no subcommand module."""
        rows = [(name, COMMANDS[name][1] if name in COMMANDS and name not in self.commands
                 else self.commands[name].get_short_help_str(limit=80))
                for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def load_all(self) -> None:
        """Import every subcommand (the web console and tests walk the whole tree)."""
        for name in COMMANDS:
            self.get_command(click.Context(self), name)


def _group(**kwargs: Any) -> Any:
    return click.group(cls=LazyGroup, **kwargs)


@_group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              envvar="LOGPIPE_CONFIG", help="Config file (default: ./logpipe.toml if present, else the embedded default).")
@click.option("--store", "store_root", metavar="DIR|s3://BUCKET", default=None,
              help="Where the logs are, for this run: overrides [store] root (same as LOGPIPE_STORE_ROOT).")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.version_option(__version__, prog_name="logpipe")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, store_root: str | None, debug: bool) -> None:
    """logpipe: ECS container logs to S3, saved queries, error patterns, metrics and digests."""
    ctx.obj = AppContext(config_path=config_path, debug=debug, store_root=store_root)
    if debug:
        import logging

        logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(name)s %(levelname)s %(message)s")
        for noisy in ("botocore", "urllib3", "s3transfer", "matplotlib"):
            logging.getLogger(noisy).setLevel(logging.INFO)



def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning errors into one clear line and an exit code (``logpipe.cli.guard``)."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    guarded(lambda: cli.main(args=argv, prog_name="logpipe", standalone_mode=False), debug)


__all__ = ["COMMANDS", "COMMAND_MODULES", "LazyGroup", "cli", "main"]
