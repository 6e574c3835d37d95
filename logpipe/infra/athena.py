"""The Athena side made public: the ``logs`` view in the Glue catalog and the saved queries as Athena
named queries, so the Athena console, Grafana's Athena data source and QuickSight see what logpipe sees.

* **The view** is a Glue table of type ``VIRTUAL_VIEW`` in the stateful stack, written the way Athena
  writes its own views (``/* Presto View: base64(JSON) */`` with the Trino column types, Hive types in
  the storage descriptor). Its SQL is :func:`logpipe.schema.logs_view_sql`, the same projection the
  engines use, with one change: ``ts`` is a plain ``timestamp(3)`` in UTC, because the Glue catalog
  speaks Hive types, which have no zoned timestamp (the values are the same instants).
* **Named queries** are too large for a CloudFormation template body (the shipped queries alone are
  ~50 KB of SQL; a template body is limited to 51,200 bytes), so ``logpipe infra deploy`` syncs them
  through the Athena API after the stateful stack (``logpipe infra named-queries`` on its own): one
  ``PREFIX-NAME`` per saved query in the workgroup, reading the view, created, updated or deleted so
  the workgroup holds exactly the files in ``queries/``. Each runs as it is in the console: the window
  placeholders become "the last window before now" and declared parameters their defaults.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from logpipe.config import Config, parse_duration
from logpipe.errors import ConfigError, DeliveryError
from logpipe.schema import CANONICAL_KEYS, RAW_COLUMNS, logs_view_sql

MARKER = "[logpipe saved query]"  # ends the description of every named query we manage


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def view_name(config: Config) -> str:
    view = config.infra.athena_view
    if view == config.engine.table:
        raise ConfigError(f"infra.athena_view = {view!r} is also [engine] table: the view reads that table, so "
                          "give it another name (the default is logs_view)")
    return view


def view_columns() -> list[tuple[str, str, str]]:
    """(name, Trino type, Hive type) of the view, in its column order."""
    strings = [c for c in RAW_COLUMNS if c not in CANONICAL_KEYS]
    names = ["service", "level", "message", *strings, "raw_time", "dt", "hour", "shape", "pattern_id"]
    return [("ts", "timestamp(3)", "timestamp"), *((n, "varchar", "string") for n in names)]


def view_sql(config: Config) -> str:
    """The view's SELECT: the engine's projection over the Glue table, ``ts`` as UTC ``timestamp(3)``."""
    raw = f"{_quote(config.engine.database)}.{_quote(config.engine.table)}"
    rest = ", ".join(_quote(name) for name, _, _ in view_columns()[1:])
    return (f"SELECT CAST(ts AT TIME ZONE 'UTC' AS timestamp(3)) AS ts, {rest}\n"
            f"FROM ({logs_view_sql(raw).strip()}) AS logpipe_logs")


def glue_view_input(config: Config) -> dict[str, Any]:
    """The ``TableInput`` of the view, as Athena's own ``CREATE VIEW`` would store it."""
    presto = {"originalSql": view_sql(config), "catalog": "awsdatacatalog", "schema": config.engine.database,
              "columns": [{"name": n, "type": t} for n, t, _ in view_columns()]}
    encoded = base64.b64encode(json.dumps(presto, separators=(",", ":")).encode()).decode()
    return {
        "Name": view_name(config),
        "Description": f"ECS logs as logpipe's saved queries read them (the logical table logs over {config.engine.table})",
        "TableType": "VIRTUAL_VIEW",
        "Parameters": {"presto_view": "true", "comment": "Presto View"},
        "ViewOriginalText": f"/* Presto View: {encoded} */",
        "ViewExpandedText": "/* Presto View */",
        "StorageDescriptor": {
            "Columns": [{"Name": n, "Type": h} for n, _, h in view_columns()],
            "SerdeInfo": {},
        },
    }


def decode_view(table: dict[str, Any]) -> dict[str, Any]:
    """The Presto view JSON inside a Glue view table (what Athena reads)."""
    text = table["ViewOriginalText"]
    inner = text.removeprefix("/* Presto View: ").removesuffix(" */")
    return dict(json.loads(base64.b64decode(inner)))


# -- named queries -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class NamedQuery:
    name: str
    description: str
    database: str
    sql: str


def _window_expressions(window_seconds: int) -> dict[str, str]:
    """The runner's placeholders as "the last window before now" (UTC), in Trino SQL."""
    now = "current_timestamp AT TIME ZONE 'UTC'"
    start = f"({now} - INTERVAL '{window_seconds}' SECOND)"
    return {"window_start": start, "window_end": now,
            "dt_start": f"date_format({start}, '%Y-%m-%d')", "dt_end": f"date_format({now}, '%Y-%m-%d')",
            "dthour_start": f"date_format({start}, '%Y-%m-%d%H')", "dthour_end": f"date_format({now}, '%Y-%m-%d%H')"}


def named_query_sql(config: Config, query: Any) -> str:
    """A saved query as console-ready Athena SQL: ``logs`` is the view, the window is the last one
    before now, and each declared parameter is its default (a literal built by sqlglot, quoted)."""
    from sqlglot import exp

    from logpipe.engines.binding import athena_literal, prepare_tree, typed_null
    from logpipe.engines.transpile import parse

    types = {p.name: p for p in query.params}
    defaults = {p.name: p.default for p in query.params}
    tree = prepare_tree(parse(query.sql, source=str(query.path)), defaults, types)
    window = _window_expressions(parse_duration(query.window))
    view = exp.Table(this=exp.to_identifier(view_name(config), quoted=True),
                     db=exp.to_identifier(config.engine.database, quoted=True))
    ctes = {c.alias for c in tree.find_all(exp.CTE)}

    def literal(name: str) -> exp.Expression:
        param, value = types[name], defaults[name]
        if value is None:
            return typed_null(param)
        if param.type == "list":
            return exp.Array(expressions=[parse(athena_literal(v, param.item_type), source="a default") for v in value])
        text = athena_literal(value, param.type)
        if param.type == "timestamp":
            return exp.Anonymous(this="from_iso8601_timestamp", expressions=[parse(text, source="a default")])
        return parse(text, source="a default")

    def visit(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder):
            if node.name in window:
                return parse(window[node.name], source="the window")
            if node.name in types:
                return literal(node.name)
        if isinstance(node, exp.Table) and node.name == "logs" and not node.db and "logs" not in ctes:
            replaced = view.copy()
            if node.alias:
                replaced.set("alias", node.args["alias"].copy())
            return replaced
        return node

    tree = tree.transform(visit, copy=False)
    header = [f"-- {query.name}: {query.description}".replace("\n", " "),
              f"-- The last {query.window} before now; edit the window and parameters as you need.",
              "-- Saved by logpipe from its queries/ folder: edit the file there, not here (it is synced back)."]
    return "\n".join(header) + "\n" + tree.sql(dialect="trino", pretty=True, comments=False)


def named_queries(config: Config) -> list[NamedQuery]:
    """One named query per saved query (shipped and ``[queries] dirs``)."""
    from logpipe.queries.loader import load_queries

    prefix = config.infra.stack_prefix
    out = []
    for query in load_queries(config).values():
        description = f"{query.description} {MARKER}".replace("\n", " ")
        if len(description) > 1024:
            description = description[: 1024 - len(MARKER) - 2] + "… " + MARKER
        out.append(NamedQuery(f"{prefix}-{query.name}", description, config.engine.database,
                              named_query_sql(config, query)))
    return out


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def workgroup_name(config: Config) -> str:
    """The stack's workgroup (``primary`` is every account's own, which the stack does not create)."""
    workgroup = config.engine.workgroup
    return workgroup if workgroup != "primary" else config.infra.stack_prefix


def sync_named_queries(config: Config, client: Any = None) -> SyncReport:
    """Make the workgroup's logpipe named queries exactly the saved queries (by name)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from logpipe import aws

    client = client or aws.client("athena", config.aws.region)
    workgroup = workgroup_name(config)
    wanted = {q.name: q for q in named_queries(config)}
    report = SyncReport()
    try:
        ids: list[str] = []
        for page in client.get_paginator("list_named_queries").paginate(WorkGroup=workgroup):
            ids += page.get("NamedQueryIds", [])
        existing: dict[str, dict[str, Any]] = {}
        for query_id in ids:
            found = client.get_named_query(NamedQueryId=query_id)["NamedQuery"]
            if str(found.get("Description", "")).endswith(MARKER):
                existing[found["Name"]] = found
        for name, query in wanted.items():
            have = existing.get(name)
            if have is None:
                client.create_named_query(Name=name, Description=query.description, Database=query.database,
                                          QueryString=query.sql, WorkGroup=workgroup)
                report.created.append(name)
            elif (have.get("QueryString"), have.get("Description"), have.get("Database")) != (
                    query.sql, query.description, query.database):
                client.update_named_query(NamedQueryId=have["NamedQueryId"], Name=name,
                                          Description=query.description, QueryString=query.sql)
                report.updated.append(name)
            else:
                report.unchanged.append(name)
        for name, have in existing.items():
            if name not in wanted:
                client.delete_named_query(NamedQueryId=have["NamedQueryId"])
                report.deleted.append(name)
    except (ClientError, BotoCoreError) as exc:
        raise DeliveryError(f"cannot sync the Athena named queries of workgroup {workgroup}: {exc} "
                            f"(so far created {len(report.created)}, updated {len(report.updated)})") from None
    return report


__all__ = ["MARKER", "NamedQuery", "SyncReport", "decode_view", "glue_view_input", "named_queries",
           "sync_named_queries", "view_columns", "view_name", "view_sql", "workgroup_name"]
