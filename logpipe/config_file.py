"""Which configuration file a command reads: ``--config``, else ``$LOGPIPE_CONFIG``, else
``./logpipe.toml`` when it exists, else none (the embedded default).

Its own module, free of pydantic: the validation (``logpipe.config``) and the remembered
configurations (``logpipe.config_cache``, read without importing pydantic) find the file alike."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from logpipe.errors import ConfigError

DEFAULT_CONFIG_FILE = "logpipe.toml"


def locate(path: str | Path | None, environ: Mapping[str, str]) -> tuple[Path | None, bytes | None]:
    """The configuration file and its bytes, or (None, None) for the embedded default.

    ``path`` None means ``$LOGPIPE_CONFIG`` or ``./logpipe.toml`` if either exists; a path given
    explicitly (or by ``$LOGPIPE_CONFIG``) must exist."""
    explicit = path is not None or "LOGPIPE_CONFIG" in environ
    file = Path(path if path is not None else environ.get("LOGPIPE_CONFIG", DEFAULT_CONFIG_FILE))
    if not file.exists():
        if explicit:
            raise ConfigError(f"config file {file} does not exist")
        return None, None
    try:
        return file, file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {file}: {exc}") from exc


__all__ = ["DEFAULT_CONFIG_FILE", "locate"]
