"""The documented options of every Fluent Bit section and plugin we render, as one table.

Why a table: Fluent Bit has no package here to validate a config, and a misspelt key is at best
ignored and at worst stops the router at start-up (every task fails to start). The tests check each
key of every rendered section against this table. Keys are compared case-insensitively, as Fluent Bit
does. Sources (docs.fluentbit.io, fluent/fluent-bit-docs; plugin config maps in fluent/fluent-bit):

* [SERVICE]: administration/configuring-fluent-bit/classic-mode/configuration-file.md,
  administration/buffering-and-storage.md, administration/monitoring.md (health check keys)
* common FILTER/OUTPUT/INPUT keys: the same page, administration/scheduling-and-retries.md
  (Retry_Limit), administration/multithreading.md (workers), networking.md / transport-security.md
* filters: pipeline/filters/{multiline-stacktrace,parser,lua,grep,rewrite-tag,modify,nest,
  record-modifier,throttle}.md
* outputs: pipeline/outputs/firehose.md (+ simple_aggregation, fluent/fluent-bit#11284, 4.2.2),
  pipeline/outputs/datadog.md
* inputs: pipeline/inputs/forward.md, pipeline/inputs/tail.md
* [PARSER]: pipeline/parsers/configuring-parser.md; [MULTILINE_PARSER]:
  administration/configuring-fluent-bit/multiline-parsing.md
"""

from __future__ import annotations

SERVICE_KEYS = frozenset({
    "flush", "grace", "daemon", "dns.mode", "dns.resolver", "dns.prefer_ipv4", "log_file", "log_level",
    "parsers_file", "plugins_file", "streams_file", "http_server", "http_listen", "http_port",
    "coro_stack_size", "scheduler.cap", "scheduler.base", "json.convert_nan_to_null",
    "sp.convert_from_str_to_num", "hot_reload",
    # buffering and storage
    "storage.path", "storage.sync", "storage.checksum", "storage.max_chunks_up",
    "storage.backlog.mem_limit", "storage.metrics", "storage.delete_irrecoverable_chunks",
    # health check of the HTTP server
    "health_check", "hc_errors_count", "hc_retry_failure_count", "hc_period",
})

COMMON_INPUT_KEYS = frozenset({
    "name", "tag", "log_level", "alias", "mem_buf_limit", "storage.type", "storage.pause_on_chunks_overlimit",
    "threaded", "routable",
})
COMMON_FILTER_KEYS = frozenset({"name", "match", "match_regex", "alias", "log_level"})
COMMON_OUTPUT_KEYS = frozenset({
    "name", "match", "match_regex", "alias", "log_level", "retry_limit", "workers",
    "storage.total_limit_size", "tls", "tls.verify", "tls.debug", "tls.ca_file", "tls.crt_file",
    "tls.key_file", "tls.vhost", "net.connect_timeout", "net.keepalive", "net.keepalive_idle_timeout",
    "net.keepalive_max_recycle", "net.dns.mode", "net.source_address",
})

INPUT_OPTIONS: dict[str, frozenset[str]] = {
    "forward": frozenset({
        "listen", "port", "unix_path", "unix_perm", "buffer_chunk_size", "buffer_max_size",
        "tag_prefix", "shared_key", "self_hostname", "security.users", "empty_shared_key",
    }),
    "tail": frozenset({
        "path", "path_key", "exclude_path", "offset_key", "read_from_head", "refresh_interval",
        "rotate_wait", "ignore_older", "skip_long_lines", "skip_empty_lines", "buffer_chunk_size",
        "buffer_max_size", "db", "db.sync", "db.locking", "db.journal_mode", "key", "inotify_watcher",
        "parser", "tag_regex", "multiline.parser", "docker_mode", "docker_mode_flush",
        "docker_mode_parser", "multiline", "multiline_flush", "parser_firstline", "file_cache_advise",
    }),
}

FILTER_OPTIONS: dict[str, frozenset[str]] = {
    "multiline": frozenset({
        "multiline.parser", "multiline.key_content", "mode", "buffer", "flush_ms", "emitter_name",
        "emitter_storage.type", "emitter_mem_buf_limit", "debug_flush",
    }),
    "parser": frozenset({"key_name", "parser", "preserve_key", "reserve_data", "unescape_key"}),
    "lua": frozenset({
        "script", "call", "type_int_key", "type_array_key", "protected_mode", "time_as_table", "code",
        "enable_flb_null",
    }),
    "grep": frozenset({"regex", "exclude", "logical_op"}),
    "rewrite_tag": frozenset({"rule", "emitter_name", "emitter_storage.type", "emitter_mem_buf_limit"}),
    "modify": frozenset({
        "set", "add", "remove", "remove_wildcard", "remove_regex", "rename", "hard_rename", "copy",
        "hard_copy", "move_to_start", "move_to_end", "condition",
    }),
    "nest": frozenset({"operation", "wildcard", "nest_under", "nested_under", "add_prefix", "remove_prefix"}),
    "record_modifier": frozenset({"record", "remove_key", "allowlist_key", "whitelist_key", "uuid_key"}),
    "throttle": frozenset({"rate", "window", "interval", "print_status"}),
}

OUTPUT_OPTIONS: dict[str, frozenset[str]] = {
    "kinesis_firehose": frozenset({
        "region", "delivery_stream", "time_key", "time_key_format", "log_key", "compression",
        "role_arn", "endpoint", "sts_endpoint", "auto_retry_requests", "external_id", "profile",
        "simple_aggregation",
    }),
    "datadog": frozenset({
        "host", "tls", "compress", "apikey", "proxy", "provider", "json_date_key", "include_tag_key",
        "tag_key", "dd_service", "dd_source", "dd_tags", "dd_message_key", "header",
    }),
}

PARSER_KEYS = frozenset({
    "name", "format", "regex", "time_key", "time_format", "time_keep", "time_offset", "time_strict",
    "time_system_timezone", "types", "decode_field", "decode_field_as", "skip_empty_values",
})
MULTILINE_PARSER_KEYS = frozenset({"name", "type", "parser", "key_content", "flush_timeout", "rule"})

# Values some options accept, where a wrong one fails at start-up.
ENUM_VALUES: dict[tuple[str, str], frozenset[str]] = {
    ("multiline", "mode"): frozenset({"parser", "partial_message"}),
    ("multiline", "emitter_storage.type"): frozenset({"memory", "filesystem"}),
    ("rewrite_tag", "emitter_storage.type"): frozenset({"memory", "filesystem"}),
    ("datadog", "compress"): frozenset({"gzip"}),
    ("datadog", "provider"): frozenset({"ecs"}),
}

BUILTIN_MULTILINE_PARSERS = frozenset({"docker", "cri", "go", "python", "java", "ruby"})


def allowed_keys(section: str, plugin: str | None) -> frozenset[str]:
    """Every key documented for ``[section]`` with ``Name plugin``; KeyError for an unknown plugin."""
    section = section.upper()
    plugin = (plugin or "").lower()
    if section == "SERVICE":
        return SERVICE_KEYS
    if section == "PARSER":
        return PARSER_KEYS
    if section == "MULTILINE_PARSER":
        return MULTILINE_PARSER_KEYS
    if section == "INPUT":
        return COMMON_INPUT_KEYS | INPUT_OPTIONS[plugin]
    if section == "FILTER":
        return COMMON_FILTER_KEYS | FILTER_OPTIONS[plugin]
    if section == "OUTPUT":
        return COMMON_OUTPUT_KEYS | OUTPUT_OPTIONS[plugin]
    raise KeyError(f"unknown section [{section}]")
