"""The digest for the terminal (rich): what ``logpipe digest --format text`` prints."""

from __future__ import annotations

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from logpipe.digest.model import Digest
from logpipe.digest.render_md import text_sparkline

SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}


def render_text(digest: Digest, console: Console) -> None:
    head = Text(f"{digest.errors_text()}, {digest.counts_text()}")
    parts: list = [head]
    for p in digest.job_problems:
        parts.append(Text(f"failed job {p.job} window {p.window_start:%Y-%m-%d %H:%M}Z ({p.attempts}×): {p.error}",
                          style="red"))
    if digest.quality is not None:
        style = "green" if digest.quality.clean else "yellow"
        parts.append(Text(f"data quality: {digest.quality.headline()}", style=style))
        parts += [Text(f"  {line}", style=style) for line in digest.quality.lines()]
    console.print(Panel(Group(*parts), title=digest.title, title_align="left"))
    if digest.services:
        table = Table(title="errors per service", title_justify="left")
        for column, justify in (("service", "left"), ("errors", "right"), ("previous", "right"), ("change", "right")):
            table.add_column(column, justify=justify)  # type: ignore[arg-type]
        for s in digest.services:
            table.add_row(s.service, str(s.errors), str(s.previous), s.change_text)
        console.print(table)
    if digest.findings:
        table = Table(title="findings", title_justify="left", show_lines=True)
        for column in ("severity", "finding", "see"):
            table.add_column(column, overflow="fold")
        for f in digest.findings:
            body = Text(f.title)
            if f.samples:
                body.append("\n" + f.samples[0][:200], style="dim")
            table.add_row(Text(f.severity, style=SEVERITY_STYLE.get(f.severity, "")), body, f.command)
        console.print(table)
    if digest.top_patterns:
        table = Table(title="top error patterns", title_justify="left")
        for column in ("count", "previous", "trend/h", "services", "pattern"):
            table.add_column(column, overflow="fold")
        for top in digest.top_patterns:
            table.add_row(str(top.count), str(top.previous), text_sparkline(top.hourly), ", ".join(top.services),
                          Text(top.template[:200]))
        console.print(table)
    for note in digest.notes:
        console.print(f"[dim]note:[/] {escape(note)}", highlight=False)
    console.print(f"[dim]digest id {escape(digest.digest_id)}[/]", highlight=False)
