"""On ``logpipe simulate`` data, detection windows run in order like the scheduler runs them: the first
window learns the baseline, the error the deploy brings is the one new pattern, steady ones are not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.detectors import make_config

from logpipe.detectors.run import run_detectors
from logpipe.simulate import simulate
from logpipe.store import Store


@pytest.mark.slow  # ~9 s: three simulated days, 9 detection windows on DuckDB
def test_simulated_deploy_error_is_the_only_new_pattern(tmp_path: Path) -> None:
    config = make_config(tmp_path, lookback_days=7, spike_min_count=20, error_rate_min_records=200)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    end = start + timedelta(days=3)
    summary = simulate(Store(config.store), start, end, seed=7, rate=0.15)
    assert start + timedelta(days=1) < summary.deploy_time < end
    first = run_detectors(config, start, start + timedelta(days=1))
    assert first.learned and first.baseline and first.findings == []
    new, window = [], start + timedelta(days=1)
    while window < end:
        report = run_detectors(config, window, window + timedelta(hours=6))
        assert report.learned and not report.baseline
        new += [(window, f) for f in report.findings if f.kind == "new_pattern"]
        window += timedelta(hours=6)
    assert len(new) == 1, [f.title for _, f in new]
    when, finding = new[0]
    assert when <= summary.deploy_time < when + timedelta(hours=6)
    assert finding.service == summary.new_error_service
    assert finding.template.split("<*>")[0].strip() in summary.new_error_message
