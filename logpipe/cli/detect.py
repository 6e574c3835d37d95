"""``logpipe detect``: run the error-pattern detectors over a window and print the findings.

Exit status is 0 whether or not there are findings: findings are output, not failure (scripts read
``--format json``); a non-zero exit means the run itself failed. For CI and cron, ``--fail-on-findings
[SEVERITY]`` exits 3 when a finding at or above the severity (default: any) was found: 3, so a
script can tell "found something" from "could not run" (1, or 2 for bad usage). The run learns from the window
(updates the pattern store) unless ``--no-learn``/``--dry-run``; a window already learned is shown
again without being counted twice.
"""

from __future__ import annotations

import json
from typing import Any

import click
from rich.markup import escape

from logpipe.cli.common import AppContext, console, err_console, pass_app, warn_if_no_store, window_from
from logpipe.text import plural

SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
FINDINGS_EXIT = 3


@click.command("detect")
@click.option("--since", default="1h", show_default=True, help="Window start: 'now', a duration back (1h, 7d) or ISO 8601.")
@click.option("--until", default="now", show_default=True, help="Window end (exclusive).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--no-learn", "--dry-run", "no_learn", is_flag=True,
              help="Detect only: leave the pattern store as it is.")
@click.option("--force", is_flag=True, help="Read a window longer than [engine] max_window.")
@click.option("--fail-on-findings", "fail_on", type=click.Choice(list(SEVERITY_RANK)), is_flag=False,
              flag_value="info", default=None, metavar="[SEVERITY]",
              help=f"Exit {FINDINGS_EXIT} when a finding at or above SEVERITY (info, warning, critical; "
                   "default: any) was found: for CI and cron.")
@pass_app
def detect_command(app: AppContext, since: str, until: str, fmt: str, no_learn: bool, force: bool,
                   fail_on: str | None) -> None:
    """Run the error-pattern detectors over a window and print the findings (exit 0 even with findings,
    unless --fail-on-findings)."""
    from logpipe.detectors.run import run_detectors
    from logpipe.queries.runner import check_window

    start, end = window_from(since, until)
    check_window(app.config, start, end, force)
    warn_if_no_store(app.config)
    with err_console.status(f"detecting {start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} UTC"):
        report = run_detectors(app.config, start, end, learn=not no_learn)
    if fmt == "json":
        click.echo(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        _print_report(report, start, end)
    if fail_on is not None:
        hits = [f for f in report.findings if SEVERITY_RANK.get(f.severity, 0) >= SEVERITY_RANK[fail_on]]
        if hits:
            err_console.print(f"{plural(len(hits), 'finding')} at or above {fail_on}: exit {FINDINGS_EXIT} "
                              "(--fail-on-findings)", highlight=False, markup=False)
            raise SystemExit(FINDINGS_EXIT)


def _print_report(report: Any, start: Any, end: Any) -> None:
    from rich.table import Table
    from rich.text import Text

    for note in report.notes:
        err_console.print(f"[dim]note:[/] {escape(note)}", highlight=False)
    errors = report.error_records
    records = sum(s.records for s in report.services.values())
    console.print(f"window {start:%Y-%m-%dT%H:%M}Z .. {end:%Y-%m-%dT%H:%M}Z: {plural(records, 'record')}, {plural(errors, 'error')}, "
                  f"{plural(len({p.pattern_id for p in report.patterns}), 'error pattern')}, "
                  f"{plural(len(report.findings), 'finding')}",
                  highlight=False)
    if not report.findings:
        return
    # Three columns so the table reads at 80: what the finding is about (kind, service, pattern id on a
    # line of their own, never wrapped mid-id), what was seen, and the command that shows its lines.
    table = Table(show_lines=True)
    table.add_column("severity", no_wrap=True)
    table.add_column("finding", ratio=3, overflow="fold")
    table.add_column("see", ratio=2, overflow="fold")
    for f in report.findings:
        evidence = ", ".join(f"{k}={v}" for k, v in f.evidence.items() if k in ("count", "baseline", "ratio", "rate"))
        body = Text(" · ".join(x for x in (f.kind, f.service, f.pattern_id) if x), style="bold")
        body.append("\n" + f.title, style="")
        if evidence:
            body.append("\n" + evidence, style="")
        if f.samples:
            body.append("\n" + f.samples[0][:200], style="dim")
        table.add_row(Text(f.severity, style=SEVERITY_STYLE[f.severity]), body, Text(f.command()))
    console.print(table)


commands = [detect_command]
