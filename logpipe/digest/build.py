"""Build the digest of a window: findings from the detectors, errors against the previous period,
the top patterns with their hourly trend, redacted samples and the query that shows each one.

The heavy work stays in the engine (the detectors' summaries, one ``records_by_service`` query for
the previous period); counts per hour come from the pattern store, which the detectors fill.
"""

from __future__ import annotations

import shlex
from collections import defaultdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from logpipe import extras
from logpipe.detectors.base import MAX_LINE_IDS, PATTERN_QUERY, SERVICE_QUERY
from logpipe.digest.model import (
    DataQualityNote,
    Digest,
    DigestFinding,
    JobProblem,
    ServiceErrors,
    TopPattern,
    iso,
)
from logpipe.layout import hours_in_window, utc

if TYPE_CHECKING:
    from logpipe.config import Config

ATHENA_CONSOLE = "https://{region}.console.aws.amazon.com/athena/home?region={region}#/query-editor"


def athena_console_url(config: Config) -> str | None:
    """The Athena query editor, when the engine is Athena (where a reader can run the query)."""
    if config.engine.kind != "athena":
        return None
    return ATHENA_CONSOLE.format(region=config.aws.region)


def pattern_command(service: str | None, start: datetime, end: datetime, line_ids: list[str] | None = None) -> str:
    """The CLI line that shows a top pattern's lines: ``pattern_lines`` with the logs view's ids the
    detectors counted as the pattern (``top_error_messages`` of the service when none are known)."""
    parts = ["logpipe", "query", "run", PATTERN_QUERY if line_ids else SERVICE_QUERY]
    if line_ids:
        parts += ["--param", "patterns=" + ",".join(line_ids[:MAX_LINE_IDS])]
    if service:
        parts += ["--param", f"service={service}"]
    return shlex.join([*parts, "--since", iso(start), "--until", iso(end)])


def _previous_services(config: Config, start: datetime, end: datetime) -> dict[str, tuple[int, int]]:
    from logpipe.queries.arrow import result_rows
    from logpipe.queries.runner import run_query

    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in result_rows(run_query(config, "records_by_service", start, end, {})):
        out[str(row["service"])][0] += int(row["records"])  # (redacted by run_query, as the detectors' names are)
        out[str(row["service"])][1] += int(row["errors"])
    return {s: (r, e) for s, (r, e) in out.items()}


def _job_problems(config: Config, since: datetime) -> list[JobProblem]:
    from logpipe.state.db import open_state
    from logpipe.state.watermarks import WatermarkStore

    store = WatermarkStore(open_state(config.state.url))
    return [JobProblem(w.job, w.start, w.attempts, w.last_error or "") for w in store.failures_since(since)]


def _data_quality(config: Config, start: datetime, end: datetime) -> DataQualityNote:
    from logpipe.state.db import open_state
    from logpipe.store.logs import UNRECOGNISED
    from logpipe.store.verdicts import VerdictStore, quality

    if config.engine.kind != "duckdb":
        return DataQualityNote(counted=False)
    found = quality(VerdictStore(open_state(config.state.url)).in_hours(start, end), UNRECOGNISED.all())
    return DataQualityNote(counted=True, objects=found.objects, records=found.records, bad=dict(found.bad),
                           misplaced=found.misplaced, damaged=[(d.url, d.problem, d.detail) for d in found.damaged],
                           unrecognised=list(found.unrecognised))


def build_digest(config: Config, start: datetime, end: datetime, *, learn: bool = True, charts: bool = True,
                 title: str | None = None, now: datetime | None = None) -> Digest:
    """The digest of ``[start, end)``; ``learn`` lets the detectors learn the window (once)."""
    from logpipe.detectors.run import run_detectors
    from logpipe.patterns.store import PatternStore

    start, end = utc(start), utc(end)
    # without the extra: the digest, without its trend images; not asked when no chart is drawn (asking
    # imports matplotlib, about half a second of a run cycle whose digest has no destination)
    draw_charts = charts and extras.available("charts")
    previous_start = start - (end - start)
    store = PatternStore.from_config(config)
    report = run_detectors(config, start, end, learn=learn, store=store)
    console = athena_console_url(config) or config.digest.console_url

    previous = _previous_services(config, previous_start, start)
    names = sorted(set(report.services) | set(previous))
    services = [ServiceErrors(s, report.services[s].errors if s in report.services else 0,
                              previous.get(s, (0, 0))[1],
                              report.services[s].records if s in report.services else 0) for s in names]
    services = [s for s in services if s.errors or s.previous]
    services.sort(key=lambda s: (-s.errors, -s.previous, s.service))

    findings = [DigestFinding(kind=f.kind, severity=f.severity, title=f.title, service=f.service,
                              pattern_id=f.pattern_id, samples=list(f.samples), command=f.command(),
                              console_url=athena_console_url(config)) for f in report.findings]
    findings += _alert_findings(config, start, end)

    # Top patterns over all services (muted ones left out: someone decided they are noise).
    statuses = {p.pattern_id: p.status for p in store.list()}
    per: dict[str, dict[str, Any]] = {}
    for item in report.patterns:
        entry = per.setdefault(item.pattern_id, {"template": item.template, "count": 0,
                                                 "services": defaultdict(int), "samples": [], "line_ids": []})
        entry["count"] += item.count
        entry["line_ids"].extend(i for i in item.line_ids if i not in entry["line_ids"])
        entry["services"][item.service] += item.count
        for line in item.samples:
            if line not in entry["samples"] and len(entry["samples"]) < config.digest.samples_per_pattern:
                entry["samples"].append(line)
    ranked = sorted(((pid, e) for pid, e in per.items() if statuses.get(pid) != "muted"),
                    key=lambda kv: (-kv[1]["count"], kv[0]))[: config.digest.top_patterns]
    ids = [pid for pid, _ in ranked]
    hours = hours_in_window(start, end)
    window_counts = store.counts(start, end, ids)
    previous_counts = store.counts(previous_start, start, ids)
    top = []
    for pid, entry in ranked:
        hourly = {h: 0 for h in hours}
        for (p, _service, hour), n in window_counts.items():
            if p == pid and hour in hourly:
                hourly[hour] += n
        prev = sum(n for (p, _s, _h), n in previous_counts.items() if p == pid)
        services_sorted = sorted(entry["services"], key=lambda s: (-entry["services"][s], s))
        pattern = TopPattern(pattern_id=pid, template=entry["template"], services=services_sorted,
                             count=entry["count"], previous=prev, hourly=list(hourly.values()),
                             samples=entry["samples"], status=statuses.get(pid),
                             command=pattern_command(services_sorted[0] if len(services_sorted) == 1 else None,
                                                     start, end, entry["line_ids"]))
        if draw_charts:
            pattern.chart_png = sparkline_png(pattern.hourly)
        top.append(pattern)

    # A digest of windows the detect job already learned is the normal case (the scheduler runs detect
    # first): "already processed" speaks to someone re-running 'logpipe detect', not a digest reader.
    from logpipe.detectors.run import ALREADY_PROCESSED_NOTE

    notes = [n for n in report.notes if n != ALREADY_PROCESSED_NOTE]
    if not report.learned and sum(hourly_total for p in top for hourly_total in p.hourly) == 0 and top:
        notes.append("hourly trends are empty: the detectors have not learned this window yet (run 'logpipe detect')")
    hours_long = int((end - start).total_seconds() // 3600)
    return redact_digest(Digest(
        title=title or f"error digest {start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} UTC ({hours_long}h)",
        window_start=start, window_end=end, generated_at=utc(now or datetime.now(UTC)), engine=config.engine.kind,
        services=services, findings=findings, top_patterns=top,
        job_problems=_job_problems(config, previous_start), notes=notes, console_url=console,
        quality=_data_quality(config, start, end)))


def redact_digest(digest: Digest) -> Digest:
    """Every text a log line could have put into the digest, redacted once more.

    Why again: samples are redacted when stored and templates are masked when mined, but a store
    written before a rule existed, a ``[redact] rules`` entry added later, or a service name taken
    from a record must not reach a Slack channel either. Idempotent, so cheap to be sure."""
    from dataclasses import replace

    from logpipe.redact import redact

    def many(texts: list[str]) -> list[str]:
        return [redact(t) for t in texts]

    return replace(
        digest, title=redact(digest.title),
        services=[replace(s, service=redact(s.service)) for s in digest.services],
        findings=[replace(f, title=redact(f.title), service=redact(f.service) if f.service else f.service,
                          samples=many(f.samples), command=redact(f.command)) for f in digest.findings],
        top_patterns=[replace(p, template=redact(p.template), services=many(p.services), samples=many(p.samples),
                              command=redact(p.command)) for p in digest.top_patterns],
        job_problems=[replace(j, error=redact(j.error)) for j in digest.job_problems], notes=many(digest.notes))


def sparkline_png(values: list[int]) -> bytes:
    """A small trend chart (counts per hour); one point is drawn as a flat line."""
    from logpipe.charts import sparkline

    series = [float(v) for v in values] or [0.0]
    if len(series) == 1:
        series = series * 2
    return sparkline(series)


def _alert_findings(config: Config, start: datetime, end: datetime) -> list[DigestFinding]:
    """The saved queries' alerts that fired in windows ending within ``(start, end]`` (kept by the
    service, logpipe.service.alerts): a digest lists them with the detectors' findings."""
    from logpipe.detectors.history import list_findings
    from logpipe.layout import to_ms
    from logpipe.state.db import open_state

    kept = list_findings(open_state(config.state.url), start, end)
    return [DigestFinding(kind="alert", severity=k.severity, title=k.title, service=k.service, pattern_id=None,
                          samples=[], command=str(k.body.get("command", "")))
            for k in sorted(kept, key=lambda k: (k.window_end, k.title))
            if k.kind == "alert" and to_ms(start) < to_ms(k.window_end) <= to_ms(end)]
