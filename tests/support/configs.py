"""Configs for tests over a store fixture: the state database beside the store's cache (a tmp folder),
never the working folder's ``logpipe-state.db``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from logpipe.config import Config


def config_for(store: Any, **sections: dict[str, Any]) -> Config:
    """The config of a test store (``tmp_store`` or ``s3_store``), its state in the same tmp folder."""
    state = Path(store.config.cache_dir).parent / "state.db"
    data: dict[str, Any] = {"store": store.config.model_dump(), "state": {"url": f"sqlite:///{state}"}}
    data.update(sections)
    return Config.model_validate(data)
