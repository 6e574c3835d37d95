"""FireLens router: rendered configs parsed back and checked option by option, the Fluent Bit version
they are rendered for, checkov on the Dockerfile and the task definition.

Fluent Bit itself has no package here, so each moving part is exercised on its own with the real
text we ship. Stack-trace joining is in test_firelens_multiline.py, the Lua filters in
test_firelens_lua.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.fluentbit_multiline import compile_onigmo

from logpipe.config import Config, load_config
from logpipe.errors import ConfigError, UsageError
from logpipe.firelens import options
from logpipe.firelens.parse import ConfigParseError, parse_classic, rule_fields
from logpipe.firelens.render import (
    APP_TAG_MATCH,
    DATADOG_TAG,
    RenderedService,
    Section,
    render_service,
)

REPO = Path(__file__).resolve().parents[1]


def make_config(firelens: dict | None = None) -> Config:
    return Config.model_validate({"firelens": firelens or {}})


DATADOG = {
    "enabled": True,
    "min_level": "WARN",
    "sample_rate": 0.1,
    "exclude": [r"GET /healthz", r"^poll(ing)? (queue|tick)"],
    "api_key_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:dd-api-key-AbCdEf",
    "tags": ["env:prod", "team:orders"],
    "max_per_second": 200,
}

SERVICES = {
    "orders": {"runtime": "java", "firehose_stream": "orders-logs", "datadog": DATADOG},
    "worker": {"runtime": "python", "log_format": "text"},
    "edge": {"runtime": "go"},
    "billing": {"runtime": "dotnet", "log_format": "json"},
    "web": {"runtime": "node"},
    "misc": {"runtime": "other"},
}


@pytest.fixture(scope="module")
def rendered_all() -> dict[str, RenderedService]:
    config = make_config({"services": SERVICES})
    return {name: render_service(config, name) for name in SERVICES}


def sections_of(rendered: RenderedService, file: str = "fluent-bit.conf") -> list[Section]:
    return parse_classic(rendered.files[file], source=file)


# --------------------------------------------------------------------------------------------------
# Rendered configs parsed back; every key against the documented options of its plugin


def check_sections(sections: list[Section], file: str) -> None:
    assert sections, f"{file} has no sections"
    for section in sections:
        plugin = section.plugin()
        if section.name in ("INPUT", "FILTER", "OUTPUT"):
            assert plugin, f"{file}: [{section.name}] without Name"
        try:
            allowed = options.allowed_keys(section.name, plugin)
        except KeyError as exc:
            pytest.fail(f"{file}: [{section.name}] Name {plugin}: no documented options in the table ({exc})")
        for key, value in section.entries:
            assert key.lower() in allowed, f"{file}: [{section.name}] {plugin}: undocumented key {key!r}"
            assert value.strip(), f"{file}: [{section.name}] {plugin}: empty value for {key!r}"
            enum = options.ENUM_VALUES.get(((plugin or "").lower(), key.lower()))
            if enum is not None:
                assert value.lower() in enum, f"{file}: {plugin}.{key} = {value!r}, expected one of {sorted(enum)}"
        if section.name in ("FILTER", "OUTPUT"):
            assert any(k.lower() in ("match", "match_regex") for k, _ in section.entries), \
                f"{file}: [{section.name}] {plugin} has no Match"


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_key_of_every_section_is_documented(rendered_all, service):
    rendered = rendered_all[service]
    for file in ("fluent-bit.conf", "parsers.conf", "parsers_multiline.conf"):
        check_sections(sections_of(rendered, file), file)


def test_the_option_check_catches_a_misspelt_key():
    bad = parse_classic("[OUTPUT]\n    Name kinesis_firehose\n    Match *\n    deliverystream x\n")
    with pytest.raises(AssertionError, match="undocumented key 'deliverystream'"):
        check_sections(bad, "bad.conf")
    with pytest.raises(AssertionError, match="expected one of"):
        check_sections(parse_classic("[FILTER]\n  Name multiline\n  Match *\n  mode partial\n"), "bad.conf")


def test_parser_rejects_what_fluent_bit_rejects():
    with pytest.raises(ConfigParseError, match="indented"):
        parse_classic("Name x\n")
    with pytest.raises(ConfigParseError, match="inconsistent indentation"):
        parse_classic("[FILTER]\n    Name grep\n  Match *\n")
    with pytest.raises(ConfigParseError, match="no value"):
        parse_classic("[FILTER]\n    Name\n")
    with pytest.raises(ConfigParseError, match="three double-quoted"):
        rule_fields('"start_state" "/a/"')


def test_parsers_and_multiline_files_define_what_the_main_config_uses(rendered_all):
    for rendered in rendered_all.values():
        main = sections_of(rendered)
        parsers = {s.plugin() for s in sections_of(rendered, "parsers.conf")}
        ml_parsers = {s.plugin() for s in sections_of(rendered, "parsers_multiline.conf")}
        for section in main:
            values = {k.lower(): v for k, v in section.entries}
            if section.plugin() == "parser":
                assert values["parser"] in parsers
            for name in values.get("multiline.parser", "").split(","):
                if name:
                    assert name in ml_parsers | options.BUILTIN_MULTILINE_PARSERS, name
        service = next(s for s in main if s.name == "SERVICE")
        files = [v for k, v in service.entries if k.lower() == "parsers_file"]
        assert [Path(f).name for f in files] == ["parsers.conf", "parsers_multiline.conf"]
        lua_scripts = [dict((k.lower(), v) for k, v in s.entries)["script"] for s in main if s.plugin() == "lua"]
        for script in lua_scripts:
            assert Path(script).name in rendered.files, f"{script} is referenced but not rendered"


def test_pipeline_order_and_routing(rendered_all):
    main = sections_of(rendered_all["orders"])
    names = [(s.name, s.plugin()) for s in main]
    filters = [p for kind, p in names if kind == "FILTER"]
    # multiline first (partial messages, then traces): anything before them would run twice
    assert filters[:2] == ["multiline", "multiline"]
    first, second = ({k.lower(): v for k, v in s.entries} for s in main if s.plugin() == "multiline")
    assert first["mode"] == "partial_message" and "multiline.parser" not in first
    assert second["multiline.parser"] == "multiline-jvm"
    assert filters.index("parser") < filters.index("lua") < filters.index("rewrite_tag")
    outputs = {s.plugin(): {k.lower(): v for k, v in s.entries} for s in main if s.name == "OUTPUT"}
    firehose, datadog = outputs["kinesis_firehose"], outputs["datadog"]
    assert firehose["match"] == APP_TAG_MATCH and firehose["delivery_stream"] == "orders-logs"
    assert firehose["simple_aggregation"] == "On"
    assert datadog["match"] == DATADOG_TAG
    # the Datadog copy stream must not also match the Firehose pattern (it would be stored twice)
    assert not fnmatch_tag(APP_TAG_MATCH, DATADOG_TAG)
    assert fnmatch_tag(APP_TAG_MATCH, "orders-firelens-0123456789abcdef")
    assert datadog["apikey"] == "${DD_API_KEY}"
    assert datadog["host"] == "http-intake.logs.datadoghq.com" and datadog["tls"] == "On"
    assert datadog["dd_tags"] == "env:prod,team:orders"
    grep = next(s for s in main if s.plugin() == "grep")
    assert [v for k, v in grep.entries if k == "Exclude"] == [f"message {p}" for p in DATADOG["exclude"]]
    throttle = {k.lower(): v for k, v in next(s for s in main if s.plugin() == "throttle").entries}
    assert throttle["rate"] == "200"


def fnmatch_tag(pattern: str, tag: str) -> bool:
    """Fluent Bit's Match: '*' matches any run of characters (dots included)."""
    return re.fullmatch(".*".join(re.escape(p) for p in pattern.split("*")), tag) is not None


def test_no_buffering_in_memory_only(rendered_all):
    """Every emitter buffers on disk; storage has a path and each output a disk limit."""
    main = sections_of(rendered_all["orders"])
    service = {k.lower(): v for k, v in main[0].entries}
    assert main[0].name == "SERVICE" and service["storage.path"].startswith("/")
    assert 1 <= int(service["grace"]) < 120
    for section in main:
        values = {k.lower(): v for k, v in section.entries}
        if section.plugin() in ("multiline", "rewrite_tag"):
            assert values["emitter_storage.type"] == "filesystem"
        if section.name == "OUTPUT":
            assert "storage.total_limit_size" in values and int(values["retry_limit"]) >= 1


def test_text_services_skip_the_json_parser_and_no_datadog_by_default(rendered_all):
    worker = sections_of(rendered_all["worker"])
    assert "parser" not in [s.plugin() for s in worker]
    assert "datadog" not in [s.plugin() for s in worker]
    assert "route.lua" not in rendered_all["worker"].files
    assert {k: v for k, v in worker[1].entries}["mode"] == "partial_message"


def test_secret_never_in_rendered_files(rendered_all):
    rendered = rendered_all["orders"]
    task = json.loads(rendered.files["task-definition.json"])
    router = task["containerDefinitions"][0]
    assert router["secrets"] == [{"name": "DD_API_KEY", "valueFrom": DATADOG["api_key_secret_arn"]}]
    for name, text in rendered.files.items():
        if name != "task-definition.json":
            assert "secretsmanager" not in text and "AbCdEf" not in text, name


def test_task_definition_snippet(rendered_all):
    task = json.loads(rendered_all["edge"].files["task-definition.json"])
    router, app = task["containerDefinitions"]
    assert router["name"] == "log_router" and router["essential"] is True
    assert router["user"] == "0"  # FireLens: the router creates its socket in a root-owned directory
    assert router["image"] == "public.ecr.aws/aws-observability/aws-for-fluent-bit:3.2.1"
    assert router["firelensConfiguration"] == {
        "type": "fluentbit",
        "options": {"enable-ecs-log-metadata": "true", "config-file-type": "file",
                    "config-file-value": "/fluent-bit/etc/logpipe/fluent-bit.conf"},
    }
    assert router["memoryReservation"] == 256 and "memory" not in router
    assert router["healthCheck"]["command"][0] == "CMD-SHELL"
    assert "/api/v1/uptime" in router["healthCheck"]["command"][1]
    assert "secrets" not in router
    assert app["logConfiguration"] == {"logDriver": "awsfirelens"}
    assert app["dependsOn"] == [{"containerName": "log_router", "condition": "START"}]


def test_unknown_service_lists_known_ones_and_defaults_without_services():
    config = make_config({"services": SERVICES})
    with pytest.raises(UsageError, match=r"unknown service 'nope'.*billing, edge, misc, orders, web, worker"):
        render_service(config, "nope")
    rendered = render_service(make_config(), "anything")
    assert "logpipe-logs" in rendered.files["fluent-bit.conf"]
    with pytest.raises(UsageError, match="not a service name"):
        render_service(make_config(), "a b")
    no_key = make_config({"datadog": {"enabled": True}})
    with pytest.raises(ConfigError, match="api_key_secret_arn"):
        render_service(no_key, "x")


def test_committed_firelens_folder_matches_the_renderer():
    """firelens/ is the rendering for the example service 'app' with the embedded default config."""
    rendered = render_service(load_config(environ={}), "app")
    for name, text in rendered.files.items():
        committed = REPO / "firelens" / name
        assert committed.exists(), f"firelens/{name} missing: run logpipe firelens render --service app --out firelens"
        assert committed.read_text(encoding="utf-8") == text, \
            f"firelens/{name} is stale: run logpipe firelens render --service app --out firelens"


def test_cli_render(tmp_path, monkeypatch):
    from logpipe.cli import cli

    config_file = tmp_path / "logpipe.toml"
    config_file.write_text(
        '[firelens.services.orders]\nruntime = "java"\n[firelens.services.worker]\nruntime = "python"\n')
    runner = CliRunner()
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli, ["--config", str(config_file), "firelens", "render", "--service", "orders"])
    assert result.exit_code == 0, result.output
    assert "firelens-out/orders/fluent-bit.conf" in result.output
    assert (tmp_path / "firelens-out" / "orders" / "task-definition.json").exists()
    result = runner.invoke(cli, ["--config", str(config_file), "firelens", "render", "--all", "--out", "o"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["orders", "worker"]
    result = runner.invoke(cli, ["--config", str(config_file), "firelens", "render", "--service", "nope"])
    assert result.exit_code != 0 and isinstance(result.exception, UsageError)
    assert "orders, worker" in str(result.exception)
    assert not (tmp_path / "firelens-out" / "nope").exists()


# --------------------------------------------------------------------------------------------------
# checkov on the Dockerfile and the task definition (as a CloudFormation resource)

# Checks that do not fit a FireLens router, with the reason.
ACCEPTED_TASK_CHECKS = {
    # Fluent Bit writes its filesystem buffer and FireLens's unix socket: not a read-only root.
    "CKV_AWS_336",
}
ACCEPTED_DOCKERFILE_CHECKS = {
    # "a user for the container has been created": FireLens needs the router to run as root, it
    # creates its unix socket in a root-owned host directory (aws/containers-roadmap#2122).
    "CKV_DOCKER_3",
}


def _cfn_keys(value, key: str = ""):
    """ECS JSON (camelCase) to CloudFormation properties (PascalCase); option maps keep their keys."""
    if isinstance(value, dict):
        if key in ("options", "Options"):
            return dict(value)
        return {k[0].upper() + k[1:]: _cfn_keys(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_cfn_keys(v, key) for v in value]
    return value


@pytest.mark.slow
def test_checkov_dockerfile(tmp_path):
    from support.checkov import failed_checks, run_checkov

    report = run_checkov(REPO / "firelens" / "Dockerfile", "dockerfile")
    assert report["summary"]["passed"] > 0
    assert [line for line in failed_checks(report) if line.split()[0] not in ACCEPTED_DOCKERFILE_CHECKS] == []


@pytest.mark.slow
def test_checkov_task_definition(tmp_path, rendered_all):
    from support.checkov import failed_checks, run_checkov

    task = _cfn_keys(json.loads(rendered_all["orders"].files["task-definition.json"]))
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {"RouterTask": {"Type": "AWS::ECS::TaskDefinition", "Properties": {
            **task,
            "ExecutionRoleArn": "arn:aws:iam::123456789012:role/exec",
            "TaskRoleArn": "arn:aws:iam::123456789012:role/task",
        }}},
    }
    path = tmp_path / "task.json"
    path.write_text(json.dumps(template))
    report = run_checkov(path, "cloudformation")
    assert report["summary"]["passed"] > 0
    failed = [line for line in failed_checks(report) if line.split()[0] not in ACCEPTED_TASK_CHECKS]
    assert failed == []


# --------------------------------------------------------------------------------------------------
# The Fluent Bit version the files are rendered for

from logpipe.firelens import versions  # noqa: E402

STABLE = "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable"


def firehose_keys(rendered: RenderedService) -> dict[str, str]:
    section = next(s for s in sections_of(rendered) if s.plugin() == "kinesis_firehose")
    return {k.lower(): v for k, v in section.entries}


def test_default_image_is_pinned_and_takes_every_rendered_key():
    rendered = render_service(make_config(), "app")
    assert rendered.warnings == [] and rendered.fluent_bit_version == "4.2.2"
    assert firehose_keys(rendered)["simple_aggregation"] == "On"
    image = json.loads(rendered.files["task-definition.json"])["containerDefinitions"][0]["image"]
    assert image.endswith(":" + versions.PINNED_RELEASE)
    assert f"FROM {image}" in (REPO / "firelens" / "Dockerfile").read_text(encoding="utf-8")
    # every gated key we render is within the pinned image's Fluent Bit
    pinned = versions.version_from_image(versions.DEFAULT_ROUTER_IMAGE)[0]
    assert all(gated.since <= pinned for gated in versions.GATED_KEYS)


def test_older_fluent_bit_leaves_out_what_it_cannot_take_and_says_so():
    rendered = render_service(make_config({"router_image": STABLE}), "app")
    assert rendered.fluent_bit_version == "1.9.10"
    assert "simple_aggregation" not in firehose_keys(rendered)
    assert any("left out kinesis_firehose simple_aggregation" in w and "4.2.2" in w for w in rendered.warnings)
    assert any("'stable'" in w for w in rendered.warnings)
    assert "for Fluent Bit 1.9.10" in rendered.files["fluent-bit.conf"]
    # an explicit version wins over the tag, and a mismatch is said
    rendered = render_service(make_config({"router_image": STABLE, "fluent_bit_version": "4.2.2"}), "app")
    assert firehose_keys(rendered)["simple_aggregation"] == "On"
    assert any("differs from 1.9.10" in w for w in rendered.warnings)


@pytest.mark.parametrize(("image", "expected"), [
    ("public.ecr.aws/aws-observability/aws-for-fluent-bit:3.2.1", (4, 2, 2)),
    ("public.ecr.aws/aws-observability/aws-for-fluent-bit:3.1.1", (4, 2, 0)),
    ("public.ecr.aws/aws-observability/aws-for-fluent-bit:3.0.1", (4, 1, 1)),
    ("amazon/aws-for-fluent-bit:2.32.2.20240425", (1, 9, 10)),
    ("public.ecr.aws/aws-observability/aws-for-fluent-bit:init-2.31.12", (1, 9, 10)),
    ("public.ecr.aws/aws-observability/aws-for-fluent-bit:3", (4, 2, 2)),
    ("public.ecr.aws/aws-observability/aws-for-fluent-bit:latest", None),
    ("123456789012.dkr.ecr.us-east-1.amazonaws.com/log-router:web", None),
    ("public.ecr.aws/aws-observability/aws-for-fluent-bit:2.99.0", None),
])
def test_version_from_image_tag(image, expected):
    found = versions.version_from_image(image)
    assert (found[0] if found else None) == expected


def test_unknown_or_too_old_fluent_bit_is_a_clear_error():
    custom = make_config({"router_image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/log-router:web"})
    with pytest.raises(ConfigError, match="set \\[firelens\\] fluent_bit_version"):
        render_service(custom, "app")
    ok = make_config({"router_image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/log-router:web",
                      "fluent_bit_version": "4.2.2"})
    assert render_service(ok, "app").fluent_bit_version == "4.2.2"
    with pytest.raises(ConfigError, match=r"older than 1\.9\.3"):
        render_service(make_config({"fluent_bit_version": "1.8.9"}), "app")
    with pytest.raises(ValueError, match="not a Fluent Bit version"):
        make_config({"fluent_bit_version": "four"})


def test_cli_render_prints_the_version_and_warnings(tmp_path, monkeypatch):
    from logpipe.cli import cli

    config_file = tmp_path / "logpipe.toml"
    config_file.write_text(f'[firelens]\nrouter_image = "{STABLE}"\n')
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["--config", str(config_file), "firelens", "render", "--service", "web"])
    assert result.exit_code == 0, result.output
    assert "rendered for Fluent Bit 1.9.10" in result.output
    assert "warning: web: left out kinesis_firehose simple_aggregation" in result.output
    written = parse_classic((tmp_path / "firelens-out" / "web" / "fluent-bit.conf").read_text())
    firehose = next(s for s in written if s.plugin() == "kinesis_firehose")
    assert "simple_aggregation" not in {k for k, _ in firehose.entries}


def test_text_parser_regex_compiles_as_onigmo():
    for section in sections_of(render_service(make_config(), "misc"), "parsers.conf"):
        values = {k.lower(): v for k, v in section.entries}
        if values["format"] == "regex":
            regex = compile_onigmo(f"/{values['regex']}/")
            match = regex.match("2024-05-01T12:00:00.123Z ERROR [main] c.e.Orders - payment failed")
            assert match and match["level"] == "ERROR" and match["message"] == "[main] c.e.Orders - payment failed"
            assert regex.match("payment failed") is None
