"""checkov, run from its own virtual environment.

Why a separate venv: the newest checkov pins an old boto3; installed next to ours, pip backtracks it to
3.1.x, which lacks checks we want (Firehose among them). ``.ci/run`` (the README's test command)
builds ``.checkov-venv`` at the repo root once, before the suite: installing it is not a test, and a
test with an install inside its timeout failed on a loaded machine.

Used by the infra, FireLens and Dockerfile tests::

    from support.checkov import run_checkov
    result = run_checkov(Path("infra"), "cloudformation")
    assert failed_checks(result) == []
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_DIR = REPO_ROOT / ".checkov-venv"
READY_MARKER = VENV_DIR / ".logpipe-ready"
RUN_TIMEOUT_SECONDS = 300


def _bin(name: str) -> Path:
    return VENV_DIR / ("Scripts" if os.name == "nt" else "bin") / name


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def ensure_checkov() -> Path:
    """The ``checkov`` of ``.checkov-venv``, which ``.ci/run`` builds before the suite runs.

    Without it the checks are skipped with the reason (a plain ``pytest`` run), unless
    ``LOGPIPE_REQUIRE_CHECKOV`` is set (``.ci/run`` sets it when it built the environment): then a
    missing checkov is a failure, never a silent skip.
    """
    checkov = _bin("checkov")
    if READY_MARKER.exists() and checkov.exists():
        return checkov
    message = (f"checkov's environment {VENV_DIR} is not built: .ci/run builds it "
               "(python3.11 -m venv .checkov-venv && .checkov-venv/bin/pip install checkov)")
    if os.environ.get("LOGPIPE_REQUIRE_CHECKOV"):
        pytest.fail(message)
    pytest.skip(message)


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
