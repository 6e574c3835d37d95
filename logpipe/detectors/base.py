"""What detectors produce and what they look at.

A ``Finding`` is the unit the digest, the CLI and the metrics share: what happened (kind, severity,
title), where (service, pattern), why we think so (``evidence``: count, baseline, ratio...), a few
redacted sample lines, and the saved query that shows the lines, so a reader can go from the digest
to the records with one command. Detectors are plain functions over a ``DetectionContext`` built
once per window from the engine's summaries and the pattern store: they never query anything.
"""

from __future__ import annotations

import functools
import shlex
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from statistics import median
from typing import TYPE_CHECKING, Any, Literal

from logpipe.layout import HOUR, hours_in_window
from logpipe.patterns.store import PatternRecord

if TYPE_CHECKING:
    from logpipe.config import DetectorsConfig

Severity = Literal["info", "warning", "critical"]
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}

# Saved queries a finding points to (shipped in queries/): a pattern's lines, a service's top errors.
PATTERN_QUERY = "pattern_lines"
SERVICE_QUERY = "top_error_messages"
MAX_LINE_IDS = 100  # what one list parameter takes (logpipe.queries.params.MAX_LIST)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Finding:
    kind: str  # new_pattern | spike | error_spike | error_rate | regression
    severity: Severity
    service: str | None
    pattern_id: str | None
    template: str | None
    title: str
    evidence: dict[str, Any]
    samples: list[str]
    query: str
    query_params: dict[str, str]
    window_start: datetime
    window_end: datetime

    def command(self) -> str:
        """The CLI line that shows the records behind the finding."""
        parts = ["logpipe", "query", "run", self.query]
        for key, value in self.query_params.items():
            parts += ["--param", f"{key}={value}"]
        parts += ["--since", _iso(self.window_start), "--until", _iso(self.window_end)]
        return shlex.join(parts)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["window_start"] = _iso(self.window_start)
        data["window_end"] = _iso(self.window_end)
        data["command"] = self.command()
        return data


@dataclass
class PatternActivity:
    """One pattern in one service during the window."""

    pattern_id: str
    template: str
    service: str
    count: int
    first_ts: datetime
    last_ts: datetime
    samples: list[str] = field(default_factory=list)  # redacted
    # The logs view's pattern_id of the lines counted here (one per template the pattern took in),
    # most records first: what ``pattern_lines`` filters by to return exactly these lines.
    line_ids: list[str] = field(default_factory=list)


@dataclass
class DetectionContext:
    """Everything the detectors compare: this window against the store's history before it."""

    config: DetectorsConfig
    start: datetime
    end: datetime
    activity: list[PatternActivity]
    # (pattern_id, service, hour) -> count, for the window and for the lookback before it
    counts: dict[tuple[str, str, datetime], int]
    history: dict[tuple[str, str, datetime], int]
    # (service, hour) -> (records, errors), for the window and the lookback
    services: dict[tuple[str, datetime], tuple[int, int]]
    service_history: dict[tuple[str, datetime], tuple[int, int]]
    before: dict[str, PatternRecord]  # the store's patterns as they were before this window
    covered: set[datetime]  # hours of the lookback that earlier runs processed
    warmed_up: bool  # enough history to call anything new
    samples_per_finding: int = 3

    # -- helpers the detectors share ------------------------------------------------------------

    @property
    def lookback_start(self) -> datetime:
        return self.start - timedelta(days=self.config.lookback_days)

    def window_hours(self) -> list[datetime]:
        return hours_in_window(self.start, self.end)

    def seen_in_lookback(self, pattern_id: str) -> bool:
        return pattern_id in self._seen_in_lookback

    @functools.cached_property
    def _seen_in_lookback(self) -> frozenset[str]:
        # (once per context: the new-pattern and spike detectors ask for every pattern of the window,
        # and a scan of the whole history per pattern was most of the detectors' own time)
        return frozenset(pid for (pid, _s, _h), n in self.history.items() if n > 0)

    def baseline_days(self) -> list[list[datetime]]:
        """The same hours of the day on each previous day of the lookback that earlier runs covered."""
        days = []
        hours = self.window_hours()
        for k in range(1, self.config.lookback_days + 1):
            shifted = [h - timedelta(days=k) for h in hours]
            if shifted and all(h in self.covered for h in shifted):
                days.append(shifted)
        return days

    def pattern_baseline(self, pattern_id: str, service: str) -> tuple[float, int] | None:
        """Median count of a pattern in a service over the covered same-hour windows; None if none."""
        days = self.baseline_days()
        record = self.before.get(pattern_id)
        if record is not None:  # days before the pattern existed say nothing about its usual level
            days = [day for day in days if day[0] >= record.first_seen.replace(minute=0, second=0, microsecond=0)]
        if not days:
            return None
        values = [sum(self.history.get((pattern_id, service, h), 0) for h in day) for day in days]
        return float(median(values)), len(days)

    def service_error_baseline(self, service: str) -> tuple[float, int] | None:
        days = self.baseline_days()
        if not days:
            return None
        # A day the service logged nothing in those hours (not deployed yet, the data not there) says
        # nothing of its usual errors: only days with records count, as days never processed do not.
        values = [sum(self.service_history.get((service, h), (0, 0))[1] for h in day) for day in days
                  if sum(self.service_history.get((service, h), (0, 0))[0] for h in day) > 0]
        if not values:
            return None
        return float(median(values)), len(values)

    def service_totals(self) -> dict[str, tuple[int, int]]:
        """(records, errors) per service in the window."""
        totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for (service, _hour), (records, errors) in self.services.items():
            totals[service][0] += records
            totals[service][1] += errors
        return {s: (r, e) for s, (r, e) in totals.items()}

    def lines_query(self, pattern_id: str, service: str) -> tuple[str, dict[str, str]]:
        """The saved query and parameters that return exactly the lines counted for the pattern in
        the service: ``pattern_lines`` with the line ids (the service's top errors without any)."""
        ids: list[str] = []
        for item in self.activity:
            if item.pattern_id == pattern_id and item.service == service:
                ids.extend(i for i in item.line_ids if i not in ids)
        if not ids:
            return SERVICE_QUERY, {"service": service}
        return PATTERN_QUERY, {"patterns": ",".join(ids[:MAX_LINE_IDS]), "service": service}

    def lines_args(self, pattern_id: str, service: str) -> dict[str, Any]:
        """``lines_query`` as a Finding's ``query`` and ``query_params``."""
        query, params = self.lines_query(pattern_id, service)
        return {"query": query, "query_params": params}

    def status(self, pattern_id: str) -> str | None:
        record = self.before.get(pattern_id)
        return record.status if record else None


def sort_findings(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (SEVERITY_ORDER[f.severity], f.kind, f.service or "",
                                           -float(f.evidence.get("count", 0) or 0), f.pattern_id or ""))


__all__ = ["HOUR", "DetectionContext", "Finding", "PatternActivity", "Severity", "sort_findings"]
