#!/usr/bin/env bash
# End-to-end run: builds the gateway, starts it on a free port against a fresh
# PostgreSQL database, creates an admin with the CLI, and drives the demo SPA
# (static/) in headless Debian Chromium with `node --test`.
#
# Needs: PostgreSQL reachable at $PGHOST:$PGPORT as $PGUSER with trust auth
# (default 127.0.0.1:5432, postgres), cargo, Node >= 20 with npm. Installs
# Debian's chromium (+ chromium-driver) and the psql client when missing.
#
# Two example upstreams (examples/upstream.rs) stand behind the relay:
# `orders` for every user and `reports` for admins only.
#
# Knobs (env): E2E_ACCESS_TTL_SECONDS (3), E2E_REFRESH_TTL_SECONDS (15),
# E2E_SKIP_BUILD=1 (reuse an existing debug binary), E2E_KEEP_DB=1.
set -euo pipefail

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$E2E_DIR/.." && pwd)"
ARTIFACTS_DIR="$REPO_ROOT/artifacts/e2e"
CHROMIUM=/usr/bin/chromium

PGHOST="${PGHOST:-127.0.0.1}"
PGPORT="${PGPORT:-5432}"
PGUSER="${PGUSER:-postgres}"
ACCESS_TTL_SECONDS="${E2E_ACCESS_TTL_SECONDS:-3}"
REFRESH_TTL_SECONDS="${E2E_REFRESH_TTL_SECONDS:-15}"
ADMIN_EMAIL="admin@example.com"
ADMIN_PASSWORD="e2e-admin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"

log() { printf '[e2e] %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

psql_admin() {
  psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d postgres -X -q -v ON_ERROR_STOP=1 "$@"
}

free_port() {
  node -e 'const s = require("net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

# ---------------------------------------------------------------- cleanup ---
SERVER_PID=""
UPSTREAM_PIDS=()
DB_NAME=""
cleanup() {
  local rc=$?
  set +e
  for pid in "${UPSTREAM_PIDS[@]}"; do
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    log "stopping gateway (pid $SERVER_PID)"
    kill "$SERVER_PID" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
  fi
  if [ -n "$DB_NAME" ]; then
    if [ "${E2E_KEEP_DB:-}" = "1" ]; then
      log "keeping database $DB_NAME (E2E_KEEP_DB=1)"
    else
      log "dropping database $DB_NAME"
      psql_admin -c "DROP DATABASE IF EXISTS \"$DB_NAME\" WITH (FORCE)" >/dev/null
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------ prerequisites ---
if [ ! -x "$CHROMIUM" ]; then
  log "installing Debian chromium and chromium-driver"
  apt_install chromium chromium-driver
fi
if ! command -v psql >/dev/null 2>&1; then
  log "installing the PostgreSQL client (psql)"
  apt_install postgresql-client
fi
command -v node >/dev/null || { log "node (>= 20) is required"; exit 1; }
command -v cargo >/dev/null || { log "cargo is required"; exit 1; }
log "$("$CHROMIUM" --version 2>/dev/null | tail -n1), node $(node --version)"

log "npm ci (e2e/)"
(cd "$E2E_DIR" && npm ci --no-audit --no-fund --loglevel=error)

# The dev-profile binary: `cargo test` (run before this in CI) has already built it.
BIN="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/debug/bff-gateway"
case "$BIN" in /*) ;; *) BIN="$REPO_ROOT/$BIN" ;; esac
UPSTREAM_BIN="$(dirname "$BIN")/examples/upstream"
if [ "${E2E_SKIP_BUILD:-}" = "1" ] && [ -x "$BIN" ] && [ -x "$UPSTREAM_BIN" ]; then
  log "reusing $BIN and $UPSTREAM_BIN (E2E_SKIP_BUILD=1)"
else
  log "cargo build (the gateway and the example upstream)"
  (cd "$REPO_ROOT" && cargo build && cargo build --example upstream)
fi

mkdir -p "$ARTIFACTS_DIR"
rm -f "$ARTIFACTS_DIR/people.png" "$ARTIFACTS_DIR/last-state.png"

# ------------------------------------------------------------------ database ---
DB_NAME="bff_e2e_$(date +%s)_$$"
log "creating database $DB_NAME"
psql_admin -c "CREATE DATABASE \"$DB_NAME\""
DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$DB_NAME"

# ------------------------------------------------------------------- gateway ---
PORT="$(free_port)"
ALLOWED_PORT="$(free_port)"
while [ "$ALLOWED_PORT" = "$PORT" ]; do ALLOWED_PORT="$(free_port)"; done
BASE_URL="http://127.0.0.1:$PORT"
ORDERS_PORT="$(free_port)"
REPORTS_PORT="$(free_port)"

GATEWAY_ENV=(
  APP_ENV=test
  DATABASE_URL="$DATABASE_URL"
  APP_HOST=127.0.0.1
  APP_PORT="$PORT"
  ACCESS_TOKEN_TTL="${ACCESS_TTL_SECONDS}s"
  REFRESH_TOKEN_TTL="${REFRESH_TTL_SECONDS}s"
  # Angular dev server + one origin the suite uses as the positive CORS control.
  # The "attacker" origins of scenario 6 are deliberately NOT listed.
  CORS_ALLOWED_ORIGINS="http://localhost:4200,http://127.0.0.1:$ALLOWED_PORT"
  COOKIE_SECURE=true
  BCRYPT_COST=4
  # Scenario 4b holds a row lock: the revocation gives up after this.
  DATABASE_STATEMENT_TIMEOUT=1s
  STATIC_DIR="$REPO_ROOT/static"
  UPSTREAMS="orders=http://127.0.0.1:$ORDERS_PORT;reports=http://127.0.0.1:$REPORTS_PORT|role=admin"
  RUST_LOG="${RUST_LOG:-info}"
)

log "starting gateway on $BASE_URL (access TTL ${ACCESS_TTL_SECONDS}s, refresh TTL ${REFRESH_TTL_SECONDS}s)"
(cd "$REPO_ROOT" && exec env "${GATEWAY_ENV[@]}" "$BIN") >"$ARTIFACTS_DIR/gateway.log" 2>&1 &
SERVER_PID=$!

ready=""
for _ in $(seq 1 300); do
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    log "gateway exited during start-up; log:"
    tail -n 40 "$ARTIFACTS_DIR/gateway.log" >&2
    exit 1
  fi
  if node -e 'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$BASE_URL/health"; then
    ready=1
    break
  fi
  sleep 0.2
done
if [ -z "$ready" ]; then
  log "gateway did not answer /health within 60s; log:"
  tail -n 40 "$ARTIFACTS_DIR/gateway.log" >&2
  exit 1
fi
grep -q "listening on http://127.0.0.1:$PORT" "$ARTIFACTS_DIR/gateway.log" \
  || log "warning: no 'listening on http://127.0.0.1:$PORT' line in the gateway log"
log "gateway is up"

# ----------------------------------------------------------------- upstreams ---
start_upstream() { # name port
  local logfile="$ARTIFACTS_DIR/upstream-$1.log"
  env UPSTREAM_ADDR="127.0.0.1:$2" UPSTREAM_AUDIENCE="$1" GATEWAY_URL="$BASE_URL" \
    "$UPSTREAM_BIN" >"$logfile" 2>&1 &
  UPSTREAM_PIDS+=("$!")
  for _ in $(seq 1 100); do
    grep -q "listening on http://127.0.0.1:$2" "$logfile" && return 0
    sleep 0.1
  done
  log "example upstream $1 did not start; log:"
  cat "$logfile" >&2
  exit 1
}
start_upstream orders "$ORDERS_PORT"
start_upstream reports "$REPORTS_PORT"
log "example upstreams are up: orders on $ORDERS_PORT, reports (admins) on $REPORTS_PORT"

log "creating $ADMIN_EMAIL with the CLI"
(cd "$REPO_ROOT" && env "${GATEWAY_ENV[@]}" BFF_USER_PASSWORD="$ADMIN_PASSWORD" \
  "$BIN" create-user --email "$ADMIN_EMAIL" --role admin) >>"$ARTIFACTS_DIR/create-user.log" 2>&1 \
  || { log "create-user failed:"; cat "$ARTIFACTS_DIR/create-user.log" >&2; exit 1; }

# --------------------------------------------------------------------- tests ---
log "running node --test"
set +e
(
  cd "$E2E_DIR" && env \
    E2E_BASE_URL="$BASE_URL" \
    E2E_DATABASE_URL="$DATABASE_URL" \
    E2E_ADMIN_EMAIL="$ADMIN_EMAIL" \
    E2E_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
    E2E_ACCESS_TTL_SECONDS="$ACCESS_TTL_SECONDS" \
    E2E_REFRESH_TTL_SECONDS="$REFRESH_TTL_SECONDS" \
    E2E_ALLOWED_ORIGIN_PORT="$ALLOWED_PORT" \
    E2E_ARTIFACTS_DIR="$ARTIFACTS_DIR" \
    E2E_UPSTREAM_LOG_ORDERS="$ARTIFACTS_DIR/upstream-orders.log" \
    E2E_UPSTREAM_LOG_REPORTS="$ARTIFACTS_DIR/upstream-reports.log" \
    CHROMIUM_PATH="$CHROMIUM" \
    node --test --test-reporter=spec gateway.test.mjs
)
rc=$?
set -e

log "gateway log: $ARTIFACTS_DIR/gateway.log"
if [ -f "$ARTIFACTS_DIR/people.png" ]; then
  echo "Screenshot of the people page: $ARTIFACTS_DIR/people.png"
else
  log "no screenshot was taken (see the failures above)"
fi
exit "$rc"
