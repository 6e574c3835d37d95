"""The console in a real headless Chromium (Debian's, driven by Playwright) on the demo's data: run a
saved query with parameters and see the table and chart; download CSV; open a pattern, follow its
link and see exactly its lines; mute it; view a digest; zoom a dashboard chart. Every page is
screenshotted into ``$CONSOLE_SCREENSHOTS`` (default: a folder under the test run's tmp)."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from support.browser import CHROMIUM_ARGS, ensure_chromium
from support.demo_state import run_root, shared_demo
from support.web import start_console

pytestmark = pytest.mark.slow

TOKEN = "browser-test-token-0123456789abcdef"
SINCE, UNTIL = "2026-11-19T12:00:00Z", "2026-11-20T12:00:00Z"
WAIT = 120_000  # ms: generous, the machine is shared


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The console over a private copy of the shared demo (this module mutes a pattern)."""
    from logpipe.config import Config
    from logpipe.demo import demo_config

    folder = tmp_path_factory.mktemp("browser") / "demo"
    shutil.copytree(shared_demo(tmp_path_factory.getbasetemp()), folder)
    server, console = start_console(demo_config(Config(), folder), local_token=TOKEN, adhoc_sql=True)
    yield server.url
    server.close()
    console.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    executable = ensure_chromium(run_root(tmp_path_factory.getbasetemp()))
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, site: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True,
                                  base_url=site)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/ui/login?token=" + TOKEN)  # the link logpipe ui opens: signs in, drops the token
    assert "/ui/" in page.url and "token" not in page.url
    yield page
    context.close()
    assert errors == [], errors  # no JavaScript error on any page


def test_run_a_saved_query_with_parameters_see_table_and_chart_and_download_csv(page: Any, shots: Path) -> None:
    page.goto("/ui/queries")
    page.screenshot(path=str(shots / "01-queries.png"), full_page=True)
    page.click("text=errors_by_service")
    page.fill("input[name='since']", SINCE)
    page.fill("input[name='until']", UNTIL)
    page.fill("input[name='p.service']", "checkout")
    page.click("#explain")
    page.wait_for_selector("#explain-out >> text=MB to scan", timeout=WAIT)
    page.click("#run-button")
    page.wait_for_selector("#run[data-done]", timeout=WAIT)
    rows = page.locator("#result-table tbody tr")
    assert rows.count() > 10
    services = page.locator("#result-table tbody tr td:nth-child(2)").all_inner_texts()
    assert set(services) == {"checkout"}
    assert page.locator("#chart[data-ready='yes'] canvas").count() == 1
    assert "p.service=checkout" in page.url and "run=1" in page.url  # the URL reproduces the run
    # sort by errors, descending: the table reorders in place
    page.click("#result-table th:has-text('errors')")
    page.click("#result-table th:has-text('errors')")
    counts = [int(x) for x in page.locator("#result-table tbody tr td:nth-child(3)").all_inner_texts()]
    assert counts == sorted(counts, reverse=True)
    page.screenshot(path=str(shots / "02-query-run.png"), full_page=True)

    with page.expect_download(timeout=WAIT) as info:
        page.click("#dl-csv")
    download = info.value
    assert download.suggested_filename.startswith("errors_by_service-") and download.suggested_filename.endswith(".csv")
    table = list(csv.reader(io.StringIO(Path(download.path()).read_text())))
    assert table[0] == ["hour", "service", "errors"] and len(table) == rows.count() + 1
    assert sorted(int(r[2]) for r in table[1:]) == sorted(counts)

    # the reproducible URL, opened fresh, shows the same result
    again = page.url
    page.goto(again)
    page.wait_for_selector("#run[data-done]", timeout=WAIT)
    assert page.locator("#result-table tbody tr").count() == len(table) - 1


def test_open_a_pattern_follow_its_link_see_exactly_its_lines_and_mute_it(page: Any, shots: Path) -> None:
    page.goto("/ui/patterns")
    page.screenshot(path=str(shots / "03-patterns.png"), full_page=True)
    page.click("#patterns a:has-text('Failed to apply promotion')")
    page.wait_for_selector("#hourly[data-ready='yes']", timeout=WAIT)
    expect(page.locator("#release")).not_to_contain_text("looking", timeout=WAIT)
    assert page.locator("#release").inner_text().startswith("checkout:")
    template = page.locator("pre.template").inner_text()
    count = int(re.search(r"(\d+) records", page.locator("main").inner_text()).group(1))
    pattern_url = page.url
    page.screenshot(path=str(shots / "04-pattern.png"), full_page=True)

    page.click("#lines-link")
    page.wait_for_selector("#run[data-done]", timeout=WAIT)
    assert "/ui/queries/pattern_lines" in page.url
    assert page.locator("#expect").inner_text().endswith("(all of them).")
    lines = page.locator("#result-table tbody tr")
    assert lines.count() == count
    header = page.locator("#result-table thead th").all_inner_texts()
    messages = page.locator(f"#result-table tbody tr td:nth-child({header.index('message') + 1})").all_inner_texts()
    shape = re.compile(re.escape(template).replace(re.escape("<*>"), ".+?") + r"\Z", re.S)
    assert len(messages) == count and all(shape.match(m) for m in messages)
    page.screenshot(path=str(shots / "05-pattern-lines.png"), full_page=True)

    page.goto(pattern_url)
    page.fill("input[name='note']", "known: promo service fix is rolling out")
    page.click("#mute")
    page.wait_for_selector("h1 .status.muted", timeout=WAIT)
    history = page.locator("ul.history").inner_text()
    assert "local user" in history and "set_status:muted" in history and "promo service fix" in history
    page.screenshot(path=str(shots / "06-pattern-muted.png"), full_page=True)
    page.goto("/ui/patterns?status=muted")
    assert page.locator("#patterns a:has-text('Failed to apply promotion')").count() == 1


def test_view_a_digest_as_it_was_sent(page: Any, shots: Path) -> None:
    page.goto("/ui/digests")
    page.screenshot(path=str(shots / "07-digests.png"), full_page=True)
    row = page.locator("#digests tr", has_text="demo-html")
    row.locator("a").click()
    frame = page.frame_locator("iframe.digest")
    frame.locator("text=new error pattern in checkout").first.wait_for(timeout=WAIT)
    page.screenshot(path=str(shots / "08-digest.png"), full_page=True)
    page.goto("/ui/digests")
    page.locator("#digests tr", has_text="demo-md").locator("a").click()
    assert "new error pattern in checkout" in page.locator("pre.digest-text").inner_text()


def test_zoom_a_dashboard_chart(page: Any, shots: Path) -> None:
    page.goto(f"/ui/dashboards?since={SINCE}&until={UNTIL}")
    page.wait_for_selector("#charts[data-loaded='yes']", timeout=WAIT)
    chart = page.locator(".chart[data-metric='ErrorCount']")
    chart.locator("canvas").wait_for(timeout=WAIT)
    before = (float(chart.get_attribute("data-xmin")), float(chart.get_attribute("data-xmax")))
    page.screenshot(path=str(shots / "09-dashboards.png"), full_page=True)
    over = chart.locator(".u-over")
    over.scroll_into_view_if_needed()
    box = over.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.3, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.45, y, steps=5)
    page.mouse.move(box["x"] + box["width"] * 0.6, y, steps=5)
    page.mouse.up()
    after = (float(chart.get_attribute("data-xmin")), float(chart.get_attribute("data-xmax")))
    assert before[0] < after[0] < after[1] < before[1]
    assert (after[1] - after[0]) < 0.5 * (before[1] - before[0])
    # hover shows the values of the point under the cursor in the legend
    page.mouse.move(box["x"] + box["width"] * 0.5, y)
    assert re.search(r"\d", chart.locator(".u-legend").inner_text())
    chart.screenshot(path=str(shots / "10-dashboard-zoomed.png"))
    # the service filter narrows every chart to one service
    page.select_option("#service-filter", "checkout")
    page.wait_for_selector("#charts[data-loaded='yes']", timeout=WAIT)
    assert "service=checkout" in page.url


def test_other_pages_render(page: Any, shots: Path) -> None:
    week = "since=2026-11-13T12:00:00Z&until=2026-11-20T12:00:00Z"
    for n, (path, name) in enumerate([("/ui/", "overview"), (f"/ui/findings?{week}", "findings"),
                                      ("/ui/sql", "sql")], start=11):
        page.goto(path)
        page.wait_for_load_state("load")
        assert page.locator("h1").count() == 1
        if name == "findings":  # the chart's axis is the week asked for (not years around one point)
            chart = page.locator("#findings-chart[data-ready='yes']")
            chart.wait_for(timeout=WAIT)
            assert float(chart.get_attribute("data-xmax")) - float(chart.get_attribute("data-xmin")) == 7 * 86400
        page.screenshot(path=str(shots / f"{n}-{name}.png"), full_page=True)
    page.goto("/ui/sql?" + f"since={SINCE}&until={UNTIL}")
    page.click("#run-button")
    page.wait_for_selector("#run[data-done]", timeout=WAIT)
    assert page.locator("#result-table tbody tr").count() > 3
