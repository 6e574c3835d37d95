"""Digests on simulated data: HTML with a chart per top pattern, Markdown, the Slack Block Kit
validator (and the renderer staying within the limits on a very bad day), the CLI."""

from __future__ import annotations

import email
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from logpipe.config import Config
from logpipe.digest.build import build_digest
from logpipe.digest.model import Digest, DigestFinding, ServiceErrors, TopPattern
from logpipe.digest.render_html import mime_email, render_html
from logpipe.digest.render_md import render_markdown, text_sparkline
from logpipe.digest.render_slack import render_slack, validate_blocks

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _config(tmp_path: Path, **extra: object) -> Config:
    return Config.model_validate({
        "store": {"root": str(tmp_path / "store"), "cache_dir": str(tmp_path / "cache")},
        "state": {"url": f"sqlite:///{tmp_path}/state.db"},
        "detectors": {"warmup_hours": 6}, **extra})


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, Digest]:
    from logpipe.simulate import simulate
    from logpipe.store import Store

    tmp = tmp_path_factory.mktemp("digest")
    config = _config(tmp)
    summary = simulate(Store(config.store), T0, T0 + timedelta(hours=36), seed=7, rate=0.1)
    digest = build_digest(config, T0 + timedelta(hours=12), T0 + timedelta(hours=36))
    digest.notes.append(f"deploy at {summary.deploy_time:%H:%M}")
    return config, digest


def test_digest_content_on_simulated_data(simulated: tuple[Config, Digest]) -> None:
    _, digest = simulated
    assert digest.total_errors > 0 and digest.total_previous > 0
    assert digest.top_patterns and len(digest.top_patterns) <= 10
    assert [p.count for p in digest.top_patterns] == sorted((p.count for p in digest.top_patterns), reverse=True)
    new = digest.new_patterns
    assert any("discount tier is null" in (f.title or "") for f in new)  # the deploy's new error
    for p in digest.top_patterns:
        assert len(p.hourly) == 24 and sum(p.hourly) > 0
        assert p.command.startswith("logpipe query run pattern_lines --param patterns=")
        assert "--since 2026-03-01T12:00:00Z" in p.command
    for f in digest.findings:
        assert "--param service=" in f.command


def test_html_has_a_chart_per_top_pattern_and_only_inline_styles(simulated: tuple[Config, Digest]) -> None:
    _, digest = simulated
    html = render_html(digest)
    assert html.count('src="data:image/png;base64,') == len(digest.top_patterns) >= 1
    assert "<style" not in html and "<script" not in html and 'role="presentation"' in html
    for p in digest.top_patterns:
        assert p.pattern_id in html
    assert "discount tier is null" in html


def test_email_uses_content_id_images(simulated: tuple[Config, Digest]) -> None:
    _, digest = simulated
    raw = mime_email(digest, "digest@example.com", ["oncall@example.com"])
    msg = email.message_from_bytes(raw)
    assert len(msg["Subject"].replace("\n", "")) <= 100  # unfolded
    parts = list(msg.walk())
    html = next(p for p in parts if p.get_content_type() == "text/html").get_payload(decode=True).decode()
    images = [p for p in parts if p.get_content_type() == "image/png"]
    assert "data:image" not in html and len(images) == len(digest.top_patterns)
    for image in images:
        assert f'cid:{image["Content-ID"].strip("<>")}' in html
    assert any(p.get_content_type() == "multipart/related" for p in parts)


def test_markdown(simulated: tuple[Config, Digest]) -> None:
    _, digest = simulated
    text = render_markdown(digest)
    assert "| service | errors | previous period | change |" in text
    assert "## Top error patterns" in text and "logpipe query run pattern_lines --param patterns=" in text
    assert text_sparkline([0, 5, 10]) == "▁▅█"


def test_slack_from_simulated_data_is_valid(simulated: tuple[Config, Digest]) -> None:
    _, digest = simulated
    payload = render_slack(digest)
    assert validate_blocks(payload) == []
    assert payload["blocks"][0]["type"] == "header"


def _huge_digest() -> Digest:
    long = "x" * 5000
    return Digest(
        title="t" * 400, window_start=T0, window_end=T0 + timedelta(days=1), generated_at=T0, engine="duckdb",
        services=[ServiceErrors(f"svc-{i}-" + long, i, i + 1) for i in range(25)],
        findings=[DigestFinding("spike", "critical", long, "svc", f"p{i}", [long], "logpipe query run " + long)
                  for i in range(80)],
        top_patterns=[TopPattern(f"p{i}", long, ["svc"], 10, 5, [1, 2, 3], [long], "cmd") for i in range(30)])


def test_slack_renderer_fits_the_limits_on_a_bad_day() -> None:
    payload = render_slack(_huge_digest())
    assert validate_blocks(payload) == []
    assert len(payload["blocks"]) <= 50
    assert "more findings/patterns" in json.dumps(payload["blocks"][-1])


@pytest.mark.parametrize(("mutate", "problem"), [
    (lambda b: b.extend({"type": "divider"} for _ in range(60)), "the limit is 50"),
    (lambda b: b.__setitem__(0, {"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}), "limit is 150"),
    (lambda b: b.__setitem__(0, {"type": "header", "text": {"type": "mrkdwn", "text": "h"}}), "must be plain_text"),
    (lambda b: b.append({"type": "section", "text": {"type": "mrkdwn", "text": "s" * 3001}}), "limit is 3000"),
    (lambda b: b.append({"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}), "limit is 10"),
    (lambda b: b.append({"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}), "limit is 2000"),
    (lambda b: b.append({"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}), "limit is 10"),
    (lambda b: b.append({"type": "section"}), "needs text or fields"),
    (lambda b: b.append({"type": "fancy"}), "unknown block type"),
    (lambda b: b.append({"type": "section", "text": {"type": "mrkdwn", "text": ""}}), "non-empty"),
])
def test_validator_catches_each_limit(mutate, problem: str) -> None:  # type: ignore[no-untyped-def]
    payload = {"blocks": [{"type": "header", "text": {"type": "plain_text", "text": "ok"}}]}
    assert validate_blocks(payload) == []
    mutate(payload["blocks"])
    problems = validate_blocks(payload)
    assert any(problem in p for p in problems), problems


def test_a_findings_command_returns_exactly_the_lines_of_its_pattern(  # type: ignore[no-untyped-def]
        simulated: tuple[Config, Digest], cli, tmp_path: Path) -> None:
    """Run each pattern finding's and top pattern's command as printed; compare with every ERROR/FATAL
    line of the window that the stored miner (Python masks, learned wildcards) puts in that pattern."""
    import csv
    import io
    import shlex
    from collections import Counter

    from logpipe.patterns.miner import TemplateMiner
    from logpipe.patterns.store import PatternStore
    from logpipe.queries.runner import adhoc_query, run_query
    from logpipe.redact import redact

    config, digest = simulated
    toml = tmp_path / "c.toml"
    toml.write_text(f'[store]\nroot = "{config.store.root}"\ncache_dir = "{config.store.cache_dir}"\n'
                    f'[state]\nurl = "{config.state.url}"\n')

    def rows(argv: list[str]) -> list[dict[str, str]]:
        code, out, err = cli("--config", str(toml), *argv, "--format", "csv")
        assert code == 0, err
        return list(csv.DictReader(io.StringIO(out.decode() if isinstance(out, bytes) else out)))

    with PatternStore.from_config(config).transaction() as w:
        miner = TemplateMiner.from_state(w.load_miner_state())
    # every error line of the window as logged (the CLI shows lines redacted: compared so below)
    raw = run_query(config, adhoc_query("SELECT service, message FROM logs WHERE level IN ('ERROR', 'FATAL')"),
                    datetime(2026, 3, 1, 12, tzinfo=UTC), datetime(2026, 3, 2, 12, tzinfo=UTC), {},
                    redacted=False).frame
    errors = []
    for service, message in zip(raw["service"], raw["message"], strict=True):
        found = miner.match(message)
        errors.append({"service": redact(service), "message": redact(message),
                       "pattern": miner.resolve(found.pattern_id) if found else None})
    checked = merged = 0
    targets = [(f.pattern_id, f.service, f.command) for f in digest.findings if f.pattern_id]
    targets += [(p.pattern_id, p.services[0] if len(p.services) == 1 else None, p.command) for p in digest.top_patterns]
    for pattern_id, service, command in targets:
        argv = shlex.split(command)
        assert argv[:4] == ["logpipe", "query", "run", "pattern_lines"], command
        got = Counter((r["service"], r["message"]) for r in rows(argv[1:]))
        want = Counter((r["service"], r["message"]) for r in errors
                       if r["pattern"] == pattern_id and service in (None, r["service"]))
        assert got == want, (command, sum(got.values()), sum(want.values()))
        assert sum(got.values()) > 0
        checked += 1
        merged += "," in argv[argv.index("--param") + 1]  # several line ids: a learned wildcard's pattern
    assert checked >= 3 and merged >= 1


def test_digest_cli_writes_html_and_slack(simulated: tuple[Config, Digest], cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config, _ = simulated
    toml = tmp_path / "c.toml"
    toml.write_text(f'[store]\nroot = "{config.store.root}"\ncache_dir = "{config.store.cache_dir}"\n'
                    f'[state]\nurl = "{config.state.url}"\n')
    out = tmp_path / "d.html"
    code, _, err = cli("--config", str(toml), "digest", "--since", "2026-03-01T12:00:00Z", "--until",
                       "2026-03-02T12:00:00Z", "--output", str(out))
    assert code == 0, err
    assert out.read_text().count("data:image/png") >= 1
    code, stdout, err = cli("--config", str(toml), "digest", "--since", "2026-03-01T12:00:00Z", "--until",
                            "2026-03-02T12:00:00Z", "--format", "slack")
    assert code == 0, err
    assert validate_blocks(json.loads(stdout)) == []
    code, stdout, err = cli("--config", str(toml), "digest", "--since", "2026-03-01T12:00:00Z", "--until",
                            "2026-03-02T12:00:00Z", "--format", "text")
    assert code == 0 and "errors per service" in stdout
    code, _, err = cli("--config", str(toml), "digest", "--since", "2026-03-01T12:00:00Z", "--until",
                       "2026-03-02T12:00:00Z", "--send")
    assert code != 0 and "no digest destinations" in err


def test_the_digest_job_draws_charts_only_for_a_destination(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """``logpipe run``'s digest job with no destination is the detectors' learning only: no trend chart
    is drawn (matplotlib's import alone is about a second of a cycle); with one, the delivered digest
    carries them."""
    from datetime import timedelta

    from support.detectors import DAY0, HOUR, make_config, steady, write_hour

    import logpipe.digest.build as build
    from logpipe.config import Config
    from logpipe.service.jobs import JobRunner, build_jobs

    drawn: list[int] = []
    real = build.sparkline_png
    monkeypatch.setattr(build, "sparkline_png", lambda hourly: drawn.append(1) or real(hourly))
    base = make_config(tmp_path, warmup_hours=0)
    for hour in range(3):
        write_hour(base, DAY0 + hour * HOUR, steady(user=hour))
    now = DAY0 + timedelta(days=1, hours=1)
    for destinations in ([], [{"kind": "file", "path": str(tmp_path / "out"), "format": "html"}]):
        config = Config.model_validate({**base.model_dump(), "state": {"url": f"sqlite:///{tmp_path}/s{len(destinations)}.db"},
                                        "digest": {"destinations": destinations}})
        (digest,) = [j for j in build_jobs(config) if j.name == "digest"]
        report = JobRunner(config, clock=lambda: now).run(digest, now)
        assert report.windows and all(w.ok for w in report.windows), report
        assert bool(drawn) == bool(destinations), (destinations, len(drawn))


def test_a_run_at_a_pretended_time_dates_its_digest_then(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``logpipe run --now T`` dates its digests T (the job took the clock); a run at the real time dates
    them when they are made."""
    from datetime import timedelta

    from support.detectors import DAY0, HOUR, make_config, steady, write_hour

    from logpipe.service.jobs import JobRunner, build_jobs

    base = make_config(tmp_path, warmup_hours=0)
    for hour in range(3):
        write_hour(base, DAY0 + hour * HOUR, steady(user=hour))
    pretended = DAY0 + timedelta(days=1, hours=1, minutes=7)
    clock = pretended + timedelta(days=40, minutes=13)
    for name, now in (("pretended", pretended), ("clock", None)):
        out = tmp_path / name / "digest.md"
        config = Config.model_validate({**base.model_dump(), "state": {"url": f"sqlite:///{tmp_path}/{name}.db"},
                                        "digest": {"destinations": [{"kind": "file", "path": str(out)}]}})
        (digest,) = [j for j in build_jobs(config) if j.name == "digest"]
        (report,) = JobRunner(config, clock=lambda: clock).run_cycle([digest], now)
        assert report.windows and all(w.ok for w in report.windows), report
        assert f"_generated {(now or clock):%Y-%m-%d %H:%M}Z by logpipe" in out.read_text(encoding="utf-8")
