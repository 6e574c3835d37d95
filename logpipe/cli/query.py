"""``logpipe query list / show / run / sql / explain``: the saved queries from the terminal.

Results go to stdout (table, csv, json, markdown, or parquet into a file); progress and stats go to
stderr so ``logpipe query run x --format csv > out.csv`` stays clean.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from typing import Any

import click

from logpipe.cli.common import (
    AppContext,
    complete_param,
    complete_query_name,
    console,
    err_console,
    escape,
    format_for,
    pass_app,
    print_json,
    rich_console,
    say,
    warn_if_no_store,
    window_from,
)
from logpipe.cli.results import write_result
from logpipe.errors import QueryError, UsageError
from logpipe.text import duration_text, plural

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
    """Run ``work(progress)`` under a spinner with the elapsed time and the engine's state (on a
    terminal: elsewhere a spinner shows nothing, and its refresh thread and imports are not paid)."""
    if not err_console.is_terminal:
        return work(None)  # no progress to show: the engine polls nothing (DuckDB's query_progress)
    from rich.status import Status

    started = time.monotonic()
    state = {"text": "starting"}
    with Status("running", console=rich_console(err_console)) as status:
        def progress(text: str) -> None:
            state["text"] = text
            status.update(f"{escape(text)} [dim]({time.monotonic() - started:.1f}s)[/]")

        return work(progress)


def _print_stats(result: Any) -> None:
    stats = result.stats
    bad = sum(stats.bad_records.values())
    reasons = ", ".join(f"{k}={v}" for k, v in sorted(stats.bad_records.items()))
    parts = [plural(result.num_rows, "row"), f"engine {stats.engine}", f"scanned {_human_bytes(stats.bytes_scanned)}"]
    if stats.engine == "duckdb":
        parts.append(plural(stats.files_scanned, "object"))
    parts.append(f"{stats.engine_ms / 1000:.2f}s")
    parts.append(f"cost ${stats.cost_usd:.6f}")
    parts.append(f"bad records {bad}" + (f" ({reasons})" if reasons else ""))
    if stats.engine == "duckdb":
        parts.append(f"misplaced {stats.misplaced_records}")
    elif not stats.quality:
        parts.append("bad records are not counted on Athena (its JSON SerDe skips them)")
    if stats.query_id:
        parts.append(f"query id {stats.query_id}")
    say(" · ".join(parts), "dim")
    quality = stats.quality
    if quality is None:
        return
    if quality.misplaced:
        err_console.print(f"[yellow]{plural(quality.misplaced, 'misplaced record')}[/]: their time lies outside their "
                          "partition's hour (beyond \\[service] lateness); no window counts them", highlight=False)
    for damaged in quality.damaged:
        lost = f", {plural(damaged.lost, 'record')} lost" if damaged.lost else ""
        err_console.print(f"[yellow]damaged object[/] {escape(damaged.url)}: {escape(damaged.problem + lost)} "
                          f"({escape(damaged.detail)})", highlight=False)
    for path in quality.unrecognised:
        err_console.print(f"[yellow]not an object of the layout[/], skipped: {escape(path)}", highlight=False)


def _param_detail(p: Any) -> str:
    """`` one of a|b (required)`` or `` (default 24h)``: nothing when there is no default to show."""
    choices = f" one of {'|'.join(p.choices)}" if p.choices else ""
    if p.required:
        return f"{choices} (required)"
    if p.default is None:
        return f"{choices} (optional)"
    from datetime import timedelta

    from logpipe.cli.results import _cell

    default = duration_text(p.default) if isinstance(p.default, timedelta) else _cell(p.default)
    return f"{choices} (default {default})"


def _output_options(func: Any) -> Any:
    func = click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the result to FILE.")(func)
    func = click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
                        help="Result format (default: from the --output suffix, else table; parquet needs --output).")(func)
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


def _param_json(p: Any) -> dict[str, Any]:
    from logpipe.cli.results import _json_value

    default = None if p.default is None else json.loads(_json_value(p.default))
    return {"name": p.name, "type": p.type, "required": p.required, "default": default,
            "choices": list(p.choices) if p.choices else None, "description": p.description}


@query_group.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="json: one object per query (name, description, schedule, window, params, metrics, engines).")
@pass_app
def list_cmd(app: AppContext, fmt: str) -> None:
    """List the saved queries."""
    from rich.table import Table

    from logpipe.queries.catalog import query_catalog

    if fmt == "json":  # everything a script may need, so from the files themselves (not the catalogue)
        from logpipe.queries.loader import load_queries
        from logpipe.queries.runner import athena_only

        print_json([{"name": name, "description": q.description, "schedule": q.schedule, "window": q.window,
                     "params": [_param_json(p) for p in q.params],
                     "metrics": [{"name": m.name, "column": m.column, "unit": m.unit, "dimensions": list(m.dimensions)}
                                 for m in q.metrics],
                     "engines": ["athena"] if athena_only(q) else ["duckdb", "athena"], "path": str(q.path)}
                    for name, q in sorted(load_queries(app.config).items())])
        return
    # At 80 columns the name never wraps; the description takes what is left and wraps at words.
    table = Table()
    table.add_column("name", no_wrap=True)
    table.add_column("description", ratio=1, min_width=20)
    table.add_column("window", no_wrap=True)
    table.add_column("params")
    broken: list[str] = []  # one broken file does not hide the others: listed, then named, exit 1
    for name, entry in sorted(query_catalog(app.config, broken).items()):
        params = ", ".join(p + ("*" if required else "") for p, _kind, required in entry.params)
        description = entry.description.split(": ")[0].split(". ")[0]
        if entry.athena_only:
            description += " (Athena only)"
        table.add_row(escape(name), escape(description), entry.window, escape(params))
    console.print(table)
    err_console.print("[dim]* required parameter; 'logpipe query show NAME' for the whole description, types and "
                      "metrics; --format json for scripts[/]", highlight=False)
    if broken:
        for error in broken:
            err_console.print(f"error: {error}", markup=False, highlight=False, style="red", soft_wrap=True)
        raise QueryError(f"{plural(len(broken), 'saved query file')} could not be loaded (above); fix or remove "
                         f"{'it' if len(broken) == 1 else 'them'}: 'logpipe run' and 'serve' refuse to start with one")


@query_group.command("show")
@click.argument("name", shell_complete=complete_query_name)
@click.option("--duckdb", "as_duckdb", is_flag=True, help="Also show the DuckDB translation.")
@pass_app
def show_cmd(app: AppContext, name: str, as_duckdb: bool) -> None:
    """Show a saved query's header and SQL."""
    from rich.syntax import Syntax

    from logpipe.engines.transpile import parse, to_duckdb
    from logpipe.queries.loader import get_query

    query = get_query(app.config, name)
    console.print(f"[bold]{escape(query.name)}[/] — {escape(query.description)}", highlight=False)
    console.print(f"file: {query.path}", highlight=False, markup=False)
    console.print(f"schedule: {query.schedule or '-'}    window: {query.window}", highlight=False, markup=False)
    for p in query.params:
        console.print(f"param {p.name}: {p.type}{_param_detail(p)} {p.description}".rstrip(), highlight=False,
                      markup=False)
    for m in query.metrics:
        console.print(f"metric {m.name}: column={m.column} unit={m.unit} dimensions={','.join(m.dimensions)}",
                      highlight=False, markup=False)
    console.print(Syntax(query.sql, "sql", word_wrap=True))
    from logpipe.queries.runner import athena_only

    reason = athena_only(query)
    if reason:
        console.print(f"[yellow]Athena only:[/] {escape(reason)}", highlight=False)
    if as_duckdb and not reason:
        console.print("[bold]DuckDB:[/]")
        console.print(Syntax(to_duckdb(parse(query.sql), pretty=True), "sql", word_wrap=True))


@query_group.command("run")
@click.argument("name", shell_complete=complete_query_name)
@click.option("--param", "-p", "params", multiple=True, metavar="NAME=VALUE", help="A parameter (repeatable).",
              shell_complete=complete_param)
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
    fmt = format_for(fmt, output)
    warn_if_no_store(app.config)
    # text formats take DuckDB's Python values when the columns allow it (no pyarrow in the process)
    result = _run_with_progress(lambda progress: run_query(app.config, query, start, end, values, engine, progress,
                                                           force=force, rows=fmt != "parquet"))
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
    fmt = format_for(fmt, output)
    warn_if_no_store(app.config)
    result = _run_with_progress(lambda progress: run_sql(app.config, sql_text, start, end, engine, progress,
                                                         force=force, rows=fmt != "parquet"))
    write_result(result, fmt, output, console, sys.stdout)
    _print_stats(result)


@query_group.command("explain")
@click.argument("name", shell_complete=complete_query_name)
@click.option("--param", "-p", "params", multiple=True, metavar="NAME=VALUE", help="A parameter (repeatable).",
              shell_complete=complete_param)
@click.option("--since", default=None, help="Window start (default: the query's window back from --until).")
@click.option("--until", default="now", show_default=True, help="Window end.")
@click.option("--engine", type=click.Choice(["duckdb", "athena"]), default=None,
              help="The engine to explain for (default: [engine] kind): Athena's cost, or what DuckDB reads.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@pass_app
def explain_cmd(app: AppContext, name: str, params: tuple[str, ...], since: str | None, until: str,
                engine: str | None, fmt: str) -> None:
    """Show the partitions and bytes a query would scan, and what it would cost on Athena."""
    from rich.table import Table

    from logpipe.queries.loader import get_query
    from logpipe.queries.runner import athena_only, explain_query

    query = get_query(app.config, name)
    start, end = _window(since, until, query.window)
    engine = engine or app.config.engine.kind
    warn_if_no_store(app.config)
    result = explain_query(app.config, query, start, end, _params(params))
    warnings = list(result.warnings)
    reason = athena_only(query)
    if engine == "duckdb" and reason:
        warnings.insert(0, f"query '{query.name}' runs on Athena only ({reason}): explained for Athena's cost")
    if fmt == "json":
        print_json({"query": query.name, "engine": engine, "window_start": result.window_start,
                    "window_end": result.window_end, "objects": result.objects, "bytes": result.bytes_scanned,
                    "athena_cost_usd": result.athena_cost_usd, "bounded": result.bounded,
                    "partitions": [{"partition": d, "objects": n, "bytes": b} for d, n, b in result.partitions],
                    "compacted": {"hours": result.compacted_hours, "days": result.compacted_days, "duckdb_bytes": result.compacted_bytes,
                                  "athena_bytes": result.athena_compacted_bytes,
                                  "athena_cost_usd": result.athena_compacted_cost_usd, "columns": list(result.columns)},
                    "warnings": warnings})
        return
    table = Table()
    table.add_column("partition", no_wrap=True, overflow="ellipsis")
    table.add_column("objects", justify="right", no_wrap=True)
    table.add_column("bytes", justify="right", no_wrap=True)
    for directory, count, size in result.partitions:
        table.add_row(escape(directory), f"{count:,}", _human_bytes(size))
    console.print(table)
    scanned = (f"{plural(len(result.partitions), 'partition')}, {plural(result.objects, 'object')}, "
               f"{_human_bytes(result.bytes_scanned)} ({result.bytes_scanned:,} bytes)")
    cost = f"about ${result.athena_cost_usd:.6f} ($5/TB, 10 MB minimum)"
    if engine == "athena":
        summary = f"Athena would scan {scanned}: {cost}"
    else:
        summary = f"DuckDB reads {scanned}; the same on Athena costs {cost}"
    console.print(f"window {result.window_start:%Y-%m-%dT%H:%M:%SZ} .. {result.window_end:%Y-%m-%dT%H:%M:%SZ} "
                  f"({duration_text(result.window_end - result.window_start)}): {summary}", highlight=False,
                  markup=False)
    if result.compacted_hours:
        days = f" ({plural(result.compacted_days, 'whole day')} from day files)" if result.compacted_days else ""
        console.print(f"compacted: {result.compacted_hours} hours read as Parquet{days}: DuckDB reads "
                      f"{_human_bytes(result.compacted_bytes)} ({result.compacted_bytes:,} bytes); Athena on the "
                      f"Parquet table scans about {_human_bytes(result.athena_compacted_bytes)} "
                      f"({result.athena_compacted_bytes:,} bytes: columns {', '.join(result.columns) or 'none'}), "
                      f"about ${result.athena_compacted_cost_usd:.6f}", highlight=False, markup=False)
    else:
        console.print("compacted: no hour of the window is compacted yet ('logpipe compact')", highlight=False,
                      markup=False)
    for warning in warnings:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)


commands = [query_group]

