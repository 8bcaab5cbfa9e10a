"""Canonical forms for the hostile corpus' independent comparison.

Nothing here shares code with tandem: values come from the engines' own
command-line clients (as text or hex), and each tandem type is normalised in
Python so that two values compare equal exactly when they are the same value:

  int, bool   integers (a bool is 0 or 1; anything else never equals a bool)
  double      IEEE-754 bits via float.hex(); -0.0 == 0.0, NaN == NaN
  decimal     exact decimal (digits and exponent, trailing zeros dropped);
              NaN / Infinity are kept apart as ("decspecial", text)
  text        the raw bytes
  bytes       the raw bytes
  timestamp   microseconds since 1970-01-01 UTC (proleptic Gregorian); an
              impossible calendar date or an infinity is ("tsbad", text)
  json        a structural digest: numbers as exact decimals (1.0 == 1 ==
              1E0, -0 == 0), strings as UTF-16 code units (so "\\ud83d\\ude00"
              == the emoji), object members as a multiset (order ignored,
              duplicates kept); text that does not parse is ("jsonbad", text)
  uuid        32 lower-case hex digits; anything else is ("uuidbad", text)

The JSON parser is iterative (no recursion), so 100,000 levels are fine.
"""

import hashlib
import math
import re
import struct
from decimal import Decimal, InvalidOperation


def canon_decimal_text(text):
    """The exact value of a decimal literal as 'digits e exponent' (or None)."""
    try:
        d = Decimal(text)
    except (InvalidOperation, ValueError):
        return None
    if not d.is_finite():
        return None
    sign, digits, exp = d.as_tuple()
    digits = list(digits)
    while len(digits) > 1 and digits[-1] == 0:
        digits.pop()
        exp += 1
    if all(x == 0 for x in digits):
        return "0"
    while digits and digits[0] == 0:
        digits.pop(0)
    return ("-" if sign else "") + "".join(map(str, digits)) + "e" + str(exp)


def decimal_value(text):
    text = text.strip()
    c = canon_decimal_text(text)
    if c is not None:
        return ("dec", c)
    try:
        d = Decimal(text)
        if d.is_nan() or d.is_infinite():
            return ("decspecial", text)
    except (InvalidOperation, ValueError):
        pass
    return ("decbad", text)


def double_value(x):
    if math.isnan(x):
        return ("dbl", "nan")
    if x == 0.0:
        x = 0.0  # -0.0 == 0.0
    return ("dbl", float.hex(x))


def double_from_bits(hex16):
    return double_value(struct.unpack(">d", bytes.fromhex(hex16))[0])


# --- timestamps ---------------------------------------------------------------

def days_from_civil(y, m, d):
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant)."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def days_in_month(y, m):
    if m == 2:
        leap = (y % 4 == 0 and y % 100 != 0) or y % 400 == 0
        return 29 if leap else 28
    return 30 if m in (4, 6, 9, 11) else 31


def civil_micros(y, mo, d, h=0, mi=0, s=0, us=0):
    return ((days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s) * 1000000) + us


_DATETIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?)?$")


def datetime_text_value(text):
    """A 'YYYY-MM-DD HH:MM:SS[.ffffff]' wall clock read as UTC (MariaDB DATETIME)."""
    m = _DATETIME.match(text)
    if not m:
        return ("tsbad", text)
    y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
    h, mi, s = (int(m.group(i) or 0) for i in (4, 5, 6))
    us = int((m.group(7) or "0").ljust(6, "0"))
    if not (1 <= mo <= 12) or not (1 <= d <= days_in_month(y, mo)) or h > 23 or mi > 59 or s > 59:
        return ("tsbad", text)
    return ("ts", civil_micros(y, mo, d, h, mi, s, us))


# --- uuids ----------------------------------------------------------------------

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_UUID_PLAIN = re.compile(r"^[0-9a-fA-F]{32}$")


def uuid_text_value(text):
    if _UUID.match(text) or _UUID_PLAIN.match(text):
        return ("uuid", text.replace("-", "").lower())
    return ("uuidbad", text)


def uuid_bytes_value(b):
    if len(b) == 16:
        return ("uuid", b.hex())
    return ("uuidbad", "x'" + b.hex() + "'")


# --- JSON -----------------------------------------------------------------------

_WS = " \t\n\r"
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_PLAIN = re.compile(r'[^"\\\x00-\x1f]*')
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _h(data):
    return hashlib.sha256(data).digest()


class JsonError(ValueError):
    pass


def _parse_string(text, pos):
    """text[pos] is '"'. Returns (UTF-16-LE code units as bytes, position after)."""
    pos += 1
    out = bytearray()
    n = len(text)
    while True:
        m = _PLAIN.match(text, pos)
        if m.end() > pos:
            out += text[pos:m.end()].encode("utf-16-le", "surrogatepass")
            pos = m.end()
        if pos >= n:
            raise JsonError("unterminated string")
        c = text[pos]
        if c == '"':
            return bytes(out), pos + 1
        if c != "\\":
            raise JsonError("raw control character in a string")
        if pos + 1 >= n:
            raise JsonError("bad escape")
        e = text[pos + 1]
        if e in _ESCAPES:
            out += _ESCAPES[e].encode("utf-16-le")
            pos += 2
        elif e == "u":
            hexd = text[pos + 2:pos + 6]
            if len(hexd) != 4 or not all(ch in "0123456789abcdefABCDEF" for ch in hexd):
                raise JsonError("bad \\u escape")
            out += struct.pack("<H", int(hexd, 16))
            pos += 6
        else:
            raise JsonError("bad escape")


def json_digest(text):
    """Structural digest (hex) of a JSON text; raises JsonError if it is not JSON."""
    n = len(text)

    def ws(p):
        while p < n and text[p] in _WS:
            p += 1
        return p

    def key_at(p):
        if p >= n or text[p] != '"':
            raise JsonError("object key expected")
        k, p = _parse_string(text, p)
        p = ws(p)
        if p >= n or text[p] != ":":
            raise JsonError("':' expected")
        return k, ws(p + 1)

    stack = []  # [kind, children, pending key]
    pos = ws(0)
    while True:
        # A value starts at pos.
        if pos >= n:
            raise JsonError("value expected")
        c = text[pos]
        val = None
        if c == "{":
            pos = ws(pos + 1)
            if pos < n and text[pos] == "}":
                val, pos = _h(b"O"), pos + 1
            else:
                k, pos = key_at(pos)
                stack.append(["O", [], k])
                continue
        elif c == "[":
            pos = ws(pos + 1)
            if pos < n and text[pos] == "]":
                val, pos = _h(b"A"), pos + 1
            else:
                stack.append(["A", [], None])
                continue
        elif c == '"':
            s, pos = _parse_string(text, pos)
            val = _h(b"S" + s)
        elif c in "-0123456789":
            m = _NUMBER.match(text, pos)
            if not m:
                raise JsonError("bad number")
            val, pos = _h(b"N" + canon_decimal_text(m.group()).encode()), m.end()
        elif text.startswith("true", pos):
            val, pos = _h(b"T"), pos + 4
        elif text.startswith("false", pos):
            val, pos = _h(b"F"), pos + 5
        elif text.startswith("null", pos):
            val, pos = _h(b"Z"), pos + 4
        else:
            raise JsonError("unexpected character %r" % c)
        # A value is complete: hand it to its containers.
        while True:
            pos = ws(pos)
            if not stack:
                if pos != n:
                    raise JsonError("trailing characters")
                return val.hex()
            top = stack[-1]
            if top[0] == "A":
                top[1].append(val)
            else:
                top[1].append(_h(b"K" + top[2] + b"\0" + val))
            if pos >= n:
                raise JsonError("unterminated container")
            if text[pos] == ",":
                pos = ws(pos + 1)
                if top[0] == "O":
                    top[2], pos = key_at(pos)
                break
            closer = "]" if top[0] == "A" else "}"
            if text[pos] != closer:
                raise JsonError("',' or '%s' expected" % closer)
            pos += 1
            stack.pop()
            if top[0] == "A":
                val = _h(b"A" + b"".join(top[1]))
            else:
                val = _h(b"O" + b"".join(sorted(top[1])))


PREVIEW = {}  # digest -> the start of a text that has it (for the report only)


def json_value(raw_bytes):
    try:
        text = raw_bytes.decode("utf-8")
    except UnicodeDecodeError:
        return ("jsonbad", raw_bytes)
    try:
        digest = json_digest(text)
    except JsonError:
        return ("jsonbad", raw_bytes)
    PREVIEW.setdefault(digest, text[:200])
    return ("json", digest)


def show(v, limit=60):
    """A short display of a canonical value for the report."""
    if v is None:
        return "NULL"
    kind, payload = v
    if kind == "json" and payload in PREVIEW:
        payload = PREVIEW[payload]
    if isinstance(payload, (bytes, bytearray)):
        s = repr(bytes(payload[:limit]))
        if len(payload) > limit:
            s += "...(%d bytes)" % len(payload)
        return "%s:%s" % (kind, s)
    s = str(payload)
    if len(s) > limit:
        s = s[:limit] + "...(%d chars)" % len(s)
    return "%s:%s" % (kind, s)


def self_test():
    """The comparator's own checks (run before every pair: a wrong comparator would prove nothing)."""
    def j(s):
        return json_value(s.encode("utf-8", "surrogatepass"))
    assert j("[1.0]") == j("[1]") == j("[1E0]") == j(" [ 0.1e1 ] ")
    assert j("[-0]") == j("[0]") == j("[0e5]")
    assert j('{"a":1,"b":2}') == j('{"b":2,"a":1}')
    assert j('{"a":1,"a":2}') != j('{"a":2}')
    assert j('"\\ud83d\\ude00"') == j('"\U0001f600"')
    assert j('"\\ud800"') != j('"\\udc00"')
    assert j("[3.141592653589793238462643383279]") != j("[3.141592653589793238462643383278]")
    assert j("[1e400]") == j("[1" + "0" * 400 + "]")
    assert j("[1e-400]") == j("[0." + "0" * 399 + "1]") != j("[0]")
    assert j("null") != j('"null"') and j("[]") != j("{}") and j("[[]]") != j("[]")
    assert j('["a","b"]') != j('["b","a"]')
    for bad in ("not json", '{"a":1} x', "[01]", "[NaN]", '["a\tb"]', "{'a':1}", "[1,]", ""):
        assert j(bad)[0] == "jsonbad", bad
    assert j("[" * 100000 + "]" * 100000)[0] == "json"
    assert decimal_value("-0.000") == decimal_value("0") == ("dec", "0")
    assert decimal_value("1.500000") == decimal_value("1.5") != decimal_value("1.50000000000000000000000001")
    assert decimal_value("NaN")[0] == "decspecial"
    assert double_value(-0.0) == double_value(0.0) and double_value(float("nan")) == double_value(float("nan"))
    assert double_value(0.1) != double_value(0.10000000000000002)
    assert double_from_bits("3fb999999999999a") == double_value(0.1)
    assert datetime_text_value("2024-02-30 00:00:00.000000")[0] == "tsbad"
    assert datetime_text_value("0000-00-00 00:00:00")[0] == "tsbad"
    assert datetime_text_value("2024-03-01 00:00:00") == ("ts", civil_micros(2024, 3, 1))
    assert civil_micros(1, 1, 1) == -62135596800000000
    assert civil_micros(9999, 12, 31, 23, 59, 59, 999999) == 253402300799999999
    assert civil_micros(1969, 12, 31, 23, 59, 59, 999999) == -1
    assert uuid_text_value("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11") == uuid_bytes_value(
        bytes.fromhex("a0eebc999c0b4ef8bb6d6bb9bd380a11"))
    assert uuid_text_value("abcdefghijklmnop")[0] == "uuidbad"
