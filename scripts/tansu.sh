#!/usr/bin/env bash
# Install, start and stop the Tansu Kafka-compatible broker used by aeflow's end-to-end stream tests
# (tests/stream_tansu.rs). Everything lives outside the repository, under ${AEFLOW_TOOLS}:
#   bin/tansu           the broker binary (cargo install tansu 0.6.0 --features dynostore,libsql):
#                       memory storage for `start`, SQLite storage (`sqlite://FILE`) for the fault soak in
#                       tests/stream_tansu.rs, which starts, stops and restarts brokers of its own from it
#   tansu-target/       cargo's build directory for that install (not target/: scripts/test.sh builds the
#                       test suite in $AEFLOW_CACHE/target, and the two must not share one)
#   tansu.pid, tansu.log  the running broker
#
# Usage:
#   scripts/tansu.sh install       idempotent: builds tansu only when bin/tansu is missing or lacks an engine
#                                  (~8 min on 2 cores; adding SQLite to a dynostore-only build, a few more)
#   scripts/tansu.sh start PORT    starts a broker on 127.0.0.1:PORT (memory storage), waits until it accepts
#                                  connections, writes the pid file; prints the broker address
#   scripts/tansu.sh stop          stops the broker started by `start`
#
# Tests then run with: AEFLOW_TANSU_BROKERS=127.0.0.1:PORT cargo test --test stream_tansu
set -euo pipefail

TOOLS="${AEFLOW_TOOLS:-$HOME/.cache/aeflow}"
TANSU_VERSION="0.6.0"
# dynostore: the memory storage of `start`; libsql: SQLite storage, which survives a broker restart.
TANSU_FEATURES="dynostore,libsql"
BIN="$TOOLS/bin/tansu"
PID_FILE="$TOOLS/tansu.pid"
LOG_FILE="$TOOLS/tansu.log"

die() { echo "tansu.sh: $*" >&2; exit 1; }

install() {
    # `tansu --help` ends with "Storage engines: dynostore, libsql" for a build with both.
    local version="" help=""
    if [[ -x "$BIN" ]]; then
        version="$("$BIN" --version 2>/dev/null || true)"
        help="$("$BIN" --help 2>/dev/null || true)"
    fi
    if [[ "$version" == *"$TANSU_VERSION"* && "$help" == *"Storage engines:"*dynostore*libsql* ]]; then
        echo "tansu $TANSU_VERSION ($TANSU_FEATURES) already installed at $BIN"
        return 0
    fi
    mkdir -p "$TOOLS"
    echo "installing tansu $TANSU_VERSION into $TOOLS/bin (takes several minutes)"
    CARGO_TARGET_DIR="$TOOLS/tansu-target" cargo install tansu --version "$TANSU_VERSION" --locked \
        --features "$TANSU_FEATURES" --root "$TOOLS" --force
    [[ -x "$BIN" ]] || die "cargo install finished but $BIN is missing"
    echo "installed $BIN"
}

port_open() {
    # bash's /dev/tcp: succeeds once something listens on the port.
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start() {
    local port="${1:-}"
    [[ "$port" =~ ^[0-9]+$ ]] || die "start needs a PORT number, e.g. scripts/tansu.sh start 19092"
    [[ -x "$BIN" ]] || die "$BIN is missing; run scripts/tansu.sh install first"
    if [[ -f "$PID_FILE" ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
        die "a broker is already running (pid $(cat "$PID_FILE")); run scripts/tansu.sh stop first"
    fi
    if port_open "$port"; then
        die "port $port on 127.0.0.1 is already in use"
    fi
    mkdir -p "$TOOLS"
    "$BIN" broker \
        --listener-url "tcp://127.0.0.1:$port" \
        --advertised-listener-url "tcp://127.0.0.1:$port" \
        --storage-engine "memory://tansu/" \
        >"$LOG_FILE" 2>&1 &
    local pid=$!
    echo "$pid" >"$PID_FILE"
    # Bounded wait: 30 s for the listener.
    for _ in $(seq 1 300); do
        if port_open "$port"; then
            echo "127.0.0.1:$port"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || { rm -f "$PID_FILE"; die "tansu exited at start; see $LOG_FILE"; }
        sleep 0.1
    done
    kill "$pid" 2>/dev/null || true
    rm -f "$PID_FILE"
    die "tansu did not accept connections on 127.0.0.1:$port within 30 s; see $LOG_FILE"
}

stop() {
    if [[ ! -f "$PID_FILE" ]]; then
        echo "no tansu pid file at $PID_FILE; nothing to stop"
        return 0
    fi
    local pid
    pid="$(cat "$PID_FILE")"
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$PID_FILE"
    echo "stopped tansu (pid $pid)"
}

case "${1:-}" in
    install) install ;;
    start) start "${2:-}" ;;
    stop) stop ;;
    *) die "usage: scripts/tansu.sh install | start PORT | stop" ;;
esac
