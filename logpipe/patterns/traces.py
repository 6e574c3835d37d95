"""Stack-trace grouping: exception type + message template + top frames.

Why not group a trace by its whole text: line numbers, addresses, thread names and the depth of
framework frames change between deploys and requests while the error is the same. Sentry and
Datadog Error Tracking group by the exception type, the (masked) message and the top few *frames*
(function identity, not line numbers); we do the same, for Java/Kotlin/Scala, .NET, Python and Go.

``stack_trace_key(text)`` returns ``(grouping key, display template)`` or ``None`` when the text
is not a recognisable stack trace (then the caller mines it like any other message).
"""

from __future__ import annotations

import re

from logpipe.patterns.masking import mask

_DIGITS = re.compile(r"[0-9]+")

TOP_FRAMES = 3
"""How many innermost application frames take part in the key (Sentry uses the in-app frames)."""

# Java / Kotlin / Scala:   "\tat com.acme.Foo.bar(Foo.java:42)"
_JAVA_FRAME = re.compile(r"^\s+at\s+([\w$.<>/]+)\(([^)]*)\)", re.M)
# The header: "Exception in thread "main" java.lang.IllegalStateException: msg" or "pkg.FooError: msg"
_JAVA_HEAD = re.compile(
    r"^(?:Exception in thread \"[^\"]*\"\s+)?((?:[a-zA-Z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error|Throwable|Fault)[\w$]*)"
    r"(?::\s?(.*))?$", re.M)
# .NET:  "   at Acme.Orders.Service.Place(Order o) in C:\src\Service.cs:line 42"
_DOTNET_FRAME = re.compile(r"^\s+at\s+([\w.`<>+\[\]]+)\(", re.M)
# Python
_PY_HEAD = "Traceback (most recent call last):"
_PY_FRAME = re.compile(r'^\s+File "([^"]+)", line \d+, in (\S+)', re.M)
_PY_LAST = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Warning|Exit|Interrupt|Iteration)\w*|[A-Z]\w*)(?::\s?(.*))?$")
# Go
_GO_PANIC = re.compile(r"^panic:\s?(.*)$", re.M)
_GO_FRAME = re.compile(r"^([\w./*()-]+\.[\w*()]+)\(.*\)$", re.M)


def _clean_frame(frame: str) -> str:
    # Generated names carry counters/hashes ($$Lambda$12/0x3f, anonymous classes $1): drop them.
    frame = re.sub(r"\$\$Lambda\$[^.(]*", "$$Lambda", frame)
    return re.sub(r"\$\d+", "$", frame)


def _key(kind: str, exc_type: str, message: str, frames: list[str]) -> tuple[str, str]:
    template = mask(message.strip()) if message else ""
    top = [_clean_frame(f) for f in frames[:TOP_FRAMES]]
    # Generated frames carry counters (GeneratedMethodAccessor12, $Proxy45): digits never decide.
    key = "\x1f".join([kind, exc_type, template, *(_DIGITS.sub("0", f) for f in top)])
    display = f"{exc_type}: {template}" if template else exc_type
    if top:
        display += f" at {top[0]}"
    return key, display


def _python(text: str) -> tuple[str, str] | None:
    frames = [f"{path.rsplit('/', 1)[-1]}:{func}" for path, func in _PY_FRAME.findall(text)]
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    if not lines:
        return None
    last = _PY_LAST.match(lines[-1].strip())
    if not last:
        return None
    # Python prints the innermost frame last.
    return _key("python", last.group(1), last.group(2) or "", frames[::-1])


def _java_or_dotnet(text: str) -> tuple[str, str] | None:
    java_frames = [f"{m.group(1)}" for m in _JAVA_FRAME.finditer(text) if ".java" in m.group(2)
                   or ".kt" in m.group(2) or ".scala" in m.group(2) or "Native Method" in m.group(2)
                   or "Unknown Source" in m.group(2)]
    head = _JAVA_HEAD.search(text)
    if head and java_frames:
        return _key("java", head.group(1), head.group(2) or "", java_frames)
    dotnet_frames = _DOTNET_FRAME.findall(text)
    if head and dotnet_frames:
        return _key("dotnet", head.group(1), head.group(2) or "", dotnet_frames)
    return None


def _go(text: str) -> tuple[str, str] | None:
    panic = _GO_PANIC.search(text)
    if not panic or "goroutine " not in text:
        return None
    frames = [f for f in _GO_FRAME.findall(text) if not f.startswith(("runtime.", "panic("))]
    message = panic.group(1)
    exc_type = "panic"
    typed = re.match(r"^(runtime error|[\w.*]+Error):\s?(.*)$", message)
    if typed:
        exc_type, message = f"panic: {typed.group(1)}", typed.group(2)
    return _key("go", exc_type, message, frames)


def stack_trace_key(record_text: str) -> tuple[str, str] | None:
    """The grouping key and a display template for a multi-line stack trace, else ``None``."""
    if "\n" not in record_text:
        return None
    if _PY_HEAD in record_text:
        return _python(record_text)
    if "goroutine " in record_text and "panic:" in record_text:
        return _go(record_text)
    if "at " in record_text:
        return _java_or_dotnet(record_text)
    return None
