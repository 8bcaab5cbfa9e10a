# Sourced by the end-to-end scripts: fresh databases on the servers
# scripts/test.sh started, dropped on exit with the scripts' temporary folder.
#   fresh_database ENGINE ROLE   prints the URL of a new empty database (sqlite|postgres|mariadb)
dir=$(mktemp -d)
created=()

# fresh_database ENGINE ROLE: prints the URL of a new empty database.
fresh_database() {
  local engine="$1" db="tandem_e2e_$2_$$"
  case "$engine" in
    sqlite) echo "sqlite:$dir/$2.db" ;;
    postgres)
      [[ -n "${TANDEM_TEST_POSTGRES_URL:-}" ]] || { echo "TANDEM_TEST_POSTGRES_URL is not set: run scripts/test.sh" >&2; return 1; }
      psql "$TANDEM_TEST_POSTGRES_URL" -qc "CREATE DATABASE $db" >&2 || return 1
      created+=("postgres:$db")
      echo "${TANDEM_TEST_POSTGRES_URL%/*}/$db" ;;
    mariadb)
      [[ -n "${TANDEM_TEST_MARIADB_ROOT:-}" ]] || { echo "TANDEM_TEST_MARIADB_ROOT is not set: run scripts/test.sh" >&2; return 1; }
      $TANDEM_TEST_MARIADB_ROOT -e "CREATE DATABASE $db" >&2 || return 1
      created+=("mariadb:$db")
      echo "${TANDEM_TEST_MARIADB_URL%/*}/$db" ;;
    *) echo "unknown engine $engine" >&2; return 1 ;;
  esac
}

cleanup() {
  for c in "${created[@]}"; do
    case "$c" in
      postgres:*) psql "$TANDEM_TEST_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS ${c#*:} WITH (FORCE)" >/dev/null 2>&1 ;;
      mariadb:*) $TANDEM_TEST_MARIADB_ROOT -e "DROP DATABASE IF EXISTS ${c#*:}" >/dev/null 2>&1 ;;
    esac
  done
  rm -rf "$dir"
}
trap cleanup EXIT
