"""Datadog Metrics API v2 (``submit_metrics``): gauges, so that a resend is harmless.

Choice for distributions: sent as gauges of summary statistics (``NAME.avg``, ``.p50``, ``.p95``,
``.p99``, ``.max``, ``.count``) rather than v1 distribution points. Why: a Datadog gauge submitted
twice for the same series and timestamp keeps one value (the last write wins), so the sink is
idempotent and a batch whose outcome is unknown can simply be resent; distribution points would be
counted twice. The price is that percentiles cannot be re-aggregated across windows in Datadog -
acceptable for per-window summaries that CloudWatch already keeps as full distributions.

The API key comes from ``DD_API_KEY`` or from the Secrets Manager secret named by
``metrics.datadog_api_key_secret`` (a plain string or JSON with ``api_key``). It is held only in the
client's configuration: never logged, never put in an error message (messages are built from the
HTTP status and reason only, and scrubbed of the key in case a library echoes it).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from logpipe import aws
from logpipe.errors import ConfigError
from logpipe.metrics.model import DataPoint
from logpipe.sinks.base import SendRejected

if TYPE_CHECKING:
    from logpipe.config import MetricsConfig

log = logging.getLogger(__name__)

MAX_SERIES_PER_CALL = 1000
_UNITS = {"Seconds": "second", "Milliseconds": "millisecond", "Microseconds": "microsecond", "Bytes": "byte",
          "Kilobytes": "kibibyte", "Megabytes": "mebibyte", "Gigabytes": "gibibyte", "Bits": "bit",
          "Percent": "percent", "Count": None, "None": None}
SUMMARY_SUFFIXES = ("avg", "p50", "p95", "p99", "max", "count")


def read_api_key(config: MetricsConfig, region: str | None = None) -> str:
    """The key from DD_API_KEY, else Secrets Manager; a ConfigError saying where to put it if neither."""
    if not os.environ.get("DD_API_KEY", "").strip() and not config.datadog_api_key_secret:
        raise ConfigError("the datadog metrics sink needs an API key: set DD_API_KEY, or "
                          "[metrics] datadog_api_key_secret to a Secrets Manager secret id holding it")
    return aws.read_secret(env="DD_API_KEY", secret_id=config.datadog_api_key_secret, region=region,
                           json_keys=("api_key", "DD_API_KEY"), what="the Datadog API key")


def datadog_configuration(config: MetricsConfig, api_key: str, retries: int) -> Any:
    """The Datadog client's configuration: ``[metrics] datadog_url`` or the site, the key, ``retries``."""
    from datadog_api_client import Configuration

    if config.datadog_url:
        configuration = Configuration(host=config.datadog_url.rstrip("/"))
    else:
        configuration = Configuration()
        configuration.server_variables["site"] = config.datadog_site
    configuration.api_key["apiKeyAuth"] = api_key
    configuration.enable_retry = retries > 0
    configuration.max_retries = retries
    return configuration


def weighted_quantile(values: Sequence[float], counts: Sequence[float], q: float) -> float:
    order = np.argsort(values)
    v = np.asarray(values, dtype=float)[order]
    c = np.asarray(counts, dtype=float)[order]
    cum = np.cumsum(c)
    return float(v[min(int(np.searchsorted(cum, q * cum[-1], side="left")), len(v) - 1)])


def summarise(point: DataPoint) -> list[tuple[str, float]]:
    """(suffix, value) gauges standing for one distribution."""
    count = point.sample_count
    return [("avg", point.total / count if count else 0.0),
            ("p50", weighted_quantile(point.values, point.counts, 0.50)),
            ("p95", weighted_quantile(point.values, point.counts, 0.95)),
            ("p99", weighted_quantile(point.values, point.counts, 0.99)),
            ("max", max(point.values)),
            ("count", count)]


class DatadogSink:
    name = "datadog"
    idempotent = True

    def __init__(self, config: MetricsConfig, api_key: str | None = None, region: str | None = None) -> None:
        self._config = config
        self._region = region
        self._key = api_key  # read on first send: queuing points must not need the secret
        self.prefix = config.namespace.lower()
        self.tags = list(config.datadog_tags)
        self.host = config.datadog_url.rstrip("/") if config.datadog_url else f"https://api.{config.datadog_site}"
        self._configuration: Any = None
        self.calls = 0

    @property
    def configuration(self) -> Any:
        if self._configuration is None:
            self._key = self._key or read_api_key(self._config, self._region)
            self._configuration = datadog_configuration(self._config, self._key,
                                                        retries=max(0, min(self._config.max_attempts - 1, 5)))
        return self._configuration

    def __repr__(self) -> str:  # never show the key
        return f"DatadogSink(host={self.host!r})"

    def plan(self, points: Sequence[DataPoint]) -> list[list[DataPoint]]:
        per_call = MAX_SERIES_PER_CALL // len(SUMMARY_SUFFIXES)
        return [list(points[i:i + per_call]) for i in range(0, len(points), per_call)]

    def series(self, points: Sequence[DataPoint]) -> list[Any]:
        from datadog_api_client.v2.model.metric_intake_type import MetricIntakeType
        from datadog_api_client.v2.model.metric_point import MetricPoint
        from datadog_api_client.v2.model.metric_series import MetricSeries

        out = []
        for p in points:
            tags = [f"{k}:{v}" for k, v in p.dimensions] + self.tags
            ts = int(p.timestamp.timestamp())
            base = f"{self.prefix}.{p.name}"
            named = [(f"{base}.{s}", v) for s, v in summarise(p)] if p.values else [(base, float(p.value or 0))]
            for metric, value in named:
                kwargs: dict[str, Any] = {"metric": metric, "type": MetricIntakeType.GAUGE,
                                          "points": [MetricPoint(timestamp=ts, value=value)], "tags": tags}
                unit = _UNITS.get(p.unit)
                if unit and not metric.endswith(".count"):
                    kwargs["unit"] = unit
                out.append(MetricSeries(**kwargs))
        return out

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    def send(self, points: Sequence[DataPoint], batch_id: str) -> None:
        from datadog_api_client import ApiClient
        from datadog_api_client.exceptions import ApiException
        from datadog_api_client.v2.api.metrics_api import MetricsApi
        from datadog_api_client.v2.model.metric_payload import MetricPayload

        self.calls += 1
        configuration = self.configuration  # a missing key is a ConfigError: the batch stays queued
        try:
            with ApiClient(configuration) as client:
                MetricsApi(client).submit_metrics(body=MetricPayload(series=self.series(points)))
        except ApiException as exc:
            hint = " (check the API key and [metrics] datadog_site)" if exc.status in (401, 403) else ""
            raise SendRejected(self._scrub(f"Datadog refused metrics batch {batch_id[:12]}: HTTP {exc.status} "
                                           f"{exc.reason}{hint}")) from None
        except Exception as exc:  # urllib3 and socket errors: the type is enough, the text may hold URLs
            raise SendRejected(self._scrub(f"cannot reach Datadog at {self.host} for batch "
                                           f"{batch_id[:12]}: {type(exc).__name__}")) from None

    def landed(self, points: Sequence[DataPoint], baseline: dict[str, float]) -> bool | None:
        return None  # never asked: gauges overwrite, so a resend is safe
