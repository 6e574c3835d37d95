"""Configuration: one ``logpipe.toml``, validated on load, overridden by the environment.

Why pydantic with ``extra="forbid"``: a typo in a key (``nameSpace``) must be an error that names the
key and the file, not a silently ignored setting that makes metrics go nowhere. With no file at all
the embedded default applies (a local folder, DuckDB, SQLite, local metrics), so ``logpipe demo``
works on a fresh machine with no AWS account.

The sources are the TOML file and the environment, which overrides it as
``LOGPIPE_<SECTION>_<KEY>=value`` (for example ``LOGPIPE_STORE_ROOT=s3://b`` or
``LOGPIPE_METRICS_SINKS='["cloudwatch"]'``): text fields take the text as it is, numbers and booleans
are parsed by their field's type, lists and tables as TOML (or JSON). ``LOGPIPE_CONFIG`` names the file.
They are read exactly as pydantic-settings read them (``Config`` was its ``BaseSettings``; a test holds
the two readers together), by a few functions here: importing pydantic-settings cost every command a
tenth of its start-up.

Code below the CLI takes the section it needs (``StoreConfig``, ``EngineConfig``, ``MetricsConfig``...),
not the whole ``Config``. The AWS region is one setting, ``[aws] region``.
"""

from __future__ import annotations

import json
import os
import re
import types
import typing
from collections import deque
from collections.abc import Mapping, Sequence, Set
from dataclasses import is_dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ByteSize, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from logpipe.config_file import DEFAULT_CONFIG_FILE, locate
from logpipe.durations import parse_duration
from logpipe.errors import ConfigError
from logpipe.redact import apply_redaction

ENV_PREFIX = "LOGPIPE_"
LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
Level = Literal["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]


class Section(BaseModel):
    # defer_build: the validators are built when first used (a process that finds its configuration
    # remembered, logpipe.config_cache, imports neither this module nor pydantic).
    model_config = ConfigDict(extra="forbid", validate_assignment=True, defer_build=True)


def _default_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


class AwsConfig(Section):
    """The AWS account side: one region for every client, stack and rendered config.

    Default: ``$AWS_REGION``, else ``$AWS_DEFAULT_REGION``, else us-east-1. (An SNS topic's ARN names
    its own region, which a digest sent to it uses.)
    """

    region: str = Field(default_factory=_default_region, min_length=1)


class StoreConfig(Section):
    """Where the logs are: a local folder laid out like the bucket, or ``s3://bucket``."""

    root: str = "./logpipe-data"
    prefix: str = "logs"
    # Firehose dynamic partitioning adds a ``service=NAME/`` level before ``dt=``.
    service_partition: bool = False
    # Where S3 objects of a window are cached for the DuckDB engine (and salvaged copies of damaged
    # objects, for any store), and how large that folder may grow ("10GiB", "500MB" or bytes):
    # least recently used files go first.
    cache_dir: str = "./.logpipe-cache"
    cache_max_bytes: ByteSize = Field(default=ByteSize(10 * 1024**3), ge=1024 * 1024)

    @field_validator("prefix")
    @classmethod
    def _strip_prefix(cls, value: str) -> str:
        value = value.strip("/")
        if not value or any(part in ("", ".", "..") for part in value.split("/")):
            raise ValueError("must be a path like 'logs' or 'ecs/logs', without empty, '.' or '..' parts")
        return value

    @property
    def is_s3(self) -> bool:
        return self.root.startswith("s3://")


class EngineConfig(Section):
    """Which engine runs the saved queries: DuckDB on one machine, Athena at scale."""

    kind: Literal["duckdb", "athena"] = "duckdb"
    # Athena
    workgroup: str = "primary"
    database: str = "logpipe"
    table: str = "logs"
    output_location: str | None = None
    poll_interval_seconds: float = Field(default=0.5, gt=0)
    timeout_seconds: float = Field(default=900, gt=0)
    # DuckDB
    threads: int | None = Field(default=None, ge=1)
    memory_limit: str | None = None
    # A window longer than this needs --force (a typo like --since 99999d would read every partition).
    max_window: str = "31d"
    # The service (logpipe run / serve) keeps the raw objects its windows read in memory, up to this
    # many MB (least recently used out), so the jobs reading the same hours read each object once;
    # 0 turns it off. One-off 'logpipe query run' never uses it. (logpipe.engines.object_cache)
    cycle_cache_mb: int = Field(default=256, ge=0, le=1024 * 1024)

    @field_validator("max_window")
    @classmethod
    def _max_window(cls, value: str) -> str:
        parse_duration(value)
        return value

    @field_validator("output_location")
    @classmethod
    def _s3_location(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("s3://"):
            raise ValueError("must be an s3:// URL such as s3://my-athena-results/logpipe/")
        return value


class CompactConfig(Section):
    """Columnar hours (``logpipe compact``): closed hours of raw logs rewritten as Parquet beside them."""

    # The service's compact job (``logpipe serve`` / ``logpipe run``) runs on this schedule.
    enabled: bool = True
    schedule: str = "20 * * * *"
    # Queries read the compacted hours before the watermark (false: always the raw objects).
    read: bool = True
    # At most this many hours per run (a first run over a long history catches up over several runs).
    max_hours_per_run: int = Field(default=168, ge=1)
    # Each run also looks again at the hours this far before the watermark (rewritten only if their
    # raw objects changed: an object delivered far past the lateness).
    recheck: str = "6h"
    # The Glue table of the Parquet hours (Athena reads the hours before the watermark from it).
    table: str = "logs_parquet"

    @field_validator("recheck")
    @classmethod
    def _recheck(cls, value: str) -> str:
        parse_duration(value)
        return value


class StateConfig(Section):
    """Patterns, watermarks, the publish ledger and local metrics: one SQLAlchemy URL."""

    url: str = "sqlite:///./logpipe-state.db"

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", value):
            raise ValueError("must be a SQLAlchemy URL: sqlite:///path.db or postgresql+psycopg://user@host/db")
        return value


SinkName = Literal["local", "cloudwatch", "datadog", "emf"]


class MetricsConfig(Section):
    """Where derived metrics go."""

    sinks: list[SinkName] = Field(default_factory=lambda: list[SinkName](["local"]))
    namespace: str = "Logpipe"
    # Per-pattern metrics only for the top N patterns; the rest are aggregated into "other".
    top_patterns: int = Field(default=20, ge=0)
    retry_mode: Literal["standard", "adaptive"] = "standard"
    max_attempts: int = Field(default=8, ge=1)
    datadog_site: str = "datadoghq.com"
    # The API key comes from DD_API_KEY, or from this Secrets Manager secret id; never from the file.
    datadog_api_key_secret: str | None = None
    datadog_tags: list[str] = Field(default_factory=list)
    # A full URL (http://127.0.0.1:8126) instead of https://api.{datadog_site}: for a proxy or a test server.
    datadog_url: str | None = None
    # CloudWatch limits per PutMetricData call (AWS: 1,000 data points, 1 MB).
    max_points_per_call: int = Field(default=1000, ge=1, le=1000)
    max_request_bytes: int = Field(default=1_000_000, ge=10_000, le=1_000_000)
    # A batch whose outcome is unknown is read back with GetMetricData only after CloudWatch had this
    # long to make it visible; until then it waits (never resent blindly).
    readback_settle_seconds: float = Field(default=120.0, ge=0)
    # Send/resolve rounds within one flush before leaving the rest for the next run.
    flush_rounds: int = Field(default=5, ge=1)


class DestinationConfig(Section):
    """One place a digest is delivered to."""

    kind: Literal["file", "sns", "ses", "slack", "datadog"]
    # Names the destination in the delivery ledger and in messages (default: kind and target).
    name: str | None = None
    path: str | None = None  # file: a file name ({start} and {end} are filled in) or a folder ending in /
    topic_arn: str | None = None  # sns
    sender: str | None = None  # ses
    recipients: list[str] = Field(default_factory=list)  # ses
    # Slack: the webhook URL is a secret: give the environment variable or Secrets Manager id holding it.
    webhook_url_env: str | None = None
    webhook_url_secret: str | None = None
    format: Literal["md", "html", "slack", "text"] | None = None
    tags: list[str] = Field(default_factory=list)  # datadog events


class DigestConfig(Section):
    """When digests are built and where they go."""

    schedule: str = "0 7 * * *"  # daily at 07:00 UTC
    hourly: bool = False
    window: str = "24h"
    top_patterns: int = Field(default=10, ge=1)
    samples_per_pattern: int = Field(default=3, ge=0)
    destinations: list[DestinationConfig] = Field(default_factory=list)
    console_url: str | None = None
    # Attempts per destination within one run (exponential backoff between); what still fails stays
    # in the delivery outbox and is retried on the next run.
    delivery_attempts: int = Field(default=3, ge=1, le=10)
    delivery_backoff_seconds: float = Field(default=1.0, ge=0)

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        parse_duration(value)
        return value


class DatadogRoute(Section):
    """What the router forwards to Datadog: the expensive part, so filtered and sampled."""

    enabled: bool = False
    min_level: Level = "WARN"
    # Share of records below min_level that are still forwarded (0 = none, 1 = all).
    sample_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    exclude: list[str] = Field(default_factory=list)  # regexes of known noise
    site: str = "datadoghq.com"
    api_key_secret_arn: str | None = None
    tags: list[str] = Field(default_factory=list)
    # Hard cap on records per second forwarded to Datadog (throttle filter), so an error storm cannot
    # run up the bill; None = no cap.
    max_per_second: int | None = Field(default=None, ge=1)

    @field_validator("exclude")
    @classmethod
    def _regexes_compile(cls, values: list[str]) -> list[str]:
        for pattern in values:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a valid regex: {exc}") from exc
        return values


class FirelensService(Section):
    """Router settings for one ECS service."""

    firehose_stream: str | None = None
    log_format: Literal["json", "text", "auto"] = "auto"
    # java also covers Kotlin and Scala (JVM traces); "other" tries every runtime's rules.
    runtime: Literal["java", "python", "go", "dotnet", "node", "ruby", "other"] = "other"
    datadog: DatadogRoute = Field(default_factory=DatadogRoute)


class FirelensConfig(Section):
    """The FireLens log router (Fluent Bit) per service."""

    firehose_stream: str = "logpipe-logs"
    # A pinned aws-for-fluent-bit release whose Fluent Bit takes every key we render (see
    # logpipe/firelens/versions.py). fluent_bit_version overrides what the image tag says, and is
    # needed for an image whose tag does not name an aws-for-fluent-bit release.
    router_image: str = "public.ecr.aws/aws-observability/aws-for-fluent-bit:3.2.1"
    fluent_bit_version: str | None = None
    # The multiline filters' flush_ms (Fluent Bit refuses < 500): a trace waits for its next line or
    # this timer, and whatever is still waiting at SIGTERM is lost (fluent/fluent-bit#4918).
    multiline_flush_ms: int = Field(default=1000, ge=500, le=10000)
    router_memory_mib: int = Field(default=256, ge=64)
    storage_limit: str = "512M"
    stop_timeout_seconds: int = Field(default=120, ge=2, le=120)
    datadog: DatadogRoute = Field(default_factory=DatadogRoute)
    services: dict[str, FirelensService] = Field(default_factory=dict)
    # Where the rendered files live inside the router image (absolute: FireLens @INCLUDEs our file).
    config_dir: str = "/fluent-bit/etc/logpipe"
    # Pack many records into one Firehose record (Fluent Bit >= 4.2.2): Firehose bills every record
    # rounded up to 5 KB, so unaggregated small lines cost many times their size.
    simple_aggregation: bool = True
    retry_limit: int = Field(default=15, ge=1)

    @field_validator("fluent_bit_version")
    @classmethod
    def _fluent_bit_version(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\d+\.\d+(?:\.\d+)?", value.strip()):
            raise ValueError(f"{value!r} is not a Fluent Bit version: write it like 4.2.2")
        return value


class InfraConfig(Section):
    """The CloudFormation stacks."""

    stack_prefix: str = "logpipe"
    bucket: str | None = None
    retention_days: int = Field(default=400, ge=1)
    infrequent_access_days: int = Field(default=30, ge=30)
    glacier_days: int = Field(default=90, ge=1)
    athena_bytes_scanned_cutoff: int = Field(default=10 * 1024**3, ge=10 * 1024**2)
    firehose_buffer_mb: int = Field(default=64, ge=1, le=128)
    firehose_buffer_seconds: int = Field(default=300, ge=0, le=900)
    dynamic_partitioning: bool = False
    # Firehose's AppendDelimiterToRecord: a newline after each record. Turn off when every record
    # the producer sends already ends with one (or objects get blank lines between records).
    firehose_append_delimiter: bool = True
    # The Glue view the stateful stack creates over [engine] table: the logical table ``logs`` of the
    # saved queries, for the Athena console, Grafana and QuickSight (the named queries read it).
    athena_view: str = Field(default="logs_view", pattern=r"^[a-z_][a-z0-9_]{0,127}$")


_SNS_ARN_RE = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")


class AlarmsConfig(Section):
    """What the generated CloudWatch alarms do when they fire (``logpipe dashboard deploy``).

    Why a section of its own: an alarm without an action pages nobody, so the topics are part of
    the alarms, not of any one of them. ``create_topic`` lets the stateless stack make the topic
    (``{stack_prefix}-alarms``, encrypted with the log key) for teams that have none yet.
    """

    # SNS topic ARNs notified by every generated alarm when it goes to ALARM.
    actions: list[str] = Field(default_factory=list)
    # Also notify them when the alarm returns to OK (so a page is followed by its all-clear).
    notify_ok: bool = True
    # The stateless stack creates the SNS topic ``{stack_prefix}-alarms`` and every alarm notifies it.
    create_topic: bool = False
    # E-mail addresses the created topic is subscribed to (each confirms by mail).
    topic_emails: list[str] = Field(default_factory=list)
    # The heartbeat alarm of a job fires when this many of its windows in a row completed nothing.
    heartbeat_missed_windows: int = Field(default=2, ge=1, le=24)

    @field_validator("actions")
    @classmethod
    def _sns_arns(cls, values: list[str]) -> list[str]:
        for value in values:
            if not _SNS_ARN_RE.match(value.strip()):
                raise ValueError(f"{value!r} is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:TOPIC)")
        return [v.strip() for v in values]

    @field_validator("topic_emails")
    @classmethod
    def _emails(cls, values: list[str]) -> list[str]:
        for value in values:
            if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value.strip()):
                raise ValueError(f"{value!r} is not an e-mail address")
        return [v.strip() for v in values]


class QueriesConfig(Section):
    """Extra folders of saved queries, next to the ones shipped with logpipe."""

    dirs: list[str] = Field(default_factory=list)
    include_shipped: bool = True


class RedactRule(Section):
    """One extra redaction rule: every match of ``regex`` becomes ``<redacted:NAME>`` in shown text
    and a variable (``<*>``) in pattern templates."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,40}$")
    regex: str = Field(min_length=1)

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from exc
        if re.search(value, "") is not None:
            raise ValueError("the regex matches empty text (it would redact between every character)")
        return value


class RedactConfig(Section):
    """What is redacted from everything logpipe shows or stores (``logpipe.redact``)."""

    # IP addresses (IPv4 and IPv6) in shown text: examples, samples, query results. Personal data
    # under GDPR; turn off when a team needs them to debug. Templates mask them either way.
    ip: bool = True
    rules: list[RedactRule] = Field(default_factory=list)


class DetectorsConfig(Section):
    """Error-pattern detectors."""

    lookback_days: int = Field(default=7, ge=1)
    spike_min_count: int = Field(default=20, ge=1)
    spike_ratio: float = Field(default=3.0, gt=1.0)
    error_rate_threshold: float = Field(default=0.05, gt=0, le=1)
    error_rate_min_records: int = Field(default=200, ge=1)
    # Hours of processed history the lookback needs before anything is called new (a first run
    # learns a baseline instead of flagging everything).
    warmup_hours: int = Field(default=24, ge=0)


class ServiceConfig(Section):
    """The long-running service (``logpipe serve``) and ``logpipe run``."""

    port: int = Field(default=8080, ge=1, le=65535)
    # Loopback unless configured: in a container set 0.0.0.0 (the Dockerfile does) so the ALB reaches it.
    host: str = "127.0.0.1"
    lateness: str = "10m"
    window: str = "1h"
    detect_schedule: str = "5 * * * *"
    max_catchup_windows: int = Field(default=168, ge=1)
    misfire_grace_seconds: int = Field(default=300, ge=1)
    # /healthz turns 503 when a job has been running longer than this (stuck).
    stuck_after_seconds: int = Field(default=3600, ge=1)
    # On SIGTERM: how long to wait for the running job before exiting (ECS stopTimeout is 30 s by default).
    stop_timeout_seconds: float = Field(default=25.0, gt=0)
    # A job whose window failed (not damaged data: that completes) is retried after this, doubling
    # with each consecutive failure up to retry_max_seconds; /healthz says "degraded" (503) once a job
    # failed this many times in a row (0: never).
    retry_backoff_seconds: float = Field(default=30.0, ge=0)
    retry_max_seconds: float = Field(default=1800.0, ge=0)
    degraded_after_failures: int = Field(default=3, ge=0)
    # A job's first run (no watermark yet) processes the windows of this much time before now, not
    # only the latest one (digests excepted: they are messages to people, only the latest is sent).
    first_run_backfill: str = "24h"
    # Replicas of ``serve`` on one state database: one holds this lease and starts windows, the others
    # stand by and take over within it when the holder dies (a clean stop hands it over at once).
    lease_seconds: float = Field(default=30.0, ge=2, le=3600)
    # The service's own log lines on stderr: JSON (one object per line, for CloudWatch Logs Insights) or text.
    log_format: Literal["json", "text"] = "json"

    @field_validator("lateness", "window", "first_run_backfill")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value


class WebConfig(Section):
    """The web console (``/ui``) and JSON API (``/api``) of ``logpipe serve`` and ``logpipe ui``.

    ``/healthz`` is always open; everything else needs a bearer token (``auth = "token"``: from the
    environment variable or Secrets Manager secret named here) or the ALB's signed OIDC identity
    (``auth = "oidc"``). Access is read-only unless the caller holds the operator token or is listed in
    ``operators``: running a query, muting or resolving a pattern change state and are logged with who.
    """

    enabled: bool = True  # the console and API on serve's port (/healthz is served either way)
    auth: Literal["token", "oidc"] = "token"
    # Read-only access (viewers) and operator access: each a secret, by reference.
    token_env: str | None = "LOGPIPE_CONSOLE_TOKEN"
    token_secret: str | None = None
    operator_token_env: str | None = "LOGPIPE_CONSOLE_OPERATOR_TOKEN"
    operator_token_secret: str | None = None
    # ALB OIDC: the ALB's ARN the signed x-amzn-oidc-data token must name, and where its keys are.
    oidc_alb_arn: str | None = None
    oidc_key_url: str = "https://public-keys.auth.elb.{region}.amazonaws.com/{kid}"
    operators: list[str] = Field(default_factory=list)  # OIDC identities (email or sub) with operator access
    # The ad-hoc SQL editor (``query sql`` in the browser): off when served, on for ``logpipe ui``.
    adhoc_sql: bool = False
    # The server: bounded connections, request and idle timeouts, a real listen backlog.
    max_connections: int = Field(default=2048, ge=16)
    backlog: int = Field(default=2048, ge=16)
    header_timeout_seconds: float = Field(default=15.0, gt=0)  # a request's head must arrive within this
    keepalive_timeout_seconds: float = Field(default=5.0, gt=0)
    worker_threads: int = Field(default=32, ge=2, le=512)  # blocking handlers (state reads) run here
    # Query runs from the console.
    max_running_queries: int = Field(default=2, ge=1, le=32)
    max_result_rows: int = Field(default=10_000, ge=10)  # rows a run keeps for the table and downloads
    # Results of scheduled runs kept in the state store, browsable by window.
    result_retention_days: int = Field(default=14, ge=0)  # 0 keeps none
    result_rows_kept: int = Field(default=1_000, ge=1)  # rows kept per stored result
    result_max_per_job: int = Field(default=1_000, ge=1)  # a job's newest windows kept (older ones pruned)

    @field_validator("operators")
    @classmethod
    def _operators(cls, values: list[str]) -> list[str]:
        return [v.strip() for v in values if v.strip()]


class Config(BaseModel):
    """The whole configuration; every section has the embedded default."""

    # validate_default: as pydantic-settings' BaseSettings, which Config was (see ``_environment``)
    model_config = ConfigDict(extra="forbid", validate_assignment=True, validate_default=True, defer_build=True)

    aws: AwsConfig = Field(default_factory=AwsConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    compact: CompactConfig = Field(default_factory=CompactConfig)
    state: StateConfig = Field(default_factory=StateConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    digest: DigestConfig = Field(default_factory=DigestConfig)
    firelens: FirelensConfig = Field(default_factory=FirelensConfig)
    infra: InfraConfig = Field(default_factory=InfraConfig)
    alarms: AlarmsConfig = Field(default_factory=AlarmsConfig)
    queries: QueriesConfig = Field(default_factory=QueriesConfig)
    detectors: DetectorsConfig = Field(default_factory=DetectorsConfig)
    redact: RedactConfig = Field(default_factory=RedactConfig)
    service: ServiceConfig = Field(default_factory=ServiceConfig)
    web: WebConfig = Field(default_factory=WebConfig)

    # Not part of the file: where it came from, for messages.
    _source: str | None = PrivateAttr(default=None)

    @property
    def source(self) -> str | None:
        return self._source


# -- the environment: LOGPIPE_<SECTION>_<KEY> ---------------------------------------------------------
#
# Read as pydantic-settings read it when Config was its BaseSettings (env_prefix LOGPIPE_, nested
# delimiter "_" split once, names case-insensitive, lists and tables as TOML, else JSON), without
# importing it: a tenth of a second of every command's start-up. tests/test_config.py holds this
# reader against pydantic-settings' own over every key of every section.


def _complex(annotation: Any) -> tuple[bool, bool]:
    """Whether a value of this type is given as TOML/JSON text (a list, a table, a model), and whether
    text that does not decode is then kept as text (a union that also takes plain values)."""
    if _complex_type(annotation):
        return True, False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_complex_type(arg) for arg in typing.get_args(annotation)), True
    return False, False


def _complex_type(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _complex_type(typing.get_args(annotation)[0])
    return (_complex_class(annotation) or _complex_class(origin) or hasattr(origin, "__pydantic_core_schema__")
            or hasattr(origin, "__get_pydantic_core_schema__"))


def _complex_class(kind: Any) -> bool:
    if not isinstance(kind, type) or issubclass(kind, str | bytes):
        return False
    return issubclass(kind, BaseModel | Mapping | Sequence | Set | tuple | set | frozenset | deque) or is_dataclass(kind)


def _decode(value: str) -> Any:
    """A list or table given as text: TOML (``['a', 'b']``), else JSON (ValueError when neither)."""
    import tomllib  # (only a variable holding a list or table is decoded)

    try:
        return tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return json.loads(value)


def _environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """The sections and keys the ``LOGPIPE_*`` variables set (ValueError: a value that does not decode)."""
    names = {name.lower(): value for name, value in environ.items()}
    found: dict[str, Any] = {}
    for section in Config.model_fields:
        try:
            _section_from_environment(section, names, found)
        except ValueError as exc:  # as pydantic-settings said it (its source was the class _Environment)
            raise ValueError(f'error parsing value for field "{section}" from source "_Environment"') from exc
    return found


def _section_from_environment(section: str, names: Mapping[str, str], found: dict[str, Any]) -> None:
    """What the variables (``names``: lower-cased) set of one section, into ``found``."""
    model = Config.model_fields[section].annotation
    assert isinstance(model, type) and issubclass(model, BaseModel)
    prefix = f"{ENV_PREFIX.lower()}{section}"
    keys: dict[str, Any] = {}
    for name, value in names.items():
        if not name.startswith(prefix + "_"):
            continue
        key = name[len(prefix) + 1:]
        target = next((f for n, f in model.model_fields.items() if n.lower() == key), None)
        if target is not None and value:
            is_complex, lenient = _complex(target.annotation)
            if is_complex:
                try:
                    value = _decode(value)
                except ValueError:
                    if not lenient:
                        raise
        keys[key] = value
    whole = names.get(prefix)
    if whole is not None:  # the section as one table: LOGPIPE_STORE='{root = "s3://b"}'
        table = _decode(whole)
        if not isinstance(table, dict):
            found[section] = table
            return
        keys = _deep_update(_field_names(model, table), keys)
    if keys:
        found[section] = keys


def _field_names(model: type[BaseModel], table: dict[str, Any]) -> dict[str, Any]:
    """A table's keys that name the model's fields in another case, as the fields are named."""
    fields = {name.lower(): name for name in model.model_fields}
    return {fields.get(key.lower(), key): value for key, value in table.items()}


def _deep_update(base: dict[str, Any], *updates: dict[str, Any]) -> dict[str, Any]:
    """``base`` with each update laid over it, tables merged key by key (later ones win)."""
    merged = dict(base)
    for update in updates:
        for key, value in update.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = _deep_update(merged[key], value)
            else:
                merged[key] = value
    return merged


def _from_file(data: dict[str, Any]) -> dict[str, Any]:
    """The file's tables, section names matched to the sections in any case (``[STORE]``), as
    pydantic-settings matched them; keys inside a section are exact."""
    fields = {name.lower(): name for name in Config.model_fields}
    found: dict[str, Any] = {}
    for key, value in data.items():
        name = fields.get(key.lower())
        if name is not None and name in found:
            continue  # the first spelling of a section wins
        found[name or key] = value
    return found


def _overrides(environ: Mapping[str, str]) -> list[str]:
    """The ``LOGPIPE_<SECTION>_<KEY>`` variables that apply (for messages: names, never values)."""
    sections = set(Config.model_fields)
    applied = []
    for name in sorted(environ):
        rest = name[len(ENV_PREFIX):].lower() if name.upper().startswith(ENV_PREFIX) else ""
        section, _, key = rest.partition("_")
        if section in sections and key:
            applied.append(name)
    return applied


_MOVED_KEYS = {"region": "the AWS region is one setting now: [aws] region"}


def _format_validation_error(exc: ValidationError, source: str) -> str:
    problems = []
    for err in exc.errors():
        key = ".".join(str(part) for part in err["loc"])
        if err["type"] == "extra_forbidden":
            moved = _MOVED_KEYS.get(str(err["loc"][-1])) if len(err["loc"]) > 1 else None
            problems.append(f"unknown key '{key}'" + (f" ({moved})" if moved else ""))
        else:
            message = err["msg"].removeprefix("Value error, ")
            problems.append(f"'{key}': {message} (got {err.get('input')!r})")
    return f"invalid configuration in {source}: " + "; ".join(problems)


def load_config(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Load and validate the configuration.

    ``path`` None means ``$LOGPIPE_CONFIG`` or ``./logpipe.toml`` if either exists, else the
    embedded default. A path given explicitly must exist. (The commands load it through
    ``logpipe.config_cache``, which remembers what was validated.)
    """
    environ = dict(os.environ if environ is None else environ)
    found, raw = locate(path, environ)
    return validate_file(found, raw, environ)


def validate_file(found: Path | None, raw: bytes | None, environ: Mapping[str, str]) -> Config:
    """The configuration of the file ``found`` (its bytes ``raw``; None for the embedded default) with
    the environment's ``LOGPIPE_*`` overrides, validated."""
    import tomllib

    source = str(found) if found is not None else "the embedded default"
    applied = _overrides(environ)
    if applied:
        source += " with environment overrides " + ", ".join(applied)
    text = ""
    if raw is not None:
        try:
            text = raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")  # as read_text reads it
            tomllib.loads(text)  # a clear message for a broken file, first
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{found} is not valid TOML: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"cannot read config file {found}: {exc}") from exc
    try:
        data = _from_file(tomllib.loads(text)) if found is not None else {}
        loaded = Config.model_validate(_deep_update(data, _environment(environ)))
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, source)) from exc
    except ValueError as exc:  # a list or table variable that is neither TOML nor JSON
        raise ConfigError(f"invalid configuration in {source}: {exc}") from exc
    # validated again from its dump: defaults of the sections are validated too (a ByteSize from "2GB")
    config = Config.model_validate(loaded.model_dump())
    config._source = source
    apply_redaction(config)
    return config


_SECRET_KEY_RE = re.compile(r"(key|token|password|secret|webhook_url)$", re.IGNORECASE)
_URL_PASSWORD_RE = re.compile(r"(://[^:/@\s]+:)([^@/\s]+)(@)")


def redact_config(data: Any, key: str = "") -> Any:
    """Hide secrets for display: values of secret-looking keys and passwords inside URLs.

    Names of secrets (``..._secret`` ids, ``..._env`` variable names) are references, not secrets,
    but a literal value under a secret-looking key is masked whatever it is.
    """
    if isinstance(data, dict):
        return {k: redact_config(v, k) for k, v in data.items()}
    if isinstance(data, list):
        return [redact_config(v, key) for v in data]
    if isinstance(data, str):
        if _SECRET_KEY_RE.search(key) and not key.endswith(("_secret", "_secret_arn")) and data:
            return "***"
        return _URL_PASSWORD_RE.sub(r"\1***\3", data)
    return data


__all__ = ["DEFAULT_CONFIG_FILE", "ENV_PREFIX", "LEVELS", "AlarmsConfig", "AwsConfig", "CompactConfig", "Config", "DatadogRoute",
           "DestinationConfig", "DetectorsConfig", "DigestConfig", "EngineConfig", "FirelensConfig",
           "FirelensService", "InfraConfig", "Level", "MetricsConfig", "QueriesConfig", "RedactConfig", "RedactRule",
           "Section", "ServiceConfig", "StateConfig", "StoreConfig", "apply_redaction", "load_config",
           "parse_duration", "redact_config", "validate_file"]
