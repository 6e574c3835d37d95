"""The detectors end to end on the embedded default: records in a local store, the saved queries on
real DuckDB, the pattern store on SQLite (and PostgreSQL where it matters)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from support.detectors import DAY0, HOUR, make_config, steady, write_hour

from logpipe.config import Config
from logpipe.detectors.run import detection_points, run_detectors
from logpipe.patterns.store import PatternStore

REPO = Path(__file__).resolve().parents[1]


def fill(config: Config, start: datetime, hours: int) -> None:
    for h in range(hours):
        write_hour(config, start + h * HOUR, steady(user=h * 10))


def test_logs_view_shape_file_is_rendered_from_the_masks() -> None:
    from logpipe.patterns.sql import render_file

    with open(REPO / "logpipe" / "schema_shape.sql", encoding="utf-8", newline="") as file:
        text = file.read()
    assert text == render_file(), "run: python -m logpipe.patterns.sql > logpipe/schema_shape.sql"


def test_error_shapes_mask_in_sql_like_python(tmp_path: Path) -> None:
    from logpipe.patterns.masking import mask
    from logpipe.patterns.miner import TemplateMiner
    from logpipe.queries.runner import run_query

    config = make_config(tmp_path)
    messages = ["user 42 failed login from 10.0.0.7:5000", "disk /var/lib/data/x.db full at 2026-03-01T00:00:01Z",
                'bad value "abc d" for key=ab12 host db1.internal', "plain error without variables"]
    write_hour(config, DAY0, [{"service": "s", "level": "ERROR", "message": m} for m in messages]
               + [{"service": "s", "level": "INFO", "message": "user 43 failed login"}])
    frame = run_query(config, "error_shapes", DAY0, DAY0 + HOUR, redacted=False).frame  # as the detectors read it
    assert sorted(frame["shape"]) == sorted(mask(m) for m in messages)
    # the id is the miner's: a line of a pattern nothing generalised has the id the miner gives it
    assert sorted(frame["pattern_id"]) == sorted(TemplateMiner().add(m).pattern_id for m in messages)
    assert set(frame["example"]) == set(messages)
    assert frame["records"].sum() == len(messages)
    shown = run_query(config, "error_shapes", DAY0, DAY0 + HOUR).frame  # as the CLI and console show it
    assert set(shown["example"]) == {m.replace("10.0.0.7", "<redacted:ip>") for m in messages}


def test_first_run_learns_then_new_pattern_is_flagged(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    fill(config, DAY0, 30)
    first = run_detectors(config, DAY0, DAY0 + 24 * HOUR)
    assert first.learned and first.baseline and first.findings == []
    # steady hours after the baseline: nothing
    quiet = run_detectors(config, DAY0 + 24 * HOUR, DAY0 + 25 * HOUR)
    assert quiet.learned and not quiet.baseline
    assert [f for f in quiet.findings if f.kind == "new_pattern"] == []
    # a new error appears
    write_hour(config, DAY0 + 25 * HOUR, [
        {"service": "checkout", "level": "ERROR",
         "message": f"NullPointerException in PriceCalculator for sku {i} token=secret-{i}"}
        for i in range(4)], seq=1)
    report = run_detectors(config, DAY0 + 25 * HOUR, DAY0 + 26 * HOUR)
    new = [f for f in report.findings if f.kind == "new_pattern"]
    assert len(new) == 1
    finding = new[0]
    assert finding.service == "checkout" and finding.evidence["count"] == 4
    assert "PriceCalculator" in finding.template and "<*>" in finding.template
    assert finding.samples and all("secret-" not in s for s in finding.samples)  # redacted
    assert finding.command().startswith("logpipe query run pattern_lines --param patterns=")
    assert "--param service=checkout --since " in finding.command()
    store = PatternStore(config.state.url)
    assert store.require(finding.pattern_id).status == "new"
    assert all("secret-" not in e.line for e in store.examples(finding.pattern_id))


def test_same_window_twice_does_not_double_count(tmp_path: Path) -> None:
    config = make_config(tmp_path, warmup_hours=0)
    fill(config, DAY0, 2)
    run_detectors(config, DAY0, DAY0 + HOUR)
    store = PatternStore(config.state.url)
    totals = {p.pattern_id: p.total for p in store.list()}
    again = run_detectors(config, DAY0, DAY0 + HOUR)
    assert again.already_processed and not again.learned
    assert {p.pattern_id: p.total for p in store.list()} == totals
    overlapping = run_detectors(config, DAY0 + timedelta(minutes=30), DAY0 + 90 * timedelta(minutes=1))
    assert not overlapping.learned and "overlaps" in " ".join(overlapping.notes)
    assert {p.pattern_id: p.total for p in store.list()} == totals
    dry = run_detectors(config, DAY0 + HOUR, DAY0 + 2 * HOUR, learn=False)
    assert not dry.learned and {p.pattern_id: p.total for p in store.list()} == totals
    assert sum(totals.values()) == 6  # 3 checkout + 3 cart errors in the hour


def test_spike_against_same_hour_on_previous_days(tmp_path: Path) -> None:
    config = make_config(tmp_path, warmup_hours=0)
    # three days, hour 10 each day, 3 gateway timeouts (the baseline); 40 on day 4
    for d in range(3):
        hour = DAY0 + timedelta(days=d, hours=10)
        write_hour(config, hour, steady(user=d))
        run_detectors(config, hour, hour + HOUR)
    hour = DAY0 + timedelta(days=3, hours=10)
    write_hour(config, hour, steady(user=99, n_err=3) + [
        {"service": "checkout", "level": "ERROR", "message": f"payment gateway timeout after {i} ms for order {i}"}
        for i in range(37)], seq=0)
    report = run_detectors(config, hour, hour + HOUR)
    spikes = [f for f in report.findings if f.kind == "spike"]
    assert len(spikes) == 1 and spikes[0].service == "checkout"
    assert spikes[0].evidence["count"] == 40 and spikes[0].evidence["baseline"] == 3.0
    assert spikes[0].evidence["baseline_days"] == 3 and spikes[0].severity == "critical"
    service_spikes = [f for f in report.findings if f.kind == "error_spike"]
    assert [f.service for f in service_spikes] == ["checkout"]  # cart stayed at 3
    # error rate: checkout 40 errors of 60 records
    rates = [f for f in report.findings if f.kind == "error_rate"]
    assert [f.service for f in rates] == ["checkout"] and rates[0].evidence["records"] == 60


def test_small_increase_is_not_a_spike(tmp_path: Path) -> None:
    config = make_config(tmp_path, warmup_hours=0, spike_min_count=20)
    for d in range(2):
        hour = DAY0 + timedelta(days=d, hours=3)
        write_hour(config, hour, steady(n_err=1, user=d))
        run_detectors(config, hour, hour + HOUR)
    hour = DAY0 + timedelta(days=2, hours=3)
    write_hour(config, hour, steady(n_err=3, user=7))  # 1 -> 3: ratio 3 but below the minimum count
    report = run_detectors(config, hour, hour + HOUR)
    assert [f for f in report.findings if f.kind in ("spike", "error_spike")] == []


def test_resolved_pattern_coming_back_is_a_regression(tmp_path: Path) -> None:
    config = make_config(tmp_path, warmup_hours=0)
    write_hour(config, DAY0, steady())
    run_detectors(config, DAY0, DAY0 + HOUR)
    store = PatternStore(config.state.url)
    cart = next(p for p in store.list() if "cache miss" in p.template)
    store.set_status(cart.pattern_id, "resolved")
    write_hour(config, DAY0 + HOUR, [{"service": "cart", "level": "INFO", "message": "ok"}])
    assert run_detectors(config, DAY0 + HOUR, DAY0 + 2 * HOUR).findings == []
    write_hour(config, DAY0 + 2 * HOUR, steady(user=5))
    report = run_detectors(config, DAY0 + 2 * HOUR, DAY0 + 3 * HOUR)
    regressions = [f for f in report.findings if f.kind == "regression"]
    assert [(f.pattern_id, f.severity) for f in regressions] == [(cart.pattern_id, "critical")]
    assert store.require(cart.pattern_id).status == "new"  # reopened, reported once
    # muted patterns are never reported
    store.set_status(cart.pattern_id, "muted")
    write_hour(config, DAY0 + 3 * HOUR, [{"service": "cart", "level": "ERROR",
                                          "message": f"cache miss storm on shard {i} key=user:{i}"} for i in range(50)])
    report = run_detectors(config, DAY0 + 3 * HOUR, DAY0 + 4 * HOUR)
    assert [f for f in report.findings if f.pattern_id == cart.pattern_id] == []


def test_detection_points(tmp_path: Path) -> None:
    config = make_config(tmp_path, warmup_hours=0)
    write_hour(config, DAY0, steady())
    report = run_detectors(config, DAY0, DAY0 + HOUR)
    points = detection_points(report, top_patterns=1)
    # ErrorCount belongs to the errors_by_service query: emitting it here too would double it in CloudWatch
    assert [p for p in points if p["name"] == "ErrorCount"] == []
    assert {p["dimensions"]["service"] for p in points if p["name"] == "NewPatterns"} == {"checkout", "cart"}
    pattern_points = [p for p in points if p["name"] == "PatternCount"]
    assert sum(p["value"] for p in pattern_points) == 6
    assert {p["dimensions"]["pattern_id"] for p in pattern_points} >= {"other"}
    assert all(p["timestamp"] == DAY0 + HOUR for p in points)


def test_a_day_without_the_services_records_is_no_baseline_for_its_errors(tmp_path: Path) -> None:
    """A service's errors are compared with days it logged in those hours: a processed day without
    its records (not deployed yet, no data before a simulation) is not "usual 0 errors"."""
    config = make_config(tmp_path, warmup_hours=0)
    for d in range(2):  # two processed days in which only cart logged (checkout absent)
        hour = DAY0 + timedelta(days=d, hours=10)
        write_hour(config, hour, [r for r in steady(user=d) if r["service"] == "cart"])
        run_detectors(config, hour, hour + HOUR)
    hour = DAY0 + timedelta(days=2, hours=10)
    write_hour(config, hour, steady(user=5) + [
        {"service": "checkout", "level": "ERROR", "message": f"payment gateway timeout after {i} ms"} for i in range(30)])
    report = run_detectors(config, hour, hour + HOUR)
    assert [f for f in report.findings if f.kind == "error_spike" and f.service == "checkout"] == []
