"""``python tests/support/paused_logpipe.py ARGS``: the ``logpipe`` CLI, pausing after each window's work.

The pause sits where a crash is most telling: the window's work is done (a query ran, the detectors
learned the window) and nothing is queued yet, nor has the watermark moved. A test kills the process
there (SIGKILL) or stops it (SIGTERM) and checks that nothing is lost or counted twice. The seconds
come from ``LOGPIPE_TEST_PAUSE_AFTER_WORK``; production code has no hook for it.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import datetime
from typing import Any

from logpipe.cli import main
from logpipe.service.jobs import JobRunner, JobSpec

PAUSE_ENV = "LOGPIPE_TEST_PAUSE_AFTER_WORK"
_work = JobRunner._work


def _paused_work(self: JobRunner, job: JobSpec, start: datetime, end: datetime,
                 pretended: datetime | None = None) -> Any:
    done = _work(self, job, start, end, pretended)
    seconds = float(os.environ[PAUSE_ENV])
    print(f"logpipe: pausing {seconds:g}s after the window's work ({PAUSE_ENV})", file=sys.stderr, flush=True)
    time.sleep(seconds)
    return done


if __name__ == "__main__":
    JobRunner._work = _paused_work  # type: ignore[method-assign]
    main(sys.argv[1:])
