"""``logpipe query list / show / run / sql / explain``: the saved queries from the terminal.

Results go to stdout (table, csv, json, markdown, or parquet into a file); progress and stats go to
stderr so ``logpipe query run x --format csv > out.csv`` stays clean.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from typing import Any

import click
from rich.markup import escape

from logpipe.cli.common import AppContext, console, err_console, pass_app, window_from
from logpipe.cli.results import write_result
from logpipe.errors import UsageError

FORMATS = ("table", "csv", "json", "parquet", "markdown")


def _params(pairs: tuple[str, ...]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--param {pair!r}: write it as NAME=VALUE")
        values[name.strip()] = value
    return values


def _window(since: str | None, until: str, default_window: str) -> tuple[datetime, datetime]:
    return window_from(since or default_window, until, datetime.now(UTC))


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _run_with_progress(work: Any) -> Any:
    """Run ``work(progress)`` under a spinner with the elapsed time and the engine's state."""
    from rich.status import Status

    started = time.monotonic()
    state = {"text": "starting"}
    with Status("running", console=err_console) as status:
        def progress(text: str) -> None:
            state["text"] = text
            status.update(f"{text} [dim]({time.monotonic() - started:.1f}s)[/]")

        return work(progress)


def _print_stats(result: Any) -> None:
    stats = result.stats
    bad = sum(stats.bad_records.values())
    reasons = ", ".join(f"{k}={v}" for k, v in sorted(stats.bad_records.items()))
    parts = [f"{len(result.frame)} rows", f"engine {stats.engine}", f"scanned {_human_bytes(stats.bytes_scanned)}"]
    if stats.engine == "duckdb":
        parts.append(f"{stats.files_scanned} objects")
    parts.append(f"{stats.engine_ms / 1000:.2f}s")
    parts.append(f"cost ${stats.cost_usd:.6f}")
    parts.append(f"bad records {bad}" + (f" ({reasons})" if reasons else ""))
    if stats.engine == "duckdb":
        parts.append(f"misplaced {stats.misplaced_records}")
    elif not stats.quality:
        parts.append("bad records are not counted on Athena (its JSON SerDe skips them)")
    if stats.query_id:
        parts.append(f"query id {stats.query_id}")
    err_console.print("[dim]" + escape(" · ".join(parts)) + "[/]", highlight=False)
    quality = stats.quality
    if quality is None:
        return
    if quality.misplaced:
        err_console.print(f"[yellow]{quality.misplaced} misplaced records[/]: their time lies outside their "
                          "partition's hour (beyond [service] lateness); no window counts them", highlight=False)
    for damaged in quality.damaged:
        lost = f", {damaged.lost} records lost" if damaged.lost else ""
        err_console.print(f"[yellow]damaged object[/] {escape(damaged.url)}: {damaged.problem}{lost} "
                          f"({escape(damaged.detail)})", highlight=False)
    for path in quality.unrecognised:
        err_console.print(f"[yellow]not an object of the layout[/], skipped: {escape(path)}", highlight=False)


def _output_options(func: Any) -> Any:
    func = click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the result to FILE.")(func)
    func = click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
                        help="Result format (parquet needs --output).")(func)
    func = click.option("--engine", type=click.Choice(["duckdb", "athena"]), default=None,
                        help="Engine (default: [engine] kind).")(func)
    func = click.option("--until", default="now", show_default=True, help="Window end: now, 2h (ago) or ISO 8601.")(func)
    func = click.option("--since", default=None,
                        help="Window start: 2h (ago) or ISO 8601 (default: the query's window back from --until).")(func)
    func = click.option("--force", is_flag=True, help="Read a window longer than [engine] max_window.")(func)
    return func


@click.group("query")
def query_group() -> None:
    """Saved queries (queries/*.sql): list, show, run, explain; or ad-hoc SQL."""


@query_group.command("list")
@pass_app
def list_cmd(app: AppContext) -> None:
    """List the saved queries."""
    from rich.table import Column, Table

    from logpipe.queries.catalog import query_catalog

    table = Table("description", "schedule", "params")
    table.columns.insert(0, Column("name", no_wrap=True))
    table.add_column("runs on", no_wrap=True)
    for name, entry in sorted(query_catalog(app.config).items()):
        params = ", ".join(f"{p}:{kind}" + ("*" if required else "") for p, kind, required in entry.params)
        table.add_row(name, entry.description, entry.schedule or "", params,
                      "athena only" if entry.athena_only else "both")
    console.print(table)


@query_group.command("show")
@click.argument("name")
@click.option("--duckdb", "as_duckdb", is_flag=True, help="Also show the DuckDB translation.")
@pass_app
def show_cmd(app: AppContext, name: str, as_duckdb: bool) -> None:
    """Show a saved query's header and SQL."""
    from rich.syntax import Syntax

    from logpipe.engines.transpile import parse, to_duckdb
    from logpipe.queries.loader import get_query

    query = get_query(app.config, name)
    console.print(f"[bold]{query.name}[/] — {query.description}", highlight=False)
    console.print(f"file: {query.path}", highlight=False)
    console.print(f"schedule: {query.schedule or '-'}    window: {query.window}", highlight=False)
    for p in query.params:
        extra = " (required)" if p.required else f" default={p.default!r}"
        choices = f" one of {'|'.join(p.choices)}" if p.choices else ""
        console.print(f"param {p.name}: {p.type}{choices}{extra} {p.description}", highlight=False)
    for m in query.metrics:
        console.print(f"metric {m.name}: column={m.column} unit={m.unit} dimensions={','.join(m.dimensions)}",
                      highlight=False)
    console.print(Syntax(query.sql, "sql", word_wrap=True))
    from logpipe.queries.runner import athena_only

    reason = athena_only(query)
    if reason:
        console.print(f"[yellow]Athena only:[/] {reason}", highlight=False)
    if as_duckdb and not reason:
        console.print("[bold]DuckDB:[/]")
        console.print(Syntax(to_duckdb(parse(query.sql), pretty=True), "sql", word_wrap=True))


@query_group.command("run")
@click.argument("name")
@click.option("--param", "-p", "params", multiple=True, metavar="NAME=VALUE", help="A parameter (repeatable).")
@_output_options
@pass_app
def run_cmd(app: AppContext, name: str, params: tuple[str, ...], since: str | None, until: str,
            engine: str | None, fmt: str, output: str | None, force: bool) -> None:
    """Run a saved query over a window and print the result."""
    from logpipe.queries.loader import get_query
    from logpipe.queries.runner import run_query

    query = get_query(app.config, name)
    start, end = _window(since, until, query.window)
    values = _params(params)
    result = _run_with_progress(lambda progress: run_query(app.config, query, start, end, values, engine, progress,
                                                           force=force))
    write_result(result, fmt, output, console, sys.stdout)
    _print_stats(result)


@query_group.command("sql")
@click.argument("sql_text", metavar="SQL")
@_output_options
@pass_app
def sql_cmd(app: AppContext, sql_text: str, since: str | None, until: str, engine: str | None,
            fmt: str, output: str | None, force: bool) -> None:
    """Run ad-hoc Athena-dialect SQL over the table ``logs`` ('-' reads it from stdin)."""
    from logpipe.queries.runner import run_sql

    if sql_text == "-":
        sql_text = sys.stdin.read()
    start, end = _window(since, until, "1h")
    result = _run_with_progress(lambda progress: run_sql(app.config, sql_text, start, end, engine, progress,
                                                         force=force))
    write_result(result, fmt, output, console, sys.stdout)
    _print_stats(result)


@query_group.command("explain")
@click.argument("name")
@click.option("--param", "-p", "params", multiple=True, metavar="NAME=VALUE", help="A parameter (repeatable).")
@click.option("--since", default=None, help="Window start (default: the query's window back from --until).")
@click.option("--until", default="now", show_default=True, help="Window end.")
@pass_app
def explain_cmd(app: AppContext, name: str, params: tuple[str, ...], since: str | None, until: str) -> None:
    """Show the partitions and bytes a query would scan, and what it would cost on Athena."""
    from rich.table import Table

    from logpipe.queries.loader import get_query
    from logpipe.queries.runner import explain_query

    query = get_query(app.config, name)
    start, end = _window(since, until, query.window)
    result = explain_query(app.config, query, start, end, _params(params))
    table = Table("partition", "objects", "bytes")
    for directory, count, size in result.partitions:
        table.add_row(directory, str(count), _human_bytes(size))
    console.print(table)
    console.print(f"window {result.window_start:%Y-%m-%dT%H:%M:%SZ} .. {result.window_end:%Y-%m-%dT%H:%M:%SZ}: "
                  f"{len(result.partitions)} partitions, {result.objects} objects, "
                  f"{_human_bytes(result.bytes_scanned)} ({result.bytes_scanned} bytes); "
                  f"on Athena about ${result.athena_cost_usd:.6f} ($5/TB, 10 MB minimum)", highlight=False)
    for warning in result.warnings:
        err_console.print(f"[yellow]warning:[/] {warning}", highlight=False)


commands = [query_group]

