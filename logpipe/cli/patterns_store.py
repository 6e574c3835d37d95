"""``logpipe patterns list / show / mute / resolve``: the pattern store, from the terminal.

Added to the ``patterns`` group (defined with ``mine`` in ``logpipe.cli.patterns``) from here so
each module keeps one job: that one mines text, this one looks at what the detectors remember.
"""

from __future__ import annotations

from datetime import timedelta

import click
from rich.markup import escape

from logpipe.cli.common import AppContext, complete_pattern_id, console, pass_app, print_json
from logpipe.cli.patterns import patterns_group
from logpipe.patterns.store import PatternStore, Status
from logpipe.redact import redact

STATUSES = ("new", "known", "muted", "resolved")
_SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: list[int]) -> str:
    """One character per value, scaled to the largest (empty hours are the lowest bar)."""
    top = max(values, default=0)
    if top <= 0:
        return _SPARK[0] * len(values)
    return "".join(_SPARK[min(len(_SPARK) - 1, round(v / top * (len(_SPARK) - 1)))] for v in values)


def _store(app: AppContext) -> PatternStore:
    return PatternStore.from_config(app.config)


@patterns_group.command("list")
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Only patterns with this status.")
@click.option("--service", default=None, help="Only patterns seen in this service.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@pass_app
def list_command(app: AppContext, status: str | None, service: str | None, limit: int, fmt: str) -> None:
    """The error patterns the detectors have learned, most frequent first."""
    from rich.table import Table

    records = _store(app).list(status=status, service=service)
    if fmt == "json":
        print_json([{"pattern_id": r.pattern_id, "status": r.status, "count": r.total, "first_seen": r.first_seen,
                     "last_seen": r.last_seen, "template": redact(r.template)} for r in records[:limit]])
        return
    if not records:
        console.print("no patterns" + (" with these filters" if status or service else
                                       " yet: run 'logpipe detect' to learn them"))
        return
    # At 80 columns: the id whole (16 hex digits, never folded), the template takes what is left.
    table = Table()
    table.add_column("id", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("count", justify="right", no_wrap=True)
    table.add_column("last seen", no_wrap=True)
    table.add_column("template", ratio=1, overflow="fold")
    for r in records[:limit]:
        table.add_row(escape(r.pattern_id), r.status, f"{r.total:,}", f"{r.last_seen:%m-%d %H:%M}",
                      escape(redact(r.template)[:200]))
    console.print(table)
    if len(records) > limit:
        console.print(f"[dim]{len(records) - limit:,} more: use --limit[/]")


@patterns_group.command("show")
@click.argument("pattern_id", shell_complete=complete_pattern_id)
@click.option("--hours", type=click.IntRange(min=1), default=48, show_default=True,
              help="Hours of counts in the sparkline, back from the pattern's last sighting.")
@pass_app
def show_command(app: AppContext, pattern_id: str, hours: int) -> None:
    """One pattern: template, status, aliases, services, redacted examples, counts per hour."""
    from logpipe.layout import floor_hour

    store = _store(app)
    r = store.require(pattern_id)
    console.print(f"[bold]{escape(r.pattern_id)}[/]  status: {escape(r.status)}  total: {r.total:,}", highlight=False)
    console.print(f"template: {redact(r.template)}", highlight=False, markup=False)
    console.print(f"first seen {r.first_seen:%Y-%m-%d %H:%M}Z, last seen {r.last_seen:%Y-%m-%d %H:%M}Z", highlight=False)
    if r.aliases:
        console.print("aliases: " + ", ".join(r.aliases), highlight=False, markup=False)
    services = store.services_of(r.pattern_id)
    if services:
        console.print("services: " + ", ".join(f"{redact(s)} ({n})" for s, n in services.items()), highlight=False,
                      markup=False)
    end = floor_hour(r.last_seen) + timedelta(hours=1)
    start = end - timedelta(hours=hours)
    counts = store.hourly_counts(r.pattern_id, start, end)
    series = [counts.get(start + timedelta(hours=i), 0) for i in range(hours)]
    console.print(f"per hour {start:%m-%d %H}h..{end:%m-%d %H}h (max {max(series)}): {sparkline(series)}",
                  highlight=False, markup=False)
    examples = store.examples(r.pattern_id)
    if examples:
        console.print("examples (redacted):")
        for e in examples:
            console.print(f"  [{redact(e.service)} {e.seen_at:%Y-%m-%d %H:%M}] {redact(e.line)[:500]}", highlight=False,
                          markup=False)


def _set_status(app: AppContext, pattern_id: str, status: Status) -> None:
    record = _store(app).set_status(pattern_id, status)
    console.print(f"{record.pattern_id}: {status}  ({redact(record.template)[:120]})", highlight=False, markup=False)


@patterns_group.command("mute")
@click.argument("pattern_id", shell_complete=complete_pattern_id)
@pass_app
def mute_command(app: AppContext, pattern_id: str) -> None:
    """Stop reporting a pattern (it is still counted)."""
    _set_status(app, pattern_id, "muted")


@patterns_group.command("resolve")
@click.argument("pattern_id", shell_complete=complete_pattern_id)
@pass_app
def resolve_command(app: AppContext, pattern_id: str) -> None:
    """Mark a pattern fixed: if it comes back, 'logpipe detect' reports a regression."""
    _set_status(app, pattern_id, "resolved")


commands: list[click.Command] = []
