"""Benchmark: the HTTP server of ``logpipe serve`` under 500 idle and 200 concurrent clients, on loopback.

Starts a real ``logpipe serve`` process (no jobs to speak of: an empty store) and, in the same run,
the server it replaced - the standard library's ThreadingHTTPServer with its default listen backlog
of 5 and a thread per connection - answering the same ``/healthz`` body. Against each it holds
``--idle`` connections that never send a request, then fires ``--concurrent`` ``/healthz`` requests at
once (each on its own connection), ``--rounds`` times, and reports every request's latency, errors,
how many answered within 1 s, and the server's threads and memory while the idle clients are held.
Loopback only; every loop is bounded. Writes benchmarks/results/http_server.md.

    .venv/bin/python benchmarks/http_server.py [--idle 500] [--concurrent 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

BASELINE = r'''
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"status": "ok", "reasons": [], "running": [], "jobs": 3}).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
s = ThreadingHTTPServer(("127.0.0.1", 0), H); s.daemon_threads = True
print(s.server_address[1], flush=True); s.serve_forever()
'''


def _proc_status(pid: int) -> tuple[int, int]:
    """(threads, RSS in MB) of a process, from /proc."""
    threads = rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            threads = int(line.split()[1])
        elif line.startswith("VmRSS:"):
            rss = int(line.split()[1]) // 1024
    return threads, rss


def _start_logpipe(folder: Path) -> tuple[subprocess.Popen[str], int]:
    config = folder / "logpipe.toml"
    config.write_text(f'[store]\nroot = "{folder}/store"\ncache_dir = "{folder}/cache"\n'
                      f'[state]\nurl = "sqlite:///{folder}/state.db"\n[queries]\ninclude_shipped = false\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOGPIPE_")}
    env.update({"LOGPIPE_CONFIG": str(config), "PYTHONPATH": str(REPO)})
    proc = subprocess.Popen([sys.executable, "-m", "logpipe", "serve", "--port", "0", "--no-catch-up"],
                            cwd=folder, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if "health on http://" in line:
            port = int(line.strip().rsplit(":", 1)[-1].split("/")[0])
            threading.Thread(target=_count_tracebacks, args=(proc,), daemon=True).start()
            return proc, port
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise SystemExit("logpipe serve did not start")


TRACEBACKS: dict[int, int] = {}


def _count_tracebacks(proc: subprocess.Popen[str]) -> None:
    """Read a server's stderr to its end, counting the tracebacks it printed."""
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("Traceback"):
            TRACEBACKS[proc.pid] = TRACEBACKS.get(proc.pid, 0) + 1


def _start_baseline() -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([sys.executable, "-c", BASELINE], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    threading.Thread(target=_count_tracebacks, args=(proc,), daemon=True).start()
    return proc, int(proc.stdout.readline())


def _healthz(port: int, timeout: float) -> tuple[float, str | None]:
    began = time.perf_counter()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        conn.request("GET", "/healthz")
        response = conn.getresponse()
        response.read()
        conn.close()
        error = None if response.status == 200 else f"HTTP {response.status}"
    except Exception as exc:
        error = type(exc).__name__
    return time.perf_counter() - began, error


def _burst(port: int, clients: int, timeout: float) -> list[tuple[float, str | None]]:
    barrier = threading.Barrier(clients)
    results: list[tuple[float, str | None]] = [(0.0, None)] * clients

    def one(i: int) -> None:
        barrier.wait()
        results[i] = _healthz(port, timeout)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _wrk(port: int, connections: int, seconds: int = 10) -> dict[str, str] | None:
    """wrk (a C load generator: no client-side GIL) holding ``connections`` keep-alive clients on
    /healthz for ``seconds``, while the idle clients are still held."""
    done = subprocess.run(["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency", "--timeout", "10s",
                           f"http://127.0.0.1:{port}/healthz"], capture_output=True, text=True, timeout=seconds + 60)
    out = done.stdout
    found: dict[str, str] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in ("50%", "90%", "99%"):
            found[parts[0]] = parts[1]
        elif line.strip().startswith("Latency") and len(parts) >= 4:
            found["max"] = parts[3]
        elif line.startswith("Requests/sec:"):
            found["rps"] = parts[1]
        elif "Socket errors" in line:
            found["socket_errors"] = line.split(":", 1)[1].strip()
        elif "Non-2xx" in line:
            found["non_2xx"] = parts[-1]
        elif "requests in" in line:
            found["requests"] = parts[0]
    return found


def measure(name: str, proc: subprocess.Popen[str], port: int, idle: int, concurrent: int, rounds: int,
            timeout: float) -> dict[str, object]:
    held = []
    refused = 0
    for _ in range(idle):
        try:
            held.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        except OSError:
            refused += 1
    time.sleep(0.5)
    threads, rss = _proc_status(proc.pid)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    for _ in range(rounds):
        for seconds, error in _burst(port, concurrent, timeout):
            latencies.append(seconds)
            if error:
                errors[error] = errors.get(error, 0) + 1
    alone = _healthz(port, timeout)[0]
    wrk = _wrk(port, concurrent) if shutil.which("wrk") else None
    for sock in held:
        sock.close()
    ordered = sorted(latencies)
    within = sum(1 for s in latencies if s <= 1.0)
    return {"name": name, "idle": idle - refused, "idle_refused": refused, "threads": threads, "rss_mb": rss,
            "requests": len(latencies), "errors": errors, "within_1s": within,
            "p50": statistics.median(ordered), "p95": ordered[int(0.95 * (len(ordered) - 1))], "max": ordered[-1],
            "single": alone, "wrk": wrk}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle", type=int, default=500)
    parser.add_argument("--concurrent", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=10.0, help="per request (the old probe used 30 s)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "http_server.md")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, start in (("logpipe serve (uvicorn, bounded)", lambda: _start_logpipe(Path(tmp))),
                            ("stdlib ThreadingHTTPServer (the old server)", _start_baseline)):
            proc, port = start()
            try:
                rows.append(measure(name, proc, port, args.idle, args.concurrent, args.rounds, args.timeout))
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
            time.sleep(0.5)
            rows[-1]["tracebacks"] = TRACEBACKS.get(proc.pid, 0)
    lines = [
        "# HTTP server benchmark: idle and concurrent clients on loopback", "",
        f"Command: `.venv/bin/python benchmarks/http_server.py --idle {args.idle} --concurrent {args.concurrent} "
        f"--rounds {args.rounds}`", "",
        f"Each server holds {args.idle} idle connections (connected, no request sent) while {args.concurrent} "
        f"clients ask `/healthz` at once, {args.rounds} times; {args.timeout:g} s timeout per request.", "",
        "| server | idle held | threads (idle held) | RSS MB | /healthz requests | errors | answered within 1 s "
        "| p50 | p95 | max | one request after | tracebacks printed |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        errors = ", ".join(f"{k} {v}" for k, v in sorted(r["errors"].items())) or "0"  # type: ignore[union-attr]
        lines.append(f"| {r['name']} | {r['idle']} | {r['threads']} | {r['rss_mb']} | {r['requests']} | {errors} | "
                     f"{r['within_1s']} / {r['requests']} | {r['p50'] * 1000:.0f} ms | {r['p95'] * 1000:.0f} ms | "
                     f"{r['max'] * 1000:.0f} ms | {r['single'] * 1000:.1f} ms | {r['tracebacks']} |")
    if any(r.get("wrk") for r in rows):
        lines += ["", f"With wrk (C, 2 threads, {args.concurrent} keep-alive connections, 10 s, the idle clients still held): "
                      "no Python client in the way.", "",
                  "| server | requests | requests/s | p50 | p90 | p99 | max | socket errors | non-2xx |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for r in rows:
            w = r.get("wrk") or {}
            lines.append(f"| {r['name']} | {w.get('requests', '-')} | {w.get('rps', '-')} | {w.get('50%', '-')} | "  # type: ignore[union-attr]
                         f"{w.get('90%', '-')} | {w.get('99%', '-')} | {w.get('max', '-')} | "  # type: ignore[union-attr]
                         f"{w.get('socket_errors', 'none')} | {w.get('non_2xx', '0')} |")  # type: ignore[union-attr]
    first, second = rows
    if second["p95"]:
        lines += ["", f"p95 ratio (old / logpipe): {second['p95'] / max(first['p95'], 1e-9):.1f}x; "  # type: ignore[operator]
                      f"max ratio: {second['max'] / max(first['max'], 1e-9):.1f}x."]  # type: ignore[operator]
    lines += ["", "Machine:", "",
              f"- {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
              f"- run at {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; the {args.concurrent} client threads "
              "(one Python process, one GIL) and the server share the machine's 2 cores (shared with other work): "
              "the first table's latencies include the clients' own scheduling - a ceiling, not the server alone.",
              "- the idle clients are closed by logpipe after `[web] header_timeout_seconds` (15 s) when they "
              "send no request; the old server held each in a thread until the client left."]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
