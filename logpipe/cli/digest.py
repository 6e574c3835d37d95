"""``logpipe digest``: the error digest of a window, printed, written to a file, or delivered."""

from __future__ import annotations

import json

import click

from logpipe.cli.common import AppContext, console, err_console, pass_app, warn_if_no_store, window_from

FORMATS = ["text", "md", "html", "slack"]


@click.command("digest")
@click.option("--since", default=None, help="Window start: a duration back (24h, 7d) or ISO 8601 (default: [digest] window back).")
@click.option("--until", default="now", show_default=True, help="Window end (exclusive).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="text (terminal), md, html (mail clients; charts inline) or slack (Block Kit JSON). "
                   "Default: text, or from the --output suffix.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None, help="Write to this file instead of stdout.")
@click.option("--send", is_flag=True, help="Deliver to every [[digest.destinations]] (exactly once per window); "
              "prints the digest only with --format or --output.")
@click.option("--no-learn", is_flag=True, help="Leave the pattern store as it is.")
@click.option("--force", is_flag=True, help="Read a window longer than [engine] max_window.")
@pass_app
def digest_command(app: AppContext, since: str | None, until: str, fmt: str | None, output: str | None,
                   send: bool, no_learn: bool, force: bool) -> None:
    """Build the error digest of a window: errors per service against the previous period, new patterns,
    spikes, the top patterns with a trend chart each, samples and the query that shows each finding."""
    from pathlib import Path

    from logpipe.digest.build import build_digest
    from logpipe.errors import DeliveryError, UsageError

    config = app.config
    start, end = window_from(since or config.digest.window, until)
    from logpipe.queries.runner import check_window

    check_window(config, start, end, force)
    if send and not config.digest.destinations:
        from logpipe.digest.deliver import no_destinations

        raise no_destinations()  # before the digest is built and printed, not after
    warn_if_no_store(config)
    shown = not send or fmt is not None or output is not None  # --send alone delivers, it does not print
    if fmt is None:
        suffix = Path(output).suffix.lower() if output else ""
        fmt = {".html": "html", ".htm": "html", ".md": "md", ".json": "slack"}.get(suffix, "md" if output else "text")
    with err_console.status(f"building the digest {start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} UTC"):
        digest = build_digest(config, start, end, learn=not no_learn, charts=fmt == "html" or send)
    if not shown:
        pass
    elif fmt == "text" and not output:
        from logpipe.digest.render_text import render_text

        render_text(digest, console)
    else:
        text = _render(digest, fmt)
        if output:
            try:
                Path(output).parent.mkdir(parents=True, exist_ok=True)
                Path(output).write_text(text, encoding="utf-8")
            except OSError as exc:
                raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
            err_console.print(f"wrote the {fmt} digest to {output}", highlight=False, markup=False)
        else:
            click.echo(text, nl=False)
    if send:
        from logpipe.digest.deliver import deliver_now

        with err_console.status("delivering"):
            report = deliver_now(config, digest, job="digest:manual")
        for line in report.sent:
            err_console.print(f"delivered to {line}", highlight=False, markup=False)
        if not report.sent and report.ok:
            err_console.print("already delivered to every destination for this window (the ledger says so)",
                              highlight=False)
        if report.failed:
            raise DeliveryError("digest delivery failed for " + "; ".join(report.failed.values())
                                + " (kept in the outbox: 'logpipe digest --send' or the next scheduled run retries it)")


def _render(digest, fmt: str) -> str:  # type: ignore[no-untyped-def]
    if fmt == "html":
        from logpipe.digest.render_html import render_html

        return render_html(digest)
    if fmt == "slack":
        from logpipe.digest.render_slack import render_slack, validate_blocks

        payload = render_slack(digest)
        problems = validate_blocks(payload)
        if problems:  # our renderer's bug, not the user's: say so plainly
            from logpipe.errors import LogpipeError

            raise LogpipeError("the Slack message breaks Block Kit limits: " + "; ".join(problems[:5]))
        return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"
    if fmt == "text":
        from logpipe.digest.deliver import render_text_plain

        return render_text_plain(digest)
    from logpipe.digest.render_md import render_markdown

    return render_markdown(digest)


commands = [digest_command]
