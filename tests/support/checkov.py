"""checkov, run from its own virtual environment.

Why a separate venv: the newest checkov pins an old boto3; installed next to ours, pip backtracks it to
3.1.x, which lacks checks we want (Firehose among them). So the test suite creates ``.checkov-venv`` at
the repo root once (``python -m venv`` + ``pip install checkov``) and reuses it on later runs. A file
lock keeps parallel pytest-xdist workers from building it twice. Without a reachable package registry
the checks are skipped with the reason, never failed.

Used by the infra, FireLens and Dockerfile tests::

    from support.checkov import run_checkov
    result = run_checkov(Path("infra"), "cloudformation")
    assert failed_checks(result) == []
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_DIR = REPO_ROOT / ".checkov-venv"
READY_MARKER = VENV_DIR / ".logpipe-ready"
INSTALL_TIMEOUT_SECONDS = 900
RUN_TIMEOUT_SECONDS = 300

# pip's words when the registry cannot be reached (no network, DNS, proxy): skip, do not fail.
_UNREACHABLE_HINTS = (
    "Could not find a version that satisfies",
    "No matching distribution found",
    "NewConnectionError",
    "Max retries exceeded",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "ConnectTimeoutError",
    "ProxyError",
)


def _bin(name: str) -> Path:
    return VENV_DIR / ("Scripts" if os.name == "nt" else "bin") / name


def _lock_path() -> Path:
    # Outside the repo so no stray file is committed; one lock per checkout.
    digest = hashlib.sha1(str(REPO_ROOT).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"logpipe-checkov-{digest}.lock"


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def ensure_checkov() -> Path:
    """The path of a working ``checkov`` executable, installing it into ``.checkov-venv`` once."""
    checkov = _bin("checkov")
    if READY_MARKER.exists() and checkov.exists():
        return checkov
    with open(_lock_path(), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the first worker installs; the others wait, then reuse
        try:
            if READY_MARKER.exists() and checkov.exists():
                return checkov
            if not _bin("python").exists():
                subprocess.run([sys.executable, "-m", "venv", str(VENV_DIR)], check=True,
                               capture_output=True, text=True, timeout=120)
            proc = subprocess.run(
                [str(_bin("python")), "-m", "pip", "install", "--disable-pip-version-check", "--quiet",
                 "checkov"],
                capture_output=True, text=True, timeout=INSTALL_TIMEOUT_SECONDS)
            if proc.returncode != 0:
                output = proc.stdout + proc.stderr
                if any(hint in output for hint in _UNREACHABLE_HINTS):
                    pytest.skip(f"checkov cannot be installed (package registry not reachable): {_tail(output, 3)}")
                pytest.fail(f"pip install checkov into {VENV_DIR} failed:\n{_tail(output)}")
            version = subprocess.run([str(checkov), "--version"], capture_output=True, text=True, timeout=120)
            if version.returncode != 0:
                pytest.fail(f"{checkov} --version failed:\n{_tail(version.stdout + version.stderr)}")
            READY_MARKER.write_text(version.stdout.strip() + "\n")
            return checkov
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def run_checkov(path: str | Path, framework: str, extra_args: list[str] | None = None,
                quiet: bool = True) -> dict[str, Any]:
    """Run checkov on a file (``-f``) or folder (``-d``) and return its parsed JSON report.

    ``quiet`` (checkov's ``--quiet``) leaves passed and skipped checks out of the results (the summary
    still counts them): pass ``quiet=False`` to read the skips and their reasons.

    checkov prints a list when it ran several frameworks and a bare summary when it found nothing
    to scan; both are folded into one dict: ``{"check_type": [...], "results": {"passed_checks",
    "failed_checks", "skipped_checks", "parsing_errors"}, "summary": {...}}``.
    """
    checkov = ensure_checkov()
    path = Path(path)
    target = ["-d", str(path)] if path.is_dir() else ["-f", str(path)]
    cmd = [str(checkov), *target, "--framework", framework, "--skip-download", "-o", "json",
           *(["--quiet"] if quiet else []), *(extra_args or [])]
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_NO_OUTPUT_DIFF": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS, env=env)
    # checkov exits 1 when a check failed: that is a result, not an error. Anything else with no
    # JSON on stdout is an error of the run itself.
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError(
            f"checkov produced no JSON report (exit {proc.returncode}) for {' '.join(cmd)}:\n"
            f"{_tail(proc.stdout)}\n{_tail(proc.stderr)}") from None
    return _merge(report if isinstance(report, list) else [report])


def _merge(reports: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {
        "check_type": [],
        "results": {"passed_checks": [], "failed_checks": [], "skipped_checks": [], "parsing_errors": []},
        "summary": {"passed": 0, "failed": 0, "skipped": 0, "parsing_errors": 0, "resource_count": 0},
    }
    for report in reports:
        if "check_type" in report:
            merged["check_type"].append(report["check_type"])
        for key, items in report.get("results", {}).items():
            if key in merged["results"]:
                merged["results"][key].extend(items)
        # A report with nothing to scan is the bare summary itself.
        summary = report.get("summary", report)
        for key in merged["summary"]:
            value = summary.get(key, 0)
            if isinstance(value, int):
                merged["summary"][key] += value
    return merged


def failed_checks(report: dict[str, Any]) -> list[str]:
    """One readable line per failed check: id, resource, file and line range, guideline name."""
    return [f"{c['check_id']} {c.get('resource')} {c.get('file_path')}:{c.get('file_line_range')} "
            f"{c.get('check_name')}" for c in report["results"]["failed_checks"]]


def skipped_checks(report: dict[str, Any]) -> list[dict[str, Any]]:
    return report["results"]["skipped_checks"]
