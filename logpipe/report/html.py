"""The HTML report of ``logpipe demo``: one self-contained file (charts inline), readable offline."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from logpipe import extras
from logpipe.charts import data_uri, time_series_chart
from logpipe.redact import redact
from logpipe.report.model import ReportedRun, bad_lines_text

MAX_ROWS = 15


def _env() -> Environment:
    return Environment(loader=PackageLoader("logpipe.report", "templates"), autoescape=select_autoescape(["html", "j2"]))


def _series(frame: Any, time_col: str, key_col: str, value_col: str) -> dict[str, list[tuple[datetime, float]]]:
    series: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    for row in frame[[time_col, key_col, value_col]].itertuples(index=False):
        moment = row[0].to_pydatetime() if hasattr(row[0], "to_pydatetime") else row[0]
        series[str(row[1])].append((moment, float(row[2])))
    return dict(series)


def _table(frame: Any) -> Markup:
    """The first rows of a result as an HTML table, every cell redacted and escaped.

    Why ``Markup``: pandas escapes each cell itself (``escape=True``), so the table is safe HTML; the
    template's autoescape would otherwise escape it a second time and show its source.
    """
    if frame.empty:
        return Markup("<p class='muted'>no rows</p>")
    shown = frame.head(MAX_ROWS).copy()
    for column in shown.columns:
        if shown[column].dtype == object:
            shown[column] = shown[column].map(lambda v: redact(str(v))[:300] if v is not None else "")
    return Markup(shown.to_html(index=False, border=0, escape=True, na_rep=""))


def _charts(run: ReportedRun) -> list[dict[str, str]]:
    charts: list[dict[str, str]] = []
    if not extras.available("charts"):
        return charts
    errors = run.results.get("errors_by_service")
    if errors is not None and not errors.frame.empty:
        charts.append({"title": "Errors per service per hour",
                       "uri": data_uri(time_series_chart(_series(errors.frame, "hour", "service", "errors"),
                                                         "ERROR and FATAL records per hour", "records"))})
    volume = run.results.get("records_by_service")
    if volume is not None and not volume.frame.empty:
        charts.append({"title": "Log records per service per hour",
                       "uri": data_uri(time_series_chart(_series(volume.frame, "bucket", "service", "records"),
                                                         "records per hour", "records"))})
    return charts


def write_report(run: ReportedRun, path: Path) -> Path:
    """Render the report for a demo run to ``path``."""
    sim = run.simulation
    cards = [
        ("records simulated", f"{sim.records:,}"),
        ("bad lines written (by the simulator)", f"{sim.bad_records:,}"),
        ("unreadable lines counted (by the engine)", f"{sum(run.bad_lines.values()):,}"),
        ("services", str(len(sim.services))),
        ("saved queries run", str(len(run.results))),
        ("findings", str(len(run.findings))),
        ("metric points published", f"{run.points_published:,}"),
    ]
    queries = []
    for name, result in sorted(run.results.items()):
        stats = result.stats
        queries.append({
            "name": name, "description": result.query.description, "rows": len(result.frame),
            "files": stats.files_scanned, "mb": f"{stats.bytes_scanned / 1e6:.1f}", "ms": f"{stats.engine_ms:.0f}",
            "bad": sum(stats.bad_records.values()), "table": _table(result.frame),
        })
    html = _env().get_template("report.html.j2").render(
        start=f"{run.start:%Y-%m-%d %H:%M}", end=f"{run.end:%Y-%m-%d %H:%M}", engine=run.config.engine.kind,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"), cards=cards, charts=_charts(run),
        charts_missing=not extras.available("charts"), bad_lines=bad_lines_text(run),
        findings=run.findings, queries=queries, skipped=run.skipped, timings=run.timings,
    )
    path.write_text(html, encoding="utf-8")
    return path


__all__ = ["write_report"]
