"""Optional dependencies, by the extra that installs them (``pip install 'logpipe[athena]'``).

The core installs what the embedded default needs (``logpipe demo`` on one machine). A feature that
needs more asks here first, so a missing package is one line naming the extra, not an ImportError.
"""

from __future__ import annotations

import importlib

from logpipe.errors import MissingExtraError

# extra -> the modules it provides
EXTRAS: dict[str, tuple[str, ...]] = {
    "athena": ("pyathena",),
    "datadog": ("datadog_api_client",),
    "postgres": ("psycopg",),
    "charts": ("matplotlib",),
    "web": ("fastapi", "uvicorn", "multipart", "jwt"),
}


def available(extra: str) -> bool:
    """Whether every module of ``extra`` can be imported."""
    try:
        for module in EXTRAS[extra]:
            importlib.import_module(module)
    except ImportError:
        return False
    return True


def require(extra: str, feature: str) -> None:
    """Raise a MissingExtraError naming ``extra`` when ``feature`` cannot have its modules."""
    for module in EXTRAS[extra]:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise MissingExtraError(
                f"{feature} needs the optional '{extra}' dependencies ({module} is not installed): "
                f"pip install 'logpipe[{extra}]'") from exc


__all__ = ["EXTRAS", "available", "require"]
