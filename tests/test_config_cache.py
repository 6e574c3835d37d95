"""Validated configurations remembered between processes (``logpipe.config_cache``) as snapshots
(``config_cache.Snapshot``): a hit is the same configuration validation gives, read without
pydantic; what a snapshot does not hold is answered by the validated model, and an assignment is
validated; anything validation reads is part of the key, a secret is never written, and a damaged or
unwritable cache only costs the validation."""

from __future__ import annotations

import copy
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from logpipe import config_cache
from logpipe.config import Config
from logpipe.config_cache import Snapshot
from logpipe.config_cache import load_or_validate as load_config
from logpipe.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]

CONFIG = """
[store]
root = "{root}"
cache_max_bytes = "2GB"
[engine]
max_window = "40d"
[metrics]
sinks = ["local", "emf"]
[redact]
rules = [{{name = "ticket", regex = "TCK-[0-9]+"}}]
[alarms]
topic_emails = [" ops@example.com "]
"""


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"XDG_CACHE_HOME": str(tmp_path / "cache"), **extra}


@pytest.fixture(autouse=True)
def region(monkeypatch: pytest.MonkeyPatch) -> None:
    """The region's default is read from the process's environment (``config._default_region``)."""
    monkeypatch.setenv("AWS_REGION", "eu-west-1")


def cached_files(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "cache" / "logpipe" / "config"
    return sorted(folder.glob("*.pickle")) if folder.exists() else []


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "logpipe.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def no_validation(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Makes validating a Config fail loudly: what loads now can only have come from the cache."""
    calls: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        raise AssertionError("validated again")

    def arm() -> None:
        monkeypatch.setattr(Config, "model_validate", refuse)

    calls.append(arm)
    return calls


def test_a_second_load_is_the_remembered_configuration_equal_to_validation(
        tmp_path: Path, no_validation: list[Any]) -> None:
    path = write(tmp_path, CONFIG.format(root=tmp_path / "data"))
    env = environment(tmp_path)
    first = load_config(path, env)
    assert isinstance(first, Config) and len(cached_files(tmp_path)) == 1
    no_validation[0]()  # from here on, validating would fail
    second = load_config(path, env)
    assert isinstance(second, Snapshot)
    assert second.plain() == first.model_dump()
    assert second.source == first.source == str(path)
    # the validated values came back, not their inputs: a ByteSize from "2GB", stripped e-mails
    assert second.store.cache_max_bytes == 2_000_000_000
    assert second.alarms.topic_emails == ["ops@example.com"]
    assert second.aws.region == "eu-west-1"
    assert second.store.is_s3 is False  # a section's own property
    assert [(r.name, r.regex) for r in second.redact.rules] == [("ticket", "TCK-[0-9]+")]


def test_a_snapshot_answers_what_it_does_not_hold_and_validates_assignments(tmp_path: Path) -> None:
    path = write(tmp_path, CONFIG.format(root=tmp_path / "data"))
    env = environment(tmp_path)
    first = load_config(path, env)
    second = load_config(path, env)
    assert isinstance(second, Snapshot)
    # pydantic's own methods: answered by the model validated from the snapshot
    assert second.model_dump() == first.model_dump()
    assert second.store.model_copy(update={"root": "/x"}).root == "/x" and second.store.root == str(tmp_path / "data")
    assert isinstance(second.real(), Config) and second.real().source == str(path)
    # equal to the model it stands for; a copy is a copy of that model
    assert second == first and second.store == first.store and second.store != first.engine
    duplicate = copy.deepcopy(second)
    assert isinstance(duplicate, Config) and duplicate == first and duplicate is not second.real()
    # an assignment is validated, and the section's values and properties follow it
    with pytest.raises(ValueError):
        second.engine.max_window = "soon"
    assert second.engine.max_window == first.engine.max_window
    second.store.root = "s3://bucket"
    assert second.store.root == "s3://bucket" and second.store.is_s3 is True
    assert second.real().store.root == "s3://bucket" and second.model_dump()["store"]["root"] == "s3://bucket"
    # an assignment of another type comes back as the model keeps it
    second.store.cache_max_bytes = "3GB"  # type: ignore[assignment]
    assert second.store.cache_max_bytes == 3_000_000_000
    # the remembered file was not changed by any of it
    assert load_config(path, env).store.root == str(tmp_path / "data")


def test_a_changed_file_is_validated_again(tmp_path: Path) -> None:
    path = write(tmp_path, CONFIG.format(root=tmp_path / "data"))
    env = environment(tmp_path)
    assert load_config(path, env).store.root == str(tmp_path / "data")
    write(tmp_path, CONFIG.format(root=tmp_path / "other"))
    assert load_config(path, env).store.root == str(tmp_path / "other")
    write(tmp_path, CONFIG.format(root=tmp_path / "data") + "\n[digest]\nbogus = 1\n")
    with pytest.raises(ConfigError, match="bogus"):
        load_config(path, env)


@pytest.mark.parametrize("variable, value, read", [
    ("LOGPIPE_STORE_ROOT", "s3://other-bucket", lambda c: c.store.root),
    ("LOGPIPE_ENGINE_MAX_WINDOW", "90d", lambda c: c.engine.max_window),
    ("LOGPIPE_STORE", '{root = "/from/the/table"}', lambda c: c.store.root),
])
def test_the_environment_validation_reads_is_part_of_the_key(tmp_path: Path, variable: str, value: str,
                                                               read: Any) -> None:
    path = write(tmp_path, "[metrics]\nsinks = [\"local\"]\n")
    env = environment(tmp_path)
    before = read(load_config(path, env))
    changed = read(load_config(path, {**env, variable: value}))
    assert changed != before and changed in value
    assert read(load_config(path, env)) == before  # and back


def test_the_default_region_follows_the_process_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    env = environment(tmp_path)
    assert load_config(None, env).aws.region == "eu-west-1"
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    assert load_config(None, env).aws.region == "ap-south-1"
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "sa-east-1")
    assert load_config(None, env).aws.region == "sa-east-1"
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert load_config(None, env).aws.region == "us-east-1"


def test_a_configuration_holding_a_secret_is_never_written(tmp_path: Path) -> None:
    path = write(tmp_path, '[state]\nurl = "postgresql+psycopg://app:s3cr3t-pw@db.internal/logpipe"\n')
    env = environment(tmp_path)
    assert "s3cr3t-pw" in load_config(path, env).state.url
    assert cached_files(tmp_path) == []
    # nor from the environment
    write(tmp_path, "")
    config = load_config(path, {**env, "LOGPIPE_STATE_URL": "postgresql://app:env-s3cr3t@db/logpipe"})
    assert "env-s3cr3t" in config.state.url
    assert cached_files(tmp_path) == []
    for file in (tmp_path / "cache").rglob("*"):
        if file.is_file():
            assert b"s3cr3t" not in file.read_bytes()


def test_a_damaged_or_foreign_file_is_ignored_and_replaced(tmp_path: Path) -> None:
    path = write(tmp_path, CONFIG.format(root=tmp_path / "data"))
    env = environment(tmp_path)
    expected = load_config(path, env).model_dump()
    (cached,) = cached_files(tmp_path)
    for damage in (b"", b"not a pickle", cached.read_bytes()[:40],
                   pickle.dumps(("another key", load_config(path, env))),
                   pickle.dumps((cached.stem, {"store": {"root": "/elsewhere"}}))):
        cached.write_bytes(damage)
        assert load_config(path, env).model_dump() == expected
        assert config_cache.load(cached.parent, cached.stem) is not None  # written again, whole


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0, reason="needs root to give a file away")
def test_a_file_of_another_user_is_not_trusted(tmp_path: Path) -> None:
    path = write(tmp_path, CONFIG.format(root=tmp_path / "data"))
    env = environment(tmp_path)
    load_config(path, env)
    (cached,) = cached_files(tmp_path)
    os.chown(cached, 65534, 65534)
    assert config_cache.load(cached.parent, cached.stem) is None
    assert load_config(path, env).store.root == str(tmp_path / "data")


def test_a_folder_others_can_write_in_is_not_used(tmp_path: Path) -> None:
    path = write(tmp_path, CONFIG.format(root=tmp_path / "data"))
    env = environment(tmp_path)
    load_config(path, env)
    (cached,) = cached_files(tmp_path)
    cached.parent.chmod(0o777)
    assert config_cache.load(cached.parent, cached.stem) is None
    cached.unlink()
    assert load_config(path, env).store.root == str(tmp_path / "data")
    assert cached_files(tmp_path) == []  # nor written there
    cached.parent.chmod(0o700)
    load_config(path, env)
    assert config_cache.load(cached.parent, cached.stem) is not None


def test_an_unwritable_cache_folder_only_costs_the_validation(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    path = write(tmp_path, CONFIG.format(root=tmp_path / "data"))
    for env in ({"XDG_CACHE_HOME": str(blocker)}, {}):  # a file in the way; no HOME at all
        assert load_config(path, env).store.root == str(tmp_path / "data")
        assert load_config(path, env).store.root == str(tmp_path / "data")


def test_the_folder_keeps_the_newest_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config_cache, "KEEP", 3)
    env = environment(tmp_path)
    for n in range(6):
        path = tmp_path / f"c{n}.toml"
        path.write_text(f'[store]\nroot = "/data/{n}"\n', encoding="utf-8")
        load_config(path, env)
        os.utime(cached_files(tmp_path)[0].parent, None)
    kept = cached_files(tmp_path)
    assert len(kept) == 3
    folder = kept[0].parent
    assert (folder.stat().st_mode & 0o777) == 0o700
    assert all((f.stat().st_mode & 0o777) == 0o600 for f in kept)
    # the newest three are those kept: loading them again needs no validation
    roots = {config_cache.load(folder, f.stem).store.root for f in kept}  # type: ignore[union-attr]
    assert roots == {"/data/3", "/data/4", "/data/5"}


def test_a_new_process_takes_the_remembered_configuration(tmp_path: Path) -> None:
    """Across processes, as the CLI loads it: the second process does not import pydantic."""
    path = write(tmp_path, CONFIG.format(root=tmp_path / "data"))
    probe = ("import sys, json; from logpipe.config_cache import load_or_validate; c = load_or_validate(sys.argv[1]); "
             "print(json.dumps([c.store.root, 'pydantic' in sys.modules]))")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "PYTHONPATH": str(REPO_ROOT)}
    outputs = [subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True, env=env,
                              check=True).stdout.strip() for _ in range(2)]
    root = str(tmp_path / "data").replace("\\", "\\\\")
    assert outputs[0] == f'["{root}", true]'  # validated
    assert outputs[1] == f'["{root}", false]'  # remembered: pydantic was not imported
