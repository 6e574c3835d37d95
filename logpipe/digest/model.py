"""The digest, built once and rendered per format (Markdown, HTML, Slack, text).

Why one model: a digest is sent to several places at once (an email, a Slack channel, an SNS topic);
building it once means every destination says the same thing, and each renderer only decides how
it looks. Everything in here is already redacted: renderers never see raw log lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from logpipe.text import plural

# How each finding kind is counted in a digest's headline (one word per kind, pluralised by count).
FINDING_LABELS = {"new_pattern": "new pattern", "spike": "spike", "error_spike": "spike",
                  "error_rate": "error-rate breach", "regression": "regression"}
_PLURAL_LABELS = {"error-rate breach": "error-rate breaches"}


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ServiceErrors:
    """Errors of one service in the window and in the previous period of the same length."""

    service: str
    errors: int
    previous: int
    records: int = 0

    @property
    def change(self) -> float | None:
        """Relative change against the previous period; None when it had no errors."""
        if self.previous == 0:
            return None
        return (self.errors - self.previous) / self.previous

    @property
    def change_text(self) -> str:
        if self.previous == 0:
            return "new" if self.errors else "="
        change = self.change or 0.0
        return f"{change:+.0%}"


@dataclass
class DigestFinding:
    kind: str
    severity: str
    title: str
    service: str | None
    pattern_id: str | None
    samples: list[str]
    command: str  # the CLI line that shows its records
    console_url: str | None = None  # the Athena console when the engine is Athena


@dataclass
class TopPattern:
    pattern_id: str
    template: str
    services: list[str]
    count: int
    previous: int
    hourly: list[int]  # counts per hour over the window (the sparkline)
    samples: list[str]
    command: str
    status: str | None = None
    chart_png: bytes | None = field(default=None, repr=False)

    @property
    def content_id(self) -> str:
        """The Content-ID of its chart in a MIME email."""
        return f"spark-{self.pattern_id}@logpipe"


@dataclass
class JobProblem:
    """A scheduled job whose window failed and was not redone yet (from the service's state)."""

    job: str
    window_start: datetime
    attempts: int
    error: str


@dataclass
class DataQualityNote:
    """Bad and misplaced records and damaged objects of the window's hours (from the object verdicts)."""

    counted: bool  # False: the engine does not count them (Athena)
    objects: int = 0
    records: int = 0
    bad: dict[str, int] = field(default_factory=dict)
    misplaced: int = 0
    damaged: list[tuple[str, str, str]] = field(default_factory=list)  # (url, problem, detail)
    unrecognised: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.bad or self.misplaced or self.damaged or self.unrecognised)

    def headline(self) -> str:
        if not self.counted:
            return "bad records are not counted on this engine (Athena's JSON SerDe skips them)"
        if self.clean:
            return f"no bad, misplaced or damaged data ({self.records} records in {self.objects} objects read)"
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.bad.items()))
        parts = [f"{sum(self.bad.values())} bad records" + (f" ({reasons})" if reasons else ""),
                 f"{self.misplaced} misplaced (time outside their partition's hour)"]
        if self.damaged:
            parts.append(f"{len({u for u, _, _ in self.damaged})} damaged objects")
        if self.unrecognised:
            parts.append(f"{len(self.unrecognised)} paths outside the layout")
        return ", ".join(parts) + f"; {self.records} good records in {self.objects} objects"

    def lines(self, limit: int = 10) -> list[str]:
        """One line per damaged object and unrecognised path (at most ``limit`` of each)."""
        out = [f"{url}: {problem} ({detail})" for url, problem, detail in self.damaged[:limit]]
        if len(self.damaged) > limit:
            out.append(f"... and {len(self.damaged) - limit} more damaged objects")
        out += [f"not an object of the layout, skipped: {path}" for path in self.unrecognised[:limit]]
        if len(self.unrecognised) > limit:
            out.append(f"... and {len(self.unrecognised) - limit} more paths")
        return out


@dataclass
class Digest:
    title: str
    window_start: datetime
    window_end: datetime
    generated_at: datetime
    engine: str
    services: list[ServiceErrors]
    findings: list[DigestFinding]
    top_patterns: list[TopPattern]
    job_problems: list[JobProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    console_url: str | None = None
    quality: DataQualityNote | None = None

    @property
    def previous_start(self) -> datetime:
        return self.window_start - (self.window_end - self.window_start)

    @property
    def length(self) -> timedelta:
        return self.window_end - self.window_start

    def length_text(self) -> str:
        hours = int(self.length.total_seconds() // 3600)
        return f"{hours // 24}d" if hours % 24 == 0 and hours >= 24 else f"{hours}h"

    @property
    def total_errors(self) -> int:
        return sum(s.errors for s in self.services)

    @property
    def total_previous(self) -> int:
        return sum(s.previous for s in self.services)

    @property
    def new_patterns(self) -> list[DigestFinding]:
        return [f for f in self.findings if f.kind == "new_pattern"]

    @property
    def spikes(self) -> list[DigestFinding]:
        return [f for f in self.findings if f.kind != "new_pattern"]

    def finding_counts(self) -> list[str]:
        """The findings counted by kind, each with its own word: ``["2 new patterns", "1 error-rate
        breach"]`` (an error-rate warning is not a spike; "1 spikes" reads wrong)."""
        counts: dict[str, int] = {}
        for f in self.findings:
            label = FINDING_LABELS.get(f.kind, f.kind.replace("_", " "))
            counts[label] = counts.get(label, 0) + 1
        order = list(dict.fromkeys(FINDING_LABELS.values()))
        return [plural(n, label, _PLURAL_LABELS.get(label))
                for label, n in sorted(counts.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else 99, kv[0]))]

    def counts_text(self, sep: str = ", ") -> str:
        """The headline after the error total: the findings by kind, or "no findings"."""
        return sep.join(self.finding_counts()) or "no findings"

    def errors_text(self) -> str:
        """``3,223 errors (previous 12h: 1,141)``, the number agreeing with its noun."""
        return f"{plural(self.total_errors, 'error')} (previous {self.length_text()}: {self.total_previous:,})"

    @property
    def key(self) -> str:
        """Identifies the digest of this window (the delivery ledger's key)."""
        return f"{iso(self.window_start)}/{iso(self.window_end)}"

    @property
    def digest_id(self) -> str:
        """A short, stable id of this window's digest, printed in every rendering: a copy that
        arrives twice (at-least-once delivery, see ``deliver``) is recognisable as one digest."""
        import hashlib

        return "d-" + hashlib.sha256(self.key.encode("utf-8")).hexdigest()[:12]

    def subject(self) -> str:
        """A one-line summary for an email subject or an SNS Subject (<= 100 characters)."""
        worst = "critical" if any(f.severity == "critical" for f in self.findings) else (
            "warning" if self.findings else "ok")
        text = f"[logpipe {worst}] {self.title}: {plural(self.total_errors, 'error')}, {self.counts_text()}"
        return text[:100]

    def summary(self) -> dict[str, Any]:
        return {"window_start": iso(self.window_start), "window_end": iso(self.window_end),
                "errors": self.total_errors, "previous_errors": self.total_previous,
                "findings": len(self.findings), "top_patterns": len(self.top_patterns)}
