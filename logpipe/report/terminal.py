"""The demo's digest in the terminal: rich tables an on-call engineer can read at a glance."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from logpipe.redact import redact

if TYPE_CHECKING:
    from logpipe.demo import DemoRun

SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "dim"}


def print_demo_digest(run: DemoRun, console: Console) -> None:
    sim = run.simulation
    console.rule(f"[bold]logpipe digest[/]  {run.start:%Y-%m-%d %H:%M} to {run.end:%Y-%m-%d %H:%M} UTC")
    bad = max((sum(r.stats.bad_records.values()) for r in run.results.values()), default=0)
    console.print(f"{sim.records:,} records from {len(sim.services)} services in {sim.objects} objects "
                  f"({sim.bytes_written / 1e6:.1f} MB gzip); {bad:,} bad records counted and skipped; "
                  f"{run.points_published:,} metric points published to the local sink.", highlight=False)

    volume = run.results.get("records_by_service")
    if volume is not None and not volume.frame.empty:
        totals = volume.frame.groupby("service")[["records", "errors"]].sum().sort_values("errors", ascending=False)
        table = Table(title="Errors per service", title_justify="left")
        for name, justify in (("service", "left"), ("records", "right"), ("errors", "right"), ("error rate", "right")):
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        for service, row in totals.iterrows():
            rate = row["errors"] / row["records"] if row["records"] else 0.0
            table.add_row(str(service), f"{int(row['records']):,}", f"{int(row['errors']):,}", f"{rate:.2%}")
        console.print(table)

    findings = run.findings
    console.print(f"\n[bold]Findings ({len(findings)})[/]")
    if not findings:
        console.print("  no new patterns, spikes or error-rate breaches in the detection windows")
    for finding in findings[:15]:
        style = SEVERITY_STYLE.get(finding.severity, "")
        console.print(f"  [{style}]{finding.severity:<8}[/] [bold]{finding.kind}[/] {finding.title}", highlight=False)
        if finding.template and finding.template[:60] not in finding.title:
            console.print(f"           [dim]{redact(finding.template)[:300]}[/]", highlight=False, markup=True)
        console.print(f"           [cyan]{finding.command()}[/]", highlight=False, soft_wrap=True)
    if len(findings) > 15:
        console.print(f"  [dim]... and {len(findings) - 15} more in the report[/]")
    console.print()

    top = run.results.get("top_error_messages")
    if top is not None and not top.frame.empty:
        frame = top.frame.head(10)
        table = Table(title="Top error messages", title_justify="left")
        columns = [c for c in frame.columns if c in ("service", "template", "message_template", "errors", "count",
                                                      "occurrences", "last_seen")]
        for column in columns:
            table.add_column(column, overflow="fold", justify="right" if column in ("errors", "count", "occurrences") else "left")
        for row in frame[columns].itertuples(index=False):
            table.add_row(*(redact(str(v))[:160] for v in row))
        console.print(table)
