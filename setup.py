"""Package discovery for setuptools; everything else is in pyproject.toml.

Why this file: the shipped saved queries live in the top-level ``queries/`` (DESIGN.md), outside the
package. Installed, they are the package data of ``logpipe.shipped_queries`` (``queries/`` mapped to
that name), so a wheel, a ``--user`` install or the Docker image finds them with importlib.resources;
pyproject.toml alone cannot find packages and map a folder from outside them at once.
"""

from setuptools import find_namespace_packages, setup

setup(
    packages=[*find_namespace_packages(include=["logpipe", "logpipe.*"], exclude=["*.__pycache__"]), "logpipe.shipped_queries"],
    package_dir={"logpipe.shipped_queries": "queries"},
)
