"""``logpipe query ...`` in-process over a local store in the working folder."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pandas as pd

from logpipe.config import StoreConfig
from logpipe.store import Store, gzip_lines


def seed(cwd) -> None:
    store = Store(StoreConfig(root=str(cwd / "logpipe-data")))
    now = datetime.now(UTC) - timedelta(minutes=1)
    lines = [json.dumps({"time": now.isoformat(), "service": s, "level": "ERROR", "message": f"id {i} broke"}).encode()
             for i, s in enumerate(["api", "api", "web"])]
    store.write_object(store.layout.object_key(now), gzip_lines(lines))


def test_list_show_run_explain(cli) -> None:
    seed(cli.cwd)
    code, out, _ = cli("query", "list")
    assert code == 0 and "errors_by_service" in out and "top_error_messages" in out
    code, out, _ = cli("query", "show", "errors_by_service", "--duckdb")
    assert code == 0 and "$window_start" in out
    code, out, err = cli("query", "run", "errors_by_service", "--format", "json")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["service"], r["errors"]) for r in rows] == [("api", 2), ("web", 1)]
    assert "3 rows" not in err and "2 rows" in err and "bad records 0" in err
    code, out, _ = cli("query", "run", "top_error_messages", "-p", "service=api", "--format", "csv")
    assert code == 0 and "id <num> broke,2" in out
    code, out, err = cli("query", "explain", "errors_by_service", "--since", "2h")
    assert code == 0 and "1 objects" in out.replace("\n", " ")


def test_parquet_and_sql(cli) -> None:
    seed(cli.cwd)
    code, _, err = cli("query", "sql", "SELECT service, count(*) AS n FROM logs GROUP BY 1 ORDER BY 1",
                       "--format", "parquet", "--output", "out.parquet")
    assert code == 0, err
    assert pd.read_parquet(cli.cwd / "out.parquet").to_dict("records") == [{"service": "api", "n": 2}, {"service": "web", "n": 1}]
    code, _, err = cli("query", "sql", "SELECT 1", "--format", "parquet")
    assert code == 2 and "--output" in err


def test_errors_are_one_line(cli) -> None:
    code, _, err = cli("query", "run", "errors_by_servce")
    assert code == 2 and "did you mean errors_by_service" in err and "Traceback" not in err
    code, _, err = cli("query", "run", "top_error_messages", "-p", "limit=1; DROP")
    assert code == 2 and "parameter 'limit' expects a whole number" in err
    code, _, err = cli("query", "run", "errors_by_service", "-p", "nope=1")
    assert code == 2 and "no parameter 'nope'" in err
