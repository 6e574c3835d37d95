"""Render the FireLens log router (Fluent Bit) files for one ECS service from ``[firelens]``.

Why generated per service: the Datadog route (minimum level, sampling, noise patterns, rate cap),
the stack-trace rules (which runtime the service runs) and the Firehose stream differ per service,
while the pipeline shape is the same everywhere. The static pieces (parsers, the normalising Lua
filter) are shipped as files under ``logpipe/firelens/templates/``; the main config and the task
definition are built here as data, so every key is in one place and the tests can check each one
against the plugin's documented options (``logpipe.firelens.options``).

The pipeline, in order (FireLens tags container logs ``<container>-firelens-<task id>``):

1. ``multiline`` in ``partial_message`` mode: rejoin lines the runtime split at 16 KB.
2. ``multiline`` with the runtime's parsers: one record per stack trace. Buffered, and its emitter
   keeps chunks on the filesystem, so a burst or a slow output does not grow memory. The rule sets
   (``templates/parsers_multiline.conf``) never move to a state a start rule lists, which would make
   Fluent Bit emit the trace's last line twice.
3. ``parser`` (json): merge JSON app logs into the record, keeping the raw line in ``log``.
4. ``lua`` normalise.lua: ``level``, ``service``, ``time``, ``message`` per the record contract.
5. Datadog only: ``lua`` route.lua marks the records worth paying for, ``rewrite_tag`` copies the
   marked ones to a separate tag stream, ``modify`` drops the marker; on that stream ``grep``
   excludes known noise, ``throttle`` caps the rate and route.lua's ``slim_for_datadog`` drops the
   raw ``log`` (and the app's own copy of the message), so Datadog bills one copy of the text.

Keys are rendered for the Fluent Bit in ``router_image`` (``logpipe.firelens.versions``): a key the
version does not take is left out, with a warning in ``RenderedService.warnings``.
6. ``kinesis_firehose`` gets every record; ``datadog`` only the copied stream.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import Environment, StrictUndefined

from logpipe.config import Config, DatadogRoute, FirelensConfig, FirelensService
from logpipe.errors import ConfigError, UsageError
from logpipe.firelens import versions

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_FILES = ("parsers.conf", "parsers_multiline.conf", "normalise.lua")

APP_TAG_MATCH = "*-firelens-*"  # FireLens tags: <container name>-firelens-<task id>
DATADOG_TAG = "logpipe.datadog"  # must not match APP_TAG_MATCH, or Firehose would get copies
ROUTE_MARKER = "_logpipe_dd"
STORAGE_PATH = "/var/fluent-bit/state/flb-storage/"
HTTP_PORT = 2020

# Our rule sets (templates/parsers_multiline.conf) where Fluent Bit's built-in ones re-emit a line
# (java, python) or do not exist (.NET); the built-in go and ruby rules as they are. Node's V8 traces
# ("TypeError: ...\n    at ...") share the JVM rules.
MULTILINE_PARSERS: dict[str, tuple[str, ...]] = {
    "java": ("multiline-jvm",),
    "python": ("multiline-python",),
    "go": ("go",),
    "dotnet": ("multiline-dotnet",),
    "node": ("multiline-jvm",),
    "ruby": ("ruby",),
    "other": ("multiline-jvm", "multiline-python", "go", "multiline-dotnet", "ruby"),
}


@dataclass(frozen=True)
class Section:
    """One ``[NAME]`` section of a classic Fluent Bit config: ordered keys (repeatable ones repeat)."""

    name: str
    entries: tuple[tuple[str, str], ...]
    comment: str = ""

    def plugin(self) -> str | None:
        for key, value in self.entries:
            if key.lower() == "name":
                return value
        return None


def format_sections(sections: list[Section], header: str = "") -> str:
    """Classic config text: a comment block, then each section with aligned, indented keys."""
    out: list[str] = [header.rstrip("\n"), ""] if header else []
    for section in sections:
        if section.comment:
            out.extend(f"# {line}".rstrip() for line in section.comment.splitlines())
        out.append(f"[{section.name}]")
        width = max(len(key) for key, _ in section.entries)
        out.extend(f"    {key.ljust(width)}  {value}" for key, value in section.entries)
        out.append("")
    return "\n".join(out)


@dataclass
class RenderedService:
    """The files for one service, by file name."""

    service: str
    files: dict[str, str] = field(default_factory=dict)
    fluent_bit_version: str = ""
    warnings: list[str] = field(default_factory=list)

    def write(self, out_dir: Path) -> list[Path]:
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for name, text in self.files.items():
            path = out_dir / name
            path.write_text(text, encoding="utf-8")
            written.append(path)
        return written


def service_names(config: Config) -> list[str]:
    return sorted(config.firelens.services)


def resolve_service(firelens: FirelensConfig, name: str) -> FirelensService:
    """The settings of ``name``; with no services configured, the defaults for any name."""
    if not name or not all(c.isalnum() or c in "-_." for c in name):
        raise UsageError(f"{name!r} is not a service name: use letters, digits, '-', '_' or '.'")
    if firelens.services:
        if name not in firelens.services:
            known = ", ".join(sorted(firelens.services))
            raise UsageError(f"unknown service {name!r}: the firelens.services table of the config defines {known}")
        return firelens.services[name]
    return FirelensService()


def datadog_route(firelens: FirelensConfig, service: FirelensService) -> DatadogRoute:
    """The service's own Datadog route when it sets one, else the ``[firelens.datadog]`` default."""
    return service.datadog if "datadog" in service.model_fields_set else firelens.datadog


def datadog_host(site: str) -> str:
    return f"http-intake.logs.{site}"


def _main_sections(firelens: FirelensConfig, name: str, service: FirelensService,
                   route: DatadogRoute, fluent_bit: versions.ResolvedVersion, region: str) -> list[Section]:
    conf_dir = firelens.config_dir.rstrip("/")
    flush_ms = str(firelens.multiline_flush_ms)
    # Fluent Bit waits up to Grace seconds on SIGTERM to flush; ECS kills the router at stopTimeout.
    grace = max(1, firelens.stop_timeout_seconds - 5)
    sections = [
        Section("SERVICE", (
            ("Flush", "1"),
            ("Grace", str(grace)),
            ("Log_Level", "info"),
            ("Parsers_File", f"{conf_dir}/parsers.conf"),
            ("Parsers_File", f"{conf_dir}/parsers_multiline.conf"),
            ("HTTP_Server", "On"),
            ("HTTP_Listen", "127.0.0.1"),
            ("HTTP_Port", str(HTTP_PORT)),
            ("storage.path", STORAGE_PATH),
            ("storage.sync", "normal"),
            ("storage.checksum", "Off"),
            ("storage.backlog.mem_limit", "16M"),
            ("storage.max_chunks_up", "64"),
            ("storage.metrics", "On"),
            ("scheduler.base", "3"),
            ("scheduler.cap", "60"),
        ), comment=(
            f"logpipe FireLens router for service '{name}' (rendered by `logpipe firelens render`)\n"
            f"for Fluent Bit {versions.format_version(fluent_bit.version)} ({fluent_bit.source}).\n"
            "FireLens generates the forward inputs and @INCLUDEs this file; this [SERVICE] adds to its own.\n"
            f"Grace {grace}s < the router's stopTimeout ({firelens.stop_timeout_seconds}s): pending chunks flush "
            "before ECS kills it.\n"
            "storage.*: chunks of the filesystem-backed emitters below survive backpressure and retries\n"
            "without growing memory; the backlog is replayed after a restart of the router.\n"
            "Not saved by Grace: records still inside a multiline filter at SIGTERM (a trace waiting\n"
            "for its next line or for flush_ms) are dropped by Fluent Bit before 5.2.0\n"
            "(fluent/fluent-bit#4918, fixed by #12352); flush_ms is kept short for that reason.")),
        Section("FILTER", (
            ("Name", "multiline"),
            ("Match", APP_TAG_MATCH),
            ("multiline.key_content", "log"),
            ("mode", "partial_message"),
            ("buffer", "On"),
            ("flush_ms", flush_ms),
            ("emitter_name", "partial_emitter"),
            ("emitter_storage.type", "filesystem"),
            ("emitter_mem_buf_limit", "16M"),
        ), comment="Rejoin lines the container runtime split into 16 KB partial messages."),
    ]
    parsers = MULTILINE_PARSERS[service.runtime]
    sections.append(Section("FILTER", (
        ("Name", "multiline"),
        ("Match", APP_TAG_MATCH),
        ("multiline.key_content", "log"),
        ("multiline.parser", ",".join(parsers)),
        ("buffer", "On"),
        ("flush_ms", flush_ms),
        ("emitter_name", "stacktrace_emitter"),
        ("emitter_storage.type", "filesystem"),
        ("emitter_mem_buf_limit", "32M"),
    ), comment=(f"One record per stack trace ({service.runtime} runtime: {', '.join(parsers)}). A trace ends\n"
                f"at the next line no rule continues, or after flush_ms ({flush_ms} ms) at the latest.")))
    if service.log_format in ("json", "auto"):
        sections.append(Section("FILTER", (
            ("Name", "parser"),
            ("Match", APP_TAG_MATCH),
            ("Key_Name", "log"),
            ("Parser", "logpipe_json"),
            ("Reserve_Data", "On"),
            ("Preserve_Key", "On"),
        ), comment="JSON app logs: merge their keys into the record; the raw line stays in `log`."))
    sections.append(Section("FILTER", (
        ("Name", "lua"),
        ("Match", APP_TAG_MATCH),
        ("script", f"{conf_dir}/normalise.lua"),
        ("call", "normalise"),
        ("time_as_table", "On"),
        ("protected_mode", "On"),
    ), comment="level, service, time (ISO 8601 UTC) and message, as the record contract says."))
    if route.enabled:
        sections.extend(_datadog_filter_sections(conf_dir, route))
    sections.append(Section("OUTPUT", tuple(
        entry for entry in (
            ("Name", "kinesis_firehose"),
            ("Match", APP_TAG_MATCH),
            ("region", region),
            ("delivery_stream", service.firehose_stream or firelens.firehose_stream),
            ("simple_aggregation", "On") if firelens.simple_aggregation else None,
            ("auto_retry_requests", "true"),
            ("workers", "1"),
            ("Retry_Limit", str(firelens.retry_limit)),
            ("storage.total_limit_size", firelens.storage_limit),
        ) if entry is not None
    ), comment=(
        "Every record to Firehose -> S3. simple_aggregation packs records (newline-separated) into one\n"
        "Firehose record: Firehose bills each record rounded up to 5 KB. Needs Fluent Bit >= 4.2.2.")))
    if route.enabled:
        sections.append(_datadog_output(name, service, route, firelens.retry_limit))
    return sections


def _datadog_filter_sections(conf_dir: str, route: DatadogRoute) -> list[Section]:
    sections = [
        Section("FILTER", (
            ("Name", "lua"),
            ("Match", APP_TAG_MATCH),
            ("script", f"{conf_dir}/route.lua"),
            ("call", "route_datadog"),
            ("protected_mode", "On"),
        ), comment=f"Mark what is worth paying Datadog for: level >= {route.min_level}, "
                   f"plus {route.sample_rate:g} of the rest."),
        Section("FILTER", (
            ("Name", "rewrite_tag"),
            ("Match", APP_TAG_MATCH),
            ("Rule", f"${ROUTE_MARKER} ^1$ {DATADOG_TAG} true"),
            ("Emitter_Name", "datadog_emitter"),
            ("Emitter_Storage.type", "filesystem"),
            ("Emitter_Mem_Buf_Limit", "16M"),
        ), comment="Copy marked records to the Datadog stream; the original goes on to Firehose."),
        Section("FILTER", (
            ("Name", "modify"),
            ("Match", APP_TAG_MATCH),
            ("Remove", ROUTE_MARKER),
        ), comment="The marker is routing state, not data."),
        Section("FILTER", (
            ("Name", "modify"),
            ("Match", DATADOG_TAG),
            ("Remove", ROUTE_MARKER),
        )),
        Section("FILTER", (
            ("Name", "lua"),
            ("Match", DATADOG_TAG),
            ("script", f"{conf_dir}/route.lua"),
            ("call", "slim_for_datadog"),
            ("protected_mode", "On"),
        ), comment=("One copy of the text: the datadog output sends every key, so without this the raw\n"
                    "`log` (and the app's `msg`) would be billed beside `message`. S3 keeps them all.")),
    ]
    if route.exclude:
        sections.append(Section("FILTER", (
            ("Name", "grep"),
            ("Match", DATADOG_TAG),
            *(("Exclude", f"message {pattern}") for pattern in route.exclude),
        ), comment="Known noise never reaches Datadog (it is still in S3)."))
    if route.max_per_second:
        sections.append(Section("FILTER", (
            ("Name", "throttle"),
            ("Match", DATADOG_TAG),
            ("Rate", str(route.max_per_second)),
            ("Window", "60"),
            ("Interval", "1s"),
            ("Print_Status", "On"),
        ), comment="Cap the Datadog rate in an error storm (records over the cap are still in S3)."))
    return sections


def _datadog_output(name: str, service: FirelensService, route: DatadogRoute, retry_limit: int) -> Section:
    tags = ",".join(route.tags)
    entries = [
        ("Name", "datadog"),
        ("Match", DATADOG_TAG),
        ("Host", datadog_host(route.site)),
        ("TLS", "On"),
        ("compress", "gzip"),
        ("apikey", "${DD_API_KEY}"),
        ("dd_service", name),
        ("dd_source", service.runtime),
        ("dd_message_key", "message"),
        ("provider", "ecs"),
    ]
    if tags:
        entries.append(("dd_tags", tags))
    entries += [("Retry_Limit", str(min(retry_limit, 5))), ("storage.total_limit_size", "128M")]
    return Section("OUTPUT", tuple(entries), comment=(
        "The API key comes from the DD_API_KEY environment variable, which the task definition fills\n"
        "from Secrets Manager (`secrets`); it is never written in this file."))


def _for_version(sections: list[Section], fluent_bit: versions.ResolvedVersion,
                 warnings: list[str]) -> list[Section]:
    """The sections without the keys ``fluent_bit`` would refuse, each dropped key said in ``warnings``."""
    kept = []
    for section in sections:
        plugin = section.plugin() or ""
        entries = []
        for key, value in section.entries:
            gated = versions.gate(plugin, key)
            if gated and fluent_bit.version < gated.since:
                warnings.append(
                    f"left out {plugin} {key} (needs Fluent Bit >= {versions.format_version(gated.since)}, "
                    f"{gated.source}; this renders for {versions.format_version(fluent_bit.version)} from "
                    f"{fluent_bit.source}): {gated.without}")
                continue
            entries.append((key, value))
        kept.append(Section(section.name, tuple(entries), section.comment))
    return kept


def _route_lua(name: str, route: DatadogRoute) -> str:
    env = Environment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)
    template = env.from_string((TEMPLATES_DIR / "route.lua.j2").read_text(encoding="utf-8"))
    return template.render(service=name, min_level=route.min_level, sample_rate=repr(float(route.sample_rate)),
                           marker=ROUTE_MARKER)


def task_definition(firelens: FirelensConfig, name: str, service: FirelensService,
                    route: DatadogRoute, region: str) -> dict:
    """The ECS task-definition snippet: the log router container and the app's logConfiguration."""
    conf_dir = firelens.config_dir.rstrip("/")
    router: dict = {
        "name": "log_router",
        "image": firelens.router_image,
        # Root: FireLens has the router create its unix socket in a root-owned host directory
        # (aws/containers-roadmap#2122; aws/aws-for-fluent-bit#713 "In FireLens, we need to run FLB
        # as root"). Explicit, so a baked image with another USER still starts.
        "user": "0",
        "essential": True,
        "firelensConfiguration": {
            "type": "fluentbit",
            "options": {
                "enable-ecs-log-metadata": "true",
                "config-file-type": "file",
                "config-file-value": f"{conf_dir}/fluent-bit.conf",
            },
        },
        "memoryReservation": firelens.router_memory_mib,
        "stopTimeout": firelens.stop_timeout_seconds,
        "healthCheck": {
            "command": ["CMD-SHELL", f"curl -f http://127.0.0.1:{HTTP_PORT}/api/v1/uptime || exit 1"],
            "interval": 10,
            "timeout": 5,
            "retries": 3,
            "startPeriod": 30,
        },
        "mountPoints": [{"sourceVolume": "fluent-bit-state", "containerPath": "/var/fluent-bit/state"}],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": f"/ecs/{name}/log-router",
                "awslogs-region": region,
                "awslogs-stream-prefix": "firelens",
                "awslogs-create-group": "true",
            },
        },
    }
    if route.enabled:
        if not route.api_key_secret_arn:
            raise ConfigError(
                f"firelens: the Datadog route for service {name!r} is enabled but has no api_key_secret_arn: "
                "set it to the Secrets Manager ARN that holds the Datadog API key")
        router["secrets"] = [{"name": "DD_API_KEY", "valueFrom": route.api_key_secret_arn}]
    app = {
        "name": name,
        "image": f"<image of {name}>",
        "essential": True,
        "dependsOn": [{"containerName": "log_router", "condition": "START"}],
        "logConfiguration": {"logDriver": "awsfirelens"},
    }
    return {
        "family": name,
        "containerDefinitions": [router, app],
        "volumes": [{"name": "fluent-bit-state"}],
    }


def render_service(config: Config, name: str) -> RenderedService:
    """All files for ``name``: fluent-bit.conf, parsers, Lua filters and the task-definition snippet."""
    firelens = config.firelens
    service = resolve_service(firelens, name)
    route = datadog_route(firelens, service)
    fluent_bit = versions.resolve(firelens.router_image, firelens.fluent_bit_version)
    rendered = RenderedService(service=name, fluent_bit_version=versions.format_version(fluent_bit.version),
                               warnings=list(fluent_bit.warnings))
    sections = _for_version(_main_sections(firelens, name, service, route, fluent_bit, config.aws.region), fluent_bit,
                            rendered.warnings)
    rendered.files["fluent-bit.conf"] = format_sections(sections)
    for static in STATIC_FILES:
        rendered.files[static] = (TEMPLATES_DIR / static).read_text(encoding="utf-8")
    if route.enabled:
        rendered.files["route.lua"] = _route_lua(name, route)
    rendered.files["task-definition.json"] = json.dumps(
        task_definition(firelens, name, service, route, config.aws.region), indent=2) + "\n"
    return rendered
