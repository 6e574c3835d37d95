"""``logpipe demo`` end to end: the product's main job on the embedded default."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_end_to_end(cli, tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    result = cli("demo", "--dir", str(folder), "--rate", "0.2", "--end", "2026-11-20T12:00:00Z")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "error digest 2026-11-20 00:00 .. 2026-11-20 12:00 UTC" in out
    assert "The simulator wrote" in out and "the engine could not read" in out
    assert "this window was already processed" not in out + result.stderr  # row 10 of issue 18

    # the report: self-contained HTML with real PNG charts
    html = (folder / "report.html").read_text()
    images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)
    assert images and all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert "errors_by_service" in html and "top_error_messages" in html

    # the digest as delivered: the deploy's new error is the new pattern in checkout
    slack = json.loads((folder / "digest-slack.json").read_text())
    assert 0 < len(slack["blocks"]) <= 50
    markdown = (folder / "digest.md").read_text()
    assert "Failed to apply promotion <*> to cart <*>: discount tier is null" in markdown
    assert "new error pattern in checkout" in markdown
    assert (folder / "digest.html").read_text().count("data:image/png") >= 1

    # the data is where the layout says, and a second demo in the same folder starts afresh
    objects = list((folder / "data" / "logs").glob("dt=2026-11-*/hour=*/*.gz"))
    assert len(objects) == 24 * 4
    again = cli("demo", "--dir", str(folder), "--rate", "0.05", "--end", "2026-11-20T12:00:00Z")
    assert again.exit_code == 0, again.stderr


def test_demo_refuses_a_folder_it_did_not_write(cli, tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.tex").write_text("precious")
    result = cli("demo", "--dir", str(folder))
    assert result.exit_code == 2
    assert "thesis.tex" in result.stderr and "Traceback" not in result.stderr
    assert (folder / "thesis.tex").read_text() == "precious"


def test_demo_rejects_bad_arguments(cli, tmp_path: Path) -> None:
    assert cli("demo", "--rate", "-1", "--dir", str(tmp_path / "d")).exit_code == 2
    bad_end = cli("demo", "--end", "yesterday-ish", "--dir", str(tmp_path / "d"))
    assert bad_end.exit_code == 2 and "is not a time" in bad_end.stderr


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from support.demo_state import shared_demo

    return shared_demo(tmp_path_factory.getbasetemp())


def test_report_shows_tables_as_html_and_explains_bad_lines(demo_folder: Path) -> None:
    """Issue 18, rows 3 and 12: tables were escaped HTML source; bad-line counts disagreed unexplained."""
    html = (demo_folder / "report.html").read_text()
    assert html.count('<table class="dataframe">') >= 10
    assert "&lt;table" not in html and "&lt;*&gt;" not in html.split('id="bad-lines"')[0]
    assert "<td>checkout</td>" in html or "<td>api-gateway</td>" in html
    said = re.search(r'id="bad-lines">The simulator wrote ([\d,]+) bad lines \(([^)]*)\); the engine could not read '
                     r'([\d,]+) lines of the day', html)
    assert said, html[html.find("bad-lines") - 50:html.find("bad-lines") + 600]
    written, kinds, unreadable = int(said[1].replace(",", "")), dict(k.rsplit(" ", 1) for k in said[2].split(", ")), \
        int(said[3].replace(",", ""))
    assert written == sum(int(n.replace(",", "")) for n in kinds.values())
    # the engine counts the lines the simulator made unreadable (wrong types are read; an oversized
    # line may still fit the engine's limit), and never more
    readable = int(kinds.get("wrong_types", "0").replace(",", ""))
    assert written - readable - int(kinds.get("too_large", "0").replace(",", "")) <= unreadable <= written - readable


def test_demo_history_has_hourly_points_and_a_config_to_reach_it(demo_folder: Path) -> None:
    """Row 5: every dashboard chart was one dot; the demo's state could not be found from the CLI."""
    from datetime import timedelta

    from support.demo_state import DEMO_END

    from logpipe.config import load_config
    from logpipe.metrics.history import series
    from logpipe.state.db import open_state

    config = load_config(str(demo_folder / "logpipe.toml"))
    assert config.store.root == str((demo_folder / "data").resolve())
    engine = open_state(config.state.url)
    start, end = DEMO_END - timedelta(hours=24), DEMO_END
    points = {metric: len(set(series(engine, metric, None, start, end + timedelta(hours=1),
                                      namespace=config.metrics.namespace)["timestamp"]))
              for metric in ("ErrorCount", "LogRecords", "Http5xxRate", "PatternCount")}
    assert points["ErrorCount"] == points["LogRecords"] == 24, points  # hour by hour
    assert points["Http5xxRate"] >= 20 and points["PatternCount"] >= 3, points  # detection in 3-hour windows
