"""Saved queries: the files (``queries/*.sql``), their typed parameters, and the runner that binds
them into a statement for the engine ``[engine] kind`` names.

The names below are imported when first used (PEP 562): ``logpipe.queries.window`` or the loader
alone must not pull in the engines (DuckDB, pandas) - the CLI's start-up depends on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from logpipe.lazy import lazy_attributes as _lazy_attributes

if TYPE_CHECKING:
    from logpipe.queries.loader import get_query, load_queries, parse_query_text
    from logpipe.queries.model import RUNNER_PARAMS, MetricSpec, QueryResult, SavedQuery
    from logpipe.queries.runner import (
        ExplainResult,
        adhoc_query,
        bind_statement,
        explain_query,
        run_query,
        run_sql,
    )

_LAZY = {
    "get_query": "loader", "load_queries": "loader", "parse_query_text": "loader",
    "RUNNER_PARAMS": "model", "MetricSpec": "model", "QueryResult": "model", "SavedQuery": "model",
    "ExplainResult": "runner", "adhoc_query": "runner", "bind_statement": "runner", "explain_query": "runner",
    "run_query": "runner", "run_sql": "runner",
}

__getattr__ = _lazy_attributes(__name__, _LAZY)


__all__ = ["RUNNER_PARAMS", "ExplainResult", "MetricSpec", "QueryResult", "SavedQuery", "adhoc_query",
           "bind_statement", "explain_query", "get_query", "load_queries", "parse_query_text", "run_query", "run_sql"]
