"""``logpipe dashboard render / deploy``: the CloudWatch dashboard and alarms, or a local HTML one."""

from __future__ import annotations

import click

from logpipe.cli.common import AppContext, console, err_console, pass_app, window_from
from logpipe.errors import UsageError
from logpipe.text import plural


@click.group("dashboard")
def dashboard_group() -> None:
    """CloudWatch dashboard and alarms from the metric definitions; locally, an HTML dashboard."""


def _services(app: AppContext, given: tuple[str, ...]) -> list[str]:
    from logpipe.metrics.dashboard import known_services

    engine = None
    if not given:
        from pathlib import Path

        from sqlalchemy.engine import make_url

        url = make_url(app.config.state.url)
        if not (url.drivername.startswith("sqlite") and url.database and not Path(url.database).exists()):
            from logpipe.state.db import open_state

            engine = open_state(app.config.state.url)
    services = known_services(app.config, engine, given)
    if not services:
        raise UsageError("no services known for the alarms: pass --service NAME (repeatable), list them under "
                         "[firelens.services], or publish some metrics locally first")
    return services


def _render(app: AppContext, services: tuple[str, ...], account: str | None):  # type: ignore[no-untyped-def]
    from logpipe.metrics.dashboard import PLACEHOLDER_ACCOUNT, render
    from logpipe.queries.loader import load_queries
    from logpipe.service.jobs import build_jobs

    jobs = [(job.name, int(job.window.total_seconds())) for job in build_jobs(app.config)]
    return render(app.config, list(load_queries(app.config).values()), _services(app, services),
                  account or PLACEHOLDER_ACCOUNT, jobs)


def _print_timings(rendered) -> None:  # type: ignore[no-untyped-def]
    """Each alarm's period, the job behind its metric and how late it can fire."""
    from logpipe.metrics.dashboard import human

    # One plain line per alarm (not a table): greppable, and never folded in a narrow terminal.
    console.print("alarms: period and end-to-end delay (how long after a record its alarm can fire)",
                  highlight=False)
    for t in rendered.timings:
        console.print(f"  {t.alarm}: {t.metric} from {t.job}, period {human(t.period)}, fires up to "
                      f"{human(t.delay_seconds)} ({t.explanation})", highlight=False, soft_wrap=True, markup=False)
    actions = rendered.alarms[0].get("AlarmActions") if rendered.alarms else None
    if rendered.alarms and not actions:
        err_console.print("warning: the alarms have no actions and page nobody: set [alarms] actions "
                          "(SNS topic ARNs) or [alarms] create_topic = true", highlight=False, markup=False)


@dashboard_group.command("render")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="dashboard", show_default=True,
              help="Folder for dashboard.json and alarms.json (or index.html with --local).")
@click.option("--local", is_flag=True, help="Write an HTML dashboard from the local metric history instead.")
@click.option("--service", "services", multiple=True, help="A service to render alarms for (repeatable).")
@click.option("--account-id", default=None, help="AWS account for the alarm widget's ARNs (default: a placeholder).")
@click.option("--since", default="7d", show_default=True, help="--local: start of the history to draw.")
@click.option("--until", default="now", show_default=True, help="--local: end of the history to draw.")
@pass_app
def render_command(app: AppContext, out_dir: str, local: bool, services: tuple[str, ...], account_id: str | None,
                   since: str, until: str) -> None:
    """Write the CloudWatch dashboard body and alarm definitions as JSON (or, with --local, HTML)."""
    from pathlib import Path

    if local:
        from logpipe.metrics.dashboard import render_local_html
        from logpipe.state.db import open_state

        start, end = window_from(since, until)
        with err_console.status("drawing charts"):
            path = render_local_html(app.config, open_state(app.config.state.url), Path(out_dir) / "index.html",
                                     start, end)
        console.print(f"wrote {path}", highlight=False, markup=False)
        return
    from logpipe.metrics.dashboard import write

    rendered = _render(app, services, account_id)
    _print_timings(rendered)
    for path in write(rendered, out_dir):
        console.print(f"wrote {path}", highlight=False, markup=False)
    console.print(f"{plural(len(rendered.body['widgets']), 'widget')}, {plural(len(rendered.alarms), 'alarm')}", highlight=False)


@dashboard_group.command("deploy")
@click.option("--service", "services", multiple=True, help="A service to create alarms for (repeatable).")
@pass_app
def deploy_command(app: AppContext, services: tuple[str, ...]) -> None:
    """Apply the dashboard (PutDashboard) and alarms (PutMetricAlarm) to CloudWatch."""
    from logpipe.metrics.dashboard import account_id, deploy

    rendered = _render(app, services, account_id(app.config))
    with err_console.status("deploying dashboard and alarms"):
        applied = deploy(app.config, rendered)
    for item in applied:
        console.print(f"applied {item}", highlight=False, markup=False)


commands = [dashboard_group]
