"""Which Fluent Bit runs in the router image, and which rendered keys that version accepts.

Why: Fluent Bit refuses an unknown key at start-up, so a key newer than the image's Fluent Bit stops
the router and with it every task (``simple_aggregation On`` on ``aws-for-fluent-bit:stable``, which
stays on Fluent Bit 1.9.10). The version is taken from the image tag where the tag names an
``aws-for-fluent-bit`` release, or from ``[firelens] fluent_bit_version``; rendering for an older
version leaves out what it cannot take and says so.

Sources for the table (aws/aws-for-fluent-bit release notes, CHANGELOG.md and release pull requests):
2.31.x-2.34.x ship Fluent Bit 1.9.10 (and ``stable`` stays on that line), 2.28.x ship 1.9.9,
3.0.1 ships 4.1.1 (#1037), 3.0.2 and 3.1.1 ship 4.2.0 (#1043, #1049), 3.2.1 ships 4.2.2 and is the
first release published under the ``3`` tag (#1069).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from logpipe.errors import ConfigError

IMAGE_REPOSITORY = "public.ecr.aws/aws-observability/aws-for-fluent-bit"
PINNED_RELEASE = "3.2.1"
DEFAULT_ROUTER_IMAGE = f"{IMAGE_REPOSITORY}:{PINNED_RELEASE}"

# The oldest Fluent Bit the pipeline works on: the multiline filter's partial_message mode (the
# 16 KB rejoin) came in Fluent Bit 1.9.3 (fluent/fluent-bit#4671, aws-for-fluent-bit 2.24.0).
MIN_FLUENT_BIT = (1, 9, 3)

# aws-for-fluent-bit release (major, minor, patch) -> Fluent Bit it ships.
_RELEASES: dict[tuple[int, int, int], tuple[int, int, int]] = {
    (3, 2, 1): (4, 2, 2),
    (3, 1, 1): (4, 2, 0),
    (3, 0, 2): (4, 2, 0),
    (3, 0, 1): (4, 1, 1),
}
# Whole 2.x minor lines that ship one Fluent Bit.
_LINES: dict[tuple[int, int], tuple[int, int, int]] = {
    **{(2, minor): (1, 9, 10) for minor in (31, 32, 33, 34)},
    (2, 28): (1, 9, 9),
    (2, 24): (1, 9, 3),
}
# Floating tags: what they point at, as far as the release notes say.
_FLOATING: dict[str, tuple[tuple[int, int, int], str]] = {
    "stable": ((1, 9, 10), "'stable' stays on the 2.x line (Fluent Bit 1.9.10)"),
    "3": ((4, 2, 2), "'3' floats with the 3.x line (first published at 3.2.1, Fluent Bit 4.2.2); pin a "
                     "release tag so a new Fluent Bit cannot arrive unannounced"),
}

_TAG_RE = re.compile(r"^(?:init-|debug-)?(\d+)\.(\d+)\.(\d+)(?:\.\d+)?$")
_VERSION_RE = re.compile(r"^\s*(\d+)\.(\d+)(?:\.(\d+))?\s*$")


def parse_version(text: str) -> tuple[int, int, int]:
    match = _VERSION_RE.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a Fluent Bit version: write it like 4.2.2")
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def format_version(version: tuple[int, int, int]) -> str:
    return ".".join(str(part) for part in version)


@dataclass(frozen=True)
class ResolvedVersion:
    version: tuple[int, int, int]
    source: str  # how it was decided, for the rendered header and the warnings
    warnings: tuple[str, ...] = ()


def version_from_image(image: str) -> tuple[tuple[int, int, int], str, tuple[str, ...]] | None:
    """The Fluent Bit inside an ``aws-for-fluent-bit`` image, from its tag; None when unknown."""
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag or not name.endswith("aws-for-fluent-bit"):
        return None
    if tag in _FLOATING:
        version, note = _FLOATING[tag]
        return version, f"image tag {tag!r}", (f"router_image uses the floating tag: {note}",)
    match = _TAG_RE.match(tag)
    if not match:
        return None
    release = (int(match.group(1)), int(match.group(2)), int(match.group(3)))
    if release in _RELEASES:
        return _RELEASES[release], f"aws-for-fluent-bit {format_version(release)}", ()
    if release[:2] in _LINES:
        return _LINES[release[:2]], f"aws-for-fluent-bit {format_version(release)}", ()
    return None


def resolve(image: str, configured: str | None) -> ResolvedVersion:
    """``[firelens] fluent_bit_version`` when set, else the image tag; a clear error otherwise."""
    from_image = version_from_image(image)
    warnings: list[str] = []
    if configured:
        version = parse_version(configured)
        source = "[firelens] fluent_bit_version"
        if from_image and from_image[0] != version:
            warnings.append(f"fluent_bit_version {format_version(version)} differs from "
                            f"{format_version(from_image[0])}, which {image} ships: rendering for "
                            f"{format_version(version)} as configured")
    elif from_image:
        version, source, notes = from_image
        warnings.extend(notes)
    else:
        raise ConfigError(
            f"firelens: cannot tell which Fluent Bit runs in router_image {image!r}: set "
            f"[firelens] fluent_bit_version (for example \"4.2.2\" for an image built FROM "
            f"{DEFAULT_ROUTER_IMAGE})")
    if version < MIN_FLUENT_BIT:
        raise ConfigError(
            f"firelens: Fluent Bit {format_version(version)} ({source}) is older than "
            f"{format_version(MIN_FLUENT_BIT)}, the first with the multiline filter's partial_message "
            f"mode this router needs: use {DEFAULT_ROUTER_IMAGE}")
    return ResolvedVersion(version, source, tuple(warnings))


@dataclass(frozen=True)
class GatedKey:
    """A rendered key that only newer Fluent Bit accepts, and what is lost without it."""

    plugin: str
    key: str
    since: tuple[int, int, int]
    source: str
    without: str


GATED_KEYS: tuple[GatedKey, ...] = (
    GatedKey("kinesis_firehose", "simple_aggregation", (4, 2, 2),
             "fluent/fluent-bit#11284, released in Fluent Bit 4.2.2",
             "every log line is its own Firehose record, billed rounded up to 5 KB"),
)


def gate(plugin: str, key: str) -> GatedKey | None:
    for gated in GATED_KEYS:
        if gated.plugin == plugin.lower() and gated.key == key.lower():
            return gated
    return None
