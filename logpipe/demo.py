"""``logpipe demo``: the product's main job, end to end, on one machine with no AWS account.

It does what the service does on ECS, in one go and in a folder of its own: simulate a day of
FireLens records into a local store laid out like the bucket, run every saved query on DuckDB, run
the detectors window by window the way the scheduler would (the first windows learn the baseline),
publish the derived metrics to the local sink, then print the digest and write an HTML report.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from logpipe.config import Config
from logpipe.detectors.base import Finding
from logpipe.detectors.run import DetectionReport
from logpipe.digest.model import Digest
from logpipe.errors import UsageError
from logpipe.layout import floor_hour
from logpipe.queries.model import QueryResult, SavedQuery
from logpipe.simulate import SimulationSummary

if TYPE_CHECKING:
    from logpipe.sinks.publisher import Publisher

DEMO_HOURS = 24
# Detection: the first half of the day is learned as the baseline, the second half is the digest's
# window (and the first half its "previous period").
LEARN_HOURS = 12


@dataclass
class DemoRun:
    """Everything the demo produced, for the terminal digest and the HTML report."""

    folder: Path
    start: datetime
    end: datetime
    config: Config
    simulation: SimulationSummary
    results: dict[str, QueryResult] = field(default_factory=dict)  # query name -> its result
    skipped: dict[str, str] = field(default_factory=dict)  # query name -> why
    detections: list[DetectionReport] = field(default_factory=list)  # one per window
    points_published: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    report_path: Path | None = None
    digest: Digest | None = None  # the digest of the detection window
    digest_paths: list[Path] = field(default_factory=list)
    config_path: Path | None = None  # the demo folder's logpipe.toml
    # The engine's count of lines it could not read over the day, by reason: from a query that read
    # the whole day in one window (an hourly replay also reads each next hour's partition, for late
    # records, so adding up its windows would count those partitions' bad lines twice).
    bad_lines: dict[str, int] = field(default_factory=dict)

    @property
    def findings(self) -> list[Finding]:
        return [f for report in self.detections for f in report.findings]


DIGEST_FILES = (("digest.html", "html"), ("digest.md", "md"), ("digest-slack.json", "slack"))
# The scheduled queries behind the dashboard's and the alarms' metrics (ErrorCount, Http5xxRate,
# LatencyP95, LogRecords) are replayed hour by hour, as the scheduler runs them: their metrics become
# a time series of 24 points per service, so the local dashboard and the report draw curves, and every
# window's result is kept for the console. The other queries run once over the day (each run costs a
# DuckDB connection; replaying all of them would double the demo's time for charts nobody looks at).
HOURLY_REPLAY = ("errors_by_service", "http_status_latency", "log_volume")
# Detection after the learned half: in windows of this many hours (each window one point per series).
DETECT_STEP_HOURS = 3
CONFIG_FILE = "logpipe.toml"


def hourly_replay(query: SavedQuery) -> bool:
    """Whether the demo runs ``query`` hour by hour (one of HOURLY_REPLAY, and scheduled)."""
    return query.name in HOURLY_REPLAY and bool(query.schedule)


def write_demo_config(config: Config, folder: Path) -> Path:
    """``logpipe.toml`` in the demo folder: every command can look at the demo's data and state with
    ``logpipe --config FOLDER/logpipe.toml ...`` (absolute paths: it works from any folder)."""
    root = Path(config.store.root).resolve()
    state = (folder / "state.db").resolve()
    text = (
        "# Written by 'logpipe demo': the demo's store, state and local metrics, for any command:\n"
        f"#   logpipe --config {folder / CONFIG_FILE} dashboard render --local\n"
        "# (only the demo's own settings; the rest are the defaults)\n\n"
        f"[store]\nroot = {_toml_string(root.as_posix())}\n"
        f"cache_dir = {_toml_string(Path(config.store.cache_dir).resolve().as_posix())}\n"
        "service_partition = false\n\n"
        '[engine]\nkind = "duckdb"\n\n'
        f"[state]\nurl = {_toml_string('sqlite:///' + state.as_posix())}\n\n"
        '[metrics]\nsinks = ["local"]\n\n'
        f"[detectors]\nwarmup_hours = {config.detectors.warmup_hours}\n")
    path = folder / CONFIG_FILE
    path.write_text(text, encoding="utf-8")
    return path


def _toml_string(value: str) -> str:
    import json

    return json.dumps(value)  # a JSON string is a valid TOML basic string


def write_digest_files(config: Config, digest: Digest, folder: Path) -> list[Path]:
    """Deliver the digest to three file destinations (HTML as mailed, Markdown, Slack Block Kit JSON)
    through the delivery outbox, as the service does: the console lists it as sent."""
    from logpipe.config import DestinationConfig
    from logpipe.digest.deliver import deliver_now
    from logpipe.errors import DeliveryError

    destinations = [DestinationConfig(kind="file", name=f"demo-{fmt}", path=str(folder / name),
                                      format=fmt)  # type: ignore[arg-type]
                    for name, fmt in DIGEST_FILES]
    report = deliver_now(config, digest, destinations, job="demo:digest")
    if report.failed:
        raise DeliveryError("; ".join(report.failed.values()))
    return [folder / name for name, _ in DIGEST_FILES]


def demo_config(base: Config, folder: Path) -> Config:
    """The user's config pointed at the demo folder: local store, DuckDB, SQLite, local metrics."""
    config = base.model_copy(deep=True)
    config.store.root = str(folder / "data")
    config.store.cache_dir = str(folder / "cache")
    config.store.service_partition = False
    config.engine.kind = "duckdb"
    config.state.url = f"sqlite:///{(folder / 'state.db').as_posix()}"
    config.metrics.sinks = ["local"]
    config.detectors.warmup_hours = LEARN_HOURS
    return config


def prepare_folder(folder: Path) -> None:
    """A fresh demo folder: what an earlier demo left is removed, anything else is refused."""
    if folder.exists():
        ours = {"data", "cache", "state.db", "state.db-wal", "state.db-shm", "report.html", "digest.html",
                "digest.md", "digest-slack.json", CONFIG_FILE}
        strangers = [p.name for p in folder.iterdir() if p.name not in ours]
        if strangers:
            raise UsageError(f"{folder} exists and holds files the demo did not write ({', '.join(sorted(strangers)[:5])}); "
                             "choose another --dir")
        for name in ours:
            path = folder / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    folder.mkdir(parents=True, exist_ok=True)


def _step(run: DemoRun, name: str, began: float) -> None:
    run.timings[name] = time.perf_counter() - began


def _params_for(query: SavedQuery, run: DemoRun) -> dict[str, Any] | None:
    """Values for required parameters without defaults, taken from the simulated data; None to skip."""
    params: dict[str, Any] = {}
    for param in query.params:
        if not param.required or param.default is not None:
            continue
        if param.name in ("trace_id", "id", "request_id"):
            trace = _a_failed_trace(run)
            if trace is None:
                return None
            params[param.name] = trace
        else:
            return None
    return params


def _a_failed_trace(run: DemoRun) -> str | None:
    """A trace id of a request that failed, so the demo can show ``trace_lines`` on something real."""
    from logpipe.queries.runner import run_sql

    sql = ("SELECT trace_id, count(*) AS n FROM logs WHERE level IN ('ERROR', 'FATAL') AND trace_id IS NOT NULL "
           "AND dt BETWEEN :dt_start AND :dt_end GROUP BY trace_id ORDER BY n DESC, trace_id LIMIT 1")
    result = run_sql(run.config, sql, run.start, run.end)
    if result.frame.empty:
        return None
    return str(result.frame.iloc[0]["trace_id"])


def _joined(parts: list[QueryResult], start: datetime, end: datetime) -> QueryResult:
    """One result of consecutive windows' results (their rows in order, their costs added up)."""
    import pandas as pd

    from logpipe.engines.base import QueryStats

    if len(parts) == 1:
        return parts[0]
    frames = [p.frame for p in parts if not p.frame.empty]
    frame = pd.concat(frames, ignore_index=True) if frames else parts[0].frame
    stats = QueryStats(engine=parts[0].stats.engine, bytes_scanned=sum(p.stats.bytes_scanned for p in parts),
                       engine_ms=sum(p.stats.engine_ms for p in parts),
                       files_scanned=sum(p.stats.files_scanned for p in parts))
    for p in parts:
        for reason, n in p.stats.bad_records.items():
            stats.bad_records[reason] = stats.bad_records.get(reason, 0) + n
    return QueryResult(query=parts[0].query, frame=frame, window_start=start, window_end=end,
                       params=parts[0].params, stats=stats)


@contextmanager
def cycle_caches(config: Config) -> Iterator[None]:
    """The service cycle's memory for the demo's queries and detectors: raw objects read once
    (``[engine] cycle_cache_mb``) and each window listed once (``logpipe.engines.object_cache``)."""
    from logpipe.engines.object_cache import ListingMemo, ObjectCache, sharing_listings, using

    megabytes = config.engine.cycle_cache_mb
    cache = ObjectCache(megabytes * 1024 * 1024) if megabytes and config.engine.kind == "duckdb" else None
    with using(cache), sharing_listings(ListingMemo()):
        yield


def _detect_and_digest(run: DemoRun, publisher: Publisher, tick: Callable[[str, int, int], None]) -> None:
    """The detectors window by window, their points published, then the digest of the second half."""
    from logpipe.detectors.run import detection_points, run_detectors
    from logpipe.digest.build import build_digest
    from logpipe.metrics.model import DataPoint

    config, start, end = run.config, run.start, run.end
    middle = start + timedelta(hours=LEARN_HOURS)
    # The first LEARN_HOURS are learned as the baseline in one window (the warm-up); the rest in
    # DETECT_STEP_HOURS windows, as a scheduled detect job would: each window's points make the
    # NewPatterns and PatternCount series.
    windows = [(start, middle)] + [(middle + timedelta(hours=h), middle + timedelta(hours=h + DETECT_STEP_HOURS))
                                   for h in range(0, DEMO_HOURS - LEARN_HOURS, DETECT_STEP_HOURS)]
    steps = len(windows) + 1
    for i, (window_start, window_end) in enumerate(windows):
        tick("detect", i, steps)
        report = run_detectors(config, window_start, window_end, learn=True)
        run.detections.append(report)
        if window_start >= middle:
            points = [DataPoint(**p) for p in detection_points(report, config.metrics.top_patterns)]
            if points:
                publisher.enqueue("detect", window_start, window_end, points)
                run.points_published += len(points)
    publisher.flush()
    tick("detect", len(windows), steps)
    # The digest of the second half, as the scheduled service would send it (already learned above).
    run.digest = build_digest(config, middle, end, learn=False)
    run.digest_paths = write_digest_files(config, run.digest, run.folder)
    run.config_path = write_demo_config(config, run.folder)
    tick("detect", steps, steps)


def run_demo(base: Config, folder: Path, *, end: datetime | None = None, seed: int = 42, rate: float = 1.0,
             progress: Callable[[str, int, int], None] | None = None) -> DemoRun:
    """Simulate, query, detect, publish and report; returns what happened (the CLI prints it)."""
    from logpipe.metrics.model import points_from_result
    from logpipe.queries.loader import load_queries
    from logpipe.queries.runner import athena_only, run_query
    from logpipe.queries.stored import ResultStore
    from logpipe.report.html import write_report
    from logpipe.simulate import simulate
    from logpipe.sinks.publisher import Publisher
    from logpipe.state.db import open_state
    from logpipe.store import Store

    def tick(stage: str, done: int, total: int) -> None:
        if progress is not None:
            progress(stage, done, total)

    prepare_folder(folder)
    config = demo_config(base, folder)
    end = floor_hour(end if end is not None else datetime.now(UTC))
    start = end - timedelta(hours=DEMO_HOURS)

    began = time.perf_counter()
    simulation = simulate(Store(config.store), start, end, seed=seed, rate=rate,
                          progress=lambda done, total: tick("simulate", done, total))
    run = DemoRun(folder=folder, start=start, end=end, config=config, simulation=simulation)
    _step(run, "simulate", began)

    began = time.perf_counter()
    queries = load_queries(config)
    publisher = Publisher.from_config(config)
    kept = ResultStore(open_state(config.state.url), config.web.result_retention_days, config.web.result_rows_kept,
                       config.web.result_max_per_job)
    # Which windows each query runs over: the replayed ones hour by hour, the rest once over the day.
    planned: list[tuple[str, SavedQuery, dict[str, Any], list[tuple[datetime, datetime]]]] = []
    for name, query in sorted(queries.items()):
        params = _params_for(query, run)
        if params is None:
            run.skipped[name] = "needs a parameter the demo cannot choose"
        elif athena_only(query):
            run.skipped[name] = "runs on Athena only"
        else:
            hours = [(start + timedelta(hours=h), start + timedelta(hours=h + 1)) for h in range(DEMO_HOURS)]
            planned.append((name, query, params, hours if hourly_replay(query) else [(start, end)]))
    # Hour by hour, every replayed query of the hour, as the service's cycle runs them: the hour's
    # objects are read once into the cycle's object cache and served from memory to the next queries
    # (and to the next hour's, which reads this hour again for late records).
    runs = sorted(((w, i) for i, (_, _, _, windows) in enumerate(planned) for w in windows),
                  key=lambda run_of: (run_of[0][1] - run_of[0][0], run_of[0][0], run_of[1]))
    parts: dict[int, list[QueryResult]] = {i: [] for i in range(len(planned))}
    # One cycle's memory from the first query to the digest, as the service keeps it (cycle_caches).
    with cycle_caches(config):
        for done, ((window_start, window_end), i) in enumerate(runs):
            tick("queries", done, len(runs))
            name, query, params, windows = planned[i]
            part = run_query(config, query, window_start, window_end, params)
            parts[i].append(part)
            points = points_from_result(part, top_patterns=config.metrics.top_patterns)
            if points:
                publisher.enqueue(f"query:{name}", window_start, window_end, points)
                run.points_published += len(points)
            if query.schedule:
                kept.save(f"query:{name}" if len(windows) > 1 else f"demo:{name}", part)
        for i, (name, _, _, _) in enumerate(planned):
            run.results[name] = _joined(parts[i], start, end)
            if len(parts[i]) == 1 and not run.bad_lines:
                run.bad_lines = dict(parts[i][0].stats.bad_records)
        tick("queries", len(runs), len(runs))
        _step(run, "queries", began)

        began = time.perf_counter()
        _detect_and_digest(run, publisher, tick)
        _step(run, "detect", began)

    began = time.perf_counter()
    tick("report", 0, 1)
    run.report_path = write_report(run, folder / "report.html")
    tick("report", 1, 1)
    _step(run, "report", began)
    return run


__all__ = ["CONFIG_FILE", "DEMO_HOURS", "LEARN_HOURS", "DemoRun", "demo_config", "hourly_replay", "prepare_folder", "run_demo", "write_demo_config", "write_digest_files"]
