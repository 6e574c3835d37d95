"""The miner a detection window leaves is kept for the next window of the process
(``logpipe.detectors.run.KEPT_MINERS``): the same findings, patterns, counts and stored state as
rebuilding it from the store at every window, and never used once the stored state is not the one it
saved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from support.detectors import make_config

from logpipe.config import Config
from logpipe.detectors import run as detection
from logpipe.detectors.run import KEPT_MINERS, run_detectors
from logpipe.patterns.miner import TemplateMiner
from logpipe.patterns.store import PatternStore
from logpipe.simulate import simulate
from logpipe.state import tables
from logpipe.store import Store

START = datetime(2026, 3, 1, tzinfo=UTC)
HOURS = 30  # the first day is learned as the baseline; the simulated deploy's new error falls in it


@pytest.fixture(scope="module")
def store_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kept-miner")
    config = make_config(root)
    simulate(Store(config.store), START, START + timedelta(hours=HOURS + 2), seed=11, rate=0.03)
    return root


def _config(root: Path, state: str) -> Config:
    return make_config(root, state_url=f"sqlite:///{root}/{state}.db", lookback_days=1, warmup_hours=6)


def _count_rebuilds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    real = TemplateMiner.from_state.__func__  # type: ignore[attr-defined]

    def counted(cls: type[TemplateMiner], state: Any) -> TemplateMiner:
        calls[0] += 1
        return real(cls, state)

    monkeypatch.setattr(TemplateMiner, "from_state", classmethod(counted))
    return calls


def _hourly(config: Config, hours: range, *, rebuild: bool) -> list[dict[str, Any]]:
    reports = []
    for h in hours:
        if rebuild:
            KEPT_MINERS.clear()
        start = START + timedelta(hours=h)
        reports.append(run_detectors(config, start, start + timedelta(hours=1)).to_dict())
    return reports


def _stored(config: Config) -> dict[str, Any]:
    """What the pattern store holds, without its wall-clock columns (when a row was written)."""
    t = tables
    wanted = {
        "patterns": [c for c in t.patterns.c if c.name != "status_changed_ms"],
        "counts": list(t.pattern_counts.c), "aliases": list(t.pattern_aliases.c),
        "examples": list(t.pattern_examples.c),
        "windows": [c for c in t.detect_windows.c if c.name != "processed_ms"],
        "findings": [c for c in t.findings.c if c.name != "created_ms"],
        "miner": [t.pattern_miner_state.c.state],
    }
    engine = PatternStore.from_config(config).engine
    with engine.connect() as conn:
        return {name: sorted(tuple(map(str, row)) for row in conn.execute(select(*columns)))
                for name, columns in wanted.items()}


@pytest.mark.slow  # ~10 s: 48 detection windows on DuckDB
def test_a_day_of_windows_with_the_kept_miner_is_the_same_as_rebuilding_it(
        store_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rebuilds = _count_rebuilds(monkeypatch)
    KEPT_MINERS.clear()
    kept_config = _config(store_root, "kept")
    kept = _hourly(kept_config, range(6, HOURS), rebuild=False)
    kept_rebuilds = rebuilds[0]
    rebuilt_config = _config(store_root, "rebuilt")
    rebuilt = _hourly(rebuilt_config, range(6, HOURS), rebuild=True)
    rebuilt_rebuilds = rebuilds[0] - kept_rebuilds

    assert kept_rebuilds == 0  # every window after the first took the miner the one before left
    # (each call after the first: the first learns its baseline from scratch and goes on with that miner)
    assert rebuilt_rebuilds == HOURS - 7
    assert kept == rebuilt
    assert sum(len(r["findings"]) for r in kept) > 0 and sum(len(r["patterns"]) for r in kept) > 20
    stored = _stored(kept_config)
    assert stored == _stored(rebuilt_config)
    assert len(stored["aliases"]) > 0 and len(stored["patterns"]) > 10  # merges happened: aliases were kept


def test_a_state_another_process_stored_is_read_not_the_kept_miner(
        store_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    KEPT_MINERS.clear()
    config = _config(store_root, "other-process")
    first = START + timedelta(hours=8)
    run_detectors(config, first, first + timedelta(hours=1))
    store = PatternStore.from_config(config)
    # another process (or replica) learns from its own miner: the stored text changes
    with store.window_session() as w:
        state = w.load_miner_state()
        other = TemplateMiner.from_state(state)
        other.add("a line only the other process has seen: disk quota exceeded on volume 7")
        w.save_miner_state(detection._miner_state_without_examples(other.to_state()))
    rebuilds = _count_rebuilds(monkeypatch)
    second = first + timedelta(hours=1)
    run_detectors(config, second, second + timedelta(hours=1))
    assert rebuilds[0] == 1  # the stored state was read again
    with store.window_session() as w:
        assert "disk quota exceeded on volume <*>" in w.load_miner_state_text()  # type: ignore[operator]


def test_a_window_that_learns_nothing_keeps_no_miner(store_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    KEPT_MINERS.clear()
    config = _config(store_root, "not-learned")
    first = START + timedelta(hours=8)
    run_detectors(config, first, first + timedelta(hours=1))
    rebuilds = _count_rebuilds(monkeypatch)
    # detected but not learned (a digest's look, a window run again): its miner is not the stored one
    run_detectors(config, first + timedelta(hours=1), first + timedelta(hours=2), learn=False)
    run_detectors(config, first, first + timedelta(hours=1))  # processed before: nothing learned
    assert rebuilds[0] == 1  # the first took the kept miner and let it go; the second rebuilt it
    run_detectors(config, first + timedelta(hours=1), first + timedelta(hours=2))
    assert rebuilds[0] == 2  # nothing was kept by either, so the learning window rebuilt it too
    run_detectors(config, first + timedelta(hours=2), first + timedelta(hours=3))
    assert rebuilds[0] == 2  # and kept it
