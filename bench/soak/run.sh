#!/usr/bin/env bash
# Soak benchmark: `progressista ingest` and `progressista broadcast` (release build) on one
# segment for N minutes at a steady mixed load — writes at a steady rate over many tasks,
# WebSocket and SSE clients, slow clients that stop reading (and should be cut off), clients
# that reconnect every few seconds — printing every 30 s each daemon's RSS and open fds, the
# writers' request p99, the broadcaster's tick duration, frames sent and received, events
# acknowledged; at the end the drift from the first to the last minute (a leak shows as RSS or
# fds growing) and whether every client holds what the segment holds. See bench/README.md.
#
# Usage: bench/soak/run.sh [--minutes N]    (default 10, at most 60)
# Environment (defaults in brackets):
#   PROGRESSISTA [build/daemon/progressista]  the release binary
#   RATE [500]           events/s, one per POST, over TASKS tasks
#   TASKS [1000]
#   WS_CLIENTS [50] SSE_CLIENTS [50]   clients that stay connected
#   SLOW_CLIENTS [6]     half WebSocket, half SSE: read 2 frames/s for 15 s, stop reading for
#                        60 s, then drain for 10 s; reconnect
#   CHURN_CLIENTS [10]   half WebSocket, half SSE: reconnect every 3-15 s
#   INTERVAL [30]        seconds between two report lines
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib.sh
. "$HERE/../lib.sh"
# shellcheck source=../chaos/procs.sh
. "$HERE/../chaos/procs.sh"
ROOT=$(cd "$HERE/../.." && pwd)
NAME=bench-soak
parse_minutes 10 2 60 "$@"
BIN=$(realpath -m "${PROGRESSISTA:-$ROOT/build/daemon/progressista}")
RATE=${RATE:-500}
TASKS=${TASKS:-1000}
WS_CLIENTS=${WS_CLIENTS:-50}
SSE_CLIENTS=${SSE_CLIENTS:-50}
SLOW_CLIENTS=${SLOW_CLIENTS:-6}
CHURN_CLIENTS=${CHURN_CLIENTS:-10}
INTERVAL=${INTERVAL:-30}
is_count "$RATE" 1 100000 || die "RATE must be 1-100000, not '$RATE'"
is_count "$TASKS" 1 50000 || die "TASKS must be 1-50000, not '$TASKS'"
for v in WS_CLIENTS SSE_CLIENTS SLOW_CLIENTS CHURN_CLIENTS; do
  is_count "${!v}" 0 2000 || die "$v must be 0-2000, not '${!v}'"
done
is_count "$INTERVAL" 5 600 || die "INTERVAL must be 5-600 seconds, not '$INTERVAL'"
[ -x "$BIN" ] || die "$BIN not found: build it (make bench-soak)"
command -v curl >/dev/null || die "curl not found"

SEGMENT=bench-soak-$$
TMP=""
PIDS=()
trap cleanup_procs EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
[ -e "/dev/shm/$SEGMENT" ] && { SEGMENT=""; die "/dev/shm/bench-soak-$$ already exists"; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench-soak.XXXXXX")
LOADGEN=(python3 "$HERE/../chaos/loadgen.py")
SECONDS_TOTAL=$((MINUTES * 60))
BASE_US=$(($(date +%s) * 1000000))
clients=$((WS_CLIENTS + SSE_CLIENTS + SLOW_CLIENTS + CHURN_CLIENTS))
need=$((clients + 256))
if (($(ulimit -n) < need)); then
  ulimit -n "$need" 2>/dev/null || die "$need open files needed, the limit is $(ulimit -n)"
fi

PORT_INGEST=$(free_port)
PORT_BROADCAST=$(free_port)
[ "$PORT_INGEST" != "$PORT_BROADCAST" ] || die "port clash, run again"
INGEST_URL=http://127.0.0.1:$PORT_INGEST
BROADCAST_URL=http://127.0.0.1:$PORT_BROADCAST
capacity=$((TASKS * 2 > 1024 ? TASKS * 2 : 1024))
start_daemon ingest "$PORT_INGEST" "$TMP/ingest.log" --capacity "$capacity" --storage-path "" --threads 2
INGEST_PID=$STARTED_PID
wait_health "$INGEST_PID" "$INGEST_URL" 10 || { cat "$TMP/ingest.log" >&2; die "ingest did not start"; }
start_daemon broadcast "$PORT_BROADCAST" "$TMP/broadcast.log" --tick 0.1 --threads 2 \
  --max-clients $((clients + 100))
BROADCAST_PID=$STARTED_PID
wait_health "$BROADCAST_PID" "$BROADCAST_URL" 10 || { cat "$TMP/broadcast.log" >&2; die "broadcast did not start"; }

warn_if_busy "$NAME"
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo ?)
echo "$NAME: $(date -u +%FT%TZ), commit $commit; $(nproc) cores shared with the load tools" \
  "(load average $(cut -d' ' -f1-3 /proc/loadavg))"
echo "$NAME: ingest pid $INGEST_PID :$PORT_INGEST, broadcast pid $BROADCAST_PID :$PORT_BROADCAST" \
  "(tick 0.1 s), segment $SEGMENT ($capacity slots); ${MINUTES} min"
echo "$NAME: $RATE events/s over $TASKS tasks (one event per POST, 4 keep-alive connections);" \
  "$WS_CLIENTS WebSocket + $SSE_CLIENTS SSE clients, $SLOW_CLIENTS slow, $CHURN_CLIENTS reconnecting"

half=$((SLOW_CLIENTS / 2)) churn_half=$((CHURN_CLIENTS / 2))
"${LOADGEN[@]}" watch --url "$BROADCAST_URL" --prefix soak- --ws "$WS_CLIENTS" --sse "$SSE_CLIENTS" \
  --slow-ws "$half" --slow-sse $((SLOW_CLIENTS - half)) --churn-ws "$churn_half" \
  --churn-sse $((CHURN_CLIENTS - churn_half)) --duration $((SECONDS_TOTAL + 120)) \
  --stats "$TMP/watch.json" --views "$TMP/views.json" >"$TMP/watch.log" 2>&1 &
WATCH_PID=$!
PIDS+=("$WATCH_PID")
"${LOADGEN[@]}" write --url "$INGEST_URL" --threads 4 --rate "$RATE" --tasks "$TASKS" --prefix soak- \
  --base-us "$BASE_US" --duration $((SECONDS_TOTAL + 60)) --stats "$TMP/writer.json" \
  >"$TMP/writer.log" 2>&1 &
WRITER_PID=$!
PIDS+=("$WRITER_PID")

# One line per INTERVAL, then the drift table; in the background so that a signal ends it.
"${LOADGEN[@]}" report --pid "ingest=$INGEST_PID" --pid "broadcast=$BROADCAST_PID" \
  --metrics "$BROADCAST_URL" --writer-stats "$TMP/writer.json" --watch-stats "$TMP/watch.json" \
  --interval "$INTERVAL" --duration "$SECONDS_TOTAL" --json "$TMP/report.json" &
REPORT_PID=$!
PIDS+=("$REPORT_PID")
wait "$REPORT_PID" || die "the report failed"
forget_pid "$REPORT_PID"

# --- the end: writes stop, clients catch up, then what was acknowledged, stored and seen ---
kill -TERM "$WRITER_PID" 2>/dev/null || true
wait "$WRITER_PID" || true
forget_pid "$WRITER_PID"
sleep 3
"$BIN" inspect --segment "$SEGMENT" --json --limit 100000 >"$TMP/stored.json" || die "inspect failed"
curl -s --max-time 5 "$BROADCAST_URL/metrics" >"$TMP/metrics.txt" || true
kill -TERM "$WATCH_PID" 2>/dev/null || true
wait "$WATCH_PID" || true
forget_pid "$WATCH_PID"

rc=0
echo
"${LOADGEN[@]}" verify --stored "$TMP/stored.json" --acked "$TMP/writer.json" --views "$TMP/views.json" \
  --prefix soak- || rc=1
j() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {"d": d}))' "$@"; }
w=$TMP/writer.json v=$TMP/watch.json
echo "writes: $(j "$w" 'd["requests"]') requests, $(j "$w" 'd["acked"]') acknowledged, other answers" \
  "$(j "$w" 'd["status"]'), connection errors $(j "$w" 'd["conn_errors"]'), slowest $(j "$w" 'round(d["max_ms"], 1)') ms"
echo "clients: $(j "$v" 'd["connections"]') connections, $(j "$v" 'd["frames"]') frames" \
  "($(j "$v" 'round(d["bytes"] / 1e6)') MB), $(j "$v" 'd["resets"]') reset snapshots;" \
  "slow clients cut off $(j "$v" 'd["cutoffs"]') times, survived $(j "$v" 'd["survived_slow"]');" \
  "ended by the server (all kinds) $(j "$v" 'd["ended_by_server"]'); seq back $(j "$v" 'd["seq_back"]')," \
  "n back in a connection $(j "$v" 'd["n_back_in_conn"]'), malformed $(j "$v" 'd["malformed"]')"
m() { awk -v k="$1" '$1 == k { print $2 }' "$TMP/metrics.txt"; }
echo "broadcaster: frames sent $(m progressista_frames_sent_total), slow-consumer coalesced" \
  "$(m progressista_slow_consumer_coalesced_total), disconnected $(m progressista_slow_consumer_disconnects_total)"
for p in "ingest:$INGEST_PID" "broadcast:$BROADCAST_PID"; do
  kill -0 "${p#*:}" 2>/dev/null || { echo "${p%%:*} DIED during the soak"; rc=1; }
  n=$(grep -ciE '\b(error|fatal)\b' "$TMP/${p%%:*}.log" || true)
  echo "${p%%:*} log: $n error lines$( ((n > 0)) && echo "; first: $(grep -iE '\b(error|fatal)\b' "$TMP/${p%%:*}.log" | head -n 1)")"
done
exit "$rc"
