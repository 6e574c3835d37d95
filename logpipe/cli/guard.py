"""The CLI's one error edge: a ``LogpipeError`` or a click usage error prints one line and exits
non-zero; ``--debug`` shows the traceback instead. Shared by the full command group
(``logpipe.cli.app``) and the light path of ``logpipe patterns mine`` (``logpipe.cli``), so both
fail the same way; rich is imported only when there is something to print.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from logpipe.errors import LogpipeError


def _err_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def _state_database_error(exc: BaseException) -> str | None:
    """One line for a failure of the state database, or None for anything else.

    SQLAlchemy's own text is several lines: the driver's message, the whole statement with its
    parameters (which may hold redacted-but-still-private examples) and a "Background on this error"
    link. A user needs the driver's message and where to look.
    """
    sa_exc = sys.modules.get("sqlalchemy.exc")
    if sa_exc is None or not isinstance(exc, sa_exc.SQLAlchemyError):
        return None
    from logpipe.state.db import db_error_text

    return (f"the state database failed: {db_error_text(exc)} (check [state] url or "
            "LOGPIPE_STATE_URL, that its folder exists and is writable, and that no other process holds it; "
            "--debug shows the statement)")


def guarded(run: Callable[[], Any], debug: bool) -> None:
    """Run ``run`` (a click ``main`` with ``standalone_mode=False``), errors as one line and an exit code."""
    try:
        run()
    except click.exceptions.Abort:
        _err_console().print("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        if debug:
            raise
        exc.show()
        sys.exit(exc.exit_code)
    except LogpipeError as exc:
        if debug:
            raise
        from rich.markup import escape

        _err_console().print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, markup=True, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _err_console().print("interrupted")
        sys.exit(130)
    except Exception as exc:  # the last resort: still one line, with the way to see more
        if debug:
            raise
        from rich.markup import escape

        state_error = _state_database_error(exc)
        if state_error is not None:
            _err_console().print(f"[bold red]error:[/] {escape(state_error)}", highlight=False, soft_wrap=True)
            sys.exit(1)
        _err_console().print(f"[bold red]error:[/] unexpected {escape(type(exc).__name__)}: {escape(str(exc))} "
                             "(run with --debug for the traceback)",
                             highlight=False, soft_wrap=True)
        sys.exit(1)


__all__ = ["guarded"]
