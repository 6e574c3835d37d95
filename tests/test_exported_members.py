"""Each package's front door exports what it means to (in the manner of httpx's test of its own).

A package's ``__init__`` names its public API in ``__all__``: everything public it holds is listed,
and everything listed exists. Adding a name to a front door without listing it, or listing a name
that is gone, fails here, so the exported set changes only on purpose.
"""

from __future__ import annotations

import importlib
import pkgutil
import types

import pytest

import logpipe

PACKAGES = sorted(name for _finder, name, is_package in pkgutil.walk_packages(logpipe.__path__, "logpipe.")
                  if is_package and ".migrations" not in name and not name.endswith(".templates"))
TOP_MODULES = sorted(name for _finder, name, is_package in pkgutil.iter_modules(logpipe.__path__, "logpipe.")
                     if not is_package and name != "logpipe.__main__")
NOT_API = {"annotations", "TYPE_CHECKING"}  # ``from __future__ import annotations``; typing's flag


def public_names(module: types.ModuleType) -> set[str]:
    """Public names the module holds, and those it imports when first used (a ``_LAZY`` table read by
    its module ``__getattr__``, PEP 562: each must resolve)."""
    lazy = set(getattr(module, "_LAZY", {}))
    for name in lazy:
        assert getattr(module, name) is not None, f"{module.__name__}.{name} does not resolve"
    return lazy | {name for name, value in vars(module).items()
                   if not name.startswith("_") and name not in NOT_API and not isinstance(value, types.ModuleType)}


def test_the_packages_are_found() -> None:
    assert {"logpipe.engines", "logpipe.queries", "logpipe.state", "logpipe.store", "logpipe.sinks"} <= set(PACKAGES)
    assert {"logpipe.config", "logpipe.aws", "logpipe.errors"} <= set(TOP_MODULES)


@pytest.mark.parametrize("name", ["logpipe", *PACKAGES])
def test_a_package_exports_exactly_its_public_names(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert len(exported) == len(set(exported)), f"{name}.__all__ lists a name twice"
    if name == "logpipe":
        assert exported == ["__version__"]
        return
    assert set(exported) == public_names(module), f"{name}: __all__ and the public names differ"


@pytest.mark.parametrize("name", TOP_MODULES)
def test_a_module_exports_names_it_has(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported, f"{name} has no __all__"
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ lists names it does not have: {missing}"


def test_the_package_is_typed() -> None:
    from importlib import resources

    assert resources.files("logpipe").joinpath("py.typed").is_file()
