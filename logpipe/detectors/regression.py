"""Regression: a pattern someone marked resolved is back (typically after a deploy).

Always critical: a person said this was fixed. A learning run reopens the pattern (status ``new``)
so it is reported once, not every window until someone looks.
"""

from __future__ import annotations

from collections import defaultdict

from logpipe.detectors.base import DetectionContext, Finding, PatternActivity

KIND = "regression"


def detect(ctx: DetectionContext) -> list[Finding]:
    by_pattern: dict[str, list[PatternActivity]] = defaultdict(list)
    for item in ctx.activity:
        by_pattern[item.pattern_id].append(item)
    findings = []
    for pattern_id, items in sorted(by_pattern.items()):
        record = ctx.before.get(pattern_id)
        if record is None or record.status != "resolved":
            continue
        for item in items:
            evidence = {"count": item.count, "first_ts": item.first_ts.isoformat()}
            if record.status_changed_at is not None:
                evidence["resolved_at"] = record.status_changed_at.isoformat()
            findings.append(Finding(
                kind=KIND, severity="critical", service=item.service, pattern_id=pattern_id,
                template=item.template,
                title=f"resolved error is back in {item.service}: {item.count} × {item.template[:120]}",
                evidence=evidence, samples=item.samples[: ctx.samples_per_finding],
                **ctx.lines_args(pattern_id, item.service),
                window_start=ctx.start, window_end=ctx.end))
    return findings
