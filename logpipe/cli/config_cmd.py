"""``logpipe config show``: the effective configuration, secrets hidden."""

from __future__ import annotations

import json

import click

from logpipe.cli.common import AppContext, console, pass_app
from logpipe.config import redact_config


@click.group("config")
def config_group() -> None:
    """Inspect the configuration."""


@config_group.command("show")
@click.option("--format", "fmt", type=click.Choice(["toml", "json"]), default="toml", show_default=True)
@pass_app
def show(app: AppContext, fmt: str) -> None:
    """Print the effective config (file, environment overrides, defaults), secrets hidden."""
    config = app.config
    data = redact_config(config.model_dump(mode="json", exclude_none=True))
    if fmt == "json":
        click.echo(json.dumps(data, indent=2))
        return
    console.print(f"# from {config.source}", highlight=False, markup=False)
    click.echo(_to_toml(data))


def _to_toml(data: dict, prefix: str = "") -> str:
    """A small TOML writer for our config shape (tables of scalars, lists and nested tables)."""
    scalars, tables = [], []
    for key, value in data.items():
        if isinstance(value, dict) or (isinstance(value, list) and value and all(isinstance(v, dict) for v in value)):
            tables.append((key, value))
        else:
            scalars.append(f"{key} = {json.dumps(value)}")
    out = "\n".join(scalars)
    for key, value in tables:
        name = f"{prefix}{key}"
        if isinstance(value, list):
            for item in value:
                out += f"\n\n[[{name}]]\n" + _to_toml(item, name + ".")
        else:
            out += f"\n\n[{name}]\n" + _to_toml(value, name + ".")
    return out.strip("\n")


commands = [config_group]
