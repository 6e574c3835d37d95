"""Detector test material: a config over a tmp folder, hours of records written to its store."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from logpipe.config import Config
from logpipe.layout import Layout
from logpipe.store import Store

DAY0 = datetime(2026, 3, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def make_config(tmp_path: Path, state_url: str | None = None, **detectors: Any) -> Config:
    return Config.model_validate({
        "store": {"root": str(tmp_path / "store"), "prefix": "logs", "cache_dir": str(tmp_path / "cache")},
        "state": {"url": state_url or f"sqlite:///{tmp_path}/state.db"},
        "detectors": {"lookback_days": 3, "spike_min_count": 10, "spike_ratio": 3.0,
                      "error_rate_min_records": 50, "error_rate_threshold": 0.2, "warmup_hours": 24, **detectors},
    })


def write_hour(config: Config, hour: datetime, records: list[dict[str, Any]], seq: int = 0) -> None:
    store = Store(config.store)
    key = Layout(config.store.prefix).object_key(hour, seq=seq)
    lines = []
    for i, record in enumerate(records):
        stamp = hour + timedelta(seconds=(i * 37) % 3600)
        lines.append(json.dumps({"time": stamp.strftime("%Y-%m-%dT%H:%M:%S.000Z"), **record}))
    store.write_object(key, gzip.compress(("\n".join(lines) + "\n").encode()))


def steady(n_info: int = 20, n_err: int = 3, user: int = 0) -> list[dict[str, Any]]:
    """A normal hour: info lines and a couple of known errors with varying variables."""
    out = [{"service": "checkout", "level": "INFO", "message": f"order {1000 + i} placed in {i * 3} ms"}
           for i in range(n_info)]
    out += [{"service": "checkout", "level": "ERROR",
             "message": f"payment gateway timeout after {3000 + i} ms for order {user + i}"} for i in range(n_err)]
    out += [{"service": "cart", "level": "ERROR", "message": f"cache miss storm on shard {i % 4} key=user:{user + i}"}
            for i in range(n_err)]
    out += [{"service": "cart", "level": "INFO", "message": "cart updated"} for _ in range(n_info)]
    return out
