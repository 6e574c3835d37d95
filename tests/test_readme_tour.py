"""The README's commands, run as a new user runs them: in order, in an empty folder, no config file.

Every command of the quick tour and of the sections' ``bash`` examples is read from README.md (so a
changed README is what is tested) and run with ``bash -c`` in one fresh folder, moto standing in for
AWS. A command fails the test when it exits non-zero, or when the README promises output (a table of
rows, a file) and it gives none. The sandbox example's error line is compared with the README's.

What is not run, and why (each is covered by its own tests):

* ``logpipe ui`` and ``tail -f``: they run until Ctrl-C (``tests/test_web_*``, ``tests/test_patterns_cli.py``);
* ``curl`` against a running ``logpipe serve`` (``tests/test_web_api.py``);
* ``logpipe infra deploy``: moto's CloudFormation creates neither Glue nor Athena resources nor the
  stateful stack's exports (``tests/test_infra_e2e.py`` deploys them against moto piece by piece);
* the Development section (it runs this suite).

One deviation: ``logpipe demo`` runs with ``--rate 0.1`` (a tenth of the volume; the same code).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
SKIP = ("logpipe ui", "tail -f", "curl ", "logpipe infra deploy", "bash .ci/run", ".venv/")
COMMAND_START = ("logpipe ", "zcat ", "cat ", "printf ")
# Where the README shows a result, what it must contain: (a substring of the command, a check of stdout).
EXPECT = {
    "query run errors_by_service --since 6h": lambda out, cwd: len(re.findall(r"│ \d{4}-\d\d-\d\dT[\d:]+Z │ [\w-]+ +│ \d+ +│", out)) >= 5,
    "top_error_messages --param service=checkout": lambda out, cwd: out.count("\n| ") >= 2,
    "GROUP BY 1\" --since 24h": lambda out, cwd: "checkout" in out,
    "-o errors.json": lambda out, cwd: len((cwd / "errors.json").read_text().splitlines()) > 10,
    "patterns mine errors.json --field message --summary": lambda out, cwd: "5xx" in out and "<*>" in out,
    "| head -3": lambda out, cwd: len(out.splitlines()) == 3 and out.startswith("{"),
    "--output digest.html": lambda out, cwd: (cwd / "digest.html").read_text().startswith("<!"),
    "dashboard render --local": lambda out, cwd: (cwd / "dashboard" / "index.html").read_text().count("<img") >= 4,
    "query list": lambda out, cwd: "errors_by_service" in out,
    "config show": lambda out, cwd: "[store]" in out,
    "--output volume.csv": lambda out, cwd: (cwd / "volume.csv").read_text().startswith("service,"),
    "metrics cost": lambda out, cwd: "total" in out,
    "firelens render --all": lambda out, cwd: any(cwd.rglob("checkout/fluent-bit.conf")),
    "infra render": lambda out, cwd: (cwd / "infra" / "stateful.yaml").exists(),
}


def readme_commands() -> list[tuple[str, str]]:
    """(section, command) for every command line of every ``bash`` block, in README order."""
    text = README.read_text(encoding="utf-8")
    found: list[tuple[str, str]] = []
    section = ""
    blocks = 0
    for match in re.finditer(r"^## ([^\n]+)$|^```bash\n(.*?)^```", text, re.M | re.S):
        if match[1]:
            section = match[1]
            continue
        blocks += 1
        if blocks == 1:
            continue  # the first block: install + demo and CI's command (the tour runs the demo itself)
        for line in match[2].splitlines():
            command = re.split(r"\s{2,}# ", line)[0].strip()
            if command.startswith(COMMAND_START) and not any(s in command for s in SKIP):
                found.append((section, command))
    return found


def test_the_readme_is_read_as_expected() -> None:
    """The extraction itself: the tour's commands in order, the sections' examples after them."""
    commands = [c for _, c in readme_commands()]
    assert commands[0] == "logpipe demo" and commands[1] == "logpipe simulate --hours 2"
    assert "logpipe query run trace_lines --param id=4bf92f3577b34da6 --since 24h" in commands
    assert not any("logpipe ui" in c or "tail -f" in c for c in commands)
    sections = {s for s, _ in readme_commands()}
    assert {"Quick tour", "Saved queries", "Error patterns and detectors", "Metrics, dashboards and alarms",
            "The service and digests", "Ship logs"} <= sections
    first = re.search(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert first and first[1].splitlines() == [
        "python3.11 -m venv .venv && .venv/bin/pip install -q -e . && .venv/bin/logpipe demo", "bash .ci/run"]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_readme_tour_runs_verbatim(tmp_path: Path, moto_server) -> None:  # type: ignore[no-untyped-def]
    cwd = tmp_path / "fresh"
    cwd.mkdir()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "AWS_ENDPOINT_URL": moto_server.endpoint_url, "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1", "COLUMNS": "80", "PYTHONPATH": str(REPO)}
    env.pop("LOGPIPE_CONFIG", None)
    ran: list[str] = []
    for section, command in readme_commands():
        line = command
        if line == "logpipe demo":
            line = "logpipe demo --rate 0.1"
        if section == "The service and digests" and "--send" in line and not (cwd / "logpipe.toml").exists():
            # the section's [[digest.destinations]], as a file a test can read
            (cwd / "logpipe.toml").write_text('[[digest.destinations]]\nkind = "file"\nname = "tour"\n'
                                              'path = "sent-digest.md"\nformat = "md"\n', encoding="utf-8")
        if section == "Ship logs" and "firelens" in line and "firelens.services" not in (cwd / "logpipe.toml").read_text():
            # the Configuration section's [firelens.services.checkout], as the section says to configure
            with open(cwd / "logpipe.toml", "a", encoding="utf-8") as config:
                config.write('\n[firelens.services.checkout]\nruntime = "java"\n')
        proc = subprocess.run(["bash", "-o", "pipefail", "-c", line], cwd=cwd, env=env, capture_output=True,
                              text=True, timeout=240)  # a hang fails the test, not the CI run
        # `zcat ... | head -3` closes the pipe early: zcat's SIGPIPE (141) is the shell's way, not a failure
        ok = proc.returncode == 0 or ("| head" in line and proc.returncode == 141)
        assert ok, f"{section}: {command!r} exited {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        assert "Traceback" not in proc.stderr, (command, proc.stderr[-2000:])
        for key, check in EXPECT.items():
            if key in command:
                assert check(proc.stdout, cwd), f"{command!r} showed no result:\n{proc.stdout[-3000:]}"
        ran.append(command)
    assert (cwd / "sent-digest.md").read_text().startswith("# ")
    assert len(ran) >= 25

    # The sandbox example: the README's error line, exactly.
    shown = re.search(r"^\$ (logpipe query sql .*)\n(error: .*)$", README.read_text(encoding="utf-8"), re.M)
    assert shown
    proc = subprocess.run(shlex.split(shown[1]), cwd=cwd, env={**env, "COLUMNS": "300"}, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0 and proc.stderr.strip() == shown[2]
