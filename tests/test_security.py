"""Security suite, secrets: a corpus of 50+ kinds and shapes run through every output path.

The corpus (``tests/support/secrets_corpus.py``) is written into a store as ERROR records that repeat
each secret unchanged (the case that used to make a secret a constant token of its template), over
three hours, with one service named by an email. Then the product runs as a user would: ``detect``,
``digest`` in every format and ``--send`` (files and the body actually POSTed to a Slack stand-in),
``logpipe run`` (the scheduled jobs: metrics into the local sink, kept query results, findings, the
digest job), ``patterns list/show/mine``, ``query run`` over every shipped query, ``query sql`` and
the console's pattern API. No secret may appear in any of those outputs, nor in any row of any
table of the state database (Parquet results decoded). The counts are printed (``-s``) for the
issue's note: secrets tried / leaked.

Also here: the migration that re-redacts a state database written before redaction was part of
masking (templates with a secret as a constant token), and that the re-redacted pattern keeps its id.
"""

from __future__ import annotations

import io
import json
import shutil
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, select, text

from logpipe.patterns import TemplateMiner, mask
from logpipe.queries.loader import SHIPPED_DIR
from logpipe.redact import redact
from tests.conftest import Cli
from tests.support.detectors import DAY0, HOUR, write_hour
from tests.support.secrets_corpus import CORPUS, SERVICE_SECRET

SECRETS = [secret for _kind, _message, secret in CORPUS] + [SERVICE_SECRET]


def test_the_corpus_has_forty_kinds_or_more() -> None:
    assert len({kind for kind, _m, _s in CORPUS}) >= 40
    for _kind, message, secret in CORPUS:
        assert secret in message


@pytest.mark.parametrize(("kind", "message", "secret"), CORPUS, ids=[k for k, _m, _s in CORPUS])
def test_masked_in_templates_and_redacted_in_text(kind: str, message: str, secret: str) -> None:
    miner = TemplateMiner()
    templates = {miner.add(message).template for _ in range(5)}  # repeated unchanged: still a variable
    templates.add(miner.add("7 " + message).template)
    assert all(secret not in t for t in templates), templates
    assert secret not in mask(message)
    assert secret not in redact(message)


# ---- end to end ---------------------------------------------------------------------------------


class SlackStandIn:
    """A webhook that keeps every body POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.bodies.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/services/T0/B0/hook"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _records() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for _kind, message, _secret in CORPUS:
        out += [{"service": "checkout", "level": "ERROR", "message": message}] * 3
    out += [{"service": SERVICE_SECRET, "level": "ERROR", "message": "payment declined for order 42"}] * 3
    out += [{"service": "checkout", "level": "INFO", "message": f"order {i} placed"} for i in range(20)]
    return out


def _parquet_text(data: bytes) -> str:
    import pyarrow.parquet as pq

    try:
        return json.dumps(pq.read_table(io.BytesIO(data)).to_pylist(), default=str)
    except Exception:
        return data.decode("utf-8", "replace")


def dump_state(url: str) -> dict[str, str]:
    """Every row of every table of the state database, as text per table (Parquet decoded)."""
    engine = create_engine(url)
    out: dict[str, str] = {}
    with engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            rows = conn.execute(text(f'SELECT * FROM "{table}"')).all()
            out[table] = "\n".join(" | ".join(_parquet_text(v) if isinstance(v, bytes) else str(v) for v in row)
                                   for row in rows)
    engine.dispose()
    return out


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Run every output path once over the corpus; ``{where: text}`` of everything shown or stored."""
    tmp = tmp_path_factory.mktemp("secrets")
    slack = SlackStandIn()
    out_dir = tmp / "out"
    config_path = tmp / "logpipe.toml"
    config_path.write_text(f"""
[store]
root = "{tmp}/store"
cache_dir = "{tmp}/cache"
[state]
url = "sqlite:///{tmp}/state.db"
[detectors]
warmup_hours = 0
[service]
window = "1h"
lateness = "10m"
first_run_backfill = "3h"
[digest]
window = "1h"
schedule = "0 * * * *"
delivery_backoff_seconds = 0.01
[[digest.destinations]]
kind = "file"
path = "{out_dir}/md/"
format = "md"
[[digest.destinations]]
kind = "file"
path = "{out_dir}/html/"
format = "html"
[[digest.destinations]]
kind = "file"
path = "{out_dir}/slack/"
format = "slack"
[[digest.destinations]]
kind = "file"
path = "{out_dir}/text/"
format = "text"
[[digest.destinations]]
kind = "slack"
webhook_url_env = "SECURITY_SLACK_URL"
""")
    from logpipe.config import load_config

    config = load_config(config_path)
    for h in range(3):
        write_hour(config, DAY0 + h * HOUR, _records())
    workdir = tmp / "cwd"
    workdir.mkdir()
    mp = pytest.MonkeyPatch()
    mp.chdir(workdir)
    mp.setenv("SECURITY_SLACK_URL", slack.url)
    cli = Cli(workdir, mp)
    since, until = DAY0.isoformat(), (DAY0 + 3 * HOUR).isoformat()
    seen: dict[str, str] = {}

    def run(*argv: str, stdin: str | None = None, config_file: Path = config_path) -> None:
        result = cli("--config", str(config_file), *argv, input=stdin)
        seen[" ".join(argv)[:80]] = f"{result.exit_code}\n{result.stdout}\n{result.stderr}"

    try:
        run("detect", "--since", since, "--until", until)
        for fmt in ("md", "html", "slack", "text"):
            run("digest", "--since", since, "--until", until, "--format", fmt, "--no-learn")
        run("digest", "--since", since, "--until", until, "--send", "--no-learn")
        # the scheduled jobs (metrics into the local sink, findings, the digest job) over the last
        # hour, with the service's three queries (every shipped one runs through 'query run' below)
        qdir = tmp / "service-queries"
        qdir.mkdir()
        for name in ("errors_by_service", "error_shapes", "records_by_service"):
            shutil.copy(SHIPPED_DIR / f"{name}.sql", qdir / f"{name}.sql")
        service_config = tmp / "service.toml"
        service_config.write_text(config_path.read_text().replace('first_run_backfill = "3h"', 'first_run_backfill = "1h"')
                                  + f'[queries]\ndirs = ["{qdir}"]\ninclude_shipped = false\n')
        run("run", "--now", (DAY0 + 3 * HOUR + timedelta(minutes=15)).isoformat(), config_file=service_config)
        run("patterns", "list", "--limit", "500")
        from logpipe.patterns.store import PatternStore

        ids = [r.pattern_id for r in PatternStore.from_config(config).list()]
        assert ids, "the detectors learned no pattern"
        for pid in ids:
            run("patterns", "show", pid)
        lines = "\n".join(m.replace("\n", " ") for _k, m, _s in CORPUS) + "\n"
        run("patterns", "mine", "-", stdin=lines * 3)
        run("patterns", "mine", "--summary", "-", stdin=lines * 3)
        from logpipe.queries.loader import load_queries

        for query in load_queries(config).values():
            if any(p.required for p in query.params):
                continue
            run("query", "run", query.name, "--since", since, "--until", until, "--format", "json")
        run("query", "sql", "SELECT service, message FROM logs", "--since", since, "--until", until,
            "--format", "csv")
        # the console's pattern page (examples, services) and the lines it links to (pattern_lines)
        from logpipe.detectors.lines import pattern_shapes
        from logpipe.queries.runner import run_query
        from tests.support.web import get_json, start_console

        server, _console = start_console(config, local_token="t0ken-for-the-test")
        try:
            for pid in ids[:5]:
                seen[f"api pattern {pid}"] = json.dumps(get_json(f"{server.url}/api/patterns/{pid}",
                                                                 "t0ken-for-the-test"))
                found = pattern_shapes(config, pid, DAY0, DAY0 + 3 * HOUR)
                if found.ids:
                    frame = run_query(config, found.query, DAY0, DAY0 + 3 * HOUR, found.params()).frame
                    seen[f"pattern_lines {pid}"] = frame.to_csv()
        finally:
            server.close()
        for path in sorted(out_dir.rglob("*")):
            if path.is_file():
                seen[f"file {path.relative_to(out_dir)}"] = path.read_text(encoding="utf-8", errors="replace")
        for i, body in enumerate(slack.bodies):
            seen[f"slack post {i}"] = body.decode("utf-8", "replace")
        for table, rows in dump_state(config.state.url).items():
            seen[f"table {table}"] = rows
        yield seen
    finally:
        mp.undo()
        slack.close()


@pytest.mark.slow  # every output path once over the corpus: ~30 s on 2 idle cores
def test_no_secret_in_any_output_or_stored_row(outputs: dict[str, str]) -> None:
    leaks = {secret: sorted(where for where, shown in outputs.items() if secret in shown) for secret in SECRETS}
    leaked = {s: w for s, w in leaks.items() if w}
    print(f"\nsecrets tried: {len(SECRETS)} across {len(outputs)} outputs and tables; leaked: {len(leaked)}")
    assert leaked == {}


@pytest.mark.slow
def test_the_outputs_are_real(outputs: dict[str, str]) -> None:
    """The paths above ran and showed the lines (redacted): a check that cannot pass on empty output."""
    assert any(k.startswith("slack post") for k in outputs), "nothing was POSTed to the Slack stand-in"
    for fmt in ("md", "html", "slack", "text"):
        assert any(k.startswith(f"file {fmt}/") for k in outputs), f"no {fmt} digest file"
    assert "<redacted:" in outputs["table pattern_examples"]
    assert "Login failed for <*>" in outputs["table patterns"]
    assert "<redacted:email>" in outputs["table metric_points"] or "<redacted:email>" in outputs["table service_counts"]
    assert any("<redacted:" in shown for k, shown in outputs.items() if k.startswith("query run"))
    assert any("<redacted:email>" in shown for k, shown in outputs.items() if k.startswith("query sql"))
    assert all(shown.startswith("0\n") for k, shown in outputs.items()
               if k.startswith(("detect", "digest", "patterns", "query", "run"))), \
        {k: v[:300] for k, v in outputs.items() if k.startswith(("detect", "digest", "patterns", "query", "run"))
         and not v.startswith("0\n")}


# ---- the migration ----------------------------------------------------------------------------------


def test_migration_re_redacts_what_an_older_version_stored(tmp_path: Path) -> None:
    from sqlalchemy import insert

    from logpipe.patterns.miner import pattern_id_for
    from logpipe.state.db import migrate, open_state
    from logpipe.state.tables import (
        findings,
        outbox,
        pattern_counts,
        pattern_examples,
        pattern_miner_state,
        patterns,
    )

    url = f"sqlite:///{tmp_path}/state.db"
    engine = open_state(url)
    migrate(engine, "0005", downgrade=True)
    old_template = "Using AWS key AKIAIOSFODNN7EXAMPLE for user alice.smith@example.com <*>"
    old_id = pattern_id_for(old_template)
    old_miner = TemplateMiner()
    old_miner._add_masked("x", old_template)  # what an older miner learned (no secret masking)
    state = old_miner.to_state()
    assert state["patterns"][0]["pattern_id"] == old_id
    with engine.begin() as conn:
        conn.execute(insert(patterns), [{"pattern_id": old_id, "template": old_template, "status": "new",
                                         "first_seen_ms": 0, "last_seen_ms": 1, "total": 3}])
        conn.execute(insert(pattern_examples), [
            {"pattern_id": old_id, "digest": f"d{i}", "service": "svc", "seen_ms": 0,
             "line": f"Using AWS key AKIAIOSFODNN7EXAMPLE for user alice.smith@example.com {i} password=letmein"}
            for i in range(2)])
        conn.execute(insert(pattern_counts), [
            {"pattern_id": old_id, "service": SERVICE_SECRET, "hour_ms": 0, "n": 2},
            {"pattern_id": old_id, "service": redact(SERVICE_SECRET), "hour_ms": 0, "n": 1}])
        conn.execute(insert(pattern_miner_state), [{"name": "default", "version": 1, "state": json.dumps(state)}])
        conn.execute(insert(findings), [{"finding_id": "f1", "window_start_ms": 0, "window_end_ms": 1, "kind": "new",
                                         "severity": "warning", "service": "svc", "pattern_id": old_id,
                                         "title": f"new error pattern: {old_template}",
                                         "body": json.dumps({"samples": ["password=letmein"]}), "created_ms": 0}])
        conn.execute(insert(outbox), [{"channel": "digest", "target": "slack:X", "item_key": "digest:w", "kind": "slack",
                                       "job": "digest", "seq": 0, "size": 1, "state": "sent", "attempts": 1,
                                       "payload": json.dumps({"message": {"text": old_template}}),
                                       "created_ms": 0, "updated_ms": 0}])
    migrate(engine)
    stored = dump_state(url)
    everything = "\n".join(stored.values())
    for secret in ("AKIAIOSFODNN7EXAMPLE", "alice.smith@example.com", "letmein", SERVICE_SECRET):
        assert secret not in everything
    with engine.connect() as conn:
        assert conn.execute(select(patterns.c.pattern_id, patterns.c.template)).all() == [
            (old_id, "Using AWS key <*> for user <*> <*>")]
        # the two examples differed only by a number: both kept, redacted
        assert len(conn.execute(select(pattern_examples.c.line)).all()) == 2
        # the service rows merged into the redacted name, counts added
        assert conn.execute(select(pattern_counts.c.service, pattern_counts.c.n)).all() == [
            (redact(SERVICE_SECRET), 3)]
        saved = json.loads(conn.execute(select(pattern_miner_state.c.state)).scalar_one())
    # a new line of the pattern lands on its old id, with the template mining makes now
    miner = TemplateMiner.from_state(saved)
    result = miner.add("Using AWS key AKIAIOSFODNN7EXAMPLE for user bob@example.com 17")
    assert (result.pattern_id, result.template) == (old_id, "Using AWS key <*> for user <*> <*>")
    engine.dispose()
