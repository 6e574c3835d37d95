"""``logpipe metrics``: what the metrics cost, what is still queued, and sending it now."""

from __future__ import annotations

import json

import click

from logpipe.cli.common import AppContext, console, err_console, pass_app
from logpipe.text import plural


@click.group("metrics")
def metrics_group() -> None:
    """Derived metrics: cost estimate, publish queue status, flush."""


def _history_cardinality(app: AppContext) -> dict[str, int]:
    """Distinct values per dimension in the local metric history (empty when there is none)."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    url = make_url(app.config.state.url)
    if url.drivername.startswith("sqlite") and url.database and not Path(url.database).exists():
        return {}  # do not create a state file just to estimate
    from logpipe.metrics.history import dimension_cardinality
    from logpipe.state.db import open_state

    return dimension_cardinality(open_state(app.config.state.url))


@metrics_group.command("cost")
@click.option("--services", type=click.IntRange(min=1), default=None,
              help="Number of services to assume (default: as seen in the local metric history, else 10).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@pass_app
def cost_command(app: AppContext, services: int | None, fmt: str) -> None:
    """Estimate the monthly CloudWatch cost of the metrics, alarms and dashboard this config produces."""
    from logpipe.metrics.cost import estimate
    from logpipe.queries.loader import load_queries

    config = app.config
    queries = list(load_queries(config).values())
    observed = _history_cardinality(app)
    if services is None:
        services = observed.get("service") or max(len(config.firelens.services), 0) or 10
    result = estimate(config, queries, services, observed)
    if fmt == "json":
        click.echo(json.dumps({
            "total_usd": round(result.total, 2),
            "lines": [{"item": i, "quantity": q, "unit_usd": u, "monthly_usd": round(m, 4)} for i, q, u, m in result.lines],
            "metrics": [{"name": m.name, "dimensions": list(m.dimensions), "series": m.series, "job": m.job}
                        for m in result.metrics],
            "assumptions": result.assumptions}, indent=2))
        return
    from rich.table import Table

    # Metric names (what an alarm is written against) never fold or get cut; the other columns wrap.
    detail = Table(title="Metrics", title_justify="left")
    detail.add_column("metric", no_wrap=True, min_width=max((len(m.name) for m in result.metrics), default=6))
    detail.add_column("dimensions", ratio=1)
    detail.add_column("series", justify="right", no_wrap=True)
    detail.add_column("job", ratio=1)
    for m in result.metrics:
        detail.add_row(m.name, ", ".join(m.dimensions) or "-", str(m.series), m.job)
    console.print(detail)
    table = Table(title="Estimated CloudWatch cost per month (USD)", title_justify="left")
    for col in ("item", "quantity", "unit price", "per month"):
        table.add_column(col, justify="left" if col == "item" else "right")
    for item, qty, unit, monthly in result.lines:
        price = f"${unit:,.2f}" if unit >= 0.01 else f"${unit * 1000:,.2f} / 1,000"
        table.add_row(item, f"{qty:,.0f}", price, f"${monthly:,.2f}")
    table.add_row("[bold]total[/]", "", "", f"[bold]${result.total:,.2f}[/]")
    console.print(table)
    err_console.print("[dim]assumptions: " + "; ".join(result.assumptions) + "[/]", highlight=False)


@metrics_group.command("status")
@pass_app
def status_command(app: AppContext) -> None:
    """Batches in the publish queue per sink and state, and digest deliveries still pending."""
    from logpipe.digest.deliver import Deliverer
    from logpipe.service.jobs import pending_summary
    from logpipe.sinks.publisher import Publisher
    from logpipe.state.db import open_state

    status = Publisher.from_config(app.config).status()
    digests = Deliverer(app.config, open_state(app.config.state.url)).status()
    pending = pending_summary(status, digests)
    console.print(f"pending: {plural(pending['metrics'], 'metric batch')}, {plural(pending['digests'], 'digest delivery', 'digest deliveries')}"
                  + (" (sent by the next 'logpipe run', 'logpipe serve', or 'logpipe metrics flush')"
                     if any(pending.values()) else ""), highlight=False, markup=False)
    if not status and not digests:
        console.print("nothing queued or published yet")
        return
    from rich.table import Table

    table = Table()
    states = ("pending", "sending", "unknown", "sent")
    for col in ("sink", *states):
        table.add_column(col, justify="left" if col == "sink" else "right")
    for sink, counts in sorted(status.items()):
        table.add_row(sink, *(str(counts.get(s, 0)) for s in states))
    for destination, counts in sorted(digests.items()):
        table.add_row(f"digest: {destination}", *(str(counts.get(s, 0)) for s in states))
    console.print(table)


@metrics_group.command("flush")
@pass_app
def flush_command(app: AppContext) -> None:
    """Send queued metric batches now (exit 1 when some remain queued)."""
    from logpipe.errors import DeliveryError
    from logpipe.sinks.publisher import Publisher

    with err_console.status("publishing metrics"):
        report = Publisher.from_config(app.config).flush()
    for sink, rep in report.sinks.items():
        console.print(f"{sink}: {plural(rep.sent_points, 'point')} in {plural(rep.sent_batches, 'batch')} sent, "
                      f"{rep.resolved_landed:,} found already delivered, {rep.pending_batches:,} still queued",
                      highlight=False, markup=False)
    if not report.complete:
        last = next((r.errors[-1] for r in report.sinks.values() if r.errors), "see `logpipe metrics status`")
        raise DeliveryError(f"some metric batches are still queued and will be retried on the next run: {last}")


commands = [metrics_group]
