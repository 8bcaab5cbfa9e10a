# Sourced by test.sh: starts the database servers the tests need, each on
# loopback, on its own port, with a fresh data directory under a temporary
# folder (never the packaged default instance), and stops them on exit.
# Exports the URLs the tests read: TANDEM_TEST_POSTGRES_URL, and for the test
# that stops its target server mid-copy a second instance of its own:
# TANDEM_TEST_POSTGRES_RESTART_URL with ..._STOP and ..._START commands;
# TANDEM_TEST_MARIADB_URL (an account "tandem" that may create databases) and
# TANDEM_TEST_MARIADB_ROOT (a client command line as root, over the socket)
# and the same restart trio for MariaDB; TANDEM_TEST_TLS_CA, the CA that signed
# both main servers' certificates (for 127.0.0.1), and TANDEM_TEST_OTHER_CA,
# one that did not.

SERVERS_DIR=""
POSTGRES_BIN=""

stop_servers() {
  local data pid
  for data in "$SERVERS_DIR"/*/; do
    if [[ -n "$POSTGRES_BIN" && -f "$data/PG_VERSION" ]]; then
      runuser -u postgres -- "$POSTGRES_BIN/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1 || true
    fi
    pid="$data/mysqld.pid"
    if [[ -f "$pid" ]]; then kill -9 "$(cat "$pid")" 2>/dev/null || true; fi
  done
  [[ -n "$SERVERS_DIR" ]] && rm -rf "$SERVERS_DIR"
}

# make_certificates: a throwaway CA and a server certificate for 127.0.0.1 in
# $SERVERS_DIR/tls, plus a second CA that signed nothing.
make_certificates() {
  local tls="$SERVERS_DIR/tls"
  mkdir -p "$tls"
  (
    cd "$tls" || exit 1
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=tandem test CA" -keyout ca.key -out ca.pem
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=other CA" -keyout other.key -out other.pem
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout server.key -out server.csr
    printf 'subjectAltName=IP:127.0.0.1\n' >san.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext \
      -out server.pem
  ) >"$SERVERS_DIR/tls.log" 2>&1 || { cat "$SERVERS_DIR/tls.log"; return 1; }
  chmod 644 "$tls"/*.pem
  export TANDEM_TEST_TLS_CA="$tls/ca.pem" TANDEM_TEST_OTHER_CA="$tls/other.pem"
}

# tls_copy OWNER NAME: the server's key and certificate, readable by OWNER only.
tls_copy() {
  local dir="$SERVERS_DIR/tls-$2"
  mkdir -p "$dir"
  cp "$SERVERS_DIR/tls/server.pem" "$SERVERS_DIR/tls/server.key" "$SERVERS_DIR/tls/ca.pem" "$dir/"
  chown -R "$1:$1" "$dir"
  chmod 600 "$dir/server.key"
  echo "$dir"
}

# init_mariadb NAME PORT: a fresh data directory in $SERVERS_DIR/NAME, a server
# started on 127.0.0.1:PORT, and an account tandem@127.0.0.1 (no password) that
# may create databases and grant on them. Sets MARIADB_START.
init_mariadb() {
  local name="$1" port="$2" run="$SERVERS_DIR/$1"
  mkdir -p "$run/data"
  chown -R mysql:mysql "$run"
  mariadb-install-db --no-defaults --user=mysql --datadir="$run/data" --skip-test-db \
    --auth-root-authentication-method=socket >"$SERVERS_DIR/$name-install.log" 2>&1 \
    || { cat "$SERVERS_DIR/$name-install.log"; return 1; }
  MARIADB_START="mariadbd --no-defaults --user=mysql --datadir=$run/data --port=$port --bind-address=127.0.0.1 \
--socket=$run/mysqld.sock --pid-file=$run/mysqld.pid --log-error=$run/error.log \
--innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0 --skip-log-bin --max-connections=400 \
--character-set-server=utf8mb4 --collation-server=utf8mb4_bin --innodb-buffer-pool-size=256M \
${MARIADB_EXTRA_OPTIONS:-}"
  if [[ "$name" == mariadb ]]; then
    local tls
    tls=$(tls_copy mysql mariadb)
    MARIADB_START+=" --ssl-ca=$tls/ca.pem --ssl-cert=$tls/server.pem --ssl-key=$tls/server.key"
  fi
  bash -c "$MARIADB_START &" >/dev/null 2>&1 </dev/null
  local i
  for i in $(seq 1 120); do
    mariadb --no-defaults -uroot --socket="$run/mysqld.sock" -e 'SELECT 1' >/dev/null 2>&1 && break
    sleep 0.5
  done
  mariadb --no-defaults -uroot --socket="$run/mysqld.sock" -e \
    "CREATE USER 'tandem'@'127.0.0.1'; GRANT ALL PRIVILEGES ON *.* TO 'tandem'@'127.0.0.1' WITH GRANT OPTION; \
CREATE DATABASE tandem;" || { cat "$run/error.log"; return 1; }
}

start_mariadb() {
  local port="${TANDEM_TEST_MARIADB_PORT:-53306}"
  init_mariadb mariadb "$port" || return 1
  export TANDEM_TEST_MARIADB_URL="mariadb://tandem@127.0.0.1:$port/tandem"
  export TANDEM_TEST_MARIADB_ROOT="mariadb --no-defaults -uroot --socket=$SERVERS_DIR/mariadb/mysqld.sock"
  echo "MariaDB $(mariadbd --version | awk '{print $3}') on 127.0.0.1:$port"
  init_mariadb mariadb-restart $((port + 1)) || return 1
  export TANDEM_TEST_MARIADB_RESTART_URL="mariadb://tandem@127.0.0.1:$((port + 1))/tandem"
  export TANDEM_TEST_MARIADB_RESTART_START="$MARIADB_START >/dev/null 2>&1 </dev/null &"
  export TANDEM_TEST_MARIADB_RESTART_STOP="kill \$(cat $SERVERS_DIR/mariadb-restart/mysqld.pid) && \
while [ -e $SERVERS_DIR/mariadb-restart/mysqld.pid ]; do sleep 0.2; done"
  echo "MariaDB (for the restart test) on 127.0.0.1:$((port + 1))"
}

# init_postgres NAME PORT: a fresh cluster in $SERVERS_DIR/NAME, started; sets POSTGRES_START.
# POSTGRES_EXTRA_OPTIONS (server -c options) and MARIADB_EXTRA_OPTIONS add settings (the benchmark's).
init_postgres() {
  local name="$1" port="$2" data="$SERVERS_DIR/$1"
  mkdir -p "$data"
  chown postgres:postgres "$SERVERS_DIR"
  chown -R postgres:postgres "$data"
  runuser -u postgres -- "$POSTGRES_BIN/initdb" -D "$data" -U tandem -A trust -E UTF8 --locale=C.UTF-8 \
    --no-sync >"$SERVERS_DIR/$name-initdb.log" 2>&1 || { cat "$SERVERS_DIR/$name-initdb.log"; return 1; }
  local ssl=""
  if [[ "$name" == postgres ]]; then
    local tls
    tls=$(tls_copy postgres postgres)
    ssl="-c ssl=on -c ssl_cert_file=$tls/server.pem -c ssl_key_file=$tls/server.key"
  fi
  POSTGRES_START="runuser -u postgres -- $POSTGRES_BIN/pg_ctl -D $data -l $SERVERS_DIR/$name.log -w -t 60 -o '-p $port \
-k $SERVERS_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300 $ssl \
${POSTGRES_EXTRA_OPTIONS:-}' start"
  bash -c "$POSTGRES_START" >/dev/null || { cat "$SERVERS_DIR/$name.log"; return 1; }
}

start_postgres() {
  local port="${TANDEM_TEST_POSTGRES_PORT:-55432}"
  POSTGRES_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  init_postgres postgres "$port" || return 1
  export TANDEM_TEST_POSTGRES_URL="postgres://tandem@127.0.0.1:$port/postgres"
  echo "PostgreSQL $("$POSTGRES_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
  init_postgres postgres-restart $((port + 1)) || return 1
  export TANDEM_TEST_POSTGRES_RESTART_URL="postgres://tandem@127.0.0.1:$((port + 1))/postgres"
  export TANDEM_TEST_POSTGRES_RESTART_START="$POSTGRES_START"
  export TANDEM_TEST_POSTGRES_RESTART_STOP="runuser -u postgres -- $POSTGRES_BIN/pg_ctl -D $SERVERS_DIR/postgres-restart \
-m fast -w stop"
  echo "PostgreSQL (for the restart test) on 127.0.0.1:$((port + 1))"
}

start_servers() {
  SERVERS_DIR=$(mktemp -d /tmp/tandem-servers-XXXXXX)
  chmod 755 "$SERVERS_DIR"
  trap stop_servers EXIT
  make_certificates || return 1
  start_postgres || return 1
  start_mariadb
}
