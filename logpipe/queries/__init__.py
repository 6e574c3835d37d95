"""Saved queries: the files (``queries/*.sql``), their typed parameters, and the runner that binds
them into a statement for the engine ``[engine] kind`` names."""

from __future__ import annotations

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

__all__ = ["RUNNER_PARAMS", "ExplainResult", "MetricSpec", "QueryResult", "SavedQuery", "adhoc_query",
           "bind_statement", "explain_query", "get_query", "load_queries", "parse_query_text", "run_query", "run_sql"]
