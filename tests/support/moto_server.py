"""moto in server mode on loopback: real HTTP and real botocore, no patched clients.

Why a server and not ``mock_aws``: the code under test builds its own boto3 clients from
``AWS_ENDPOINT_URL`` exactly as it does in production, and faults can be injected on the wire (see
``fault_proxy``). One server per test session (per xdist worker); state is reset between tests.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass, field
from typing import Any

# Variables that could point a test at a real AWS account or a real Datadog, or change behaviour
# from the developer's shell. Removed for the whole session.
UNSAFE_ENV_PREFIXES = ("AWS_", "DD_", "DATADOG_", "LOGPIPE_")
SAFE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    # Never read the developer's ~/.aws files, never ask the instance metadata service.
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
    # Outside the ``aws`` fixture, AWS calls go nowhere (a refused port), never to real AWS.
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    # Fail fast on the refused port instead of retrying for minutes.
    "AWS_MAX_ATTEMPTS": "2",
}


def isolate_environment(environ: Any = None) -> list[str]:
    """Drop credentials and overrides from the environment and set harmless test ones.

    Returns the names removed (for a debugging message; values are never shown).
    """
    environ = os.environ if environ is None else environ
    removed = [name for name in list(environ) if name.startswith(UNSAFE_ENV_PREFIXES)]
    for name in removed:
        del environ[name]
    environ.update(SAFE_AWS_ENV)
    # Validated configurations are remembered in the user's cache folder (logpipe.config_cache): the
    # session's thousands of test configurations go to a folder of its own, not the developer's home.
    if environ is os.environ and "LOGPIPE_TEST_CACHE_HOME" not in _SESSION:
        folder = tempfile.mkdtemp(prefix="logpipe-test-cache-")
        _SESSION["LOGPIPE_TEST_CACHE_HOME"] = folder
        atexit.register(shutil.rmtree, folder, True)
    if environ is os.environ:
        environ["XDG_CACHE_HOME"] = _SESSION["LOGPIPE_TEST_CACHE_HOME"]
    return removed


_SESSION: dict[str, str] = {}


@dataclass
class MotoServer:
    """A running ``ThreadedMotoServer``."""

    endpoint_url: str
    _server: Any = field(repr=False, default=None)

    def reset(self) -> None:
        """Forget every resource (buckets, metrics, topics...) so tests do not see each other's."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


def start_moto_server() -> MotoServer:
    """Start moto on 127.0.0.1 at a port the OS picks (no race for a 'free' port)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return MotoServer(endpoint_url=f"http://{host}:{port}", _server=server)
