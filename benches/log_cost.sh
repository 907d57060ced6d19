#!/usr/bin/env bash
# What the request log costs: `GET /health` (no database, no auth: the
# floor where the per-request log line weighs most) at RUST_LOG=info versus
# RUST_LOG=warn, in the same run, with wrk keeping CONNECTIONS connections
# busy. Prints requests/s and the info/warn ratio per binary; pass
# BEFORE_BIN=/path/to/an/older/bff-gateway to compare two builds side by side.
#
#     benches/log_cost.sh
#     BEFORE_BIN=/tmp/bff-before benches/log_cost.sh
#
# Knobs: BIN (default target/release/bff-gateway, built if missing),
# BEFORE_BIN, DURATION (5s), CONNECTIONS (64), ROUNDS (3; the median is
# reported), LOG_FORMAT (text). The server's stderr goes to a file, as to a
# log collector. Only 127.0.0.1 is contacted; every run is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-target/release/bff-gateway}
BEFORE_BIN=${BEFORE_BIN:-}
DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-64}
ROUNDS=${ROUNDS:-3}
FORMAT=${LOG_FORMAT:-text}
PORT=${BENCH_PORT:-18931}

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
[ -x "$BIN" ] || cargo build --release --bin bff-gateway

tmp=$(mktemp -d)
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# One measurement: prints requests/s of `bin` at log level `level`.
measure() {
    local bin=$1 level=$2 dir
    dir=$(mktemp -d "$tmp/run.XXXX")
    APP_ENV=test APP_PORT=$PORT DATABASE_URL="sqlite://$dir/bff.sqlite3" \
        RUST_LOG=$level LOG_FORMAT=$FORMAT "$bin" 2>"$dir/stderr.log" >/dev/null &
    server_pid=$!
    for _ in $(seq 1 100); do
        curl -fs "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
        sleep 0.1
    done
    curl -fs "http://127.0.0.1:$PORT/health" >/dev/null || { cat "$dir/stderr.log" >&2; exit 1; }
    wrk -t2 -c"$CONNECTIONS" -d"$DURATION" "http://127.0.0.1:$PORT/health" |
        awk '/Requests\/sec/ { print $2 }'
    kill "$server_pid"; wait "$server_pid" 2>/dev/null || true
    server_pid=""
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

declare -A results
bins=("$BIN")
[ -n "$BEFORE_BIN" ] && bins=("$BEFORE_BIN" "$BIN")
# Interleaved, so drift on a shared machine hits every variant alike.
for round in $(seq 1 "$ROUNDS"); do
    for bin in "${bins[@]}"; do
        for level in info warn; do
            rps=$(measure "$bin" "$level")
            results["$bin|$level"]+="$rps "
            echo "round $round: $bin RUST_LOG=$level: $rps req/s" >&2
        done
    done
done

echo
echo "GET /health, wrk -t2 -c$CONNECTIONS -d$DURATION, LOG_FORMAT=$FORMAT, median of $ROUNDS ($(date -u +%F))"
printf '%-40s %12s %12s %8s\n' binary "info req/s" "warn req/s" "info/warn"
for bin in "${bins[@]}"; do
    info=$(tr ' ' '\n' <<<"${results[$bin|info]}" | grep . | median)
    warn=$(tr ' ' '\n' <<<"${results[$bin|warn]}" | grep . | median)
    printf '%-40s %12.0f %12.0f %7.0f%%\n' "$bin" "$info" "$warn" "$(awk -v a="$info" -v b="$warn" 'BEGIN { print 100 * a / b }')"
done
