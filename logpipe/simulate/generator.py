"""``simulate()``: a window of realistic FireLens records written to the store, hour by hour.

The plan for the whole window (deploy, bursts, crashes, the huge record) is drawn first from one
seeded RNG; each hour is then generated from its own RNG seeded by ``(seed, hour)``, sorted by time
and cut into Firehose-like objects (one per 15 minutes). Compression and upload run on a small
thread pool while the next hour is generated (zlib and sockets release the GIL), so a day at rate 1
takes a few seconds. Same seed and window give byte-identical objects: gzip's mtime is fixed and no
clock or ``uuid4`` is read.
"""

from __future__ import annotations

import base64
import json
import math
import time
from bisect import bisect
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import accumulate
from random import Random
from typing import Any

from logpipe.errors import UsageError
from logpipe.layout import HOUR, from_ms, hours_in_window, to_ms, utc
from logpipe.simulate import catalog
from logpipe.simulate.catalog import Pattern, ServiceSpec, hex_id, pick, ri, uuid_text
from logpipe.simulate.fleet import Fleet, new_identity
from logpipe.simulate.records import HourClock, RecordMaker, dumps
from logpipe.store import Store, gzip_lines

OBJECT_SPAN_MS = 15 * 60 * 1000  # Firehose flushes about every 5-15 minutes: a few objects per hour
DEPLOY_SERVICE = "checkout"
DEPLOY_AT = 0.7  # share of the window before the deploy
ROLLOUT_STEP_MS = 45_000  # one task replaced every 45 s
NEW_ERRORS_PER_HOUR = 25  # at rate 1; never fewer than NEW_ERRORS_MIN_PER_HOUR
NEW_ERRORS_MIN_PER_HOUR = 6
BURST_PER_MINUTE = 30  # at rate 1; never fewer than 4 a minute
HUGE_RECORD_BYTES = 1_100_000  # over the 1 MiB the reader accepts (Firehose's own limit is 1,000 KiB)
BAD_KINDS = ("not_json", "truncated", "invalid_utf8", "wrong_types")
STREAM = "logpipe-logs"
MAX_PENDING_WRITES = 8


@dataclass(frozen=True)
class Burst:
    """A 10-20 minute burst of one error pattern in one service."""

    service: str
    pattern: str  # template, variables as <*>
    start: datetime
    end: datetime
    count: int


@dataclass(frozen=True)
class Crash:
    """A container that died (OOM, panic) and what replaced it."""

    service: str
    time: datetime
    signal: str  # the crash line's template


@dataclass
class SimulationSummary:
    """What a simulation wrote. ``records`` counts every line written, bad ones included."""

    records: int
    bad_records: int
    objects: int
    bytes_written: int  # compressed, as stored
    seconds: float
    services: list[str]
    deploy_time: datetime  # the first task of the new task definition started here
    new_error_message: str  # one concrete message of the pattern that appears after the deploy
    new_error_pattern: str = ""  # the same with variables as <*>
    new_error_service: str = DEPLOY_SERVICE
    new_error_count: int = 0
    deploy_service: str = DEPLOY_SERVICE
    deploy_from: str = ""  # task definition before, e.g. checkout:41
    deploy_to: str = ""  # and after, e.g. checkout:42
    start: datetime | None = None
    end: datetime | None = None
    raw_bytes: int = 0  # uncompressed
    bad_by_kind: dict[str, int] = field(default_factory=dict)  # not_json truncated invalid_utf8 wrong_types too_large
    bursts: list[Burst] = field(default_factory=list)
    crashes: list[Crash] = field(default_factory=list)

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0

    @property
    def unreadable_records(self) -> int:
        """Bad lines a reader must skip (wrong types still parse as JSON objects)."""
        return self.bad_records - self.bad_by_kind.get("wrong_types", 0)


@dataclass(order=True)
class _Planned:
    """A record fixed by the plan (not drawn hour by hour): its time and how to build it."""

    t_ms: int
    order: int
    service: str = field(compare=False)
    slot: int = field(compare=False)
    pattern: Pattern | None = field(compare=False, default=None)
    text: str = field(compare=False, default="")
    source: str = field(compare=False, default="stdout")
    level: str | None = field(compare=False, default=None)
    kind: str = field(compare=False, default="")  # "new_error", "huge", "access504"


def traffic_curve(hour_of_day: float) -> float:
    """Relative traffic by UTC hour: low at night (~0.35 at 03:00), peak mid-afternoon (~1.65 at 15:00)."""
    return 1.0 + 0.65 * math.cos(2 * math.pi * (hour_of_day - 15.0) / 24.0)


def _chooser(weights: list[float]) -> Callable[[float], int]:
    cumulative = list(accumulate(weights))
    total = cumulative[-1]
    return lambda u: min(bisect(cumulative, u * total), len(cumulative) - 1)


def _check_args(start: datetime, end: datetime, rate: float, bad_rate: float) -> None:
    if end <= start:
        raise UsageError(f"the simulation window is empty: end {end:%Y-%m-%dT%H:%M:%SZ} is not after start "
                         f"{start:%Y-%m-%dT%H:%M:%SZ}")
    if not (rate > 0 and math.isfinite(rate)) or rate > 1000:
        raise UsageError(f"rate must be a number above 0 and at most 1000 (1 = about 200k records a day), got {rate}")
    if not 0 <= bad_rate <= 1:
        raise UsageError(f"bad rate must be a share between 0 and 1 (e.g. 0.001), got {bad_rate}")
    if end - start > timedelta(days=366):
        raise UsageError("the simulation window is longer than a year: simulate a shorter window")


class _Simulation:
    """One run: the plan, the per-hour generation, the writer."""

    def __init__(self, store: Store, start: datetime, end: datetime, seed: int, rate: float, bad_rate: float):
        self.store = store
        self.start, self.end = start, end
        self.start_ms, self.end_ms = to_ms(start), to_ms(end)
        self.seed, self.rate, self.bad_rate = seed, rate, bad_rate
        self.specs = {spec.name: spec for spec in catalog.SERVICES}
        self.plan_rng = Random(f"logpipe-sim/{seed}/{self.start_ms}/{self.end_ms}")
        self.fleet = Fleet(catalog.SERVICES, self.start_ms, self.plan_rng)
        self.maker = RecordMaker(HourClock(start))
        self.planned: list[_Planned] = []
        self.bursts: list[Burst] = []
        self.crashes: list[Crash] = []
        self.bad_by_kind: dict[str, int] = {}
        self.records = self.objects = self.bytes_written = self.raw_bytes = 0
        self.new_error_count = 0
        self.new_error_example = ""
        self._order = 0
        self._steady = {name: [p for p in spec.patterns if p.steady and p.weight > 0]
                        for name, spec in self.specs.items()}
        self._choose = {name: _chooser([p.weight for p in patterns]) for name, patterns in self._steady.items()}
        self._routes = _chooser([r[0] for r in catalog.ROUTES])
        self._statuses = _chooser([s[0] for s in catalog.STATUSES])
        spec = self.specs[DEPLOY_SERVICE]
        self.deploy_from = f"{spec.name}:{spec.family_revision}"
        self.deploy_to = f"{spec.name}:{spec.family_revision + 1}"
        span = self.end_ms - self.start_ms
        self.deploy_ms = (self.start_ms + int(span * DEPLOY_AT)) // 1000 * 1000  # on a whole second
        self._plan()

    # -- the plan ---------------------------------------------------------------------------------------

    def _add(self, t_ms: int, service: str, slot: int, **kwargs: Any) -> None:
        if self.start_ms <= t_ms < self.end_ms:
            self._order += 1
            self.planned.append(_Planned(t_ms, self._order, service, slot, **kwargs))

    def _plan(self) -> None:
        rng = self.plan_rng
        span = self.end_ms - self.start_ms
        hours = span / 3_600_000
        # Every steady pattern once near the start: a detector's baseline has seen them all, so the
        # only pattern that is new after the deploy is the one the deploy brought.
        warmup = min(600_000, span // 4)
        for name, patterns in self._steady.items():
            for pattern in patterns:
                self._add(self.start_ms + rng.randrange(max(warmup, 1)), name, rng.randrange(self.specs[name].tasks),
                          pattern=pattern)
        if self.bad_rate > 0:  # each kind of bad record at least once, whatever the dice say
            for kind in BAD_KINDS:
                name = sorted(self.specs)[rng.randrange(len(self.specs))]
                patterns = self._steady[name]
                self._add(self.start_ms + rng.randrange(span), name, rng.randrange(self.specs[name].tasks),
                          pattern=patterns[rng.randrange(len(patterns))], kind="bad:" + kind)
        changes: list[tuple[int, str, int, int, str]] = []  # (t, service, slot, revision, why)
        if hours >= 1:
            self._plan_bursts(rng, span, max(1, round(hours / 8)))
            changes += self._plan_crashes(rng, span, max(1, round(hours / 6)))
            if self.bad_rate > 0:  # bad_rate 0 asks for clean data: no huge line either
                self._plan_huge(rng, span)
        spec = self.specs[DEPLOY_SERVICE]
        for slot in range(spec.tasks):
            changes.append((self.deploy_ms + slot * ROLLOUT_STEP_MS, spec.name, slot, spec.family_revision + 1, "deploy"))
        changes.sort()
        for t_ms, service, slot, revision, why in changes:
            self._replace_task(t_ms, service, slot, revision, why)
        self._plan_new_errors(rng, spec)
        self.planned.sort()

    def _plan_bursts(self, rng: Random, span: int, count: int) -> None:
        options = catalog.BURST_PATTERNS
        # Different patterns first; long windows repeat them (a flaky dependency flakes again).
        choices = rng.sample(options, k=min(count, len(options))) + [pick(rng, options) for _ in range(count - len(options))]
        for service, key in choices:
            pattern = next(p for p in self.specs[service].patterns if p.key == key)
            duration = rng.randint(10, 20) * 60_000
            latest = max(int(span * 0.95) - duration, int(span * 0.05) + 1)
            begin = self.start_ms + rng.randrange(int(span * 0.05), latest)
            per_minute = max(4.0, BURST_PER_MINUTE * self.rate)
            n = int(per_minute * duration / 60_000)
            added = 0
            for _ in range(n):
                t_ms = begin + rng.randrange(duration)
                if t_ms >= self.end_ms:
                    continue
                slot = rng.randrange(self.specs[service].tasks)
                self._add(t_ms, service, slot, pattern=pattern)
                added += 1
                if service == "api-gateway":  # the clients see it too: 504s after nginx's 60 s timeout
                    self._add(t_ms + 1, service, slot, kind="access504")
                    added += 1
            self.bursts.append(Burst(service, pattern.template, from_ms(begin),
                                     from_ms(min(begin + duration, self.end_ms)), added))

    def _plan_crashes(self, rng: Random, span: int, count: int) -> list[tuple[int, str, int, int, str]]:
        """Crashes happen before the deploy, so their signals are known before anything new appears."""
        changes = []
        services = rng.sample(sorted(catalog.CRASHES), k=len(catalog.CRASHES))
        for index in range(count):
            service = services[index % len(services)]
            spec = self.specs[service]
            t_ms = self.start_ms + rng.randrange(int(span * 0.1), int(span * 0.6))
            slot = rng.randrange(spec.tasks)
            pattern = catalog.CRASHES[service]
            self._add(t_ms, service, slot, pattern=pattern)
            self.crashes.append(Crash(service, from_ms(t_ms), pattern.template))
            if service == "orders":
                # gunicorn's master restarts the killed worker; the container lives on.
                self._add(t_ms + 40, service, slot, text=f"Booting worker with pid: {rng.randint(400, 900)}",
                          source="stderr")
                continue
            code, reason = (2, "exit status 2") if spec.runtime == "go" else (137, "OutOfMemoryError: Container killed due to memory usage")
            if spec.runtime == "java":
                self._add(t_ms + 150, service, slot, source="stderr",
                          text=f"/entrypoint.sh: line 14:     7 Killed                  java $JAVA_OPTS -jar /app/{service}.jar")
            self._add(t_ms + 900, service, slot, source="stderr",
                      text=f"Essential container in task exited: container {service} exited with code {code} ({reason})")
            changes.append((t_ms + rng.randint(30_000, 60_000), service, slot, spec.family_revision, "restart"))
        return changes

    def _plan_huge(self, rng: Random, span: int) -> None:
        t_ms = self.start_ms + rng.randrange(span)
        self._add(t_ms, "orders", rng.randrange(self.specs["orders"].tasks), kind="huge")

    def _replace_task(self, t_ms: int, service: str, slot: int, revision: int, why: str) -> None:
        spec = self.specs[service]
        identity = new_identity(spec, revision, self.plan_rng)
        if why == "deploy":
            for offset, line in zip((-2500, -400), catalog.SHUTDOWN[spec.runtime], strict=False):
                self._add(t_ms + offset, service, slot, text=line)
        self.fleet.slots[service][slot].replace(t_ms, identity)
        secs = round(self.plan_rng.uniform(7.0, 14.0), 3)
        for index, line in enumerate(catalog.STARTUP[spec.runtime]):
            text = line.format(rev=revision, secs=secs, secs2=round(secs + 1.4, 3))
            self._add(t_ms + 200 + index * 700, service, slot, text=text, level="INFO")

    def _plan_new_errors(self, rng: Random, spec: ServiceSpec) -> None:
        first = self.deploy_ms + spec.tasks * ROLLOUT_STEP_MS  # all tasks run the new revision
        for hour in hours_in_window(from_ms(first), self.end):
            lo, hi = max(first, to_ms(hour)), min(self.end_ms, to_ms(hour + HOUR))
            if hi <= lo:
                continue
            per_hour = max(NEW_ERRORS_MIN_PER_HOUR, NEW_ERRORS_PER_HOUR * self.rate * traffic_curve(hour.hour + 0.5))
            n = max(1, round(per_hour * (hi - lo) / 3_600_000))
            for _ in range(n):
                self._add(rng.randrange(lo, hi), spec.name, rng.randrange(spec.tasks), pattern=catalog.NEW_ERROR,
                          kind="new_error")

    # -- one hour -----------------------------------------------------------------------------------------

    def hour_lines(self, hour: datetime) -> list[tuple[int, int, str, bytes]]:
        """Every line of one hour partition, in time order: (t_ms, tiebreak, service, line)."""
        lo, hi = max(self.start_ms, to_ms(hour)), min(self.end_ms, to_ms(hour + HOUR))
        rng = Random(f"logpipe-sim/{self.seed}/{hour:%Y%m%d%H}")
        self.maker.set_clock(HourClock(hour))
        curve = traffic_curve(hour.hour + 0.5) * self.rate * (hi - lo) / 3_600_000
        out: list[tuple[int, int, str, bytes]] = []
        emit = self._emitter(out, rng)

        # The apps' own background lines.
        for name, spec in self.specs.items():
            patterns, choose = self._steady[name], self._choose[name]
            n = round(spec.per_day / 24 * curve * rng.uniform(0.92, 1.08))
            for _ in range(n):
                t_ms = lo + int(rng.random() * (hi - lo))
                keys = self.fleet.identity(name, int(rng.random() * spec.tasks), t_ms).keys
                emit(t_ms, name, self.maker.pattern_record(spec, keys, t_ms, patterns[choose(rng.random())], rng))

        # HTTP requests through the gateway, some logged by the upstream too (same trace and request id).
        gateway = self.specs["api-gateway"]
        n = round(catalog.GATEWAY_REQUESTS_PER_DAY / 24 * curve * rng.uniform(0.92, 1.08))
        for _ in range(n):
            t_ms = lo + int(rng.random() * (hi - lo))
            record, upstream, latency, trace = self._request(rng, t_ms, gateway)
            emit(t_ms, "api-gateway", record)
            if upstream and rng.random() < catalog.DOWNSTREAM_LOG_SHARE and record["status"] < 500:
                up_ms = t_ms - int(latency * 0.5)
                if up_ms >= lo:
                    spec = self.specs[upstream]
                    keys = self.fleet.identity(upstream, int(rng.random() * spec.tasks), up_ms).keys
                    emit(up_ms, upstream, self.maker.pattern_record(spec, keys, up_ms, catalog.REQUEST_PATTERNS[upstream],
                                                                    rng, trace))

        # What the plan fixed for this hour.
        for item in self.planned[bisect(self.planned, _Planned(lo, -1, "", 0)):]:
            if item.t_ms >= hi:
                break
            self._emit_planned(item, rng, emit)
        out.sort()
        return out

    def _request(self, rng: Random, t_ms: int, gateway: ServiceSpec) -> tuple[dict[str, Any], str | None, float, tuple[str, str]]:
        _, method, template, upstream, typical = catalog.ROUTES[self._routes(rng.random())]
        path = template
        if "{" in template:
            path = template.format(sku=f"SKU-{ri(rng, 10000, 99999)}", uuid=uuid_text(rng),
                                   order=ri(rng, 1_000_000, 9_999_999), hex=hex_id(rng, 8))
        if upstream is None:
            status, agent = (200 if rng.random() < 0.98 else 304), catalog.HEALTH_AGENT if path == "/healthz" else pick(rng, catalog.USER_AGENTS)
        else:
            status, agent = catalog.STATUSES[self._statuses(rng.random())][1], pick(rng, catalog.USER_AGENTS)
        latency = rng.lognormvariate(0.0, 0.6) * typical
        if rng.random() < 0.01:  # the tail: GC pauses, cold caches, slow upstreams
            latency *= rng.uniform(10, 40)
        if status == 504:
            latency = 60_000 + rng.random() * 5
        latency = round(latency, 1)
        size = 0 if status in (204, 304) else ri(rng, 120, 48_000)
        ip = catalog.client_ip(rng)
        if agent == catalog.HEALTH_AGENT:  # the load balancer, from inside the VPC
            size, ip = 2, catalog.private_ip(rng)
        trace = (hex_id(rng, 32), hex_id(rng, 32))
        keys = self.fleet.identity("api-gateway", int(rng.random() * gateway.tasks), t_ms).keys
        record = self.maker.access_record(keys, t_ms, method, path, status, latency, size, ip, agent, trace[1], trace[0])
        return record, upstream, latency, trace

    def _emit_planned(self, item: _Planned, rng: Random, emit: Callable[..., None]) -> None:
        spec = self.specs[item.service]
        keys = self.fleet.identity(item.service, item.slot, item.t_ms).keys
        if item.kind == "huge":
            blob = base64.b64encode(rng.randbytes(HUGE_RECORD_BYTES * 3 // 4)).decode("ascii")
            record = self.maker.raw_record(spec, keys, item.t_ms, f"Rejected request body ({len(blob)} bytes): {blob}",
                                           level="WARN")
            emit(item.t_ms, item.service, record, bad="too_large")
        elif item.kind == "access504":
            record = self.maker.access_record(keys, item.t_ms, "GET", f"/api/v1/orders/{rng.randint(1_000_000, 9_999_999)}",
                                              504, 60_000.0, 562, catalog.client_ip(rng), pick(rng, catalog.USER_AGENTS),
                                              hex_id(rng, 32), hex_id(rng, 32))
            emit(item.t_ms, item.service, record)
        elif item.pattern is not None:
            record = self.maker.pattern_record(spec, keys, item.t_ms, item.pattern, rng)
            if item.kind == "new_error":
                self.new_error_count += 1
                self.new_error_example = self.new_error_example or record["message"]
                emit(item.t_ms, item.service, record, bad="never")
            else:
                emit(item.t_ms, item.service, record, bad=item.kind.removeprefix("bad:") or None)
        else:
            emit(item.t_ms, item.service, self.maker.raw_record(spec, keys, item.t_ms, item.text, item.source, item.level))

    def _emitter(self, out: list[tuple[int, int, str, bytes]], rng: Random) -> Callable[..., None]:
        bad_rate = self.bad_rate
        counter = [len(out)]

        def emit(t_ms: int, service: str, record: dict[str, Any], bad: str | None = None) -> None:
            counter[0] += 1
            if bad in BAD_KINDS or (bad is None and bad_rate and rng.random() < bad_rate):
                line = self._corrupt(record, rng, bad)
            else:
                line = dumps(record)
                if bad == "too_large":
                    self.bad_by_kind["too_large"] = self.bad_by_kind.get("too_large", 0) + 1
            out.append((t_ms, counter[0], service, line))

        return emit

    def _corrupt(self, record: dict[str, Any], rng: Random, kind: str | None = None) -> bytes:
        """One bad line, as shippers really produce them."""
        kind = kind or BAD_KINDS[rng.randrange(len(BAD_KINDS))]
        self.bad_by_kind[kind] = self.bad_by_kind.get(kind, 0) + 1
        if kind == "wrong_types":
            options = [(k, v) for k, v in (("status", "abc"), ("level", 3), ("latency_ms", "n/a"), ("time", 1764151200))
                       if k in record]
            key, value = options[rng.randrange(len(options))] if options else ("time", 1764151200)
            return dumps({**record, key: value})
        line = dumps(record)
        if kind == "truncated":  # cut off mid-record (ASCII, so never mid-character)
            return line[: rng.randrange(8, len(line) - 1)]
        if kind == "invalid_utf8":  # a Latin-1 name written by a misconfigured encoder
            return line.replace(b'"log":"', b'"log":"Jos\xe9 M\xfcller: ', 1)
        # Not JSON: a raw line without the router's wrapper, or the router's own complaint.
        line = record["log"].split("\n", 1)[0].encode("ascii", "replace")
        try:
            json.loads(line)
        except ValueError:
            return line
        return (f"[{record.get('time', '')}] [ warn] [engine] failed to flush chunk '1-{rng.randrange(10**9)}.flb', "
                f"retry in {rng.randint(5, 60)} seconds: task_id=3, input=forward.1 > output=kinesis_firehose.0").encode()

    # -- writing --------------------------------------------------------------------------------------------

    def run(self, progress: Callable[[int, int], None] | None) -> None:
        hours = hours_in_window(self.start, self.end)
        pending: list[Future[int]] = []
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="logpipe-sim-writer") as pool:
            for done, hour in enumerate(hours, start=1):
                lines = self.hour_lines(hour)
                for key, chunk in self._objects(hour, lines):
                    self.objects += 1
                    self.records += len(chunk)
                    self.raw_bytes += sum(len(line) + 1 for line in chunk)
                    pending.append(pool.submit(self._write, key, chunk))
                while len(pending) > MAX_PENDING_WRITES:
                    self.bytes_written += pending.pop(0).result()
                if progress is not None:
                    progress(done, len(hours))
            for future in pending:
                self.bytes_written += future.result()

    def _objects(self, hour: datetime, lines: list[tuple[int, int, str, bytes]]) -> list[tuple[str, list[bytes]]]:
        """Cut an hour into objects of ``OBJECT_SPAN_MS`` (per service with service partitioning)."""
        hour_ms = to_ms(hour)
        per_service = self.store.layout.service_partition
        groups: dict[tuple[str | None, int], list[bytes]] = {}
        for t_ms, _, service, line in lines:
            groups.setdefault((service if per_service else None, (t_ms - hour_ms) // OBJECT_SPAN_MS), []).append(line)
        out = []
        for (partition_service, index), chunk in sorted(groups.items(),
                                                         key=lambda item: (item[0][0] or "", item[0][1])):
            flushed = hour + timedelta(milliseconds=index * OBJECT_SPAN_MS)
            key = self.store.layout.object_key(flushed, stream=STREAM, service=partition_service, seq=index)
            out.append((key, chunk))
        return out

    def _write(self, key: str, lines: list[bytes]) -> int:
        data = gzip_lines(lines)
        self.store.write_object(key, data)
        return len(data)


def simulate(store: Store, start: datetime, end: datetime, *, seed: int = 42, rate: float = 1.0,
             bad_rate: float = 0.001, progress: Callable[[int, int], None] | None = None) -> SimulationSummary:
    """Write realistic FireLens records for ``start <= time < end`` into ``store``.

    ``rate`` 1.0 is about 200k records per simulated day; ``progress(done, total)`` is called per hour.
    """
    start, end = utc(start), utc(end)
    _check_args(start, end, rate, bad_rate)
    began = time.perf_counter()
    sim = _Simulation(store, start, end, seed, rate, bad_rate)
    sim.run(progress)
    spec = sim.specs[DEPLOY_SERVICE]
    example = sim.new_error_example or catalog.NEW_ERROR.render(Random(seed))
    return SimulationSummary(
        records=sim.records, bad_records=sum(sim.bad_by_kind.values()), objects=sim.objects,
        bytes_written=sim.bytes_written, seconds=time.perf_counter() - began,
        services=sorted(sim.specs), deploy_time=from_ms(sim.deploy_ms), new_error_message=example,
        new_error_pattern=catalog.NEW_ERROR.template, new_error_service=spec.name,
        new_error_count=sim.new_error_count, deploy_service=spec.name, deploy_from=sim.deploy_from,
        deploy_to=sim.deploy_to, start=start, end=end, raw_bytes=sim.raw_bytes, bad_by_kind=dict(sim.bad_by_kind),
        bursts=sim.bursts, crashes=sim.crashes)
