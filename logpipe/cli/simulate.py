"""``logpipe simulate``: write realistic FireLens records into the store (or any folder / bucket)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import click

from logpipe.cli.common import AppContext, console, parse_time, pass_app, stage_progress
from logpipe.errors import UsageError
from logpipe.text import plural


def simulation_window(hours: float | None, start: str | None, end: str | None, now: datetime | None = None
                      ) -> tuple[datetime, datetime]:
    """``[start, end)`` from ``--hours`` (ending at ``--end`` or now) or ``--start``/``--end``."""
    if hours is not None and start is not None:
        raise UsageError("give either --hours or --start (with an optional --end), not both")
    if hours is not None and not 0 < hours <= 24 * 366:
        raise UsageError(f"--hours must be above 0 and at most a year (8784), got {hours:g}")
    end_at = parse_time(end, now) if end is not None else parse_time("now", now)
    if start is not None:
        start_at = parse_time(start, now)
    else:
        start_at = end_at - timedelta(hours=hours if hours is not None else 24)
    if start_at >= end_at:
        raise UsageError(f"--start ({start_at:%Y-%m-%dT%H:%M:%SZ}) must be before --end ({end_at:%Y-%m-%dT%H:%M:%SZ})")
    return start_at, end_at


def _bad_text(summary: Any) -> str:
    """``28 bad lines: not_json 12, truncated 8, wrong_types 3, ...``: by kind, because a reader counts
    only the unreadable ones (a wrong type is still a JSON object, read with that field empty)."""
    if not summary.bad_records:
        return "no bad lines"
    kinds = ", ".join(f"{k} {n:,}" for k, n in sorted(summary.bad_by_kind.items()))
    # An oversized record (over the 1 MiB a Firehose record may hold) is skipped by logpipe's own
    # reader but still read by DuckDB (up to 16 MiB), so the queries' bad-record count leaves it out.
    oversized = summary.bad_by_kind.get("too_large", 0)
    said = f"{plural(summary.bad_records, 'bad line')}: {kinds}; {summary.unreadable_records - oversized:,} unreadable"
    return said + (f", {oversized:,} oversized (DuckDB still reads it)" if oversized else "")


@click.command("simulate")
@click.option("--out", metavar="DIR|s3://BUCKET[/PATH]", default=None,
              help="Where to write (default: the config's store root); the config's prefix is kept.")
@click.option("--hours", type=float, default=None, help="Simulate this many hours ending at --end (default 24).")
@click.option("--start", default=None, help="Window start: ISO 8601, 'now' or a duration back from now (2h, 7d).")
@click.option("--end", default=None, help="Window end (default: now).")
@click.option("--seed", type=int, default=42, show_default=True, help="Same seed and window, same bytes.")
@click.option("--rate", type=float, default=1.0, show_default=True, help="Volume: 1 is about 200k records a day.")
@click.option("--bad-rate", type=float, default=0.001, show_default=True,
              help="Share of records written bad (not JSON, truncated, invalid UTF-8, wrong types).")
@pass_app
def simulate_command(app: AppContext, out: str | None, hours: float | None, start: str | None, end: str | None,
                     seed: int, rate: float, bad_rate: float) -> None:
    """Write realistic FireLens records in the storage layout.

    Five services (Java, .NET, Python, Go, nginx), a daily traffic curve, error bursts, container
    crashes, a deploy of checkout at 70% of the window after which a brand-new error appears, and bad
    records at --bad-rate.
    """
    from logpipe.simulate import simulate
    from logpipe.store import Store

    window = simulation_window(hours, start, end)
    store_config = app.config.store
    if out is not None:
        if not out.strip() or out.strip() == "s3://":
            raise UsageError("--out needs a folder or an s3://bucket URL")
        store_config = store_config.model_copy(update={"root": out.strip()})
    store = Store(store_config, region=app.config.aws.region)
    with stage_progress({"hours": f"simulating into {store.url(store.layout.prefix)}, hours"}) as tick:
        summary = simulate(store, *window, seed=seed, rate=rate, bad_rate=bad_rate,
                           progress=lambda done, total: tick("hours", done, total))
    console.print(
        f"{summary.records:,} records ({_bad_text(summary)}) in {plural(summary.objects, 'object')}, "
        f"{summary.bytes_written / 1e6:.1f} MB, {summary.seconds:.1f} s, {summary.records_per_second:,.0f} records/s "
        f"-> {store.url(store.layout.prefix)}", highlight=False, markup=False, soft_wrap=True)
    console.print(
        f"window {window[0]:%Y-%m-%dT%H:%M:%SZ} .. {window[1]:%Y-%m-%dT%H:%M:%SZ}; deploy {summary.deploy_from} -> "
        f"{summary.deploy_to} at {summary.deploy_time:%Y-%m-%dT%H:%M:%SZ}; new error after it: "
        f"{summary.new_error_pattern!r} ({summary.new_error_count} times)", highlight=False, markup=False, soft_wrap=True)


commands = [simulate_command]
