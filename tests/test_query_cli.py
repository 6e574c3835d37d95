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
    assert code == 0 and "id <*> broke,2" in out
    code, out, err = cli("query", "explain", "errors_by_service", "--since", "2h")
    assert code == 0 and "1 object," in out.replace("\n", " ")


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


def test_results_keep_the_engines_nulls_and_types(cli) -> None:
    """The issue's "NULL written as 0" and "sums come out as floats": every format writes what the
    engine gave (an array_agg over a NULL, lag at the edge, a window sum, a decimal, a JSON array cast)."""
    seed(cli.cwd)
    sql = ("SELECT k, array_agg(v) OVER (ORDER BY k) AS vs, lag(v) OVER (ORDER BY k) AS prev, "
           "sum(v) OVER (ORDER BY k) AS running, DECIMAL '1.50' AS d, "
           "CAST(JSON '[1, null, 3]' AS ARRAY(INTEGER)) AS j "
           "FROM (VALUES (1, BIGINT '10'), (2, NULL), (3, 30)) t(k, v) ORDER BY k")
    code, out, err = cli("query", "sql", sql, "--format", "json")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert rows[0] == {"k": 1, "vs": [10], "prev": None, "running": 10, "d": 1.50, "j": [1, None, 3]}
    assert rows[1]["vs"] == [10, None] and rows[1]["prev"] == 10 and rows[2]["prev"] is None
    assert '"running":40' in out and '"d":1.50' in out and "40.0" not in out
    code, out, _ = cli("query", "sql", sql, "--format", "csv")
    assert code == 0 and out.splitlines()[2] == "2,\"[10,null]\",10,10,1.50,\"[1,null,3]\""
    code, _, err = cli("query", "sql", sql, "--format", "parquet", "--output", "r.parquet")
    assert code == 0, err
    import pyarrow.parquet as pq

    table = pq.read_table(cli.cwd / "r.parquet")
    assert str(table.schema.field("running").type) == "int64" and str(table.schema.field("d").type) == "decimal128(3, 2)"
    assert table.column("vs").to_pylist()[1] == [10, None] and table.column("prev").to_pylist()[0] is None


def test_athena_only_queries_are_reported_and_refused_locally(cli) -> None:
    seed(cli.cwd)
    queries = cli.cwd / "queries"
    queries.mkdir(exist_ok=True)
    (queries / "weighted.sql").write_text(
        "-- name: weighted\n-- description: a weighted percentile\n"
        "SELECT approx_percentile(CAST(status AS double), 2, 0.5) AS p FROM logs\n", encoding="utf-8")
    (cli.cwd / "logpipe.toml").write_text('[queries]\ndirs = ["queries"]\n', encoding="utf-8")
    code, out, err = cli("query", "list")
    assert code == 0, err
    assert "(Athena only)" in out.replace("\n", " ").replace("│", " ")
    code, out, _ = cli("query", "show", "weighted")
    assert code == 0 and "Athena only" in out and "approx_percentile" in out
    code, _, err = cli("query", "run", "weighted", "--engine", "duckdb")
    assert code != 0 and "runs on Athena only" in err and "Traceback" not in err


def test_a_broken_query_file_does_not_hide_the_others(cli) -> None:
    """``query list`` lists the loadable queries, then names the broken file and its line (exit 1);
    ``run`` refuses to start with it, naming it the same way."""
    folder = cli.cwd / "myq"
    folder.mkdir()
    (folder / "broken.sql").write_text("-- name: broken\n-- description: d\n-- schedule: every 1h\n"
                                       "SELECT count(*) FROM logs WHERE\n")
    (cli.cwd / "logpipe.toml").write_text('[queries]\ndirs = ["myq"]\n')
    listed = cli("query", "list")
    assert listed.exit_code == 1
    assert "errors_by_service" in listed.stdout and "broken" not in listed.stdout
    assert "broken.sql:4: SQL syntax error: WHERE is incomplete" in " ".join(listed.stderr.split())
    ran = cli("run", "--now", "2026-03-01T05:30:00Z")
    assert ran.exit_code != 0 and "broken.sql:4" in ran.stderr and "Traceback" not in ran.stderr
