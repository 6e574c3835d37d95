"""Benchmark: how long two ``logpipe serve`` replicas take to fail over after ``kill -9`` of the leader.

Per trial: a fresh state database (SQLite file, or a new PostgreSQL database on 127.0.0.1:5432 when it
answers), two real ``serve`` processes with ``[service] lease_seconds``, a job with 2-second windows;
once the leader completed a window it is killed with SIGKILL, and the standby's JSON lease line says
when it took over. Reported per backend: kill -> takeover (what a user waits), lease expiry ->
takeover (the standby's reaction: at most a third of the lease, its renewal interval), and the same
as a share of the lease period. The alternative a user would otherwise have is ECS replacing the
dead task (a new task's image pull and start: typically one to several minutes, not measured here).
Writes benchmarks/results/failover.md.

    .venv/bin/python benchmarks/failover.py [--trials 5] [--lease 6] [--out benchmarks/results/failover.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TICK = """-- name: tick
-- description: ERROR records per 2-second window (the benchmark's job).
-- schedule: every 1s
-- window: 2s
SELECT count(*) AS errors FROM logs
WHERE dt BETWEEN :dt_start AND :dt_end AND concat(dt, hour) BETWEEN :dthour_start AND :dthour_end
  AND ts >= :window_start AND ts < :window_end AND level = 'ERROR'
"""


class Replica:
    def __init__(self, config: Path) -> None:
        env = {**os.environ, "LOGPIPE_CONFIG": str(config), "LOGPIPE_CONSOLE_TOKEN": "bench-token-0123456789"}
        self.popen = subprocess.Popen([sys.executable, "-m", "logpipe", "serve", "--port", "0"], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines: list[dict] = []
        self.event = threading.Condition()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.popen.stderr is not None
        for line in self.popen.stderr:
            if line.startswith("{"):
                with self.event:
                    self.lines.append(json.loads(line))
                    self.event.notify_all()

    def wait(self, predicate, timeout: float = 120) -> dict:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        with self.event:
            while True:
                found = next((x for x in self.lines if predicate(x)), None)
                if found is not None:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("replica did not say it in time")
                self.event.wait(left)


def _lease(x: dict, what: str) -> bool:
    return x.get("event") == "lease" and x.get("lease") == what


def trial(state_url: str, lease: float, folder: Path) -> dict[str, float]:
    (folder / "queries").mkdir(parents=True)
    (folder / "queries" / "tick.sql").write_text(TICK)
    config = folder / "logpipe.toml"
    config.write_text(f"""
[store]
root = "{folder}/store"
cache_dir = "{folder}/cache"
[state]
url = "{state_url}"
[queries]
dirs = ["{folder}/queries"]
include_shipped = false
[service]
lateness = "0s"
first_run_backfill = "0h"
detect_schedule = "0 0 1 1 *"
lease_seconds = {lease}
[digest]
schedule = "0 0 1 1 *"
""")
    a = Replica(config)
    b = None
    try:
        first = a.wait(lambda x: _lease(x, "acquired"))
        b = Replica(config)
        b.wait(lambda x: _lease(x, "standby"))
        a.wait(lambda x: x.get("event") == "window" and x.get("outcome") == "completed")
        killed_ms = time.time() * 1000
        a.popen.send_signal(signal.SIGKILL)
        took = b.wait(lambda x: _lease(x, "acquired"))
        assert took["previous_holder"] == first["replica"]
        return {"kill_to_takeover_s": (took["acquired_ms"] - killed_ms) / 1000,
                "expiry_to_takeover_s": (took["acquired_ms"] - took["previous_expires_ms"]) / 1000}
    finally:
        for r in (a, b):
            if r is not None and r.popen.poll() is None:
                r.popen.kill()
                r.popen.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--lease", type=float, default=6.0)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "failover.md"))
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "tests"))
    from support import postgres

    backends = ["sqlite"] + ([] if postgres.unavailable_reason() else ["postgresql"])
    results: dict[str, list[dict[str, float]]] = {}
    for backend in backends:
        for i in range(args.trials):
            folder = Path(tempfile.mkdtemp(prefix="logpipe-failover-"))
            name = None
            if backend == "sqlite":
                url = f"sqlite:///{folder}/state.db"
            else:
                name = postgres.create_database()
                url = postgres.url_for(name)
            try:
                results.setdefault(backend, []).append(trial(url, args.lease, folder))
            finally:
                if name:
                    postgres.drop_database(name)
            print(backend, i, results[backend][-1], flush=True)
    lines = ["# Failover of two `logpipe serve` replicas after `kill -9` of the leader", "",
             f"Command: `.venv/bin/python benchmarks/failover.py --trials {args.trials} --lease {args.lease:g}`",
             f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()} "
             "(shared with other work while it ran)", "",
             f"`[service] lease_seconds = {args.lease:g}`: the standby renews (and may take over) every "
             f"{args.lease / 3:g} s.", "",
             "| state | trials | kill -> takeover, median (max) | lease expiry -> takeover, median (max) | "
             "kill -> takeover / lease |", "| --- | --- | --- | --- | --- |"]
    for backend, rows in results.items():
        kill = [r["kill_to_takeover_s"] for r in rows]
        react = [r["expiry_to_takeover_s"] for r in rows]
        lines.append(f"| {backend} | {len(rows)} | {statistics.median(kill):.2f} s ({max(kill):.2f} s) | "
                     f"{statistics.median(react):.2f} s ({max(react):.2f} s) | "
                     f"{statistics.median(kill) / args.lease:.2f} |")
    lines += ["", "Kill -> takeover is at most the rest of the dead leader's lease plus one renewal interval "
              "(lease / 3); a clean stop (SIGTERM) releases the lease, so the standby takes over at its next "
              "renewal. The alternative without a standby is ECS starting a replacement task."]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
