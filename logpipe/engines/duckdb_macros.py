"""Trino functions DuckDB lacks or answers differently, as DuckDB macros created once per connection.

The rewrite table (logpipe.engines.transpile) turns a Trino call into a call of one of these macros;
each macro holds Trino's semantics in DuckDB SQL and is inlined where it is called, so it runs at
DuckDB's speed. A macro that raises Trino's error takes a last ``safe`` argument: under Trino's
``try()`` and ``TRY_CAST`` the same macro gives NULL instead (DuckDB's own ``try()`` cannot wrap an
``error()`` call). Where a *value* cannot be answered the way Trino does (a timestamp text carrying a
zone other than UTC), a macro raises ``error(...)`` with the words "runs on Athena only" - safe or not:
a refusal is never turned into a NULL.

Macro names start with ``lp_``. ``MACROS`` is ordered so that a macro is defined after the ones it uses.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any

ATHENA_ONLY = "runs on Athena only"


def _refusal(construct: str, why: str) -> str:
    text = f"{construct}: {why}; {ATHENA_ONLY}".replace("'", "''")
    return f"error('{text}')"


def _q(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


# ISO 8601 as Trino's from_iso8601_timestamp reads it: groups 1-8 are year, month, day, hour, minute,
# second, fraction, offset.
ISO_TIMESTAMP = (r"([0-9]{4})(?:-([0-9]{1,2})(?:-([0-9]{1,2}))?)?"
                 r"(?:T([0-9]{2})(?::?([0-9]{2})(?::?([0-9]{2})(?:[.,]([0-9]+))?)?)?(Z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?")

# Trino's whitespace for trim/ltrim/rtrim: Java's Character.isWhitespace (not the no-break spaces).
WHITESPACE_CLASS = r"[\t\n\x{0B}\f\r\x{1C}-\x{1F} \x{1680}\x{2000}-\x{2006}\x{2008}-\x{200A}\x{2028}\x{2029}\x{205F}\x{3000}]"

MACROS: tuple[str, ...] = (
    # -- errors ------------------------------------------------------------------------------------
    "CREATE OR REPLACE TEMP MACRO lp_fail(safe, message) AS CASE WHEN safe THEN NULL ELSE error(message) END",
    # -- integers: Trino's overflow errors ("integer addition overflow: 2147483647 + 1") ---------------
    """CREATE OR REPLACE TEMP MACRO lp_int_checked(r, lo, hi, x, y, what, op, safe) AS CASE WHEN r IS NULL THEN NULL
       WHEN r < lo OR r > hi THEN lp_fail(safe, what || CAST(x AS VARCHAR) || op || CAST(y AS VARCHAR)) ELSE r END""",
    """CREATE OR REPLACE TEMP MACRO lp_int_addition_checked(x, y, lo, hi, what, safe) AS list_transform([{'x': x, 'y': y}],
       lambda s: CASE WHEN s.x + s.y IS NULL THEN NULL WHEN s.x + s.y < lo OR s.x + s.y > hi
       THEN lp_fail(safe, what || CAST(s.x AS VARCHAR) || ' + ' || CAST(s.y AS VARCHAR)) ELSE s.x + s.y END)[1]""",
    """CREATE OR REPLACE TEMP MACRO lp_int_subtraction_checked(x, y, lo, hi, what, safe) AS list_transform([{'x': x, 'y': y}],
       lambda s: CASE WHEN s.x - s.y IS NULL THEN NULL WHEN s.x - s.y < lo OR s.x - s.y > hi
       THEN lp_fail(safe, what || CAST(s.x AS VARCHAR) || ' - ' || CAST(s.y AS VARCHAR)) ELSE s.x - s.y END)[1]""",
    """CREATE OR REPLACE TEMP MACRO lp_int_multiplication_checked(x, y, lo, hi, what, safe) AS list_transform([{'x': x, 'y': y}],
       lambda s: CASE WHEN s.x * s.y IS NULL THEN NULL WHEN s.x * s.y < lo OR s.x * s.y > hi
       THEN lp_fail(safe, what || CAST(s.x AS VARCHAR) || ' * ' || CAST(s.y AS VARCHAR)) ELSE s.x * s.y END)[1]""",
    # -- decimals: exact division and modulus on unscaled integers, rounding half away from zero --------
    "CREATE OR REPLACE TEMP MACRO lp_pow10(n) AS CAST('1' || repeat('0', CAST(n AS BIGINT)) AS HUGEINT)",
    "CREATE OR REPLACE TEMP MACRO lp_unscaled(x) AS CAST(replace(CAST(x AS VARCHAR), '.', '') AS HUGEINT)",
    # The decimal text of an unscaled integer q with scale s ('-0.05' for q = -5, s = 2).
    "CREATE OR REPLACE TEMP MACRO lp_digits(q, s) AS lpad(CAST(abs(q) AS VARCHAR), CAST(greatest(length(CAST(abs(q) AS VARCHAR)), s + 1) AS INTEGER), '0')",
    """CREATE OR REPLACE TEMP MACRO lp_unscaled_text(q, s) AS CASE WHEN q IS NULL THEN NULL WHEN s = 0 THEN CAST(q AS VARCHAR)
       ELSE (CASE WHEN q < 0 THEN '-' ELSE '' END) || left(lp_digits(q, s), length(lp_digits(q, s)) - s)
            || '.' || right(lp_digits(q, s), s) END""",
    # HUGEINT holds 38 digits; Trino computes decimal division with 256-bit intermediates.
    "CREATE OR REPLACE TEMP MACRO lp_ndigits(q) AS length(CAST(abs(q) AS VARCHAR))",
    """CREATE OR REPLACE TEMP MACRO lp_div_half_up(num, den) AS
       (num // den) + CASE WHEN 2 * abs(num % den) >= abs(den) THEN sign(num) * sign(den) ELSE 0 END""",
    f"""CREATE OR REPLACE TEMP MACRO lp_dec_div(ua, s1, ub, s2, s, safe) AS CASE
       WHEN ua IS NULL OR ub IS NULL THEN NULL WHEN ub = 0 THEN lp_fail(safe, 'Division by zero')
       WHEN lp_ndigits(ua) + s2 + s > 38 OR lp_ndigits(ub) + s1 > 38
       THEN {_refusal("decimal division", "the operands need more than 38 digits")}
       ELSE lp_unscaled_text(lp_div_half_up(ua * lp_pow10(s2 + s), ub * lp_pow10(s1)), s) END""",
    f"""CREATE OR REPLACE TEMP MACRO lp_dec_mod(ua, s1, ub, s2, s, safe) AS CASE
       WHEN ua IS NULL OR ub IS NULL THEN NULL WHEN ub = 0 THEN lp_fail(safe, 'Division by zero')
       WHEN lp_ndigits(ua) + s - s1 > 38 OR lp_ndigits(ub) + s - s2 > 38
       THEN {_refusal("decimal modulus", "the operands need more than 38 digits")}
       ELSE lp_unscaled_text((ua * lp_pow10(s - s1)) % (ub * lp_pow10(s - s2)), s) END""",
    "CREATE OR REPLACE TEMP MACRO lp_dec_mul(ua, ub, s) AS lp_unscaled_text(ua * ub, s)",
    # -- doubles printed the way Trino (and Java) print them ------------------------------------------
    # The shortest digits DuckDB prints, as (digits without sign or point, decimal exponent).
    """CREATE OR REPLACE TEMP MACRO lp_sci_parts(t) AS CASE
       WHEN contains(t, 'e') THEN {'digits': replace(split_part(ltrim(t, '-'), 'e', 1), '.', ''),
            'exp': CAST(split_part(t, 'e', 2) AS INTEGER)}
       WHEN ltrim(split_part(ltrim(t, '-'), '.', 1), '0') <> '' THEN
            {'digits': ltrim(split_part(ltrim(t, '-'), '.', 1), '0') || split_part(ltrim(t, '-'), '.', 2),
             'exp': length(ltrim(split_part(ltrim(t, '-'), '.', 1), '0')) - 1}
       ELSE {'digits': ltrim(split_part(ltrim(t, '-'), '.', 2), '0'),
             'exp': -(length(split_part(ltrim(t, '-'), '.', 2)) - length(ltrim(split_part(ltrim(t, '-'), '.', 2), '0')) + 1)} END""",
    """CREATE OR REPLACE TEMP MACRO lp_sci_text(neg, digits, e) AS
       (CASE WHEN neg THEN '-' ELSE '' END) || left(digits, 1) || '.'
       || CASE WHEN length(rtrim(digits, '0')) > 1 THEN substr(rtrim(digits, '0'), 2) ELSE '0' END || 'E' || CAST(e AS VARCHAR)""",
    """CREATE OR REPLACE TEMP MACRO lp_float_text(x, t) AS CASE WHEN x IS NULL THEN NULL WHEN isnan(x) THEN 'NaN'
       WHEN isinf(x) THEN CASE WHEN x > 0 THEN 'Infinity' ELSE '-Infinity' END
       WHEN x = 0 THEN CASE WHEN t LIKE '-%' THEN '-0E0' ELSE '0E0' END
       ELSE lp_sci_text(x < 0, lp_sci_parts(t).digits, lp_sci_parts(t).exp) END""",
    "CREATE OR REPLACE TEMP MACRO lp_double_to_varchar(x) AS lp_float_text(x, CAST(CAST(x AS DOUBLE) AS VARCHAR))",
    # Trino formats a REAL with DecimalFormat("0.0#####E0"): at most 7 significant digits.
    """CREATE OR REPLACE TEMP MACRO lp_real_to_varchar(x) AS CASE WHEN x IS NULL THEN NULL WHEN isnan(x) THEN 'NaN'
       WHEN isinf(x) THEN CASE WHEN x > 0 THEN 'Infinity' ELSE '-Infinity' END
       WHEN x = 0 THEN CASE WHEN CAST(x AS VARCHAR) LIKE '-%' THEN '-0E0' ELSE '0E0' END
       ELSE lp_sci_text(x < 0,
            replace(split_part(format('{:.6e}', abs(CAST(CAST(CAST(x AS FLOAT) AS VARCHAR) AS DOUBLE))), 'e', 1), '.', ''),
            CAST(split_part(format('{:.6e}', abs(CAST(CAST(CAST(x AS FLOAT) AS VARCHAR) AS DOUBLE))), 'e', 2) AS INTEGER)) END""",
    # Java's Double.toString (Jackson writes JSON numbers with it): plain between 1e-3 and 1e7.
    """CREATE OR REPLACE TEMP MACRO lp_java_plain(neg, digits, e) AS (CASE WHEN neg THEN '-' ELSE '' END) || CASE
       WHEN e < 0 THEN '0.' || repeat('0', -e - 1) || rtrim(digits, '0')
       WHEN length(rtrim(digits, '0')) <= e + 1 THEN rpad(rtrim(digits, '0'), CAST(e + 1 AS INTEGER), '0') || '.0'
       ELSE substr(rtrim(digits, '0'), 1, e + 1) || '.' || substr(rtrim(digits, '0'), e + 2) END""",
    """CREATE OR REPLACE TEMP MACRO lp_java_double(x) AS CASE WHEN x IS NULL THEN NULL WHEN isnan(x) THEN 'NaN'
       WHEN isinf(x) THEN CASE WHEN x > 0 THEN 'Infinity' ELSE '-Infinity' END
       WHEN x = 0 THEN CASE WHEN CAST(x AS VARCHAR) LIKE '-%' THEN '-0.0' ELSE '0.0' END
       WHEN abs(x) >= 1e-3 AND abs(x) < 1e7 THEN lp_java_plain(x < 0, lp_sci_parts(CAST(x AS VARCHAR)).digits, lp_sci_parts(CAST(x AS VARCHAR)).exp)
       ELSE lp_sci_text(x < 0, lp_sci_parts(CAST(x AS VARCHAR)).digits, lp_sci_parts(CAST(x AS VARCHAR)).exp) END""",
    "CREATE OR REPLACE TEMP MACRO lp_json_double(x) AS lp_java_double(x)",
    # -- bases and buckets (Trino's MathFunctions: toBase, fromBase, widthBucket) -------------------
    # to_base: Java's Long.toString(value, radix), lowercase digits and a '-' sign. DuckDB's to_base
    # takes a non-negative BIGINT, so |value| is written as (|value| // radix, |value| % radix), which
    # also holds for -2^63.
    """CREATE OR REPLACE TEMP MACRO lp_to_base(x, radix, safe) AS CASE WHEN x IS NULL OR radix IS NULL THEN NULL
       WHEN radix < 2 OR radix > 36 THEN lp_fail(safe, 'Radix must be between 2 and 36')
       ELSE (CASE WHEN x < 0 THEN '-' ELSE '' END)
            || lower(CASE WHEN abs(x // radix) = 0 THEN '' ELSE to_base(abs(x // radix), CAST(radix AS INTEGER)) END
                     || to_base(abs(x % radix), CAST(radix AS INTEGER))) END""",
    # The digit values of an ASCII alphanumeric text (Character.digit: 0-9, then a-z / A-Z as 10-35).
    """CREATE OR REPLACE TEMP MACRO lp_base_digits(s) AS list_transform(string_split(s, ''),
       lambda _c: CASE WHEN _c BETWEEN '0' AND '9' THEN ord(_c) - 48 WHEN _c BETWEEN 'a' AND 'z' THEN ord(_c) - 87
                       ELSE ord(_c) - 55 END)""",
    # |value| of the digits, saturated above 2^63 (so a long text cannot overflow HUGEINT).
    """CREATE OR REPLACE TEMP MACRO lp_base_magnitude(digits, radix) AS list_reduce(digits,
       lambda _acc, _d: CASE WHEN _acc > CAST(9223372036854775808 AS HUGEINT) THEN _acc ELSE _acc * radix + _d END,
       CAST(0 AS HUGEINT))""",
    # from_base: Java's Long.parseLong(value, radix): an optional sign, then at least one digit below the
    # radix, in BIGINT's range; anything else is "Not a valid base-N number". Java also reads non-ASCII
    # digits (Character.digit): a text with one is refused rather than guessed.
    f"""CREATE OR REPLACE TEMP MACRO lp_from_base(s, radix, safe) AS CASE WHEN s IS NULL OR radix IS NULL THEN NULL
       WHEN radix < 2 OR radix > 36 THEN lp_fail(safe, 'Radix must be between 2 and 36')
       WHEN NOT regexp_full_match(s, '[\\x00-\\x7F]*')
       THEN {_refusal("from_base", "a text with non-ASCII characters (Java reads Unicode digits) is not supported locally")}
       WHEN NOT regexp_full_match(s, '[+-]?[0-9A-Za-z]+')
            OR NOT list_bool_and(list_transform(lp_base_digits(regexp_replace(s, '^[+-]', '')), lambda _d: _d < radix))
            OR lp_base_magnitude(lp_base_digits(regexp_replace(s, '^[+-]', '')), radix)
               > CASE WHEN starts_with(s, '-') THEN CAST(9223372036854775808 AS HUGEINT) ELSE CAST(9223372036854775807 AS HUGEINT) END
       THEN lp_fail(safe, 'Not a valid base-' || CAST(radix AS VARCHAR) || ' number: ' || s)
       ELSE CAST((CASE WHEN starts_with(s, '-') THEN -1 ELSE 1 END)
                 * lp_base_magnitude(lp_base_digits(regexp_replace(s, '^[+-]', '')), radix) AS BIGINT) END""",
    # width_bucket(x, bound1, bound2, n): Trino's checks in Trino's order, then
    # (long) (n * (x - lower) / (upper - lower) + 1) in doubles (Java's cast saturates at 2^63 - 1),
    # mirrored when bound1 > bound2 with Java's wrapping long arithmetic.
    """CREATE OR REPLACE TEMP MACRO lp_java_long(x) AS CAST(((CAST(x AS HUGEINT) + CAST(9223372036854775808 AS HUGEINT))
       % CAST(18446744073709551616 AS HUGEINT) + CAST(18446744073709551616 AS HUGEINT)) % CAST(18446744073709551616 AS HUGEINT)
       - CAST(9223372036854775808 AS HUGEINT) AS BIGINT)""",
    """CREATE OR REPLACE TEMP MACRO lp_double_to_long(x) AS CASE WHEN isnan(x) THEN 0
       WHEN x >= 9.223372036854775807e18 THEN 9223372036854775807 WHEN x <= -9.223372036854775808e18 THEN -9223372036854775808
       ELSE CAST(trunc(x) AS BIGINT) END""",
    """CREATE OR REPLACE TEMP MACRO lp_width_bucket_up(x, lower, upper, n, safe) AS CASE
       WHEN x < lower THEN 0
       WHEN x >= upper THEN CASE WHEN n = 9223372036854775807
            THEN lp_fail(safe, 'Bucket for value ' || lp_java_double(x) || ' is out of range') ELSE n + 1 END
       ELSE lp_double_to_long(CAST(n AS DOUBLE) * (x - lower) / (upper - lower) + 1) END""",
    """CREATE OR REPLACE TEMP MACRO lp_width_bucket(x, b1, b2, n, safe) AS CASE
       WHEN x IS NULL OR b1 IS NULL OR b2 IS NULL OR n IS NULL THEN NULL
       WHEN n <= 0 THEN lp_fail(safe, 'bucketCount must be greater than 0')
       WHEN isnan(x) THEN lp_fail(safe, 'operand must not be NaN')
       WHEN NOT isfinite(b1) THEN lp_fail(safe, 'first bound must be finite')
       WHEN NOT isfinite(b2) THEN lp_fail(safe, 'second bound must be finite')
       WHEN b1 = b2 THEN lp_fail(safe, 'bounds cannot equal each other')
       WHEN b1 > b2 THEN lp_java_long(CAST(n AS HUGEINT) - lp_width_bucket_up(x, b2, b1, n, safe) + 1)
       ELSE lp_width_bucket_up(x, b1, b2, n, safe) END""",
    # width_bucket(x, bins): Trino's binary search, step by step (at most 32 steps for an array Trino
    # can hold), with its checks made only on the bins it visits, as Trino makes them: a bins range
    # whose ends are out of order, a visited bin that is not finite. Comparisons are Java's (false
    # with a NaN). A NULL bin is refused (Trino reads the null position's storage).
    """CREATE OR REPLACE TEMP MACRO lp_java_gt(a, b) AS NOT isnan(a) AND NOT isnan(b) AND a > b""",
    """CREATE OR REPLACE TEMP MACRO lp_bucket_step(st, bins, x) AS CASE
       WHEN st.err IS NOT NULL OR st.lo >= st.hi THEN st
       WHEN lp_java_gt(bins[st.lo + 1], bins[st.hi])
       THEN {'lo': st.lo, 'hi': st.hi, 'err': 'Bin values are not sorted in ascending order'}
       WHEN NOT isfinite(bins[(st.lo + st.hi) // 2 + 1])
       THEN {'lo': st.lo, 'hi': st.hi, 'err': 'Bin value must be finite, got ' || lp_java_double(bins[(st.lo + st.hi) // 2 + 1])}
       WHEN x < bins[(st.lo + st.hi) // 2 + 1] THEN {'lo': st.lo, 'hi': (st.lo + st.hi) // 2, 'err': st.err}
       ELSE {'lo': (st.lo + st.hi) // 2 + 1, 'hi': st.hi, 'err': st.err} END""",
    """CREATE OR REPLACE TEMP MACRO lp_bucket_search(x, bins) AS list_reduce(range(0, 64),
       lambda _s, _i: lp_bucket_step(_s, bins, x),
       {'lo': CAST(0 AS BIGINT), 'hi': CAST(len(bins) AS BIGINT), 'err': CAST(NULL AS VARCHAR)})""",
    f"""CREATE OR REPLACE TEMP MACRO lp_width_bucket_bins(x, bins, safe) AS CASE WHEN x IS NULL OR bins IS NULL THEN NULL
       WHEN len(bins) = 0 THEN lp_fail(safe, 'Bins cannot be an empty array')
       WHEN isnan(x) THEN lp_fail(safe, 'Operand cannot be NaN')
       WHEN len(list_filter(bins, lambda _b: _b IS NULL)) > 0
       THEN {_refusal("width_bucket(x, bins)", "bins holding a NULL are not supported locally")}
       ELSE list_transform([lp_bucket_search(x, bins)],
            lambda _r: CASE WHEN _r.err IS NOT NULL THEN lp_fail(safe, _r.err) ELSE _r.lo END)[1] END""",
    # -- text to numbers, booleans, dates (Trino accepts less than DuckDB) ----------------------------
    """CREATE OR REPLACE TEMP MACRO lp_varchar_to_bigint(x, tname, safe) AS CASE WHEN x IS NULL THEN NULL
       WHEN regexp_full_match(x, '\\s*[+-]?[0-9]+\\s*') THEN CAST(trim(x) AS HUGEINT)
       ELSE lp_fail(safe, 'Cannot cast ''' || x || ''' to ' || upper(tname)) END""",
    """CREATE OR REPLACE TEMP MACRO lp_varchar_to_double(x, safe) AS CASE WHEN x IS NULL THEN NULL
       WHEN regexp_full_match(x, '\\s*[+-]?(NaN|Infinity|([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][+-]?[0-9]+)?)[dDfF]?\\s*')
       THEN CAST(regexp_replace(trim(x), '[dDfF]$', '') AS DOUBLE)
       ELSE lp_fail(safe, 'Cannot cast ''' || x || ''' to DOUBLE') END""",
    """CREATE OR REPLACE TEMP MACRO lp_varchar_to_decimal_text(x, tname, safe) AS CASE WHEN x IS NULL THEN NULL
       WHEN regexp_full_match(x, '\\s*[+-]?([0-9]+\\.?[0-9]*|\\.[0-9]+)\\s*') THEN trim(x)
       ELSE lp_fail(safe, 'Cannot cast VARCHAR ''' || x || ''' to ' || upper(tname)) END""",
    """CREATE OR REPLACE TEMP MACRO lp_varchar_to_boolean(x, safe) AS CASE WHEN x IS NULL THEN NULL
       WHEN lower(x) IN ('true', 't', '1') THEN true WHEN lower(x) IN ('false', 'f', '0') THEN false
       ELSE lp_fail(safe, 'Cannot cast ''' || x || ''' to BOOLEAN') END""",
    """CREATE OR REPLACE TEMP MACRO lp_varchar_to_date(x, safe) AS CASE WHEN x IS NULL THEN NULL
       WHEN regexp_full_match(x, '\\s*[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}\\s*') AND TRY_CAST(trim(x) AS DATE) IS NOT NULL
       THEN TRY_CAST(trim(x) AS DATE)
       ELSE lp_fail(safe, 'Value cannot be cast to date: ' || x) END""",
    """CREATE OR REPLACE TEMP MACRO lp_varchar_to_timestamp(x, safe) AS CASE WHEN x IS NULL THEN NULL
       WHEN regexp_full_match(x, '\\s*[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}( [0-9]{1,2}:[0-9]{1,2}(:[0-9]{1,2}(\\.[0-9]{1,12})?)?)?\\s*')
       THEN CAST(trim(x) AS TIMESTAMP)
       ELSE lp_fail(safe, 'Value cannot be cast to timestamp: ' || x) END""",
    f"""CREATE OR REPLACE TEMP MACRO lp_varchar_to_timestamptz(x, safe) AS CASE WHEN x IS NULL THEN NULL
       WHEN regexp_full_match(x, '\\s*[0-9]{{4}}-[0-9]{{1,2}}-[0-9]{{1,2}}( [0-9]{{1,2}}:[0-9]{{1,2}}(:[0-9]{{1,2}}(\\.[0-9]{{1,12}})?)?)?\\s*')
       THEN CAST(CAST(trim(x) AS TIMESTAMP) AS TIMESTAMPTZ)
       WHEN regexp_full_match(x, '\\s*[0-9]{{4}}-[0-9]{{1,2}}-[0-9]{{1,2}}( [0-9]{{1,2}}:[0-9]{{1,2}}(:[0-9]{{1,2}}(\\.[0-9]{{1,12}})?)?)?\\s*(UTC|Z|[+-]00:?00)\\s*')
       THEN CAST(regexp_replace(trim(x), '\\s*(UTC|Z|[+-]00:?00)$', '') || '+00' AS TIMESTAMPTZ)
       WHEN regexp_full_match(x, '\\s*[0-9]{{4}}-[0-9]{{1,2}}-[0-9]{{1,2}}( [0-9]{{1,2}}:[0-9]{{1,2}}(:[0-9]{{1,2}}(\\.[0-9]{{1,12}})?)?)?\\s*[^ ]+\\s*')
       THEN {_refusal("CAST(varchar AS timestamp with time zone)", "the value carries a zone other than UTC, which DuckDB cannot keep")}
       ELSE lp_fail(safe, 'Value cannot be cast to timestamp: ' || x) END""",
    """CREATE OR REPLACE TEMP MACRO lp_round_timestamp(ts, p) AS CASE WHEN p >= 6 OR ts IS NULL THEN ts
       ELSE make_timestamp(CAST(floor((epoch_us(ts) + 5 * 10 ** (5 - p)) / 10 ** (6 - p)) * 10 ** (6 - p) AS BIGINT)) END""",
    "CREATE OR REPLACE TEMP MACRO lp_round_timestamptz(ts, p) AS CAST(lp_round_timestamp(CAST(ts AS TIMESTAMP), p) AS TIMESTAMPTZ)",
    """CREATE OR REPLACE TEMP MACRO lp_round_time(t, p) AS CAST(lp_round_timestamp(DATE '1970-01-01' + t, p) AS TIME)""",
    """CREATE OR REPLACE TEMP MACRO lp_double_to_decimal(x, p, s, tname, safe) AS CASE WHEN x IS NULL THEN NULL
       WHEN isnan(x) OR isinf(x) OR abs(round(x, s)) >= 10 ** (p - s) THEN lp_fail(safe, 'Cannot cast DOUBLE ''' || lp_double_to_varchar(x) || ''' to ' || upper(tname))
       ELSE CAST(round(x, s) AS VARCHAR) END""",
    # -- intervals printed the way Trino prints them ----------------------------------------------
    """CREATE OR REPLACE TEMP MACRO lp_interval_ds_to_varchar(i) AS CASE WHEN i IS NULL THEN NULL ELSE
       (CASE WHEN epoch_ms(i) < 0 THEN '-' ELSE '' END) || CAST(abs(epoch_ms(i)) // 86400000 AS VARCHAR) || ' '
       || lpad(CAST(abs(epoch_ms(i)) % 86400000 // 3600000 AS VARCHAR), 2, '0') || ':'
       || lpad(CAST(abs(epoch_ms(i)) % 3600000 // 60000 AS VARCHAR), 2, '0') || ':'
       || lpad(CAST(abs(epoch_ms(i)) % 60000 // 1000 AS VARCHAR), 2, '0') || '.'
       || lpad(CAST(abs(epoch_ms(i)) % 1000 AS VARCHAR), 3, '0') END""",
    """CREATE OR REPLACE TEMP MACRO lp_interval_ym_to_varchar(i) AS CASE WHEN i IS NULL THEN NULL ELSE
       (CASE WHEN datepart('year', i) * 12 + datepart('month', i) < 0 THEN '-' ELSE '' END)
       || CAST(abs(datepart('year', i) * 12 + datepart('month', i)) // 12 AS VARCHAR) || '-'
       || CAST(abs(datepart('year', i) * 12 + datepart('month', i)) % 12 AS VARCHAR) END""",
    # -- JSON to SQL values (Trino's CAST(json AS ...)) ----------------------------------------------
    """CREATE OR REPLACE TEMP MACRO lp_json_to_varchar(j, safe) AS CASE WHEN j IS NULL THEN NULL
       WHEN json_type(j) = 'NULL' THEN NULL WHEN json_type(j) = 'VARCHAR' THEN json_extract_string(j, '$')
       WHEN json_type(j) IN ('BIGINT', 'UBIGINT', 'HUGEINT', 'BOOLEAN') THEN CAST(json(j) AS VARCHAR)
       WHEN json_type(j) = 'DOUBLE' THEN lp_double_to_varchar(CAST(j AS DOUBLE))
       ELSE lp_fail(safe, 'Cannot cast to varchar. ' || CAST(json(j) AS VARCHAR)) END""",
    """CREATE OR REPLACE TEMP MACRO lp_json_to_boolean(j, safe) AS CASE WHEN j IS NULL OR json_type(j) = 'NULL' THEN NULL
       WHEN json_type(j) = 'BOOLEAN' THEN CAST(j AS BOOLEAN)
       WHEN json_type(j) IN ('BIGINT', 'UBIGINT', 'HUGEINT', 'DOUBLE') THEN CAST(j AS DOUBLE) <> 0
       WHEN json_type(j) = 'VARCHAR' THEN lp_varchar_to_boolean(json_extract_string(j, '$'), safe)
       ELSE lp_fail(safe, 'Cannot cast to boolean. ' || CAST(json(j) AS VARCHAR)) END""",
    """CREATE OR REPLACE TEMP MACRO lp_json_to_bigint(j, tname, safe) AS CASE WHEN j IS NULL OR json_type(j) = 'NULL' THEN NULL
       WHEN json_type(j) = 'BOOLEAN' THEN CASE WHEN CAST(j AS BOOLEAN) THEN 1 ELSE 0 END
       WHEN json_type(j) IN ('BIGINT', 'UBIGINT', 'HUGEINT') THEN CAST(j AS HUGEINT)
       WHEN json_type(j) = 'DOUBLE' THEN CAST(round(CAST(j AS DOUBLE)) AS HUGEINT)
       WHEN json_type(j) = 'VARCHAR' THEN lp_varchar_to_bigint(json_extract_string(j, '$'), tname, safe)
       ELSE lp_fail(safe, 'Cannot cast to ' || tname || '. ' || CAST(json(j) AS VARCHAR)) END""",
    """CREATE OR REPLACE TEMP MACRO lp_json_to_double(j, safe) AS CASE WHEN j IS NULL OR json_type(j) = 'NULL' THEN NULL
       WHEN json_type(j) = 'BOOLEAN' THEN CASE WHEN CAST(j AS BOOLEAN) THEN 1.0 ELSE 0.0 END
       WHEN json_type(j) IN ('BIGINT', 'UBIGINT', 'HUGEINT', 'DOUBLE') THEN CAST(j AS DOUBLE)
       WHEN json_type(j) = 'VARCHAR' THEN lp_varchar_to_double(json_extract_string(j, '$'), safe)
       ELSE lp_fail(safe, 'Cannot cast to double. ' || CAST(json(j) AS VARCHAR)) END""",
    """CREATE OR REPLACE TEMP MACRO lp_json_to_decimal_text(j, tname, safe) AS CASE WHEN j IS NULL OR json_type(j) = 'NULL' THEN NULL
       WHEN json_type(j) = 'BOOLEAN' THEN CASE WHEN CAST(j AS BOOLEAN) THEN '1' ELSE '0' END
       WHEN json_type(j) IN ('BIGINT', 'UBIGINT', 'HUGEINT', 'DOUBLE') THEN CAST(json(j) AS VARCHAR)
       WHEN json_type(j) = 'VARCHAR' THEN lp_varchar_to_decimal_text(json_extract_string(j, '$'), tname, safe)
       ELSE lp_fail(safe, 'Cannot cast to ' || tname || '. ' || CAST(json(j) AS VARCHAR)) END""",
    """CREATE OR REPLACE TEMP MACRO lp_json_object_to_map(j, kf, vf, message, safe) AS CASE
       WHEN j IS NULL OR json_type(j) = 'NULL' THEN NULL
       WHEN json_type(j) <> 'OBJECT' THEN lp_fail(safe, message || CAST(j AS VARCHAR))
       ELSE map(list_transform(json_keys(j), kf), list_transform(CAST(json_extract(j, '$.*') AS JSON[]), vf)) END""",
    # -- strings ------------------------------------------------------------------------------------
    """CREATE OR REPLACE TEMP MACRO lp_substr(s, start, n) AS CASE WHEN s IS NULL OR start IS NULL THEN NULL
       WHEN start = 0 OR abs(start) > length(s) THEN ''
       WHEN n IS NULL THEN substring(s, CASE WHEN start < 0 THEN length(s) + start + 1 ELSE start END)
       WHEN n <= 0 THEN '' ELSE substring(s, CASE WHEN start < 0 THEN length(s) + start + 1 ELSE start END, n) END""",
    "CREATE OR REPLACE TEMP MACRO lp_substr3(s, start, n) AS CASE WHEN n IS NULL THEN NULL ELSE lp_substr(s, start, n) END",
    """CREATE OR REPLACE TEMP MACRO lp_split_part(s, d, i, safe) AS CASE WHEN s IS NULL OR d IS NULL OR i IS NULL THEN NULL
       WHEN i <= 0 THEN lp_fail(safe, 'Index must be greater than zero')
       ELSE string_split(s, d)[i] END""",
    """CREATE OR REPLACE TEMP MACRO lp_split(s, d, lim, has_limit, safe) AS CASE WHEN s IS NULL OR d IS NULL THEN NULL
       WHEN d = '' THEN lp_fail(safe, 'The delimiter may not be the empty string')
       WHEN has_limit AND lim IS NULL THEN NULL
       WHEN has_limit AND lim <= 0 THEN lp_fail(safe, 'Limit must be positive')
       WHEN has_limit AND lim > 2147483647 THEN lp_fail(safe, 'Limit is too large')
       WHEN NOT has_limit OR len(string_split(s, d)) <= lim THEN string_split(s, d)
       ELSE list_append(list_slice(string_split(s, d), 1, lim - 1),
                        array_to_string(list_slice(string_split(s, d), lim, len(string_split(s, d))), d)) END""",
    # The entries of split_to_map: a trailing entry delimiter ends the text, it does not add an entry.
    """CREATE OR REPLACE TEMP MACRO lp_entries(s, ed) AS CASE WHEN s = '' THEN []
       WHEN ends_with(s, ed) THEN list_slice(string_split(s, ed), 1, len(string_split(s, ed)) - 1)
       ELSE string_split(s, ed) END""",
    """CREATE OR REPLACE TEMP MACRO lp_first_duplicate(l) AS list_filter(list_transform(range(1, len(l) + 1),
       lambda _i: CASE WHEN list_position(l, l[_i]) < _i THEN l[_i] END), lambda _x: _x IS NOT NULL)[1]""",
    """CREATE OR REPLACE TEMP MACRO lp_distinct_ordered(l) AS list_filter(list_transform(range(1, len(l) + 1),
       lambda _i: CASE WHEN list_position(l, l[_i]) = _i THEN l[_i] END), lambda _x: _x IS NOT NULL)""",
    """CREATE OR REPLACE TEMP MACRO lp_bad_entry(s, ed, kd) AS
       list_filter(lp_entries(s, ed), lambda _e: len(string_split(_e, kd)) <> 2)[1]""",
    """CREATE OR REPLACE TEMP MACRO lp_split_entries(s, ed, kd, safe) AS CASE WHEN s IS NULL OR ed IS NULL OR kd IS NULL THEN NULL
       WHEN ed = '' THEN lp_fail(safe, 'entryDelimiter is empty') WHEN kd = '' THEN lp_fail(safe, 'keyValueDelimiter is empty')
       WHEN ed = kd THEN lp_fail(safe, 'entryDelimiter and keyValueDelimiter must not be the same')
       WHEN lp_bad_entry(s, ed, kd) IS NOT NULL
       THEN lp_fail(safe, 'Key-value delimiter must appear exactly once in each entry. Bad input: ' || chr(39) || lp_bad_entry(s, ed, kd) || chr(39))
       ELSE list_transform(lp_entries(s, ed), lambda _e: string_split(_e, kd)) END""",
    """CREATE OR REPLACE TEMP MACRO lp_split_to_map(s, ed, kd, safe) AS CASE WHEN lp_split_entries(s, ed, kd, safe) IS NULL THEN NULL
       WHEN lp_first_duplicate(list_transform(lp_split_entries(s, ed, kd, safe), lambda _p: _p[1])) IS NOT NULL
       THEN lp_fail(safe, 'Duplicate keys (' || lp_first_duplicate(list_transform(lp_split_entries(s, ed, kd, safe), lambda _p: _p[1]))
                          || ') are not allowed')
       ELSE map(list_transform(lp_split_entries(s, ed, kd, safe), lambda _p: _p[1]),
                list_transform(lp_split_entries(s, ed, kd, safe), lambda _p: _p[2])) END""",
    """CREATE OR REPLACE TEMP MACRO lp_split_to_multimap(s, ed, kd, safe) AS CASE WHEN lp_split_entries(s, ed, kd, safe) IS NULL THEN NULL
       ELSE map(lp_distinct_ordered(list_transform(lp_split_entries(s, ed, kd, safe), lambda _p: _p[1])),
                list_transform(lp_distinct_ordered(list_transform(lp_split_entries(s, ed, kd, safe), lambda _p: _p[1])),
                    lambda _k: list_transform(list_filter(lp_split_entries(s, ed, kd, safe), lambda _p: _p[1] = _k), lambda _p: _p[2]))) END""",
    # Trino's replace with an empty search string puts the replacement around every code point.
    r"""CREATE OR REPLACE TEMP MACRO lp_replace(s, search, rep) AS CASE WHEN search = ''
       THEN regexp_replace(s, '', replace(rep, '\', '\\'), 'g') ELSE replace(s, search, rep) END""",
    """CREATE OR REPLACE TEMP MACRO lp_pad(s, n, pad, from_left, safe) AS CASE WHEN s IS NULL OR n IS NULL OR pad IS NULL THEN NULL
       WHEN n < 0 OR n > 2147483647 THEN lp_fail(safe, 'Target length must be in the range [0..2147483647]')
       WHEN pad = '' THEN lp_fail(safe, 'Padding string must not be empty')
       WHEN from_left THEN lpad(s, CAST(n AS INTEGER), pad) ELSE rpad(s, CAST(n AS INTEGER), pad) END""",
    """CREATE OR REPLACE TEMP MACRO lp_strpos_nth(s, sub, n, safe) AS CASE WHEN s IS NULL OR sub IS NULL OR n IS NULL THEN NULL
       WHEN n = 0 THEN lp_fail(safe, '''instance'' must be a positive or negative number.')
       WHEN sub = '' THEN 1
       ELSE coalesce(list_filter(range(1, length(s) - length(sub) + 2), lambda _i: substr(s, _i, length(sub)) = sub)[n], 0) END""",
    f"CREATE OR REPLACE TEMP MACRO lp_from_utf8_invalid(b) AS "
    f"{_refusal('from_utf8', 'the bytes are not valid UTF-8 (Trino replaces them with U+FFFD)')}",
    # -- JSON ---------------------------------------------------------------------------------------
    # One step of a Trino JSON path: an object's member, or an array's element for a numeric key.
    # A path step: ``j`` is bound once through a lambda, because a macro inlines its argument where
    # it is used - four uses nested five deep (a path of five steps) made 4^5 copies of the document
    # for DuckDB to bind and run (seconds a call).
    """CREATE OR REPLACE TEMP MACRO lp_json_step(j, object_path, array_path) AS list_transform([j],
       lambda _j: CASE WHEN _j IS NULL THEN NULL
       WHEN json_type(_j) = 'OBJECT' THEN json_extract(_j, object_path)
       WHEN json_type(_j) = 'ARRAY' AND array_path IS NOT NULL THEN json_extract(_j, array_path) END)[1]""",
    # yyjson writes a double in its own shortest form; Java (Trino) switches to 1.0E7 notation outside
    # [1e-3, 1e7): refuse a JSON text holding such a number.
    f"""CREATE OR REPLACE TEMP MACRO lp_json_java(j) AS list_transform([j], lambda _jj: CASE WHEN _jj IS NULL THEN NULL
       WHEN regexp_matches(CAST(_jj AS VARCHAR), '(?:^|[^0-9A-Za-z_.])-?(?:[0-9]{{8,}}\\.[0-9]|0\\.000|[0-9]+(?:\\.[0-9]+)?[eE])')
       THEN {_refusal("JSON value", "it holds a number Java would write in E notation")}
       ELSE _jj END)[1]""",
    # A scalar's number exactly as the JSON text writes it (Trino returns the text as written); refused
    # when the text writes the same number another way.
    f"""CREATE OR REPLACE TEMP MACRO lp_json_raw_number(text, n) AS CASE WHEN coalesce(list_bool_and(list_transform(
          list_filter(regexp_extract_all(text, '-?[0-9]+(?:\\.[0-9]+)?(?:[eE][+-]?[0-9]+)?'),
                      lambda _t: TRY_CAST(_t AS DOUBLE) = TRY_CAST(n AS DOUBLE)), lambda _t: _t = n)), false)
       THEN n ELSE {_refusal("json_extract_scalar", "the number is written differently in the JSON text")} END""",
    """CREATE OR REPLACE TEMP MACRO lp_json_scalar(v, text) AS list_transform([v], lambda _v: CASE
       WHEN _v IS NULL OR json_type(_v) IN ('OBJECT', 'ARRAY', 'NULL') THEN NULL
       WHEN json_type(_v) = 'DOUBLE' THEN lp_json_raw_number(text, json_extract_string(_v, '$'))
       ELSE json_extract_string(_v, '$') END)[1]""",
    """CREATE OR REPLACE TEMP MACRO lp_json_size(v) AS CASE WHEN v IS NULL THEN NULL
       WHEN json_type(v) = 'OBJECT' THEN CAST(len(json_keys(v)) AS BIGINT)
       WHEN json_type(v) = 'ARRAY' THEN CAST(json_array_length(v) AS BIGINT) ELSE 0 END""",
    # A JSON value Trino wrote (its doubles in Java's notation): a scalar's number as Java writes it.
    """CREATE OR REPLACE TEMP MACRO lp_json_scalar_canonical(v, text) AS list_transform([v], lambda _v: CASE
       WHEN _v IS NULL OR json_type(_v) IN ('OBJECT', 'ARRAY', 'NULL') THEN NULL
       WHEN json_type(_v) = 'DOUBLE' THEN lp_java_double(CAST(_v AS DOUBLE))
       ELSE json_extract_string(_v, '$') END)[1]""",
    f"""CREATE OR REPLACE TEMP MACRO lp_json_array_element(v, text, canonical) AS list_transform([v], lambda _v: CASE WHEN _v IS NULL OR json_type(_v) = 'NULL' THEN NULL
       WHEN json_type(_v) IN ('OBJECT', 'ARRAY') THEN _v
       WHEN json_type(_v) = 'VARCHAR' THEN {_refusal("json_array_get", "Trino returns a string element without its quotes as JSON")}
       WHEN json_type(_v) = 'DOUBLE' AND canonical THEN CAST(lp_java_double(CAST(_v AS DOUBLE)) AS JSON)
       WHEN json_type(_v) = 'DOUBLE' THEN CAST(lp_json_raw_number(text, json_extract_string(_v, '$')) AS JSON)
       ELSE _v END)[1]""",
    """CREATE OR REPLACE TEMP MACRO lp_json_array_get(j, i, text) AS CASE WHEN j IS NULL OR i IS NULL OR json_type(j) <> 'ARRAY' THEN NULL
       ELSE lp_json_array_element(json_extract(j, CASE WHEN i >= 0 THEN '$[' || i || ']' ELSE '$[#' || i || ']' END), text, false) END""",
    """CREATE OR REPLACE TEMP MACRO lp_json_array_get_canonical(j, i, text) AS CASE WHEN j IS NULL OR i IS NULL OR json_type(j) <> 'ARRAY' THEN NULL
       ELSE lp_json_array_element(json_extract(j, CASE WHEN i >= 0 THEN '$[' || i || ']' ELSE '$[#' || i || ']' END), text, true) END""",
    """CREATE OR REPLACE TEMP MACRO lp_json_elements(j, kind) AS
       list_filter(CAST(json_extract(j, '$[*]') AS JSON[]), lambda _e: json_type(_e) IN kind)""",
    """CREATE OR REPLACE TEMP MACRO lp_json_contains_boolean(j, v) AS CASE WHEN j IS NULL OR v IS NULL OR json_type(j) <> 'ARRAY' THEN NULL
       ELSE list_contains(list_transform(lp_json_elements(j, ['BOOLEAN']), lambda _e: CAST(_e AS BOOLEAN)), v) END""",
    """CREATE OR REPLACE TEMP MACRO lp_json_contains_bigint(j, v) AS CASE WHEN j IS NULL OR v IS NULL OR json_type(j) <> 'ARRAY' THEN NULL
       ELSE list_contains(list_transform(lp_json_elements(j, ['BIGINT', 'UBIGINT']), lambda _e: CAST(_e AS HUGEINT)), CAST(v AS HUGEINT)) END""",
    """CREATE OR REPLACE TEMP MACRO lp_json_contains_double(j, v) AS CASE WHEN j IS NULL OR v IS NULL OR json_type(j) <> 'ARRAY' THEN NULL
       ELSE list_contains(list_transform(lp_json_elements(j, ['DOUBLE']), lambda _e: CAST(_e AS DOUBLE)), v) END""",
    """CREATE OR REPLACE TEMP MACRO lp_json_contains_varchar(j, v) AS CASE WHEN j IS NULL OR v IS NULL OR json_type(j) <> 'ARRAY' THEN NULL
       ELSE list_contains(list_transform(lp_json_elements(j, ['VARCHAR']), lambda _e: json_extract_string(_e, '$')), v) END""",
    # -- dates and times ---------------------------------------------------------------------------
    """CREATE OR REPLACE TEMP MACRO lp_from_iso8601_date(s, safe) AS CASE WHEN s IS NULL THEN NULL
       WHEN regexp_full_match(s, '[0-9]{4}(-[0-9]{1,2}(-[0-9]{1,2})?)?')
       THEN coalesce(try(make_date(CAST(regexp_extract(s, '^([0-9]{4})', 1) AS INTEGER),
                                   CAST(coalesce(nullif(regexp_extract(s, '^[0-9]{4}-([0-9]{1,2})', 1), ''), '1') AS INTEGER),
                                   CAST(coalesce(nullif(regexp_extract(s, '^[0-9]{4}-[0-9]{1,2}-([0-9]{1,2})', 1), ''), '1') AS INTEGER))),
                     lp_fail(safe, 'Invalid format: "' || s || '"'))
       WHEN regexp_full_match(s, '[0-9]{4}-W[0-9]{2}(-[1-7])?')
       THEN CAST(make_date(CAST(left(s, 4) AS INTEGER), 1, 4) - to_days(isodow(make_date(CAST(left(s, 4) AS INTEGER), 1, 4)) - 1)
                 + to_days((CAST(substr(s, 7, 2) AS INTEGER) - 1) * 7 + CAST(coalesce(nullif(substr(s, 10, 1), ''), '1') AS INTEGER) - 1) AS DATE)
       WHEN regexp_full_match(s, '[0-9]{4}-[0-9]{3}')
       THEN CAST(make_date(CAST(left(s, 4) AS INTEGER), 1, 1) + to_days(CAST(substr(s, 6, 3) AS INTEGER) - 1) AS DATE)
       ELSE lp_fail(safe, 'Invalid format: "' || s || '"') END""",
    f"""CREATE OR REPLACE TEMP MACRO lp_iso8601_offset(s) AS CASE WHEN regexp_extract(s, {_q('^' + ISO_TIMESTAMP + '$')}, 8) IN ('', 'Z') THEN 0
       ELSE (CASE WHEN left(regexp_extract(s, {_q('^' + ISO_TIMESTAMP + '$')}, 8), 1) = '-' THEN -1 ELSE 1 END)
            * (CAST(substr(regexp_extract(s, {_q('^' + ISO_TIMESTAMP + '$')}, 8), 2, 2) AS INTEGER) * 60
               + CAST(coalesce(nullif(right(replace(substr(regexp_extract(s, {_q('^' + ISO_TIMESTAMP + '$')}, 8), 4), ':', ''), 2), ''), '0') AS INTEGER)) END""",
    f"""CREATE OR REPLACE TEMP MACRO lp_iso8601_field(s, n, otherwise) AS
       CAST(coalesce(nullif(regexp_extract(s, {_q('^' + ISO_TIMESTAMP + '$')}, n), ''), otherwise) AS INTEGER)""",
    f"""CREATE OR REPLACE TEMP MACRO lp_from_iso8601_timestamp(s, safe) AS CASE WHEN s IS NULL THEN NULL
       WHEN regexp_full_match(s, {_q(ISO_TIMESTAMP)})
       THEN coalesce(try(CAST(make_timestamp(lp_iso8601_field(s, 1, '0'), lp_iso8601_field(s, 2, '1'), lp_iso8601_field(s, 3, '1'),
                                             lp_iso8601_field(s, 4, '0'), lp_iso8601_field(s, 5, '0'),
                                             lp_iso8601_field(s, 6, '0') + CAST(rpad(left(regexp_extract(s, {_q('^' + ISO_TIMESTAMP + '$')}, 7), 3), 3, '0') AS INTEGER) / 1000)
                              - to_minutes(lp_iso8601_offset(s)) AS TIMESTAMPTZ)),
                     lp_fail(safe, 'Invalid format: "' || s || '"'))
       ELSE lp_fail(safe, 'Invalid format: "' || s || '"') END""",
    f"CREATE OR REPLACE TEMP MACRO lp_iso8601_in_utc(s) AS s IS NULL OR NOT regexp_full_match(s, {_q(ISO_TIMESTAMP)}) OR lp_iso8601_offset(s) = 0",
    """CREATE OR REPLACE TEMP MACRO lp_parse_duration(s, safe) AS CASE WHEN s IS NULL THEN NULL
       WHEN NOT regexp_full_match(s, '\\s*[0-9]+(\\.[0-9]+)?\\s*[a-zA-Z]+\\s*') THEN lp_fail(safe, 'duration is not a valid data duration string: ' || s)
       WHEN regexp_extract(s, '([a-zA-Z]+)\\s*$', 1) NOT IN ('ns', 'us', 'ms', 's', 'm', 'h', 'd') THEN lp_fail(safe, 'Unknown time unit: ' || regexp_extract(s, '([a-zA-Z]+)\\s*$', 1))
       ELSE to_microseconds(CAST(floor(CAST(regexp_extract(s, '([0-9]+(\\.[0-9]+)?)', 1) AS DOUBLE)
            * CASE regexp_extract(s, '([a-zA-Z]+)\\s*$', 1) WHEN 'ns' THEN 0.000001 WHEN 'us' THEN 0.001 WHEN 'ms' THEN 1
                   WHEN 's' THEN 1000 WHEN 'm' THEN 60000 WHEN 'h' THEN 3600000 ELSE 86400000 END + 0.5) AS BIGINT) * 1000) END""",
    """CREATE OR REPLACE TEMP MACRO lp_unit_text(n, unit) AS CASE WHEN n > 0 THEN CAST(n AS VARCHAR) || ' ' || unit || CASE WHEN n = 1 THEN '' ELSE 's' END END""",
    f"""CREATE OR REPLACE TEMP MACRO lp_human_readable_seconds(x, safe) AS CASE WHEN x IS NULL THEN NULL
       WHEN isnan(x) OR isinf(x) THEN lp_fail(safe, 'Invalid argument found: ' || CAST(x AS VARCHAR))
       WHEN x < 0 THEN {_refusal("human_readable_seconds", "a negative number of seconds is not supported locally")}
       WHEN CAST(floor(x + 0.5) AS BIGINT) = 0 THEN '0 seconds'
       ELSE array_to_string(list_filter([
            lp_unit_text(CAST(floor(x + 0.5) AS BIGINT) // 604800, 'week'),
            lp_unit_text(CAST(floor(x + 0.5) AS BIGINT) % 604800 // 86400, 'day'),
            lp_unit_text(CAST(floor(x + 0.5) AS BIGINT) % 86400 // 3600, 'hour'),
            lp_unit_text(CAST(floor(x + 0.5) AS BIGINT) % 3600 // 60, 'minute'),
            lp_unit_text(CAST(floor(x + 0.5) AS BIGINT) % 60, 'second')], lambda _p: _p IS NOT NULL), ', ') END""",
    # -- arrays -------------------------------------------------------------------------------------
    "CREATE OR REPLACE TEMP MACRO lp_has_null(a) AS len(list_filter(a, lambda _e: _e IS NULL)) > 0",
    """CREATE OR REPLACE TEMP MACRO lp_contains(a, x) AS CASE WHEN a IS NULL OR x IS NULL THEN NULL
       WHEN list_contains(a, x) THEN true WHEN lp_has_null(a) THEN NULL ELSE false END""",
    """CREATE OR REPLACE TEMP MACRO lp_contains_distinct(a, x) AS
       coalesce(list_bool_or(list_transform(a, lambda _e: _e IS NOT DISTINCT FROM x)), false)""",
    """CREATE OR REPLACE TEMP MACRO lp_array_distinct(a) AS CASE WHEN a IS NULL THEN NULL ELSE list_transform(
       list_filter(range(1, len(a) + 1), lambda _i: NOT coalesce(list_bool_or(list_transform(range(1, _i), lambda _j: a[_j] IS NOT DISTINCT FROM a[_i])), false)),
       lambda _i: a[_i]) END""",
    """CREATE OR REPLACE TEMP MACRO lp_arrays_overlap(a, b) AS CASE WHEN a IS NULL OR b IS NULL THEN NULL
       WHEN coalesce(list_bool_or(list_transform(a, lambda _e: list_contains(b, _e))), false) THEN true
       WHEN (lp_has_null(a) AND len(b) > 0) OR (lp_has_null(b) AND len(a) > 0) THEN NULL ELSE false END""",
    # -- aggregates (over a list of {'k': key, 'v': value} pairs, NULL keys already skipped) ------------
    """CREATE OR REPLACE TEMP MACRO lp_map_from_pairs(l) AS CASE WHEN l IS NULL THEN NULL ELSE map(
       lp_distinct_ordered(list_transform(l, lambda _p: _p.k)),
       list_transform(lp_distinct_ordered(list_transform(l, lambda _p: _p.k)), lambda _k: list_filter(l, lambda _p: _p.k = _k)[1].v)) END""",
    """CREATE OR REPLACE TEMP MACRO lp_multimap_from_pairs(l) AS CASE WHEN l IS NULL THEN NULL ELSE map(
       lp_distinct_ordered(list_transform(l, lambda _p: _p.k)),
       list_transform(lp_distinct_ordered(list_transform(l, lambda _p: _p.k)),
                      lambda _k: list_transform(list_filter(l, lambda _p: _p.k = _k), lambda _p: _p.v))) END""",
    """CREATE OR REPLACE TEMP MACRO lp_histogram_from_pairs(l) AS CASE WHEN l IS NULL THEN NULL ELSE map(
       lp_distinct_ordered(list_transform(l, lambda _p: _p.k)),
       list_transform(lp_distinct_ordered(list_transform(l, lambda _p: _p.k)),
                      lambda _k: CAST(len(list_filter(l, lambda _p: _p.k = _k)) AS BIGINT))) END""",
    """CREATE OR REPLACE TEMP MACRO lp_percentile_at(sorted, p) AS CASE WHEN sorted IS NULL OR p IS NULL OR len(sorted) = 0 THEN NULL
       WHEN p < 0 OR p > 1 THEN error('Percentile must be between 0 and 1')
       ELSE sorted[least(CAST(floor(p * len(sorted)) AS BIGINT), len(sorted) - 1) + 1] END""",
    # -- subscripts ------------------------------------------------------------------------------
    """CREATE OR REPLACE TEMP MACRO lp_array_subscript(a, i, safe) AS CASE WHEN a IS NULL OR i IS NULL THEN NULL
       WHEN i = 0 THEN lp_fail(safe, 'SQL array indices start at 1')
       WHEN i < 0 THEN lp_fail(safe, 'Array subscript is negative: ' || i)
       WHEN i > len(a) THEN lp_fail(safe, 'Array subscript must be less than or equal to array length: ' || i || ' > ' || len(a))
       ELSE a[i] END""",
    """CREATE OR REPLACE TEMP MACRO lp_map_subscript(m, k, ktext, safe) AS CASE WHEN m IS NULL OR k IS NULL THEN NULL
       WHEN NOT list_contains(map_keys(m), k) THEN lp_fail(safe, 'Key not present in map: ' || ktext)
       ELSE m[k] END""",
    # -- equality with Trino's NULL semantics ----------------------------------------------------
    """CREATE OR REPLACE TEMP MACRO lp_array_eq(a, b, eq) AS CASE WHEN a IS NULL OR b IS NULL THEN NULL
       WHEN len(a) <> len(b) THEN false
       WHEN list_bool_or(list_transform(list_transform(list_zip(a, b), eq), lambda _r: _r IS NOT DISTINCT FROM false)) THEN false
       WHEN list_bool_or(list_transform(list_transform(list_zip(a, b), eq), lambda _r: _r IS NULL)) THEN NULL
       ELSE true END""",
    """CREATE OR REPLACE TEMP MACRO lp_map_eq(a, b, eq) AS CASE WHEN a IS NULL OR b IS NULL THEN NULL
       WHEN cardinality(a) <> cardinality(b) THEN false
       WHEN NOT coalesce(list_bool_and(list_transform(map_keys(a), lambda _k: list_contains(map_keys(b), _k))), true) THEN false
       WHEN list_bool_or(list_transform(list_transform(map_keys(a), lambda _k: row(a[_k], b[_k])), eq)
                         .list_transform(lambda _r: _r IS NOT DISTINCT FROM false)) THEN false
       WHEN list_bool_or(list_transform(list_transform(map_keys(a), lambda _k: row(a[_k], b[_k])), eq)
                         .list_transform(lambda _r: _r IS NULL)) THEN NULL
       ELSE true END""",
    """CREATE OR REPLACE TEMP MACRO lp_map_not_distinct(a, b) AS CASE WHEN a IS NULL OR b IS NULL THEN a IS NULL AND b IS NULL
       ELSE cardinality(a) = cardinality(b)
            AND coalesce(list_bool_and(list_transform(map_keys(a), lambda _k: list_contains(map_keys(b), _k) AND a[_k] IS NOT DISTINCT FROM b[_k])), true) END""",
)


# -- URLs: java.net.URI's grammar (RFC 2396), which Trino's url_* functions parse with -------------
# A text java.net.URI rejects gives NULL for every part; an authority that is not host[:port] (a
# "registry" authority, e.g. a host with '_') has no host and no port.
_OTHER = r"[^\x00-\x{9F}\p{Z}]"  # non-ASCII, not a control or space character
_ESC = "%[0-9A-Fa-f]{2}"
_URIC = rf"(?:[;/?:@&=+$,\[\]A-Za-z0-9_.!~*'()\-]|{_ESC}|{_OTHER})"
_PCHAR = rf"(?:[;/:@&=+$,A-Za-z0-9_.!~*'()\-]|{_ESC}|{_OTHER})"
_SEG0 = rf"(?:[;@&=+$,A-Za-z0-9_.!~*'()\-]|{_ESC}|{_OTHER})"  # a relative path's first segment: no ':'
_AUTHC = rf"(?:[;:@&=+$,\[\]A-Za-z0-9_.!~*'()\-]|{_ESC}|{_OTHER})"
_TAIL = rf"(?:\?(?P<query>{_URIC}*))?(?:#(?P<fragment>{_URIC}*))?"
URL_WITH_SCHEME = (rf"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*):(?:(?://(?P<authority>{_AUTHC}*)(?P<path>(?:/{_PCHAR}*)?))"
                   rf"|(?P<abspath>/{_PCHAR}*)|(?P<opaque>(?:[;?:@&=+$,\[\]A-Za-z0-9_.!~*'()\-]|{_ESC}|{_OTHER}){_URIC}*)){_TAIL}")
URL_WITHOUT_SCHEME = (rf"(?:(?://(?P<authority>{_AUTHC}*)(?P<path>(?:/{_PCHAR}*)?))"
                      rf"|(?P<relpath>(?:{_SEG0}*(?:/{_PCHAR}*)?))){_TAIL}")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
_TOP = r"[A-Za-z](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
_OCTET = "(?:25[0-5]|2[0-4][0-9]|[01]?[0-9]?[0-9])"
URL_SERVER = (rf"(?:(?:[;:&=+$,A-Za-z0-9_.!~*'()\-]|{_ESC}|{_OTHER})*@)?"
              rf"(?P<host>\[[0-9A-Fa-f:.]+\]|(?:{_OCTET}\.){{3}}{_OCTET}|{_LABEL}\.?|(?:{_LABEL}\.)+{_TOP}\.?)(?::(?P<port>[0-9]*))?")
URL_REGISTRY = rf"(?:[;:@&=+$,A-Za-z0-9_.!~*'()\-]|{_ESC}|{_OTHER})*"


def _numbered(pattern: str) -> tuple[str, dict[str, int]]:
    """A pattern with its named groups made plain, and each name's group number. (DuckDB's
    regexp_extract with a list of names assigns them to groups by position, not by name.)"""
    out, names, count, i, in_class = [], {}, 0, 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(" and pattern.startswith("(?P<", i):
            count += 1
            end = pattern.index(">", i)
            names[pattern[i + 4:end]] = count
            out.append("(")
            i = end + 1
            continue
        elif ch == "(" and not pattern.startswith("(?", i):
            count += 1
        out.append(ch)
        i += 1
    return "".join(out), names


def _group(text: str, pattern: str, name: str) -> str:
    plain, names = _numbered(pattern)
    return f"regexp_extract({text}, {_q('^' + plain + '$')}, {names[name]})"


def _part(name: str) -> str:
    return _group("u", URL_WITHOUT_SCHEME, name)


URL_MACROS: tuple[str, ...] = (
    # The parts of a URL as java.net.URI sees them, NULL when it rejects the text.
    f"""CREATE OR REPLACE TEMP MACRO lp_url(u) AS CASE
       WHEN u IS NULL OR regexp_full_match(u, '(?:[A-Za-z][A-Za-z0-9+.\\-]*:)?//') THEN NULL
       WHEN regexp_full_match(u, {_q(URL_WITH_SCHEME)}) THEN
            {{'scheme': {_group('u', URL_WITH_SCHEME, 'scheme')}, 'authority': {_group('u', URL_WITH_SCHEME, 'authority')},
              'path': {_group('u', URL_WITH_SCHEME, 'path')}, 'abspath': {_group('u', URL_WITH_SCHEME, 'abspath')},
              'opaque': {_group('u', URL_WITH_SCHEME, 'opaque')}, 'query': {_group('u', URL_WITH_SCHEME, 'query')},
              'fragment': {_group('u', URL_WITH_SCHEME, 'fragment')}}}
       WHEN regexp_full_match(u, {_q(URL_WITHOUT_SCHEME)}) THEN
            {{'scheme': '', 'authority': {_part('authority')}, 'path': {_part('path')}, 'abspath': {_part('relpath')},
              'opaque': '', 'query': {_part('query')}, 'fragment': {_part('fragment')}}}
       ELSE NULL END""",
    # Whether the text is a URL java.net.URI accepts (its authority too).
    f"""CREATE OR REPLACE TEMP MACRO lp_url_ok(u) AS lp_url(u) IS NOT NULL AND (lp_url(u).authority = ''
       OR regexp_full_match(lp_url(u).authority, {_q(URL_SERVER)}) OR regexp_full_match(lp_url(u).authority, {_q(URL_REGISTRY)}))""",
    f"""CREATE OR REPLACE TEMP MACRO lp_url_host(u) AS CASE WHEN NOT lp_url_ok(u) THEN NULL
       WHEN regexp_full_match(lp_url(u).authority, {_q(URL_SERVER)})
       THEN {_group('lp_url(u).authority', URL_SERVER, 'host')} ELSE '' END""",
    f"""CREATE OR REPLACE TEMP MACRO lp_url_port(u) AS CASE WHEN NOT lp_url_ok(u) THEN NULL
       WHEN regexp_full_match(lp_url(u).authority, {_q(URL_SERVER)})
       THEN TRY_CAST(nullif({_group('lp_url(u).authority', URL_SERVER, 'port')}, '') AS BIGINT) END""",
    "CREATE OR REPLACE TEMP MACRO lp_url_protocol(u) AS CASE WHEN lp_url_ok(u) THEN lp_url(u).scheme END",
    "CREATE OR REPLACE TEMP MACRO lp_url_path(u) AS CASE WHEN lp_url_ok(u) THEN lp_url(u).path || lp_url(u).abspath END",
    "CREATE OR REPLACE TEMP MACRO lp_url_query(u) AS CASE WHEN lp_url_ok(u) THEN lp_url(u).query END",
    "CREATE OR REPLACE TEMP MACRO lp_url_fragment(u) AS CASE WHEN lp_url_ok(u) THEN lp_url(u).fragment END",
    # The first value of a query parameter ('' for a name without '='), NULL when it is absent.
    """CREATE OR REPLACE TEMP MACRO lp_url_parameter(u, name) AS CASE WHEN NOT lp_url_ok(u) OR name IS NULL THEN NULL
       ELSE list_transform(list_filter(string_split(lp_url(u).query, '&'), lambda _p: split_part(_p, '=', 1) = name),
                           lambda _p: CASE WHEN contains(_p, '=') THEN substr(_p, strpos(_p, '=') + 1) ELSE '' END)[1] END""",
    # Guava's form-parameter escaper: letters, digits and -_.* stay, a space is '+', the rest %XX of UTF-8.
    r"""CREATE OR REPLACE TEMP MACRO lp_url_encode(s) AS array_to_string(list_transform(string_split(s, ''),
       lambda _c: CASE WHEN regexp_full_match(_c, '[A-Za-z0-9._*\-]') THEN _c WHEN _c = ' ' THEN '+'
                       ELSE regexp_replace(hex(encode(_c)), '(..)', '%\1', 'g') END), '')""",
    """CREATE OR REPLACE TEMP MACRO lp_url_decode(s, safe) AS CASE WHEN s IS NULL THEN NULL
       WHEN regexp_matches(s, '%([^0-9A-Fa-f]|.[^0-9A-Fa-f]|.?$)')
       THEN lp_fail(safe, 'URLDecoder: Illegal hex characters in escape (%) pattern')
       ELSE url_decode(replace(s, '+', ' ')) END""",
)


_ALL: tuple[str, ...] = (*MACROS, *URL_MACROS)
_NAME = re.compile(r"\bMACRO\s+(lp_\w+)")
_USE = re.compile(r"\blp_\w+", re.IGNORECASE)  # sqlglot may write a call in capitals
NAMES: tuple[str, ...] = tuple(m.group(1) if (m := _NAME.search(sql)) else "" for sql in _ALL)
_BY_NAME = {name: i for i, name in enumerate(NAMES)}


def needed(*texts: str) -> list[str]:
    """The macros SQL texts call, with the macros those call, in the order they must be created.

    Why: creating all of them (over a hundred statements) cost a third of a second per connection,
    more than DuckDB needs for a short query; most statements (the ``logs`` view among them) call
    none. A macro is only ever called by its name, so the names in the text are the ones to create."""
    called: set[str] = set()
    for text in texts:
        called |= _called(text)
    return list(_with_callees(frozenset(called)))


@functools.lru_cache(maxsize=64)
def _called(text: str) -> frozenset[str]:
    """The macro names one text calls itself. Kept per text (a pure function of it): every query of a
    run cycle passes the same few texts - the ``logs`` view, many kilobytes, and its statement - and
    scanning them again for each of a cycle's few hundred queries was most of ``needed``'s time."""
    return frozenset(low for name in _USE.findall(text) if (low := name.lower()) in _BY_NAME)


@functools.lru_cache(maxsize=256)
def _with_callees(names: frozenset[str]) -> tuple[str, ...]:
    """``names`` and every macro they call, in creation order (the macros' own texts never change)."""
    todo = set(names)
    found: set[str] = set()
    while todo:
        name = todo.pop()
        found.add(name)
        todo |= _called(_ALL[_BY_NAME[name]]) - found
    return tuple(sorted(found, key=_BY_NAME.__getitem__))


def install(con: Any, names: Iterable[str] | None = None) -> None:
    """Create the named macros (default: every one) on a DuckDB connection (temporary: they live as
    long as the connection). Names must come in creation order (``needed`` gives them so)."""
    for sql in (_ALL if names is None else (_ALL[_BY_NAME[n]] for n in names)):
        con.execute(sql)
