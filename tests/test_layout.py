"""The storage layout: one definition that the store, Firehose's prefix and Glue's projection share.

The Firehose and Glue checks render the AWS templates with our own small renderer (moto keeps
Firehose's ``!{timestamp:..}`` literal and Glue's projection is never evaluated locally) and compare
them with ``partition_dir``: if either drifts from the layout, these fail.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logpipe.layout import Layout, Partition, floor_hour, hours_in_window, partition_bounds

D = datetime


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# -- windows -------------------------------------------------------------------------------------------

def test_partition_dirs_for_a_window_crossing_midnight() -> None:
    layout = Layout("logs")
    assert layout.partition_dirs(at("2026-11-25T22:30:00"), at("2026-11-26T01:15:00")) == [
        "logs/dt=2026-11-25/hour=22",
        "logs/dt=2026-11-25/hour=23",
        "logs/dt=2026-11-26/hour=00",
        "logs/dt=2026-11-26/hour=01",
    ]


def test_partition_dirs_cross_a_year_and_a_leap_day() -> None:
    layout = Layout("ecs/logs")
    assert layout.partition_dirs(at("2027-12-31T23:00:00"), at("2028-01-01T01:00:00")) == [
        "ecs/logs/dt=2027-12-31/hour=23", "ecs/logs/dt=2028-01-01/hour=00"]
    assert layout.partition_dir(at("2028-02-29T13:59:59.999999")) == "ecs/logs/dt=2028-02-29/hour=13"


@pytest.mark.parametrize(("start", "end", "hours"), [
    ("2026-11-26T10:00:00", "2026-11-26T12:00:00", ["10", "11"]),  # end is exclusive
    ("2026-11-26T10:00:00", "2026-11-26T12:00:00.000001", ["10", "11", "12"]),
    ("2026-11-26T10:59:59", "2026-11-26T11:00:00", ["10"]),  # one second still needs its hour
    ("2026-11-26T10:30:00", "2026-11-26T10:30:00", []),  # empty window
    ("2026-11-26T11:00:00", "2026-11-26T10:00:00", []),  # reversed window
    ("2026-11-26T10:15:00", "2026-11-26T10:45:00", ["10"]),
])
def test_hours_in_window_edges(start: str, end: str, hours: list[str]) -> None:
    assert [h.strftime("%H") for h in hours_in_window(at(start), at(end))] == hours


def test_hours_in_window_is_in_utc_whatever_the_input_zone() -> None:
    plus2 = timezone(timedelta(hours=2))
    hours = hours_in_window(datetime(2026, 11, 26, 1, 30, tzinfo=plus2), datetime(2026, 11, 26, 2, 30, tzinfo=plus2))
    assert hours == [at("2026-11-25T23:00:00"), at("2026-11-26T00:00:00")]
    assert all(h.tzinfo == UTC for h in hours)
    # Naive datetimes are taken as UTC.
    assert hours_in_window(D(2026, 11, 26, 5), D(2026, 11, 26, 6)) == [at("2026-11-26T05:00:00")]


def test_a_day_has_24_hours_and_a_week_168() -> None:
    assert len(hours_in_window(at("2026-03-29T00:00:00"), at("2026-03-30T00:00:00"))) == 24  # no DST in UTC
    assert len(hours_in_window(at("2026-11-20T00:00:00"), at("2026-11-27T00:00:00"))) == 168


# -- partition bounds ------------------------------------------------------------------------------------

def test_partition_bounds_across_midnight_with_exclusive_end() -> None:
    bounds = partition_bounds(at("2026-11-25T22:30:00"), at("2026-11-26T02:00:00"))
    assert (bounds.dt_start, bounds.dt_end) == ("2026-11-25", "2026-11-26")
    assert (bounds.dthour_start, bounds.dthour_end) == ("2026-11-2522", "2026-11-2601")


def test_partition_bounds_of_a_sub_hour_and_an_empty_window() -> None:
    bounds = partition_bounds(at("2026-11-26T10:10:00"), at("2026-11-26T10:20:00"))
    assert bounds.dthour_start == bounds.dthour_end == "2026-11-2610"
    empty = partition_bounds(at("2026-11-26T10:00:00"), at("2026-11-26T10:00:00"))
    assert empty.dthour_start == empty.dthour_end == "2026-11-2610"


@given(st.datetimes(min_value=D(2000, 1, 1), max_value=D(2099, 12, 31)), st.integers(1, 24 * 40))
def test_partition_bounds_match_the_hours_of_the_window(start: datetime, minutes_times_7: int) -> None:
    start = start.replace(tzinfo=UTC)
    end = start + timedelta(minutes=7 * minutes_times_7)
    hours = hours_in_window(start, end)
    bounds = partition_bounds(start, end)
    dthours = [h.strftime("%Y-%m-%d%H") for h in hours]
    assert (bounds.dthour_start, bounds.dthour_end) == (dthours[0], dthours[-1])
    assert (bounds.dt_start, bounds.dt_end) == (hours[0].strftime("%Y-%m-%d"), hours[-1].strftime("%Y-%m-%d"))
    # The string comparison the saved queries do selects exactly these hours.
    assert dthours == sorted(dthours)


# -- keys ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("service", [None, "checkout-api"])
def test_parse_key_roundtrip(service: str | None) -> None:
    layout = Layout("logs", service_partition=service is not None)
    moment = at("2026-11-26T07:42:13")
    key = layout.object_key(moment, stream="logpipe-logs", service=service, seq=3)
    svc = f"service={service}/" if service else ""
    assert key == f"logs/{svc}dt=2026-11-26/hour=07/logpipe-logs-1-2026-11-26-07-42-13-00000003.gz"
    partition, name = layout.parse_key(key)
    assert partition == Partition(at("2026-11-26T07:00:00"), service)
    assert (partition.dt, partition.hour_text) == ("2026-11-26", "07")
    assert key == f"{layout.partition_dir(moment, service)}/{name}"


@given(st.datetimes(min_value=D(2000, 1, 1), max_value=D(2099, 12, 31)),
       st.one_of(st.none(), st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True)),
       st.sampled_from(["logs", "ecs/logs", "a/b/c"]))
def test_parse_key_roundtrip_property(moment: datetime, service: str | None, prefix: str) -> None:
    layout = Layout(prefix, service_partition=service is not None)
    key = layout.object_key(moment, service=service)
    parsed = layout.parse_key(key)
    assert parsed is not None
    assert parsed[0] == Partition(floor_hour(moment), service)


@pytest.mark.parametrize("key", [
    "other/dt=2026-11-26/hour=07/x.gz",  # another prefix
    "logs-errors/dt=2026-11-26/hour=07/x.gz",  # a prefix that merely starts the same
    "logs/dt=2026-11-26/hour=7/x.gz",  # hour not two digits
    "logs/dt=2026-11-26/x.gz",  # no hour level
    "logs/dt=2026-11-26/hour=07/",  # a folder, not an object
    "logs/2026/11/26/07/x.gz",  # Firehose's default layout (as moto writes it)
])
def test_parse_key_rejects_keys_outside_the_layout(key: str) -> None:
    assert Layout("logs").parse_key(key) is None


def test_glob_matches_the_objects_written_in_the_layout(tmp_path: Path) -> None:
    for layout, service in ((Layout("logs"), None), (Layout("logs", service_partition=True), "web")):
        root = tmp_path / str(service)
        key = layout.object_key(at("2026-11-26T07:00:00"), service=service)
        (root / key).parent.mkdir(parents=True)
        (root / key).write_bytes(b"")
        (root / layout.prefix / "stray.gz").write_bytes(b"")
        assert [p.relative_to(root).as_posix() for p in root.glob(layout.glob())] == [key]


# -- the same layout as Firehose and Glue describe it --------------------------------------------------------

# Java DateTimeFormatter letters Firehose uses, as strftime directives.
_JAVA_TO_STRFTIME = {"yyyy": "%Y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}


def java_to_strftime(pattern: str) -> str:
    out, rest = "", pattern
    while rest:
        for token, directive in _JAVA_TO_STRFTIME.items():
            if rest.startswith(token):
                out, rest = out + directive, rest[len(token):]
                break
        else:
            if rest[0].isalpha():
                raise AssertionError(f"Java date letter {rest[0]!r} in {pattern!r} has no strftime mapping here")
            out, rest = out + rest[0], rest[1:]
    return out


def render_firehose_prefix(prefix: str, moment: datetime, partition_keys: dict[str, str]) -> str:
    """What Firehose does with ``!{timestamp:..}`` and ``!{partitionKeyFromQuery:..}`` (UTC)."""
    def namespace(match: re.Match[str]) -> str:
        kind, arg = match["kind"], match["arg"]
        if kind == "timestamp":
            return moment.strftime(java_to_strftime(arg))
        if kind == "partitionKeyFromQuery":
            return partition_keys[arg]
        raise AssertionError(f"unexpected namespace !{{{kind}:{arg}}}")

    rendered = re.sub(r"!\{(?P<kind>[A-Za-z]+):(?P<arg>[^}]+)\}", namespace, prefix)
    assert "!{" not in rendered
    return rendered


@pytest.mark.parametrize("service", [None, "billing"])
@pytest.mark.parametrize("moment", ["2026-11-26T00:00:00", "2026-11-26T23:59:59", "2028-02-29T09:05:00"])
def test_firehose_prefix_renders_to_partition_dir(service: str | None, moment: str) -> None:
    layout = Layout("ecs/logs", service_partition=service is not None)
    rendered = render_firehose_prefix(layout.firehose_prefix(), at(moment), {"service": service or ""})
    assert rendered == layout.partition_dir(at(moment), service) + "/"
    # And Firehose's object names under it parse back into the same partition.
    assert layout.parse_key(rendered + "logpipe-logs-1-2026-11-26-00-00-00-abc.gz")[0] == Partition(
        floor_hour(at(moment)), service)


def test_firehose_error_prefix_stays_outside_the_layout() -> None:
    layout = Layout("logs")
    rendered = render_firehose_prefix(
        layout.firehose_error_prefix().replace("!{firehose:error-output-type}", "processing-failed"),
        at("2026-11-26T07:00:00"), {})
    assert layout.parse_key(rendered + "x.gz") is None


def render_glue_location(params: dict[str, str], moment: datetime, service: str | None) -> str:
    """Glue partition projection: each ``${key}`` from its projection settings."""
    assert params["projection.enabled"] == "true"
    values: dict[str, str] = {}
    assert params["projection.dt.type"] == "date"
    values["dt"] = moment.strftime(java_to_strftime(params["projection.dt.format"]))
    assert params["projection.hour.type"] == "integer"
    low, high = map(int, params["projection.hour.range"].split(","))
    assert (low, high) == (0, 23)
    values["hour"] = str(moment.hour).zfill(int(params["projection.hour.digits"]))
    if service is not None:
        assert params["projection.service.type"] == "injected"
        values["service"] = service
    template = params["storage.location.template"]
    keys = re.findall(r"\$\{(\w+)\}", template)
    assert set(keys) == set(values), (keys, values)
    return re.sub(r"\$\{(\w+)\}", lambda m: values[m[1]], template)


@pytest.mark.parametrize("service", [None, "billing"])
@pytest.mark.parametrize("moment", ["2026-11-26T00:59:00", "2026-12-31T23:00:00"])
def test_glue_projection_renders_to_partition_dir(service: str | None, moment: str) -> None:
    layout = Layout("ecs/logs", service_partition=service is not None)
    params = layout.glue_projection("my-bucket")
    location = render_glue_location(params, at(moment), service)
    assert location == f"s3://my-bucket/{layout.partition_dir(at(moment), service)}/"
    assert layout.partition_keys() == (["service"] if service else []) + ["dt", "hour"]


def test_java_to_strftime_refuses_letters_it_does_not_know() -> None:
    assert java_to_strftime("yyyy-MM-dd/HH") == "%Y-%m-%d/%H"
    with pytest.raises(AssertionError):
        java_to_strftime("YYYY")  # week-based year: a classic Firehose mistake


@pytest.mark.parametrize(("dt", "hour"), [
    ("2026-01-05", "07"), ("2024-02-29", "23"), ("2023-02-29", "00"), ("2026-13-01", "00"), ("2026-00-10", "00"),
    ("2026-04-31", "00"), ("2026-04-00", "00"), ("2026-01-05", "24"), ("2026-01-05", "99"), ("0000-01-01", "00"),
    ("2026-1\u0662-05", "00"), ("\u0662\u0660\u0662\u0666-01-05", "00"), ("2026-01-05", "\u0660\u0663"),
])
def test_a_partition_hour_is_what_strptime_reads_in_its_names(dt: str, hour: str) -> None:
    """The listing reads ``dt=``/``hour=`` names with ``int`` (ASCII digits) and must agree with strptime,
    which it used before, on every name the partition patterns let through (non-ASCII digits included)."""
    from logpipe.layout import _partition_hour

    try:
        expected: datetime | None = datetime.strptime(f"{dt} {hour}", "%Y-%m-%d %H").replace(tzinfo=UTC)
    except ValueError:
        expected = None
    _partition_hour.cache_clear()
    assert _partition_hour(dt, hour) == expected
    layout = Layout("logs")
    parsed = layout.parse_key(f"logs/dt={dt}/hour={hour}/x.gz")
    assert (parsed[0].hour if parsed else None) == (expected if re.fullmatch(r"\d{4}-\d{2}-\d{2}", dt) else None)
    made = layout.parse_compacted_key(f"logs-parquet/dt={dt}/hour={hour}/{dt}-{hour}-0123456789abcdef.parquet")
    assert (made[0] if made else None) == (expected if re.fullmatch(r"\d{4}-\d{2}-\d{2}", dt) else None)
