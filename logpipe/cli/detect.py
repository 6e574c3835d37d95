"""``logpipe detect``: run the error-pattern detectors over a window and print the findings.

Exit status is 0 whether or not there are findings: findings are output, not failure (scripts read
``--format json``); a non-zero exit means the run itself failed. The run learns from the window
(updates the pattern store) unless ``--no-learn``/``--dry-run``; a window already learned is shown
again without being counted twice.
"""

from __future__ import annotations

import json

import click

from logpipe.cli.common import AppContext, console, err_console, pass_app, window_from

SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}


@click.command("detect")
@click.option("--since", default="1h", show_default=True, help="Window start: 'now', a duration back (1h, 7d) or ISO 8601.")
@click.option("--until", default="now", show_default=True, help="Window end (exclusive).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--no-learn", "--dry-run", "no_learn", is_flag=True,
              help="Detect only: leave the pattern store as it is.")
@click.option("--force", is_flag=True, help="Read a window longer than [engine] max_window.")
@pass_app
def detect_command(app: AppContext, since: str, until: str, fmt: str, no_learn: bool, force: bool) -> None:
    """Run the error-pattern detectors over a window and print the findings (exit 0 even with findings)."""
    from logpipe.detectors.run import run_detectors
    from logpipe.queries.runner import check_window

    start, end = window_from(since, until)
    check_window(app.config, start, end, force)
    with err_console.status(f"detecting {start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} UTC"):
        report = run_detectors(app.config, start, end, learn=not no_learn)
    if fmt == "json":
        click.echo(json.dumps(report.to_dict(), indent=2, default=str))
        return
    from rich.table import Table

    for note in report.notes:
        err_console.print(f"[dim]note:[/] {note}", highlight=False)
    errors = report.error_records
    records = sum(s.records for s in report.services.values())
    console.print(f"window {start:%Y-%m-%dT%H:%M}Z .. {end:%Y-%m-%dT%H:%M}Z: {records} records, {errors} errors, "
                  f"{len({p.pattern_id for p in report.patterns})} error patterns, {len(report.findings)} findings",
                  highlight=False)
    if not report.findings:
        return
    table = Table(show_lines=True)
    for column in ("severity", "kind", "service", "pattern", "finding", "evidence", "see"):
        table.add_column(column, overflow="fold")
    for f in report.findings:
        evidence = ", ".join(f"{k}={v}" for k, v in f.evidence.items() if k in ("count", "baseline", "ratio", "rate"))
        table.add_row(f"[{SEVERITY_STYLE[f.severity]}]{f.severity}[/]", f.kind, f.service or "", f.pattern_id or "",
                      f.title + ("\n[dim]" + f.samples[0][:200] + "[/]" if f.samples else ""), evidence, f.command())
    console.print(table)


commands = [detect_command]
