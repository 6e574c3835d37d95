"""Headless Chromium for the console's browser tests: Debian's ``chromium`` driven by Playwright.

Playwright's own browser download does not work here, so the tests use the system's
``/usr/bin/chromium``; when it is missing and the tests run as root on Debian, it is installed with
apt-get once (under a lock shared by the pytest-xdist workers): that is how the README's test
command sets it up on a fresh machine. Elsewhere the browser tests are skipped with the reason, except
under CI, where a missing browser is a failure.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
# The flags this machine needs (as root; no network beyond the package registries).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


def ensure_chromium(lock_dir: Path) -> str:
    """The path of a Chromium binary, installing Debian's package when possible."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / "chromium-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not Path(CHROMIUM).exists() and os.geteuid() == 0 and shutil.which("apt-get"):
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
                done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
                if done.returncode != 0:
                    break
    if Path(CHROMIUM).exists():
        return CHROMIUM
    reason = f"no Chromium at {CHROMIUM} and it could not be installed (needs root and apt-get)"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)
    raise AssertionError("unreachable")
