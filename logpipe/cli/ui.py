"""``logpipe ui``: the web console on a laptop, over the demo's folder and state (the embedded default)."""

from __future__ import annotations

from pathlib import Path

import click

from logpipe.cli.common import AppContext, err_console, pass_app


@click.command("ui")
@click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path), default=Path("logpipe-demo"),
              show_default=True, help="The demo folder whose store and state the console opens.")
@click.option("--from-config", is_flag=True, help="Open the configured store and state instead of the demo's.")
@click.option("--port", type=int, default=8787, show_default=True, help="Port on the host (0: any free port).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (keep it loopback on a laptop).")
@click.option("--no-browser", is_flag=True, help="Print the address instead of opening a browser.")
@click.option("--no-demo", is_flag=True, help="Fail instead of running the demo when its folder has no state yet.")
@pass_app
def ui_command(app: AppContext, folder: Path, from_config: bool, port: int, host: str, no_browser: bool,
               no_demo: bool) -> None:
    """Open the web console (saved queries, patterns, digests, dashboards) on this machine.

    It signs you in with a one-time token in the address it opens; other users of the machine cannot
    use the console without it. Ad-hoc SQL is on here (off by default under ``logpipe serve``).
    """
    import secrets
    import threading
    import webbrowser

    from logpipe.web import require_web

    require_web("logpipe ui")
    from logpipe.demo import demo_config
    from logpipe.errors import UsageError
    from logpipe.web.app import create_app
    from logpipe.web.auth import Authenticator
    from logpipe.web.context import Console
    from logpipe.web.server import WebServer

    config = app.config
    if not from_config:
        if not (folder / "state.db").exists():
            if no_demo:
                raise UsageError(f"{folder} holds no demo state: run 'logpipe demo --dir {folder}' first")
            from logpipe.cli.demo import run_demo_with_progress

            err_console.print(f"{folder} has no demo yet: running 'logpipe demo' first", markup=False)
            run_demo_with_progress(config, folder)
        config = demo_config(config, folder)
    token = secrets.token_urlsafe(24)
    console = Console(config, Authenticator(config.web, config.aws.region, local_token=token), adhoc_sql=True,
                      local=True)
    server = WebServer(create_app(console), host, port, config.web).start()
    url = f"{server.url}/ui/login?token={token}"
    err_console.print(f"logpipe console on {server.url}/ui/ (store {config.store.root}); open:\n{url}\nCtrl-C stops it.",
                      highlight=False, soft_wrap=True, markup=False)
    if not no_browser:
        webbrowser.open(url)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        console.close()


commands = [ui_command]
