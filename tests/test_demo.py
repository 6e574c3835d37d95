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
    result = cli("demo", "--dir", str(folder), "--rate", "0.4", "--end", "2026-11-20T12:00:00Z")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "error digest 2026-11-20 00:00 .. 2026-11-20 12:00 UTC" in out
    assert "bad records were counted and skipped" in out

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
    again = cli("demo", "--dir", str(folder), "--rate", "0.2", "--end", "2026-11-20T12:00:00Z")
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
