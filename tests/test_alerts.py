"""Alerts in saved queries on the embedded default: ``for`` windows in a row per series, one firing
(a finding for the digest and an immediate delivery) per run of breaching windows, re-armed by a
window that does not breach, nothing twice when windows are run again."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from logpipe.config import load_config
from logpipe.errors import UsageError
from logpipe.queries.loader import SHIPPED_DIR
from logpipe.store import Store, gzip_lines

T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
H = timedelta(hours=1)
QUERY = """-- name: checkout_errors
-- description: ERROR records per service and hour.
-- schedule: 0 * * * *
-- window: 1h
-- metric CheckoutErrors: column=errors, unit=Count, dimensions=service
-- alert too_many: column=errors, op=>=, threshold=3, for=2, severity=critical, destinations=oncall
SELECT service, count(*) AS errors
FROM logs
WHERE dt BETWEEN :dt_start AND :dt_end
  AND concat(dt, hour) BETWEEN :dthour_start AND :dthour_end
  AND ts >= :window_start AND ts < :window_end
  AND level = 'ERROR'
GROUP BY service
"""
# ERROR records of api per hour: two breaching hours, one quiet, two breaching again; web never breaches.
API_ERRORS = [5, 4, 1, 3, 6]


def _project(tmp_path: Path, destinations: str = "oncall") -> Path:
    qdir = tmp_path / "queries"
    qdir.mkdir()
    for name in ("error_shapes", "records_by_service"):  # what the digest reads
        shutil.copy(SHIPPED_DIR / f"{name}.sql", qdir / f"{name}.sql")
    (qdir / "checkout_errors.sql").write_text(QUERY.replace("destinations=oncall", f"destinations={destinations}"))
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
[service]
lateness = "0s"
first_run_backfill = "5h"
[[digest.destinations]]
kind = "file"
name = "oncall"
path = "{tmp_path}/alerts/"
""")
    config = load_config(path, environ={})
    store = Store(config.store)
    for hour, errors in enumerate(API_ERRORS):
        at = T0 + hour * H
        lines = [json.dumps({"time": (at + timedelta(minutes=i + 1)).strftime("%Y-%m-%dT%H:%M:%SZ"), "service": s,
                             "level": "ERROR", "message": f"boom {i}"}).encode()
                 for s, n in (("api", errors), ("web", 1)) for i in range(n)]
        store.write_object(store.layout.object_key(at), gzip_lines(lines))
    return path


def test_alert_fires_after_for_windows_once_per_run_and_reaches_digest_and_destination(tmp_path: Path) -> None:
    from logpipe.detectors.history import list_findings
    from logpipe.digest.build import build_digest
    from logpipe.service.jobs import JobRunner, build_jobs

    config = load_config(_project(tmp_path), environ={})
    job = next(j for j in build_jobs(config) if j.name == "query:checkout_errors")
    runner = JobRunner(config)
    report = runner.run(job, now=T0 + 5 * H)
    assert [w.ok for w in report.windows] == [True] * 5 and not report.flush_errors
    fired = [k for k in list_findings(runner.engine) if k.kind == "alert"]
    # api: 5, 4 -> fires at the end of hour 2; 1 re-arms; 3, 6 -> fires again at the end of hour 5.
    assert sorted(k.window_end for k in fired) == [T0 + 2 * H, T0 + 5 * H]
    assert all(k.service == "api" and k.severity == "critical" for k in fired)
    assert "errors >= 3 for 2 window(s) (value 4, service=api)" in min(fired, key=lambda k: k.window_end).title
    # Delivered at once, to the named destination (the digest outbox is the ledger).
    files = sorted((tmp_path / "alerts").iterdir())
    assert len(files) == 2 and all("checkout_errors/too_many" in f.read_text() for f in files)
    # And listed in the digest of the period.
    digest = build_digest(config, T0, T0 + 5 * H, learn=False, charts=False)
    assert [f.kind for f in digest.findings].count("alert") == 2
    # Running the same windows again counts nothing twice and sends nothing again.
    runner.watermarks.engine.dispose()
    again = JobRunner(config).run(job, now=T0 + 5 * H)
    assert not again.windows
    assert len([k for k in list_findings(runner.engine) if k.kind == "alert"]) == 2
    assert len(list((tmp_path / "alerts").iterdir())) == 2


def test_alert_naming_an_unknown_destination_is_an_error_at_start(tmp_path: Path) -> None:
    from logpipe.service.jobs import build_jobs

    config = load_config(_project(tmp_path, destinations="pager"), environ={})
    with pytest.raises(UsageError, match="destinations pager are not"):
        build_jobs(config)
