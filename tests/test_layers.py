"""The package's layers, stated once and held against its imports.

Every ``import`` in ``logpipe/`` is read with ``ast`` (module level, inside functions and under
``TYPE_CHECKING`` alike, plus ``importlib.import_module("logpipe...")`` calls): a module may import
only from its own unit or from a unit on a LOWER layer. Units on one layer are siblings and import
neither each other; there is no import cycle between modules. A new top-level module or subpackage
fails here until it is placed in ``LAYERS`` on purpose.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "logpipe"

# From the ground up. A unit is a top-level module or subpackage of logpipe.
LAYERS: list[set[str]] = [
    # the version; the exceptions; cache files; names imported on first use
    {"logpipe", "logpipe.errors", "logpipe.cache_files", "logpipe.lazy"},
    {"logpipe.extras", "logpipe.layout", "logpipe.schema", "logpipe.redact", "logpipe.text",
     "logpipe.config_file", "logpipe.durations"},  # contracts, wording; the config file; durations
    {"logpipe.config"},  # the validated configuration
    # clients, chart drawing, the state database; validated configurations kept between processes
    {"logpipe.aws", "logpipe.charts", "logpipe.state", "logpipe.config_cache"},
    {"logpipe.store"},  # the log store over an object store
    {"logpipe.engines"},  # DuckDB and Athena: bound statements in, frames out
    {"logpipe.queries"},  # saved queries: loading, parameter validation, the runner
    {"logpipe.metrics", "logpipe.patterns", "logpipe.simulate", "logpipe.firelens", "logpipe.infra"},
    {"logpipe.sinks"},  # where data points go, and the exactly-once publisher
    {"logpipe.detectors"},
    {"logpipe.digest"},
    {"logpipe.service", "logpipe.report"},
    {"logpipe.demo", "logpipe.web"},  # the demo; the web console and HTTP server
    {"logpipe.cli"},
    {"logpipe.__main__"},
]
LAYER_OF = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    """Every module of ours: its .py file, or for a compiled module (a C extension) its .pyi stub."""
    stubs = [p for p in PACKAGE.rglob("*.pyi") if not p.with_suffix(".py").exists()]
    return {module_name(p): p for p in sorted([*PACKAGE.rglob("*.py"), *stubs])}


def unit_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])


def resolve(name: str, known: dict[str, Path]) -> str | None:
    """The module of ours that an imported dotted name lives in (``a.b.c`` may be a name in ``a.b``)."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from a.b import c``: the module a.b.c when there is one, else a name defined in a.b.
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None))
              in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            names = [node.args[0].value]
        for name in names:
            if name == "logpipe" or name.startswith("logpipe."):
                target = resolve(name, known)
                if target is not None and target != module:
                    found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {module: imports_of(module, path, known) for module, path in known.items()}


def test_every_unit_has_a_layer() -> None:
    units = {unit_of(m) for m in modules()}
    unplaced = sorted(units - set(LAYER_OF))
    assert not unplaced, f"place these in LAYERS (tests/test_layers.py): {unplaced}"
    gone = sorted(set(LAYER_OF) - units)
    assert not gone, f"LAYERS names units that do not exist: {gone}"


def test_no_import_runs_up_or_sideways() -> None:
    wrong = []
    for module, targets in import_graph().items():
        here = unit_of(module)
        for target in sorted(targets):
            there = unit_of(target)
            if there != here and LAYER_OF[there] >= LAYER_OF[here]:
                wrong.append(f"{module} (layer {LAYER_OF[here]}) imports {target} (layer {LAYER_OF[there]})")
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the cycles of the graph, as its components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle() -> None:
    assert strongly_connected(import_graph()) == []


def test_the_checks_can_fail() -> None:
    """The cycle finder and the layer rule see what they must (a check that cannot fail proves nothing)."""
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    graph = import_graph()
    assert "logpipe.engines.binding" in graph["logpipe.engines.duckdb"]  # imports are read
    assert "logpipe.errors" in graph["logpipe.config"]
    assert LAYER_OF[unit_of("logpipe.queries.runner")] > LAYER_OF[unit_of("logpipe.engines.duckdb")]
