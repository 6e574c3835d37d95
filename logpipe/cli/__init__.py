"""The ``logpipe`` console script: one group (``logpipe.cli.app``), a module per subcommand.

Loaded lazily: ``logpipe patterns mine ...`` (a filter users pipe text through, where start-up is
part of every run) runs its command alone, importing click and the miner only; every other command
line loads the whole group. Both go through the same error edge (``logpipe.cli.guard``).
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    """Entry point (the ``logpipe`` console script). Run as the process's own command line (``argv``
    None), the process ends without interpreter teardown once the command is done
    (``logpipe.cli.quick_exit``)."""
    if argv is not None:
        _dispatch(list(argv))
        return
    from logpipe.cli.quick_exit import quick_exit

    try:
        _dispatch(sys.argv[1:])
    except SystemExit as exc:
        quick_exit(exc.code)
        raise
    quick_exit(0)


def _dispatch(args: list[str]) -> None:
    if args[:2] == ["patterns", "mine"]:
        from logpipe.cli.guard import guarded
        from logpipe.cli.patterns import mine_command

        guarded(lambda: mine_command.main(args=args[2:], prog_name="logpipe patterns mine", standalone_mode=False,
                                          help_option_names=["-h", "--help"], max_content_width=100), debug=False)
        return
    from logpipe.cli.app import main as app_main

    app_main(args)


def __getattr__(name: str) -> object:
    """``cli`` and ``COMMAND_MODULES`` load the whole group on first use."""
    if name in ("cli", "COMMAND_MODULES"):
        from logpipe.cli import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["main"]  # (and, loaded on first use, ``cli`` and ``COMMAND_MODULES`` of logpipe.cli.app)
