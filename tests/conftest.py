"""Shared fixtures: real local servers, never mocks of boto3.

* ``moto_server`` (session) - moto in server mode on 127.0.0.1; ``.endpoint_url``.
* ``aws`` - points boto3 at moto through ``AWS_ENDPOINT_URL``, resets moto afterwards; the url.
* ``boto_client`` - ``boto_client("s3")``: a client on moto (needs nothing else).
* ``fault_proxy`` - ``fault_proxy(upstream_url, failure_rate=0.3, modes=(...), seed=1)``: a proxy
  that throttles, fails, cuts and delays a share of requests (see ``support.fault_proxy``).
* ``state_url`` - a fresh SQLAlchemy URL, once for SQLite and once for PostgreSQL.
* ``tmp_store`` / ``s3_store`` - a ``logpipe.store.Store`` on a tmp folder / a moto bucket.
* ``cli`` - ``cli("query", "list")`` runs ``logpipe`` in-process: ``exit_code, stdout, stderr``.

For the whole session the environment is scrubbed of AWS/Datadog credentials and LOGPIPE_
overrides, and AWS calls outside the ``aws`` fixture go to a refused port, so no test can reach a
real account.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from support import postgres
from support.fault_proxy import DEFAULT_MODES, FaultProxy
from support.moto_server import MotoServer, isolate_environment, start_moto_server

REPO_ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    isolate_environment()


# -- AWS --------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    server = start_moto_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def aws(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The moto endpoint, set as ``AWS_ENDPOINT_URL``; moto is reset before and after the test (before:
    a test that uses the session's server directly, the README tour, leaves its alarms and buckets)."""
    moto_server.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.endpoint_url)
    # Production retry defaults inside AWS tests (the session sets a low one for the refused port).
    monkeypatch.delenv("AWS_MAX_ATTEMPTS", raising=False)
    try:
        yield moto_server.endpoint_url
    finally:
        moto_server.reset()


@pytest.fixture
def boto_client(aws: str) -> Callable[..., Any]:
    """``boto_client(service, **kwargs)``: a boto3 client on moto in us-east-1."""
    import boto3

    def make(service: str, **kwargs: Any) -> Any:
        kwargs.setdefault("region_name", "us-east-1")
        return boto3.client(service, **kwargs)

    return make


@pytest.fixture
def fault_proxy() -> Iterator[Callable[..., FaultProxy]]:
    """A factory of fault-injecting proxies, all stopped after the test."""
    proxies: list[FaultProxy] = []

    def make(upstream_url: str, failure_rate: float = 0.3, modes: Sequence[str] = DEFAULT_MODES,
             seed: int = 1, delay_seconds: float = 0.2) -> FaultProxy:
        proxy = FaultProxy(upstream_url, failure_rate=failure_rate, modes=modes, seed=seed,
                           delay_seconds=delay_seconds)
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.close()


# -- state --------------------------------------------------------------------------------------------

@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty state database URL: SQLite in tmp_path, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/state.db"
        return
    reason = postgres.unavailable_reason()
    if reason:
        pytest.skip(reason)
    name = postgres.create_database()
    try:
        yield postgres.url_for(name)
    finally:
        postgres.drop_database(name)


# -- store ----------------------------------------------------------------------------------------------

@pytest.fixture
def tmp_store(tmp_path: Path) -> Any:
    """A local store (prefix ``logs``) in an empty tmp folder."""
    from logpipe.config import StoreConfig
    from logpipe.store import Store

    return Store(StoreConfig(root=str(tmp_path / "store"), prefix="logs", cache_dir=str(tmp_path / "cache")))


@pytest.fixture
def s3_store(boto_client: Callable[..., Any], tmp_path: Path) -> Any:
    """A store on ``s3://logpipe-test/base`` in moto (bucket created)."""
    from logpipe.config import StoreConfig
    from logpipe.store import Store

    boto_client("s3").create_bucket(Bucket="logpipe-test")
    return Store(StoreConfig(root="s3://logpipe-test/base", prefix="logs", cache_dir=str(tmp_path / "cache")),
                 region="us-east-1")


# -- the CLI ------------------------------------------------------------------------------------------------

class CliResult:
    """What a ``logpipe`` run printed; unpacks as ``exit_code, stdout, stderr``."""

    def __init__(self, exit_code: int, stdout_bytes: bytes, stderr_bytes: bytes):
        self.exit_code = exit_code
        self.stdout_bytes = stdout_bytes
        self.stdout = stdout_bytes.decode("utf-8", errors="replace")
        self.stderr = stderr_bytes.decode("utf-8", errors="replace")

    def __iter__(self) -> Iterator[Any]:
        return iter((self.exit_code, self.stdout, self.stderr))

    def __repr__(self) -> str:
        return f"CliResult(exit_code={self.exit_code}, stdout={self.stdout[-2000:]!r}, stderr={self.stderr[-2000:]!r})"


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    return 1


class Cli:
    """Runs ``logpipe`` in-process (fast, the default) or as a subprocess (``.subprocess``)."""

    def __init__(self, cwd: Path, monkeypatch: pytest.MonkeyPatch):
        self.cwd = cwd
        self._monkeypatch = monkeypatch

    def __call__(self, *argv: str, input: str | bytes | None = None, env: dict[str, str] | None = None
                 ) -> CliResult:
        from logpipe.cli import main

        args = [str(a) for a in (argv[0] if len(argv) == 1 and isinstance(argv[0], list | tuple) else argv)]
        stdin_bytes = input.encode() if isinstance(input, str) else (input or b"")
        out, err = io.BytesIO(), io.BytesIO()
        stdout = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
        stderr = io.TextIOWrapper(err, encoding="utf-8", write_through=True)
        stdin = io.TextIOWrapper(io.BytesIO(stdin_bytes), encoding="utf-8")
        code = 0
        with pytest.MonkeyPatch.context() as mp:
            for key, value in (env or {}).items():
                mp.setenv(key, value)
            mp.setattr(sys, "stdin", stdin)
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                try:
                    main(args)
                except SystemExit as exc:
                    code = _exit_code(exc)
                finally:
                    stdout.flush()
                    stderr.flush()
        return CliResult(code, out.getvalue(), err.getvalue())

    def subprocess(self, *argv: str, input: str | bytes | None = None, env: dict[str, str] | None = None,
                   timeout: float = 120) -> CliResult:
        """``python -m logpipe ...`` in a child process: for what in-process cannot show (real exit,
        signals, import time)."""
        stdin_bytes = input.encode() if isinstance(input, str) else input
        proc = subprocess.run([sys.executable, "-m", "logpipe", *map(str, argv)], cwd=self.cwd,
                              input=stdin_bytes, capture_output=True, timeout=timeout,
                              env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})})
        return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """Runs ``logpipe`` with the working directory in a fresh folder (so ``./logpipe.toml``,
    ``./logpipe-data`` and the state db of the embedded default land there, not in the repo)."""
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    return Cli(workdir, monkeypatch)
