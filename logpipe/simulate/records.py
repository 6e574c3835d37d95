"""Turning a pattern, a task and a moment into a FireLens record, the way each runtime writes it.

The router keys come from the task; the app's own line goes into ``log`` exactly as the runtime
printed it (a JSON line, a Serilog line, a logrus line, an nginx access line, a multi-line stack
trace joined by the router's multiline filter); the canonical keys (``time``, ``service``, ``level``,
``message``) appear only where the router could parse the line, as the real router does. Everything
here is string formatting on precomputed pieces: it runs a few hundred thousand times per day.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from random import Random
from typing import Any

from logpipe.simulate.catalog import Pattern, ServiceSpec, ri

_dumps = json.JSONEncoder(separators=(",", ":")).encode

JAVA_LEVEL = {"TRACE": "TRACE", "DEBUG": "DEBUG", "INFO": "INFO", "WARN": "WARN", "ERROR": "ERROR", "FATAL": "ERROR"}
JAVA_LEVEL_VALUE = {"TRACE": 5000, "DEBUG": 10000, "INFO": 20000, "WARN": 30000, "ERROR": 40000, "FATAL": 40000}
PYTHON_LEVEL = {"TRACE": "DEBUG", "DEBUG": "DEBUG", "INFO": "INFO", "WARN": "WARNING", "ERROR": "ERROR", "FATAL": "CRITICAL"}
SERILOG_LEVEL = {"TRACE": "VRB", "DEBUG": "DBG", "INFO": "INF", "WARN": "WRN", "ERROR": "ERR", "FATAL": "FTL"}
LOGRUS_LEVEL = {"TRACE": "trace", "DEBUG": "debug", "INFO": "info", "WARN": "warning", "ERROR": "error", "FATAL": "fatal"}
NGINX_LEVEL = {"WARN": "warn", "ERROR": "error", "FATAL": "crit", "INFO": "notice", "DEBUG": "debug", "TRACE": "debug"}


class HourClock:
    """Time text for the moments of one hour, in each format the runtimes use (cheap: prefix + digits)."""

    def __init__(self, hour: datetime):
        hour = hour.astimezone(UTC)
        self.hour_ms = int(hour.timestamp() * 1000)
        self.iso = hour.strftime("%Y-%m-%dT%H:")  # 2026-11-26T10:mm:ss.fffZ
        self.spaced = hour.strftime("%Y-%m-%d %H:")  # 2026-11-26 10:mm:ss.fff
        self.slashed = hour.strftime("%Y/%m/%d %H:")  # 2026/11/26 10:mm:ss (Go, nginx error log)
        self.nginx = hour.strftime("%d/%b/%Y:%H:")  # 26/Nov/2026:10:mm:ss +0000

    def parts(self, t_ms: int) -> tuple[int, int, int]:
        offset = t_ms - self.hour_ms
        return offset // 60_000, (offset // 1000) % 60, offset % 1000


def java_trace(error_type: str, message: str, pattern: Pattern) -> str:
    trace = f"{error_type}: {message}"
    if pattern.frames:
        trace += "\n\tat " + "\n\tat ".join(pattern.frames)
    return trace + pattern.caused_by


def dotnet_trace(error_type: str, message: str, pattern: Pattern) -> str:
    trace = f"{error_type}: {message}"
    if pattern.frames:
        trace += "\n   at " + "\n   at ".join(pattern.frames)
    return trace


def python_trace(error_type: str, message: str, pattern: Pattern) -> str:
    frames = "".join(f"\n  {frame}" for frame in pattern.frames)
    return f"Traceback (most recent call last):{frames}\n{error_type}: {message}"


class RecordMaker:
    """Builds records for every runtime; one per simulation (holds nothing but the clock)."""

    def __init__(self, clock: HourClock):
        self.clock = clock

    def set_clock(self, clock: HourClock) -> None:
        self.clock = clock

    # -- the app's own log lines --------------------------------------------------------------------

    def pattern_record(self, spec: ServiceSpec, keys: dict[str, str], t_ms: int, pattern: Pattern,
                       rng: Random, trace: tuple[str, str] | None = None) -> dict[str, Any]:
        """A record of ``pattern`` written by the task with router ``keys``; ``trace`` is
        (trace_id, request_id) for request-scoped lines."""
        message = pattern.render(rng)
        runtime = spec.runtime
        if pattern.channel == "stderr":
            return self._stderr_record(spec, keys, t_ms, pattern, message, rng)
        if runtime == "java":
            return self._java(spec, keys, t_ms, pattern, message, rng, trace)
        if runtime == "python":
            if pattern.error_type and rng.random() < 0.2:
                # An exception escaping a background thread: Python prints a plain traceback on stderr.
                text = (f"Exception in thread Thread-{ri(rng, 2, 9)} (sync_loop):\n"
                        + python_trace(pattern.error_type, message, pattern))
                return {**keys, "source": "stderr", "log": text}
            return self._python(spec, keys, t_ms, pattern, message, trace)
        if runtime == "dotnet":
            return self._dotnet(spec, keys, t_ms, pattern, message, trace)
        if runtime == "go":
            return self._go(spec, keys, t_ms, pattern, message, trace)
        return self._nginx_error(spec, keys, t_ms, pattern, message, rng)

    def _iso(self, t_ms: int) -> str:
        m, s, ms = self.clock.parts(t_ms)
        return f"{self.clock.iso}{m:02d}:{s:02d}.{ms:03d}Z"

    def _java(self, spec: ServiceSpec, keys: dict[str, str], t_ms: int, pattern: Pattern, message: str,
              rng: Random, trace: tuple[str, str] | None) -> dict[str, Any]:
        iso = self._iso(t_ms)
        thread = f"http-nio-8080-exec-{ri(rng, 1, 200)}"
        app: dict[str, Any] = {"@timestamp": iso, "@version": "1", "message": message, "logger_name": pattern.logger,
                               "thread_name": thread, "level": JAVA_LEVEL[pattern.level],
                               "level_value": JAVA_LEVEL_VALUE[pattern.level]}
        record: dict[str, Any] = {**keys, "source": "stdout", "log": "", "time": iso, "service": spec.name,
                                  "level": pattern.level, "message": message, "logger": pattern.logger,
                                  "thread_name": thread}
        if trace is not None:
            app["trace_id"] = record["trace_id"] = trace[0]
            app["span_id"] = record["span_id"] = trace[0][:16]
            app["request_id"] = record["request_id"] = trace[1]
        if pattern.error_type:
            stack = java_trace(pattern.error_type, message, pattern)
            app["stack_trace"] = record["stack_trace"] = stack
            record["error_type"] = pattern.error_type
        record["log"] = _dumps(app)
        return record

    def _python(self, spec: ServiceSpec, keys: dict[str, str], t_ms: int, pattern: Pattern, message: str,
                trace: tuple[str, str] | None) -> dict[str, Any]:
        m, s, ms = self.clock.parts(t_ms)
        app: dict[str, Any] = {"asctime": f"{self.clock.spaced}{m:02d}:{s:02d},{ms:03d}",
                               "levelname": PYTHON_LEVEL[pattern.level], "name": pattern.logger, "message": message}
        record: dict[str, Any] = {**keys, "source": "stdout", "log": "", "time": self._iso(t_ms), "service": spec.name,
                                  "level": pattern.level, "message": message, "logger": pattern.logger}
        if trace is not None:
            app["trace_id"] = record["trace_id"] = trace[0]
            app["request_id"] = record["request_id"] = trace[1]
        if pattern.error_type:
            app["exc_info"] = record["stack_trace"] = python_trace(pattern.error_type, message, pattern)
            app["error_type"] = record["error_type"] = pattern.error_type
        record["log"] = _dumps(app)
        return record

    def _dotnet(self, spec: ServiceSpec, keys: dict[str, str], t_ms: int, pattern: Pattern, message: str,
                trace: tuple[str, str] | None) -> dict[str, Any]:
        m, s, ms = self.clock.parts(t_ms)
        line = f"{self.clock.spaced}{m:02d}:{s:02d}.{ms:03d} +00:00 [{SERILOG_LEVEL[pattern.level]}] {message}"
        record: dict[str, Any] = {**keys, "source": "stdout", "log": line, "time": self._iso(t_ms), "service": spec.name,
                                  "level": pattern.level, "message": message, "logger": pattern.logger}
        if trace is not None:
            record["log"] = f"{line} {{TraceId={trace[0]}, RequestId={trace[1]}}}"
            record["trace_id"], record["request_id"] = trace
        if pattern.error_type:
            detail = ("Response status code does not indicate success: 503 (Service Unavailable)."
                      if pattern.error_type.endswith("HttpRequestException") else message)
            # Serilog prints the exception on the following lines; the router's multiline filter joins them.
            record["log"] += "\n" + dotnet_trace(pattern.error_type, detail, pattern)
            record["error_type"] = pattern.error_type
        return record

    def _go(self, spec: ServiceSpec, keys: dict[str, str], t_ms: int, pattern: Pattern, message: str,
            trace: tuple[str, str] | None) -> dict[str, Any]:
        m, s, _ = self.clock.parts(t_ms)
        if pattern.logger == "plain":
            # log.Printf: no level, no JSON; the router cannot parse it, analysis derives everything.
            return {**keys, "source": "stderr", "log": f"{self.clock.slashed}{m:02d}:{s:02d} {message}"}
        iso_s = f"{self.clock.iso}{m:02d}:{s:02d}Z"
        line = f'time="{iso_s}" level={LOGRUS_LEVEL[pattern.level]} msg="{message}"'
        record: dict[str, Any] = {**keys, "source": "stderr", "log": line, "time": self._iso(t_ms), "service": spec.name,
                                  "level": pattern.level, "message": message}
        if trace is not None:
            record["log"] = f"{line} trace_id={trace[0]} request_id={trace[1]}"
            record["trace_id"], record["request_id"] = trace
        return record

    def _nginx_error(self, spec: ServiceSpec, keys: dict[str, str], t_ms: int, pattern: Pattern, message: str,
                     rng: Random) -> dict[str, Any]:
        m, s, _ = self.clock.parts(t_ms)
        worker = ri(rng, 20, 40)
        line = f"{self.clock.slashed}{m:02d}:{s:02d} [{NGINX_LEVEL[pattern.level]}] {worker}#{worker}: *{ri(rng, 1, 999999)} {message}"
        return {**keys, "source": "stderr", "log": line, "time": self._iso(t_ms), "service": spec.name,
                "level": pattern.level, "message": message}

    def _stderr_record(self, spec: ServiceSpec, keys: dict[str, str], t_ms: int, pattern: Pattern, message: str,
                       rng: Random) -> dict[str, Any]:
        if spec.runtime == "nginx":
            return self._nginx_error(spec, keys, t_ms, pattern, message, rng)
        if spec.runtime == "java":
            text = message + ("\n\tat " + "\n\tat ".join(pattern.frames) if pattern.frames else "")
        elif spec.runtime == "dotnet":
            text = message + ("\n   at " + "\n   at ".join(pattern.frames) if pattern.frames else "")
        elif spec.runtime == "python":
            m, s, _ = self.clock.parts(t_ms)
            text = f"[{self.clock.spaced}{m:02d}:{s:02d} +0000] [1] [ERROR] {message}"
        else:  # Go: the panic line, the signal line, a blank line, the goroutine dump
            text = "\n".join((message, *pattern.frames))
        return {**keys, "source": "stderr", "log": text}

    # -- raw lines (startup, shutdown, crash signals) ------------------------------------------------

    def raw_record(self, spec: ServiceSpec, keys: dict[str, str], t_ms: int, text: str, source: str = "stdout",
                   level: str | None = None) -> dict[str, Any]:
        """A line the router could not parse (or only its level): no canonical keys unless ``level``."""
        record: dict[str, Any] = {**keys, "source": source, "log": text}
        if level is not None:
            record.update(time=self._iso(t_ms), service=spec.name, level=level, message=text)
        return record

    # -- nginx access log ------------------------------------------------------------------------------

    def access_record(self, keys: dict[str, str], t_ms: int, method: str, path: str, status: int,
                      latency_ms: float, size: int, ip: str, agent: str, request_id: str, trace_id: str
                      ) -> dict[str, Any]:
        m, s, _ = self.clock.parts(t_ms)
        line = (f'{ip} - - [{self.clock.nginx}{m:02d}:{s:02d} +0000] "{method} {path} HTTP/1.1" {status} {size} '
                f'"-" "{agent}" rt={latency_ms / 1000:.3f} request_id={request_id} trace_id={trace_id}')
        level = "ERROR" if status >= 500 else "WARN" if status >= 400 else "INFO"
        return {**keys, "source": "stdout", "log": line, "time": self._iso(t_ms), "service": "api-gateway",
                "level": level, "method": method, "path": path, "status": status, "latency_ms": latency_ms,
                "bytes": size, "client_ip": ip, "user_agent": agent, "request_id": request_id, "trace_id": trace_id}


def dumps(record: dict[str, Any]) -> bytes:
    return _dumps(record).encode("ascii")
