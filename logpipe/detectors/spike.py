"""Spikes: a pattern, or a service's errors, far above the same hours on previous days.

Why the same hours on previous days: error volume follows traffic, and traffic follows the time of
day; comparing 10:00 today with 03:00 would alarm every morning. The baseline is the median over the
previous ``lookback_days`` days whose same hours earlier runs processed (days never processed are not
counted as zero). ``spike_min_count`` keeps 1 -> 3 from being an alarm; ``spike_ratio`` is the
factor over the baseline (a zero baseline counts as 1).
"""

from __future__ import annotations

from collections import defaultdict

from logpipe.detectors.base import SERVICE_QUERY, DetectionContext, Finding, Severity

KIND = "spike"
SERVICE_KIND = "error_spike"


def _judge(ctx: DetectionContext, count: int, baseline: float) -> tuple[bool, float]:
    ratio = count / max(baseline, 1.0)
    return count >= ctx.config.spike_min_count and ratio >= ctx.config.spike_ratio, ratio


def _severity(ctx: DetectionContext, ratio: float) -> Severity:
    return "critical" if ratio >= 2 * ctx.config.spike_ratio else "warning"


def detect(ctx: DetectionContext) -> list[Finding]:
    findings: list[Finding] = []
    per_pattern: dict[tuple[str, str], int] = defaultdict(int)
    templates: dict[str, str] = {}
    samples: dict[tuple[str, str], list[str]] = {}
    for item in ctx.activity:
        per_pattern[(item.pattern_id, item.service)] += item.count
        templates[item.pattern_id] = item.template
        samples[(item.pattern_id, item.service)] = item.samples
    for (pattern_id, service), count in sorted(per_pattern.items()):
        if ctx.status(pattern_id) in ("muted", "resolved") or not ctx.seen_in_lookback(pattern_id):
            continue  # new and returning patterns are the other detectors'
        found = ctx.pattern_baseline(pattern_id, service)
        if found is None:
            continue
        baseline, days = found
        spiking, ratio = _judge(ctx, count, baseline)
        if not spiking:
            continue
        findings.append(Finding(
            kind=KIND, severity=_severity(ctx, ratio), service=service, pattern_id=pattern_id,
            template=templates[pattern_id],
            title=f"{service}: {templates[pattern_id][:100]} ×{ratio:.1f} ({count} vs usual {baseline:g})",
            evidence={"count": count, "baseline": baseline, "ratio": round(ratio, 2), "baseline_days": days},
            samples=samples[(pattern_id, service)][: ctx.samples_per_finding],
            **ctx.lines_args(pattern_id, service),
            window_start=ctx.start, window_end=ctx.end))
    for service, (_records, errors) in sorted(ctx.service_totals().items()):
        found = ctx.service_error_baseline(service)
        if found is None:
            continue
        baseline, days = found
        spiking, ratio = _judge(ctx, errors, baseline)
        if not spiking:
            continue
        findings.append(Finding(
            kind=SERVICE_KIND, severity=_severity(ctx, ratio), service=service, pattern_id=None, template=None,
            title=f"{service}: errors ×{ratio:.1f} ({errors} vs usual {baseline:g})",
            evidence={"count": errors, "baseline": baseline, "ratio": round(ratio, 2), "baseline_days": days},
            samples=[s for item in ctx.activity if item.service == service
                     for s in item.samples][: ctx.samples_per_finding],
            query=SERVICE_QUERY, query_params={"service": service},
            window_start=ctx.start, window_end=ctx.end))
    return findings
