"""``logpipe infra render / deploy``: the CloudFormation stacks from the config file."""

from __future__ import annotations

import click

from logpipe.cli.common import AppContext, console, err_console, pass_app


@click.group("infra")
def infra_group() -> None:
    """CloudFormation stacks: stateful (bucket, Glue, Athena) and stateless (Firehose, IAM)."""


@infra_group.command("render")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="infra", show_default=True,
              help="Folder to write stateful.yaml and stateless.yaml into.")
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
@pass_app
def render(app: AppContext, out_dir: str, fmt: str) -> None:
    """Write both templates from logpipe.toml ([infra], [store], [engine], [firelens], [metrics])."""
    from logpipe.infra.render import write_templates

    for path in write_templates(app.config, out_dir, fmt):
        console.print(f"wrote {path}", highlight=False, markup=False)


@infra_group.command("deploy")
@click.option("--stack", "which", type=click.Choice(["all", "stateful", "stateless"]), default="all",
              show_default=True, help="Which stack to deploy; 'all' deploys stateful first.")
@click.option("--poll-seconds", type=click.FloatRange(min=0.0), default=5.0, show_default=True,
              help="How often to check the stack's status while waiting.")
@click.option("--timeout", "timeout_seconds", type=click.FloatRange(min=1.0), default=3600.0, show_default=True,
              help="Give up waiting after this many seconds.")
@click.option("--no-named-queries", "sync_queries", flag_value=False, default=True,
              help="Do not sync the saved queries into Athena as named queries after the stateful stack.")
@pass_app
def deploy(app: AppContext, which: str, poll_seconds: float, timeout_seconds: float, sync_queries: bool) -> None:
    """Create or update the stacks with change sets and wait; "no changes" is fine.

    AWS credentials and region come from the usual places (environment, profile, role); the
    endpoint from AWS_ENDPOINT_URL when set. On failure, the failed resources and CloudFormation's
    reasons are printed.
    """
    from logpipe.infra.deploy import cloudformation_client, config_snippet, deploy_all
    from logpipe.infra.render import render_templates, stack_names, template_body

    config = app.config
    rendered = render_templates(config)
    templates = {kind: template_body(t) for kind, t in rendered.items()}
    kinds = ("stateful", "stateless") if which == "all" else (which,)
    cfn = cloudformation_client(config.aws.region)
    with err_console.status("deploying") as status:
        results = deploy_all(templates, stack_names(config), kinds=kinds, cfn=cfn, poll_seconds=poll_seconds,
                             timeout_seconds=timeout_seconds, rendered=rendered,
                             on_status=lambda text: status.update(text))
    outputs: dict[str, str] = {}
    for result in results:
        console.print(f"{result.stack_name}: {result.action} ({result.status})", highlight=False, markup=False)
        for key, value in sorted(result.outputs.items()):
            console.print(f"  {key} = {value}", highlight=False, markup=False, soft_wrap=True)
        outputs.update(result.outputs)
    snippet = config_snippet(outputs)
    if snippet:
        console.print("\nPut these into logpipe.toml (from the stack outputs):\n" + snippet,
                      highlight=False, markup=False, soft_wrap=True)
    if "stateful" in kinds and sync_queries:
        _sync_named_queries(app)


def _sync_named_queries(app: AppContext) -> None:
    from logpipe.infra.athena import sync_named_queries, workgroup_name

    with err_console.status("syncing the Athena named queries"):
        report = sync_named_queries(app.config)
    console.print(f"named queries in workgroup {workgroup_name(app.config)}: {len(report.created)} created, "
                  f"{len(report.updated)} updated, {len(report.deleted)} deleted, {len(report.unchanged)} unchanged",
                  highlight=False, markup=False, soft_wrap=True)


@infra_group.command("named-queries")
@click.option("--show", is_flag=True, help="Print the named queries' SQL instead of syncing them.")
@pass_app
def named_queries_command(app: AppContext, show: bool) -> None:
    """Sync the saved queries into the Athena workgroup as named queries (PREFIX-NAME), reading the
    stack's logs view; stale ones are deleted. `infra deploy` does this after the stateful stack."""
    if show:
        from logpipe.infra.athena import named_queries

        for query in named_queries(app.config):
            console.print(f"-- named query {query.name} (database {query.database})\n{query.sql};\n",
                          highlight=False, markup=False, soft_wrap=True)
        return
    _sync_named_queries(app)




commands = [infra_group]
