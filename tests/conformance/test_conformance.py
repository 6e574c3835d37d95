"""Trino's own cases (cases/*.yaml, each naming its source in Trino's tests or documentation) through
both engines.

* DuckDB: every case gives Trino's value with Trino's type, or the clear "runs on Athena only"
  refusal; never another value, never another error. At least 99 % pass.
* Athena: every case compiles through the Athena engine's statement builder with its string
  bindings as ExecutionParameters, never pasted into the text; put back in place, the parameters
  give exactly the statement the DuckDB engine compiled (one statement, two engines).

Each case runs once per worker on one DuckDB connection set up as the engine sets up its own
(``outcomes``), when its test (or the pass rate) first needs it. Each worker also writes its outcomes
to a file of the run's temporary root; the pass rate takes the cases other workers have run from
there and runs only the rest (it ran half the cases a second time: ~20 s of CI; pytest-xdist's
``loadgroup``, which would keep the module in one worker, does not group tests under pytest 9.2).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from sqlglot import exp
from support.conformance import Case, Outcome, load_cases, run_on_duckdb, statement_for
from support.demo_state import run_root

from logpipe.config import EngineConfig
from logpipe.engines.athena import AthenaEngine
from logpipe.engines.duckdb import open_connection
from logpipe.engines.transpile import DIALECT, parse

CASES = load_cases()
MIN_PASS_RATE = 0.99


class Outcomes:
    """Each case run once per worker, when a test first asks for it (the case's own test, or the
    pass rate over all of them): a worker runs only the cases xdist gives it, and no single test's
    setup runs the whole suite. Every outcome is appended to this worker's file in ``folder``."""

    def __init__(self, con: Any, folder: Path) -> None:
        self.con = con
        self.done: dict[str, Outcome] = {}
        self.folder = folder
        self.file = folder / f"conformance-outcomes-{os.getpid()}.jsonl"

    def __getitem__(self, case: Case) -> Outcome:
        if case.id not in self.done:
            self.done[case.id] = outcome = run_on_duckdb(case, self.con)
            with open(self.file, "a", encoding="utf-8") as out:
                out.write(json.dumps({"id": case.id, **asdict(outcome)}) + "\n")
        return self.done[case.id]

    def take_others(self) -> None:
        """The outcomes other workers of this run have written (a line still being written is skipped)."""
        for file in self.folder.glob("conformance-outcomes-*.jsonl"):
            for line in file.read_text(encoding="utf-8").splitlines():
                try:
                    found = json.loads(line)
                except ValueError:
                    continue
                self.done.setdefault(found.pop("id"), Outcome(**found))


@pytest.fixture(scope="session")  # (a worker's modules may interleave: a module scope would run cases again)
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcomes]:
    con = open_connection(EngineConfig())
    try:
        yield Outcomes(con, run_root(tmp_path_factory.getbasetemp()))
    finally:
        con.close()


def test_at_least_300_cases_with_sources() -> None:
    assert len(CASES) >= 300
    assert all(case.source and "#" in case.source for case in CASES)
    assert len({case.family for case in CASES}) >= 10


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case_on_both_engines(case: Case, outcomes: Outcomes) -> None:
    outcome = outcomes[case]
    assert outcome.status in ("pass", "refused"), (
        f"{case.sql} ({case.source}): {outcome.status}: {outcome.detail}\n{outcome.duckdb_sql}")
    athena_statement_binds_what_duckdb_runs(case)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # every case, in one worker
def test_pass_rate(outcomes: Outcomes) -> None:
    outcomes.take_others()
    passed = sum(outcomes[case].status == "pass" for case in CASES)
    assert passed / len(CASES) >= MIN_PASS_RATE, f"{passed}/{len(CASES)} pass"


def _substitute(tree: exp.Expression, literals: list[exp.Expression]) -> exp.Expression:
    remaining = list(literals)

    def fill(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder):
            return remaining.pop(0).copy()
        return node

    out = tree.transform(fill)
    assert not remaining, "more ExecutionParameters than placeholders"
    return out


def athena_statement_binds_what_duckdb_runs(case: Case) -> None:
    statement = statement_for(case)
    engine = AthenaEngine(EngineConfig())
    sql, parameters = engine.compile(statement)
    bound = {name: value for name, value in statement.values.items() if name in case.bind}
    assert len(parameters) == len(bound)
    for value in bound.values():
        if len(str(value)) > 2:
            assert str(value) not in sql.replace("''", "'"), f"{value!r} pasted into the Athena text"
    # The engine puts the logs view in front (WITH logs AS (...)); the case's own statement follows it.
    view = f"WITH logs AS ({engine.view_sql()})"
    assert sql.startswith(view)
    own = sql[len(view):]
    own = "WITH " + own[2:] if own.startswith(", ") else own
    literals = [parse(f"SELECT {p}").expressions[0] for p in parameters]
    athena_tree = _substitute(parse(own), literals)
    expected = statement.tree.copy()
    for name, value in bound.items():
        expected = expected.transform(
            lambda node, name=name, value=value: exp.Literal.string(value)
            if isinstance(node, exp.Placeholder) and node.name == name else node)
    assert athena_tree.sql(dialect=DIALECT) == expected.sql(dialect=DIALECT)
