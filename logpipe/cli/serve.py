"""``logpipe serve`` (the scheduler plus /healthz and /status) and ``logpipe run`` (every due window
of every job once, then exit: for an ECS scheduled task or cron)."""

from __future__ import annotations

import gc
import json

import click

from logpipe.cli.common import AppContext, console, escape, parse_time, pass_app, say, status
from logpipe.text import duration_text, plural


@click.command("serve")
@click.option("--port", type=int, default=None, help="HTTP port for /healthz, /status, /api and /ui (default: [service] port, 8080).")
@click.option("--host", default=None, help="Address to listen on (default: [service] host, 127.0.0.1).")
@click.option("--no-catch-up", is_flag=True, help="Wait for each job's schedule instead of running due windows at start.")
@pass_app
def serve_command(app: AppContext, port: int | None, host: str | None, no_catch_up: bool) -> None:
    """Run the scheduled jobs and serve /healthz, /status, the API and the console until SIGTERM or Ctrl-C."""
    import signal
    import threading

    from logpipe.web import require_web

    require_web("logpipe serve")
    from logpipe.service.scheduler import Service
    from logpipe.web.app import create_app
    from logpipe.web.context import Console
    from logpipe.web.server import WebServer

    config = app.config
    if not app.debug:
        from logpipe.service.observe import configure_logging

        configure_logging(config.service.log_format)
    service = Service(config)
    host = host or config.service.host
    port = config.service.port if port is None else port
    console = Console.served(config, service)
    server = WebServer(create_app(console), host, port, config.web)
    done = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        click.echo(f"received {signal.Signals(signum).name}: stopping", err=True)
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.start()
    service.start(catch_up=not no_catch_up)
    click.echo(f"logpipe serve: {len(service.jobs)} jobs ({', '.join(j.name for j in service.jobs)}); "
               f"health on {server.url}/healthz", err=True)
    if config.web.enabled:
        click.echo(f"console on {server.url}/ui/ and API on {server.url}/api/; access: {console.auth.describe()}",
                   err=True)
    try:
        while not done.wait(1.0):
            pass
    finally:
        clean = service.stop()
        server.close()
        console.close()
    if clean:
        click.echo("stopped cleanly", err=True)
    else:
        click.echo("stopped with a job still running: its window is redone on the next start", err=True)


@click.command("run")
@click.option("--job", "jobs", multiple=True, help="Only this job (repeatable); 'logpipe run --list' shows them.")
@click.option("--now", "now_text", default=None, help="Pretend the time is this (ISO 8601): for tests and backfills.")
@click.option("--list", "list_only", is_flag=True, help="List the scheduled jobs and their watermarks, run nothing.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@pass_app
def run_command(app: AppContext, jobs: tuple[str, ...], now_text: str | None, list_only: bool, fmt: str) -> None:
    """Run every due window of every scheduled job once, then exit (non-zero if any window failed)."""
    from logpipe.digest.model import iso
    from logpipe.service.jobs import JobRunner, build_jobs, select_jobs

    config = app.config
    selected = select_jobs(build_jobs(config), jobs)
    runner = JobRunner(config)
    if list_only:
        states = runner.watermarks.all()
        if fmt == "json":
            listed = []
            for job in selected:
                state = states.get(job.name)
                mark = state.watermark if state else None
                listed.append({"job": job.name, "schedule": job.schedule, "window": duration_text(job.window),
                               "watermark": iso(mark) if mark else None,
                               "last_error": state.last_error if state else None})
            click.echo(json.dumps(listed, indent=2))
            return
        from rich.table import Table

        table = Table()
        for column in ("job", "schedule", "window", "watermark", "last error"):
            table.add_column(column, overflow="fold")
        for job in selected:
            state = states.get(job.name)
            mark = state.watermark if state else None
            table.add_row(job.name, job.schedule, duration_text(job.window), iso(mark) if mark else "-",
                          (state.last_error or "") if state else "")
        console.print(table)
        return
    now = parse_time(now_text) if now_text else None
    # Window-major (JobRunner.run_cycle): the jobs' windows in time order, so each hour's objects are
    # read once into the object cache and every job's windows over them read them from there.
    # A one-shot process: what it has made so far (the modules it imported, the configuration, the
    # jobs) lives until it exits, and each full garbage collection of the cycle went through all of it
    # again (~30 ms of a 1-day cycle's Python). Moved out of the collector's sight for the cycle
    # (``gc.freeze``); ``serve``, which runs for good and keeps making garbage, does not do this.
    gc.freeze()
    try:
        with status(f"running {plural(len(selected), 'job')}"):
            reports = runner.run_cycle(selected, now)
    finally:
        gc.unfreeze()
    with status("flushing the outboxes"):
        flushed = runner.flush_outboxes()
    if fmt == "json":
        click.echo(json.dumps([r.to_dict() for r in reports], indent=2))
    else:
        # Job names never wrap (an 80-column terminal folds the text columns instead); a job's windows
        # with damaged data are one line (the first, and how many more), not one line per window.
        rows = []
        for r in reports:
            done = sum(1 for w in r.windows if w.ok)
            problem = r.error or next((f"{iso(w.start)}: {w.error}" for w in r.windows if not w.ok), "")
            if r.flush_errors:
                problem = (problem + "\n" if problem else "") + "queued for retry: " + "; ".join(r.flush_errors[:3])
            damaged = [w for w in r.windows if w.quality]
            quality = f"{iso(damaged[0].start)}: {damaged[0].quality}" if damaged else ""
            if len(damaged) > 1:
                quality += f" (and {plural(len(damaged) - 1, 'window')} more: --format json)"
            rows.append((r.job, str(done), str(sum(1 for w in r.windows if not w.ok)), str(r.backlog),
                         escape(problem), escape(quality)))
        from rich.table import Table

        table = Table()
        table.add_column("job", no_wrap=True)
        for column in ("done", "failed", "backlog"):
            table.add_column(column, justify="right", no_wrap=True)
        # the text columns only when a job has something to say in them
        texts = [i for i, column in ((4, "problem"), (5, "data quality")) if any(row[i] for row in rows)]
        for i in texts:
            table.add_column("problem" if i == 4 else "data quality", overflow="fold")
        for row in rows:
            table.add_row(*row[:4], *(row[i] for i in texts))
        console.print(table)
    pending = ", ".join(f"{channel} {n}" for channel, n in flushed.pending.items())
    say(f"outbox: {plural(flushed.sent_points, 'metric point')} and {plural(flushed.sent_digests, 'digest')} "
        f"sent; still pending: {pending}" + (" (retried on the next run)" if any(flushed.pending.values()) else ""))
    for error in flushed.errors[:5]:
        say(f"outbox: {error}", style="yellow")
    failed = [r.job for r in reports if r.failed]
    if failed:
        raise _failed(failed)


def _failed(jobs: list[str]) -> Exception:
    from logpipe.errors import LogpipeError

    return LogpipeError(f"{plural(len(jobs), 'job')} had a failed window: {', '.join(jobs)}; the watermark stays before "
                        "it, so the next run retries it ('logpipe run --list' shows the errors)")


commands = [serve_command, run_command]
