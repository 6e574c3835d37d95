"""``logpipe detect`` and ``logpipe patterns list/show/mute/resolve`` through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.detectors import DAY0, HOUR, make_config, steady, write_hour


def _setup(cli_cwd: Path) -> None:
    config = make_config(cli_cwd, warmup_hours=0)
    (cli_cwd / "logpipe.toml").write_text(
        f'[store]\nroot = "{config.store.root}"\ncache_dir = "{config.store.cache_dir}"\n'
        f'[state]\nurl = "{config.state.url}"\n[detectors]\nwarmup_hours = 0\nerror_rate_min_records = 10\n')
    write_hour(config, DAY0, steady())
    write_hour(config, DAY0 + HOUR, steady(user=3) + [
        {"service": "cart", "level": "ERROR", "message": f"inventory service refused reservation {i} password=hunter{i}"}
        for i in range(5)])


def test_detect_json_then_table_and_idempotent(cli) -> None:  # type: ignore[no-untyped-def]
    _setup(cli.cwd)
    first = cli("detect", "--since", "2026-03-01T00:00:00Z", "--until", "2026-03-01T01:00:00Z", "--format", "json")
    assert first.exit_code == 0, first
    assert json.loads(first.stdout)["learned"] is True
    second = cli("detect", "--since", "2026-03-01T01:00:00Z", "--until", "2026-03-01T02:00:00Z", "--format", "json")
    assert second.exit_code == 0, second  # findings are output, not failure
    data = json.loads(second.stdout)
    new = [f for f in data["findings"] if f["kind"] == "new_pattern"]
    assert [f["service"] for f in new] == ["cart"]
    assert "hunter" not in second.stdout  # samples are redacted
    assert new[0]["command"].startswith("logpipe query run pattern_lines --param patterns=")
    assert "--param service=cart" in new[0]["command"]
    again = cli("detect", "--since", "2026-03-01T01:00:00Z", "--until", "2026-03-01T02:00:00Z")
    assert again.exit_code == 0, again
    assert f"{len(data['findings'])} findings" in again.stdout and "already processed" in again.stderr


def test_detect_bad_window_is_a_usage_error(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("detect", "--since", "now", "--until", "2h")
    assert result.exit_code == 2 and "--since" in result.stderr


def test_patterns_list_show_mute_resolve(cli) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("logpipe.cli.patterns", reason="the patterns group (logpipe/cli/patterns.py) is not there yet")
    _setup(cli.cwd)
    assert cli("detect", "--since", "2026-03-01T00:00:00Z", "--until", "2026-03-01T02:00:00Z").exit_code == 0
    listed = cli("patterns", "list", "--service", "cart")
    assert listed.exit_code == 0, listed and "inventory" in listed.stdout
    from logpipe.patterns.store import PatternStore

    store = PatternStore(make_config(cli.cwd).state.url)
    pid = next(p.pattern_id for p in store.list() if "inventory" in p.template)
    shown = cli("patterns", "show", pid)
    assert shown.exit_code == 0, shown
    assert "inventory service refused reservation" in shown.stdout and "hunter" not in shown.stdout
    assert cli("patterns", "mute", pid).exit_code == 0
    assert store.require(pid).status == "muted"
    assert cli("patterns", "resolve", pid).exit_code == 0
    assert [p.pattern_id for p in store.list(status="resolved")] == [pid]
    missing = cli("patterns", "show", "nope")
    assert missing.exit_code == 2 and "patterns list" in missing.stderr


def test_fail_on_findings_for_ci_and_cron(cli) -> None:  # type: ignore[no-untyped-def]
    """Row 18 of issue 18: ``detect`` always exited 0."""
    _setup(cli.cwd)
    quiet = cli("detect", "--since", "2026-02-28T00:00:00Z", "--until", "2026-02-28T01:00:00Z", "--no-learn",
                "--fail-on-findings")
    assert quiet.exit_code == 0, quiet  # an hour without records: no findings
    window = ("--since", "2026-03-01T01:00:00Z", "--until", "2026-03-01T02:00:00Z")
    found = cli("detect", *window, "--format", "json", "--fail-on-findings")
    assert found.exit_code == 3, found
    findings = json.loads(found.stdout)["findings"]
    assert findings and "at or above info: exit 3" in found.stderr
    rank = ["info", "warning", "critical"]
    worst = max((f["severity"] for f in findings), key=rank.index)
    assert cli("detect", *window, "--fail-on-findings", worst).exit_code == 3
    if worst != "critical":
        assert cli("detect", *window, "--fail-on-findings", rank[rank.index(worst) + 1]).exit_code == 0
    table = cli("detect", *window)  # the table at 80 columns: every pattern id on one line, whole
    assert table.exit_code == 0
    for f in findings:
        if f["pattern_id"]:
            assert f["pattern_id"] in table.stdout, table.stdout
    assert max(len(line) for line in table.stdout.splitlines()) <= 80


def test_a_first_run_from_an_unaligned_time_learns_a_whole_baseline(cli) -> None:  # type: ignore[no-untyped-def]
    """``detect --since 1h`` at 05:51 (the README tour): the first run's baseline covers the 24 whole
    hours before the window's hour, so the run is warmed up and can call a pattern new."""
    config = make_config(cli.cwd, warmup_hours=3)
    (cli.cwd / "logpipe.toml").write_text(
        f'[store]\nroot = "{config.store.root}"\ncache_dir = "{config.store.cache_dir}"\n'
        f'[state]\nurl = "{config.state.url}"\n[detectors]\nwarmup_hours = 3\nerror_rate_min_records = 10\n')
    for hour in range(4):
        write_hour(config, DAY0 + hour * HOUR, steady())
    write_hour(config, DAY0 + 4 * HOUR, steady() + [
        {"service": "cart", "level": "ERROR", "message": f"inventory service refused reservation {i}"} for i in range(5)])
    result = cli("detect", "--since", "2026-03-01T04:07:00Z", "--until", "2026-03-01T05:07:00Z", "--format", "json")
    assert result.exit_code == 0, result
    data = json.loads(result.stdout)
    assert not any("learning the baseline" in note for note in data.get("notes", [])), data.get("notes")
    assert [f["service"] for f in data["findings"] if f["kind"] == "new_pattern"] == ["cart"]
