"""The engine sandbox: only one read-only statement over the table ``logs`` ever reaches an engine.

Why on the parsed tree, before anything runs: the service runs saved queries (ours and those in
``[queries] dirs``) and ad-hoc SQL with its own IAM role and its own disk. DuckDB will happily read
``/etc/passwd`` (``read_text``), write files (``COPY ... TO``), attach databases, load extensions and
change its settings; Athena runs DDL, ``UNLOAD`` and ``INSERT``. Each engine is also locked down at
run time (``logpipe.engines.raw_sql.connect``: no external access outside the store and cache, locked
configuration, no extension loading), but a write into an allowed folder is still a write, and an
Athena workgroup's permissions are not ours to set: the statement itself is checked first, in one
place, on the Athena-dialect sqlglot tree that both engines are given (before any translation).

What passes (an allowlist, so what nobody thought of is refused):

* exactly one statement whose root is ``SELECT`` (with or without ``WITH``), a set operation of
  selects (``UNION``/``INTERSECT``/``EXCEPT``) or ``VALUES``;
* data sources: the table ``logs`` (the engine builds it: a view over the store on DuckDB, the Glue
  table on Athena), the statement's own CTEs, subqueries, ``UNNEST`` and ``VALUES``;
* any function except those that reach files, the network, settings or the environment (``read_*``,
  ``glob``, ``query``, ``getenv``, ``current_setting``, ``duckdb_*``/``pragma_*``...); function names
  are compared after Unicode NFKC folding and lower-casing, so ``ＲＥＡＤ_ＴＥＸＴ`` is ``read_text``.

Anything else is a ``SandboxError`` naming what was refused and where.
"""

from __future__ import annotations

import unicodedata

from sqlglot import exp

from logpipe.errors import QueryError

LOGS_TABLE = "logs"

# Statements: the root must be one of these (a parenthesised query is unwrapped first).
_READ_ROOTS: tuple[type[exp.Expression], ...] = (exp.Select, exp.SetOperation, exp.Values)

# Nodes that write, change state or are not a query at all, wherever they appear in the tree.
_STATEMENT_NODES: tuple[type[exp.Expression], ...] = tuple(
    getattr(exp, name) for name in (
        "DML", "DDL", "Insert", "Update", "Delete", "Merge", "Create", "Drop", "Alter", "Copy", "Command",
        "Set", "Pragma", "Describe", "Into", "Use", "Transaction", "Commit", "Rollback", "Attach", "Detach",
        "Cache", "Uncache", "LoadData", "Refresh", "Kill", "Grant", "Revoke", "Analyze", "TruncateTable",
        "Install", "Export", "Show", "Summarize", "Execute", "Declare", "Comment", "Lock")
    if hasattr(exp, name))

# Functions that touch files, the network, the engine's settings or the process environment.
# (DuckDB's file readers and catalog functions, and what other engines call theirs.)
_FORBIDDEN_FUNCTION_PREFIXES = (
    "read_", "parquet_", "duckdb_", "pragma_", "sqlite_", "postgres_", "mysql_", "iceberg_", "delta_",
    "arrow_", "ducklake_", "http_", "pg_", "lo_", "sys_", "system_", "load_", "import_", "export_",
)
_FORBIDDEN_FUNCTIONS = frozenset({
    "glob", "query", "query_table", "getenv", "current_setting", "set_config", "sniff_csv", "install", "load",
    "copy", "checkpoint", "force_checkpoint", "which_secret", "sql_auto_complete", "shell", "system", "exec",
    "execute", "scan_csv", "csv_scan", "json_scan", "parquet_scan", "text", "blob", "httpfs", "s3", "gcs",
    "azure", "attach", "detach", "table_info", "test_all_types", "enable_logging", "disable_logging",
    "current_database", "current_schema", "current_schemas", "version", "platform",
})


class SandboxError(QueryError):
    """A statement asked for more than reading the table ``logs``."""


def _fold(name: str) -> str:
    """A name as the engines would resolve it: NFKC (fullwidth letters fold), lower case."""
    return unicodedata.normalize("NFKC", name).casefold()


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return node.name
    return node.sql_name()


def _forbidden_function(name: str) -> bool:
    folded = _fold(name)
    return folded in _FORBIDDEN_FUNCTIONS or folded.startswith(_FORBIDDEN_FUNCTION_PREFIXES)


def _kind(node: exp.Expression) -> str:
    """How a refused statement node is named in the error: its SQL keyword where sqlglot keeps one."""
    if isinstance(node, exp.Command):
        return str(node.this).upper()
    if isinstance(node, exp.Into):
        return "SELECT ... INTO"
    if isinstance(node, exp.Alias) and isinstance(node.this, exp.Column):  # "INSTALL httpfs" parses so
        return node.this.name.upper()
    if isinstance(node, exp.Column) and node.name:  # a lone keyword ("CHECKPOINT") parses as a column
        return node.name.upper()
    key = node.key.upper()
    return {"TRUNCATETABLE": "TRUNCATE", "LOADDATA": "LOAD DATA"}.get(key, key)


def _where(node: exp.Expr) -> str:
    line = node.meta.get("line") if node.meta else None
    return f" (line {line})" if line else ""


def check_read_only(tree: exp.Expression, source: str = "query") -> exp.Expression:
    """Raise ``SandboxError`` unless ``tree`` is one read-only statement over ``logs``; returns it.

    ``source`` names the statement in the message (a saved query's file, ``<sql>``).
    """
    root = tree
    while isinstance(root, (exp.Subquery, exp.Paren)) and root.this is not None:
        root = root.this
    if not isinstance(root, _READ_ROOTS):
        raise SandboxError(f"{source}: refused {_kind(root)}: only one read-only statement (SELECT, WITH ... "
                           "SELECT or VALUES) may run")
    ctes = {_fold(cte.alias) for cte in tree.find_all(exp.CTE) if cte.alias}
    for node in tree.walk():
        if isinstance(node, _STATEMENT_NODES):
            raise SandboxError(f"{source}: refused {_kind(node)}{_where(node)}: only one read-only statement "
                               "(SELECT, WITH ... SELECT or VALUES) may run")
        if isinstance(node, exp.Func) and _forbidden_function(_function_name(node)):
            raise SandboxError(f"{source}: refused the function {_function_name(node)}(){_where(node)}: it reaches "
                               "files, the network or the engine's settings; queries read only the table "
                               f"'{LOGS_TABLE}' (the engine reads the store itself)")
        if isinstance(node, exp.Table):
            _check_table(node, ctes, source)
        elif isinstance(node, exp.Lateral) and not isinstance(node.this, (exp.Subquery, exp.Unnest, exp.Select)):
            raise SandboxError(f"{source}: refused LATERAL {_source_name(node.this)}{_where(node)}: only "
                               f"LATERAL (subquery) and UNNEST are data sources besides the table '{LOGS_TABLE}'")
    return tree


def _source_name(node: exp.Expression) -> str:
    return f"{_function_name(node)}()" if isinstance(node, exp.Func) else node.sql(dialect="athena")[:80]


def _check_table(node: exp.Table, ctes: set[str], source: str) -> None:
    """A data source must be ``logs`` or one of the statement's CTEs; never a table function or path."""
    if not isinstance(node.this, exp.Identifier):
        raise SandboxError(f"{source}: refused the table function {_source_name(node.this)}{_where(node)}: "
                           f"queries read only the table '{LOGS_TABLE}' (the engine reads the store itself)")
    qualified = ".".join(part.name for part in node.parts)
    if node.args.get("db") is not None or node.args.get("catalog") is not None:
        raise SandboxError(f"{source}: refused the table {qualified!r}{_where(node)}: queries read only the "
                           f"table '{LOGS_TABLE}' and their own WITH tables")
    name = _fold(node.name)
    if name != LOGS_TABLE and name not in ctes:
        raise SandboxError(f"{source}: refused the table {node.name!r}{_where(node)}: queries read only the "
                           f"table '{LOGS_TABLE}' and their own WITH tables")


__all__ = ["LOGS_TABLE", "SandboxError", "check_read_only"]
