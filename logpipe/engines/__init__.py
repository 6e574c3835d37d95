"""Query engines: DuckDB on one machine, Athena at scale; the same saved query text on both.

Engines are the lower layer: they bind and run a ``BoundStatement`` and know nothing of saved
queries. An engine is chosen from ``ENGINES``, one entry per ``[engine] kind``, so a new engine is
one line here and nothing above changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from logpipe.engines.base import Engine, Progress, QueryStats, athena_cost
from logpipe.engines.binding import BoundStatement, Param, ParamType
from logpipe.errors import UsageError

if TYPE_CHECKING:
    from logpipe.config import Config


def _duckdb(config: Config) -> Engine:
    from logpipe.engines.bad_records import BadRecordCounter
    from logpipe.engines.duckdb import DuckDBEngine
    from logpipe.state.db import open_state
    from logpipe.store import Store

    counter = BadRecordCounter(open_state(config.state.url), config.engine)
    return DuckDBEngine(config.engine, Store(config.store, region=config.aws.region), counter)


def _athena(config: Config) -> Engine:
    from logpipe.engines.athena import AthenaEngine

    return AthenaEngine(config.engine, config.aws.region)


# kind -> a factory of that engine from the configuration (imports stay lazy: pyathena is optional).
ENGINES: dict[str, Callable[[Config], Engine]] = {"duckdb": _duckdb, "athena": _athena}


def open_engine(config: Config, kind: str | None = None) -> Engine:
    """The engine of ``kind`` (default: ``[engine] kind``)."""
    kind = kind or config.engine.kind
    factory = ENGINES.get(kind)
    if factory is None:
        raise UsageError(f"unknown engine {kind!r}: use one of {', '.join(ENGINES)}")
    return factory(config)


__all__ = ["ENGINES", "BoundStatement", "Engine", "Param", "ParamType", "Progress", "QueryStats", "athena_cost",
           "open_engine"]
