"""Error rate: a service whose share of ERROR/FATAL records is above a threshold.

Why a minimum number of records: 2 errors in 3 records is 67% and means nothing; the rate is judged
only with ``error_rate_min_records`` records in the window.
"""

from __future__ import annotations

from logpipe.detectors.base import SERVICE_QUERY, DetectionContext, Finding, Severity

KIND = "error_rate"


def detect(ctx: DetectionContext) -> list[Finding]:
    findings = []
    threshold = ctx.config.error_rate_threshold
    for service, (records, errors) in sorted(ctx.service_totals().items()):
        if records < ctx.config.error_rate_min_records or records == 0:
            continue
        rate = errors / records
        if rate <= threshold:
            continue
        severity: Severity = "critical" if rate >= 2 * threshold else "warning"
        findings.append(Finding(
            kind=KIND, severity=severity, service=service, pattern_id=None, template=None,
            title=f"{service}: {rate:.1%} of records are errors ({errors} of {records}, threshold {threshold:.1%})",
            evidence={"count": errors, "records": records, "rate": round(rate, 4), "threshold": threshold},
            samples=[s for item in ctx.activity if item.service == service
                     for s in item.samples][: ctx.samples_per_finding],
            query=SERVICE_QUERY, query_params={"service": service},
            window_start=ctx.start, window_end=ctx.end))
    return findings
