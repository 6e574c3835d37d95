"""``logpipe compact``: rewrite closed hours of raw logs as Parquet by hand (the service's compact job
does the same on its schedule)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import click

from logpipe.cli.common import AppContext, console, err_console, parse_time, pass_app
from logpipe.text import plural


@click.command("compact")
@click.option("--until", "until_text", default=None,
              help="Compact the hours closed by this time (default: now). ISO 8601 or 2h (ago).")
@click.option("--max-hours", type=click.IntRange(min=1), default=None,
              help="At most this many hours in this run (default: [compact] max_hours_per_run).")
@click.option("--recheck", default=None,
              help="Also look again at the hours this far before the watermark, e.g. 24h (default: [compact] recheck).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@pass_app
def compact_command(app: AppContext, until_text: str | None, max_hours: int | None, recheck: str | None,
                    fmt: str) -> None:
    """Rewrite closed hours of raw logs as Parquet (columnar hours) for fast queries.

    Each hour past the lateness becomes one zstd Parquet file sorted by service, level and time, under
    PREFIX-parquet/ beside the raw objects (which stay). Once every hour of a UTC day is compacted,
    its hour files are merged into one day file under PREFIX-parquet-daily/ (the hour files stay).
    Queries then read the merged days, the compacted hours before the compaction watermark and the
    raw hours after it, each record once."""
    from logpipe.durations import parse_duration
    from logpipe.engines.compact import open_compactor

    config = app.config
    now = parse_time(until_text, datetime.now(UTC)) if until_text else datetime.now(UTC)
    again = timedelta(seconds=parse_duration(recheck if recheck is not None else config.compact.recheck))
    compactor = open_compactor(config)
    with err_console.status("compacting") as status:
        report = compactor.run(now, max_hours or config.compact.max_hours_per_run, again,
                               progress=lambda text: status.update(text))
    if fmt == "json":
        console.print_json(json.dumps({
            "watermark_before": report.watermark_before.isoformat() if report.watermark_before else None,
            "watermark": report.watermark_after.isoformat() if report.watermark_after else None,
            "backlog_hours": report.backlog,
            "hours": [{"hour": h.hour.isoformat(), "action": h.action, "raw_objects": h.raw_objects,
                       "raw_bytes": h.raw_bytes, "records": h.records, "parquet_bytes": h.parquet_bytes,
                       "key": h.key} for h in report.hours],
            "day_watermark_before": report.day_watermark_before.isoformat() if report.day_watermark_before else None,
            "day_watermark": report.day_watermark_after.isoformat() if report.day_watermark_after else None,
            "backlog_days": report.day_backlog,
            "days": [{"day": d.day.strftime("%Y-%m-%d"), "action": d.action, "hours": d.hours,
                      "hour_bytes": d.hour_bytes, "records": d.records, "parquet_bytes": d.parquet_bytes,
                      "key": d.key} for d in report.days]}))
        return
    from rich.table import Table

    written = report.written
    table = Table("hour", "raw objects", "raw bytes", "records", "parquet bytes", "ratio")
    for h in written:
        ratio = f"{h.raw_bytes / h.parquet_bytes:.1f}x" if h.parquet_bytes else "-"
        table.add_row(f"{h.hour:%Y-%m-%d %H}:00", str(h.raw_objects), f"{h.raw_bytes:,}", f"{h.records:,}",
                      f"{h.parquet_bytes:,}", ratio)
    if written:
        console.print(table)
    kept = sum(1 for h in report.hours if h.action == "kept")
    mark = f"{report.watermark_after:%Y-%m-%d %H}:00 UTC" if report.watermark_after else "none (nothing to compact)"
    console.print(f"{len(written)} hours written, {kept} unchanged; watermark {mark}"
                  + (f"; {report.backlog} closed hours left for the next run" if report.backlog else ""),
                  markup=False, highlight=False)
    merged = report.merged
    if merged or report.days:
        day_mark = f"{report.day_watermark_after:%Y-%m-%d}" if report.day_watermark_after else "none"
        stale = [f"{d.day:%Y-%m-%d}" for d in report.days if d.action == "stale"]
        console.print(f"{plural(len(merged), 'day')} merged ({plural(sum(d.hours for d in merged), 'hour file')}, "
                      f"{sum(d.parquet_bytes for d in merged):,} bytes), "
                      f"{sum(1 for d in report.days if d.action == 'kept')} unchanged; day watermark {day_mark}"
                      + (f"; {stale[0]} not merged: an hour of it could not be compacted again" if stale else "")
                      + (f"; {report.day_backlog} closed days left for the next run" if report.day_backlog else ""),
                      markup=False, highlight=False)


commands = [compact_command]
