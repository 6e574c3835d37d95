"""One small demo (a simulated day, every query, detection, the digest delivered) shared by the web
tests of a run: built once under a lock, whichever pytest-xdist worker gets there first."""

from __future__ import annotations

import fcntl
from datetime import UTC, datetime
from pathlib import Path

DEMO_END = datetime(2026, 11, 20, 12, tzinfo=UTC)


def run_root(basetemp: Path) -> Path:
    """This test run's own temporary root, shared by its pytest-xdist workers (``.../pytest-N``), never
    the folder above it (which other runs on the machine share)."""
    return basetemp.parent if basetemp.name.startswith("popen-gw") else basetemp


def shared_demo(basetemp: Path) -> Path:
    """The demo folder of this run (made on first use by whichever worker gets there first)."""
    base = run_root(basetemp)
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
