"""``logpipe patterns mine``: the CLI contract (one JSON object per input line, in order)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from logpipe.patterns import TemplateMiner

REPO = Path(__file__).resolve().parent.parent

LINES = [
    "Payment 1234 declined for order 55",
    "Session opened for user alice by sshd",
    "",
    "Payment 98 declined for order 7012",
    "Session opened for user bob by sshd",
    "Session opened for user carol by sshd",
    "GET /api/v1/orders/77 [preauth] 200",
]


def _objects(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_one_json_object_per_line_in_order(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("patterns", "mine", "-", input="\n".join(LINES) + "\n")
    assert code == 0, err
    objs = _objects(out)
    assert len(objs) == len(LINES)
    assert [o["line"] for o in objs] == list(range(1, len(LINES) + 1))
    assert all(isinstance(o["pattern_id"], str) and isinstance(o["template"], str) for o in objs)
    assert objs[0]["template"] == "Payment <*> declined for order <*>"
    assert objs[0]["pattern_id"] == objs[3]["pattern_id"]
    assert objs[0]["is_new"] is True and objs[3]["is_new"] is False
    assert objs[2]["template"] == ""  # an empty line still gets its object
    assert objs[5]["template"] == "Session opened for user <*> by sshd"
    # the ids written before the merge resolve to the merged pattern (same as the library)
    miner = TemplateMiner()
    results = [miner.add(line) for line in LINES]
    assert [o["pattern_id"] for o in objs] == [r.pattern_id for r in results]
    assert miner.resolve(str(objs[1]["pattern_id"])) == objs[5]["pattern_id"]

    # a file gives the same output as stdin (the file path reads in batches)
    path = tmp_path / "in.log"
    path.write_text("\n".join(LINES))  # no newline after the last line
    code, from_file, err = cli("patterns", "mine", str(path))
    assert code == 0, err
    assert _objects(from_file) == objs


def test_invalid_utf8_and_crlf(cli) -> None:  # type: ignore[no-untyped-def]
    raw = b"ok line 1\r\n\xff\xfe broken \xc3 bytes 7\r\n\r\nlast 2"
    code, out, err = cli("patterns", "mine", input=raw)
    assert code == 0, err
    objs = _objects(out)
    assert len(objs) == 4
    assert objs[1]["template"] == "\ufffd\ufffd broken \ufffd bytes <*>"
    assert objs[2]["template"] == ""
    assert objs[0]["template"] == "ok line <*>"


def test_summary_table(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("patterns", "mine", "--summary", input="\n".join(LINES) + "\n")
    assert code == 0, err
    assert "Session opened for user <*> by sshd" in out
    assert "[preauth]" in out  # brackets are text, not markup
    assert "patterns in 7 lines" in out
    assert not out.lstrip().startswith("{")


def test_missing_file_is_a_one_line_error(cli) -> None:  # type: ignore[no-untyped-def]
    code, _out, err = cli("patterns", "mine", "does-not-exist.log")
    assert code == 2
    assert "no such file" in err and "Traceback" not in err


def test_streams_each_line_before_input_ends() -> None:
    """Through a pipe, the answer to line 1 arrives while stdin is still open."""
    proc = subprocess.Popen([sys.executable, "-m", "logpipe", "patterns", "mine"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(b"first message 1\n")
        proc.stdin.flush()
        first = json.loads(proc.stdout.readline())
        assert first["line"] == 1 and first["template"] == "first message <*>"
        proc.stdin.write(b"first message 2\n")
        proc.stdin.close()
        rest = proc.stdout.read().decode().splitlines()
        assert [json.loads(x)["pattern_id"] for x in rest] == [first["pattern_id"]]
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
