"""Publish data points exactly once per (job, window) to every configured sink.

How (see README.md in this folder for the reasoning):

1. ``enqueue`` writes the window row (``metric_windows``) and every sink's batches into the outbox
   (``logpipe.state.outbox``, channel "metrics") in ONE transaction.
   Batches are planned deterministically (points sorted by identity, fixed batch ids), and a window
   already present makes the call a no-op, so re-running a job over the same window adds nothing.
2. ``flush`` takes each pending batch, marks it ``sending`` (committed) *before* the call, sends it,
   and marks it ``sent`` together with its ledger row in one transaction after the call.
3. A failure that certainly did not land (throttled after botocore's retries, refused, never
   connected) puts the batch back to ``pending``. A failure that may have landed (5xx, a connection
   cut after the request went out) - and a batch found still ``sending`` by a later run, i.e. a
   crash between the call and the ledger write - is *in doubt*:
   * idempotent sinks (local: keyed inserts; Datadog: gauges overwrite; EMF) simply resend;
   * CloudWatch adds duplicates up, so the batch is read back with GetMetricData (SampleCount at
     the exact metric, dimensions and minute) once CloudWatch had ``readback_settle_seconds`` to
     show it, and compared with what other published batches put there: landed -> ledger, not
     landed -> resend, cannot tell -> wait for the next run.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from logpipe.errors import DeliveryError, LogpipeError
from logpipe.layout import to_ms
from logpipe.metrics.model import (
    DataPoint,
    merge_points,
    points_from_json,
    points_from_result,
    points_to_json,
)
from logpipe.sinks.base import OutcomeUnknown, SendRejected, Sink
from logpipe.sinks.registry import build_sink
from logpipe.state.db import insert_new_keys
from logpipe.state.outbox import IN_DOUBT, PENDING, SENDING, SENT, UNKNOWN, Outbox, OutboxItem, OutboxRow
from logpipe.state.tables import metric_windows

if TYPE_CHECKING:
    from logpipe.config import Config, MetricsConfig
    from logpipe.queries.model import QueryResult

log = logging.getLogger(__name__)

_WINDOW_KEY = ("job", "window_start_ms", "window_end_ms")  # of metric_windows: one row per queued window
_CLAIM_CHUNK = 200  # batches of an idempotent sink claimed (and marked sent) per transaction
_QUEUED_KEPT = 1024  # window ends whose queued point identities the overlap check keeps


@dataclass
class SinkReport:
    sent_batches: int = 0
    sent_points: int = 0
    rejected: int = 0  # sends that certainly failed (will be retried)
    unknown: int = 0  # sends whose outcome was unknown
    resolved_landed: int = 0  # in-doubt batches found to have landed (not resent)
    resolved_resend: int = 0  # in-doubt batches found not to have landed (resent)
    pending_batches: int = 0  # left for the next run
    errors: list[str] = field(default_factory=list)


@dataclass
class FlushReport:
    sinks: dict[str, SinkReport] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return all(r.pending_batches == 0 for r in self.sinks.values())

    @property
    def sent_points(self) -> int:
        return sum(r.sent_points for r in self.sinks.values())


CHANNEL = "metrics"


def batch_id(sink: str, job: str, window_start_ms: int, window_end_ms: int, seq: int) -> str:
    """Deterministic: the same window planned again gets the same ids (so the same rows)."""
    key = f"{sink}\x1f{job}\x1f{window_start_ms}\x1f{window_end_ms}\x1f{seq}"
    return hashlib.sha256(key.encode()).hexdigest()[:40]


class Publisher:
    """``enqueue`` windows of points, ``flush`` them to the sinks; safe to run from several processes."""

    def __init__(self, metrics: MetricsConfig, engine: Engine, region: str | None = None,
                 sinks: dict[str, Sink] | None = None, clock: Callable[[], float] = time.time) -> None:
        self.metrics = metrics
        self.engine = engine
        self.region = region
        self.outbox = Outbox(self.engine, CHANNEL, clock)
        self._sinks: dict[str, Sink] = dict(sinks or {})
        self.clock = clock
        # window end -> point identity -> the jobs that queued it (read from the outbox once per window
        # end, then kept up to date by this publisher): the overlap check of every enqueue read and
        # parsed every other job's payloads of the same time, a run cycle's largest state cost
        self._queued: OrderedDict[int, dict[str, set[str]]] = OrderedDict()
        self._queued_lock = threading.Lock()

    @classmethod
    def from_config(cls, config: Config, sinks: dict[str, Sink] | None = None,
                    clock: Callable[[], float] = time.time) -> Publisher:
        """The publisher of ``[metrics]``, over the ``[state]`` database, in ``[aws] region``."""
        from logpipe.state.db import open_state

        return cls(config.metrics, open_state(config.state.url), config.aws.region, sinks, clock)

    def sink(self, name: str) -> Sink:
        if name not in self._sinks:
            self._sinks[name] = build_sink(name, self.metrics, self.engine, self.region)
        return self._sinks[name]

    # -- enqueue -------------------------------------------------------------------------------
    def enqueue(self, job: str, window_start: datetime, window_end: datetime,
                points: Iterable[DataPoint]) -> bool:
        """Queue a window's points for every configured sink, in a transaction of its own; False if the
        window was queued before."""
        try:
            with self.engine.begin() as conn:
                return self.enqueue_in(conn, job, window_start, window_end, points)
        except IntegrityError:
            return False  # another process queued the same window first

    def enqueue_in(self, conn: Connection, job: str, window_start: datetime, window_end: datetime,
                   points: Iterable[DataPoint]) -> bool:
        """``enqueue`` on the caller's transaction: the points are queued if and when it commits (the
        run cycle queues a window's points in the commit that moves its watermark). False if the
        window was queued before (by this process or another): nothing is added, nothing warned about."""
        return self.enqueue_many_in(conn, [(job, window_start, window_end, points)])[0]

    def enqueue_many_in(self, conn: Connection,
                        windows: Sequence[tuple[str, datetime, datetime, Iterable[DataPoint]]]) -> list[bool]:
        """``enqueue_in`` of several (job, start, end, points) windows on the caller's transaction, in
        two statements for all of them: their keys, then their batches (a run cycle queues a window's
        points and its heartbeat under two keys in each window's commit: four statements, a round trip
        each on PostgreSQL, where two do). Whether each window was new, in the order given."""
        namespace = self.metrics.namespace
        now = self.outbox.now_ms()
        planned = []
        for job, window_start, window_end, points in windows:
            ordered = sorted(merge_points(points), key=lambda p: p.identity(namespace))
            planned.append((job, to_ms(window_start), to_ms(window_end), ordered))
        # The windows' keys written first, keeping rows already there: a window written by another
        # transaction first adds nothing here (one statement where a count and an insert were two).
        added = insert_new_keys(conn, metric_windows,
                                [{"job": job, "window_start_ms": start_ms, "window_end_ms": end_ms,
                                  "points": len(ordered), "enqueued_ms": now}
                                 for job, start_ms, end_ms, ordered in planned], _WINDOW_KEY)
        new = [(job, start_ms, end_ms) in added for job, start_ms, end_ms, _ in planned]
        items: list[OutboxItem] = []
        for (job, start_ms, end_ms, ordered), is_new in zip(planned, new, strict=True):
            if not is_new:
                continue
            items += [OutboxItem(target=sink_name, key=batch_id(sink_name, job, start_ms, end_ms, seq),
                                 kind=sink_name, job=job, payload=points_to_json(batch), size=len(batch), seq=seq,
                                 window_start_ms=start_ms, window_end_ms=end_ms)
                      for sink_name in dict.fromkeys(self.metrics.sinks)
                      for seq, batch in enumerate(self.sink(sink_name).plan(ordered))]
            self._warn_overlaps(job, end_ms, ordered)
        self.outbox.enqueue(conn, items)
        # Known to the overlap check before the commit: should the transaction roll back (the window
        # failed, or another process completed it), the same job queues the same window when it is
        # done, and the check only ever compares a job's points with other jobs'.
        if self.metrics.sinks:
            with self._queued_lock:
                for (job, _start_ms, end_ms, ordered), is_new in zip(planned, new, strict=True):
                    known = self._queued.get(end_ms) if is_new else None
                    if known is not None:
                        for point in ordered:
                            known.setdefault(point.identity(namespace), set()).add(job)
        return new

    def expect_windows(self, window_ends: Iterable[datetime]) -> None:
        """Read at once what the outbox holds for windows ending at these times, for the overlap check
        of the windows about to be queued (``_warn_overlaps``): a run cycle queues windows at about a
        hundred ends a day, and reading each end's payloads at its first window was a query per end.
        Only the earliest ends this publisher keeps (``_QUEUED_KEPT``) are read; an end already known
        is not read again. What the check knows is then what it would have read at the first window
        of each end (a snapshot, kept up to date by this publisher's own queuing, as before)."""
        if not self.metrics.sinks:
            return
        namespace = self.metrics.namespace
        with self._queued_lock:
            wanted = sorted({to_ms(end) for end in window_ends} - set(self._queued))[:_QUEUED_KEPT]
        if not wanted:
            return
        found: dict[int, dict[str, set[str]]] = {end_ms: {} for end_ms in wanted}
        for end_ms, queued_by, text in self.outbox.payloads_by_end(self.metrics.sinks[0], wanted):
            known = found.get(end_ms)
            if known is not None:
                for p in points_from_json(text):
                    known.setdefault(p.identity(namespace), set()).add(queued_by)
        with self._queued_lock:
            for end_ms in wanted:
                self._queued.setdefault(end_ms, found[end_ms])
            while len(self._queued) > _QUEUED_KEPT:
                self._queued.popitem(last=False)

    def _warn_overlaps(self, job: str, end_ms: int, points: Sequence[DataPoint]) -> list[str]:
        """Warn when another job already queued the same metric, dimensions and timestamp.

        CloudWatch adds such points up (two jobs both emitting ``ErrorCount{service=api}`` for the
        same window double the count), and the read-back of an in-doubt batch cannot tell the two
        apart. Returns the overlapping metric names.
        """
        if not points or not self.metrics.sinks:
            return []
        namespace = self.metrics.namespace
        with self._queued_lock:
            known = self._queued.get(end_ms)
            if known is None:
                known = {}
                for queued_by, text in self.outbox.payloads(self.metrics.sinks[0], [end_ms]):
                    for p in points_from_json(text):
                        known.setdefault(p.identity(namespace), set()).add(queued_by)
                self._queued[end_ms] = known
                while len(self._queued) > _QUEUED_KEPT:
                    self._queued.popitem(last=False)
            clashes: dict[str, set[str]] = defaultdict(set)
            for p in points:
                others = known.get(p.identity(namespace), set()) - {job}
                if others:
                    clashes[p.name].update(others)
        for name, jobs in sorted(clashes.items()):
            log.warning("metric %s from job %s has the same dimensions and timestamp as job(s) %s: sinks will "
                        "add them up; give one of them another metric name", name, job, ", ".join(sorted(jobs)))
        return sorted(clashes)

    # -- flush ---------------------------------------------------------------------------------
    def flush(self, sinks: Sequence[str] | None = None) -> FlushReport:
        """Send every pending batch, resolve in-doubt ones; what cannot be sent now stays queued."""
        report = FlushReport()
        for name in dict.fromkeys(sinks or self.metrics.sinks):
            report.sinks[name] = self._flush_sink(name)
        return report

    def _flush_sink(self, name: str) -> SinkReport:
        rep = SinkReport()
        try:
            sink = self.sink(name)
        except DeliveryError as exc:
            rep.errors.append(str(exc))
            rep.pending_batches = self.outbox.count_open(name)
            return rep
        if not self.outbox.count_open(name):  # nothing pending nor in doubt (a cycle's later flushes): one read
            return rep
        for _ in range(self.metrics.flush_rounds):
            self._resolve_in_doubt(name, sink, rep)
            pending = self.outbox.rows(name, (PENDING,))
            if not pending:
                if not self.outbox.rows(name, IN_DOUBT):
                    break
                continue  # in-doubt batches may resolve (or wait for the settle time)
            # An idempotent sink's batches are claimed and marked sent a chunk at a time (two
            # transactions per chunk, not two per batch: a run cycle queues two batches per window);
            # a crash in between leaves them in doubt, and an idempotent sink's are simply resent.
            chunk = _CLAIM_CHUNK if sink.idempotent else 1
            consecutive_rejections = 0
            for at in range(0, len(pending), chunk):
                claimed = (self.outbox.claim_many(pending[at:at + chunk]) if sink.idempotent
                           else [row for row in pending[at:at + chunk] if self.outbox.claim(row, durable=True)])
                sent: list[OutboxRow] = []
                stop: str | None = None  # "round": let the next round try again; "sink": give up for now
                tried = 0
                send_many = getattr(sink, "send_many", None) if sink.idempotent else None
                try:
                    if send_many is not None and claimed:
                        # The whole chunk in one call (the local sink: one transaction, not one per
                        # batch). Should it raise, every batch of the chunk stays in doubt: an
                        # idempotent sink's are resent.
                        tried = len(claimed)
                        send_many([(points_from_json(row.payload), row.key) for row in claimed])
                        sent = list(claimed)
                        rep.sent_batches += len(sent)
                        rep.sent_points += sum(row.size for row in sent)
                    else:
                        for row in claimed:
                            tried += 1
                            points = points_from_json(row.payload)
                            try:
                                sink.send(points, row.key)
                            except SendRejected as exc:
                                self.outbox.release(row, str(exc), PENDING)
                                rep.rejected += 1
                                rep.errors.append(str(exc))
                                consecutive_rejections += 1
                                if consecutive_rejections >= 3:
                                    stop = "round"  # the sink is unhappy: let the next round (or run) try again
                                    break
                            except OutcomeUnknown as exc:
                                self.outbox.release(row, str(exc), UNKNOWN)
                                rep.unknown += 1
                                rep.errors.append(str(exc))
                            except LogpipeError as exc:  # e.g. no API key: nothing was sent, retrying now won't help
                                self.outbox.release(row, str(exc), PENDING)
                                rep.errors.append(str(exc))
                                stop = "sink"
                                break
                            else:
                                consecutive_rejections = 0
                                sent.append(row)
                                rep.sent_batches += 1
                                rep.sent_points += row.size
                finally:  # also when a send raised something unexpected (that batch stays in doubt)
                    if sink.idempotent:
                        self.outbox.mark_sent_many(sent, "send")
                    else:
                        for row in sent:
                            self.outbox.mark_sent(row, "send")
                    for untried in claimed[tried:]:  # claimed, never tried: back as they were
                        self.outbox.release(untried, untried.last_error, PENDING, expect=SENDING)
                if stop == "sink":
                    rep.pending_batches = self.outbox.count_open(name)
                    return rep
                if stop == "round":
                    break
        rep.pending_batches = self.outbox.count_open(name)
        return rep

    def _resolve_in_doubt(self, name: str, sink: Sink, rep: SinkReport) -> None:
        settle_ms = int(self.metrics.readback_settle_seconds * 1000)
        for row in self.outbox.rows(name, IN_DOUBT):
            if sink.idempotent:
                self.outbox.release(row, row.last_error, PENDING, expect=row.state)
                continue
            if self.outbox.now_ms() - row.updated_ms < settle_ms:
                continue
            points = points_from_json(row.payload)
            try:
                verdict = sink.landed(points, self._baseline(row, points))
            except DeliveryError as exc:
                rep.errors.append(str(exc))
                continue
            if verdict is True:
                self.outbox.mark_sent(row, "readback", expect=row.state)
                rep.resolved_landed += 1
            elif verdict is False:
                self.outbox.release(row, row.last_error, PENDING, expect=row.state)
                rep.resolved_resend += 1

    def _baseline(self, row: OutboxRow, points: Sequence[DataPoint]) -> dict[str, float]:
        """SampleCounts that *other* published batches of this sink put at the same identities."""
        namespace = self.metrics.namespace
        wanted = {p.identity(namespace) for p in points}
        ends = {to_ms(p.timestamp) for p in points}
        base: dict[str, float] = defaultdict(float)
        for _job, text in self.outbox.payloads(row.target, ends, states=(SENT,), other_than_key=row.key):
            for p in points_from_json(text):
                key = p.identity(namespace)
                if key in wanted:
                    base[key] += p.sample_count
        return dict(base)

    # -- inspection ----------------------------------------------------------------------------
    def status(self) -> dict[str, dict[str, int]]:
        """Batches per sink and state."""
        return self.outbox.status()


def publish_result(publisher: Publisher, result: QueryResult, job: str | None = None) -> bool:
    """Queue a saved query's result as data points (for ``logpipe run``; call ``Publisher.flush`` after).

    The job defaults to the query's name; the top-N pattern guard of ``[metrics] top_patterns`` applies.
    """
    points = points_from_result(result, top_patterns=publisher.metrics.top_patterns)
    return publisher.enqueue(job or result.query.name, result.window_start, result.window_end, points)
