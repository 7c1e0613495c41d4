#!/usr/bin/env bash
# Socket.IO fan-out beside the delta protocol, same run, same server: starts `progressista
# serve` on a fresh segment, then socketio_bench.mjs (node, with tests/browser's pinned
# socket.io-client: `make browser-deps`) runs both phases and prints one table. Loopback only.
#
# Environment (defaults in brackets):
#   CLIENTS [1000]   sockets in phase 1, delta WebSockets in phase 2
#   ROOMS [10]       rooms (tasks) the events go to, round-robin
#   RATE [1000]      events per second posted
#   DURATION [10]    seconds of posting per phase (1-120)
#   TICK [0.1]       serve --tick
#   PROGRESSISTA [build/daemon/progressista]
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib.sh
. "$HERE/../lib.sh"
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${PROGRESSISTA:-$ROOT/build/daemon/progressista}
export CLIENTS=${CLIENTS:-1000} ROOMS=${ROOMS:-10} RATE=${RATE:-1000} DURATION=${DURATION:-10}
TICK=${TICK:-0.1}
SEGMENT=bench-socketio-$$

die() {
  echo "bench-socketio: error: $*" >&2
  exit 1
}
is_count "$CLIENTS" 1 5000 || die "CLIENTS must be 1-5000, not '$CLIENTS'"
is_count "$ROOMS" 1 1000 || die "ROOMS must be 1-1000, not '$ROOMS'"
is_count "$RATE" 1 100000 || die "RATE must be 1-100000, not '$RATE'"
is_count "$DURATION" 1 120 || die "DURATION must be 1-120 seconds, not '$DURATION'"
[[ $TICK =~ ^[0-9]*\.?[0-9]+$ ]] || die "TICK must be seconds, not '$TICK'"
[ -x "$BIN" ] || die "$BIN not found: build it first"
[ -d "$ROOT/tests/browser/node_modules/socket.io-client" ] || die "run make browser-deps first"
need=$((2 * CLIENTS + 256))
if (($(ulimit -n) < need)); then
  ulimit -n "$need" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
  (($(ulimit -n) >= need)) || die "$need open files needed, the hard limit is $(ulimit -Hn)"
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench-socketio.XXXXXX")
SERVER_PID=""
cleanup() {
  local rc=$? i
  trap - EXIT INT TERM
  if [ -n "$SERVER_PID" ]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for i in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -f "/dev/shm/$SEGMENT"
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

LOG=$TMP/serve.log
start_serve "$LOG" --segment "$SEGMENT" --tick "$TICK" --storage-path "" --no-access-log
warn_if_busy bench-socketio
echo "bench-socketio: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); node client," \
  "poster and server share them; serve pid $SERVER_PID, tick ${TICK}s"
timeout $((2 * DURATION + 240)) node "$HERE/socketio_bench.mjs" "http://127.0.0.1:$PORT" "$SERVER_PID"
