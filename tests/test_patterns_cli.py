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


def test_stream_writes_ids_as_known_and_closes_with_the_alias_map(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("patterns", "mine", "-", input="\n".join(LINES) + "\n")
    assert code == 0, err
    objs = _objects(out)
    *lines, closing = objs
    assert len(lines) == len(LINES)
    assert [o["line"] for o in lines] == list(range(1, len(LINES) + 1))
    assert all(isinstance(o["pattern_id"], str) and isinstance(o["template"], str) for o in lines)
    assert lines[0]["template"] == "Payment <*> declined for order <*>"
    assert lines[0]["pattern_id"] == lines[3]["pattern_id"]
    assert lines[0]["is_new"] is True and lines[3]["is_new"] is False
    assert lines[2]["template"] == ""  # an empty line still gets its object
    assert lines[5]["template"] == "Session opened for user <*> by sshd"
    # the ids written are the ones known at that moment (same as the library) ...
    miner = TemplateMiner()
    results = [miner.add(line) for line in LINES]
    assert [o["pattern_id"] for o in lines] == [r.pattern_id for r in results]
    # ... and the closing object maps each written id that was merged away to its final id
    assert set(closing) == {"aliases"}
    assert closing["aliases"] == {lines[1]["pattern_id"]: lines[5]["pattern_id"],
                                  lines[4]["pattern_id"]: lines[5]["pattern_id"]}


def test_a_file_gets_final_ids(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "in.log"
    path.write_text("\n".join(LINES))  # no newline after the last line
    code, out, err = cli("patterns", "mine", str(path))
    assert code == 0, err
    objs = _objects(out)
    assert len(objs) == len(LINES)  # no closing object: every id is final already
    assert [o["line"] for o in objs] == list(range(1, len(LINES) + 1))
    # the early "alice" line has the merged pattern, not the one it had when it was read
    assert objs[1]["template"] == objs[4]["template"] == "Session opened for user <*> by sshd"
    assert objs[1]["pattern_id"] == objs[4]["pattern_id"] == objs[5]["pattern_id"]
    assert [o["is_new"] for o in objs] == [True, True, True, False, False, False, True]
    # --final on stdin is the same output; --stream on the file is the streaming output
    code, from_stdin, err = cli("patterns", "mine", "--final", "-", input="\n".join(LINES))
    assert code == 0, err
    assert _objects(from_stdin) == objs
    code, streamed, err = cli("patterns", "mine", "--stream", str(path))
    assert code == 0, err
    assert _objects(streamed)[-1]["aliases"]


def test_final_output_is_the_library_grouping_after_all_merges(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """What ``patterns mine FILE`` writes is what the benchmark scores: ``resolve`` after the input."""
    import random

    rng = random.Random(3)
    words = ["alpha", "beta", "gamma", "delta", "omega"]
    lines = []
    for i in range(3000):
        kind = rng.randrange(4)
        if kind == 0:
            lines.append(f"user {rng.choice(words)} logged in from 10.0.{i % 7}.{i % 250}")
        elif kind == 1:
            lines.append(f"job {rng.choice(words)} finished in {rng.randrange(900)} ms with state {rng.choice(['OK', 'FAILED'])}")
        elif kind == 2:
            lines.append(f'GET /api/items/{i} {rng.choice([200, 404, 503])} {rng.randrange(50)}ms')
        else:
            lines.append(f"cache {rng.choice(words)} {rng.choice(words)} evicted {i} keys")
    path = tmp_path / "big.log"
    path.write_text("\n".join(lines) + "\n")
    code, out, err = cli("patterns", "mine", str(path))
    assert code == 0, err
    objs = _objects(out)
    miner = TemplateMiner()
    results = miner.add_many(lines)
    final = {p.pattern_id: p.template for p in miner.patterns()}
    expected = [miner.resolve(r.pattern_id) for r in results]
    assert [o["pattern_id"] for o in objs] == expected
    assert [o["template"] for o in objs] == [final[i] for i in expected]
    assert len(set(expected)) < len({r.pattern_id for r in results})  # merges did happen


def test_invalid_utf8_and_crlf(cli) -> None:  # type: ignore[no-untyped-def]
    raw = b"ok line 1\r\n\xff\xfe broken \xc3 bytes 7\r\n\r\nlast 2"
    for mode in ("--stream", "--final"):
        code, out, err = cli("patterns", "mine", mode, input=raw)
        assert code == 0, err
        objs = [o for o in _objects(out) if "line" in o]
        assert len(objs) == 4
        assert objs[1]["template"] == "\ufffd\ufffd broken \ufffd bytes <*>"
        assert objs[2]["template"] == ""
        assert objs[0]["template"] == "ok line <*>"


def test_valid_utf8_is_mined_from_its_bytes_as_from_its_text(cli) -> None:  # type: ignore[no-untyped-def]
    """A valid UTF-8 block goes to the miner as bytes (``add_many_utf8``): same answers as text."""
    lines = ["héllo wörld 12", "request 9f8e7d6c5b4a3f21 took 5 ms", "héllo wörld 13", "plain 7",
             "request 0a1b2c3d4e5f6789 took 12 ms", "", "naïve ünïcode ok"]
    code, out, err = cli("patterns", "mine", "--final", input="\r\n".join(lines).encode() + b"\r\n")
    assert code == 0, err
    miner = TemplateMiner()
    results = miner.add_many(lines)
    final = {p.pattern_id: p.template for p in miner.patterns()}
    assert [o["template"] for o in _objects(out)] == [final[miner.resolve(r.pattern_id)] for r in results]
    assert TemplateMiner().add_many_utf8([x.encode() for x in lines]) == TemplateMiner().add_many(lines)


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
        rest = [json.loads(x) for x in proc.stdout.read().decode().splitlines()]
        assert [x["pattern_id"] for x in rest[:-1]] == [first["pattern_id"]]
        assert rest[-1] == {"aliases": {}}
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_field_mines_a_json_fields_value_and_names_the_lines_it_skipped(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """``--field message,log``: JSON lines (FireLens records, ``query run --format json``) give the
    first of those fields held as text; a multi-line message stays one; line numbers are the input's;
    lines that give none are skipped and named on stderr, never mined as text."""
    trace = "Traceback (most recent call last):\n  File \"a.py\", line 3, in f\nValueError: bad 7"
    rows = [json.dumps({"message": "Payment 1234 declined for order 55"}),
            "not json at all",
            json.dumps({"log": "Session opened for user alice by sshd", "message": None}),
            "",
            json.dumps({"message": trace}),
            json.dumps(["an", "array"]),
            json.dumps({"message": "Payment 98 declined for order 7012"}),
            json.dumps({"level": "INFO"})]
    path = tmp_path / "records.json"
    path.write_text("\n".join(rows) + "\n")
    code, out, err = cli("patterns", "mine", str(path), "--field", "message,log")
    assert code == 0, err
    objs = _objects(out)
    assert [o["line"] for o in objs] == [1, 3, 5, 7]
    miner = TemplateMiner()
    ids = [miner.add(m).pattern_id for m in ["Payment 1234 declined for order 55", "Session opened for user alice by sshd",
                                              trace, "Payment 98 declined for order 7012"]]
    assert [o["pattern_id"] for o in objs] == [miner.resolve(i) for i in ids]
    assert objs[0]["pattern_id"] == objs[3]["pattern_id"] and [o["is_new"] for o in objs] == [True, True, True, False]
    assert "skipped 3 lines" in err and "line 2, 6, 8" in err
    code, streamed, err = cli("patterns", "mine", "--stream", str(path), "--field", "message,log")
    assert code == 0, err
    *lines, closing = _objects(streamed)
    assert [o["line"] for o in lines] == [1, 3, 5, 7] and "aliases" in closing
    code, summary, err = cli("patterns", "mine", "-", "--field", "message", "--summary", input="\n".join(rows))
    assert code == 0 and "2 patterns in 3 lines" in summary and "skipped 4 lines" in err
    code, _out, err = cli("patterns", "mine", str(path), "--field", "message,,log")
    assert code == 2 and "--field" in err
