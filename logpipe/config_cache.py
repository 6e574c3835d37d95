"""Validated configurations remembered between processes, so a command neither imports pydantic nor
builds its validators when its configuration was validated before.

Why: importing pydantic and declaring the config's 22 models, then building their validators, was the
largest single cost of a warm ``logpipe query run`` outside DuckDB (~0.2 s of a process whose DuckDB
part over a day of raw hours is ~0.6 s). A process that finds its configuration here reads it as a
``Snapshot`` (the validated values, no pydantic; below); one that does not validates exactly as
before (``logpipe.config.load_config``) and leaves the snapshot here for the next.

The key is everything the validation reads: the file's path and bytes, every ``LOGPIPE_*`` variable
(as set: a changed or added one is a new key) and the variables the defaults read (``AWS_REGION``,
``AWS_DEFAULT_REGION``), logpipe's version, the source of the models and of this module (their size
and mtime), pydantic's installed version (its ``version.py``, found without importing
it) and the Python version.

Never remembered: a configuration holding a secret (what ``redact_config`` would mask: a password in
the state URL, a literal key or token), so no secret is written anywhere it was not already; and
nothing when the folder cannot be written (a read-only container image): the command validates as
before. A file that cannot be read back (damaged, another Python's, someone else's) is ignored.

The folder: ``$XDG_CACHE_HOME/logpipe/config`` (default ``~/.cache/logpipe/config``), created
``0700``, each file ``0600``; at most ``KEEP`` files (the oldest go first). A folder that is not the
user's own, or that others can write in, is neither read nor written.

A snapshot holds the validated values under the same attribute names, and the sections' own
properties (``StoreConfig.is_s3``, ``Config.source``) as they were evaluated when it was made.
What keeps it the same configuration:

- a snapshot is made only from a validated ``Config`` (``snapshot_of``), of plain values only (str,
  int, float, bool, None, lists, tuples, dicts and sections); a configuration holding anything else
  is not remembered, and is validated in every process as before;
- anything a snapshot does not hold (pydantic's methods: ``model_dump``, ``model_copy``,
  ``model_fields_set``, ...) is answered by the real model (``Snapshot.real``), validated from the
  snapshot's values on first need exactly as ``load_config`` validates (what it would have returned);
- an assignment goes through the real model (validated, as ``validate_assignment`` asks) and the
  section's values and properties are then read back from it, so the two never disagree.

Not the same: a snapshot is not an instance of its model's class (``isinstance`` is False);
``real()`` gives the model where a caller needs one. It compares equal to the model it stands for, and
a copy of it (``copy``) is a copy of that model.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import pickle
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from logpipe.cache_files import keep_newest, write_atomically
from logpipe.config_file import locate
from logpipe.redact import apply_redaction

if TYPE_CHECKING:
    from pydantic import BaseModel

    from logpipe.config import Config

# Bump when what is pickled changes shape in a way the key does not see.
CACHE_FORMAT = 2
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


def cache_key(path: Path | None, text: bytes | None, environ: Mapping[str, str]) -> str:
    """Everything the validation of this file in this environment depends on, hashed."""
    from logpipe import __version__

    here = Path(__file__).parent
    digest = hashlib.sha256()
    for part in (str(CACHE_FORMAT), __version__, sys.version, _stamp(here / "config.py"),
                 _stamp(Path(__file__)), _pydantic_stamp(),
                 str(path.resolve()) if path is not None else "-"):
        digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
    digest.update(text if text is not None else b"\0no file\0")
    # every LOGPIPE_* variable (names are case-insensitive to the loader), and the ones the defaults
    # read from the process's own environment (``config._default_region``)
    variables: list[tuple[str, str | None]] = sorted(
        (name, value) for name, value in environ.items() if name.upper().startswith("LOGPIPE_"))
    variables += [(name, os.environ.get(name)) for name in DEFAULTS_READ]
    digest.update(b"\0" + json.dumps(variables).encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def _stamp(file: Path) -> str:
    try:
        st = file.stat()
    except OSError:
        return "-"
    return f"{st.st_size}:{st.st_mtime_ns}"


def _pydantic_stamp() -> str:
    """The installed pydantic, without importing it (its ``version.py``'s size and mtime)."""
    import importlib.util

    spec = importlib.util.find_spec("pydantic")
    if spec is None or spec.origin is None:
        return "no pydantic"
    return _stamp(Path(spec.origin).with_name("version.py"))


def load_or_validate(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """What ``logpipe.config.load_config(path, environ)`` gives, remembered: a configuration validated
    before in the same environment is its snapshot (pydantic is not imported; the process's redaction
    is set from it); else the file's bytes read here are validated and their snapshot kept for the next
    process (unless it holds a secret). The commands' way in (``logpipe.cli.common``)."""
    environ = dict(os.environ if environ is None else environ)
    found, raw = locate(path, environ)
    folder, key = cache_folder(environ), cache_key(found, raw, environ)
    config = load(folder, key)
    if config is not None:
        apply_redaction(config)
        return config
    from logpipe.config import redact_config, validate_file

    config = validate_file(found, raw, environ)
    dumped = config.model_dump()
    if redact_config(dumped) == dumped:  # never a configuration holding a secret
        save(folder, key, config)
    return config


def load(folder: Path | None, key: str) -> Config | None:
    """The configuration remembered under ``key``; None if there is none that can be trusted."""
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
    if stored_key != key or not isinstance(config, Snapshot):
        return None
    return adopted(config)


def save(folder: Path | None, key: str, config: Config) -> None:
    """Remember ``config`` (its snapshot) under ``key``; a failure to write, or a value a snapshot
    cannot hold, is not an error. The caller has made sure it holds no secret (``load_or_validate``)."""
    if folder is None:
        return
    try:
        snapshot = snapshot_of(config)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _private(folder):
            return
        write_atomically(folder / f"{key}.pickle", pickle.dumps((key, snapshot), protocol=pickle.HIGHEST_PROTOCOL))
        keep_newest(folder, ".pickle", KEEP, KEEP)  # (tests and scripts make many configurations)
    except (OSError, pickle.PicklingError, Unsupported):
        return


def _private(folder: Path) -> bool:
    """The folder is this user's and no one else can write in it (else nothing is read from it or
    written to it: a pickle is code)."""
    try:
        st = os.stat(folder)
    except OSError:
        return False
    return st.st_uid == os.getuid() and not st.st_mode & 0o022


# -- the snapshot ----------------------------------------------------------------------------------------

Step = str | int  # an attribute name, a list index or a dict key (a dict's keys are str)


class Unsupported(ValueError):
    """A value a snapshot cannot hold as a plain value (the configuration is then not remembered)."""


class Snapshot:
    """One validated section (or the whole ``Config``), as plain attributes. See the module doc."""

    # The values live in the instance's __dict__: reading one is a plain attribute lookup, and
    # __getattr__ runs only for what a snapshot does not hold.
    __slots__ = ("__dict__", "_fields", "_path", "_real", "_root")

    def __init__(self, values: dict[str, Any], fields: tuple[str, ...], path: tuple[Step, ...]) -> None:
        self.__dict__.update(values)  # field and property values
        object.__setattr__(self, "_fields", fields)  # which of them are fields (the rest: properties)
        object.__setattr__(self, "_path", path)  # where this section is, from the root
        object.__setattr__(self, "_root", None)  # the whole configuration's snapshot (None: this is it)
        object.__setattr__(self, "_real", None)  # the root's validated Config, once needed

    def __getattr__(self, name: str) -> Any:
        # (called only for what the snapshot does not hold: answered by the real model)
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.real(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        real = self.real()
        setattr(real, name, value)  # validated by the model (validate_assignment), or its error
        fresh = _section(real, self._path)
        fresh._adopt(self._root if self._root is not None else self)
        self.__dict__.clear()
        self.__dict__.update(fresh.__dict__)

    def __eq__(self, other: object) -> bool:
        """As the models compare: by their fields (a snapshot and the model it stands for are equal)."""
        if isinstance(other, Snapshot):
            return self._fields == other._fields and self.plain() == other.plain()
        return bool(self.real() == other)

    __hash__ = None  # type: ignore[assignment]  # (as a model's: mutable, so not hashable)

    def __copy__(self) -> Any:
        return copy.copy(self.real())

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        return copy.deepcopy(self.real(), memo)

    def __repr__(self) -> str:
        return f"Snapshot({', '.join(f'{k}={self.__dict__[k]!r}' for k in self._fields)})"

    def __getstate__(self) -> tuple[dict[str, Any], tuple[str, ...], tuple[Step, ...]]:
        return dict(self.__dict__), self._fields, self._path

    def __setstate__(self, state: tuple[dict[str, Any], tuple[str, ...], tuple[Step, ...]]) -> None:
        values, fields, path = state
        Snapshot.__init__(self, values, fields, path)

    def real(self) -> Any:
        """The pydantic model this snapshot stands for (the root's ``Config`` is validated from the
        snapshot's values on first need, as ``load_config`` validates; pydantic is imported then)."""
        root = self._root if self._root is not None else self
        if root._real is None:
            from logpipe.config import Config

            config = Config.model_validate(root.plain())
            config._source = root.__dict__.get("source")
            object.__setattr__(root, "_real", config)
        node: Any = root._real
        for step in self._path:
            node = node[step] if isinstance(node, list | tuple | dict) else getattr(node, step)
        return node

    def plain(self) -> dict[str, Any]:
        """The fields as plain data (the properties left out): what the model is validated from."""
        return {name: _plain(self.__dict__[name]) for name in self._fields}

    def _adopt(self, root: Snapshot) -> None:
        """Point every section below at the whole configuration's snapshot (after loading it)."""
        if self is not root:
            object.__setattr__(self, "_root", root)
        for value in self.__dict__.values():
            _adopt_all(value, root)


def _adopt_all(value: Any, root: Snapshot) -> None:
    if isinstance(value, Snapshot):
        value._adopt(root)
    elif isinstance(value, list | tuple):
        for item in value:
            _adopt_all(item, root)
    elif isinstance(value, dict):
        for item in value.values():
            _adopt_all(item, root)


def _plain(value: Any) -> Any:
    if isinstance(value, Snapshot):
        return value.plain()
    if isinstance(value, list | tuple):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def snapshot_of(config: Config) -> Config:
    """The snapshot of a validated configuration (typed as the ``Config`` it answers for); raises
    ``Unsupported`` if it holds a value that is not plain data."""
    root = _section(config, ())
    root._adopt(root)
    return root  # type: ignore[return-value]  # (a Snapshot answers every attribute of the Config)


def adopted(snapshot: Snapshot) -> Config:
    """A snapshot read back (``pickle``), its sections pointed at it again; typed as its ``Config``."""
    snapshot._adopt(snapshot)
    return snapshot  # type: ignore[return-value]


def _section(model: BaseModel, path: tuple[Step, ...]) -> Snapshot:
    cls = type(model)
    fields = tuple(cls.model_fields)
    values = {name: _value(getattr(model, name), (*path, name)) for name in fields}
    for name in _properties(cls):
        values[name] = _value(getattr(model, name), (*path, name))
    return Snapshot(values, fields, path)


def _properties(cls: type) -> list[str]:
    """The properties logpipe's own model classes declare (not pydantic's)."""
    return [name for klass in cls.__mro__ if klass.__module__ == "logpipe.config"
            for name, member in vars(klass).items() if isinstance(member, property)]


def _value(value: Any, path: tuple[Step, ...]) -> Any:
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return _section(value, path)
    if value is None or type(value) in (str, bool, float, int):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)  # pydantic's ByteSize: an int (its methods are not kept)
    if type(value) in (list, tuple):
        return type(value)(_value(v, (*path, i)) for i, v in enumerate(value))
    if type(value) is dict and all(type(k) is str for k in value):
        return {k: _value(v, (*path, k)) for k, v in value.items()}
    raise Unsupported(f"{'.'.join(map(str, path))}: a {type(value).__name__} is not kept in a snapshot")


__all__ = ["CACHE_FORMAT", "DEFAULTS_READ", "KEEP", "Snapshot", "Step", "Unsupported", "adopted", "cache_folder", "cache_key",
           "load", "load_or_validate", "save", "snapshot_of"]
