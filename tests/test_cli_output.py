"""Output conventions of the command line: rich markup never eats text, counts agree with their
nouns, durations read as they are typed, listings speak JSON, a result's format follows its file."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest
from rich.errors import StyleSyntaxError
from rich.style import Style

PACKAGE = Path(__file__).resolve().parents[1] / "logpipe"
# Everything that prints through a rich console.
PRINTING = [*sorted((PACKAGE / "cli").glob("*.py")), PACKAGE / "report" / "terminal.py",
            PACKAGE / "digest" / "render_text.py"]
SAFE_CALLS = {"escape", "len", "sum", "plural", "duration_text", "plural_word"}


def _unsafe_interpolations(path: Path) -> list[str]:
    """``console.print(f"...{value}...")`` with markup on, where ``value`` is neither escaped, nor
    formatted as a number or date (a format spec), nor a count: text like ``[service]`` in it would
    be taken for markup and vanish."""
    problems = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("print", "status", "update", "rule", "log")):
            continue
        if any(k.arg == "markup" and isinstance(k.value, ast.Constant) and k.value.value is False
               for k in node.keywords):
            continue
        for arg in node.args:
            for value in ast.walk(arg):
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    for tag in re.findall(r"(?<!\\)\[([^\[\]/]+)\]", value.value):
                        try:
                            Style.parse(tag)
                        except StyleSyntaxError:  # not a style: rich would drop "[tag]" from the text
                            problems.append(f"{path.relative_to(PACKAGE.parent)}:{value.lineno}: [{tag}]")
                if not isinstance(value, ast.FormattedValue):
                    continue
                if value.format_spec is not None:
                    continue
                inner = value.value
                if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name) and inner.func.id in SAFE_CALLS:
                    continue
                problems.append(f"{path.relative_to(PACKAGE.parent)}:{value.lineno}: {ast.unparse(inner)}")
    return problems


def test_every_interpolation_printed_with_markup_is_escaped() -> None:
    problems = [p for path in PRINTING for p in _unsafe_interpolations(path)]
    assert not problems, "escape these (rich.markup.escape) or print with markup=False:\n" + "\n".join(problems)


def test_plural_and_duration_words() -> None:
    from datetime import timedelta

    from logpipe.text import duration_text, plural

    assert [plural(n, "spike") for n in (0, 1, 2)] == ["0 spikes", "1 spike", "2 spikes"]
    assert plural(1204, "record") == "1,204 records" and plural(2, "batch") == "2 batches"
    assert plural(2, "error-rate breach", "error-rate breaches") == "2 error-rate breaches"
    assert [duration_text(timedelta(seconds=s)) for s in (90, 900, 3600, 86400, 7 * 86400)] == [
        "90s", "15m", "1h", "24h", "7d"]


def _digest(kinds: list[str]) -> object:
    from datetime import UTC, datetime, timedelta

    from logpipe.digest.model import Digest, DigestFinding, ServiceErrors

    t0 = datetime(2026, 11, 20, tzinfo=UTC)
    return Digest(title="errors", window_start=t0, window_end=t0 + timedelta(hours=12), generated_at=t0,
                  engine="duckdb", services=[ServiceErrors("payments", 1, 2204)],
                  findings=[DigestFinding(k, "warning", f"a {k}", "payments", None, [], "logpipe query run x")
                            for k in kinds], top_patterns=[])


@pytest.mark.parametrize(("kinds", "headline"), [
    (["error_rate"], "1 error (previous 12h: 2,204), 1 error-rate breach"),
    (["new_pattern", "new_pattern", "spike", "error_spike", "regression"],
     "1 error (previous 12h: 2,204), 2 new patterns, 2 spikes, 1 regression"),
    ([], "1 error (previous 12h: 2,204), no findings"),
])
def test_digest_headline_counts_each_kind_in_its_own_words(kinds: list[str], headline: str) -> None:
    """Row 11: an error-rate warning was counted as "1 spikes and regressions"."""
    import io

    from rich.console import Console

    from logpipe.digest.render_html import render_html
    from logpipe.digest.render_md import render_markdown
    from logpipe.digest.render_slack import render_slack
    from logpipe.digest.render_text import render_text

    digest = _digest(kinds)
    assert f"{digest.errors_text()}, {digest.counts_text()}" == headline  # type: ignore[attr-defined]
    out = io.StringIO()
    render_text(digest, Console(file=out, width=200))  # type: ignore[arg-type]
    assert headline in out.getvalue()
    assert headline in render_markdown(digest)  # type: ignore[arg-type]
    assert headline.replace(", ", " · ", 1).replace(", ", " · ") in render_slack(digest)["blocks"][1]["text"]["text"]  # type: ignore[arg-type]
    assert "spikes and regressions" not in render_html(digest)  # type: ignore[arg-type]
    assert "1 spikes" not in digest.subject()  # type: ignore[attr-defined]


def test_errors_keep_their_bracketed_section_names(cli) -> None:
    """Row 4: rich markup ate ``[section]`` names in error lines."""
    code, _, err = cli("dashboard", "render", "--out", "dash")
    assert code == 2 and "list them under [firelens.services]" in err, err
    (cli.cwd / "logpipe.toml").write_text('[queries]\ndirs = ["./nope"]\n', encoding="utf-8")
    code, _, err = cli("query", "list")
    assert code != 0 and err.startswith("error: [queries] dirs:") and "nope" in err, err
    (cli.cwd / "logpipe.toml").unlink()
    code, _, err = cli("digest", "--since", "1h", "--send")
    assert code != 0 and "add [[digest.destinations]]" in err, err


def _seed(cwd: Path) -> None:
    import json
    from datetime import UTC, datetime, timedelta

    from logpipe.config import StoreConfig
    from logpipe.store import Store, gzip_lines

    store = Store(StoreConfig(root=str(cwd / "logpipe-data")))
    now = datetime.now(UTC) - timedelta(minutes=1)
    lines = [json.dumps({"time": now.isoformat(), "service": s, "level": "ERROR", "message": f"id {i} [x] broke"}
                        ).encode() for i, s in enumerate(["api", "api", "web"])]
    store.write_object(store.layout.object_key(now), gzip_lines(lines))


def test_output_format_follows_the_file_suffix(cli) -> None:
    """Row 8: ``-o out.json`` wrote CSV."""
    import json

    _seed(cli.cwd)
    code, _, err = cli("query", "run", "errors_by_service", "-o", "out.json")
    assert code == 0, err
    rows = [json.loads(line) for line in (cli.cwd / "out.json").read_text().splitlines()]
    assert sorted((r["service"], r["errors"]) for r in rows) == [("api", 2), ("web", 1)]
    code, _, err = cli("query", "run", "errors_by_service", "-o", "out.md")
    assert code == 0 and (cli.cwd / "out.md").read_text().startswith("| hour | service | errors |")
    code, _, err = cli("query", "run", "errors_by_service", "-o", "out.parquet")
    assert code == 0 and (cli.cwd / "out.parquet").read_bytes()[:4] == b"PAR1"
    code, _, err = cli("query", "run", "errors_by_service", "-o", "out.csv", "--format", "json")
    assert code == 0 and (cli.cwd / "out.csv").read_text().startswith("{")  # an explicit --format wins
    code, _, err = cli("query", "run", "errors_by_service", "-o", "out.xlsx")
    assert code == 2 and "cannot tell the format of out.xlsx" in err and "--format" in err
    assert not (cli.cwd / "out.xlsx").exists()


def test_query_list_as_json_for_scripts(cli) -> None:
    """Row 9: ``query list --format json`` did not exist."""
    import json

    code, out, err = cli("query", "list", "--format", "json")
    assert code == 0, err
    listed = {q["name"]: q for q in json.loads(out)}
    trace = listed["trace_lines"]
    assert [p["name"] for p in trace["params"] if p["required"]] == ["id"]
    assert listed["errors_by_service"]["window"] == "1h" and listed["errors_by_service"]["schedule"]
    assert {"name": "ErrorCount", "column": "errors", "unit": "Count", "dimensions": ["service"]} in \
        listed["errors_by_service"]["metrics"]


def test_query_show_and_run_list_read_as_typed(cli) -> None:
    """Row 14: ``default=None``; windows as ``1 day, 0:00:00``; names wrapped at 80 columns."""
    code, out, err = cli("query", "show", "top_error_messages")
    assert code == 0, err
    assert "default=None" not in out and "(optional)" in out
    code, out, err = cli("run", "--list")
    assert code == 0, err
    assert "day," not in out and "0:00:00" not in out and " 1h " in out and " 24h " in out
    code, out, err = cli("query", "list")
    assert code == 0, err
    assert max(len(line) for line in out.splitlines()) <= 80
    names = [line.split("│")[1].strip() for line in out.splitlines() if line.startswith("│")]
    assert {"errors_by_service", "http_status_latency", "top_error_messages"} <= set(names)


def test_digest_send_without_destinations_fails_before_printing(cli) -> None:
    """Row 17: ``digest --send`` with no destinations printed the whole digest, then the error."""
    code, out, err = cli("digest", "--since", "1h", "--send")
    assert code != 0 and out == "" and err.startswith("error: no digest destinations"), (out, err)
    assert not (cli.cwd / "logpipe-state.db").exists()  # nothing was built or learned
    (cli.cwd / "logpipe.toml").write_text('[[digest.destinations]]\nkind = "file"\nname = "f"\npath = "d.md"\n'
                                          'format = "md"\n', encoding="utf-8")
    code, out, err = cli("digest", "--since", "1h", "--send")
    assert code == 0, err
    assert out == "" and "delivered to" in err and (cli.cwd / "d.md").read_text().startswith("# ")


def test_state_database_errors_are_one_line(cli) -> None:
    """Row 15: SQLAlchemy's statement, parameters and "Background on this error" link were printed."""
    import sqlite3

    (cli.cwd / "bad.db").write_bytes(b"not a database, " * 512)
    code, _, err = cli("patterns", "list", env={"LOGPIPE_STATE_URL": "sqlite:///bad.db"})
    assert code != 0 and len(err.strip().splitlines()) == 1, err
    assert "file is not a database" in err and "Background on this error" not in err

    # a failure in the middle of a command (a table gone under a migrated database): still one line
    url = "sqlite:///broken.db"
    assert cli("patterns", "list", env={"LOGPIPE_STATE_URL": url}).exit_code == 0
    with sqlite3.connect(cli.cwd / "broken.db") as conn:
        conn.execute("DROP TABLE patterns")
    code, _, err = cli("patterns", "list", env={"LOGPIPE_STATE_URL": url})
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert "no such table: patterns" in err and "[SQL:" not in err and "sqlalche.me" not in err
    assert "LOGPIPE_STATE_URL" in err and "--debug" in err


def test_a_missing_store_is_named_and_store_points_elsewhere(cli) -> None:
    """Row 1: the tour simulated into ./logs and queried ./logpipe-data: an empty table, no warning."""
    code, _, err = cli("simulate", "--hours", "2", "--rate", "0.1", "--out", "./logs")
    assert code == 0, err
    code, out, err = cli("query", "run", "errors_by_service", "--since", "6h", "--format", "json")
    assert code == 0 and out == ""
    assert "warning: no logs at logpipe-data/logs (the folder does not exist)" in " ".join(err.split()), err
    code, out, err = cli("--store", "./logs", "query", "run", "errors_by_service", "--since", "6h", "--format", "json")
    assert code == 0 and out.count("\n") >= 5 and "warning" not in err, err


@pytest.mark.parametrize("terminal", [True, False])
def test_stage_progress_shows_known_totals_on_a_terminal_and_log_lines_otherwise(terminal: bool) -> None:
    """Row 10: the demo's bars showed ``0/None``, and nothing at all with output to a file."""
    import io

    from rich.console import Console

    from logpipe.cli.common import stage_progress

    buffer = io.StringIO()
    out = Console(file=buffer, force_terminal=terminal, width=100)
    with stage_progress({"sim": "Simulating [a day]", "query": "Running queries"}, out, every_seconds=3600) as tick:
        for done in range(25):
            tick("sim", done, 24)
        tick("query", 0, 13)
        tick("query", 13, 13)
        tick("query", 13, 13)
    text = buffer.getvalue()
    assert "None" not in text
    if terminal:
        assert "24/24" in text and "13/13" in text and "Simulating [a day]" in text
    else:  # one line when a stage starts and one when it completes, never repeated
        assert text.splitlines() == [
            "Simulating [a day]: 0/24 (0 s)", "Simulating [a day]: 24/24 done (0 s)",
            "Running queries: 0/13 (0 s)", "Running queries: 13/13 done (0 s)"]


def _complete(cli, words: str) -> list[str]:
    """What bash completion offers after ``logpipe WORDS`` (click's own protocol, in-process)."""
    code, out, err = cli([], env={"_LOGPIPE_COMPLETE": "bash_complete", "COMP_WORDS": f"logpipe {words}",
                                  "COMP_CWORD": str(len(words.split(" ")))})
    assert code == 0, err
    return [line.split(",", 1)[1] for line in out.splitlines() if "," in line]


def test_shell_completion_of_query_names_parameters_and_pattern_ids(cli) -> None:
    """Row 19: completion was undocumented and completed no query names, parameters or pattern ids."""
    assert "errors_by_service" in _complete(cli, "query run err")
    assert set(_complete(cli, "query run top_error_messages --param ")) >= {"service="}
    assert _complete(cli, "query run trace_lines -p ") == ["id=", "limit="]
    assert _complete(cli, "query run trace_lines -p i") == ["id="]
    assert _complete(cli, "patterns show ") == []  # no state database yet: nothing, and none created
    assert not (cli.cwd / "logpipe-state.db").exists()
    from logpipe.config import Config
    from logpipe.patterns.store import PatternStore

    config = Config.model_validate({"state": {"url": f"sqlite:///{cli.cwd / 'logpipe-state.db'}"}})
    PatternStore.from_config(config)  # an empty store: completes nothing, fails nothing
    assert _complete(cli, "patterns mute ") == []
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert 'eval "$(_LOGPIPE_COMPLETE=bash_source logpipe)"' in readme


def test_listings_speak_json(cli) -> None:
    import json

    code, out, err = cli("patterns", "list", "--format", "json")
    assert code == 0 and json.loads(out) == [], err
    code, out, err = cli("run", "--list", "--format", "json")
    assert code == 0, err
    jobs = {j["job"]: j for j in json.loads(out)}
    assert jobs["query:errors_by_service"]["window"] == "1h" and jobs["query:errors_by_service"]["watermark"] is None


def test_the_run_report_keeps_job_names_whole_at_80_columns(cli) -> None:
    """``logpipe run``'s table: job names never fold mid-word; the text columns appear when a job has
    something to say (an empty store: none)."""
    code, out, err = cli("run", "--now", "2026-03-01T05:30:00Z")
    assert code == 0, err
    assert max(len(line) for line in out.splitlines()) <= 80
    names = [line.split("│")[1].strip() for line in out.splitlines() if line.startswith("│")]
    assert {"query:errors_by_service", "query:http_status_latency", "detect", "digest"} <= set(names)
    assert "problem" not in out and "data quality" not in out and " done " in out


def test_logpipe_run_keeps_what_it_made_before_its_cycle_out_of_the_collector_for_the_cycle(cli, monkeypatch) -> None:
    """A one-shot ``logpipe run`` freezes its objects for the cycle (gc.freeze: its full collections
    then only go through the cycle's own objects) and lets go of the freeze when the cycle ends, also
    when it fails (an in-process caller, like these tests, collects as before)."""
    import gc

    from logpipe.service.jobs import JobRunner

    frozen: list[int] = []
    real = JobRunner.run_cycle

    def run_cycle(self: JobRunner, *args: Any, **kwargs: Any) -> Any:
        frozen.append(gc.get_freeze_count())
        return real(self, *args, **kwargs)

    monkeypatch.setattr(JobRunner, "run_cycle", run_cycle)
    before = gc.get_freeze_count()
    code, _out, err = cli("run", "--now", "2026-03-01T05:30:00Z")
    assert code == 0, err
    assert frozen and frozen[0] > before and gc.get_freeze_count() == before

    def failing(self: JobRunner, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the state database went away")

    monkeypatch.setattr(JobRunner, "run_cycle", failing)
    code, _out, _err = cli("run", "--now", "2026-03-01T05:30:00Z")
    assert code != 0 and gc.get_freeze_count() == before


def test_metrics_cost_names_every_metric_whole_at_80_columns(cli) -> None:
    """A metric name is what an alarm is written against: never folded or cut with an ellipsis."""
    code, out, err = cli("metrics", "cost")
    assert code == 0, err
    assert max(len(line) for line in out.splitlines()) <= 80 and "…" not in out
    code, listed, err = cli("metrics", "cost", "--format", "json")
    assert code == 0, err
    names = [m["name"] for m in json.loads(listed)["metrics"]]
    shown = {line.split("│")[1].strip() for line in out.splitlines() if line.startswith("│")}
    assert "DatadogForwardedRecords" in names and set(names) <= shown


@pytest.mark.parametrize(("environ", "tty", "plain"), [
    ({}, False, True), ({}, True, False), ({"FORCE_COLOR": "1"}, False, False), ({"FORCE_COLOR": ""}, True, True),
    ({"TTY_COMPATIBLE": "0", "FORCE_COLOR": "1"}, True, True), ({"TTY_COMPATIBLE": "1"}, False, False),
    ({"TTY_COMPATIBLE": "x"}, False, True),
])
def test_plainly_piped_agrees_with_rich(monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], tty: bool,
                                        plain: bool) -> None:
    """``say`` writes without rich only where rich's own console would not style: the two agree."""
    import io

    from rich.console import Console

    from logpipe.cli.common import plainly_piped

    class Stream(io.StringIO):
        def isatty(self) -> bool:
            return tty

    for name in ("TTY_COMPATIBLE", "FORCE_COLOR", "NO_COLOR", "JUPYTER_COLUMNS", "JPY_PARENT_PID"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    stream = Stream()
    assert plainly_piped(stream) is plain
    assert Console(file=stream).is_terminal is not plain


def test_say_writes_plain_text_on_a_pipe_and_styles_it_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import sys

    from rich.console import Console

    from logpipe.cli.common import LazyConsole, say

    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    piped = io.StringIO()
    monkeypatch.setattr(sys, "stderr", piped)
    text = "3 rows · scanned [1.2 MB] · bad records 2 (not_json=2)"
    lazy = LazyConsole(stderr=True)
    say(text, "dim", lazy)  # type: ignore[arg-type]
    assert piped.getvalue() == text + "\n" and lazy._console is None  # rich never made
    terminal = Console(file=io.StringIO(), force_terminal=True, width=40)
    say(text, "dim", terminal)
    assert terminal.file.getvalue() == f"\x1b[2m{text}\x1b[0m\n"  # whole (no wrap), markup-like text kept


def test_rich_widgets_get_the_console_a_lazy_console_stands_for(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a terminal the progress widgets (a Status, a Progress) draw on the rich console itself."""
    import io
    import sys

    from rich.console import Console

    from logpipe.cli import common, query
    from logpipe.cli.common import LazyConsole, rich_console, stage_progress

    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    lazy = LazyConsole(stderr=True)
    assert lazy.is_terminal and isinstance(rich_console(lazy), Console)  # type: ignore[arg-type]
    assert rich_console(lazy) is rich_console(lazy)  # type: ignore[arg-type]
    monkeypatch.setattr(query, "err_console", lazy)
    monkeypatch.setattr(common, "err_console", lazy)
    assert query._run_with_progress(lambda progress: progress("reading") or "done") == "done"
    with stage_progress({"scan": "scanning"}) as tick:
        tick("scan", 1, 2)
    drawn = sys.stderr.getvalue()
    assert "reading" in drawn and "scanning" in drawn and "1/2" in drawn  # both drawn on stderr, styled
    assert "\x1b[" in drawn
