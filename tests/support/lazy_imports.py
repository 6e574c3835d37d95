"""The logpipe modules a source file imports inside functions, and the modules a snippet leaves loaded:
for the checks that a threaded entry point (``serve``'s scheduler, the web console) imports beforehand,
on one thread, every module its threads would otherwise import lazily (``JOB_MODULES``,
``CONSOLE_MODULES``)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def lazy_logpipe_imports(paths: Iterable[Path]) -> set[str]:
    """Every ``logpipe`` module imported inside a function of these files, and the submodules named by
    ``from logpipe.x import submodule``."""
    lazy: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and inner.module and inner.module.startswith("logpipe"):
                    lazy.add(inner.module)
                    lazy.update(f"{inner.module}.{alias.name}" for alias in inner.names
                                if (REPO_ROOT / inner.module.replace(".", "/") / f"{alias.name}.py").is_file())
                elif isinstance(inner, ast.Import):
                    lazy.update(alias.name for alias in inner.names if alias.name.startswith("logpipe"))
    return lazy


def modules_loaded_by(code: str) -> set[str]:
    """The modules in ``sys.modules`` after running ``code`` in a fresh interpreter (this checkout's logpipe)."""
    proc = subprocess.run([sys.executable, "-c", f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stdout.splitlines()[-1]))
