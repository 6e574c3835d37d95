"""The ``logpipe`` process ends without interpreter teardown once its command is done
(``logpipe.cli.quick_exit``), doing first what a normal exit does that anyone can see: the atexit
handlers run, the output is whole, the exit status is the command's; where that cannot be done safely
the exit is the normal one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from logpipe.cli.quick_exit import exit_status

REPO_ROOT = Path(__file__).resolve().parents[1]

# Runs the console script's entry point as the process's own command line. An atexit handler and an
# object finalised at interpreter teardown each leave a marker file; THREAD starts a non-daemon thread
# that outlives the command.
SCRIPT = """
import atexit, sys, threading, time
from pathlib import Path
out = Path(sys.argv[1]); mode = sys.argv[2]
atexit.register(lambda: (out / "atexit").write_text("ran"))
class Teardown:
    def __del__(self):
        (out / "teardown").write_text("ran")
keep = Teardown()
if mode == "thread":
    threading.Thread(target=lambda: (time.sleep(0.5), (out / "thread").write_text("done"))).start()
sys.argv = ["logpipe", *sys.argv[3:]]
from logpipe.cli import main
main()
"""


def run(tmp_path: Path, *args: str, mode: str = "plain", env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    out = tmp_path / "markers"
    out.mkdir(exist_ok=True)
    for marker in out.iterdir():
        marker.unlink()
    return subprocess.run([sys.executable, "-c", SCRIPT, str(out), mode, *args], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})})


def markers(tmp_path: Path) -> set[str]:
    return {p.name for p in (tmp_path / "markers").iterdir()}


def test_a_command_ends_after_its_atexit_handlers_without_teardown(tmp_path: Path) -> None:
    done = run(tmp_path, "query", "list", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert '"errors_by_service"' in done.stdout and done.stdout.rstrip().endswith("]")  # the output whole
    assert markers(tmp_path) == {"atexit"}  # the handler ran; the interpreter was not torn down


def test_the_normal_exit_on_request(tmp_path: Path) -> None:
    done = run(tmp_path, "query", "list", "--format", "json", env={"LOGPIPE_NORMAL_EXIT": "1"})
    assert done.returncode == 0, done.stderr
    assert markers(tmp_path) == {"atexit", "teardown"}


def test_a_failing_command_keeps_its_status_and_message(tmp_path: Path) -> None:
    for env in ({}, {"LOGPIPE_NORMAL_EXIT": "1"}):
        done = run(tmp_path, "query", "run", "no_such_query", env=env)
        assert done.returncode == 2
        assert "no saved query named 'no_such_query'" in done.stderr
    usage = run(tmp_path, "query", "run")
    assert usage.returncode == 2 and "Missing argument" in usage.stderr
    assert markers(tmp_path) == {"atexit"}


def test_a_running_thread_gets_the_normal_exit(tmp_path: Path) -> None:
    done = run(tmp_path, "query", "list", "--format", "json", mode="thread")
    assert done.returncode == 0, done.stderr
    # waited for, as a normal exit does (the quick exit would have ended it half a second early)
    assert {"atexit", "thread"} <= markers(tmp_path)


@pytest.mark.parametrize("normal", ["", "1"])
def test_a_reader_gone_is_handled_as_before(tmp_path: Path, normal: str) -> None:
    """``logpipe ... | head -c 1``: the same status and no traceback, with or without the quick exit."""
    script = (f"{sys.executable} -m logpipe query list --format json | head -c 1 >/dev/null; "
              "echo status=${PIPESTATUS[0]}")
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "LOGPIPE_NORMAL_EXIT": normal})
    assert "Traceback" not in done.stderr
    assert done.stdout.strip() in ("status=0", "status=120", "status=1")
    reference = subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                               env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "LOGPIPE_NORMAL_EXIT": "1"})
    assert done.stdout == reference.stdout


def test_exit_status_is_what_sys_exit_gives(capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_status(None) == 0
    assert exit_status(0) == 0
    assert exit_status(3) == 3
    assert exit_status(256 + 7) == 7
    assert exit_status("went wrong") == 1
    assert capsys.readouterr().err == "went wrong\n"
