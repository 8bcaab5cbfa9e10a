# Sourced by test.sh: starts the database servers the tests need, each on
# loopback, on its own port, with a fresh data directory under a temporary
# folder (never the packaged default instance), and stops them on exit.
# Exports the URLs the tests read: TANDEM_TEST_POSTGRES_URL, and for the test
# that stops its target server mid-copy a second instance of its own:
# TANDEM_TEST_POSTGRES_RESTART_URL with ..._STOP and ..._START commands.

SERVERS_DIR=""
PG_BIN=""

stop_servers() {
  for data in "$SERVERS_DIR/pg" "$SERVERS_DIR/pg-restart"; do
    if [[ -n "$PG_BIN" && -d "$data" ]]; then
      runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1 || true
    fi
  done
  [[ -n "$SERVERS_DIR" ]] && rm -rf "$SERVERS_DIR"
}

# init_postgres NAME PORT: a fresh cluster in $SERVERS_DIR/NAME, started; sets PG_START.
init_postgres() {
  local name="$1" port="$2" data="$SERVERS_DIR/$1"
  mkdir -p "$data"
  chown -R postgres:postgres "$SERVERS_DIR"
  runuser -u postgres -- "$PG_BIN/initdb" -D "$data" -U tandem -A trust -E UTF8 --locale=C.UTF-8 \
    --no-sync >"$SERVERS_DIR/$name-initdb.log" 2>&1 || { cat "$SERVERS_DIR/$name-initdb.log"; return 1; }
  PG_START="runuser -u postgres -- $PG_BIN/pg_ctl -D $data -l $SERVERS_DIR/$name.log -w -t 60 -o '-p $port \
-k $SERVERS_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300' start"
  bash -c "$PG_START" >/dev/null || { cat "$SERVERS_DIR/$name.log"; return 1; }
}

start_postgres() {
  local port="${TANDEM_TEST_POSTGRES_PORT:-55432}"
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  init_postgres pg "$port" || return 1
  export TANDEM_TEST_POSTGRES_URL="postgres://tandem@127.0.0.1:$port/postgres"
  echo "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
  init_postgres pg-restart $((port + 1)) || return 1
  export TANDEM_TEST_POSTGRES_RESTART_URL="postgres://tandem@127.0.0.1:$((port + 1))/postgres"
  export TANDEM_TEST_POSTGRES_RESTART_START="$PG_START"
  export TANDEM_TEST_POSTGRES_RESTART_STOP="runuser -u postgres -- $PG_BIN/pg_ctl -D $SERVERS_DIR/pg-restart \
-m fast -w stop"
  echo "PostgreSQL (for the restart test) on 127.0.0.1:$((port + 1))"
}

start_servers() {
  SERVERS_DIR=$(mktemp -d /tmp/tandem-servers-XXXXXX)
  chmod 755 "$SERVERS_DIR"
  trap stop_servers EXIT
  start_postgres
}
