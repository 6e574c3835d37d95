"""Saved query files: ``queries/NAME.sql``, a ``--`` comment header, then one Athena statement.

The header format is documented in ``queries/README.md``. A mistake in a file is a QueryError that
names the file and the line, because whoever adds a query edits it in a text editor, not in Python.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import logpipe
from logpipe.durations import parse_duration
from logpipe.errors import QueryError, UsageError
from logpipe.queries.model import RUNNER_PARAMS, AlertSpec, MetricSpec, SavedQuery

if TYPE_CHECKING:
    from logpipe.config import Config
    from logpipe.engines.binding import Param


def _shipped_dir() -> Path:
    """The shipped ``queries/``: beside the package in a checkout (editable install), else the package
    data ``logpipe.shipped_queries`` (a folder without ``__init__.py``) that a wheel, a ``--user``
    install or the Docker image holds."""
    beside = Path(logpipe.__file__).resolve().parent.parent / "queries"
    if beside.is_dir():
        return beside
    try:
        spec = importlib.util.find_spec("logpipe.shipped_queries")
    except ModuleNotFoundError:
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    return Path(locations[0]) if locations else beside  # none: only [queries] dirs are searched


SHIPPED_DIR = _shipped_dir()

HEADER_KEYS = ("name", "description", "schedule", "window", "param", "metric", "alert")
_KEY_RE = re.compile(r"^--\s*(?P<key>[A-Za-z_]+)(?:\s+(?P<arg>[A-Za-z_][A-Za-z0-9_]*))?\s*:\s*(?P<value>.*)$")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_TYPE_RE = re.compile(r"^(?P<type>string|int|float|bool|timestamp|duration|enum|list)"
                      r"(?:\((?P<inner>[^()]*(?:\([^()]*\))?)\))?$")
_CRON_FIELD_RE = re.compile(r"^[\d*/,\-A-Za-z?]+$")
_METRIC_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]*$")
CLOUDWATCH_UNITS = {
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
    "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
    "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
    "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
}


class _HeaderError(Exception):
    pass


def split_options(text: str) -> list[tuple[str, str | None]]:
    """``int, default=20, description=Top N, by count`` -> [("int", None), ("default", "20"), ...].

    A comma starts a new option only when ``key=`` or a bare flag follows; otherwise it belongs to
    the value before it (so descriptions and lists may contain commas). Values may be "quoted".
    """
    options: list[tuple[str, str | None]] = []
    for part in text.split(","):
        stripped = part.strip()
        match = re.match(r"^([A-Za-z_]+)\s*=(.*)$", stripped, re.S)
        if match:
            options.append((match.group(1).lower(), match.group(2).strip()))
        elif options and (options[-1][1] is not None) and not re.match(r"^(required)$", stripped):
            key, value = options[-1]
            options[-1] = (key, f"{value},{part}")
        elif stripped:
            options.append((stripped, None))
    cleaned = []
    for key, value in options:
        if value is not None:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = json.loads(value)
        cleaned.append((key, value))
    return cleaned


def _parse_type(text: str) -> tuple[str, tuple[str, ...], str]:
    """``enum(a|b)`` -> ("enum", ("a","b"), "string"); ``list(int)`` -> ("list", (), "int")."""
    match = _TYPE_RE.match(text.replace(" ", ""))
    if not match:
        raise _HeaderError(f"unknown parameter type {text!r}: use string, int, float, bool, timestamp, "
                           "duration, enum(a|b|c), list or list(TYPE)")
    kind, inner = match["type"], match["inner"]
    if kind == "enum":
        choices = tuple(c for c in (inner or "").split("|") if c)
        if not choices:
            raise _HeaderError("enum needs its values: enum(a|b|c)")
        return "enum", choices, "string"
    if kind == "list":
        if not inner:
            return "list", (), "string"
        item, choices, _ = _parse_type(inner)
        if item == "list":
            raise _HeaderError("a list of lists is not supported")
        return "list", choices, item
    if inner is not None:
        raise _HeaderError(f"type {kind} takes no arguments")
    return kind, (), "string"


def _parse_param(name: str, value: str) -> Param:
    from logpipe.engines.binding import Param
    from logpipe.queries.params import coerce

    options = split_options(value)
    if not options or options[0][1] is not None:
        raise _HeaderError(f"param {name}: start with its type, like 'param {name}: int, default=20'")
    kind, choices, item = _parse_type(options[0][0])
    default: Any = None
    required = False
    description = ""
    has_default = False
    for key, val in options[1:]:
        if key == "default":
            has_default = True
            default = None if val in (None, "null", "") else val
        elif key.lower() == "required" and val is None:
            required = True
        elif key == "description":
            description = val or ""
        else:
            raise _HeaderError(f"param {name}: unknown option {key!r} (use default=, required, description=)")
    if required and has_default and default is not None:
        raise _HeaderError(f"param {name}: a required parameter has no default")
    param = Param(name=name, type=kind, default=None, required=False, description=description,  # type: ignore[arg-type]
                  choices=choices, item_type=item)  # type: ignore[arg-type]
    try:
        typed_default = coerce(param, default)
    except Exception as exc:
        raise _HeaderError(f"param {name}: default {default!r} is not valid: {exc}") from None
    return Param(name=name, type=param.type, default=typed_default, required=required,
                 description=description, choices=choices, item_type=param.item_type)


def _parse_metric(name: str, value: str) -> MetricSpec:
    if not _METRIC_NAME_RE.match(name):
        raise _HeaderError(f"metric name {name!r}: use letters, digits, '_', '.', '-'")
    options = dict(split_options(value))
    unknown = set(options) - {"column", "unit", "dimensions", "kind", "counts"}
    if unknown:
        raise _HeaderError(f"metric {name}: unknown option(s) {', '.join(sorted(unknown))} "
                           "(use column=, unit=, dimensions=, kind=, counts=)")
    column = options.get("column")
    if not column:
        raise _HeaderError(f"metric {name}: column= is required (the result column holding the value)")
    unit = options.get("unit") or "Count"
    if unit not in CLOUDWATCH_UNITS:
        raise _HeaderError(f"metric {name}: unit {unit!r} is not a CloudWatch unit (e.g. Count, Percent, Milliseconds)")
    kind = options.get("kind") or "gauge"
    if kind not in ("gauge", "distribution"):
        raise _HeaderError(f"metric {name}: kind must be gauge or distribution")
    dims = tuple(d.strip() for d in re.split(r"[,|\s]+", options.get("dimensions") or "") if d.strip())
    return MetricSpec(name=name, column=column, unit=unit, dimensions=dims, kind=kind,  # type: ignore[arg-type]
                      counts_column=options.get("counts") or None)


ALERT_OPS = (">=", "<=", ">", "<")
SEVERITIES = ("info", "warning", "critical")


def _parse_alert(name: str, value: str) -> AlertSpec:
    if not _NAME_RE.match(name):
        raise _HeaderError(f"alert name {name!r}: use lower case letters, digits and '_'")
    options = dict(split_options(value))
    unknown = set(options) - {"column", "op", "threshold", "for", "severity", "destinations"}
    if unknown:
        raise _HeaderError(f"alert {name}: unknown option(s) {', '.join(sorted(unknown))} "
                           "(use column=, op=, threshold=, for=, severity=, destinations=)")
    column, op = options.get("column"), (options.get("op") or "").strip()
    if not column:
        raise _HeaderError(f"alert {name}: column= is required (the result column to watch)")
    if op not in ALERT_OPS:
        raise _HeaderError(f"alert {name}: op={op or '(none)'} is not one of {' '.join(ALERT_OPS)}")
    try:
        threshold = float(options.get("threshold") or "")
    except ValueError:
        raise _HeaderError(f"alert {name}: threshold= must be a number (got {options.get('threshold')!r})") from None
    try:
        for_windows = int(options.get("for") or 1)
    except ValueError:
        raise _HeaderError(f"alert {name}: for= is a number of windows in a row (got {options.get('for')!r})") from None
    if not 1 <= for_windows <= 24:
        raise _HeaderError(f"alert {name}: for={for_windows}: use 1 to 24 windows in a row")
    severity = options.get("severity") or "warning"
    if severity not in SEVERITIES:
        raise _HeaderError(f"alert {name}: severity={severity} is not one of {', '.join(SEVERITIES)}")
    destinations = tuple(d.strip() for d in re.split(r"[|,\s]+", options.get("destinations") or "") if d.strip())
    return AlertSpec(name=name, column=column, op=op, threshold=threshold,  # type: ignore[arg-type]
                     for_windows=for_windows, severity=severity, destinations=destinations)  # type: ignore[arg-type]


def _check_schedule(value: str, checked: bool = False) -> str:
    value = " ".join(value.split())
    if value.startswith("every "):
        try:
            parse_duration(value.removeprefix("every "))
        except ValueError as exc:
            raise _HeaderError(f"schedule: {exc}") from None
        return value
    fields = value.split()
    if len(fields) != 5 or not all(_CRON_FIELD_RE.match(f) for f in fields):
        raise _HeaderError(f"schedule {value!r}: use a 5-field cron ('0 * * * *') or an interval ('every 15m')")
    if checked:  # this very text passed APScheduler's own check before (load_query_file)
        return value
    try:
        from apscheduler.triggers.cron import CronTrigger

        CronTrigger.from_crontab(value, timezone="UTC")
    except ValueError as exc:
        raise _HeaderError(f"schedule {value!r}: {exc}") from None
    return value


def parse_query_text(text: str, path: Path, checked: bool = False) -> SavedQuery:
    """A SavedQuery from a file's text; errors name ``path:line``.

    ``checked``: this exact text passed every check before (``load_query_file`` remembers that):
    the header is read again, but the SQL is not parsed (the query's ``tree`` is None, parsed when an
    engine needs it) and the schedule is not handed to APScheduler."""
    lines = text.splitlines()
    header: dict[str, Any] = {"params": [], "metrics": [], "alerts": []}
    header_lines = 0
    for index, raw in enumerate(lines):
        line = raw.strip()
        if not line:
            header_lines = index + 1
            continue
        if not line.startswith("--"):
            break
        header_lines = index + 1
        match = _KEY_RE.match(line)
        if not match:
            continue  # free comment text
        key, arg, value = match["key"].lower(), match["arg"], match["value"].strip()
        try:
            if key not in HEADER_KEYS:
                raise _HeaderError(f"unknown header key {key!r} (known: {', '.join(HEADER_KEYS)})")
            if key == "alert":
                if not arg:
                    raise _HeaderError("alert needs a name: '-- alert NAME: column=..., op=>, threshold=...'")
                if any(a.name == arg for _, a in header["alerts"]):
                    raise _HeaderError(f"alert {arg} is declared twice")
                header["alerts"].append((index, _parse_alert(arg, value)))
                continue
            if key in ("param", "metric"):
                if not arg:
                    raise _HeaderError(f"{key} needs a name: '-- {key} NAME: ...'")
                if key == "param":
                    if arg in RUNNER_PARAMS:
                        raise _HeaderError(f"param {arg}: the runner supplies it; do not declare it")
                    if any(p.name == arg for p in header["params"]):
                        raise _HeaderError(f"param {arg} is declared twice")
                    header["params"].append(_parse_param(arg, value))
                else:
                    header["metrics"].append(_parse_metric(arg, value))
                continue
            if arg:
                raise _HeaderError(f"'{key}' takes no name before the colon")
            if key in header:
                raise _HeaderError(f"'{key}' is given twice")
            if key == "name" and not _NAME_RE.match(value):
                raise _HeaderError(f"name {value!r}: use lower case letters, digits and '_'")
            if key == "schedule":
                value = _check_schedule(value, checked)
            if key == "window":
                try:
                    parse_duration(value)
                except ValueError as exc:
                    raise _HeaderError(f"window: {exc}") from None
            header[key] = value
        except _HeaderError as exc:
            raise QueryError(f"{path}:{index + 1}: {exc}") from None
    for key in ("name", "description"):
        if not header.get(key):
            raise QueryError(f"{path}:1: the header has no '-- {key}: ...' line")
    if header["name"] != path.stem:
        raise QueryError(f"{path}:1: name {header['name']!r} differs from the file name {path.stem!r}")
    metric_columns = {m.column for m in header["metrics"] if m.kind == "gauge"}
    for index, alert in header["alerts"]:
        if alert.column not in metric_columns:
            raise QueryError(f"{path}:{index + 1}: alert {alert.name} watches column {alert.column!r}, which no "
                             "gauge metric of this query holds: add '-- metric NAME: column="
                             f"{alert.column}' (the alert becomes a CloudWatch alarm on that metric)")
    if header["alerts"] and not header.get("schedule"):
        raise QueryError(f"{path}:1: alerts need a '-- schedule: ...' line: only scheduled queries are watched")
    body = "\n".join(lines[header_lines:]).strip().rstrip(";").strip()
    if not body:
        raise QueryError(f"{path}:{header_lines + 1}: no SQL after the header")
    tree = None if checked else _checked_tree(body, path, header_lines, lines, header["params"])
    return SavedQuery(
        name=header["name"], description=header["description"], sql=body, path=path,
        schedule=header.get("schedule"), window=header.get("window", "1h"),
        params=tuple(header["params"]), metrics=tuple(header["metrics"]), header_lines=header_lines,
        alerts=tuple(a for _, a in header["alerts"]),
        tree=tree,
    )


def _checked_tree(body: str, path: Path, header_lines: int, lines: list[str], params: list[Param]) -> Any:
    """The body parsed, checked read-only, every placeholder declared."""
    from logpipe.engines.parsing import parse, placeholders
    from logpipe.engines.sandbox import check_read_only

    tree = check_read_only(parse(body, source=str(path), line_offset=header_lines), source=str(path))
    declared = {p.name for p in params} | set(RUNNER_PARAMS)
    for name in placeholders(tree):
        if name not in declared:
            where = next((i + 1 for i, ln in enumerate(lines) if f":{name}" in ln and i >= header_lines),
                         header_lines + 1)
            raise QueryError(f"{path}:{where}: ':{name}' is not a declared parameter; add "
                             f"'-- param {name}: TYPE' to the header or use one the runner supplies "
                             f"({', '.join(RUNNER_PARAMS)})")
    return tree


# Saved queries already loaded in this process: path -> ((mtime_ns, size), query). The scheduler,
# detectors, digest and CLI all ask for queries by name many times per run; each file is read and
# parsed again only when it changed on disk (its mtime or size moved).
_LOADED: dict[Path, tuple[tuple[int, int], SavedQuery]] = {}
_LOADED_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def _checker_stamp() -> str:
    """What a file's "checked" verdict depends on beyond its text: this loader, the engines' parser
    and sandbox (in the translator's stamp) and APScheduler's version (the schedule check)."""
    from logpipe.engines.translation_cache import translator_stamp

    spec = importlib.util.find_spec("apscheduler")  # found without importing it
    apscheduler = os.stat(spec.origin).st_mtime_ns if spec is not None and spec.origin else 0
    return f"{translator_stamp()}:{os.stat(__file__).st_mtime_ns}:{apscheduler}"


def load_query_file(path: str | Path, cache_dir: str | None = None) -> SavedQuery:
    """The saved query of one file, parsed once per process while the file stays unchanged.

    With ``cache_dir`` (the store's cache folder) a file whose exact text passed every check before
    is not parsed again in a new process: a warm ``logpipe query run`` then imports neither sqlglot
    nor APScheduler when its DuckDB translation is remembered too (``BoundStatement`` parses the
    text if an engine needs the tree). The verdict is a file in the cache folder named by a hash of
    the path, the text and the checking code (``logpipe.engines.translation_cache``); the folder is
    trusted as the user's own, like the translations beside it."""
    path = Path(path)
    try:
        info = path.stat()
    except OSError as exc:
        raise QueryError(f"cannot read saved query {path}: {exc}") from exc
    stamp = (info.st_mtime_ns, info.st_size)
    with _LOADED_LOCK:
        cached = _LOADED.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise QueryError(f"cannot read saved query {path}: {exc}") from exc
    from logpipe.engines import translation_cache

    key = ["saved-query-checked", _checker_stamp(), str(path), text]
    checked = translation_cache.load(cache_dir, key) is True  # no cache folder: None
    query = parse_query_text(text, path, checked=checked)
    if not checked:
        translation_cache.save(cache_dir, key, True)  # no cache folder: nothing saved
    with _LOADED_LOCK:
        _LOADED[path] = (stamp, query)
    return query


def forget_loaded() -> None:
    """Drop the per-process cache of loaded queries (tests; a reload is otherwise driven by mtime)."""
    with _LOADED_LOCK:
        _LOADED.clear()


def query_dirs(config: Config) -> list[Path]:
    """The folders searched, in order: shipped queries first, then the config's ([queries] dirs)."""
    dirs = [SHIPPED_DIR] if config.queries.include_shipped else []
    for entry in config.queries.dirs:
        folder = Path(entry).expanduser()
        if not folder.is_dir():
            raise QueryError(f"[queries] dirs: {folder} is not a folder")
        dirs.append(folder)
    return dirs


def load_queries(config: Config) -> dict[str, SavedQuery]:
    """Every saved query by name; a later folder's query of the same name replaces a shipped one."""
    found: dict[str, SavedQuery] = {}
    for folder in query_dirs(config):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.sql")):
            query = load_query_file(path, config.store.cache_dir)
            found[query.name] = query
    return found


def get_query(config: Config, name: str) -> SavedQuery:
    """One saved query by name; an unknown name lists the close matches."""
    # A query's name is its file's stem (parse_query_text checks it), and a later folder's file
    # replaces a shipped one: the last folder holding NAME.sql answers, and only that file is parsed
    # (a run needs one query, not every file's SQL parsed).
    if name and "/" not in name and "\\" not in name and not name.startswith("."):
        for folder in reversed(query_dirs(config)):
            path = folder / f"{name}.sql"
            if path.is_file():
                return load_query_file(path, config.store.cache_dir)
    queries = load_queries(config)
    if name in queries:
        return queries[name]
    import difflib

    close = difflib.get_close_matches(name, list(queries), n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(sorted(queries)) or 'none'}"
    raise UsageError(f"no saved query named '{name}': {hint} (see 'logpipe query list')")
