"""Package discovery and the optional C extension for setuptools; everything else is in pyproject.toml.

Why this file: the shipped saved queries live in the top-level ``queries/`` (DESIGN.md), outside the
package. Installed, they are the package data of ``logpipe.shipped_queries`` (``queries/`` mapped to
that name), so a wheel, a ``--user`` install or the Docker image finds them with importlib.resources;
pyproject.toml alone cannot find packages and map a folder from outside them at once.

``logpipe.patterns._fastpath`` is the pattern miner's per-line hot loop in C (plain CPython API, no
dependency). It is ``optional``: where no compiler is found the build prints a warning and the
install goes on; the miner then runs its pure-Python loop, which gives the very same output
(``LOGPIPE_PURE_PYTHON=1`` forces that path where the extension is built).
"""

from setuptools import Extension, find_namespace_packages, setup

setup(
    packages=[*find_namespace_packages(include=["logpipe", "logpipe.*"], exclude=["*.__pycache__"]), "logpipe.shipped_queries"],
    package_dir={"logpipe.shipped_queries": "queries"},
    ext_modules=[Extension("logpipe.patterns._fastpath", ["logpipe/patterns/_fastpath.c"], optional=True)],
)
