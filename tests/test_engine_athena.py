"""Athena engine against moto in server mode (canned results), plus a tiny stub for FAILED."""

from __future__ import annotations

import json
import threading
import urllib.request
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from logpipe.config import Config
from logpipe.engines.base import athena_cost
from logpipe.errors import EngineError
from logpipe.queries.runner import run_query

START, END = datetime(2024, 1, 1, 4, tzinfo=UTC), datetime(2024, 1, 1, 6, tzinfo=UTC)


def athena_config(**engine: Any) -> Config:
    return Config.model_validate({"engine": {"kind": "athena", "database": "logpipe", "table": "logs",
                                             "output_location": "s3://athena-results/q/",
                                             "poll_interval_seconds": 0.01, **engine}})


def post(url: str, body: dict) -> None:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request).read()


def column(name: str, kind: str) -> dict:
    return {"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": name, "Label": name, "Type": kind,
            "Precision": 0, "Scale": 0, "Nullable": "UNKNOWN", "CaseSensitive": True}


def test_runs_with_bound_parameters_and_streams_rows(aws: str, boto_client, monkeypatch) -> None:
    boto_client("s3").create_bucket(Bucket="athena-results")
    header = {"Data": [{"VarCharValue": "service"}, {"VarCharValue": "errors"}]}
    rows = [{"Data": [{"VarCharValue": f"svc{i}"}, {"VarCharValue": str(i)}]} for i in range(25)]
    post(f"{aws}/moto-api/static/athena/query-results",
         {"results": [{"rows": [header, *rows], "column_info": [column("service", "varchar"), column("errors", "bigint")]}]})
    sent: list[dict] = []
    import botocore.client

    original = botocore.client.BaseClient._make_api_call

    def spy(self, operation, params):
        if operation == "StartQueryExecution":
            sent.append(params)
        return original(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", spy)
    from logpipe.engines import athena

    monkeypatch.setattr(athena, "CHUNK_ROWS", 10)
    result = run_query(athena_config(), "errors_by_service", START, END, {"service": "' OR 1=1 --"})
    assert result.frame["service"].tolist() == [f"svc{i}" for i in range(25)]
    assert result.frame["errors"].tolist() == list(range(25))
    (call,) = sent
    sql = call["QueryString"]
    assert sql.startswith("WITH logs AS (") and '"logpipe"."logs"' in sql
    assert "OR 1=1" not in sql and len(call["ExecutionParameters"]) == 8  # 6 runner values, :service twice
    assert "''' OR 1=1 --'" in call["ExecutionParameters"]
    assert "'2024-01-01'" in call["ExecutionParameters"]
    assert result.stats.engine == "athena" and result.stats.query_id
    assert result.stats.cost_usd == athena_cost(result.stats.bytes_scanned)


def test_timeout_stops_the_query(aws: str, boto_client) -> None:
    boto_client("s3").create_bucket(Bucket="athena-results")
    # Keep executions QUEUED: moto's state manager advances only after many polls.
    post(f"{aws}/moto-api/state-manager/set-transition",
         {"model_name": "athena::execution", "transition": {"progression": "manual", "times": 10_000}})
    try:
        with pytest.raises(EngineError, match=r"timeout_seconds=0\.2 and was stopped"):
            run_query(athena_config(timeout_seconds=0.2), "errors_by_service", START, END)
        executions = boto_client("athena").list_query_executions()["QueryExecutionIds"]
        states = [boto_client("athena").get_query_execution(QueryExecutionId=i)["QueryExecution"]["Status"]["State"]
                  for i in executions]
        assert states == ["CANCELLED"]
    finally:
        post(f"{aws}/moto-api/state-manager/unset-transition", {"model_name": "athena::execution"})


class _FailingAthena(BaseHTTPRequestHandler):
    """Answers StartQueryExecution and GetQueryExecution (FAILED): moto never fails a query."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        target = self.headers.get("X-Amz-Target", "")
        if target.endswith("StartQueryExecution"):
            body = {"QueryExecutionId": "q-failed-1"}
        else:
            body = {"QueryExecution": {"QueryExecutionId": "q-failed-1", "Query": "SELECT 1",
                    "Status": {"State": "FAILED", "StateChangeReason": "COLUMN_NOT_FOUND: line 3:8: Column 'nope' cannot be resolved"},
                    "Statistics": {}, "WorkGroup": "primary"}}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def test_failed_query_shows_athena_reason(aws: str, monkeypatch) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FailingAthena)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_ATHENA", f"http://127.0.0.1:{server.server_address[1]}")
    try:
        with pytest.raises(EngineError, match=r"q-failed-1 FAILED: COLUMN_NOT_FOUND: .*'nope' cannot be resolved"):
            run_query(athena_config(), "errors_by_service", START, END)
    finally:
        server.shutdown()


def test_cost() -> None:
    assert athena_cost(0) == athena_cost(10 * 1024 * 1024) == 10 * 1024 * 1024 / 1024**4 * 5
    assert athena_cost(1024**4) == 5.0


@pytest.mark.parametrize("sql", [
    "SELECT service, count(*) AS n FROM logs WHERE level = :level GROUP BY 1",
    "WITH errs AS (SELECT * FROM logs WHERE level = :level) SELECT count(*) FROM errs",
    "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 3) "
    "SELECT count(*) FROM logs, t WHERE level = :level",
])
def test_the_view_goes_in_front_of_every_statement_as_its_first_cte(sql: str) -> None:
    """compile() writes the view's text once and puts it in front; the statement is what writing
    the view's tree into the statement gives (a statement's own WITH, and WITH RECURSIVE, kept)."""
    from sqlglot import exp

    from logpipe.engines.athena import AthenaEngine
    from logpipe.engines.binding import BoundStatement, Param
    from logpipe.engines.transpile import DIALECT, parse

    engine = AthenaEngine(Config().engine)
    statement = BoundStatement(parse(sql), {"level": "ERROR"}, {"level": Param(name="level", type="string")},
                               datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC))
    text, parameters = engine.compile(statement)
    assert parameters == ["'ERROR'"] and text.count("level = ?") == 1
    tree = parse(text)
    ctes = tree.args["with_"].expressions
    assert ctes[0].alias == "logs" and ctes[0].this.sql(dialect=DIALECT) == parse(engine.view_sql()).sql(dialect=DIALECT)
    assert len(ctes) == (2 if "WITH" in sql else 1)
    assert bool(tree.args["with_"].args.get("recursive")) == ("RECURSIVE" in sql)
    assert isinstance(tree, exp.Select)
