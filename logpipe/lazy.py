"""Imports put off until first use, and the same imports made up front where threads would race them.

A package front door (``logpipe.state``, ``logpipe.queries``, ``logpipe.digest``, ``logpipe.service``)
names its API without importing every submodule: ``lazy_attributes`` is its PEP 562 ``__getattr__``,
so that ``logpipe run`` or ``query run`` pays only for the modules it uses. A threaded entry point
(``serve``'s scheduler, the web console) calls ``import_modules`` on one thread before its threads
start: two threads importing modules that import one another can each reach the other's
half-initialised ("cannot import name ... from partially initialized module").
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_attributes(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A package's module ``__getattr__``: ``names`` maps each name to the submodule (relative to
    ``package``) it is imported from when first asked for; any other name is an AttributeError."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    return __getattr__


def import_modules(names: Iterable[str]) -> None:
    """Import every module named, on the calling thread."""
    for name in names:
        importlib.import_module(name)


__all__ = ["import_modules", "lazy_attributes"]
