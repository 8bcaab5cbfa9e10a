"""The hostile corpus: per old engine, its own values in its own native SQL.

A collection is one table of old: a key column, typed columns, and rows. Each
row is a case with its expected outcome per target engine:

  "equal"        new holds the same value (by the independent comparison)
  "quarantined"  tandem refuses the row with a reason, and new does not hold it
  "either"       both are lawful (the issue leaves the policy open; see note)

The table `hostile` has one column per tandem type (and a few engine-specific
extras); each of its rows puts one hostile value in one column, NULL elsewhere,
so that one refused value never hides another. Key collections hold hostile
keys, several per table (one bad key must not stop the others). `tamper` holds
precise but storable values that the tamper step edits in new by hand.
"""

import random

E, Q, EITHER = "equal", "quarantined", "either"
ENGINES = ("sqlite", "postgres", "mariadb")


def expect(default=E, **per_target):
    out = {e: default for e in ENGINES}
    out.update(per_target)
    return out


ALL_E = expect()
ALL_Q = expect(Q)


class Row:
    def __init__(self, case, key_sql, values, exp, note="", session=None):
        self.case = case          # case name
        self.key_sql = key_sql    # SQL literal of the key
        self.values = values      # {column: SQL literal}
        self.expect = exp         # {target engine: E|Q|EITHER}
        self.note = note
        self.session = session    # MariaDB sql_mode for this row's INSERT


class Collection:
    def __init__(self, name, key_col, key_type, columns, key_native=None, note=""):
        self.name = name
        self.key_col = key_col
        self.key_type = key_type
        self.columns = columns    # [(name, tandem type, native type or None)]
        self.key_native = key_native
        self.rows = []
        self.note = note

    def column_types(self):
        return [(c, t) for c, t, _ in self.columns]

    def type_of(self, col):
        return dict(self.column_types())[col]


def utf8(s):
    return s.encode("utf-8", "surrogatepass")


def nested(depth):
    return "[" * depth + "]" * depth


def random_ascii(n, seed):
    r = random.Random(seed)
    return "".join(r.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(n))


def random_bytes(n, seed):
    return random.Random(seed).randbytes(n)


TAMPER_ROW = {
    "c_int": 1234567890123,
    "c_bool": True,
    "c_double": 0.1,
    "c_decimal": "12345.123456789012345678901234567891",
    "c_text": "tamper me: \u00fcn\u00efc\u00f6d\u00e9 \U0001f600",
    "c_bytes": bytes(range(64)),
    "c_ts": (2024, 2, 29, 12, 34, 56, 123457),
    "c_json": '{"pi": 3.14159265358979323846264338327950288, "list": [1, 2.5, "x"], "n": null}',
    "c_uuid": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
}

# One edit per type, applied to new's tamper row 1 by hand (see hostile_corpus.py).
TAMPERS = [
    ("tamper_int_plus_1", "c_int", 1234567890124),
    ("tamper_bool_flipped", "c_bool", False),
    ("tamper_double_last_bit", "c_double", 0.10000000000000002),
    ("tamper_decimal_last_digit", "c_decimal", "12345.123456789012345678901234567892"),
    ("tamper_text_one_char", "c_text", "tamper me: \u00fcn\u00efc\u00f6d\u00e9 \U0001f601"),
    ("tamper_bytes_one_byte", "c_bytes", bytes(range(5)) + b"\x04" + bytes(range(6, 64))),
    ("tamper_timestamp_1us", "c_ts", (2024, 2, 29, 12, 34, 56, 123458)),
    ("tamper_json_30th_digit", "c_json",
     '{"pi": 3.14159265358979323846264338328950288, "list": [1, 2.5, "x"], "n": null}'),
    ("tamper_uuid_nibble", "c_uuid", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12"),
]


def literal(L, ttype, v, json_type=None):
    """v in the harness' own terms -> SQL literal of engine L."""
    if v is None:
        return "NULL"
    if ttype == "int":
        return L.lit_int(v)
    if ttype == "bool":
        return L.lit_bool(v)
    if ttype == "double":
        return L.lit_double(v)
    if ttype == "decimal":
        return L.lit_decimal(v)
    if ttype == "text":
        return L.lit_text(v if isinstance(v, bytes) else utf8(v))
    if ttype == "bytes":
        return L.lit_bytes(v)
    if ttype in ("timestamp", "datetime"):
        return L.lit_ts(v)
    if ttype == "json":
        b = v if isinstance(v, bytes) else utf8(v)
        return L.lit_json(b, json_type) if json_type else L.lit_json(b)
    if ttype == "uuid":
        return L.lit_uuid(v)
    raise ValueError(ttype)


def build(engine, L):
    """The collections of old for engine `engine` (L: its Engine, for literals)."""
    is_sqlite, is_postgres, is_mariadb = engine == "sqlite", engine == "postgres", engine == "mariadb"
    cols = [("c_int", "int", None), ("c_bool", "bool", None), ("c_double", "double", None),
            ("c_decimal", "decimal", None), ("c_text", "text", None), ("c_bytes", "bytes", None),
            ("c_ts", "timestamp", None), ("c_json", "json", None),
            # json that old keeps as written: PostgreSQL json (not jsonb), MariaDB LONGTEXT (not JSON,
            # whose CHECK (JSON_VALID) refuses more than 31 levels and lone surrogates)
            ("c_json_raw", "json", {"postgres": "json", "mariadb": "LONGTEXT"}.get(engine)),
            ("c_uuid", "uuid", None)]
    if is_postgres:  # float4 read as double; a timestamp without time zone as a datetime (no zone)
        cols += [("c_real", "double", "real"), ("c_ts_naive", "datetime", "timestamp")]
    if is_mariadb:  # an unsigned column read as int, FLOAT as double, TIMESTAMP (stored in UTC) as timestamp
        cols += [("c_uint", "int", "BIGINT UNSIGNED"), ("c_float", "double", "FLOAT"),
                 ("c_ts_tz", "timestamp", "TIMESTAMP(6) NULL")]
    hostile = Collection("hostile", "id", "int", cols,
                         note="one hostile value per row, in the column of its type")
    ids = iter(range(1, 100000))

    def h(case, col, sql, exp=ALL_E, note="", session=None):
        hostile.rows.append(Row(case, str(next(ids)), {col: sql}, exp, note, session))

    def hv(case, col, value, exp=ALL_E, note="", session=None, json_type=None):
        h(case, col, literal(L, hostile.type_of(col), value, json_type), exp, note, session)

    # -- int
    hv("int_max", "c_int", 2 ** 63 - 1)
    hv("int_min", "c_int", -2 ** 63)
    hv("int_zero", "c_int", 0)
    if is_sqlite:
        h("int_text_in_integer_column", "c_int", "'abc'", ALL_Q, "a TEXT value in an INTEGER column")
        h("int_real_in_integer_column", "c_int", "1.5", ALL_Q, "a REAL value in an INTEGER column")
    if is_mariadb:
        h("uint_2_64_minus_1", "c_uint", "18446744073709551615", ALL_Q, "BIGINT UNSIGNED above int64")
        h("uint_int64_max", "c_uint", "9223372036854775807")
    # -- bool
    hv("bool_true", "c_bool", True)
    hv("bool_false", "c_bool", False)
    if is_sqlite or is_mariadb:
        h("bool_two", "c_bool", "2", ALL_Q, "2 in a bool column")
    if is_mariadb:
        h("bool_minus_one", "c_bool", "-1", ALL_Q, "-1 in a BOOLEAN (TINYINT) column")
    # -- double
    for case, x in [("dbl_max", 1.7976931348623157e308), ("dbl_neg_max", -1.7976931348623157e308),
                    ("dbl_min_subnormal", 5e-324), ("dbl_min_normal", 2.2250738585072014e-308),
                    ("dbl_0_1", 0.1), ("dbl_0_30000000000000004", 0.30000000000000004), ("dbl_1e23", 1e23),
                    ("dbl_2_pow_53", 9007199254740992.0)]:
        hv(case, "c_double", x)
    if is_sqlite:
        hv("dbl_neg_zero", "c_double", -0.0, note="SQLite keeps 0.0 (it has no -0.0)")
    else:
        hv("dbl_neg_zero", "c_double", -0.0, expect(sqlite=EITHER),
           note="-0.0 == 0.0 here; SQLite cannot keep the sign, refusing is lawful too")
    if is_postgres:
        hv("dbl_nan", "c_double", float("nan"), expect(Q, postgres=E), "MariaDB has no NaN, SQLite stores NULL")
    if is_postgres or is_sqlite:
        hv("dbl_inf", "c_double", float("inf"), expect(mariadb=Q), "MariaDB has no infinity")
        hv("dbl_neg_inf", "c_double", float("-inf"), expect(mariadb=Q), "MariaDB has no infinity")
    if is_sqlite:
        h("dbl_text_in_real_column", "c_double", "'NaN'", ALL_Q, "TEXT 'NaN' in a REAL column")
    if is_postgres:
        h("real_0_1", "c_real", "'0.1'::real", ALL_E, "float4 0.1 is 0.100000001490116..., read as double")
        h("real_16777217", "c_real", "'16777217'::real", ALL_E, "float4 holds 16777216")
        h("real_max", "c_real", "'3.4028235e38'::real")
    if is_mariadb:
        h("float_0_1", "c_float", "0.1", ALL_E, "FLOAT 0.1 is 0.100000001490116..., read as double")
        h("float_16777216", "c_float", "16777216", ALL_E, "shown as 16777200 at 6 digits")
    # -- decimal
    hv("dec_65_digits_30_frac", "c_decimal", "9" * 35 + "." + "9" * 30, note="the largest DECIMAL(65,30)")
    hv("dec_smallest_30_frac", "c_decimal", "0." + "0" * 29 + "1")
    hv("dec_negative", "c_decimal", "-12345.678")
    hv("dec_neg_zero", "c_decimal", "-0.000" if not is_postgres else "-0")
    hv("dec_trailing_zeros", "c_decimal", "1.500")
    if is_postgres or is_sqlite:
        hv("dec_40_frac_digits", "c_decimal", "0." + "1234567890" * 4, expect(mariadb=Q),
           "DECIMAL(65,30) would round it")
        hv("dec_70_digits", "c_decimal", "1234567890" * 7, expect(mariadb=Q), "more than 35 integer digits")
        hv("dec_1000_digits", "c_decimal", "-" + "9876543210" * 50 + "." + "0123456789" * 50,
           expect(mariadb=Q))
    if is_postgres:
        h("dec_nan", "c_decimal", "'NaN'::numeric", expect(Q, postgres=EITHER), "NaN is not a decimal number")
        h("dec_infinity", "c_decimal", "'Infinity'::numeric", expect(Q, postgres=EITHER))
    if is_sqlite:
        h("dec_exponent_text", "c_decimal", "'1E+2'", expect(EITHER), "an exponent: 100 or refused")
        h("dec_garbage_text", "c_decimal", "'12abc'", ALL_Q)
        h("dec_blob", "c_decimal", "X'31'", ALL_Q, "a BLOB in the decimal (TEXT) column")
    # -- text
    hv("text_empty", "c_text", "")
    hv("text_controls", "c_text", "tab\there\nnewline\r\nCRLF back\\slash 'q' \"dq\" \x01\x1f\x7f end")
    hv("text_copy_null_marker", "c_text", "\\N", note="COPY's NULL marker")
    hv("text_copy_end_marker", "c_text", "a\n\\.\nb", note="COPY's end-of-data line")
    hv("text_4byte_utf8", "c_text", "\U0001f600\U0001d11e\U0001f004")
    hv("text_unicode_misc", "c_text", "\ufeffBOM e\u0301 \u00e9 \u2028 \u0085 \u200b \uffff \U0010ffff")
    hv("text_trailing_spaces", "c_text", "a  ")
    hv("text_1mb_mixed", "c_text", "\u00fcn\u00efc\u00f6d\u00e9 \U0001f600\t\\ " * 60000)
    if is_sqlite or is_mariadb:
        hv("text_nul_inside", "c_text", b"before\x00after", expect(postgres=Q), "PostgreSQL text has no NUL")
        hv("text_nul_only", "c_text", b"\x00", expect(postgres=Q))
    if is_sqlite:
        hv("text_invalid_utf8", "c_text", b"\xff\xfe", ALL_Q)
        hv("text_utf8_surrogate", "c_text", b"\xed\xa0\x80", ALL_Q, "CESU surrogate")
        hv("text_overlong_utf8", "c_text", b"\xc0\xaf", ALL_Q)
        hv("text_truncated_utf8", "c_text", b"ab\xe2\x82", ALL_Q)
        h("text_blob_in_text_column", "c_text", "X'41'", ALL_Q, "a BLOB in a TEXT column")
    # -- bytes
    hv("bytes_every_value", "c_bytes", bytes(range(256)))
    hv("bytes_empty", "c_bytes", b"")
    hv("bytes_nul", "c_bytes", b"\x00")
    hv("bytes_1mb_random", "c_bytes", random_bytes(1 << 20, 7))
    if is_sqlite:
        h("bytes_text_in_blob_column", "c_bytes", "'abc'", expect(EITHER), "TEXT in a BLOB column")
    # -- timestamp
    for case, t in [("ts_min", (1, 1, 1, 0, 0, 0, 0)), ("ts_max", (9999, 12, 31, 23, 59, 59, 999999)),
                    ("ts_epoch", (1970, 1, 1, 0, 0, 0, 0)),
                    ("ts_before_epoch_1us", (1969, 12, 31, 23, 59, 59, 999999)),
                    ("ts_leap_day_1us", (2024, 2, 29, 12, 34, 56, 1)), ("ts_1582_gregorian", (1582, 10, 10, 0, 0, 0, 0))]:
        hv(case, "c_ts", t)
    if is_postgres:
        h("ts_infinity", "c_ts", "'infinity'::timestamptz", ALL_Q)
        h("ts_minus_infinity", "c_ts", "'-infinity'::timestamptz", ALL_Q)
        h("ts_bc", "c_ts", "'0044-03-15 12:00:00+00 BC'::timestamptz", ALL_Q)
        h("ts_year_10000", "c_ts", "'10000-01-01 00:00:00+00'::timestamptz", ALL_Q)
        h("ts_pg_max", "c_ts", "'294276-12-31 23:59:59.999999+00'::timestamptz", ALL_Q)
        h("ts_other_zone", "c_ts", "'2024-06-01 12:00:00.5+05:30'::timestamptz", ALL_E, "an instant, UTC 06:30")
    if is_mariadb:
        inval = "ALLOW_INVALID_DATES"
        h("ts_invalid_2024_02_30", "c_ts", "'2024-02-30 10:00:00'", ALL_Q, "ALLOW_INVALID_DATES", inval)
        h("ts_invalid_2023_02_29", "c_ts", "'2023-02-29 00:00:00'", ALL_Q, "ALLOW_INVALID_DATES", inval)
        h("ts_zero_date", "c_ts", "'0000-00-00 00:00:00'", ALL_Q, "zero date", inval)
        h("ts_zero_month", "c_ts", "'2024-00-10 00:00:00'", ALL_Q, "zero month", inval)
        h("ts_zero_day", "c_ts", "'2024-05-00 00:00:00'", ALL_Q, "zero day", inval)
        h("ts_year_zero", "c_ts", "'0000-01-01 00:00:00'", ALL_Q, "year 0")
    if is_postgres:
        h("ts_naive", "c_ts_naive", "'2024-06-01 12:00:00.000001'::timestamp", ALL_E, "a datetime, no zone")
        h("ts_naive_min", "c_ts_naive", "'0001-01-01 00:00:00'::timestamp")
        h("ts_naive_infinity", "c_ts_naive", "'infinity'::timestamp", ALL_Q)
    if is_mariadb:
        h("ts_timestamp_type", "c_ts_tz", "'2024-06-01 12:00:00.500000'", ALL_E, "MariaDB TIMESTAMP, UTC session")
        h("ts_timestamp_type_zero", "c_ts_tz", "'0000-00-00 00:00:00'", ALL_Q, "a zero TIMESTAMP",
          "ALLOW_INVALID_DATES")
    if is_sqlite:
        h("ts_below_min", "c_ts", str(-62135596800000001), ALL_Q, "1 us before 0001-01-01")
        h("ts_above_max", "c_ts", str(253402300800000000), ALL_Q, "10000-01-01")
        h("ts_int64_max", "c_ts", str(2 ** 63 - 1), ALL_Q)
        h("ts_int64_min", "c_ts", "(-9223372036854775807 - 1)", ALL_Q)
        h("ts_text_in_integer_column", "c_ts", "'2024-01-01 00:00:00'", ALL_Q)
        h("ts_real_in_integer_column", "c_ts", "1.5", ALL_Q)
    # -- json: c_json is old's JSON type; "raw" is where old keeps the text as written
    raw = "c_json" if (is_sqlite or is_mariadb) else "c_json_raw"
    jt = "json" if is_postgres else None

    def j(case, text, exp=ALL_E, note="", col="c_json"):
        hv(case, col, text, exp, note, json_type=(jt if col == "c_json_raw" else None))

    j("json_pi_31_digits", '{"pi": 3.141592653589793238462643383279}')
    j("json_2_pow_64", "[18446744073709551616, -9223372036854775809]")
    j("json_1e_minus_400", "[1e-400]", note="0 as a double")
    j("json_1e400", "[1e400]", note="infinity as a double")
    j("json_neg_zero", "[-0, -0.0, 0e5]", col=raw)
    j("json_number_spellings", "[1.0, 1, 1E2, 1e+2, 100, 0.5e-0, 2.50]", col=raw)
    j("json_precise_doubles", "[0.1, 5e-324, 1.7976931348623157e308, 2.2250738585072014e-308]")
    j("json_unicode_escapes", '["\\u00e9\\u4e2d\\ud83d\\ude00\\u2028", "\\u00E9"]', col=raw)
    j("json_emoji_literal", '{"\U0001f600": "\U0001d11e"}')
    j("json_escapes", '"tab\\t nl\\n quote\\" backslash\\\\ slash\\/ ctrl\\u0001 \\b\\f"', col=raw)
    j("json_null_literal", "null", note="JSON null, not SQL NULL")
    j("json_string_scalar", '"just a string"')
    j("json_true_scalar", "true")
    j("json_empty_object", "{}")
    j("json_empty_array", "[]")
    j("json_empty_key", '{"": 0}')
    j("json_key_order", '{"b": 1, "a": 2, "c": {"z": 1, "y": 2}}', col=raw)
    j("json_whitespace", ' \n\t{ "a" : [ 1 , 2 ] } \r\n', col=raw)
    j("json_5000_members", "{" + ", ".join('"k%d": %d' % (i, i) for i in range(5000)) + "}")
    j("json_depth_31", nested(31), note="MariaDB's JSON_VALID takes at most 31 levels")
    j("json_depth_40", nested(40), expect(mariadb=EITHER), "over MariaDB's JSON_VALID depth (new's JSON "
      "column refuses it: quarantined, unless new's column were LONGTEXT)", col="c_json_raw" if is_mariadb else "c_json")
    j("json_depth_900", nested(900), expect(mariadb=EITHER), "under tandem's 1000-level limit",
      col="c_json_raw" if is_mariadb else "c_json")
    j("json_nul_escape", '{"s": "a\\u0000b"}', expect(postgres=Q), "jsonb cannot hold \\u0000", col=raw)
    j("json_nul_key", '{"\\u0000": 1}', expect(postgres=Q), "jsonb cannot hold \\u0000", col=raw)
    j("json_duplicate_keys", '{"a": 1, "a": 2}', ALL_Q, "tandem refuses duplicate keys", col=raw)
    j("json_duplicate_keys_nested", '{"x": {"b": 1, "b": 1}}', ALL_Q, col=raw)
    if is_sqlite or is_mariadb:
        j("json_1e1000000", "[1e1000000]", expect(EITHER, postgres=Q),
          "beyond PostgreSQL numeric's range; tandem may refuse it everywhere")
        j("json_lone_surrogate", '["\\ud800"]', expect(Q, sqlite=EITHER),
          "jsonb and MariaDB's JSON_VALID refuse it", col="c_json_raw" if is_mariadb else "c_json")
        rawcol = "c_json_raw" if is_mariadb else "c_json"
        j("json_invalid_text", "not json", ALL_Q, col=rawcol)
        j("json_trailing_garbage", '{"a": 1} x', ALL_Q, col=rawcol)
        j("json_single_quotes", "{'a': 1}", ALL_Q, col=rawcol)
        j("json_nan_token", "[NaN]", ALL_Q, col=rawcol)
        j("json_leading_zero", "[01]", ALL_Q, col=rawcol)
        j("json_raw_tab_in_string", '["a\tb"]', ALL_Q, "a raw control character", col=rawcol)
    if is_sqlite:
        h("json_invalid_utf8", "c_json", "CAST(X'22ff22' AS TEXT)", ALL_Q)
        h("json_blob", "c_json", "X'7b7d'", ALL_Q, "a BLOB in the JSON (TEXT) column")
    # -- uuid
    hv("uuid_lower", "c_uuid", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
    hv("uuid_nil", "c_uuid", "00000000-0000-0000-0000-000000000000")
    hv("uuid_max", "c_uuid", "ffffffff-ffff-ffff-ffff-ffffffffffff")
    if is_mariadb:
        h("uuid_upper_case", "c_uuid", "'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'")
        h("uuid_16_chars", "c_uuid", "'abcdefghijklmnop'", ALL_Q, "not a UUID (not 16 raw bytes either)")
        h("uuid_garbage", "c_uuid", "'not-a-uuid-at-all'", ALL_Q)
        h("uuid_36_non_hex", "c_uuid", "'zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz'", ALL_Q)
        h("uuid_empty", "c_uuid", "''", ALL_Q)
        h("uuid_no_dashes", "c_uuid", "'a0eebc999c0b4ef8bb6d6bb9bd380a11'", expect(EITHER))
    if is_sqlite:
        h("uuid_15_bytes", "c_uuid", "X'" + "ab" * 15 + "'", ALL_Q)
        h("uuid_17_bytes", "c_uuid", "X'" + "ab" * 17 + "'", ALL_Q)
        h("uuid_text_form", "c_uuid", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", expect(EITHER),
          "TEXT in the uuid (BLOB) column")
    # -- every column NULL
    hostile.rows.append(Row("all_null", str(next(ids)), {}, ALL_E, "SQL NULL in every column"))

    out = [hostile]

    # -- keys
    def keyed(name, ktype, key_native=None, note=""):
        c = Collection(name, "k", ktype, [("c_n", "int", None)], key_native, note)
        out.append(c)
        return c

    def kv(c, case, sql, exp=ALL_E, note="", session=None):
        c.rows.append(Row(case, sql, {"c_n": str(len(c.rows) + 1)}, exp, note, session))

    def kl(c, case, value, exp=ALL_E, note="", session=None):
        kv(c, case, literal(L, c.key_type, value), exp, note, session)

    c = keyed("key_int", "int")
    for case, n in [("kint_min", -2 ** 63), ("kint_minus_1", -1), ("kint_zero", 0), ("kint_max", 2 ** 63 - 1)]:
        kl(c, case, n)
    c = keyed("key_text", "text")
    for case, s in [("ktext_empty", ""), ("ktext_a", "a"), ("ktext_a_space", "a "), ("ktext_upper_a", "A"),
                    ("ktext_nfc", "\u00e9"), ("ktext_nfd", "e\u0301"), ("ktext_emoji", "\U0001f600"),
                    ("ktext_controls", "tab\tnl\n"), ("ktext_copy_null", "\\N"), ("ktext_255_chars", "\u00e9" * 255)]:
        kl(c, case, s)
    kl(c, "ktext_256_chars", "x" * 256, expect(mariadb=Q), "new's MariaDB key is VARCHAR(255)")
    if is_sqlite or is_mariadb:
        c = keyed("key_text_nul", "text")
        kl(c, "ktext_k", "k")
        kl(c, "ktext_k_nul_x", b"k\x00x", expect(postgres=Q), "keys that differ only after a NUL")
        kl(c, "ktext_k_nul_y", b"k\x00y", expect(postgres=Q), "keys that differ only after a NUL")
    c = keyed("key_text_long", "text",
              "VARCHAR(3000) CHARACTER SET ascii COLLATE ascii_bin NOT NULL" if is_mariadb else None)
    kl(c, "ktext_short", "short")
    kl(c, "ktext_3000_repetitive", "x" * 3000, expect(mariadb=Q), "compresses into a PostgreSQL index")
    if is_sqlite or is_mariadb:
        kl(c, "ktext_3000_random", random_ascii(3000, 3), expect(postgres=Q, mariadb=Q),
           "a PostgreSQL index row too large; MariaDB's key is VARCHAR(255)")
    if is_sqlite:
        c = keyed("key_text_bad_utf8", "text")
        kl(c, "ktext_ok", "ok")
        kl(c, "ktext_ff", b"\xff", ALL_Q, "not UTF-8")
        kl(c, "ktext_surrogate", b"\xed\xa0\x80", ALL_Q, "not UTF-8")
    if is_sqlite:
        c = keyed("key_text_null", "text", "TEXT", "a rowid table's TEXT PRIMARY KEY lets SQLite store NULL")
        kl(c, "ktext_not_null", "fine")
        kv(c, "ktext_null", "NULL", ALL_Q, "a NULL key")
    c = keyed("key_bytes", "bytes")
    for case, b in [("kbytes_empty", b""), ("kbytes_00", b"\x00"), ("kbytes_0000", b"\x00\x00"),
                    ("kbytes_00ff", b"\x00\xff"), ("kbytes_ff", b"\xff"), ("kbytes_ffff", b"\xff\xff"),
                    ("kbytes_255", bytes(range(255)))]:
        kl(c, case, b)
    kl(c, "kbytes_256", bytes(range(256)), expect(mariadb=Q), "new's MariaDB key is VARBINARY(255)")
    c = keyed("key_ts", "timestamp")
    for case, t in [("kts_min", (1, 1, 1, 0, 0, 0, 0)), ("kts_before_epoch", (1969, 12, 31, 23, 59, 59, 999999)),
                    ("kts_epoch", (1970, 1, 1, 0, 0, 0, 0)), ("kts_max", (9999, 12, 31, 23, 59, 59, 999999))]:
        kl(c, case, t)
    if is_mariadb:
        inval = "ALLOW_INVALID_DATES"
        kv(c, "kts_invalid_2024_02_30", "'2024-02-30 00:00:00'", ALL_Q, "would merge with 2024-03-01", inval)
        kv(c, "kts_2024_03_01", "'2024-03-01 00:00:00'")
        kv(c, "kts_zero_date", "'0000-00-00 00:00:00'", ALL_Q, "zero date", inval)
    if is_postgres:
        kv(c, "kts_infinity", "'infinity'::timestamptz", ALL_Q)
        kv(c, "kts_minus_infinity", "'-infinity'::timestamptz", ALL_Q)
        kv(c, "kts_year_10000", "'10000-01-01 00:00:00+00'::timestamptz", ALL_Q)
    if is_sqlite:
        kv(c, "kts_below_min", str(-62135596800000001), ALL_Q)
        kv(c, "kts_above_max", str(253402300800000000), ALL_Q)
    c = keyed("key_uuid", "uuid")
    for case, u in [("kuuid_nil", "00000000-0000-0000-0000-000000000000"),
                    ("kuuid_max", "ffffffff-ffff-ffff-ffff-ffffffffffff"),
                    ("kuuid_lower", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")]:
        kl(c, case, u)
    if is_mariadb:
        kv(c, "kuuid_16_chars", "'abcdefghijklmnop'", ALL_Q, "not a UUID")
    if is_sqlite:
        kv(c, "kuuid_15_bytes", "X'" + "cd" * 15 + "'", ALL_Q)
    if is_mariadb:
        c = keyed("key_uuid_case", "uuid", note="two spellings of one UUID: at most one can arrive")
        kv(c, "kuuid_upper_twin", "'B0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'", expect(EITHER),
           "same UUID as the lower-case twin")
        kv(c, "kuuid_lower_twin", "'b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", expect(EITHER),
           "same UUID as the upper-case twin")

    # -- large and deep values, apart: a crash or a hang there must not hide the rest
    big = Collection("big_text", "id", "int", [("c_text", "text", None)],
                     note="four 6 MB rows together among 60 small ones: a batch of them is over MariaDB's 16 MB "
                          "max_allowed_packet")
    six_mb = {"sqlite": "replace(hex(zeroblob(3000000)), '00', 'ab') || '%s'",
              "postgres": "repeat('ab', 3000000) || '%s'",
              "mariadb": "CONCAT(REPEAT('ab', 3000000), '%s')"}[engine]
    for i, tag in enumerate("ABCD"):
        big.rows.append(Row("text_6mb_" + tag.lower(), str(i + 1), {"c_text": six_mb % tag}, ALL_E))
    for i in range(5, 65):
        big.rows.append(Row("text_small_%d" % i, str(i), {"c_text": L.lit_text(b"small %d" % i)}, ALL_E))
    out.append(big)

    deep = Collection("deep_json", "id", "int",
                      [("c_json", "json", "LONGTEXT" if is_mariadb else None)],
                      note="nesting past tandem's 1000-level limit (and past any stack)")
    deep.rows.append(Row("json_depth_1", "1", {"c_json": L.lit_json(b"[1]")}, ALL_E))
    deep.rows.append(Row("json_depth_1100", "2", {"c_json": L.lit_json(utf8(nested(1100)))}, ALL_Q,
                         "deeper than 1000 levels"))
    deep.rows.append(Row("json_depth_2000", "3", {"c_json": L.lit_json(utf8(nested(2000)))}, ALL_Q,
                         "deeper than 1000 levels"))
    if is_sqlite or is_mariadb:
        deep.rows.append(Row("json_depth_100000", "4", {"c_json": L.lit_json(utf8(nested(100000)))}, ALL_Q,
                             "100,000 levels (PostgreSQL cannot store it)"))
    out.append(deep)

    # -- tamper: storable, precise values (edited in new by hand after a clean verify)
    tcols = [(c, t, n) for c, t, n in cols if c in TAMPER_ROW]
    tamper = Collection("tamper", "id", "int", tcols, note="edited in new after a clean verify")
    for rid in (1, 2):
        vals = {}
        for c, t, _ in tcols:
            v = TAMPER_ROW[c]
            if rid == 2 and t == "int":
                v = -v
            vals[c] = literal(L, t, v)
        tamper.rows.append(Row("tamper_row_%d" % rid, str(rid), vals, ALL_E))
    out.append(tamper)
    return out


def load_sql(engine, L, collections):
    """The SQL that creates and fills old."""
    parts = []
    if engine == "sqlite":
        parts.append("PRAGMA journal_mode=WAL;\nBEGIN;\n")
    if engine == "mariadb":
        parts.append("SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION';\n")
    for c in collections:
        parts.append(L.ddl_table(c.name, c.key_col, c.key_type, c.columns, c.key_native))
        for r in c.rows:
            cols = [c.key_col] + list(r.values)
            vals = [r.key_sql] + list(r.values.values())
            stmt = "INSERT INTO %s (%s) VALUES (%s);\n" % (c.name, ", ".join(cols), ", ".join(vals))
            if r.session and engine == "mariadb":
                stmt = ("SET SESSION sql_mode = '%s';\n%sSET SESSION sql_mode = "
                        "'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION';\n" % (r.session, stmt))
            parts.append(stmt)
    if engine == "sqlite":
        parts.append("COMMIT;\n")
    return "".join(parts)
