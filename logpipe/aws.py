"""AWS from one place: every boto3 client, and every secret read from the environment or Secrets Manager.

Why one factory: clients made here all get botocore's retry modes (``standard`` by default: retries
what certainly did not land, with backoff) and the endpoint boto3 takes from ``AWS_ENDPOINT_URL`` /
``AWS_ENDPOINT_URL_<SERVICE>``, so the same code talks to AWS or to a local server. A secret's value is
returned to the caller and never appears in a log line or an error message: errors name the
variable or the secret id, and the reason.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from logpipe.errors import ConfigError, LogpipeError

DEFAULT_RETRY_MODE = "standard"
DEFAULT_MAX_ATTEMPTS = 8


def client(service: str, region: str | None = None, *, retry_mode: str = DEFAULT_RETRY_MODE,
           max_attempts: int = DEFAULT_MAX_ATTEMPTS, connect_timeout: float | None = None,
           read_timeout: float | None = None) -> Any:
    """A boto3 client for ``service`` with botocore's retries (endpoint from the standard variables)."""
    import boto3
    from botocore.config import Config as BotoConfig

    options: dict[str, Any] = {"retries": {"mode": retry_mode, "max_attempts": max_attempts}}
    if connect_timeout is not None:
        options["connect_timeout"] = connect_timeout
    if read_timeout is not None:
        options["read_timeout"] = read_timeout
    return boto3.client(service, region_name=region, config=BotoConfig(**options))


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore error (``AccessDenied``), else the exception's type name."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return type(exc).__name__


def read_secret(*, env: str | None = None, secret_id: str | None = None, region: str | None = None,
                json_keys: Sequence[str] = (), what: str = "the secret",
                error: type[LogpipeError] = ConfigError) -> str:
    """A secret from the environment variable ``env``, else from the Secrets Manager secret ``secret_id``.

    A secret holding JSON gives the value of the first of ``json_keys`` it has. Raises ``error`` naming
    where the secret was looked for (never its value) when neither gives one.
    """
    if env:
        value = os.environ.get(env, "").strip()
        if value:
            return value
        if not secret_id:
            raise error(f"${env} is not set: it should hold {what}")
    if not secret_id:
        raise error(f"{what} has no source: name an environment variable or a Secrets Manager secret id")
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        answer = client("secretsmanager", region).get_secret_value(SecretId=secret_id)
    except (ClientError, BotoCoreError) as exc:
        raise error(f"cannot read {what} from Secrets Manager secret {secret_id!r}: {error_code(exc)}; check the "
                    "id and the secretsmanager:GetSecretValue permission") from None
    text = str(answer.get("SecretString") or "").strip()
    if text.startswith("{") and json_keys:
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = {}
        text = next((str(data[k]).strip() for k in json_keys if isinstance(data, dict) and data.get(k)), "")
    if not text:
        keys = f" (the value itself, or JSON with {' or '.join(repr(k) for k in json_keys)})" if json_keys else ""
        raise error(f"Secrets Manager secret {secret_id!r} holds no value for {what}{keys}")
    return text


__all__ = ["DEFAULT_MAX_ATTEMPTS", "DEFAULT_RETRY_MODE", "client", "error_code", "read_secret"]
