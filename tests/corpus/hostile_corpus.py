#!/usr/bin/env python3
"""The hostile corpus (issue 12, item 5): exact or refused, on one pair of engines.

Usage: hostile_corpus.py --tandem PATH --old ENGINE --new ENGINE   (sqlite | postgres | mariadb)
       [--timeout S] [--keep] [--print-corpus] [--verbose]

Servers from the environment, as tests/cli_demo_pair.sh reads them:
TANDEM_TEST_POSTGRES_URL, TANDEM_TEST_MARIADB_URL, TANDEM_TEST_MARIADB_ROOT.

1. Fresh databases for old and new (dropped at exit unless --keep), old filled
   with old's own corpus (corpus.py: its native SQL, `--print-corpus` shows it).
2. tandem.toml; `tandem init`, `tandem step next` (dual-write: the backfill's
   step), `tandem backfill --collection C` and `tandem verify --collection C`
   per collection (a crash or hang in one does not hide the others), and
   `tandem quarantine list`.
3. The independent comparison: every row of old and new read with the engines'
   own clients as exact text (canon.py), never through tandem's codec. Each old
   row must be equal in new, or quarantined with a reason and absent from new,
   as the corpus expects for this target; counts must balance
   (old = equal + quarantined, no extra rows, the backfill's count of
   quarantined rows = the quarantine list's); `tandem verify` must say clean
   exactly when everything not quarantined is equal.
4. Tamper: after a clean verify of `tamper`, edit one value per type in new by
   hand (a JSON number's 30th digit, a decimal's last digit, a timestamp by
   1 us, one byte, one character, one uuid nibble, a double's last bit, a bool,
   an int); each edit alone must make `tandem verify` report a difference.

Prints a table (case | old | new | expected | actual | verdict) and exits 1 on
any failure. Every command has a timeout (--timeout, default 60 s) and a
failure names the command.
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import canon  # noqa: E402
import corpus  # noqa: E402
from engines import ENGINES, CommandError, run  # noqa: E402


def toml_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(path, workdir, old, new, collections):
    lines = ["[migration]", 'name = "hostile-corpus"',
             "control = %s" % toml_str("sqlite:" + os.path.join(workdir, "control.db")),
             "refresh_interval_ms = 200", "", "[databases]",
             "old = %s" % toml_str(old.url()), "new = %s" % toml_str(new.url()), ""]
    for c in collections:
        cols = ['{ name = "%s", type = "%s" }' % (c.key_col, c.key_type)]
        cols += ['{ name = "%s", type = "%s" }' % (n, t) for n, t in c.column_types()]
        lines += ["[[collections]]", 'name = "%s"' % c.name, 'key = ["%s"]' % c.key_col,
                  "columns = [\n  " + ",\n  ".join(cols) + ",\n]", ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def printable(text):
    """text with control characters (NUL, tab, newline...) escaped, for a one-line report."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def blocks(output, prefix):
    """{collection: its part of a backfill's or verify's output} (parts start with "PREFIX 'name'")."""
    out, name = {}, None
    for line in output.splitlines():
        m = re.match(r"^%s '([^']+)'" % prefix, line)
        if m:
            name = m.group(1)
            out[name] = line
        elif name is not None:
            out[name] += "\n" + line
    return out


def verdict(block):
    """True (CLEAN), False (NOT CLEAN) or None of one collection's part of verify's output."""
    for line in block.splitlines():
        if line.strip() == "CLEAN":
            return True
        if line.strip().startswith("NOT CLEAN"):
            return False
    return None


def error_lines(err, out):
    """tandem's error message ("tandem: ..."), or else the last lines it printed."""
    lines = [ln for ln in err.splitlines() if ln.startswith("tandem:")]
    if not lines:
        lines = [ln for ln in (err + "\n" + out).splitlines() if ln.strip()][-3:]
    return " | ".join(ln[:400] for ln in lines)


def signal_name(rc):
    if rc < 0:
        try:
            return signal.Signals(-rc).name
        except ValueError:
            return "signal %d" % -rc
    return "exit %d" % rc


def first_lines(text, n=6, width=220):
    lines = [ln[:width] for ln in text.strip().splitlines() if ln.strip()]
    out = lines[:n]
    if len(lines) > n:
        out.append("... (%d more lines)" % (len(lines) - n))
    return out


class Harness:
    def __init__(self, args):
        self.args = args
        self.failures = []   # (what, message)
        self.results = []    # (case, expected, actual, verdict)
        self.notes = []
        self.timings = []
        self.started = time.monotonic()

    def fail(self, what, msg):
        self.failures.append((what, msg))

    # -- tandem
    def tandem(self, what, *argv, ok=(0,)):
        cmd = [self.args.tandem, "-c", self.config] + list(argv)
        t0 = time.monotonic()
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=self.args.timeout,
                               cwd=self.workdir)
        except subprocess.TimeoutExpired:
            self.timings.append((what, time.monotonic() - t0))
            self.fail(what, "`tandem %s` did not finish in %ss (killed): a hang" % (" ".join(argv),
                                                                                   self.args.timeout))
            return None
        self.timings.append((what, time.monotonic() - t0))
        out = p.stdout.decode("utf-8", "replace")
        err = p.stderr.decode("utf-8", "replace")
        if self.args.verbose:
            sys.stdout.write("$ tandem %s -> %s\n%s%s\n" % (" ".join(argv), signal_name(p.returncode), out,
                                                           "\n".join(first_lines(err, 30))))
        if p.returncode < 0:
            self.fail(what, "`tandem %s` died with %s; last output: %s" % (" ".join(argv), signal_name(p.returncode),
                                                                           error_lines(err, out)))
        elif p.returncode not in ok:
            self.fail(what, "`tandem %s` %s: %s" % (" ".join(argv), signal_name(p.returncode), error_lines(err, out)))
        return p.returncode, out, err

    # -- the run
    def main(self):
        a = self.args
        self.workdir = tempfile.mkdtemp(prefix="tandem-corpus-%s-%s-" % (a.old, a.new))
        self.config = os.path.join(self.workdir, "tandem.toml")
        old = new = None
        try:
            old = ENGINES[a.old]("old", self.workdir, a.timeout)
            new = ENGINES[a.new]("new", self.workdir, a.timeout)
            self.collections = corpus.build(a.old, old)
            sql = corpus.load_sql(a.old, old, self.collections)
            if a.print_corpus:
                sys.stdout.write(sql)
                return 0
            if a.list_cases:
                print("| collection | case | column | expected into sqlite | postgres | mariadb | note |")
                print("|---|---|---|---|---|---|---|")
                for c in self.collections:
                    for r in c.rows:
                        col = c.key_col if "c_n" in r.values else next(iter(r.values)) if len(r.values) == 1 \
                            else "*"
                        print("| %s | %s | %s | %s | %s | %s | %s |" % (
                            c.name, r.case, col, r.expect["sqlite"], r.expect["postgres"], r.expect["mariadb"],
                            r.note.replace("|", "/")))
                return 0
            try:
                canon.self_test()
            except AssertionError:
                import traceback
                self.fail("comparator self-test", "canon.py is wrong: %s" % traceback.format_exc(limit=1))
                return self.report()
            t0 = time.monotonic()
            old.create()
            new.create()
            old.execute(sql, "loading old's corpus into %s" % a.old)
            self.timings.append(("create and load old", time.monotonic() - t0))
            write_config(self.config, self.workdir, old, new, self.collections)
            self.run_pair(old, new)
        except CommandError as e:
            self.fail("setup", str(e))
        finally:
            if a.keep:
                print("kept: %s (config %s), old %s, new %s" % (self.workdir, self.config,
                                                                old.url() if old else "-", new.url() if new else "-"))
            else:
                for e in (old, new):
                    if e is not None:
                        try:
                            e.drop()
                        except CommandError as err:
                            self.notes.append("could not drop a database: %s" % err)
                shutil.rmtree(self.workdir, ignore_errors=True)
        return self.report()

    def run_pair(self, old, new):
        r = self.tandem("tandem init", "init")
        if r is None or r[0] != 0:
            return
        r = self.tandem("tandem step next", "step", "next", "--reason", "hostile corpus: dual-write for the backfill")
        if r is None or r[0] != 0:
            return
        # All collections in one run each (as an operator would), then one run per collection for
        # any that the first did not finish: a crash or a hang in one must not hide the others.
        names = [c.name for c in self.collections]
        backfill = {}  # collection -> its block of the backfill's output
        r = self.tandem("tandem backfill", "backfill")
        if r is not None:
            backfill = {k: v for k, v in blocks(r[1], "backfill of").items() if "': complete" in v.split("\n")[0]}
        for name in names:
            if name in backfill:
                continue
            r = self.tandem("backfill of %s" % name, "backfill", "--collection", name)
            if r is not None:
                got = blocks(r[1], "backfill of").get(name, "")
                backfill[name] = got
                if r[0] == 0 and "': complete" not in got.split("\n")[0]:
                    self.fail("backfill of %s" % name, "exit 0 but not reported complete: %s" %
                              " | ".join(first_lines(r[1], 3)))
        backfill_quarantined = {}
        for name, block in backfill.items():
            m = re.search(r"all runs: .*?(\d+) quarantined", block)
            if m:
                backfill_quarantined[name] = int(m.group(1))
        quarantine = self.read_quarantine()
        verdicts = {}  # collection -> (clean, block) or None
        r = self.tandem("tandem verify", "verify", ok=(0, 5))
        if r is not None and r[0] in (0, 5):
            for name, block in blocks(r[1], "verify of").items():
                v = verdict(block)
                if v is not None:
                    verdicts[name] = (v, block)
            if r[0] == 0 and not all(verdicts.get(n, (False,))[0] for n in names):
                self.fail("tandem verify", "exit 0 but not every collection is reported CLEAN")
        for name in names:
            if name in verdicts:
                continue
            r = self.tandem("verify of %s" % name, "verify", "--collection", name, ok=(0, 5))
            if r is None or r[0] not in (0, 5):
                verdicts[name] = None
            else:
                verdicts[name] = (r[0] == 0, r[1])
        t0 = time.monotonic()
        clean_by_comparison = {}
        specs = [(c.name, c.key_col, c.key_type, c.column_types()) for c in self.collections]
        try:
            old_tables, new_tables = old.read_tables(specs), new.read_tables(specs)
        except CommandError as e:  # one table at a time, to name the one that fails
            self.notes.append("reading all tables at once failed (%s); one at a time" % e)
            old_tables = new_tables = None
        for c in self.collections:
            clean_by_comparison[c.name] = self.compare(c, old, new, quarantine.get(c.name, []),
                                                       backfill_quarantined.get(c.name), old_tables, new_tables)
        self.timings.append(("independent comparison", time.monotonic() - t0))
        for c in self.collections:
            v = verdicts.get(c.name)
            should = clean_by_comparison[c.name]
            if v is None:
                self.results.append(("verify:" + c.name, "CLEAN" if should else "NOT CLEAN", "no answer (above)",
                                     "FAIL"))
                continue
            said_clean, out = v
            actual = "CLEAN" if said_clean else "NOT CLEAN"
            ok = said_clean == should
            self.results.append(("verify:" + c.name, "CLEAN" if should else "NOT CLEAN", actual,
                                 "ok" if ok else "FAIL"))
            if not ok:
                self.fail("verify of %s" % c.name,
                          ("FALSE CLEAN: verify says CLEAN but the independent comparison finds rows that are "
                           "neither equal nor quarantined" if said_clean else
                           "verify says NOT CLEAN although every row is equal or quarantined (and absent from "
                           "new)") + "; verify printed: " + " | ".join(first_lines(out, 8)))
        self.tamper(old, new, verdicts)

    # -- quarantine
    def read_quarantine(self):
        r = self.tandem("tandem quarantine list", "quarantine", "list", "--limit", "1000000")
        entries = {}
        if r is None or r[0] != 0:
            return entries
        names = {c.name for c in self.collections}
        current = None
        lines = r[1].splitlines()
        m = re.match(r"(\d+) quarantined record", lines[0] if lines else "")
        total = int(m.group(1)) if m else None
        for line in lines[1:]:
            m = re.match(r"^  (\S+) (.*)$", line)
            if m and m.group(1) in names:
                current = [m.group(1), m.group(2)]
                entries.setdefault(current[0], []).append(current)
            elif current is not None:  # a key or reason with a line break
                current[1] += "\n" + line
        n = sum(len(v) for v in entries.values())
        if total is not None and n != total:
            self.fail("tandem quarantine list", "says %d record(s) but lists %d" % (total, n))
        return entries

    @staticmethod
    def split_entry(text, c):
        """(key display, field, reason) of one `quarantine list` line after the collection."""
        fields = [c.key_col] + [n for n, _ in c.column_types()] + ["-"]
        if c.key_type == "int":
            m = re.match(r"^\s*(-?\d+)\s+(\S+)\s+(.*)$", text, re.S)
            if m:
                return m.group(1), m.group(2), m.group(3).strip()
        m = re.search(r"\s(%s)\s+" % "|".join(map(re.escape, fields)), text)
        if m:
            return text[:m.start()].strip(), m.group(1), text[m.end():].strip()
        return text.strip(), "?", text.strip()

    # -- the independent comparison
    def compare(self, c, old, new, qentries, backfill_q, old_tables=None, new_tables=None):
        """Classifies every old row; returns whether verify should say clean."""
        target = self.args.new
        cols = c.column_types()
        try:
            if old_tables is not None:
                old_rows, new_rows = old_tables[c.name], new_tables[c.name]
            else:
                old_rows = old.read_table(c.name, c.key_col, c.key_type, cols)
                new_rows = new.read_table(c.name, c.key_col, c.key_type, cols)
        except CommandError as e:
            self.fail("reading %s" % c.name, str(e))
            for r in c.rows:
                self.results.append((r.case, r.expect[target], "UNREAD", "FAIL"))
            return True
        # Old's rows back to their cases: int keys by key, others by the payload c_n.
        by_case = {}
        by_payload = [n for n, _ in cols] == ["c_n"]
        for vals in old_rows:
            if by_payload:  # key collections: the payload c_n numbers the rows
                n = vals[1][1] if vals[1] else None
                row = c.rows[n - 1] if isinstance(n, int) and 1 <= n <= len(c.rows) else None
            else:  # an id that the harness chose
                ident = vals[0][1] if vals[0] else None
                row = next((r for r in c.rows if r.key_sql == str(ident)), None)
            if row is None:
                self.fail("reading old %s" % c.name, "a row of old matches no case: %s" % canon.show(vals[0]))
                continue
            by_case[row.case] = vals
        missing_in_old = [r.case for r in c.rows if r.case not in by_case]
        if missing_in_old:
            self.fail("loading old", "%s: rows not in old after loading: %s" % (c.name, missing_in_old))
        new_by_key = {}
        for vals in new_rows:
            new_by_key.setdefault(repr(vals[0]), []).append([vals, False])
        # Quarantine entries to rows.
        parsed = [self.split_entry(t, c) for _, t in qentries]
        status = {}
        # 1: equal rows claim their twin in new.
        for r in c.rows:
            vals = by_case.get(r.case)
            if vals is None:
                continue
            for cand in new_by_key.get(repr(vals[0]), []):
                if not cand[1] and cand[0] == vals:
                    cand[1] = True
                    status[r.case] = ("equal", "")
                    break
        # 2: quarantine entries; int keys by key, others in order among the rows not equal.
        unassigned = []
        for key_display, field, reason in parsed:
            row = None
            if c.key_type == "int":
                row = next((r for r in c.rows if r.case in by_case and str(by_case[r.case][0][1]) == key_display),
                           None)
            if row is None:
                unassigned.append((key_display, field, reason))
                continue
            self.assign_quarantine(c, row, field, reason, status)
        pending = [r for r in c.rows if r.case in by_case and r.case not in status]
        for key_display, field, reason in unassigned:
            if c.key_type == "int" or not pending:
                self.fail("quarantine of %s" % c.name, "an entry matches no row that is not equal: key %r, "
                          "field %s, reason %s" % (key_display[:80], field, reason[:200]))
                continue
            row = self.likely_row(pending, by_case, key_display + " " + reason)
            pending.remove(row)
            self.assign_quarantine(c, row, field, reason, status)
        # 3: the rest are different (new holds the key with other values) or missing.
        for r in c.rows:
            vals = by_case.get(r.case)
            if vals is None or r.case in status:
                continue
            cands = [x for x in new_by_key.get(repr(vals[0]), []) if not x[1]]
            if cands:
                cands[0][1] = True
                status[r.case] = ("DIFFERENT", self.diff_text(c, vals, cands[0][0]))
            else:
                status[r.case] = ("MISSING", "")
        # Quarantined rows must be absent from new.
        for r in c.rows:
            st = status.get(r.case)
            vals = by_case.get(r.case)
            if st and st[0].startswith("quarantined"):
                stray = [x for x in new_by_key.get(repr(vals[0]), []) if not x[1]]
                if stray:
                    stray[0][1] = True
                    status[r.case] = ("DIFFERENT", "quarantined (%s) but new holds the key: %s" %
                                      (st[1][:60], self.diff_text(c, vals, stray[0][0])))
        extra = [x[0] for xs in new_by_key.values() for x in xs if not x[1]]
        for vals in extra:
            self.results.append(("extra row in new", "-", "EXTRA %s" % canon.show(vals[0]), "FAIL"))
            self.fail("comparison of %s" % c.name, "new holds a row old does not: key %s" % canon.show(vals[0]))
        # Results.
        n_equal = n_quar = 0
        for r in c.rows:
            st = status.get(r.case, ("UNREAD", ""))
            exp = r.expect[self.args.new]
            kind = st[0]
            n_equal += kind == "equal"
            # (a quarantine whose entry lacks a reason or the field is still one for the counts and for
            # what verify should say; the row fails on its own)
            n_quar += kind.startswith("quarantined")
            ok = kind == exp or (exp == corpus.EITHER and kind in ("equal", "quarantined"))
            actual = kind if kind == "equal" else "%s: %s" % (kind, st[1])
            self.results.append((r.case, exp, actual, "ok" if ok else "FAIL"))
            if not ok:
                self.fail(r.case, "%s.%s expected %s, got %s%s" % (c.name, r.case, exp, actual,
                                                                  (" (%s)" % r.note) if r.note else ""))
        if len(by_case) != n_equal + n_quar:
            self.fail("counts of %s" % c.name, "old %d rows != equal %d + quarantined %d" %
                      (len(by_case), n_equal, n_quar))
        if backfill_q is not None and backfill_q != len(qentries):
            self.fail("counts of %s" % c.name, "the backfill reports %d quarantined, `quarantine list` shows %d" %
                      (backfill_q, len(qentries)))
        return len(by_case) == n_equal + n_quar and not extra

    def likely_row(self, pending, by_case, text):
        """The pending row a quarantine entry (of a non-int key) most likely names: its key's text shown
        in the entry, else the first row expected to be refused, else the first."""
        for r in pending:
            key = by_case[r.case][0]
            if key is None:
                shown = ["NULL"]
            elif isinstance(key[1], (bytes, bytearray)):
                shown = ["x'" + bytes(key[1][:12]).hex()]
                if key[0] == "text":
                    shown.append(bytes(key[1][:24]).decode("utf-8", "replace"))
            else:
                shown = [str(key[1])[:24]]
            if any(x and x in text and "\ufffd" not in x for x in shown):
                return r
        for r in pending:
            if r.expect[self.args.new] != corpus.E:
                return r
        return pending[0]

    def assign_quarantine(self, c, row, field, reason, status):
        st = status.get(row.case)
        if st and st[0] == "equal":
            status[row.case] = ("DIFFERENT", "equal in new but also quarantined (%s)" % reason[:80])
            return
        if not reason.strip():
            status[row.case] = ("quarantined WITHOUT A REASON", "field %s" % field)
            return
        # The entry must name the field: the hostile row's column, or the key column.
        cols = list(row.values) if c.name != "tamper" and len(row.values) == 1 and "c_n" not in row.values \
            else [c.key_col]
        named = any(field == col or re.search(r"[`'\".]%s[`'\"]" % re.escape(col), reason) for col in cols)
        if not named and row.values:
            status[row.case] = ("quarantined WITHOUT NAMING THE FIELD %s" % "/".join(cols),
                                "%s: %s" % (field, reason))
            return
        status[row.case] = ("quarantined", "%s: %s" % (field, reason))

    @staticmethod
    def diff_text(c, a, b):
        names = [c.key_col] + [n for n, _ in c.column_types()]
        for name, x, y in zip(names, a, b):
            if x != y:
                return "%s old %s / new %s" % (name, canon.show(x, 40), canon.show(y, 40))
        return "?"

    # -- tamper
    def tamper(self, old, new, verdicts):
        # Precondition: a clean verify. (If the comparison found tamper's rows different, that is a
        # failure already; the edits still run: a verify that stays CLEAN after them is a second one.)
        c = next(x for x in self.collections if x.name == "tamper")
        v = verdicts.get("tamper")
        if v is None or not v[0]:
            for name, _, _ in corpus.TAMPERS:
                self.results.append((name, "verify NOT CLEAN", "not run: verify of tamper was not CLEAN first",
                                     "FAIL"))
            self.fail("tamper", "not run: `tandem verify --collection tamper` must be CLEAN before the edits")
            return
        cols = c.column_types()
        try:
            new.execute("CREATE TABLE corpus_tamper_backup AS SELECT * FROM tamper;\n", "backing up new's tamper")
        except CommandError as e:
            self.fail("tamper", str(e))
            return
        def rows_of(table_rows):  # in key order (an UPDATE may move a row in a heap)
            return sorted(table_rows, key=repr)

        try:
            before = rows_of(new.read_table("tamper", "id", "int", cols))
        except CommandError as e:
            self.fail("tamper", str(e))
            return
        for name, col, value in corpus.TAMPERS:
            ttype = c.type_of(col)
            lit = corpus.literal(new, ttype, value)
            restore = ("UPDATE tamper SET {0} = (SELECT b.{0} FROM corpus_tamper_backup b WHERE b.id = tamper.id) "
                       "WHERE id = 1;\n").format(col)
            try:
                now = rows_of(new.read_table("tamper", "id", "int", cols,
                                             before_sql="UPDATE tamper SET %s = %s WHERE id = 1;\n" % (col, lit)))
                if now == before:
                    self.results.append((name, "verify NOT CLEAN", "edit not visible", "FAIL"))
                    self.fail(name, "the edit did not change new (harness problem)")
                    new.execute(restore, "restoring %s" % name)
                    continue
                r = self.tandem("verify after %s" % name, "verify", "--collection", "tamper", ok=(0, 5))
                if r is None:
                    self.results.append((name, "verify NOT CLEAN", "verify failed (above)", "FAIL"))
                elif r[0] == 0:
                    self.results.append((name, "verify NOT CLEAN", "CLEAN (exit 0)", "FAIL"))
                    edited = next(x for x in now if x[0] == ("int", 1))[[n for n, _ in cols].index(col) + 1]
                    self.fail(name, "FALSE CLEAN: new's %s edited by hand (now %s) and `tandem verify` says "
                              "CLEAN: %s" % (col, canon.show(edited, 50), " | ".join(first_lines(r[1], 4))))
                else:
                    self.results.append((name, "verify NOT CLEAN", "NOT CLEAN (exit %d)" % r[0], "ok"))
                if rows_of(new.read_table("tamper", "id", "int", cols, before_sql=restore)) != before:
                    self.fail(name, "new's tamper row did not read back as before after the restore")
            except CommandError as e:
                self.results.append((name, "verify NOT CLEAN", "harness error", "FAIL"))
                self.fail(name, str(e))
        r = self.tandem("verify after restoring the tamper edits", "verify", "--collection", "tamper", ok=(0, 5))
        if r is not None and r[0] != 0:
            self.fail("tamper", "after restoring every edit, verify is not CLEAN: %s" % " | ".join(first_lines(r[1], 4)))

    # -- report
    def report(self):
        a = self.args
        rows = [("case", "old", "new", "expected", "actual", "verdict")]
        for case, exp, actual, verdict in self.results:
            actual = printable(actual)
            if len(actual) > a.width:
                actual = actual[:a.width - 3] + "..."
            rows.append((case, a.old, a.new, exp, actual, verdict))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        print()
        print("hostile corpus: %s -> %s" % (a.old, a.new))
        for r in rows:
            print(" | ".join(r[i].ljust(widths[i]) for i in range(5)) + " | " + r[5])
        print()
        for n in self.notes:
            print("note: " + n)
        slow = ["%s %.1fs" % (what, secs) for what, secs in self.timings if secs >= 1]
        print("time: %.1fs in all; %s" % (time.monotonic() - self.started, "; ".join(slow) or "-"))
        n_cases = sum(1 for r in self.results)
        n_fail = sum(1 for r in self.results if r[3] != "ok")
        if self.failures:
            print("FAILURES (%d; %d of %d table rows):" % (len(self.failures), n_fail, n_cases))
            for what, msg in self.failures:
                print("  - %s: %s" % (what, printable(msg)[:600]))
            print("hostile corpus %s -> %s: FAILED" % (a.old, a.new))
            return 1
        print("hostile corpus %s -> %s: PASSED (%d rows)" % (a.old, a.new, n_cases))
        return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tandem", required=True, help="the tandem binary")
    p.add_argument("--old", required=True, choices=sorted(ENGINES))
    p.add_argument("--new", required=True, choices=sorted(ENGINES))
    p.add_argument("--timeout", type=float, default=60, help="seconds per command (default 60)")
    p.add_argument("--keep", action="store_true", help="keep the databases and the work folder")
    p.add_argument("--print-corpus", action="store_true", help="print old's corpus SQL and exit")
    p.add_argument("--list-cases", action="store_true",
                   help="print old's cases with their expected outcome per target (markdown) and exit")
    p.add_argument("--verbose", action="store_true", help="show every tandem command's output")
    p.add_argument("--width", type=int, default=110, help="width of the 'actual' column")
    args = p.parse_args()
    if not (args.print_corpus or args.list_cases) and not os.access(args.tandem, os.X_OK):
        print("hostile_corpus: %s is not an executable" % args.tandem, file=sys.stderr)
        return 2
    return Harness(args).main()


if __name__ == "__main__":
    sys.exit(main())
