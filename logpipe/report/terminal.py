"""The demo's digest in the terminal: what was simulated and skipped, then the error digest itself
(the same digest the scheduled service sends, rendered for a terminal)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:
    from logpipe.demo import DemoRun


def print_demo_digest(run: DemoRun, console: Console) -> None:
    from logpipe.digest.render_text import render_text

    sim = run.simulation
    bad = max((sum(r.stats.bad_records.values()) for r in run.results.values()), default=0)
    console.rule(f"[bold]logpipe demo[/]  {run.start:%Y-%m-%d %H:%M} to {run.end:%Y-%m-%d %H:%M} UTC")
    console.print(
        f"Simulated {sim.records:,} FireLens records from {len(sim.services)} services into {sim.objects} objects "
        f"({sim.bytes_written / 1e6:.1f} MB gzip). {bad:,} bad records were counted and skipped. "
        f"{len(run.results)} saved queries ran on DuckDB; {run.points_published:,} metric points went to the "
        f"local sink. The first {int((run.digest.window_start - run.start).total_seconds() // 3600)} hours were "
        "learned as the baseline; the digest covers the rest.\n", highlight=False)
    render_text(run.digest, console)
