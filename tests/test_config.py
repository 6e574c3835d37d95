"""Configuration: validated on load with one actionable message, environment overrides, secrets hidden."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from logpipe.config import Config, load_config, parse_duration, redact_config
from logpipe.errors import ConfigError


def write(tmp_path: Path, text: str, name: str = "logpipe.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(path: Path, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, environ=environ or {})
    message = str(info.value)
    assert "\n" not in message, "one message, on one line"
    return message


# -- validation -----------------------------------------------------------------------------------------

def test_unknown_key_names_the_key_and_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[metrics]\nnameSpace = "Shop"\n')
    message = load_error(path)
    assert "unknown key 'metrics.nameSpace'" in message and str(path) in message


def test_unknown_section_is_an_error(tmp_path: Path) -> None:
    message = load_error(write(tmp_path, "[metric]\nsinks = []\n"))
    assert "unknown key 'metric'" in message


def test_wrong_type_names_the_key_the_file_and_the_value(tmp_path: Path) -> None:
    path = write(tmp_path, '[infra]\nretention_days = "a year"\n')
    message = load_error(path)
    assert "'infra.retention_days'" in message and "'a year'" in message and str(path) in message


@pytest.mark.parametrize(("toml", "key", "hint"), [
    ('[engine]\nkind = "spark"\n', "engine.kind", "'duckdb' or 'athena'"),
    ('[engine]\noutput_location = "my-bucket/results"\n', "engine.output_location", "s3://"),
    ('[state]\nurl = "mysql://db/state"\n', "state.url", "sqlite:///"),
    ('[store]\nprefix = "logs/../x"\n', "store.prefix", "'..'"),
    ('[digest]\nwindow = "1 day"\n', "digest.window", "15m"),
    ('[firelens.datadog]\nexclude = ["(unclosed"]\n', "firelens.datadog.exclude", "not a valid regex"),
    ('[metrics]\nsinks = ["cloudwatch", "graphite"]\n', "metrics.sinks.1", "'local'"),
    ('[[digest.destinations]]\nkind = "pager"\n', "digest.destinations.0.kind", "'slack'"),
])
def test_bad_values_say_what_is_accepted(tmp_path: Path, toml: str, key: str, hint: str) -> None:
    message = load_error(write(tmp_path, toml))
    assert f"'{key}'" in message and hint in message, message


def test_several_problems_are_one_message(tmp_path: Path) -> None:
    message = load_error(write(tmp_path, '[store]\nroot = 3\nbogus = 1\n[service]\nport = 0\n'))
    assert "'store.root'" in message and "unknown key 'store.bogus'" in message and "'service.port'" in message


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[store\nroot = 1\n")
    message = load_error(path)
    assert str(path) in message and "not valid TOML" in message


def test_invalid_utf8_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "logpipe.toml"
    path.write_bytes(b'[store]\nroot = "\xff\xfe"\n')
    assert str(path) in load_error(path)


# -- where the configuration comes from ------------------------------------------------------------------

def test_no_file_is_the_embedded_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(environ={})
    assert config.source == "the embedded default"
    assert config.model_dump() == Config().model_dump()
    assert (config.store.root, config.engine.kind, config.metrics.sinks) == ("./logpipe-data", "duckdb", ["local"])
    assert config.state.url.startswith("sqlite:///")


def test_logpipe_toml_in_the_working_directory_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, '[store]\nroot = "s3://team-logs"\n')
    monkeypatch.chdir(tmp_path)
    config = load_config(environ={})
    assert config.store.root == "s3://team-logs" and config.store.is_s3
    assert config.source == "logpipe.toml"


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=r"nope\.toml does not exist"):
        load_config(missing, environ={})
    with pytest.raises(ConfigError, match=r"nope\.toml does not exist"):
        load_config(environ={"LOGPIPE_CONFIG": str(missing)})


def test_logpipe_config_variable_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[metrics]\nnamespace = 'Shop'\n", name="other.toml")
    assert load_config(environ={"LOGPIPE_CONFIG": str(path)}).metrics.namespace == "Shop"


# -- environment overrides ---------------------------------------------------------------------------------

def test_env_overrides_file_values_with_types(tmp_path: Path) -> None:
    path = write(tmp_path, '[store]\nroot = "./data"\n[infra]\nretention_days = 30\n')
    config = load_config(path, environ={
        "LOGPIPE_STORE_ROOT": "s3://from-env",
        "LOGPIPE_STORE_SERVICE_PARTITION": "true",  # bool
        "LOGPIPE_INFRA_RETENTION_DAYS": "90",  # int
        "LOGPIPE_METRICS_SINKS": '["cloudwatch", "local"]',  # list
        "LOGPIPE_METRICS_DATADOG_TAGS": "['env:prod', 'team:shop']",
        "LOGPIPE_DETECTORS_SPIKE_RATIO": "4.5",  # float
        "LOGPIPE_ENGINE_KIND": "athena",  # a Literal given as bare text
    })
    assert config.store.root == "s3://from-env"
    assert config.store.service_partition is True
    assert config.infra.retention_days == 90
    assert config.metrics.sinks == ["cloudwatch", "local"]
    assert config.metrics.datadog_tags == ["env:prod", "team:shop"]
    assert config.detectors.spike_ratio == 4.5
    assert config.engine.kind == "athena"
    assert "LOGPIPE_STORE_ROOT" in config.source and str(path) in config.source


@pytest.mark.parametrize(("name", "raw", "attr", "expected"), [
    ("LOGPIPE_STORE_PREFIX", "2024", ("store", "prefix"), "2024"),  # text fields take the text as is
    ("LOGPIPE_STORE_PREFIX", "2026-11-26", ("store", "prefix"), "2026-11-26"),  # not a TOML date
    ("LOGPIPE_METRICS_NAMESPACE", "true", ("metrics", "namespace"), "true"),
    ("LOGPIPE_AWS_REGION", "eu-west-1", ("aws", "region"), "eu-west-1"),
    ("LOGPIPE_ENGINE_OUTPUT_LOCATION", "s3://r/x", ("engine", "output_location"), "s3://r/x"),  # str | None
    ("LOGPIPE_DIGEST_SCHEDULE", "0 7 * * 1", ("digest", "schedule"), "0 7 * * 1"),
])
def test_env_text_values_are_not_reinterpreted(name: str, raw: str, attr: tuple[str, str], expected: Any) -> None:
    config = load_config(environ={name: raw})
    assert getattr(getattr(config, attr[0]), attr[1]) == expected


def test_bad_env_value_names_the_key_and_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(environ={"LOGPIPE_INFRA_RETENTION_DAYS": "forever"})
    message = str(info.value)
    assert "'infra.retention_days'" in message and "LOGPIPE_INFRA_RETENTION_DAYS" in message


def test_env_unknown_key_in_a_known_section_is_an_error_other_variables_ignored() -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'store\.bucket'"):
        load_config(environ={"LOGPIPE_STORE_BUCKET": "x"})
    # Not ours: other LOGPIPE_ variables (a different tool, a test setting) are left alone.
    assert load_config(environ={"LOGPIPE_HOME": "/x", "LOGPIPE_": "y"}).source == "the embedded default"


def test_parse_duration() -> None:
    assert [parse_duration(t) for t in ("90s", "15m", "1h", "7d", "2w")] == [90, 900, 3600, 604800, 1209600]
    with pytest.raises(ValueError, match="like 90s, 15m"):
        parse_duration("1.5h")


# -- secrets are hidden ---------------------------------------------------------------------------------------

def test_redact_config_hides_secret_values_and_url_passwords() -> None:
    data = {
        "state": {"url": "postgresql+psycopg://logpipe:hunter2@db.internal:5432/state"},
        "slack": {"webhook_url": "https://hooks.slack.com/services/T000/B000/XXXX"},
        "dd": {"api_key": "0123456789abcdef", "app_key": "k", "token": "t", "password": "p"},
        # References to secrets are not secrets: the user needs to see which one is used.
        "refs": {"datadog_api_key_secret": "prod/datadog", "api_key_secret_arn": "arn:aws:secretsmanager:x",
                 "webhook_url_env": "SLACK_WEBHOOK_URL"},
        "list": [{"token": "abc"}],
    }
    shown = json.dumps(redact_config(data))
    for secret in ("hunter2", "XXXX", "0123456789abcdef", '"k"', '"t"', '"p"', "abc"):
        assert secret not in shown, secret
    assert "postgresql+psycopg://logpipe:***@db.internal:5432/state" in shown
    for reference in ("prod/datadog", "arn:aws:secretsmanager:x", "SLACK_WEBHOOK_URL"):
        assert reference in shown


SECRET_CONFIG = """
[state]
url = "postgresql+psycopg://logpipe:hunter2@db.internal:5432/state"

[store]
root = "s3://team-logs"

[[digest.destinations]]
kind = "slack"
webhook_url_env = "SLACK_WEBHOOK_URL"

[[digest.destinations]]
kind = "file"
path = "/tmp/digest.md"
"""


@pytest.mark.parametrize("fmt", ["toml", "json"])
def test_config_show_hides_secrets_and_exits_0(cli: Any, fmt: str) -> None:
    write(cli.cwd, SECRET_CONFIG)
    code, out, err = cli("config", "show", "--format", fmt)
    assert code == 0, err
    assert "hunter2" not in out + err
    assert "logpipe:***@db.internal" in out
    assert "s3://team-logs" in out and "SLACK_WEBHOOK_URL" in out
    if fmt == "json":
        shown = json.loads(out)
        assert [d["kind"] for d in shown["digest"]["destinations"]] == ["slack", "file"]
    else:
        assert "[[digest.destinations]]" in out and out.startswith("# from logpipe.toml")


def test_config_show_output_is_toml_that_loads_back(cli: Any, tmp_path: Path) -> None:
    write(cli.cwd, '[metrics]\nsinks = ["local", "emf"]\nnamespace = "Shop"\n[store]\nservice_partition = true\n')
    code, out, _ = cli("config", "show")
    assert code == 0
    again = load_config(write(tmp_path, out, name="again.toml"), environ={})
    assert again.model_dump() == load_config(cli.cwd / "logpipe.toml", environ={}).model_dump()


def test_config_show_env_override_is_shown_by_name_not_value(cli: Any) -> None:
    code, out, _ = cli("config", "show", env={"LOGPIPE_STATE_URL": "postgresql://u:sekrit@h/db"})
    assert code == 0
    assert "sekrit" not in out and "LOGPIPE_STATE_URL" in out


def test_bad_config_exits_2_with_one_line_and_no_traceback(cli: Any) -> None:
    write(cli.cwd, '[metrics]\nnameSpace = "Shop"\n')
    code, out, err = cli("config", "show")
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "unknown key 'metrics.nameSpace'" in lines[0] and "logpipe.toml" in lines[0]
    assert "Traceback" not in err


def test_missing_config_option_exits_2(cli: Any) -> None:
    code, _, err = cli("--config", "missing.toml", "config", "show")
    assert code == 2 and "missing.toml does not exist" in err and len(err.strip().splitlines()) == 1


def test_debug_shows_the_traceback(cli: Any) -> None:
    write(cli.cwd, '[metrics]\nnameSpace = "Shop"\n')
    code, _, err = cli.subprocess("--debug", "config", "show")
    assert code != 0
    assert "Traceback (most recent call last)" in err and "ConfigError" in err


# -- the environment as pydantic-settings read it ---------------------------------------------------------
#
# Config was pydantic-settings' BaseSettings; logpipe.config now reads the file and the LOGPIPE_ variables
# itself (no pydantic-settings import at start-up). The reference below is the loader it replaced: every
# key of every section, given by the environment alone and over a file, must load the same or fail the same.


def reference_load(path: Path | None, environ: dict[str, str]) -> Config:
    import tomllib

    from pydantic import Field, ValidationError
    from pydantic_settings import (
        BaseSettings,
        EnvSettingsSource,
        SettingsConfigDict,
        TomlConfigSettingsSource,
    )
    from pydantic_settings.sources.utils import parse_env_vars

    from logpipe.config import ENV_PREFIX, _format_validation_error

    class _Environment(EnvSettingsSource):
        def __init__(self, settings_cls: Any, env: dict[str, str]) -> None:
            self._environ = dict(env)
            super().__init__(settings_cls)

        def _load_env_vars(self) -> Any:
            return parse_env_vars(self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)

        def decode_complex_value(self, field_name: str, field: Any, value: Any) -> Any:
            try:
                return tomllib.loads(f"v = {value}")["v"]
            except tomllib.TOMLDecodeError:
                return super().decode_complex_value(field_name, field, value)

    def sources(cls: Any, settings_cls: Any, init_settings: Any, **_: Any) -> tuple[Any, ...]:
        found = [init_settings, _Environment(settings_cls, environ)]
        if path is not None:
            found.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(found)

    namespace: dict[str, Any] = {
        "__annotations__": {name: field.annotation for name, field in Config.model_fields.items()},
        "model_config": SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="_", env_nested_max_split=1,
                                           extra="forbid", validate_assignment=True, case_sensitive=False),
        "settings_customise_sources": classmethod(sources),
        **{name: Field(default_factory=field.default_factory) for name, field in Config.model_fields.items()},
    }
    reference = type("Reference", (BaseSettings,), namespace)
    try:
        loaded = reference()
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, "X")) from exc
    except ValueError as exc:
        raise ConfigError(f"invalid configuration in X: {exc}") from exc
    return Config.model_validate(loaded.model_dump())


def outcome(load: Any, path: Path | None, environ: dict[str, str]) -> Any:
    try:
        return load(path, environ).model_dump(mode="json")
    except ConfigError as exc:
        text = str(exc)
        return ("error", text.split(": ", 1)[1] if text.startswith("invalid configuration in ") else text)


def env_values(value: Any) -> list[str]:
    """Texts a variable could hold for a key whose default is ``value``: its kind, others, and broken ones."""
    if isinstance(value, bool):
        return ["false" if value else "true", "1", "maybe", ""]
    if isinstance(value, int | float):
        return [str(value + 1), "0", "x", "1.5", ""]
    if isinstance(value, list | dict):
        return [json.dumps(value), "['a', 'b']", "[1, 2]", '{a = "b"}', "not a list", "", '["x"]']
    return ["x", "2024", "true", "[1]", "{}", ""]


def all_keys() -> list[tuple[str, str, Any]]:
    defaults = Config().model_dump(mode="json")
    return [(section, key, value) for section, keys in defaults.items() for key, value in keys.items()]


@pytest.mark.parametrize(("section", "key", "default"), all_keys(), ids=lambda v: str(v)[:30])
def test_every_key_from_the_environment_loads_as_pydantic_settings_loaded_it(
        tmp_path: Path, section: str, key: str, default: Any) -> None:
    file = write(tmp_path, '[store]\nroot = "./data"\n[STATE]\nurl = "sqlite:///x.db"\n[metrics]\nsinks = ["local"]\n')
    for text in env_values(default):
        for name in (f"LOGPIPE_{section}_{key}".upper(), f"logpipe_{section}_{key}"):
            environ = {name: text, "LOGPIPE_HOME": "/x"}
            for path in (None, file):
                assert outcome(load_config, path, environ) == outcome(reference_load, path, environ), \
                    (name, text, path)


@pytest.mark.parametrize("environ", [
    {"LOGPIPE_STORE": '{root = "s3://b/p", prefix = "x"}', "LOGPIPE_STORE_PREFIX": "y"},
    {"LOGPIPE_STORE": '{"Root": "s3://b/p"}'},
    {"LOGPIPE_STORE": "[1]"},
    {"LOGPIPE_STORE": "nope"},
    {"LOGPIPE_METRICS": '{"sinks": ["cloudwatch"]}', "LOGPIPE_METRICS_NAMESPACE": "N"},
    {"LOGPIPE_STORE_BUCKET": "x", "LOGPIPE_NOPE_X": "y", "LOGPIPE_": "z", "LOGPIPE_CONFIG_X": "1"},
    {"LOGPIPE_STORE_ROOT": "a", "logpipe_store_root": "b"},
    {"LOGPIPE_STORE_CACHE_MAX_BYTES": "3GB", "LOGPIPE_ENGINE_MEMORY_LIMIT": ""},
])
def test_whole_sections_and_odd_names_load_as_pydantic_settings_loaded_them(tmp_path: Path,
                                                                           environ: dict[str, str]) -> None:
    file = write(tmp_path, '[Store]\nroot = "./data"\n[metrics]\nnamespace = "M"\n')
    for path in (None, file):
        assert outcome(load_config, path, environ) == outcome(reference_load, path, environ)
