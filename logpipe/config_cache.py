"""Validated configurations remembered between processes, so a command does not build pydantic's
validators for every section of ``Config`` each time it starts.

Why: building the validators of the config's 22 models was the largest single cost of a warm
``logpipe query run`` outside DuckDB (~0.1-0.2 s of a process whose DuckDB part over a month of
compacted hours is ~0.2 s). The models are declared with ``defer_build``: a process that finds its
configuration here never builds them; one that does not validates exactly as before and leaves the
result here for the next.

What is remembered is the validated ``Config`` itself (pickled), under a key of everything the
validation reads: the file's path and bytes, what the ``LOGPIPE_*`` variables set (as the loader
decodes them) and the variables the defaults read (``AWS_REGION``, ``AWS_DEFAULT_REGION``), logpipe's version, the source of the
models (``config.py``'s size and mtime) and pydantic's version. A changed file, variable or model
is a new key.

Never remembered: a configuration holding a secret (what ``redact_config`` would mask: a password in
the state URL, a literal key or token), so no secret is written anywhere it was not already; and
nothing when the folder cannot be written (a read-only container image): the command validates as
before. A file that cannot be read back (damaged, another Python's, someone else's) is ignored.

The folder: ``$XDG_CACHE_HOME/logpipe/config`` (default ``~/.cache/logpipe/config``), created
``0700``, each file ``0600``; at most ``KEEP`` files (the oldest go first). A folder that is not the
user's own, or that others can write in, is neither read nor written.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from logpipe.cache_files import keep_newest, write_atomically

T = TypeVar("T")

# Bump when what is pickled changes shape in a way the key does not see.
CACHE_FORMAT = 1
KEEP = 64
# Read by the models' defaults, not only by the LOGPIPE_<SECTION>_<KEY> overrides.
DEFAULTS_READ = ("AWS_REGION", "AWS_DEFAULT_REGION")


def cache_folder(environ: Mapping[str, str]) -> Path | None:
    """Where the configurations are kept; None where no home or cache folder is known."""
    base = environ.get("XDG_CACHE_HOME")
    if not base:
        home = environ.get("HOME")
        if not home:
            return None
        base = os.path.join(home, ".cache")
    return Path(base) / "logpipe" / "config"


def cache_key(path: Path | None, text: bytes | None, from_environment: Mapping[str, Any], source: str) -> str:
    """Everything the validation of this file in this environment depends on, hashed:
    ``from_environment`` is what the ``LOGPIPE_*`` variables set (``config._environment``), ``source``
    the text messages name the configuration by."""
    import pydantic

    from logpipe import __version__

    models = Path(__file__).with_name("config.py").stat()  # the models' source (this module is beside it)
    digest = hashlib.sha256()
    for part in (str(CACHE_FORMAT), __version__, pydantic.VERSION, sys.version,
                 f"{models.st_size}:{models.st_mtime_ns}", str(path.resolve()) if path is not None else "-"):
        digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
    digest.update(text if text is not None else b"\0no file\0")
    digest.update(b"\0" + json.dumps(from_environment, sort_keys=True, default=repr).encode("utf-8", "surrogateescape"))
    digest.update(b"\0" + source.encode("utf-8", "surrogateescape"))
    # the variables the models' default factories read, from the process's own environment as they
    # read it (``config._default_region``)
    for name in DEFAULTS_READ:
        value = os.environ.get(name)
        digest.update(b"\0" + name.encode() + b"=" + (b"\0unset" if value is None else
                                                         value.encode("utf-8", "surrogateescape")))
    return digest.hexdigest()


def load(folder: Path | None, key: str, kind: type[T]) -> T | None:
    """The configuration (a ``kind``) remembered under ``key``; None if there is none that can be trusted."""
    if folder is None or not _private(folder):
        return None
    file = folder / f"{key}.pickle"
    try:
        with open(file, "rb") as handle:
            if os.fstat(handle.fileno()).st_uid != os.getuid():
                return None  # only ever a file this user wrote
            stored_key, config = pickle.load(handle)  # the user's own 0600 file (checked above)
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError, ImportError,
            IndexError):
        return None
    if stored_key != key or not isinstance(config, kind):
        return None
    return config


def save(folder: Path | None, key: str, config: Any) -> None:
    """Remember ``config`` under ``key``; a failure to write is not an error. The caller has made sure
    it holds no secret (``config.load_config``)."""
    if folder is None:
        return
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _private(folder):
            return
        write_atomically(folder / f"{key}.pickle", pickle.dumps((key, config), protocol=pickle.HIGHEST_PROTOCOL))
        keep_newest(folder, ".pickle", KEEP, KEEP)  # (tests and scripts make many configurations)
    except (OSError, pickle.PicklingError):
        return


def _private(folder: Path) -> bool:
    """The folder is this user's and no one else can write in it (else nothing is read from it or
    written to it: a pickle is code)."""
    try:
        st = os.stat(folder)
    except OSError:
        return False
    return st.st_uid == os.getuid() and not st.st_mode & 0o022


__all__ = ["CACHE_FORMAT", "DEFAULTS_READ", "KEEP", "T", "cache_folder", "cache_key", "load", "save"]
