"""The service Dockerfile: slim Python 3.11, non-root, a HEALTHCHECK that really asks /healthz
(run here against a live health server), ``logpipe serve`` as the entry; checkov passes on it."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out: list[tuple[str, str]] = []
    buffer = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not buffer and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        buffer += " " + line.rstrip("\\").strip()
        if not line.endswith("\\"):
            word, _, rest = buffer.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
            buffer = ""
    return out


def test_base_user_entry_and_context() -> None:
    instructions = _instructions()
    stages = [args for word, args in instructions if word == "FROM"]
    # wheels built on the full image (gcc for the compiled loop), the service on the slim one
    assert stages == ["python:3.11-bookworm AS build", "python:3.11-slim-bookworm"]
    final = instructions[[i for i, (word, _) in enumerate(instructions) if word == "FROM"][-1]:]
    assert ("COPY", "--from=build /wheels /wheels") in final
    assert not any(word == "COPY" and not args.startswith("--from=") for word, args in final)  # no source tree
    users = [args for word, args in instructions if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    entry = json.loads(next(args for word, args in instructions if word == "ENTRYPOINT"))
    cmd = json.loads(next(args for word, args in instructions if word == "CMD"))
    assert entry + cmd == ["logpipe", "serve"]
    ignore = (REPO / ".dockerignore").read_text()
    assert "!logpipe/**" in ignore and "!queries/**" in ignore  # the shipped queries are in the image
    assert "!setup.py" in ignore  # it maps queries/ into the package and declares the compiled loop


def _healthcheck_command() -> list[str]:
    args = next(args for word, args in _instructions() if word == "HEALTHCHECK")
    assert "--interval" in args and "--timeout" in args
    return json.loads(args.split(" CMD ", 1)[1])


def test_healthcheck_asks_healthz_for_real(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from support.web import start_console

    from logpipe.config import Config
    from logpipe.service.scheduler import Service

    command = _healthcheck_command()
    assert command[:2] == ["python", "-c"] and "curl" not in shlex.join(command)
    config = Config.model_validate({"store": {"root": str(tmp_path / "s")},
                                    "state": {"url": f"sqlite:///{tmp_path}/state.db"}})
    service = Service(config, jobs=[])
    server, _console = start_console(config, service)
    env = {"LOGPIPE_SERVICE_PORT": str(server.port), "PATH": "/usr/bin:/bin"}
    try:
        def check() -> int:
            return subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True, timeout=30).returncode

        assert check() == 1  # scheduler not started: 503
        service.start(catch_up=False)
        assert check() == 0
        service.stop(timeout=5)
        assert check() == 1
    finally:
        server.close()


@pytest.mark.slow  # checkov in its own venv (built once)
def test_checkov_passes() -> None:
    from support.checkov import failed_checks, run_checkov

    report = run_checkov(DOCKERFILE, "dockerfile")
    assert failed_checks(report) == []
    assert report["summary"]["passed"] > 0
