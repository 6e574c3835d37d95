"""A service test project: a config file over a tmp folder with the three queries the service jobs need."""

from __future__ import annotations

import shutil
from pathlib import Path

from logpipe.queries.loader import SHIPPED_DIR


def write_service_config(tmp_path: Path, extra: str = "", first_run_backfill: str = "0h") -> Path:
    """Three saved queries (one scheduled) so the jobs are query:errors_by_service, detect and digest
    (the compact job is off here: tests/test_compact.py runs it).

    ``first_run_backfill`` 0h: a first run takes only the latest window (the tests that count windows
    were written for that); the damaged-data tests use the default's 24h."""
    qdir = tmp_path / "queries"
    qdir.mkdir(exist_ok=True)
    for name in ("errors_by_service", "error_shapes", "records_by_service"):
        shutil.copy(SHIPPED_DIR / f"{name}.sql", qdir / f"{name}.sql")
    path = tmp_path / "logpipe.toml"
    path.write_text(f"""
[store]
root = "{tmp_path}/store"
cache_dir = "{tmp_path}/cache"
[state]
url = "sqlite:///{tmp_path}/state.db"
[queries]
dirs = ["{qdir}"]
include_shipped = false
[detectors]
warmup_hours = 1
[service]
window = "1h"
lateness = "10m"
first_run_backfill = "{first_run_backfill}"
[digest]
window = "1h"
schedule = "0 * * * *"
delivery_backoff_seconds = 0.01
[compact]
enabled = false
{extra}
""")
    return path
