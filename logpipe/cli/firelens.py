"""``logpipe firelens render``: the FireLens router files for a service, from ``[firelens]``."""

from __future__ import annotations

from pathlib import Path

import click

from logpipe.cli.common import AppContext, console, err_console, pass_app
from logpipe.errors import UsageError


@click.group("firelens")
def firelens_group() -> None:
    """The FireLens (Fluent Bit) log router: configs, parsers, Lua filters, task definitions."""


@firelens_group.command("render")
@click.option("--service", "services", multiple=True, metavar="NAME",
              help="Service to render (repeatable). With no [firelens.services] in the config, any name "
                   "gets the defaults.")
@click.option("--all", "render_all", is_flag=True, help="Render every service in [firelens.services].")
@click.option("--out", "out", type=click.Path(file_okay=False), default=None,
              help="Output folder (default ./firelens-out/NAME; with several services, OUT/NAME).")
@pass_app
def render(app: AppContext, services: tuple[str, ...], render_all: bool, out: str | None) -> None:
    """Write fluent-bit.conf, parsers, Lua filters and task-definition.json for a service."""
    from logpipe.firelens.render import render_service, service_names

    config = app.config
    names = list(services)
    if render_all:
        if names:
            raise UsageError("give either --service NAME or --all, not both")
        names = service_names(config)
        if not names:
            raise UsageError("--all needs services in the firelens.services table of the config; "
                             "with none configured, use --service NAME to render the defaults")
    if not names:
        raise UsageError("name the service: --service NAME (or --all for every configured service)")
    several = len(names) > 1
    # Render every service before writing anything: a bad name leaves no half-written output.
    for rendered in [render_service(config, name) for name in names]:
        base = Path("firelens-out") if out is None else Path(out)
        target = base / rendered.service if (out is None or several) else base
        for path in rendered.write(target):
            console.print(f"wrote {path}", highlight=False, markup=False)
        console.print(f"{rendered.service}: rendered for Fluent Bit {rendered.fluent_bit_version}",
                      highlight=False, markup=False)
        for warning in rendered.warnings:
            err_console.print(f"warning: {rendered.service}: {warning}", highlight=False, markup=False)


commands = [firelens_group]
