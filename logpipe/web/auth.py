"""Who is asking: a bearer token, the ALB's signed OIDC identity, or the laptop's own session.

* ``auth = "token"``: ``Authorization: Bearer TOKEN``, or the session cookie the login page sets
  (browsers cannot add a header to a link). Two tokens, each a secret read through
  ``logpipe.aws.read_secret`` (environment variable or Secrets Manager): the viewer token reads, the
  operator token may also change state. With neither configured, only ``/healthz`` answers.
* ``auth = "oidc"``: behind an ALB with OIDC authentication the ALB adds ``x-amzn-oidc-data``, a JWT
  it signs (ES256) with a regional key. The signature, its expiry and its ``signer`` (the ALB's ARN,
  ``[web] oidc_alb_arn``) are checked; a request that could have bypassed the ALB carries no valid
  token and is refused. Identities in ``[web] operators`` may change state.
* ``logpipe ui`` on a laptop: one random token made at start, given in the URL it opens once.

The cookie holds a hash of the token, never the token; comparisons are constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
import urllib.request
from dataclasses import dataclass
from typing import Literal

from logpipe.config import WebConfig
from logpipe.errors import ConfigError

log = logging.getLogger(__name__)

Role = Literal["viewer", "operator"]
SESSION_COOKIE = "logpipe_session"
OIDC_HEADER = "x-amzn-oidc-data"

# Paths answered without any credentials. Add a path here (and its route in logpipe.web.app) for
# another unauthenticated endpoint; keep it to what a load balancer or health check needs.
OPEN_PATHS: set[str] = {"/healthz"}
OPEN_PREFIXES: tuple[str, ...] = ("/ui/static/", "/ui/login")


@dataclass(frozen=True)
class Identity:
    """The caller: a name for the audit log, a role, and how it was established."""

    name: str
    role: Role
    via: Literal["token", "oidc", "local"]

    @property
    def operator(self) -> bool:
        return self.role == "operator"


def session_value(token: str) -> str:
    """What the session cookie holds for a token: its hash (a stolen cookie is not the token)."""
    return hashlib.sha256(b"logpipe-session:" + token.encode("utf-8")).hexdigest()


def _b64url(segment: str) -> bytes:
    segment = segment.rstrip("=")  # the ALB pads its base64url segments; JWT libraries refuse padding
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


class AuthError(Exception):
    """Why a request was refused (said to the caller: it holds no secret)."""


class Authenticator:
    """Identifies requests; secrets are read once, on first use, and cached."""

    def __init__(self, settings: WebConfig, region: str, local_token: str | None = None) -> None:
        self.settings = settings
        self.region = region
        self.local_token = local_token
        self._tokens: dict[str, Role] | None = None
        self._keys: dict[str, str] = {}
        self._lock = threading.Lock()

    # -- configuration ---------------------------------------------------------------------------

    def tokens(self) -> dict[str, Role]:
        """token -> role, from the environment or Secrets Manager (a source that is not set is skipped)."""
        with self._lock:
            if self._tokens is None:
                from logpipe import aws

                found: dict[str, Role] = {}
                s = self.settings
                for role, env, secret in (("viewer", s.token_env, s.token_secret),
                                          ("operator", s.operator_token_env, s.operator_token_secret)):
                    if not env and not secret:
                        continue
                    try:
                        value = aws.read_secret(env=env, secret_id=secret, region=self.region,
                                                json_keys=("token",), what=f"the web {role} token")
                    except ConfigError as exc:
                        if secret:  # a named secret that cannot be read is an error worth seeing
                            log.warning("%s", exc)
                        continue
                    found[value] = role  # type: ignore[assignment]
                if self.local_token:
                    found[self.local_token] = "operator"
                self._tokens = found
            return self._tokens

    def describe(self) -> str:
        """How to get in, for the start-up line and the 401 answer (names of sources, never values)."""
        s = self.settings
        if self.local_token:
            return "the token in the URL printed at start"
        if s.auth == "oidc":
            return ("the ALB's OIDC sign-in" if s.oidc_alb_arn else
                    "nothing yet: [web] auth = 'oidc' needs [web] oidc_alb_arn (the ALB that signs the identity)")
        if not self.tokens():
            names = [n for n in (s.token_env, s.operator_token_env) if n]
            return ("nothing yet: no web token is configured (set $" + " or $".join(names)
                    + ", or [web] token_secret)") if names else "nothing: no web token source is configured"
        return "a bearer token (Authorization: Bearer ...) or the login page"

    # -- identification ----------------------------------------------------------------------------

    def identify(self, headers: dict[str, str], cookies: dict[str, str]) -> Identity:
        """The caller of a request with these (lower-case) headers; AuthError if unknown."""
        if self.settings.auth == "oidc" and not self.local_token:
            return self._oidc(headers)
        tokens = self.tokens()
        given = headers.get("authorization", "")
        if given[:7].lower() == "bearer ":
            token = given[7:].strip()
            for known, role in tokens.items():
                if hmac.compare_digest(token.encode(), known.encode()):
                    return Identity(self._token_name(role), role, "local" if known == self.local_token else "token")
            raise AuthError("the bearer token is not valid")
        session = cookies.get(SESSION_COOKIE)
        if session:
            for known, role in tokens.items():
                if hmac.compare_digest(session.encode(), session_value(known).encode()):
                    return Identity(self._token_name(role), role, "local" if known == self.local_token else "token")
            raise AuthError("the session has expired or its token changed: sign in again")
        raise AuthError("authentication required: " + self.describe())

    def check_token(self, token: str) -> Role | None:
        for known, role in self.tokens().items():
            if hmac.compare_digest(token.encode(), known.encode()):
                return role
        return None

    def _token_name(self, role: Role) -> str:
        return "local user" if self.local_token else f"{role} token"

    def _oidc(self, headers: dict[str, str]) -> Identity:
        import jwt

        s = self.settings
        if not s.oidc_alb_arn:
            raise AuthError("[web] auth = 'oidc' needs [web] oidc_alb_arn: refusing every request until it is set")
        token = headers.get(OIDC_HEADER)
        if not token:
            raise AuthError(f"no {OIDC_HEADER} header: this console is reached through its ALB only")
        parts = token.split(".")
        if len(parts) != 3:
            raise AuthError(f"{OIDC_HEADER} is not a JWT")
        try:
            header = json.loads(_b64url(parts[0]))
        except ValueError:
            raise AuthError(f"{OIDC_HEADER} has an unreadable header") from None
        if header.get("signer") != s.oidc_alb_arn:
            raise AuthError("the identity was signed by another load balancer")
        if header.get("alg") != "ES256" or not isinstance(header.get("kid"), str):
            raise AuthError("the identity token is not an ALB ES256 token")
        key = self._alb_key(header["kid"])
        unpadded = ".".join(p.rstrip("=") for p in parts)
        try:
            claims = jwt.decode(unpadded, key, algorithms=["ES256"], options={"verify_aud": False,
                                                                             "require": ["exp"]})
        except jwt.ExpiredSignatureError:
            raise AuthError("the identity token has expired: reload the page to sign in again") from None
        except jwt.InvalidTokenError as exc:
            raise AuthError(f"the identity token is not valid ({type(exc).__name__})") from None
        name = str(claims.get("email") or claims.get("sub") or headers.get("x-amzn-oidc-identity") or "")
        if not name:
            raise AuthError("the identity token names nobody (no email or sub claim)")
        subject = str(claims.get("sub", ""))
        role: Role = "operator" if (name in s.operators or subject in s.operators) else "viewer"
        return Identity(name, role, "oidc")

    def _alb_key(self, kid: str) -> str:
        if kid in self._keys:
            return self._keys[kid]
        if not all(c.isalnum() or c in "-_" for c in kid):
            raise AuthError("the identity token names an invalid key id")
        url = self.settings.oidc_key_url.format(region=self.region, kid=kid)
        began = time.monotonic()
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                pem = answer.read(64 * 1024).decode("ascii")
        except Exception as exc:
            raise AuthError(f"cannot fetch the ALB's public key {kid} ({type(exc).__name__})") from None
        log.debug("fetched ALB key %s in %.0f ms", kid, (time.monotonic() - began) * 1000)
        self._keys[kid] = pem
        return pem


__all__ = ["OIDC_HEADER", "OPEN_PATHS", "OPEN_PREFIXES", "SESSION_COOKIE", "AuthError", "Authenticator",
           "Identity", "Role", "session_value"]
