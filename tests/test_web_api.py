"""The console's JSON API over the demo's data, on the real server: saved queries (explain, run with
typed parameters, the same URL for the same run, cancel, downloads with exact values), kept results
of scheduled runs, patterns and exactly their lines, mute with who did it, findings, digests as sent,
metrics and alarms, and 100 concurrent requests answered."""

from __future__ import annotations

import csv
import http.client
import io
import json
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from support.demo_state import DEMO_END, shared_demo
from support.web import get_json, start_console

TOKEN = "laptop-token-for-tests-0123456789"
SINCE, UNTIL = "2026-11-19T12:00:00Z", "2026-11-20T12:00:00Z"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_demo(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def console(demo: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The console over a private copy of the shared demo: this module mutes a pattern and runs queries,
    and the browser tests copy the shared demo at a time of their own (a copy taken mid-mute would
    show the pattern muted before their Mute click)."""
    from logpipe.config import Config
    from logpipe.demo import demo_config

    folder = tmp_path_factory.mktemp("api") / "demo"
    shutil.copytree(demo, folder)
    config = demo_config(Config(), folder)
    config.web.max_running_queries = 1
    mine = folder / "my-queries"
    mine.mkdir()
    (mine / "message_stems.sql").write_text(
        "-- name: message_stems\n-- description: Word stems of messages (word_stem has no DuckDB twin).\n"
        "-- window: 1h\n\nSELECT word_stem(message) AS stem, count(*) AS n\nFROM logs\n"
        "WHERE dt BETWEEN :dt_start AND :dt_end\nGROUP BY 1\n", encoding="utf-8")
    config.queries.dirs = [str(mine)]
    server, con = start_console(config, local_token=TOKEN, adhoc_sql=True)
    yield server
    server.close()
    con.close()


def call(server: Any, method: str, path: str, body: Any = None) -> tuple[int, Any, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    conn.request(method, path, json.dumps(body) if body is not None else None, headers)
    response = conn.getresponse()
    raw = response.read()
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    return response.status, data, raw


def wait_for(server: Any, run_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, run, _ = call(server, "GET", f"/api/runs/{run_id}")
        if run["state"] not in ("queued", "running"):
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish in {timeout}s")


def test_queries_are_listed_with_typed_parameters(console: Any) -> None:
    code, queries, _ = call(console, "GET", "/api/queries")
    assert code == 200
    by_name = {q["name"]: q for q in queries}
    assert {"errors_by_service", "top_error_messages", "pattern_lines", "noisiest_lines"} <= set(by_name)
    noisy = {p["name"]: p for p in by_name["noisiest_lines"]["params"]}
    assert noisy["min_level"]["type"] == "enum" and "ERROR" in noisy["min_level"]["choices"]
    assert by_name["errors_by_service"]["kept_results"] == 24  # the demo replays it hour by hour
    assert by_name["errors_by_service"]["engines"] == ["athena", "duckdb"]
    assert by_name["errors_by_service"]["athena_only"] is None
    # engine support as `logpipe query list` computes it: a query DuckDB cannot answer as Athena would
    assert by_name["message_stems"]["engines"] == ["athena"]
    assert "word_stem" in by_name["message_stems"]["athena_only"]
    code, one, _ = call(console, "GET", "/api/queries/errors_by_service")
    assert code == 200 and "FROM logs" in one["sql"]
    code, stems, _ = call(console, "GET", "/api/queries/message_stems")
    assert code == 200 and stems["engines"] == ["athena"] and "word_stem" in stems["athena_only"]
    assert call(console, "GET", "/api/queries/nope")[0] == 404


def test_explain_gives_partitions_bytes_and_cost_before_running(console: Any) -> None:
    code, e, _ = call(console, "GET", f"/api/queries/errors_by_service/explain?since={SINCE}&until={UNTIL}")
    assert code == 200, e
    assert len(e["partitions"]) == 24 and e["objects"] > 0 and e["bytes_scanned"] > 0
    assert e["bounded"] and e["athena_cost_usd"] > 0


def test_a_run_with_parameters_its_url_and_downloads_with_exact_values(console: Any, demo: Path) -> None:
    from logpipe.config import Config
    from logpipe.demo import demo_config
    from logpipe.queries.runner import run_query

    body = {"params": {"service": "checkout"}, "since": SINCE, "until": UNTIL}
    code, run, _ = call(console, "POST", "/api/queries/errors_by_service/runs", body)
    assert code == 202, run
    done = wait_for(console, run["run_id"])
    assert done["state"] == "done", done
    # the same request is the same run (its URL reproduces it) and is not run twice
    assert call(console, "POST", "/api/queries/errors_by_service/runs", body)[1]["run_id"] == run["run_id"]
    assert "p.service=checkout" in done["url"] and "since=2026-11-19T12%3A00%3A00Z" in done["url"]

    code, result, _ = call(console, "GET", f"/api/runs/{run['run_id']}/result")
    assert [c["name"] for c in result["columns"]] == ["hour", "service", "errors"]
    assert [c["type"] for c in result["columns"]] == ["timestamp", "string", "int64"]
    assert result["rows"] and {r[1] for r in result["rows"]} == {"checkout"}
    assert result["chart"]["x"] and result["chart"]["series"][0]["label"] == "errors"

    expected = run_query(demo_config(Config(), demo), "errors_by_service", DEMO_END.replace(day=19),
                         DEMO_END, {"service": "checkout"}).frame
    want = [[ts.strftime("%Y-%m-%dT%H:%M:%SZ"), s, int(n)] for ts, s, n in expected.itertuples(index=False)]
    assert result["rows"] == want

    _, _, raw_csv = call(console, "GET", f"/api/runs/{run['run_id']}/result.csv")
    rows = list(csv.reader(io.StringIO(raw_csv.decode())))
    assert rows[0] == ["hour", "service", "errors"] and len(rows) == len(want) + 1
    assert [int(r[2]) for r in rows[1:]] == [w[2] for w in want]
    _, as_json, _ = call(console, "GET", f"/api/runs/{run['run_id']}/result.json")
    assert [[r["hour"], r["service"], r["errors"]] for r in as_json] == want
    _, _, raw_parquet = call(console, "GET", f"/api/runs/{run['run_id']}/result.parquet")
    table = pq.read_table(io.BytesIO(raw_parquet))
    assert str(table.schema.field("errors").type) == "int64" and table.num_rows == len(want)


def test_a_bad_parameter_is_refused_with_its_name(console: Any) -> None:
    code, body, _ = call(console, "POST", "/api/queries/noisiest_lines/runs",
                         {"params": {"min_level": "LOUD"}, "since": SINCE, "until": UNTIL})
    assert code == 400 and "min_level" in body["error"] and "one of" in body["error"]
    code, body, _ = call(console, "POST", "/api/queries/noisiest_lines/runs", {"params": {"nope": "1"}})
    assert code == 400 and "no parameter 'nope'" in body["error"]


def test_a_run_can_be_cancelled(console: Any) -> None:
    # one query at a time here: the second waits behind the first and is cancelled
    first = call(console, "POST", "/api/queries/error_shapes/runs", {"since": SINCE, "until": UNTIL})[1]
    second = call(console, "POST", "/api/queries/top_error_messages/runs",
                  {"since": SINCE, "until": UNTIL, "params": {"limit": "7"}})[1]
    code, _, _ = call(console, "POST", f"/api/runs/{second['run_id']}/cancel")
    assert code == 200
    assert wait_for(console, second["run_id"])["state"] == "cancelled"
    assert wait_for(console, first["run_id"])["state"] == "done"
    assert call(console, "GET", f"/api/runs/{second['run_id']}/result")[0] == 409
    # who started and who cancelled it are in the audit log
    audit = call(console, "GET", "/api/audit?target=query:top_error_messages")[1]
    actions = [(e["action"], e["actor"], e["detail"]["run_id"]) for e in audit[:2]]
    assert actions == [("cancel_query", "local user", second["run_id"]), ("run_query", "local user", second["run_id"])]
    assert audit[1]["detail"]["params"] == {"limit": "7"} and audit[1]["detail"]["since"] == SINCE


def test_kept_results_of_scheduled_runs_by_window(console: Any) -> None:
    code, kept, _ = call(console, "GET", "/api/queries/errors_by_service/results")
    assert code == 200 and len(kept) == 24
    assert kept[0]["window_end"] == "2026-11-20T12:00:00Z" and kept[-1]["window_start"] == SINCE
    window = call(console, "GET", "/api/queries/errors_by_service/results?since=2026-11-20T10:00:00Z"
                                  "&until=2026-11-20T11:00:00Z")[1]
    assert [k["window_start"] for k in window] == ["2026-11-20T10:00:00Z"]
    code, one, _ = call(console, "GET", f"/api/results/{window[0]['result_id']}")
    assert code == 200 and one["rows_kept"] == len(one["rows"]) == one["rows_total"] > 0
    # its page (this used to fail: the kept rows' list shadowed the row count)
    code, _, page = call(console, "GET", f"/ui/results/{window[0]['result_id']}")
    assert code == 200 and f"{one['rows_total']} rows" in page.decode()
    assert [c["name"] for c in one["columns"]] == ["hour", "service", "errors"]
    assert all(r[0] == "2026-11-20T10:00:00Z" for r in one["rows"])
    assert call(console, "GET", f"/api/results/{window[0]['result_id']}.csv")[2].startswith(b'"hour"')
    # the query's page lists the kept results of the window asked for
    page = call(console, "GET", "/ui/queries/errors_by_service?kept_since=2026-11-20T09:00:00Z"
                                "&kept_until=2026-11-20T11:00:00Z")[2].decode()
    listed = re.findall(r'href="/ui/results/(\w+)">([^<]+)<', page)
    assert [start for _, start in listed] == ["2026-11-20T10:00:00Z", "2026-11-20T09:00:00Z"]
    assert "24 kept in all" in page


def _promotion_pattern(console: Any) -> dict[str, Any]:
    _, patterns, _ = call(console, "GET", "/api/patterns")
    return next(p for p in patterns if p["template"].startswith("Failed to apply promotion"))


def test_a_pattern_links_to_exactly_its_lines(console: Any) -> None:
    pattern = _promotion_pattern(console)
    assert len(pattern["trend"]) == 48 and sum(pattern["trend"]) == pattern["count"]
    code, link, _ = call(console, "GET", f"/api/patterns/{pattern['pattern_id']}/lines")
    assert code == 200, link
    assert link["query"] == "pattern_lines" and link["records"] == link["counted_in_store"] == pattern["count"]
    body = {"params": link["params"], "since": link["since"], "until": link["until"]}
    run = call(console, "POST", "/api/queries/pattern_lines/runs", body)[1]
    assert wait_for(console, run["run_id"])["state"] == "done"
    result = call(console, "GET", f"/api/runs/{run['run_id']}/result?limit=10000")[1]
    assert result["rows_total"] == pattern["count"]
    message = [c["name"] for c in result["columns"]].index("message")
    template = re.compile(re.escape(pattern["template"]).replace(re.escape("<*>"), ".+?") + r"\Z", re.S)
    assert all(template.match(row[message]) for row in result["rows"])


def test_pattern_page_data_and_mute_with_who(console: Any) -> None:
    pattern = _promotion_pattern(console)
    code, page, _ = call(console, "GET", f"/api/patterns/{pattern['pattern_id']}")
    assert code == 200 and page["examples"] and page["hourly"]["counts"]
    assert all("PROMO-" in e["line"] for e in page["examples"])
    code, release, _ = call(console, "GET", f"/api/patterns/{pattern['pattern_id']}/release")
    assert code == 200 and release["release"].startswith("checkout:")
    code, changed, _ = call(console, "POST", f"/api/patterns/{pattern['pattern_id']}/status", {"status": "muted"})
    assert code == 200 and changed == {"pattern_id": pattern["pattern_id"], "status": "muted", "by": "local user"}
    page = call(console, "GET", f"/api/patterns/{pattern['pattern_id']}")[1]
    assert page["status"] == "muted" and page["history"][0]["actor"] == "local user"
    call(console, "POST", f"/api/patterns/{pattern['pattern_id']}/status", {"status": "new"})


def test_findings_digests_metrics_and_alarms(console: Any) -> None:
    findings = call(console, "GET", "/api/findings")[1]
    assert any(f["kind"] == "new_pattern" and f["service"] == "checkout" for f in findings["findings"])
    assert findings["over_time"] and findings["window"] is None
    day = call(console, "GET", f"/api/findings?since={SINCE}&until={UNTIL}&service=checkout")[1]
    assert day["window"] == {"since": SINCE, "until": UNTIL} and {f["service"] for f in day["findings"]} == {"checkout"}
    assert sum(o["count"] for o in day["over_time"]) == len(day["findings"])  # the chart counts what the table lists
    later = call(console, "GET", "/api/findings?since=2026-11-21T00:00:00Z&until=2026-11-22T00:00:00Z")[1]
    assert later["findings"] == [] and later["over_time"] == []
    digests = call(console, "GET", "/api/digests")[1]
    assert {d["destination"] for d in digests} == {"demo-html", "demo-md", "demo-slack"}
    md = next(d for d in digests if d["destination"] == "demo-md")
    code, sent, _ = call(console, "GET", md["url"].replace("/ui/digests/view", "/api/digests/sent"))
    assert code == 200 and "new error pattern in checkout" in sent["payload"]["content"]
    names = call(console, "GET", "/api/metrics")[1]
    assert "ErrorCount" in names["metrics"] and names["source"] == "local"
    series = call(console, "GET", f"/api/metrics/ErrorCount?since={SINCE}&until={UNTIL}")[1]
    assert len(series["x"]) == 24 and "checkout" in series["services"]  # hourly, not one dot
    only = call(console, "GET", f"/api/metrics/ErrorCount?since={SINCE}&until={UNTIL}&service=checkout")[1]
    assert [s["label"] for s in only["series"]] == ["checkout"]
    alarms = call(console, "GET", "/api/alarms")[1]
    assert alarms and {a["state"] for a in alarms} <= {"OK", "ALARM", "INSUFFICIENT_DATA"}
    assert any(a["state"] in ("OK", "ALARM") for a in alarms)


def test_adhoc_sql_runs_when_allowed(console: Any) -> None:
    body = {"sql": "SELECT level, count(*) AS n FROM logs WHERE dt BETWEEN :dt_start AND :dt_end GROUP BY 1",
            "since": SINCE, "until": UNTIL}
    code, run, _ = call(console, "POST", "/api/sql/runs", body)
    assert code == 202, run
    assert wait_for(console, run["run_id"])["state"] == "done"
    rows = call(console, "GET", f"/api/runs/{run['run_id']}/result")[1]["rows"]
    assert {r[0] for r in rows} >= {"ERROR", "INFO"}
    # the sandbox applies: one read-only statement over `logs`, nothing else reaches the machine
    for sql, why in (("COPY (SELECT 1) TO '/tmp/x.csv'", "refused COPY"),
                     ("SELECT * FROM read_text('/etc/passwd')", "refused the table function read_text()"),
                     ("SELECT 1; SELECT 2", "exactly one SQL statement")):
        code, body, _ = call(console, "POST", "/api/sql/runs", {"sql": sql, "since": SINCE, "until": UNTIL})
        assert code in (400, 422) and why in body["error"], (sql, code, body)


def test_the_api_answers_100_concurrent_requests(console: Any) -> None:
    paths = ["/api/queries", "/api/patterns", "/api/findings", "/api/digests", "/api/metrics", "/healthz"]

    def one(i: int) -> int:
        return call(console, "GET", paths[i % len(paths)])[0]

    with ThreadPoolExecutor(max_workers=100) as pool:
        codes = list(pool.map(one, range(100)))
    assert codes == [200] * 100


def test_the_openapi_document_describes_the_api(console: Any) -> None:
    code, doc = get_json(console.url + "/api/openapi.json", TOKEN)
    assert code == 200 and doc["openapi"].startswith("3.")
    for path in ("/api/queries", "/api/queries/{name}/runs", "/api/runs/{run_id}/result", "/api/patterns/{pattern_id}",
                 "/api/digests", "/api/metrics/{name}", "/api/alarms", "/healthz"):
        assert path in doc["paths"], path


def test_grafana_json_data_source(console: Any) -> None:
    """The simpod-json-datasource protocol: test connection, metrics with a service payload, the
    payload's options, ad-hoc filter keys and values, and time series equal to the dashboards' own."""
    assert call(console, "GET", "/api/grafana")[0] == 200
    assert call(console, "GET", "/api/grafana/")[0] == 200
    code, metrics, _ = call(console, "POST", "/api/grafana/metrics", {})
    assert code == 200
    error_count = next(m for m in metrics if m["value"] == "ErrorCount")
    [service_payload] = error_count["payloads"]
    assert service_payload["name"] == "service" and {"value": "checkout", "label": "checkout"} in service_payload["options"]
    assert {"label": "checkout", "value": "checkout"} in call(console, "POST", "/api/grafana/metric-payload-options",
                                                              {"metric": "ErrorCount", "payload": {}, "name": "service"})[1]
    assert call(console, "POST", "/api/grafana/tag-keys", {})[1] == [{"type": "string", "text": "service"}]
    assert {"text": "checkout"} in call(console, "POST", "/api/grafana/tag-values", {"key": "service"})[1]
    assert "ErrorCount" in call(console, "POST", "/api/grafana/search", {"target": ""})[1]

    grafana_range = {"from": "2026-11-19T12:00:00.000Z", "to": "2026-11-20T12:00:00.000Z",
                     "raw": {"from": "now-24h", "to": "now"}}
    body = {"range": grafana_range, "interval": "1h", "maxDataPoints": 500,
            "targets": [{"target": "ErrorCount", "refId": "A", "payload": {"service": "checkout"}}]}
    code, answer, _ = call(console, "POST", "/api/grafana/query", body)
    assert code == 200, answer
    [checkout] = answer
    series = call(console, "GET", f"/api/metrics/ErrorCount?since={SINCE}&until={UNTIL}&service=checkout")[1]
    want = [[v, int(x * 1000)] for x, v in zip(series["x"], series["series"][0]["values"], strict=True) if v is not None]
    assert checkout == {"target": "ErrorCount checkout", "refId": "A", "datapoints": want} and len(want) == 24
    # every service without a payload; an ad-hoc filter narrows it like the payload does
    every = call(console, "POST", "/api/grafana/query", {**body, "targets": [{"target": "ErrorCount", "refId": "B"}]})[1]
    assert {s["target"] for s in every} >= {"ErrorCount checkout", "ErrorCount payments"}
    filtered = call(console, "POST", "/api/grafana/query",
                    {**body, "targets": [{"target": "ErrorCount", "refId": "B"}],
                     "adhocFilters": [{"key": "service", "operator": "=", "value": "checkout"}]})[1]
    assert [s["datapoints"] for s in filtered] == [want]
    code, err, _ = call(console, "POST", "/api/grafana/query", {**body, "targets": [{"target": "Nope"}]})
    assert code == 404 and "/api/grafana/metrics" in err["error"]
    code, err, _ = call(console, "POST", "/api/grafana/query", {**body, "range": {"from": UNTIL, "to": SINCE}})
    assert code == 400 and "must be after" in err["error"]


def test_the_console_imports_every_module_a_handler_imports_lazily() -> None:
    """The console's handlers run on the server's worker threads, several at once; two importing
    modules that import one another can each reach the other's half-initialised (the race
    ``logpipe serve``'s job threads had). ``create_app`` calls ``import_console_modules`` before the
    server starts: it must import every logpipe module that ``logpipe/web/*.py`` imports inside a
    function (and the submodules named by ``from logpipe.x import submodule``)."""
    from support.lazy_imports import REPO_ROOT, lazy_logpipe_imports, modules_loaded_by

    lazy = lazy_logpipe_imports(sorted((REPO_ROOT / "logpipe" / "web").glob("*.py")))
    assert {"logpipe.detectors.history", "logpipe.state.audit", "logpipe.web.dashboards"} <= lazy  # the walk works
    missing = lazy - modules_loaded_by("from logpipe.web.app import import_console_modules\nimport_console_modules()")
    assert not missing, f"import_console_modules does not import {sorted(missing)}: add them to CONSOLE_MODULES"
