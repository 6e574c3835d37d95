"""The demo's digest in the terminal: what was simulated and skipped, then the error digest itself
(the same digest the scheduled service sends, rendered for a terminal)."""

from __future__ import annotations

from rich.console import Console

from logpipe.digest.render_text import render_text
from logpipe.report.model import ReportedRun, bad_lines_text
from logpipe.text import duration_text, plural


def print_demo_digest(run: ReportedRun, console: Console) -> None:
    sim = run.simulation
    digest = run.digest
    if digest is None:
        raise ValueError("the demo run has no digest to print")
    console.rule(f"[bold]logpipe demo[/]  {run.start:%Y-%m-%d %H:%M} to {run.end:%Y-%m-%d %H:%M} UTC")
    console.print(
        f"Simulated {sim.records:,} FireLens records from {len(sim.services)} services into {plural(sim.objects, 'object')} "
        f"({sim.bytes_written / 1e6:.1f} MB gzip). {plural(len(run.results), 'saved query')} ran on DuckDB "
        f"(hourly ones hour by hour, as scheduled); {plural(run.points_published, 'metric point')} went to the "
        f"local sink. The first {duration_text(digest.window_start - run.start)} were "
        "learned as the baseline; the digest covers the rest.", highlight=False, markup=False)
    console.print(bad_lines_text(run) + "\n", highlight=False, markup=False)
    render_text(digest, console)


__all__ = ["print_demo_digest"]
