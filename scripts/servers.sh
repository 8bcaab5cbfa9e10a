# Sourced by test.sh: starts the database servers the tests need, each on
# loopback, on its own port, with a fresh data directory under a temporary
# folder (never the packaged default instance), and stops them on exit.
# Exports the URLs the tests read: TANDEM_TEST_POSTGRES_URL.

SERVERS_DIR=""
PG_BIN=""

stop_servers() {
  if [[ -n "$PG_BIN" && -d "$SERVERS_DIR/pg" ]]; then
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$SERVERS_DIR/pg" -m immediate stop >/dev/null 2>&1 || true
  fi
  [[ -n "$SERVERS_DIR" ]] && rm -rf "$SERVERS_DIR"
}

start_postgres() {
  local port="${TANDEM_TEST_POSTGRES_PORT:-55432}"
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  mkdir -p "$SERVERS_DIR/pg"
  chown -R postgres:postgres "$SERVERS_DIR"
  runuser -u postgres -- "$PG_BIN/initdb" -D "$SERVERS_DIR/pg" -U tandem -A trust -E UTF8 --locale=C.UTF-8 \
    --no-sync >"$SERVERS_DIR/pg-initdb.log" 2>&1 || { cat "$SERVERS_DIR/pg-initdb.log"; return 1; }
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$SERVERS_DIR/pg" -l "$SERVERS_DIR/pg.log" -w -t 60 \
    -o "-p $port -k $SERVERS_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start \
    >/dev/null || { cat "$SERVERS_DIR/pg.log"; return 1; }
  export TANDEM_TEST_POSTGRES_URL="postgres://tandem@127.0.0.1:$port/postgres"
  echo "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
}

start_servers() {
  SERVERS_DIR=$(mktemp -d /tmp/tandem-servers-XXXXXX)
  chmod 755 "$SERVERS_DIR"
  trap stop_servers EXIT
  start_postgres
}
