"""Ending the ``logpipe`` process without Python's interpreter teardown, once the command is done.

Why: after a command has written its output, a normal exit still finalises the interpreter: it
tears down every module (a warm ``query run`` has ~700 loaded: pydantic, click, DuckDB's Python
layer, logpipe's own) and collects their objects. Measured on a month of compacted hours that
took ~0.1 s of a ~0.8 s process - as much as DuckDB's own query - paid by every command a user waits
on, and doing nothing a user can see.

What a normal exit does that matters is done first, in the same order:

* the ``atexit`` handlers (logging's flush and close, ``weakref.finalize`` callbacks such as a
  ``TemporaryDirectory``'s removal, coverage's data file);
* standard output and error are flushed; a flush that fails (a reader gone with ``| head``, a full
  disk) falls back to the normal exit, which reports it exactly as before.

Not used when the process is not ours to end: ``main(argv)`` called in-process (the tests, another
program embedding the CLI), a non-daemon thread still running (a normal exit would wait for it;
``concurrent.futures`` workers are such threads), or ``LOGPIPE_NORMAL_EXIT`` set (for a profiler or a
leak checker that reports at interpreter teardown).
"""

from __future__ import annotations

import atexit
import os
import sys
import threading

NORMAL_EXIT_VARIABLE = "LOGPIPE_NORMAL_EXIT"


def exit_status(code: object) -> int:
    """The process status ``sys.exit(code)`` gives (a text code is printed, status 1)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _flushed() -> bool:
    for stream in (sys.stdout, sys.stderr):
        if stream is None:
            continue
        try:
            stream.flush()
        except (OSError, ValueError):
            return False
    return True


def _others_running() -> bool:
    main = threading.main_thread()
    return any(t is not main and t.is_alive() and not t.daemon for t in threading.enumerate())


def quick_exit(code: object) -> None:
    """End the process with ``code`` as ``sys.exit`` would, skipping interpreter teardown; return (and
    let the caller exit normally) where that cannot be done safely (see the module)."""
    if os.environ.get(NORMAL_EXIT_VARIABLE) or _others_running() or not _flushed():
        return
    atexit._run_exitfuncs()
    if not _flushed() or _others_running():  # a handler wrote to a closed pipe, or started a thread
        return
    status = exit_status(code)
    if isinstance(code, str) and not _flushed():
        return
    os._exit(status)


__all__ = ["NORMAL_EXIT_VARIABLE", "exit_status", "quick_exit"]
