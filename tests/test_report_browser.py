"""The demo's ``report.html`` and the local HTML dashboard in a real headless Chromium (Debian's,
driven by Playwright), screenshotted into ``$CONSOLE_SCREENSHOTS`` (default: under the run's tmp):
the saved queries' results render as tables (not escaped HTML source) and every chart image loads.
That the charts hold curves, not single dots, is held on the data (``tests/test_demo.py``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from support.browser import CHROMIUM_ARGS, ensure_chromium
from support.demo_state import DEMO_END, run_root, shared_demo

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    executable = ensure_chromium(run_root(tmp_path_factory.getbasetemp()))
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        yield context.new_page()
        context.close()
        chromium.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _images_loaded(page: Any) -> list[int]:
    return page.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")


def test_report_shows_tables_and_charts(page: Any, shots: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    demo = shared_demo(tmp_path_factory.getbasetemp())
    page.goto((demo / "report.html").resolve().as_uri())
    page.screenshot(path=str(shots / "report.png"), full_page=True)
    tables = page.locator("table.dataframe")
    assert tables.count() >= 10
    assert page.locator("table.dataframe tbody tr").count() >= 20  # rows, rendered as rows
    body = page.inner_text("body")
    assert "<table" not in body and "&lt;" not in body  # no HTML source shown as text
    widths = _images_loaded(page)
    assert len(widths) >= 2 and all(w > 300 for w in widths), widths


def test_local_dashboard_draws_every_metric(page: Any, shots: Path, tmp_path_factory: pytest.TempPathFactory,
                                            tmp_path: Path) -> None:
    from logpipe.config import load_config
    from logpipe.metrics.dashboard import render_local_html
    from logpipe.state.db import open_state

    demo = shared_demo(tmp_path_factory.getbasetemp())
    config = load_config(str(demo / "logpipe.toml"))
    out = render_local_html(config, open_state(config.state.url), tmp_path / "index.html",
                            DEMO_END - timedelta(days=2), DEMO_END + timedelta(hours=1))
    page.goto(out.resolve().as_uri())
    page.screenshot(path=str(shots / "local-dashboard.png"), full_page=True)
    headings = page.locator("h2").all_inner_texts()
    assert {"ErrorCount", "LogRecords", "Http5xxRate", "LatencyP95"} <= set(headings)
    widths = _images_loaded(page)
    assert len(widths) == len(headings) and all(w > 300 for w in widths), widths
