"""How logpipe installs: the core for the embedded default, extras named when a feature needs one,
and a wheel that carries what a non-editable install needs (saved queries, migrations, py.typed)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from logpipe.config import Config
from logpipe.errors import MissingExtraError

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("module", "extra", "call"), [
    ("pyathena", "athena", lambda c: __import__("logpipe.engines", fromlist=["open_engine"]).open_engine(c, "athena")),
    ("datadog_api_client", "datadog", lambda c: __import__("logpipe.sinks", fromlist=["build_sink"]).build_sink(
        "datadog", c.metrics, None)),
    ("psycopg", "postgres", lambda c: __import__("logpipe.state.db", fromlist=["open_state"]).open_state(
        "postgresql://nobody@127.0.0.1:1/none")),
    ("matplotlib", "charts", lambda c: __import__("logpipe.charts", fromlist=["sparkline"]).sparkline([1.0, 2.0])),
])
def test_a_missing_extra_is_named(module: str, extra: str, call, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed: importing it raises ImportError
    with pytest.raises(MissingExtraError, match=rf"pip install 'logpipe\[{extra}\]'"):
        call(Config())


@pytest.mark.slow
def test_the_demo_runs_without_the_charts_extra(tmp_path: Path) -> None:
    """The core is enough for the embedded default: without matplotlib the report says how to get charts."""
    folder = tmp_path / "demo"
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "from logpipe.cli import main\n"
            f"main(['demo', '--dir', {str(folder)!r}, '--rate', '0.1', '--end', '2026-11-20T12:00:00Z'])")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = (folder / "report.html").read_text(encoding="utf-8")
    assert "pip install 'logpipe[charts]'" in report and "data:image/png" not in report
    assert (folder / "digest.html").exists() and "error digest" in proc.stdout


@pytest.mark.slow
def _ignored(path: str, rules: list[tuple[bool, str]]) -> bool:
    """Docker's reading of .dockerignore (the last matching rule wins), for the pattern shapes the file
    uses; another shape fails the test, so the file and this reading change together."""
    ignored = False
    for negated, pattern in rules:
        if pattern == "**":
            hit = True
        elif pattern.startswith("**/*."):
            hit = path.endswith(pattern[4:])
        elif pattern.startswith("**/"):
            hit = pattern[3:] in path.split("/")
        elif pattern.endswith("/**"):
            hit = path.startswith(pattern[:-2])
        elif "*" not in pattern:
            hit = path == pattern
        else:
            raise AssertionError(f".dockerignore pattern {pattern!r}: teach _ignored to read it")
        if hit:
            ignored = not negated
    return ignored


def docker_context(dest: Path) -> Path:
    """What ``docker build .`` sends from a clean checkout: the tracked files .dockerignore admits."""
    rules = [(line.startswith("!"), line.lstrip("!")) for line in
             (REPO / ".dockerignore").read_text().splitlines() if line.strip() and not line.startswith("#")]
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for name in tracked:
        if not _ignored(name, rules):
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    return dest


def test_a_wheel_carries_the_queries_the_migrations_and_py_typed(tmp_path: Path) -> None:
    """Built from exactly the Docker build context (the image's own install step), the wheel carries the
    shipped queries, the migrations, py.typed and, where a compiler is, the miner's compiled loop."""
    context = docker_context(tmp_path / "context")
    assert (context / "setup.py").is_file() and not (context / "tests").exists()
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(context)],
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = wheels.glob("logpipe-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    if shutil.which("gcc") or shutil.which("cc"):
        assert any(n.startswith("logpipe/patterns/_fastpath") and n.endswith(".so") for n in names), (
            sorted(n for n in names if "fastpath" in n), build.stderr[-2000:])
    shipped = sorted(p.name for p in (REPO / "queries").glob("*.sql"))
    assert {f"logpipe/shipped_queries/{n}" for n in shipped} <= names
    assert {"logpipe/py.typed", "logpipe/state/migrations/env.py", "logpipe/state/migrations/script.py.mako",
            "logpipe/report/templates/report.html.j2"} <= names
    assert any(n.startswith("logpipe/state/migrations/versions/0001") for n in names)
    import logpipe

    assert wheel.name.startswith(f"logpipe-{logpipe.__version__}-")  # the version from logpipe/__init__.py
    assert any(n.endswith(".dist-info/LICENSE") or "/licenses/LICENSE" in n for n in names)

    # Installed away from the checkout (as a wheel or a --user install would be), it finds them.
    site = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site),
                              str(wheel)], capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]
    probe = (
        "import logpipe, sys\n"
        f"assert logpipe.__file__.startswith({str(site)!r}), logpipe.__file__\n"
        "from logpipe.config import Config\n"
        "from logpipe.queries.loader import SHIPPED_DIR, load_queries\n"
        "from logpipe.state.db import current_revision, head_revision, open_state\n"
        f"engine = open_state('sqlite:///{tmp_path}/state.db')\n"
        "assert current_revision(engine) == head_revision()\n"
        "print(SHIPPED_DIR)\n"
        "print(' '.join(sorted(load_queries(Config()))))\n")
    ran = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr[-3000:]
    where, names_loaded = ran.stdout.splitlines()
    assert where.startswith(str(site))
    assert names_loaded.split() == sorted(n.removesuffix(".sql") for n in shipped)


def test_version_license_and_changelog_agree() -> None:
    """Release hygiene: one version (logpipe/__init__.py) behind ``--version``, the installed metadata
    and the changelog's latest release; the LICENSE file is the license the metadata names."""
    import importlib.metadata
    import re
    import tomllib

    import logpipe

    ran = subprocess.run([sys.executable, "-m", "logpipe", "--version"], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0 and ran.stdout.strip() == f"logpipe, version {logpipe.__version__}", ran
    assert importlib.metadata.version("logpipe") == logpipe.__version__
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert "version" not in project and project["dynamic"] == ["version"]
    releases = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", (REPO / "CHANGELOG.md").read_text(), re.M)
    assert releases and releases[0] == logpipe.__version__
    assert project["license"] == {"text": "Apache-2.0"}
    assert "Apache License" in (REPO / "LICENSE").read_text() and "Version 2.0" in (REPO / "LICENSE").read_text()


def test_the_images_dependency_layer_builds_against_a_stub_package(tmp_path: Path) -> None:
    """The Dockerfile's first wheel step (dependencies only, cached until pyproject.toml or setup.py
    change) runs on pyproject.toml, setup.py and README.md with a stub package: setuptools must find
    the version there and skip the compiled loop whose source is not copied yet."""
    context = docker_context(tmp_path / "context")
    stub = tmp_path / "stub"
    stub.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(context / name, stub / name)
    (stub / "logpipe").mkdir()
    (stub / "queries").mkdir()
    (stub / "logpipe" / "__init__.py").write_text('__version__ = "0"\n')
    assert "echo '__version__ = \"0\"' > logpipe/__init__.py" in (REPO / "Dockerfile").read_text()
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "w"), str(stub)],
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-3000:]
    assert list((tmp_path / "w").glob("logpipe-0-*.whl"))
