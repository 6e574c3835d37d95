"""Benchmark: the web console on the demo's data - 100 concurrent API requests on loopback, and how long
each page takes to load, in HTTP (first byte to last) and in a real headless Chromium (navigation start
to the load event, then to the page's charts being drawn).

Builds a demo (``logpipe demo``, seed 42, rate 1.0: ~200k records) in a temporary folder unless
``--demo DIR`` names one, serves the console on a free loopback port with the real server, then
measures. Writes benchmarks/results/console.md.

    .venv/bin/python benchmarks/console.py [--demo logpipe-demo] [--rounds 5]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
TOKEN = "benchmark-token-0123456789abcdef"

API_PATHS = ["/api/queries", "/api/patterns", "/api/findings", "/api/digests", "/api/metrics", "/api/alarms",
             "/api/queries/errors_by_service", "/api/queries/errors_by_service/results", "/healthz", "/api/whoami"]


def _get(port: int, path: str) -> tuple[int, float]:
    began = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", path, headers={"Authorization": f"Bearer {TOKEN}"})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status, time.perf_counter() - began


def api_burst(port: int, clients: int) -> dict[str, object]:
    barrier = threading.Barrier(clients)

    def one(i: int) -> tuple[int, float]:
        barrier.wait()
        try:
            return _get(port, API_PATHS[i % len(API_PATHS)])
        except Exception:
            return 0, 0.0

    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(one, range(clients)))
    seconds = sorted(s for _, s in results)
    return {"requests": clients, "errors": sum(1 for c, _ in results if c != 200),
            "p50": statistics.median(seconds), "p95": seconds[int(0.95 * (len(seconds) - 1))], "max": seconds[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo", type=Path, default=None, help="an existing demo folder (else one is built)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "console.md")
    args = parser.parse_args()
    from support.browser import CHROMIUM, CHROMIUM_ARGS
    from support.web import start_console

    from logpipe.config import Config
    from logpipe.demo import demo_config, run_demo

    tmp = tempfile.TemporaryDirectory()
    folder = args.demo
    built = ""
    if folder is None:
        folder = Path(tmp.name) / "demo"
        began = time.perf_counter()
        run_demo(Config(), folder, seed=42, rate=1.0)
        built = f"built by `logpipe demo` (seed 42, rate 1.0) in {time.perf_counter() - began:.0f} s"
    config = demo_config(Config(), folder)
    server, console = start_console(config, local_token=TOKEN, adhoc_sql=True)
    port = server.port
    try:
        patterns = json.loads(http_get_body(port, "/api/patterns"))
        pid = patterns[0]["pattern_id"]
        kept = json.loads(http_get_body(port, "/api/queries/errors_by_service/results"))
        pages = ["/ui/", "/ui/queries", "/ui/queries/errors_by_service", "/ui/patterns", f"/ui/patterns/{pid}",
                 "/ui/findings", "/ui/digests", "/ui/dashboards", "/ui/sql", f"/ui/results/{kept[0]['result_id']}"]
        for path in pages:  # warm: first loads parse templates and open the state database
            code, _ = _get(port, path)
            if code != 200:  # an error page is fast: never time one
                raise SystemExit(f"{path} answered {code}: fix it before measuring")
        uncached = []
        for _ in range(args.rounds):  # the alarms' evaluation is memoised 10 s: time it without the memo too
            console._memo.clear()
            uncached.append(_get(port, "/api/alarms")[1])
        bursts = [api_burst(port, 100) for _ in range(args.rounds)]
        http_times = {p: sorted(_get(port, p)[1] for _ in range(args.rounds)) for p in pages}
        browser_times = browser_loads(server.url, pages, args.rounds, CHROMIUM, CHROMIUM_ARGS)
    finally:
        server.close()
        console.close()
    lines = ["# Console benchmark: API concurrency and page loads on the demo's data", "",
             f"Command: `.venv/bin/python benchmarks/console.py --rounds {args.rounds}`"
             + (f" (demo {built})" if built else f" (demo folder {folder})"), "",
             "## 100 concurrent API requests on loopback", "",
             "Ten endpoints in turn (queries, patterns, findings, digests, metrics, alarms, a query, its kept "
             "results, /healthz, whoami), 100 clients released at once, each on its own connection.", "",
             "| round | requests | errors | p50 | p95 | max |", "| --- | --- | --- | --- | --- | --- |"]
    for i, b in enumerate(bursts, 1):
        lines.append(f"| {i} | {b['requests']} | {b['errors']} | {b['p50'] * 1000:.0f} ms | {b['p95'] * 1000:.0f} ms "
                     f"| {b['max'] * 1000:.0f} ms |")
    lines += ["", f"The alarms' state (`/api/alarms`, shown on `/ui/` and `/ui/dashboards`) is memoised for 10 s; "
              f"evaluated afresh it takes {statistics.median(uncached) * 1000:.0f} ms (median of {args.rounds}, "
              f"max {max(uncached) * 1000:.0f} ms).",
              "", "## Page loads", "",
              "HTTP: the whole HTML answer (median of the rounds). Chromium: navigation start to the load event "
              "(HTML, CSS, uPlot and the console script), and to the page's data-driven parts being drawn "
              "(dashboard charts, the pattern's chart and release look-up) where the page has them; medians.", "",
              "| page | HTTP median | Chromium load event | Chromium ready (charts drawn) |",
              "| --- | --- | --- | --- |"]
    for path in pages:
        h = statistics.median(http_times[path])
        load, ready = browser_times.get(path, (None, None))
        shown = path if "/patterns/" not in path and "/results/" not in path else path.rsplit("/", 1)[0] + "/…"
        lines.append(f"| `{shown}` | {h * 1000:.0f} ms | {load * 1000:.0f} ms | "
                     f"{'' if ready is None else f'{ready * 1000:.0f} ms'} |")
    slowest = max(browser_times.values(), key=lambda v: v[0])[0]
    lines += ["", f"Slowest load event: {slowest * 1000:.0f} ms (the goal: under 1 s).", "",
              "Machine:", "", f"- {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
              f"- run at {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; Chromium, the server and the client "
              "share the machine's 2 cores (shared with other work); load average at the end "
              f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())} (1 / 5 / 15 min)."]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    tmp.cleanup()


def http_get_body(port: int, path: str) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", path, headers={"Authorization": f"Bearer {TOKEN}"})
    body = conn.getresponse().read()
    conn.close()
    return body


READY = {"/ui/dashboards": "#charts[data-loaded='yes']", "/ui/patterns/": "#hourly[data-ready='yes']"}


def browser_loads(url: str, pages: list[str], rounds: int, chromium: str, flags: list[str]
                  ) -> dict[str, tuple[float, float | None]]:
    from playwright.sync_api import sync_playwright

    out: dict[str, tuple[float, float | None]] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=flags)
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, base_url=url)
        page.goto("/ui/login?token=" + TOKEN)
        for path in pages:
            loads, readies = [], []
            for _ in range(rounds):
                began = time.perf_counter()
                response = page.goto(path, wait_until="load")
                loads.append(time.perf_counter() - began)
                if response is None or not response.ok:
                    raise SystemExit(f"{path} answered {response.status if response else 'nothing'} in Chromium")
                selector = next((s for prefix, s in READY.items() if path.startswith(prefix)), None)
                if selector:
                    page.wait_for_selector(selector, timeout=60_000)
                    readies.append(time.perf_counter() - began)
            out[path] = (statistics.median(loads), statistics.median(readies) if readies else None)
        browser.close()
    return out


if __name__ == "__main__":
    main()
