"""The ``logpipe`` console script: one group, a module per subcommand.

Errors are caught once, here: a ``LogpipeError`` (or a click usage error) prints one line and exits
non-zero; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import importlib
import sys

import click
from rich.markup import escape

from logpipe import __version__
from logpipe.cli.common import AppContext, err_console
from logpipe.errors import LogpipeError

# Each module defines ``commands``: a list of click commands or groups to add to the top level.
COMMAND_MODULES = [
    "logpipe.cli.config_cmd",
    "logpipe.cli.infra",
    "logpipe.cli.firelens",
    "logpipe.cli.query",
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


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              envvar="LOGPIPE_CONFIG", help="Config file (default: ./logpipe.toml if present, else the embedded default).")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.version_option(__version__, prog_name="logpipe")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, debug: bool) -> None:
    """logpipe: ECS container logs to S3, saved queries, error patterns, metrics and digests."""
    ctx.obj = AppContext(config_path=config_path, debug=debug)
    if debug:
        import logging

        logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(name)s %(levelname)s %(message)s")
        for noisy in ("botocore", "urllib3", "s3transfer", "matplotlib"):
            logging.getLogger(noisy).setLevel(logging.INFO)


for _module in COMMAND_MODULES:
    for _command in importlib.import_module(_module).commands:
        cli.add_command(_command)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning errors into one clear line and an exit code."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="logpipe", standalone_mode=False)
    except click.exceptions.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        if debug:
            raise
        exc.show()
        sys.exit(exc.exit_code)
    except LogpipeError as exc:
        if debug:
            raise
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, markup=True, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # the last resort: still one line, with the way to see more
        if debug:
            raise
        err_console.print(f"[bold red]error:[/] unexpected {type(exc).__name__}: {escape(str(exc))} "
                          "(run with --debug for the traceback)",
                          highlight=False, soft_wrap=True)
        sys.exit(1)


__all__ = ["COMMAND_MODULES", "cli", "main"]
