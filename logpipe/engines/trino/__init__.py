"""Trino's semantics on DuckDB: the types, casts, operators and functions the rewrite table uses.

logpipe.engines.transpile imports the modules of this package, which registers every rewrite in
``REWRITES`` (functions) and ``EXPRESSIONS`` (syntax).
"""

__all__: list[str] = []
