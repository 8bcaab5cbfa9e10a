#!/usr/bin/env bash
# Memory of a copy of large JSON documents (issue 12): an old SQLite table of
# DOCS documents of MB megabytes each (JSON arrays of small objects with
# floating-point numbers, so the exact path canonicalises them), copied into
# new (SQLite, or --new URL) by `tandem backfill`, then `tandem verify`; prints
# the peak RSS of each (GNU time) and checks the copy with sqlite3 (not tandem).
# Usage: bench/large_documents.sh TANDEM_BINARY [--docs N] [--mb M] [--new URL] [--workers W]
set -euo pipefail
tandem="$1"
shift
docs=2 mb=16 new="" workers=4
while (($#)); do
  case "$1" in
    --docs) docs="$2"; shift 2 ;;
    --mb) mb="$2"; shift 2 ;;
    --new) new="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
python3 - "$dir/old.db" "$docs" "$mb" <<'PY'
import sqlite3, sys
path, docs, mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
db = sqlite3.connect(path)
db.execute("CREATE TABLE docs (id INTEGER PRIMARY KEY, doc TEXT NOT NULL)")
for i in range(docs):
    parts, size, n = [], 0, 0
    while size < mb * 1024 * 1024:
        item = '{"n":%d,"price":%d.%02d5,"name":"item %d"}' % (n, n % 1000, n % 100, n)
        parts.append(item); size += len(item) + 1; n += 1
    db.execute("INSERT INTO docs VALUES (?, ?)", (i + 1, "[" + ",".join(parts) + "]"))
db.commit()
PY
cat >"$dir/tandem.toml" <<TOML
[migration]
name = "large-documents"
control = "sqlite:$dir/control.db"
[databases]
old = "sqlite:$dir/old.db"
new = "${new:-sqlite:$dir/new.db}"
[[collections]]
name = "docs"
key = ["id"]
columns = [ { name = "id", type = "int" }, { name = "doc", type = "json", nullable = false } ]
TOML
cd "$dir"
"$tandem" -c tandem.toml init >/dev/null
"$tandem" -c tandem.toml step next --reason bench >/dev/null
measure() {  # measure NAME COMMAND...: runs it, prints seconds and peak RSS
  local name="$1"
  shift
  /usr/bin/time -f "%e %M" -o "$dir/time" "$@" >"$dir/$name.log" 2>&1 || { cat "$dir/$name.log"; exit 1; }
  read -r secs kb <"$dir/time"
  printf '%-9s %6.2f s  peak RSS %5d MB\n' "$name" "$secs" $((kb / 1024))
}
echo "$docs documents of $mb MB each, $workers backfill workers"
measure backfill "$tandem" -c tandem.toml backfill --workers "$workers"
measure verify "$tandem" -c tandem.toml verify
grep -q CLEAN "$dir/verify.log" || { cat "$dir/verify.log"; exit 1; }
if [[ -z "$new" ]]; then
  copied=$(sqlite3 "$dir/new.db" "SELECT count(*), sum(length(doc)) FROM docs")
  echo "new holds (count, bytes): $copied"
fi
