"""Which engine runs a statement: one entry per ``[engine] kind``, so a new engine is one line here
and nothing above changes (in the manner of sqlglot's dialect table)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from logpipe.engines.base import Engine
from logpipe.errors import UsageError

if TYPE_CHECKING:
    from logpipe.config import Config


def _duckdb(config: Config) -> Engine:
    from logpipe.durations import parse_duration
    from logpipe.engines.bad_records import ObjectReader
    from logpipe.engines.duckdb import DuckDBEngine
    from logpipe.store import Store

    store = Store(config.store, region=config.aws.region)
    # the state database by its URL: opened when the verdicts need it (a warm run's lookup in a SQLite
    # file does not, logpipe.store.verdicts)
    reader = ObjectReader(config.state.url, config.engine, store, parse_duration(config.service.lateness))
    return DuckDBEngine(config.engine, store, reader, compacted=config.compact.read)


def _athena(config: Config) -> Engine:
    from logpipe.engines.athena import AthenaEngine
    from logpipe.extras import require

    require("athena", "the athena engine")
    if not (config.compact.read and config.store.is_s3):
        return AthenaEngine(config.engine, config.aws.region)
    from logpipe.layout import daily_table_name
    from logpipe.store import Store
    from logpipe.store.compacted import read_day_watermark, read_watermark

    store = Store(config.store, region=config.aws.region)  # the bucket the Glue tables are over
    return AthenaEngine(config.engine, config.aws.region, parquet_table=config.compact.table,
                        watermark=lambda: read_watermark(store), daily_table=daily_table_name(config.compact.table),
                        day_watermark=lambda: read_day_watermark(store))


# kind -> a factory of that engine from the configuration (imports stay lazy: pyathena is optional).
ENGINES: dict[str, Callable[[Config], Engine]] = {"duckdb": _duckdb, "athena": _athena}


def open_engine(config: Config, kind: str | None = None) -> Engine:
    """The engine of ``kind`` (default: ``[engine] kind``)."""
    kind = kind or config.engine.kind
    factory = ENGINES.get(kind)
    if factory is None:
        raise UsageError(f"unknown engine {kind!r}: use one of {', '.join(ENGINES)}")
    return factory(config)


__all__ = ["ENGINES", "open_engine"]
