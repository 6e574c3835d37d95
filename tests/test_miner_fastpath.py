"""The compiled per-line loop (``logpipe/patterns/_fastpath.c``) against the pure-Python loop.

The C loop only serves lines whose cache lookup ends on a hot pattern and hands every other line
to the Python loop, so a miner using it must give exactly what the pure-Python miner gives: the
same ids, templates and ``is_new`` flags line by line, the same aliases, patterns, counts,
examples and state, and the same internal counters. Each test runs both miners over one input.

Inputs: Loghub-like lines written here (no third-party data), ``logpipe simulate`` messages,
hypothesis-generated lines (ids, numbers and separators in every arrangement; arbitrary bytes,
invalid UTF-8, NUL bytes), empty and very long lines. Skipped only where the extension is not
built (no C compiler when the package was installed).
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import random
import subprocess
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from logpipe.patterns import miner as miner_module
from logpipe.patterns.masking import id_free, shape
from logpipe.patterns.miner import TemplateMiner

try:
    from logpipe.patterns import _fastpath
except ImportError:  # pragma: no cover - depends on the install
    _fastpath = None  # type: ignore[assignment]

needs_fastpath = pytest.mark.skipif(
    _fastpath is None, reason="logpipe.patterns._fastpath is not built (no C compiler at install): "
                              "only the pure-Python loop exists here")


def _fast_miner() -> TemplateMiner:
    miner = TemplateMiner()
    assert _fastpath is not None
    miner._scan = _fastpath.scan  # (also where LOGPIPE_PURE_PYTHON is set for the process)
    return miner


def _outcome(mine: Callable[[Any], list[Any]], lines: Any) -> tuple[str, Any]:
    try:
        return "ok", [(r.pattern_id, r.template, r.is_new) for r in mine(lines)]
    except Exception as exc:  # (invalid UTF-8 given as bytes: both must fail alike)
        return "error", (type(exc).__name__, str(exc))


def _entry(value: Any) -> Any:
    """A cache value by what it stands for: a pattern's id (and whether it is hot), or a checked
    entry's digits -> ids."""
    if isinstance(value, miner_module._Checked):
        return ("checked", [(k, _entry(v)) for k, v in value.by_digits.items()])
    if isinstance(value, tuple):  # the shape cache: (cluster, digit_free)
        return (_entry(value[0]), value[1])
    return (value.pattern_id, value.hot, value.count)


def _internals(miner: TemplateMiner) -> dict[str, Any]:
    """Everything both loops must leave alike: state, patterns, counters and every cache, in order."""
    caches = {name: [(k, _entry(v)) for k, v in getattr(miner, name).items()]
              for name in ("_cache", "_hex_cache", "_id_cache", "_shape_cache")}
    return {"state": miner.to_state(), "patterns": miner.patterns(), "hex": (miner._hex_hits, miner._hex_tries),
            "mask_cache": list(miner._mask_cache.items()), "by_masked": list(miner._by_masked), **caches}


def assert_same(batches: Sequence[Sequence[bytes]], *, as_text: bool = False) -> int:
    """Mine ``batches`` with both loops; assert identical output after each batch and at the end.

    ``as_text``: through ``add_many`` (each line decoded, invalid UTF-8 as U+FFFD, as the CLI does
    for such a block) instead of ``add_many_utf8``. Returns how many lines were mined."""
    fast, pure = _fast_miner(), TemplateMiner(pure_python=True)
    assert pure._scan is None
    lines = 0
    for batch in batches:
        if as_text:
            texts = [raw.decode("utf-8", "replace") for raw in batch]
            got, want = _outcome(fast.add_many, texts), _outcome(pure.add_many, texts)
        else:
            got, want = _outcome(fast.add_many_utf8, iter(batch)), _outcome(pure.add_many_utf8, batch)
        assert got == want
        lines += len(batch)
    assert fast.aliases == pure.aliases
    assert _internals(fast) == _internals(pure)
    return lines


def _batches(lines: list[bytes], size: int) -> list[list[bytes]]:
    return [lines[i:i + size] for i in range(0, len(lines), size)]


# ---- Loghub-like lines, written for this test ----

def _hexid(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _uuid(rng: random.Random) -> str:
    h = _hexid(rng, 32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _num(rng: random.Random) -> int:
    return rng.choice([rng.randint(0, 9), rng.randint(10, 999), rng.randint(1000, 10**9)])


_TEMPLATES: list[Callable[[random.Random], str]] = [
    lambda r: f"Receiving block blk_{_num(r)} src: /10.250.{_num(r) % 256}.{_num(r) % 256}:{_num(r)} dest: /10.0.0.{r.randint(1, 254)}:50010",
    lambda r: f"PacketResponder {r.randint(0, 2)} for block blk_-{_num(r)} terminating",
    lambda r: f"Accepted password for {r.choice(['root', 'admin', 'fred', 'test'])} from 173.234.{_num(r) % 256}.{r.randint(1, 254)} port {_num(r)} ssh2",
    lambda r: f"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={r.randint(1, 254)}.{_num(r) % 256}.1.1",
    lambda r: f"jk2_init() Found child {_num(r)} in scoreboard slot {r.randint(1, 12)}",
    lambda r: f"workerEnv.init() ok /etc/httpd/conf/workers2.properties [{r.choice(['notice', 'error'])}]",
    lambda r: f"Received connection request /10.10.34.{r.randint(1, 40)}:{_num(r)}",
    lambda r: f"instruction cache parity error corrected at 0x{_hexid(r, 8)} core.{_num(r)}",
    lambda r: f"GET /api/v{r.randint(1, 2)}/orders/{_num(r)} {r.choice([200, 201, 404, 500, 504])} in {_num(r)}ms",
    lambda r: f"{r.randint(1, 254)}.0.0.{r.randint(1, 254)} - - [01/Oct/2026:10:{r.randint(10, 59)}:{r.randint(10, 59)} +0000] "
              f"\"{r.choice(['GET', 'POST'])} /api/v1/cart/{_hexid(r, 24)} HTTP/1.1\" {r.choice([200, 302, 404, 503])} "
              f"{_num(r)} \"-\" \"curl/8.{r.randint(0, 9)}\" rt={r.random():.{r.randint(1, 4)}f} request_id={_hexid(r, 32)} "
              f"trace={_hexid(r, 16)}",
    lambda r: f"request {_uuid(r)} failed at 2026-05-01T10:11:{r.randint(10, 59)}.{_num(r)}Z after {_num(r)} ms",
    lambda r: f"Loaded cart {_uuid(r)} with {r.randint(1, 9)} items in {_num(r)} ms",
    lambda r: f"cache {_hexid(r, 12)}: evicted {_num(r)} keys",          # ":" then a space: still an id
    lambda r: f"Redis command timed out after {_num(r)} ms: GET cart:{_hexid(r, 16)}",  # ":" before: not one
    lambda r: f"ratio 0.{_hexid(r, 10)} seen, {_hexid(r, 9)}, 12 Oct",      # a fraction; a date may follow
    lambda r: f"token deadbeef{r.randint(1, 9)}cafe and abcdef{_num(r)} and {_hexid(r, 8)}-{_hexid(r, 4)}",
    lambda r: f"ids {_hexid(r, 10)}, {_hexid(r, 10)}.{_hexid(r, 10)} done",
    lambda r: f"ids\t{_hexid(r, 12)} ,{_hexid(r, 12)}x {_hexid(r, 12)}/{_hexid(r, 8)}_{_hexid(r, 8)}",
    lambda r: f"see https://example.com/{_hexid(r, 20)}?id={_num(r)}",
    lambda r: f"Stock for SKU-{_num(r)} is {_num(r)} units; 0x{_hexid(r, 4)} flags, {_num(r)}x speed",
    lambda r: f"user {r.choice(['anna', 'ben', 'émile', 'zoë'])} paid {_num(r)} € ({_hexid(r, 16)})",
    lambda r: f"Fri Jul  {r.randint(1, 9)} 07:57:{r.randint(10, 59)} 2005 session {_hexid(r, 12)} opened",
    lambda r: f"payment pay_{_hexid(r, 14)} state={r.choice(['RUNNING', 'FAILED', 'SUCCEEDED', 'KILLED'])}",
    lambda r: f"Forwarding request with header Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.{_hexid(r, 24)}.{_hexid(r, 16)}",
    lambda r: f"node{r.randint(1, 4)}-{_hexid(r, 8)} heartbeat {_num(r)} from rack{r.randint(1, 3)} ok={r.choice(['true', 'false'])}",
    lambda r: f"token ab{r.choice('01')}cd{r.choice('01')} in {_num(r)} ms",  # digits after letters: the shape keeps them
    lambda r: f"10.0.{_num(r) % 256}.{r.randint(1, 254)} - \"{r.choice(['GET', 'PUT', 'xGET', '_GET'])} /api/items/{_num(r)} "
              f"HTTP/1.1\" {r.choice([200, 204, 404, 500, 600, 99])} {_num(r)}",  # a request mid-line (or not)
]


def loghub_like(count: int, seed: int = 1, templates: int = len(_TEMPLATES)) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.choice(_TEMPLATES[:templates])(rng).encode("utf-8") for _ in range(count)]


@needs_fastpath
def test_loghub_like_lines_mine_identically() -> None:
    lines = loghub_like(30_000)
    assert assert_same(_batches(lines, 1000)) == 30_000
    assert assert_same(_batches(lines[:5000], 7)) == 5000  # batch edges everywhere
    assert assert_same([lines[:3000]], as_text=True) == 3000


@needs_fastpath
def test_the_compiled_loop_serves_most_lines_and_hands_the_rest_back() -> None:
    """Not a timing: the C loop does the work on a repetitive stream (few lines reach Python)."""
    miner = _fast_miner()
    handed_back = 0
    python_loop = miner._add_many_utf8_py

    def counting(lines: Any, out: list[Any]) -> int:
        nonlocal handed_back
        handed_back += 1
        return python_loop(lines, out)

    miner._add_many_utf8_py = counting  # type: ignore[method-assign]
    lines = loghub_like(20_000, seed=3, templates=12)  # (the others are built to miss some caches)
    miner.add_many_utf8(lines[:10_000])
    handed_back = 0
    miner.add_many_utf8(lines[10_000:])
    assert handed_back < 1_000


def _simulated_messages(tmp_path: Path) -> list[bytes]:
    from logpipe.config import StoreConfig
    from logpipe.simulate import simulate
    from logpipe.store import Store

    store = Store(StoreConfig(root=str(tmp_path), prefix="logs", cache_dir=str(tmp_path / "cache")))
    simulate(store, datetime(2026, 10, 1, 9, tzinfo=UTC), datetime(2026, 10, 1, 15, tzinfo=UTC), seed=11,
             rate=0.3, bad_rate=0)
    messages: list[bytes] = []
    for obj in sorted(tmp_path.rglob("*.gz")):
        with gzip.open(obj, "rt", encoding="utf-8", errors="replace") as fh:
            for raw in fh:
                record = json.loads(raw)
                message = record.get("message", record.get("log"))
                if isinstance(message, str):
                    messages.append(message.encode("utf-8", "surrogatepass"))
    return messages


@needs_fastpath
@pytest.mark.slow  # ~5 s: six simulated hours
def test_simulated_fleet_messages_mine_identically(tmp_path: Path) -> None:
    messages = _simulated_messages(tmp_path)
    assert len(messages) > 10_000
    assert any(b"\n" in m for m in messages)  # stack traces come through as well
    assert assert_same(_batches(messages, 1000)) == len(messages)
    # as the CLI reads a file: one line per message
    flat = [b" ".join(m.splitlines()) for m in messages]
    assert assert_same(_batches(flat, 4096)) == len(flat)


@needs_fastpath
def test_edge_lines_mine_identically() -> None:
    rng = random.Random(5)
    hexes = " ".join(_hexid(rng, 32) for _ in range(40))
    edge = [
        b"", b"", b" ", b"\t", b"\x00", b"a\x00b 123", b"id\x00" + b"deadbeef1234" + b"\x00",
        ("x" * 5000).encode(), ("request " + hexes).encode(),                       # > the C stack buffer
        ("request " + hexes + " " + "y" * 1500).encode(),                           # > max_chars
        ("0123456789abcdef" * 200).encode(), ("a1-" * 700).encode(),
        b"line\nwith newline 12", b"trailing\r", b"\xc3\xa9t\xc3\xa9 deadbeef1234 42",
        b"12345678", b"-" * 20, b"0x12345678 0X9abcdef0", b"x0123456789", b"a://b deadbeef1234",
    ]
    lines = [line for _ in range(6) for line in edge]  # repeated: they become hot
    assert assert_same([lines]) == len(lines)
    assert assert_same(_batches(lines, 3)) == len(lines)
    # At MinerConfig.max_chars (2,000) a line still has the id-free key; one character more and it
    # is masked on its first 2,000 characters instead: its id-free key (the same, ids cut out)
    # must not be looked up.
    def at_length(n_id: int, length: int) -> bytes:
        head = f"session {_hexid(rng, n_id)} ".encode()
        return head + b"w" * (length - len(head) - 4) + b" end"
    boundary = [at_length(32, 2000) for _ in range(5)] + [at_length(33, 2001), at_length(31, 1999)] * 3
    assert assert_same([boundary]) == len(boundary)


# ---- hypothesis: the id-free view, and whole streams ----

_ASCII_PIECES = st.one_of(
    st.text(alphabet="0123456789abcdefABCDEF-", min_size=1, max_size=14),
    st.sampled_from([" ", "\t", ",", ".", ":", ": ", ", ", "/", "_", "=", "(", ")", "[", "]", "\"", "'", "<", ">",
                     "|", ";", "{", "}", "x", "X", "0x", "://", "\n", "\r", "\x00", "\x0b", "\x0c"]),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzGHIJ", min_size=1, max_size=6),
    st.integers(0, 10**12).map(str),
)
_ascii_line = st.lists(_ASCII_PIECES, max_size=25).map("".join)


@needs_fastpath
@settings(max_examples=3000, deadline=None)
@given(_ascii_line)
def test_the_c_id_free_view_is_masking_id_free(text: str) -> None:
    assert _fastpath is not None
    raw = text.encode("ascii")
    assert _fastpath.id_view(raw) == id_free(raw)[0]


@needs_fastpath
@settings(max_examples=3000, deadline=None)
@given(st.lists(st.one_of(_ASCII_PIECES, st.sampled_from(["GET /a", " GET /", "xGET /", "POST /v1/x?y=1 HTTP/1.1\" 504 ",
                                                          "/", " /", " 200", "Jul  1 ", "-", "0x", "0X", "0x1F", "0Xab",
                                                          "0x12-", "0x12.", "0x1:", "_0x1", "a0x1", "://", "::", "::0x1",
                                                          "a::b:0x1f"])),
                max_size=25).map("".join))
@example("::0x1 done")  # a hex literal after "::" stays as it is (the IPv6 rule may take its "0")
@example("a::b:0x1f x")
@example("fe80::1 0x7f")
def test_the_c_shape_is_masking_shape(text: str) -> None:
    assert _fastpath is not None
    got = _fastpath.shape_key(text.encode("ascii"))
    if got is not None:
        assert got == shape(text)


def _vary(rng: random.Random, line: bytes) -> bytes:
    """``line`` with each digit replaced by a random digit and, now and then, a digit run longer."""
    out = bytearray()
    for b in line:
        if 48 <= b <= 57:
            out.append(48 + rng.randrange(10))
            if rng.random() < 0.05:
                out.append(48 + rng.randrange(10))
        else:
            out.append(b)
    return bytes(out)


@needs_fastpath
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_ascii_line.map(lambda t: t.encode("ascii")),
                          st.binary(max_size=60),
                          st.text(max_size=30).map(lambda t: t.encode("utf-8", "surrogatepass"))),
                min_size=1, max_size=12),
       st.integers(0, 2**32), st.integers(1, 50))
def test_generated_streams_mine_identically(templates: list[bytes], seed: int, batch: int) -> None:
    """Lines built from a few generated templates with fresh digits (so caches fill and hit),
    arbitrary bytes (invalid UTF-8 included: ``add_many_utf8`` must fail alike), as text too."""
    rng = random.Random(seed)
    lines = [_vary(rng, rng.choice(templates)) for _ in range(200)]
    assert_same(_batches(lines, batch))
    assert_same(_batches(lines, batch), as_text=True)


# ---- the switch and the debug line ----

@needs_fastpath
def test_the_compiled_loop_is_the_default_where_built() -> None:
    if os.environ.get("LOGPIPE_PURE_PYTHON", "") not in ("", "0"):
        pytest.skip("LOGPIPE_PURE_PYTHON is set for this test run")
    assert miner_module.FAST_PATH.startswith("compiled")
    assert TemplateMiner()._scan is not None
    assert TemplateMiner(pure_python=True)._scan is None


def test_logpipe_pure_python_forces_the_python_loop() -> None:
    code = ("from logpipe.patterns import miner; "
            "print(miner.FAST_PATH); print(miner.TemplateMiner()._scan is None)")
    env = {**os.environ, "LOGPIPE_PURE_PYTHON": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["pure Python (LOGPIPE_PURE_PYTHON is set)", "True"]


def test_which_loop_runs_is_logged_at_debug_level(monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(miner_module, "_path_logged", False)
    with caplog.at_level(logging.DEBUG, logger="logpipe.patterns.miner"):
        TemplateMiner()
        TemplateMiner()
    said = [r.getMessage() for r in caplog.records if r.name == "logpipe.patterns.miner"]
    assert said == [f"pattern miner per-line loop: {miner_module.FAST_PATH}"]
