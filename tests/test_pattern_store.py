"""The pattern store on SQLite and PostgreSQL: round trips, upserts that add up, aliases, statuses,
and two real processes writing at once without losing a count."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from logpipe.errors import UsageError
from logpipe.patterns.store import PatternStore, PatternUpdate, covered_hours

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[1]


def test_patterns_counts_examples_round_trip(state_url: str) -> None:
    store = PatternStore(state_url)
    with store.window_session() as w:
        w.upsert_patterns([PatternUpdate("p1", "timeout after <*> ms", T0, T0 + timedelta(minutes=5), 7)])
        w.add_counts([("p1", "checkout", T0, 5), ("p1", "cart", T0, 2)])
        w.add_examples("p1", [("checkout", T0, "timeout after 30 ms"), ("cart", T0, "timeout after 31 ms")])
        w.save_miner_state({"clusters": [1, 2, 3]})
        w.mark_window(T0, T0 + timedelta(hours=1), 7, 1)
    # a second window widens last_seen and adds to totals
    with store.window_session() as w:
        assert w.load_miner_state() == {"clusters": [1, 2, 3]}
        w.upsert_patterns([PatternUpdate("p1", "timeout after <*> ms", T0 + timedelta(hours=1),
                                         T0 + timedelta(hours=1, minutes=3), 3)], status="known")
        w.add_counts([("p1", "checkout", T0, 1), ("p1", "checkout", T0 + timedelta(hours=1), 3)])
        w.add_examples("p1", [("checkout", T0, "timeout after 30 ms")])  # duplicate line: kept once

    fresh = PatternStore(state_url)  # a new object: nothing held in memory
    record = fresh.require("p1")
    assert record.status == "new"  # an upsert never changes the status
    assert record.total == 10
    assert record.first_seen == T0 and record.last_seen == T0 + timedelta(hours=1, minutes=3)
    assert fresh.services_of("p1") == {"checkout": 9, "cart": 2}
    assert fresh.hourly_counts("p1") == {T0: 8, T0 + timedelta(hours=1): 3}
    assert sorted(e.line for e in fresh.examples("p1")) == ["timeout after 30 ms", "timeout after 31 ms"]
    assert fresh.processed_windows() == [(T0, T0 + timedelta(hours=1))]
    assert [p.pattern_id for p in fresh.list(service="cart")] == ["p1"]
    assert fresh.list(service="nope") == []


def test_examples_are_capped(state_url: str) -> None:
    store = PatternStore(state_url)
    with store.transaction() as w:
        w.add_examples("p", [("svc", T0, f"line {i}") for i in range(20)], limit=3)
        w.add_examples("p", [("svc", T0, "another")], limit=3)
    assert len(store.examples("p", limit=10)) == 3


def test_examples_of_several_patterns_at_once_keep_each_cap(state_url: str) -> None:
    """A detection window adds every pattern's examples in one call; a pattern seen in two services
    comes twice: its cap holds over both, a line in both is kept once."""
    store = PatternStore(state_url)
    with store.transaction() as w:
        w.add_examples("a", [("svc", T0, "a old")], limit=3)
        w.add_examples_many([("a", [("api", T0, "a 1"), ("api", T0, "a 2")]),
                             ("b", [("api", T0, "b 1"), ("api", T0, "b 2")]),
                             ("a", [("web", T0, "a 1"), ("web", T0, "a 3")]),
                             ("b", [("web", T0, "b 1"), ("web", T0, "b 3"), ("web", T0, "b 4")])], limit=3)
    assert sorted(e.line for e in store.examples("a", limit=10)) == ["a 1", "a 2", "a old"]
    assert sorted(e.line for e in store.examples("b", limit=10)) == ["b 1", "b 2", "b 3"]
    assert {e.service for e in store.examples("a", limit=10) if e.line == "a 1"} == {"api"}


def test_aliases_fold_history_and_resolve(state_url: str) -> None:
    store = PatternStore(state_url)
    with store.window_session() as w:
        w.upsert_patterns([PatternUpdate("old", "user 1 failed", T0, T0, 4),
                           PatternUpdate("new", "user <*> failed", T0 + timedelta(hours=1), T0 + timedelta(hours=1), 6)])
        w.add_counts([("old", "auth", T0, 4), ("new", "auth", T0, 1), ("new", "auth", T0 + timedelta(hours=1), 5)])
        w.add_examples("old", [("auth", T0, "user 1 failed")])
        w.add_aliases({"old": "new"})
    record = store.require("old")  # an old id still finds the pattern
    assert record.pattern_id == "new" and record.aliases == ["old"]
    assert record.total == 10 and record.first_seen == T0
    assert record.template == "user <*> failed"
    assert store.hourly_counts("new") == {T0: 5, T0 + timedelta(hours=1): 5}
    assert store.hourly_counts("old") == {}
    assert [e.line for e in store.examples("new")] == ["user 1 failed"]
    # a chain: new -> newer also moves old
    with store.window_session() as w:
        w.add_aliases({"new": "newer"})
    assert store.resolve_id("old") == "newer"


def test_status_changes_and_errors(state_url: str) -> None:
    store = PatternStore(state_url)
    with store.transaction() as w:
        w.upsert_patterns([PatternUpdate("p", "x <*>", T0, T0, 1)])
    assert store.set_status("p", "muted").status == "muted"
    assert [p.pattern_id for p in store.list(status="muted")] == ["p"]
    assert store.list(status="new") == []
    with pytest.raises(UsageError, match="patterns list"):
        store.set_status("missing", "resolved")
    with pytest.raises(UsageError, match="unknown status"):
        store.list(status="bogus")


def test_covered_hours_only_counts_whole_hours() -> None:
    windows = [(T0, T0 + timedelta(hours=2)), (T0 + timedelta(hours=5, minutes=30), T0 + timedelta(hours=7))]
    assert covered_hours(windows) == {T0, T0 + timedelta(hours=1), T0 + timedelta(hours=6)}


WORKER = r"""
import sys, time
from datetime import UTC, datetime, timedelta
from logpipe.patterns.store import PatternStore, PatternUpdate
url, tag, rounds, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
store = PatternStore(url)
t0 = datetime(2026, 3, 2, 10, tzinfo=UTC)
while time.time() < go:
    time.sleep(0.005)
for i in range(rounds):
    with store.window_session() as w:
        state = w.load_miner_state() or {"seen": 0}
        state["seen"] += 1
        w.save_miner_state(state)
        w.upsert_patterns([PatternUpdate("shared", "shared <*>", t0 + timedelta(minutes=i), t0, 2),
                           PatternUpdate("own-" + tag, "own", t0, t0, 1)])
        w.add_counts([("shared", "svc", t0, 2), ("shared", "svc", t0 + timedelta(hours=i % 3), 1)])
        w.add_service_counts([("svc", t0, 10, 3)])
        w.mark_window(t0 + timedelta(hours=i), t0 + timedelta(hours=i + 1), 3, 1)
    store.add_counts([("plain", "svc", t0, 1)])
"""


def test_two_processes_writing_at_once_lose_nothing(state_url: str) -> None:
    PatternStore(state_url)  # create the tables once, before the race
    rounds = 40
    go = time.time() + 1.5  # both start together, after interpreter start-up
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, state_url, tag, str(rounds), str(go)],
                              cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for tag in ("a", "b")]
    for proc in procs:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    store = PatternStore(state_url)
    shared = store.require("shared")
    assert shared.total == 2 * rounds * 2
    assert store.hourly_counts("shared") == {
        T0: 2 * rounds * 2 + 2 * len(range(0, rounds, 3)),
        T0 + timedelta(hours=1): 2 * len(range(1, rounds, 3)),
        T0 + timedelta(hours=2): 2 * len(range(2, rounds, 3)),
    }
    assert store.hourly_counts("plain") == {T0: 2 * rounds}
    assert store.require("own-a").total == rounds and store.require("own-b").total == rounds
    with store.transaction() as w:
        assert w.load_miner_state() == {"seen": 2 * rounds}  # read-modify-write under the lock
        assert w.service_counts(T0, T0 + timedelta(hours=1)) == {("svc", T0): (20 * rounds, 6 * rounds)}
    assert len(store.processed_windows()) == rounds  # both marked the same windows: once each
