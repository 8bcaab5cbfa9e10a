"""The three engines as the hostile corpus sees them: a fresh database each,
reached only through the engine's own command-line client (sqlite3, psql,
mariadb), SQL literals for every tandem type, and read expressions that give
each value's exact text (hex for anything that is not plain digits), decoded
into canon.py's canonical forms.
"""

import os
import shlex
import subprocess
from urllib.parse import urlsplit, urlunsplit

import canon

RUN_ID = os.urandom(4).hex()
TYPES = ("int", "bool", "double", "decimal", "text", "bytes", "timestamp", "json", "uuid", "datetime")


class CommandError(Exception):
    """A command that failed or timed out; the message names it."""


def run(cmd, what, stdin=None, timeout=120, env=None, check=True):
    try:
        p = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise CommandError("%s: timed out after %ss (%s)" % (what, timeout, " ".join(cmd[:4])))
    if check and p.returncode != 0:
        err = p.stderr.decode("utf-8", "replace").strip()
        raise CommandError("%s: exit %s: %s" % (what, p.returncode, err[-2000:]))
    return p


def _hex(b):
    return bytes(b).hex()


class Engine:
    name = "?"
    # Native column types of old's tables, per tandem type (key columns may differ).
    native = {}
    native_key = {}

    def __init__(self, role, workdir, timeout):
        self.role = role
        self.workdir = workdir
        self.timeout = timeout
        # pid and random: several sessions (other PID namespaces too) may share the servers
        self.db = "tandem_corpus_%s_%d_%s" % (role, os.getpid(), RUN_ID)
        self.created = False

    # -- lifecycle
    def create(self):
        raise NotImplementedError

    def drop(self):
        pass

    def url(self):
        raise NotImplementedError

    # -- SQL
    def execute(self, sql, what):
        raise NotImplementedError

    def query(self, sql, what):
        """Rows of fields; every field the harness selects is plain ASCII."""
        raise NotImplementedError

    def ddl_table(self, table, key_col, key_type, columns, key_native=None):
        # NOT NULL unless the corpus gives the key's native type itself (SQLite's NULL key case)
        cols = ["%s %s" % (key_col, key_native) if key_native else
                "%s %s NOT NULL" % (key_col, self.native_key[key_type])]
        for name, ttype, native in columns:
            cols.append("%s %s" % (name, native or self.native[ttype]))
        return "CREATE TABLE %s (%s, PRIMARY KEY (%s))%s;\n" % (table, ", ".join(cols), key_col,
                                                              self.table_suffix())

    def table_suffix(self):
        return ""

    # -- literals (old's corpus and the tamper edits)
    def lit_int(self, n):
        return str(n)

    def lit_bool(self, b):
        return "1" if b else "0"

    def lit_double(self, x):
        return repr(float(x))

    def lit_decimal(self, s):
        return "'%s'" % s

    def lit_text(self, b):
        raise NotImplementedError

    def lit_bytes(self, b):
        raise NotImplementedError

    def lit_json(self, b, column_type="json"):
        raise NotImplementedError

    def lit_uuid(self, s):
        return "'%s'" % s

    def lit_ts(self, t):
        """t: (y, mo, d, h, mi, s, us) in UTC."""
        raise NotImplementedError

    # -- reading
    def read_expr(self, col, ttype):
        raise NotImplementedError

    def decode(self, ttype, field):
        raise NotImplementedError

    def read_table(self, table, key_col, key_type, columns, before_sql=""):
        """The rows of table, each [canonical key, canonical values...]; before_sql runs first."""
        return self.read_tables([(table, key_col, key_type, columns)], before_sql)[table]

    def read_tables(self, specs, before_sql=""):
        """{table: rows} of several (table, key column, key type, columns), read by one client call."""
        script = [before_sql]
        for table, key_col, key_type, columns in specs:
            cols = [(key_col, key_type)] + [(c, t) for c, t in columns]
            script.append("SELECT '#T %s';\nSELECT %s FROM %s;\n" %
                          (table, ", ".join(self.read_expr(c, t) for c, t in cols), table))
        rows = self.query("".join(script).rstrip().rstrip(";"),
                          "reading %s's %s" % (self.role, ", ".join(s[0] for s in specs)))
        got = {}
        current = None
        for r in rows:
            if len(r) == 1 and r[0].startswith("#T "):
                current = got.setdefault(r[0][3:], [])
            elif current is None:
                raise CommandError("reading %s: a row before any table marker" % self.role)
            else:
                current.append(r)
        out = {}
        for table, key_col, key_type, columns in specs:
            if table not in got:
                raise CommandError("reading %s's %s: no answer for it" % (self.role, table))
            out[table] = self._decode_rows(table, key_col, key_type, columns, got[table])
        return out

    def _decode_rows(self, table, key_col, key_type, columns, rows):
        cols = [(key_col, key_type)] + [(c, t) for c, t in columns]
        out = []
        big = {}
        for r in rows:
            if len(r) != len(cols):
                raise CommandError("reading %s %s: %d fields where %d expected" % (self.role, table, len(r),
                                                                                 len(cols)))
            for (c, t), f in zip(cols, r):
                if f == "B":  # too large for one result field: read in pieces below
                    big.setdefault(c, {})
        for c in big:
            big[c] = self.read_big(table, key_col, key_type, c)
        for r in rows:
            vals = []
            for (c, t), f in zip(cols, r):
                if f == "B":
                    f = big[c][r[0]]
                vals.append(None if f == "N" else self.decode(t, f[1:]))
            out.append(vals)
        return out

    def read_big(self, table, key_col, key_type, col):
        """{key field: 'V' + hex} of the column's large values."""
        raise CommandError("%s: value too large to read" % self.name)


# ------------------------------------------------------------------------------
class Sqlite(Engine):
    name = "sqlite"
    native = {"int": "INTEGER", "bool": "INTEGER", "double": "REAL", "decimal": "TEXT", "text": "TEXT",
              "bytes": "BLOB", "timestamp": "INTEGER", "json": "TEXT", "uuid": "BLOB", "datetime": "TEXT"}
    native_key = native

    def __init__(self, role, workdir, timeout):
        super().__init__(role, workdir, timeout)
        self.path = os.path.join(workdir, "%s.db" % role)

    def create(self):
        run(["sqlite3", self.path, "SELECT 1"], "sqlite3: creating %s" % self.path, timeout=self.timeout)
        self.created = True

    def url(self):
        return "sqlite:" + self.path

    def execute(self, sql, what):
        run(["sqlite3", "-bail", "-batch", self.path], what, stdin=sql.encode(), timeout=self.timeout)

    def query(self, sql, what):
        p = run(["sqlite3", "-bail", "-batch", "-noheader", "-list", "-separator", "|", self.path], what,
                stdin=(sql + ";\n").encode(), timeout=self.timeout)
        return [line.split("|") for line in p.stdout.decode("ascii").splitlines() if line]

    def lit_int(self, n):
        return "(%d - 1)" % (n + 1) if n < -(2 ** 62) else str(n)

    def lit_double(self, x):
        x = float(x)
        if x != x:
            raise ValueError("SQLite cannot store NaN")
        if x in (float("inf"), float("-inf")):
            return "9e999" if x > 0 else "-9e999"
        return repr(x)

    def lit_text(self, b):
        return "CAST(X'%s' AS TEXT)" % _hex(b)

    def lit_bytes(self, b):
        return "X'%s'" % _hex(b)

    def lit_json(self, b, column_type="json"):
        return self.lit_text(b)

    def lit_uuid(self, s):
        return "X'%s'" % s.replace("-", "")

    def lit_ts(self, t):
        return str(canon.civil_micros(*t))

    def read_expr(self, col, ttype):
        return ("(CASE typeof({0}) WHEN 'null' THEN 'N' WHEN 'integer' THEN 'VI' || {0} "
                "WHEN 'real' THEN 'VR' || hex(ieee754_to_blob({0})) WHEN 'text' THEN 'VT' || hex({0}) "
                "ELSE 'VB' || hex({0}) END)").format(col)

    def decode(self, ttype, f):
        tag, payload = f[0], f[1:]
        raw = bytes.fromhex(payload) if tag in "TB" else None
        storage = {"I": "integer", "R": "real", "T": "text", "B": "blob"}[tag]
        wrong = ("wrongclass", "%s %s" % (storage, payload[:80]))
        if ttype == "datetime":  # text "YYYY-MM-DD HH:MM:SS[.ffffff]", as if UTC
            return canon.datetime_text_value(raw.decode("utf-8", "replace")) if tag == "T" else wrong
        if ttype in ("int", "timestamp"):
            if tag != "I":
                return wrong
            return ("int", int(payload)) if ttype == "int" else ("ts", int(payload))
        if ttype == "bool":
            return ("bool", int(payload)) if tag == "I" else wrong
        if ttype == "double":
            return canon.double_from_bits(payload) if tag == "R" else wrong
        if ttype == "decimal":
            return canon.decimal_value(raw.decode("utf-8", "replace")) if tag == "T" else wrong
        if ttype == "text":
            return ("text", raw) if tag == "T" else wrong
        if ttype == "bytes":
            return ("bytes", raw) if tag == "B" else wrong
        if ttype == "json":
            return canon.json_value(raw) if tag == "T" else wrong
        if ttype == "uuid":
            return canon.uuid_bytes_value(raw) if tag == "B" else wrong
        raise ValueError(ttype)


# ------------------------------------------------------------------------------
def _replace_db(url, db):
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + db, parts.query, parts.fragment))


class Postgres(Engine):
    name = "postgres"
    native = {"int": "bigint", "bool": "boolean", "double": "double precision", "decimal": "numeric",
              "text": "text", "bytes": "bytea", "timestamp": "timestamptz", "json": "jsonb", "uuid": "uuid",
              "datetime": "timestamp"}
    native_key = dict(native, text='text COLLATE "C"')

    def __init__(self, role, workdir, timeout):
        super().__init__(role, workdir, timeout)
        self.server = os.environ.get("TANDEM_TEST_POSTGRES_URL")

    def create(self):
        if not self.server:
            raise CommandError("TANDEM_TEST_POSTGRES_URL is not set: run scripts/test.sh (or source the "
                               "servers' env)")
        run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", self.server, "-c", "CREATE DATABASE %s" % self.db],
            "psql: CREATE DATABASE %s" % self.db, timeout=self.timeout)
        self.created = True

    def drop(self):
        if self.created:
            run(["psql", "-X", "-q", self.server, "-c", "DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.db],
                "psql: DROP DATABASE %s" % self.db, timeout=self.timeout)

    def url(self):
        return _replace_db(self.server, self.db)

    def _psql(self):
        return ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", self.url()]

    def execute(self, sql, what):
        run(self._psql(), what, stdin=sql.encode(), timeout=self.timeout)

    def query(self, sql, what):
        p = run(self._psql() + ["-A", "-t", "-F", "|"], what, stdin=(sql + ";\n").encode(),
                timeout=self.timeout)
        return [line.split("|") for line in p.stdout.decode("ascii").splitlines() if line]

    def lit_int(self, n):
        return "'%d'::bigint" % n

    def lit_bool(self, b):
        return "true" if b else "false"

    def lit_double(self, x):
        x = float(x)
        if x != x:
            return "'NaN'::float8"
        if x in (float("inf"), float("-inf")):
            return "'%sInfinity'::float8" % ("" if x > 0 else "-")
        return "'%s'::float8" % repr(x)

    def lit_decimal(self, s):
        return "'%s'::numeric" % s

    def lit_text(self, b):
        return "convert_from(decode('%s', 'hex'), 'UTF8')" % _hex(b)

    def lit_bytes(self, b):
        return "decode('%s', 'hex')" % _hex(b)

    def lit_json(self, b, column_type="jsonb"):
        return "convert_from(decode('%s', 'hex'), 'UTF8')::%s" % (_hex(b), column_type)

    def lit_uuid(self, s):
        return "'%s'::uuid" % s

    def lit_ts(self, t):
        y, mo, d, h, mi, s, us = t
        return "'%04d-%02d-%02d %02d:%02d:%02d.%06d+00'::timestamptz" % (y, mo, d, h, mi, s, us)

    def read_expr(self, col, ttype):
        e = {
            "int": "{0}::text",
            "bool": "CASE WHEN {0} THEN '1' ELSE '0' END",
            "double": "encode(float8send({0}::float8), 'hex')",
            "decimal": "{0}::text",
            "text": "encode(convert_to({0}, 'UTF8'), 'hex')",
            "bytes": "encode({0}, 'hex')",
            "timestamp": "CASE WHEN isfinite({0}) THEN ((EXTRACT(EPOCH FROM {0}) * 1000000)::numeric(40, 0))"
                         "::text ELSE 'X' || {0}::text END",
            "json": "encode(convert_to({0}::text, 'UTF8'), 'hex')",
            "uuid": "{0}::text",
        }["timestamp" if ttype == "datetime" else ttype].format(col)
        return "(CASE WHEN {0} IS NULL THEN 'N' ELSE 'V' || {1} END)".format(col, e)

    def decode(self, ttype, f):
        if ttype == "int":
            return ("int", int(f))
        if ttype == "bool":
            return ("bool", int(f))
        if ttype == "double":
            return canon.double_from_bits(f)
        if ttype == "decimal":
            return canon.decimal_value(f)
        if ttype == "text":
            return ("text", bytes.fromhex(f))
        if ttype == "bytes":
            return ("bytes", bytes.fromhex(f))
        if ttype in ("timestamp", "datetime"):
            return ("tsbad", f[1:]) if f.startswith("X") else ("ts", int(f))
        if ttype == "json":
            return canon.json_value(bytes.fromhex(f))
        if ttype == "uuid":
            return canon.uuid_text_value(f)
        raise ValueError(ttype)


# ------------------------------------------------------------------------------
class Mariadb(Engine):
    name = "mariadb"
    native = {"int": "BIGINT", "bool": "BOOLEAN", "double": "DOUBLE", "decimal": "DECIMAL(65,30)",
              "text": "LONGTEXT", "bytes": "LONGBLOB", "timestamp": "DATETIME(6)", "json": "JSON",
              "uuid": "CHAR(36) CHARACTER SET ascii COLLATE ascii_bin", "datetime": "DATETIME(6)"}
    native_key = dict(native, text="VARCHAR(300) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin",
                      bytes="VARBINARY(300)")
    BIG = 7000000  # bytes: larger values are read in pieces (HEX() is capped by max_allowed_packet)
    PIECE = 1000000  # characters (or bytes) per piece

    def __init__(self, role, workdir, timeout):
        super().__init__(role, workdir, timeout)
        self.server = os.environ.get("TANDEM_TEST_MARIADB_URL")
        root = os.environ.get("TANDEM_TEST_MARIADB_ROOT", "")
        self.root = shlex.split(root) + ["--default-character-set=utf8mb4", "--max-allowed-packet=1073741824"]

    def create(self):
        if not self.server or not os.environ.get("TANDEM_TEST_MARIADB_ROOT"):
            raise CommandError("TANDEM_TEST_MARIADB_URL / TANDEM_TEST_MARIADB_ROOT are not set: run "
                               "scripts/test.sh (or source the servers' env)")
        run(self.root + ["-e", "CREATE DATABASE %s" % self.db], "mariadb: CREATE DATABASE %s" % self.db,
            timeout=self.timeout)
        self.created = True

    def drop(self):
        if self.created:
            run(self.root + ["-e", "DROP DATABASE IF EXISTS %s" % self.db], "mariadb: DROP DATABASE %s" % self.db,
                timeout=self.timeout)

    def url(self):
        return _replace_db(self.server, self.db)

    def table_suffix(self):
        return " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"

    SESSION = "SET SESSION time_zone = '+00:00';\n"  # TIMESTAMP columns in UTC, as tandem reads them

    def execute(self, sql, what):
        run(self.root + [self.db], what, stdin=(self.SESSION + sql).encode(), timeout=self.timeout)

    def query(self, sql, what):
        p = run(self.root + ["-N", "-B", self.db], what, stdin=(self.SESSION + sql + ";\n").encode(),
                timeout=self.timeout)
        return [line.split("\t") for line in p.stdout.decode("ascii").splitlines() if line]

    def lit_text(self, b):
        return "CONVERT(X'%s' USING utf8mb4)" % _hex(b) if b else "''"

    def lit_bytes(self, b):
        return "X'%s'" % _hex(b)

    def lit_json(self, b, column_type="json"):
        return self.lit_text(b)

    def lit_ts(self, t):
        return "'%04d-%02d-%02d %02d:%02d:%02d.%06d'" % t

    def read_expr(self, col, ttype):
        if ttype in ("text", "bytes", "json", "uuid"):
            return ("(CASE WHEN {0} IS NULL THEN 'N' WHEN LENGTH({0}) > {1} THEN 'B' "
                    "ELSE CONCAT('V', HEX({0})) END)").format(col, self.BIG)
        e = {"int": "CAST({0} AS CHAR)", "bool": "CAST({0} AS CHAR)",
             "double": "CAST(CAST({0} AS DOUBLE) AS CHAR)", "decimal": "CAST({0} AS CHAR)",
             "timestamp": "CAST({0} AS CHAR)", "datetime": "CAST({0} AS CHAR)"}[ttype].format(col)
        return "(CASE WHEN {0} IS NULL THEN 'N' ELSE CONCAT('V', {1}) END)".format(col, e)

    def read_big(self, table, key_col, key_type, col):
        # One query per column: the pieces of every large value, numbered by the sequence engine.
        if key_type != "int":
            raise CommandError("mariadb: a large value in a table without an int key")
        longest = int(self.query("SELECT MAX(CHAR_LENGTH(%s)) FROM %s" % (col, table),
                                 "measuring large values of %s.%s" % (table, col))[0][0])
        rows = self.query(
            "SELECT CONCAT('V', {k}), s.seq, HEX(SUBSTRING({c}, s.seq * {p} + 1, {p})) FROM {t} "
            "JOIN seq_0_to_{n} s WHERE LENGTH({c}) > {big} ORDER BY {k}, s.seq".format(
                k=key_col, c=col, t=table, p=self.PIECE, big=self.BIG, n=longest // self.PIECE),
            "reading large values of %s.%s in pieces" % (table, col))
        out = {}
        for r in rows:
            out[r[0]] = out.get(r[0], "V") + (r[2] if len(r) > 2 else "")
        return out

    def decode(self, ttype, f):
        if ttype == "int":
            return ("int", int(f))
        if ttype == "bool":
            return ("bool", int(f))
        if ttype == "double":
            return canon.double_value(float(f))
        if ttype == "decimal":
            return canon.decimal_value(f)
        if ttype in ("timestamp", "datetime"):
            return canon.datetime_text_value(f)
        raw = bytes.fromhex(f)
        if ttype == "text":
            return ("text", raw)
        if ttype == "bytes":
            return ("bytes", raw)
        if ttype == "json":
            return canon.json_value(raw)
        if ttype == "uuid":
            return canon.uuid_text_value(raw.decode("latin-1"))
        raise ValueError(ttype)


ENGINES = {"sqlite": Sqlite, "postgres": Postgres, "mariadb": Mariadb}
