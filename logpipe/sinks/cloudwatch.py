"""CloudWatch ``PutMetricData``: fewest calls within the limits, and no blind resends.

Batching: at most ``max_points_per_call`` (1,000) data points and ``max_request_bytes`` (1 MB) per
call, so the number of calls is ``ceil(points / 1000)`` unless the size limit bites. botocore 1.44
speaks CBOR (smithy-rpc-v2) to CloudWatch, so a batch's size is measured by serialising it with the
client's own serializer; a ``before-send`` hook records the real bytes of every request for the
benchmark and the tests.

Retries: botocore's ``standard`` or ``adaptive`` mode retries what was certainly *not* applied
(throttling and other 4xx answers, connections that never opened). CloudWatch sums duplicates, so a
request whose fate is unknown (a 5xx answer, a connection cut after the request went out) must not
be retried blindly: a ``needs-retry`` hook vetoes botocore's retry for those and the sink raises
``OutcomeUnknown``. The publisher later asks ``landed()``, which reads the exact timestamps and
dimensions back with ``GetMetricData`` (``SampleCount``) and compares with what the ledger expects.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from logpipe import aws
from logpipe.metrics.model import DataPoint, compress_distribution
from logpipe.sinks.base import OutcomeUnknown, SendRejected

if TYPE_CHECKING:
    from logpipe.config import MetricsConfig

MAX_DISTINCT_VALUES = 150  # per datum
MAX_QUERIES_PER_GET = 500  # GetMetricData


class _Ambiguous(Exception):
    """Raised from the needs-retry hook to stop botocore resending a request that may have landed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def datum(point: DataPoint) -> dict[str, Any]:
    """The ``MetricData`` entry of one point; distributions as ``Values``/``Counts`` (percentiles work)."""
    out: dict[str, Any] = {
        "MetricName": point.name,
        "Dimensions": [{"Name": k, "Value": v} for k, v in point.dimensions],
        "Timestamp": point.timestamp,
        "Unit": point.unit,
    }
    if point.values:
        values, counts = compress_distribution(point.values, point.counts, MAX_DISTINCT_VALUES)
        out["Values"], out["Counts"] = values, counts
    else:
        out["Value"] = point.value
    return out


class CloudWatchSink:
    name = "cloudwatch"
    idempotent = False

    def __init__(self, config: MetricsConfig, region: str | None = None, client: Any = None) -> None:
        self.namespace = config.namespace
        self.max_points = config.max_points_per_call
        self.max_bytes = config.max_request_bytes
        self.client = client or aws.client("cloudwatch", region, retry_mode=config.retry_mode,
                                           max_attempts=config.max_attempts, connect_timeout=5, read_timeout=30)
        # What the wire saw: one entry per HTTP attempt of PutMetricData.
        self.request_sizes: list[int] = []
        self.calls = 0  # put_metric_data invocations (each may be several attempts)
        events = self.client.meta.events
        events.register("before-send.cloudwatch.PutMetricData", self._record_size)
        events.register_first("needs-retry.cloudwatch.PutMetricData", self._veto_ambiguous_retry)
        from botocore.serialize import create_serializer

        self._serializer = create_serializer(self.client.meta.service_model.protocol, include_validation=False)
        self._operation = self.client.meta.service_model.operation_model("PutMetricData")

    # -- hooks -------------------------------------------------------------------------------
    def _record_size(self, request: Any, **_: Any) -> None:
        body = request.body
        size = len(body) if isinstance(body, (bytes, bytearray, str)) else int(request.headers.get("Content-Length", 0))
        self.request_sizes.append(size)

    @staticmethod
    def _veto_ambiguous_retry(response: Any = None, caught_exception: Any = None, **_: Any) -> None:
        from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError

        if caught_exception is not None:
            if isinstance(caught_exception, (EndpointConnectionError, ConnectTimeoutError)):
                return None  # never connected: safe for botocore to retry
            raise _Ambiguous(f"{type(caught_exception).__name__} after the request was sent")
        if response is not None:
            status = response[0].status_code
            if status >= 500:
                raise _Ambiguous(f"HTTP {status} from CloudWatch")
        return None

    # -- batching ------------------------------------------------------------------------------
    def request_size(self, points: Sequence[DataPoint]) -> int:
        """Bytes of the request body botocore would send for these points."""
        params = {"Namespace": self.namespace, "MetricData": [datum(p) for p in points]}
        body = self._serializer.serialize_to_request(params, self._operation)["body"]
        return len(body)

    def plan(self, points: Sequence[DataPoint]) -> list[list[DataPoint]]:
        batches: list[list[DataPoint]] = []
        current: list[DataPoint] = []
        estimate = 0
        for point in points:
            # A cheap per-datum estimate (CBOR: strings plus ~10 bytes per number and key) to cut
            # early; every batch is then measured exactly by serialising it.
            size = (64 + len(point.name) + len(point.unit)
                    + sum(len(k) + len(v) + 24 for k, v in point.dimensions) + 20 * len(point.values))
            if current and (len(current) >= self.max_points or estimate + size > self.max_bytes):
                batches.append(current)
                current, estimate = [], 0
            current.append(point)
            estimate += size
        if current:
            batches.append(current)
        return [part for batch in batches for part in self._fit(batch)]

    def _fit(self, batch: list[DataPoint]) -> list[list[DataPoint]]:
        if len(batch) <= 1 or self.request_size(batch) <= self.max_bytes:
            return [batch]
        middle = math.ceil(len(batch) / 2)
        return self._fit(batch[:middle]) + self._fit(batch[middle:])

    # -- sending ---------------------------------------------------------------------------------
    def send(self, points: Sequence[DataPoint], batch_id: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        self.calls += 1
        try:
            self.client.put_metric_data(Namespace=self.namespace, MetricData=[datum(p) for p in points])
        except _Ambiguous as exc:
            raise OutcomeUnknown(f"CloudWatch PutMetricData batch {batch_id[:12]}: {exc.reason}; "
                                 "it will be read back before any resend") from None
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            if status >= 500:
                raise OutcomeUnknown(f"CloudWatch PutMetricData batch {batch_id[:12]}: {code} (HTTP {status})") from None
            raise SendRejected(f"CloudWatch refused PutMetricData batch {batch_id[:12]}: {code}: "
                               f"{exc.response.get('Error', {}).get('Message', '')} (HTTP {status}); "
                               "check the namespace, units and IAM permission cloudwatch:PutMetricData") from None
        except BotoCoreError as exc:
            from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError

            if isinstance(exc, (EndpointConnectionError, ConnectTimeoutError)):
                raise SendRejected(f"cannot reach CloudWatch: {exc}") from None
            raise OutcomeUnknown(f"CloudWatch PutMetricData batch {batch_id[:12]}: {exc}") from None

    # -- read back -------------------------------------------------------------------------------
    def observed_sample_counts(self, points: Sequence[DataPoint]) -> dict[str, float]:
        """The ``SampleCount`` CloudWatch holds for each point's metric, dimensions and minute."""
        from botocore.exceptions import BotoCoreError, ClientError

        out: dict[str, float] = {}
        for start in range(0, len(points), MAX_QUERIES_PER_GET):
            chunk = list(points[start:start + MAX_QUERIES_PER_GET])
            # One query per point; all points of a batch share the window's end in practice, but
            # each query carries its own dimensions, and the time range covers every timestamp.
            first = min(p.timestamp for p in chunk).replace(second=0, microsecond=0)
            last = max(p.timestamp for p in chunk).replace(second=0, microsecond=0) + timedelta(minutes=1)
            queries = [{
                "Id": f"q{i}",
                "MetricStat": {"Metric": {"Namespace": self.namespace, "MetricName": p.name,
                                          "Dimensions": [{"Name": k, "Value": v} for k, v in p.dimensions]},
                               "Period": 60, "Stat": "SampleCount"},
                "ReturnData": True,
            } for i, p in enumerate(chunk)]
            try:
                token = None
                results: dict[str, dict[Any, float]] = {}
                while True:
                    kwargs: dict[str, Any] = {"MetricDataQueries": queries, "StartTime": first, "EndTime": last}
                    if token:
                        kwargs["NextToken"] = token
                    page = self.client.get_metric_data(**kwargs)
                    for res in page["MetricDataResults"]:
                        series = results.setdefault(res["Id"], {})
                        for ts, value in zip(res["Timestamps"], res["Values"], strict=False):
                            minute = ts.replace(second=0, microsecond=0)
                            series[minute] = series.get(minute, 0.0) + value
                    token = page.get("NextToken")
                    if not token:
                        break
            except (ClientError, BotoCoreError) as exc:
                raise SendRejected(f"cannot read back CloudWatch metrics to resolve an unknown send: {exc}") from None
            for i, p in enumerate(chunk):
                minute = p.timestamp.replace(second=0, microsecond=0)
                out[p.identity(self.namespace)] = results.get(f"q{i}", {}).get(minute, 0.0)
        return out

    def landed(self, points: Sequence[DataPoint], baseline: dict[str, float]) -> bool | None:
        observed = self.observed_sample_counts(points)
        verdicts: set[bool | None] = set()
        for p in points:
            key = p.identity(self.namespace)
            before = baseline.get(key, 0.0)
            seen = observed.get(key, 0.0)
            if seen >= before + p.sample_count - 1e-9:
                verdicts.add(True)
            elif seen <= before + 1e-9:
                verdicts.add(False)
            else:
                verdicts.add(None)
        if verdicts == {True}:
            return True
        if verdicts == {False}:
            return False
        return None
