"""Typed parameters: injection payloads are rejected by type or bound inertly (DuckDB and Athena)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from logpipe.config import Config
from logpipe.engines.binding import Param, athena_literal
from logpipe.errors import UsageError
from logpipe.queries.loader import parse_query_text
from logpipe.queries.params import coerce
from logpipe.queries.runner import run_query, run_sql
from logpipe.store import Store, gzip_lines

PAYLOADS = ["' OR 1=1 --", "'; DROP TABLE logs; --", "\\' UNION SELECT * FROM logs --", "\u2019 OR \u20181\u2019=\u20181",
            "a\x00b", "x" * 5000, "1; DROP", "1e309", "NaN", "['a'', ''b']", "$1", ":service", "?"]
START, END = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC)

QUERY = """-- name: probe
-- description: probe
-- param s: string, default=api
-- param n: int, default=1
-- param f: float, default=1.0
-- param b: bool, default=true
-- param t: timestamp, default=2024-01-01T00:00:00Z
-- param d: duration, default=1h
-- param e: enum(api|web), default=api
-- param l: list, default=api
SELECT service, count(*) AS n FROM logs
WHERE dt BETWEEN :dt_start AND :dt_end AND concat(dt, hour) BETWEEN :dthour_start AND :dthour_end
  AND (service = :s OR :n < 0 OR :f < 0 OR NOT :b OR ts < :t OR :d < 0 OR service = :e OR service IN (:l))
GROUP BY service ORDER BY service
"""


@pytest.fixture
def setup(tmp_path: Path):
    config = Config.model_validate({"store": {"root": str(tmp_path / "s")},
                                    "state": {"url": f"sqlite:///{tmp_path}/state.db"}})
    store = Store(config.store)
    records = [{"time": "2024-01-01T05:00:00Z", "service": svc, "level": "INFO", "message": "m"}
               for svc in ("api", "api", "web")]
    store.write_object(store.layout.object_key(datetime(2024, 1, 1, 5, tzinfo=UTC)),
                       gzip_lines([json.dumps(r).encode() for r in records]))
    return config, parse_query_text(QUERY, tmp_path / "probe.sql")


@pytest.mark.parametrize("name", ["n", "f", "b", "t", "d", "e"])
@pytest.mark.parametrize("payload", PAYLOADS)
def test_typed_params_reject_payloads(setup, name: str, payload: str) -> None:
    config, query = setup
    with pytest.raises(UsageError, match=f"parameter '{name}' expects"):
        run_query(config, query, START, END, {name: payload})


@pytest.mark.parametrize("name", ["s", "l"])
@pytest.mark.parametrize("payload", PAYLOADS)
def test_string_payloads_are_inert_or_rejected(setup, name: str, payload: str) -> None:
    config, query = setup
    harmless = run_query(config, query, START, END, {name: "nobody"})
    try:
        result = run_query(config, query, START, END, {name: payload})
    except UsageError as exc:
        assert f"parameter '{name}'" in str(exc)
        assert "\x00" in payload or len(payload) > 1024 or name == "l"
        return
    # The payload behaves exactly like any other non-matching value, and the table is intact.
    assert result.frame.to_dict("records") == harmless.frame.to_dict("records")
    intact = run_sql(config, "SELECT service, count(*) AS n FROM logs GROUP BY 1 ORDER BY 1", START, END)
    assert intact.frame.to_dict("records") == [{"service": "api", "n": 2}, {"service": "web", "n": 1}]


def test_coerce_types() -> None:
    assert coerce(Param("n", "int"), " 42") == 42
    assert coerce(Param("d", "duration"), "15m") == 900
    assert coerce(Param("b", "bool"), "no") is False
    assert coerce(Param("l", "list", item_type="int"), "[1, 2]") == [1, 2]
    assert coerce(Param("t", "timestamp"), "2024-01-01T01:00:00+01:00") == datetime(2024, 1, 1, tzinfo=UTC)
    with pytest.raises(UsageError, match="required"):
        coerce(Param("x", "string", required=True), None)
    with pytest.raises(UsageError, match="one of a, b"):
        coerce(Param("e", "enum", choices=("a", "b")), "c")
    with pytest.raises(UsageError):
        coerce(Param("f", "float"), "inf")


def test_athena_literals_are_escaped_single_literals() -> None:
    assert athena_literal("' OR 1=1 --", "string") == "''' OR 1=1 --'"
    assert athena_literal(1.5, "float") == "1.5E0"
    assert athena_literal(datetime(2024, 1, 1, tzinfo=UTC), "timestamp") == "'2024-01-01T00:00:00.000000Z'"
