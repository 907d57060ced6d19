#!/usr/bin/env bash
# Contract check: schemathesis against a live gateway with its own OpenAPI
# document (GET /api/openapi.json). Starts the debug binary on 127.0.0.1 with
# a fresh SQLite file, makes an admin with the CLI, logs in for the session
# cookie and runs every operation with the four checks below; zero failures
# or this script fails. Bounded: a few examples per operation, a timeout per
# pass and per request. One worker: with two, Python 3.11's parser can fail
# inside hypothesis (`SystemError: AST constructor recursion depth
# mismatch`), a runtime error rather than a finding.
#
# Knobs (env): SCHEMATHESIS_MAX_EXAMPLES (25), SCHEMATHESIS_SEED (random;
# the run prints the one it used), SCHEMATHESIS_VENV (target/schemathesis-venv),
# SCHEMATHESIS_SKIP_BUILD=1 (reuse target/debug/bff-gateway),
# SCHEMATHESIS_ARGS (more options, e.g. `--report har --report-dir
# /abs/dir`: relative paths land in the scratch directory, removed at exit).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO_ROOT="$PWD"

SCHEMATHESIS_VERSION=4.32.5
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-25}"
VENV="${SCHEMATHESIS_VENV:-$REPO_ROOT/target/schemathesis-venv}"
BIN="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/debug/bff-gateway"
case "$BIN" in /*) ;; *) BIN="$REPO_ROOT/$BIN" ;; esac
ARTIFACTS="$REPO_ROOT/artifacts/schemathesis"
ADMIN_EMAIL="contract-admin@example.com"
ADMIN_PASSWORD="contract-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"

log() { printf '[schemathesis] %s\n' "$*" >&2; }

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    local rc=$?
    set +e
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID"
        for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    if [ -f "$WORK/gateway.log" ]; then
        mkdir -p "$ARTIFACTS"
        cp "$WORK/gateway.log" "$ARTIFACTS/gateway.log"
        log "gateway log: $ARTIFACTS/gateway.log"
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------- schemathesis ---
if [ "$("$VENV/bin/schemathesis" --version 2>/dev/null | grep -o '[0-9][0-9.]*$')" != "$SCHEMATHESIS_VERSION" ]; then
    log "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

# ------------------------------------------------------------------ gateway ---
if [ "${SCHEMATHESIS_SKIP_BUILD:-}" = "1" ] && [ -x "$BIN" ]; then
    log "reusing $BIN"
else
    cargo build --quiet
fi
PORT="$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE_URL="http://127.0.0.1:$PORT"
GATEWAY_ENV=(
    APP_ENV=test
    APP_HOST=127.0.0.1
    APP_PORT="$PORT"
    DATABASE_URL="$WORK/contract.sqlite3"
    # The throttles are tested elsewhere (tests/api/throttle.rs); here they
    # would turn most sign-ups and logins into 429s before the handler runs.
    # The per-account login budget stays, so 429s are still exercised.
    # Body delivery on, so the non-browser responses are checked too.
    SIGNUP_MAX_PER_IP=1000000
    LOGIN_MAX_FAILURES_PER_IP=1000000
    TOKEN_BODY_DELIVERY=true
    # The relay (src/relay/) to the gateway itself, below a path it does
    # not route: every relayed request gets the gateway's own 404 back
    # through the relay, so the path rules, the header filters and the
    # streaming run for real. The document's example name is `orders`.
    UPSTREAMS="orders=http://127.0.0.1:$PORT/relayed"
    RUST_LOG=info
)
env "${GATEWAY_ENV[@]}" BFF_USER_PASSWORD="$ADMIN_PASSWORD" \
    "$BIN" create-user --email "$ADMIN_EMAIL" --role admin >"$WORK/create-user.log" 2>&1 \
    || { log "create-user failed:"; cat "$WORK/create-user.log" >&2; exit 1; }
env "${GATEWAY_ENV[@]}" "$BIN" >"$WORK/gateway.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 150); do
    curl -fsS -o /dev/null --max-time 2 "$BASE_URL/health" 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || { log "gateway exited during start-up"; exit 1; }
    sleep 0.2
done
curl -fsS -o /dev/null --max-time 2 "$BASE_URL/health"
log "gateway up on $BASE_URL"

# The cookie session: the access cookie for every request, the refresh
# cookie only for the pass that ends the session (below).
curl -fsS --max-time 10 -D "$WORK/login.headers" -o /dev/null \
    -H 'Content-Type: application/json' \
    --data "{\"username\":\"$ADMIN_EMAIL\",\"password\":\"$ADMIN_PASSWORD\"}" \
    "$BASE_URL/api/auth/login"
cookie() { sed -n "s/^[Ss]et-[Cc]ookie: $1=\([^;]*\);.*/\1/p" "$WORK/login.headers"; }
ACCESS="$(cookie accessToken)"
REFRESH="$(cookie refreshToken)"
[ -n "$ACCESS" ] && [ -n "$REFRESH" ] || { log "login set no session cookies"; exit 1; }

run() {
    # Retries are for network-level failures only, never for a response that
    # fails a check. Why: a request the HTTP parser refuses (schemathesis
    # sends header names such as `a;b`) gets a bare 400 with
    # `Connection: close`, and a request the client races onto that closing
    # connection is reset (reproduced: about 5% with Python's `requests`).
    # A fresh connection answers; a gateway that really went away still
    # fails the run.
    local seed=()
    [ -n "${SCHEMATHESIS_SEED:-}" ] && seed=(--seed "$SCHEMATHESIS_SEED")
    # From the scratch directory: schemathesis keeps a `.schemathesis/`
    # cache in its working directory, which has no place in the repository.
    (cd "$WORK" && timeout 300 "$VENV/bin/schemathesis" run "$BASE_URL/api/openapi.json" \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
        --max-examples "$MAX_EXAMPLES" \
        --request-timeout 10 \
        --request-retries 2 \
        --workers 1 \
        --no-color \
        "${seed[@]}" \
        ${SCHEMATHESIS_ARGS:-} \
        "$@")
}

# Three passes, so that what ends the session runs after what needs it: a
# logout in the middle would turn the rest into 401s (conformant, but
# testing nothing behind the session check), and a rotated refresh cookie
# becomes a reused token once the retry window passes.
log "pass 1: every operation but refresh, logout and revoke, as the admin"
run -H "Cookie: accessToken=$ACCESS" \
    --exclude-path-regex '^/api/auth/(refresh|logout|refresh/revoke)$'
log "pass 2: refresh, with the refresh cookie"
run -H "Cookie: refreshToken=$REFRESH" --include-path /api/auth/refresh
log "pass 3: logout and revoke, with both cookies"
run -H "Cookie: accessToken=$ACCESS; refreshToken=$REFRESH" --include-path-regex '^/api/auth/(logout|refresh/revoke)$'
log "zero failures"
