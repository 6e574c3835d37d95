"""``logpipe demo``: simulate a day locally, run every saved query and detector, print the digest,
write the HTML report. Needs no AWS account and no config file."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape

from logpipe.cli.common import AppContext, console, parse_time, pass_app, stage_progress

if TYPE_CHECKING:
    from logpipe.config import Config
    from logpipe.demo import DemoRun

STAGES = {"simulate": "Simulating a day of ECS logs", "queries": "Running the saved queries",
          "detect": "Detecting error patterns", "report": "Writing the HTML report"}


@click.command("demo")
@click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path), default=Path("logpipe-demo"),
              show_default=True, help="Working folder for the demo's store, state and report (recreated).")
@click.option("--seed", type=int, default=42, show_default=True, help="Simulator seed (same seed, same logs).")
@click.option("--rate", type=click.FloatRange(0.01, 20), default=1.0, show_default=True,
              help="Log volume: 1.0 is about 200k records a day.")
@click.option("--end", "end_text", default="now", show_default=True,
              help="End of the simulated day (rounded down to the hour): 'now', a duration back, or ISO 8601.")
@pass_app
def demo(app: AppContext, folder: Path, seed: int, rate: float, end_text: str) -> None:
    """Run the whole product locally on a simulated day of logs."""
    from logpipe.report.terminal import print_demo_digest

    began = time.perf_counter()
    run = run_demo_with_progress(app.config, folder, end=parse_time(end_text), seed=seed, rate=rate)
    print_demo_digest(run, console)
    elapsed = time.perf_counter() - began
    console.print(f"\n[bold]Report:[/] {escape(str(run.report_path))}", highlight=False)
    console.print("[bold]Digest as delivered:[/] " + escape(", ".join(str(p) for p in run.digest_paths)), highlight=False)
    console.print(f"[dim]demo took {elapsed:.1f} s[/]", highlight=False)


def run_demo_with_progress(config: Config, folder: Path, **options: Any) -> DemoRun:
    """``run_demo`` with progress per stage on stderr: bars on a terminal, log lines otherwise (also
    what ``logpipe ui`` runs on a first start)."""
    from logpipe.demo import run_demo

    with stage_progress(STAGES) as tick:
        return run_demo(config, folder, progress=tick, **options)


commands = [demo]
