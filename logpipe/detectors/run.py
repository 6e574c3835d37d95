"""One detection run over a window: engine summaries in, findings out, the pattern store updated.

The data path (DESIGN "Scale"): the engine returns error *shapes* (masked in SQL, grouped per
service and hour, one raw example each) and record counts per service and hour; Python mines only
the distinct shapes with the ``TemplateMiner`` (whose state lives in the store, so ids are stable
across runs), folds the counts per pattern, and the detectors compare them with the store's history.

Idempotent per window: the store records which windows it has learned from. The same window run
again reports its findings but adds nothing; a window overlapping a learned one is detected but not
learned (its hours would be counted twice). A first run with no history learns a baseline: before
an empty store's first window, the ``warmup_hours`` before it are learned first, and while the
lookback holds fewer than ``warmup_hours`` processed hours nothing is called new.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from logpipe.detectors import error_rate, new_pattern, regression, spike
from logpipe.detectors.base import DetectionContext, Finding, PatternActivity, sort_findings
from logpipe.detectors.history import record_findings
from logpipe.detectors.shapes import ERROR_SHAPES_QUERY, RECORDS_QUERY
from logpipe.layout import floor_hour, hours_in_window, utc
from logpipe.patterns.store import MINER_NAME, PatternStore, PatternUpdate, covered_hours

if TYPE_CHECKING:
    from logpipe.config import Config
    from logpipe.patterns.miner import TemplateMiner

DETECTORS = (new_pattern.detect, regression.detect, spike.detect, error_rate.detect)
MAX_EXAMPLE_CHARS = 4000

# A result row: column -> value (DuckDB's own Python values: int, str, datetime...)
Row = dict[str, Any]
# fetch(query_name, start, end) -> the saved query's result rows
Fetch = Callable[[str, datetime, datetime], list[Row]]


@dataclass
class ServiceActivity:
    records: int
    errors: int


@dataclass
class DetectionReport:
    """What a run found and what it saw; the digest, the CLI and the metrics read this."""

    window_start: datetime
    window_end: datetime
    findings: list[Finding]
    patterns: list[PatternActivity]
    services: dict[str, ServiceActivity]
    learned: bool = False  # the store was updated from this window
    baseline: bool = False  # not enough history yet: learning, nothing called new
    already_processed: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def error_records(self) -> int:
        return sum(s.errors for s in self.services.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "window_start": self.window_start.isoformat(), "window_end": self.window_end.isoformat(),
            "learned": self.learned, "baseline": self.baseline, "already_processed": self.already_processed,
            "notes": list(self.notes),
            "findings": [f.to_dict() for f in self.findings],
            "services": {s: {"records": a.records, "errors": a.errors} for s, a in sorted(self.services.items())},
            "patterns": [{"pattern_id": p.pattern_id, "template": p.template, "service": p.service,
                          "count": p.count, "first_ts": p.first_ts.isoformat(), "last_ts": p.last_ts.isoformat(),
                          "samples": p.samples} for p in self.patterns],
        }


def engine_fetch(config: Config) -> Fetch:
    """Run the detectors' saved queries on the configured engine."""
    from logpipe.queries.runner import run_query

    def fetch(name: str, start: datetime, end: datetime) -> list[Row]:
        # Raw: the miner masks secrets itself (and must see what the engine's shapes saw);
        # everything this module passes on is redacted (samples, service names).
        from logpipe.queries.arrow import result_rows

        # The rows straight from DuckDB's Arrow table: a pandas frame per window (and pandas' import,
        # a third of a second) was most of the detectors' own time in a run cycle.
        return result_rows(run_query(config, name, start, end, {}, redacted=False))

    return fetch


def _ts(value: Any) -> datetime:
    """A UTC datetime from a result's timestamp (a datetime, naive meaning UTC, or ISO text)."""
    if hasattr(value, "to_pydatetime"):  # a pandas Timestamp (Athena's frame)
        value = value.to_pydatetime()
    stamp = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def _service(value: Any) -> str:
    """A service name from a record: shown, stored and a metric dimension, so redacted too."""
    from logpipe.redact import redact

    return redact(str(value))


def _redacted(line: str) -> str:
    from logpipe.redact import redact

    line = redact(line)
    return line if len(line) <= MAX_EXAMPLE_CHARS else line[:MAX_EXAMPLE_CHARS] + " …"


def _miner_state_without_examples(state: dict[str, Any]) -> dict[str, Any]:
    """The miner keeps raw example lines; the store keeps only redacted ones (its own table)."""
    for item in state.get("patterns", []):
        item["examples"] = []
    return state


class KeptMiners:
    """The miner a detection window of this process left, with the state text it stored: the next
    window takes it instead of rebuilding one from that very state.

    Why: a rebuilt miner has lost its caches, so every shape of the next window is masked again, and
    rebuilding is a JSON parse and ``from_state`` (1 ms for a few dozen patterns, ~65 ms for 5,000). A
    run cycle's catch-up processes a day of hourly windows in a row.

    It is the same miner: ids, templates, counts and aliases are what ``from_state`` of the stored text
    gives (the stored state only drops the raw examples, which decide nothing but when the exact fast
    path takes a line; tests/test_kept_miner.py compares both over a day of windows). Taken only while
    the stored text is still the one this process saved (another process or replica that learned a
    window since has changed it), and only by one window at a time: ``take`` hands it over, ``keep``
    puts it back after the window's transaction committed. A window that does not commit (detected but
    not learned, failed, rolled back) keeps nothing, and the next one rebuilds from the store."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: dict[tuple[str, str], tuple[str, TemplateMiner]] = {}

    def take(self, key: tuple[str, str], text: str | None) -> TemplateMiner | None:
        with self._lock:
            kept = self._kept.pop(key, None)
        return kept[1] if kept is not None and text is not None and kept[0] == text else None

    def keep(self, key: tuple[str, str], text: str, miner: TemplateMiner) -> None:
        with self._lock:
            self._kept[key] = (text, miner)

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()


KEPT_MINERS = KeptMiners()


def _store_key(store: PatternStore) -> tuple[str, str]:
    """The pattern store's database (its URL without a password) and the miner's name."""
    return (store.engine.url.render_as_string(hide_password=True), MINER_NAME)


def run_detectors(config: Config, start: datetime, end: datetime, *, learn: bool = True,
                  store: PatternStore | None = None, fetch: Fetch | None = None) -> DetectionReport:
    """Detect over ``[start, end)``; with ``learn`` the store learns from the window (once)."""
    start, end = utc(start), utc(end)
    store = store or PatternStore.from_config(config)
    fetch = fetch or engine_fetch(config)
    notes: list[str] = []
    warmup = timedelta(hours=config.detectors.warmup_hours)
    if learn and warmup and not store.processed_windows():
        # From a whole hour: a window starting at 05:51 has 24 whole hours of history only from 05:00
        # the day before (from 05:51 it would have 23, and never be warmed up on a first run).
        baseline = _process(config, store, floor_hour(start) - warmup, start, learn=True, fetch=fetch,
                            only_if_records=True)
        if baseline.learned:
            notes.append(f"first run: learned a baseline from the {config.detectors.warmup_hours}h before the window "
                         f"({baseline.error_records} error records, {len(baseline.patterns)} pattern rows)")
    report = _process(config, store, start, end, learn=learn, fetch=fetch)
    report.notes[:0] = notes
    return report


def _process(config: Config, store: PatternStore, start: datetime, end: datetime, *, learn: bool, fetch: Fetch,
             only_if_records: bool = False) -> DetectionReport:
    from logpipe.patterns.miner import TemplateMiner

    shapes = fetch(ERROR_SHAPES_QUERY, start, end)
    records = fetch(RECORDS_QUERY, start, end)
    # Each service name redacted once per window: a window's rows name a dozen services a thousand times.
    redacted_services: dict[Any, str] = {}

    def service_of(value: Any) -> str:
        name = redacted_services.get(value)
        if name is None:
            name = redacted_services[value] = _service(value)
        return name

    services: dict[str, ServiceActivity] = {}
    service_rows: dict[tuple[str, datetime], tuple[int, int]] = {}
    for row in records:
        hour = floor_hour(_ts(row["bucket"]))
        service = service_of(row["service"])
        seen_before = service_rows.get((service, hour), (0, 0))  # two names may redact to one
        service_rows[(service, hour)] = (seen_before[0] + int(row["records"]), seen_before[1] + int(row["errors"]))
        seen = services.setdefault(service, ServiceActivity(0, 0))
        seen.records += int(row["records"])
        seen.errors += int(row["errors"])
    total_records = sum(a.records for a in services.values())
    cfg = config.detectors
    lookback_start = start - timedelta(days=cfg.lookback_days)
    samples_wanted = config.digest.samples_per_pattern

    with store.window_session() as w:
        processed = w.processed_windows(start, end)
        already = (start, end) in processed
        write = learn and not processed and not (only_if_records and total_records == 0)
        stored = w.load_miner_state_text()
        key = _store_key(store)
        kept = KEPT_MINERS.take(key, stored)
        if kept is not None:  # the miner that stored this very text (its aliases are the stored ones)
            miner, aliases_before = kept, dict(kept.aliases)
        else:
            state = json.loads(stored) if stored else None
            miner = TemplateMiner.from_state(state) if state else TemplateMiner()
            # (the stored aliases: loading an older state may add some, which the store must learn too)
            aliases_before = dict(state.get("aliases", {})) if state else {}
        saved: str | None = None

        # Mine the distinct shapes (the raw example of each: stack traces need their frames).
        mined = []
        for row in shapes:
            example = "" if row["example"] is None else str(row["example"])
            result = miner.add(example)
            mined.append((result.pattern_id, service_of(row["service"]), floor_hour(_ts(row["bucket"])),
                          int(row["records"]), _ts(row["first_ts"]), _ts(row["last_ts"]), example,
                          row.get("pattern_id")))
        templates = {p.pattern_id: p.template for p in miner.patterns()}

        counts: dict[tuple[str, str, datetime], int] = defaultdict(int)
        spans: dict[tuple[str, str], list[datetime]] = {}
        raw_examples: dict[tuple[str, str], list[str]] = defaultdict(list)
        # the logs view's ids of the lines counted per (pattern, service), with their records
        line_ids: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
        for pid, service, hour, n, first_ts, last_ts, example, line_id in mined:
            pid = miner.resolve(pid)
            counts[(pid, service, hour)] += n
            if line_id is not None:
                per_line_id = line_ids[(pid, service)]
                per_line_id[str(line_id)] = per_line_id.get(str(line_id), 0) + n
            span = spans.setdefault((pid, service), [first_ts, last_ts])
            span[0], span[1] = min(span[0], first_ts), max(span[1], last_ts)
            if example not in raw_examples[(pid, service)] and len(raw_examples[(pid, service)]) < samples_wanted:
                raw_examples[(pid, service)].append(example)
        totals: dict[tuple[str, str], int] = defaultdict(int)  # per (pattern, service), in one pass
        for (pid, service, _hour), n in counts.items():
            totals[(pid, service)] += n
        activity: list[PatternActivity] = []
        for (pid, service), (first_ts, last_ts) in spans.items():
            total = totals[(pid, service)]
            by_records = sorted(line_ids[(pid, service)].items(), key=lambda kv: (-kv[1], kv[0]))
            activity.append(PatternActivity(pid, templates.get(pid, ""), service, total, first_ts, last_ts,
                                            [_redacted(x) for x in raw_examples[(pid, service)]],
                                            [i for i, _ in by_records]))
        activity.sort(key=lambda a: (-a.count, a.service, a.pattern_id))

        # History before the window, with ids merged by this window's mining folded in.
        history: dict[tuple[str, str, datetime], int] = defaultdict(int)
        for (pid, service, hour), n in w.counts(lookback_start, start).items():
            history[(miner.resolve(pid), service, hour)] += n
        ids = {a.pattern_id for a in activity}
        old_ids = {old for old in miner.aliases if miner.resolve(old) in ids}
        before_rows = w.patterns(ids | old_ids)
        before = {pid: rec for pid, rec in before_rows.items() if pid in ids}
        for old in old_ids:
            if old in before_rows and miner.resolve(old) not in before:
                before[miner.resolve(old)] = before_rows[old]
        covered = covered_hours(w.processed_windows(lookback_start, start))
        lookback_hours = set(hours_in_window(lookback_start, start))
        warmed_up = len(covered & lookback_hours) >= cfg.warmup_hours

        ctx = DetectionContext(
            config=cfg, start=start, end=end, activity=activity, counts=dict(counts), history=dict(history),
            services=service_rows, service_history=w.service_counts(lookback_start, start), before=before,
            covered=covered, warmed_up=warmed_up, samples_per_finding=samples_wanted)
        findings = sort_findings([f for detect in DETECTORS for f in detect(ctx)])

        if write:
            new_aliases = {old: miner.resolve(old) for old in miner.aliases
                           if aliases_before.get(old) != miner.aliases[old]}
            w.add_aliases(new_aliases)
            per_pattern: dict[str, list[Any]] = {}
            for a in activity:
                item = per_pattern.setdefault(a.pattern_id, [a.first_ts, a.last_ts, 0])
                item[0], item[1], item[2] = min(item[0], a.first_ts), max(item[1], a.last_ts), item[2] + a.count
            w.upsert_patterns([PatternUpdate(pid, templates.get(pid, ""), f, last, n)
                               for pid, (f, last, n) in per_pattern.items()],
                              status="new" if warmed_up else "known")
            for finding in findings:
                if finding.kind == regression.KIND and finding.pattern_id:
                    w.set_status(finding.pattern_id, "new")  # reopened: reported once
            w.add_counts((p, s, h, n) for (p, s, h), n in counts.items())
            w.add_service_counts((s, h, r, e) for (s, h), (r, e) in service_rows.items())
            w.add_examples_many((a.pattern_id, [(a.service, a.first_ts, line) for line in a.samples]) for a in activity)
            saved = w.save_miner_state(_miner_state_without_examples(miner.to_state()))
            w.mark_window(start, end, sum(counts.values()), len(per_pattern))
            record_findings(w.conn, findings)
    if saved is not None:  # committed: the next window of this process goes on with this miner
        KEPT_MINERS.keep(key, saved, miner)

    notes = []
    if already:
        notes.append(ALREADY_PROCESSED_NOTE)
    elif processed and learn:
        notes.append("this window overlaps windows already processed: detected but not learned "
                     "(its hours would be counted twice)")
    if not warmed_up:
        notes.append(f"learning the baseline: {len(covered & lookback_hours)} of {cfg.warmup_hours} hours of "
                     "history seen, so nothing is called new yet")
    return DetectionReport(window_start=start, window_end=end, findings=findings, patterns=activity,
                           services=services, learned=write, baseline=not warmed_up, already_processed=already,
                           notes=notes)


ALREADY_PROCESSED_NOTE = "this window was already processed: findings shown, nothing counted again"


def detection_points(report: DetectionReport, top_patterns: int = 20) -> list[dict[str, Any]]:
    """Metric points for the metrics sinks: NewPatterns per service, PatternCount for the top N
    patterns per service (the rest summed as ``other``, the cardinality guard).

    ErrorCount is not emitted here: the saved query ``errors_by_service`` owns it, and CloudWatch
    would add two publishers' points for the same timestamp together."""
    from logpipe.metrics import names

    at = report.window_end
    points: list[dict[str, Any]] = []

    def point(name: str, value: float, **dims: str) -> None:
        info = names.KNOWN_BY_NAME[name]
        points.append({"name": name, "value": float(value), "unit": info.unit, "dimensions": dims,
                       "timestamp": at})

    new_by_service: dict[str, int] = defaultdict(int)
    for finding in report.findings:
        if finding.kind == new_pattern.KIND and finding.service:
            new_by_service[finding.service] += 1
    for service in sorted(report.services):
        point(names.NEW_PATTERNS, new_by_service.get(service, 0), **{names.DIM_SERVICE: service})
    totals: dict[str, int] = defaultdict(int)
    for item in report.patterns:
        totals[item.pattern_id] += item.count
    top = {pid for pid, _ in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:top_patterns]}
    per_dims: dict[tuple[str, str], int] = defaultdict(int)
    for item in report.patterns:
        per_dims[(item.service, item.pattern_id if item.pattern_id in top else names.OTHER)] += item.count
    for (service, pid), count in sorted(per_dims.items()):
        point(names.PATTERN_COUNT, count, **{names.DIM_SERVICE: service, names.DIM_PATTERN: pid})
    return points
