"""Trino's URL functions on DuckDB: java.net.URI's parse (logpipe.engines.duckdb_macros URL_MACROS).

Trino answers NULL for every part of a text java.net.URI rejects (``http://example.com/^``), '' for a
part the URL lacks (no query, no host of a ``mailto:``), and no host for an authority that is not a
server name (``http://exa_mple.com/``); the macros follow the same grammar with RE2 patterns.
"""

from __future__ import annotations

from logpipe.engines.trino import types as tt
from logpipe.engines.trino.compiler import Call, Compiler, Typed, rewrite
from logpipe.engines.trino.helpers import fn
from logpipe.engines.trino.strings import strings

# Spelled out, so that tests/conformance/test_translation_safety.py can check each macro exists.
_URL_PART_MACROS = {"url_extract_protocol": "lp_url_protocol", "url_extract_host": "lp_url_host",
                    "url_extract_path": "lp_url_path", "url_extract_query": "lp_url_query",
                    "url_extract_fragment": "lp_url_fragment"}


@rewrite("url_extract_protocol", "url_extract_host", "url_extract_path", "url_extract_query",
         "url_extract_fragment")
def _url_part(c: Compiler, call: Call) -> Typed:
    (url,) = strings(c, call, 1)
    return Typed(fn(_URL_PART_MACROS[call.name], url), tt.VARCHAR)


@rewrite("url_extract_port")
def _url_port(c: Compiler, call: Call) -> Typed:
    (url,) = strings(c, call, 1)
    return Typed(fn("lp_url_port", url), tt.BIGINT)


@rewrite("url_extract_parameter")
def _url_parameter(c: Compiler, call: Call) -> Typed:
    url, name = strings(c, call, 2)
    return Typed(fn("lp_url_parameter", url, name), tt.VARCHAR)


@rewrite("url_encode")
def _url_encode(c: Compiler, call: Call) -> Typed:
    (s,) = strings(c, call, 1)
    return Typed(fn("lp_url_encode", s), tt.VARCHAR)


@rewrite("url_decode")
def _url_decode(c: Compiler, call: Call) -> Typed:
    (s,) = strings(c, call, 1)
    return Typed(fn("lp_url_decode", s, c.flag()), tt.VARCHAR)
