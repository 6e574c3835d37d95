"""One small demo (a simulated day, every query, detection, the digest delivered) shared by the web
tests of a run: built once under a lock, whichever pytest-xdist worker gets there first."""

from __future__ import annotations

import fcntl
from datetime import UTC, datetime
from pathlib import Path

DEMO_END = datetime(2026, 11, 20, 12, tzinfo=UTC)


def shared_demo(base: Path) -> Path:
    """The demo folder under ``base`` (a folder all workers share), made on first use."""
    folder = base / "web-demo"
    base.mkdir(parents=True, exist_ok=True)
    with open(base / "web-demo.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "done").exists():
            from logpipe.config import Config
            from logpipe.demo import run_demo

            run_demo(Config(), folder, end=DEMO_END, seed=7, rate=0.25)
            (folder / "done").write_text("ok")
    return folder
