"""New pattern: an error shape no earlier window of the lookback has seen.

Why "not seen in the lookback" and not "not in the store": a pattern that went away for longer than
the lookback and comes back is news again. Nothing is new while the store is still learning its
baseline (``DetectionContext.warmed_up``): a first run learns instead of flagging everything.
Muted patterns stay quiet; resolved ones are the regression detector's.
"""

from __future__ import annotations

from collections import defaultdict

from logpipe.detectors.base import DetectionContext, Finding, PatternActivity, Severity

KIND = "new_pattern"


def detect(ctx: DetectionContext) -> list[Finding]:
    if not ctx.warmed_up:
        return []
    by_pattern: dict[str, list[PatternActivity]] = defaultdict(list)
    for item in ctx.activity:
        by_pattern[item.pattern_id].append(item)
    findings = []
    for pattern_id, items in by_pattern.items():
        if ctx.status(pattern_id) in ("muted", "resolved") or ctx.seen_in_lookback(pattern_id):
            continue
        before = ctx.before.get(pattern_id)
        for item in items:
            severity: Severity = "critical" if item.count >= ctx.config.spike_min_count else "warning"
            evidence = {"count": item.count, "first_ts": item.first_ts.isoformat(),
                        "lookback_days": ctx.config.lookback_days}
            if before is not None and before.first_seen < ctx.start:
                evidence["last_seen_before"] = before.last_seen.isoformat()
            findings.append(Finding(
                kind=KIND, severity=severity, service=item.service, pattern_id=pattern_id,
                template=item.template,
                title=f"new error pattern in {item.service}: {item.count} × {item.template[:120]}",
                evidence=evidence, samples=item.samples[: ctx.samples_per_finding],
                **ctx.lines_args(pattern_id, item.service),
                window_start=ctx.start, window_end=ctx.end))
    return findings
