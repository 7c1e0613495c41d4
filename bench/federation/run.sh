#!/usr/bin/env bash
# Federation benchmark (issue 16): progress events through `progressista serve` nodes federated
# by Redis Streams, side by side with one node on its own. Starts its own redis-server (a free
# loopback port, --save "" --appendonly no, its files in a temp dir) and, for each phase, fresh
# serve nodes on segments of their own and a Redis key prefix of their own; runs
# federation_bench against them; stops every process by its PID and removes the segments.
#
# Phases (one table row each; `nodes` = the serve processes, `posting` = those the load goes to):
#   single-local   1 node without --redis, one event per POST, as fast as it answers
#   single         the same through a federated node A, node B beside it (checked, not posted to)
#   batch-local    1 node without --redis, NDJSON of BATCH events per POST
#   batch          the same through A, with B
#   latency-local  1 node without --redis at RATE events/s, its own delta WebSocket timed
#   latency        RATE events/s POSTed to A, A's and B's delta WebSockets timed
#   single-N, batch-N, latency-N   for N in NODES beyond 1: N federated nodes, all posting at
#                  once (RATE each in latency-N), every node checked and watched
# Every row counts applied events, not 200s: federation_bench waits until every node of the
# phase holds each task's last acknowledged n (GET /tasks), and compares the nodes' task JSON.
# CPU (utime + stime from /proc) of the nodes and of redis-server is taken from the first POST
# until the last node held the final state; Redis's CPU per event gives the events a Redis core
# carries. See bench/README.md ("Federation") for the figures.
#
# Environment (defaults in brackets):
#   DURATION [5]         seconds of posting per phase (1-120)
#   LANES [16]           keep-alive connections per posting node in the single and batch phases
#   BATCH [100]          events per NDJSON POST in the batch phases
#   RATE [1000]          events/s per posting node in the latency phases (POSTs of RATE/100
#                        events every 10 ms, one connection per node)
#   NODES ["1 2 3"]      the node counts; 1 gives the rows against one node without --redis
#   PHASES ["single batch latency"]
#   TICK [0.1]           serve --tick
#   LEADING_EDGE [0.005] serve --leading-edge (the low-latency mode; empty: the server's default)
#   SERVER_THREADS [0]   serve --threads (0: one per core)
#   TOOL_THREADS [1]     federation_bench's threads (1 or 2)
#   SETTLE [30]          seconds the nodes get to hold every final n after the load
#   PROGRESSISTA [build/daemon/progressista]
#   FEDERATION_BENCH [build/bench-federation/federation_bench] (make bench-federation builds it)
#   REDIS_SERVER [redis-server], REDIS_CLI [redis-cli]
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib.sh
. "$HERE/../lib.sh"
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${PROGRESSISTA:-$ROOT/build/daemon/progressista}
TOOL=${FEDERATION_BENCH:-$ROOT/build/bench-federation/federation_bench}
REDIS_SERVER=${REDIS_SERVER:-redis-server}
REDIS_CLI=${REDIS_CLI:-redis-cli}
DURATION=${DURATION:-5}
LANES=${LANES:-16}
BATCH=${BATCH:-100}
RATE=${RATE:-1000}
NODES=${NODES:-1 2 3}
PHASES=${PHASES:-single batch latency}
TICK=${TICK:-0.1}
LEADING_EDGE=${LEADING_EDGE-0.005}
SERVER_THREADS=${SERVER_THREADS:-0}
TOOL_THREADS=${TOOL_THREADS:-1}
SETTLE=${SETTLE:-30}
CAPACITY=131072

die() {
  echo "bench-federation: error: $*" >&2
  exit 1
}

is_count "$DURATION" 1 120 || die "DURATION must be 1-120 seconds, not '$DURATION'"
is_count "$LANES" 1 256 || die "LANES must be 1-256, not '$LANES'"
is_count "$BATCH" 2 1000 || die "BATCH must be 2-1000, not '$BATCH'"
is_count "$RATE" 100 100000 || die "RATE must be 100-100000 events/s, not '$RATE'"
is_count "$SERVER_THREADS" 0 64 || die "SERVER_THREADS must be 0-64, not '$SERVER_THREADS'"
is_count "$TOOL_THREADS" 1 2 || die "TOOL_THREADS must be 1 or 2, not '$TOOL_THREADS'"
is_count "$SETTLE" 1 600 || die "SETTLE must be 1-600 seconds, not '$SETTLE'"
for n in $NODES; do is_count "$n" 1 5 || die "NODES are counts from 1 to 5, not '$n'"; done
for p in $PHASES; do
  [[ $p =~ ^(single|batch|latency)$ ]] || die "a phase is single, batch or latency, not '$p'"
done
[[ $TICK =~ ^[0-9]*\.?[0-9]+$ ]] || die "TICK must be seconds, not '$TICK'"
[[ -z $LEADING_EDGE || $LEADING_EDGE =~ ^[0-9]*\.?[0-9]+$ ]] || die "LEADING_EDGE must be seconds, not '$LEADING_EDGE'"
[ -x "$BIN" ] || die "$BIN not found: build it first (make build, or make bench-federation)"
[ -x "$TOOL" ] || die "$TOOL not found: make bench-federation builds it"
command -v "$REDIS_SERVER" >/dev/null || die "$REDIS_SERVER not found (apt install redis-server)"
command -v "$REDIS_CLI" >/dev/null || die "$REDIS_CLI not found (apt install redis-tools)"
command -v curl >/dev/null || die "curl not found"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench-federation.XXXXXX")
PIDS=()
SEGMENTS=()

# Stops what this script started, by PID, and removes its segments and temp dir; every exit.
cleanup() {
  local rc=$? s
  trap - EXIT INT TERM
  stop_started
  for s in "${SEGMENTS[@]}"; do rm -f "/dev/shm/$s"; done
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- Redis: our own, memory only, on loopback ---
REDIS_PORT=$(free_port)
"$REDIS_SERVER" --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
  --dir "$TMP" --logfile "$TMP/redis.log" --daemonize no --protected-mode yes >/dev/null 2>&1 &
REDIS_PID=$!
PIDS+=("$REDIS_PID")
rcli() { "$REDIS_CLI" -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }
for _ in $(seq 100); do
  kill -0 "$REDIS_PID" 2>/dev/null || { cat "$TMP/redis.log" >&2; die "redis-server exited at start"; }
  [ "$(rcli ping 2>/dev/null)" = PONG ] && break
  sleep 0.1
done
[ "$(rcli ping 2>/dev/null)" = PONG ] || die "redis-server did not answer PING within 10 s"

# --- nodes ---
NODE_PIDS=() NODE_PORTS=() NODE_SEGMENTS=()
# start_nodes PHASE COUNT FEDERATED: COUNT fresh serve nodes; with FEDERATED=yes, each with
# --redis and the phase's own prefix, and waited for until /health says "state":"ok".
start_nodes() {
  local phase=$1 count=$2 federated=$3 i seg args health
  NODE_PIDS=() NODE_PORTS=() NODE_SEGMENTS=()
  for i in $(seq "$count"); do
    seg=bench-federation-$$-$phase-$i
    [ -e "/dev/shm/$seg" ] && die "/dev/shm/$seg already exists; not touching it"
    SEGMENTS+=("$seg")
    args=(--segment "$seg" --capacity "$CAPACITY" --storage-path "" --no-access-log
      --tick "$TICK" --threads "$SERVER_THREADS")
    [ -n "$LEADING_EDGE" ] && args+=(--leading-edge "$LEADING_EDGE")
    if [ "$federated" = yes ]; then
      args+=(--redis "redis://127.0.0.1:$REDIS_PORT/0" --redis-prefix "bench-$$-$phase"
        --node-id "node$i")
    fi
    start_serve "$TMP/$phase-$i.log" "${args[@]}"
    NODE_PIDS+=("$SERVER_PID") NODE_PORTS+=("$PORT") NODE_SEGMENTS+=("$seg")
  done
  [ "$federated" = yes ] || return 0
  for i in "${!NODE_PORTS[@]}"; do
    for _ in $(seq 100); do
      health=$(curl -s --max-time 2 "http://127.0.0.1:${NODE_PORTS[$i]}/health" || true)
      [[ $health == *'"federation":{"state":"ok"'* ]] && break
      sleep 0.1
    done
    [[ $health == *'"federation":{"state":"ok"'* ]] ||
      die "node $((i + 1)) (:${NODE_PORTS[$i]}) not federated within 10 s: $health"
  done
}

stop_nodes() {
  local pid seg
  for pid in "${NODE_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${NODE_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
    forget_pid "$pid"
  done
  for seg in "${NODE_SEGMENTS[@]}"; do rm -f "/dev/shm/$seg"; done
}

# Sum of events_applied in a segment's counters.
applied() {
  "$BIN" inspect --segment "$1" --json --limit 0 2>/dev/null |
    grep -oE '"events_applied":[0-9]+' | awk -F: '{ s += $2 } END { print s + 0 }'
}

field() { sed -nE "s/.*(^| )$1=([^ ]*).*/\2/p" <<<"$2"; }

declare -A RESULT EXTRA
ROWS=()
# phase NAME KIND NODES POSTING FEDERATED: one row.
phase() {
  local name=$1 kind=$2 count=$3 posting=$4 federated=$5 i args=() line log rc=0
  local mem0=0 mem1=0 xlen=0
  echo
  echo "=== $name: $count node(s), $posting posting, $([ "$federated" = yes ] && echo "--redis" || echo "no --redis")"
  start_nodes "$name" "$count" "$federated"
  for i in $(seq 0 $((posting - 1))); do args+=(--post "${NODE_PORTS[$i]}"); done
  for i in "${!NODE_PORTS[@]}"; do
    args+=(--check "${NODE_PORTS[$i]}" --cpu "node$((i + 1))=${NODE_PIDS[$i]}")
    [ "$kind" = latency ] && args+=(--watch "${NODE_PORTS[$i]}")
  done
  [ "$federated" = yes ] && args+=(--cpu "redis=$REDIS_PID")
  case $kind in
    single) args+=(--lanes "$LANES" --tasks 100 --batch 1) ;;
    batch) args+=(--lanes "$LANES" --tasks "$((BATCH * 4))" --batch "$BATCH") ;;
    # A task is updated every 5 s at most, so a tick never carries two events of one task.
    latency) args+=(--lanes 1 --tasks "$((RATE * 5))" --batch "$(((RATE + 99) / 100))" --rate "$RATE") ;;
  esac
  [ "$federated" = yes ] && mem0=$(rcli info memory | sed -nE 's/^used_memory:([0-9]+).*/\1/p')
  log=$TMP/$name.out
  timeout $((DURATION + SETTLE + 60)) "$TOOL" "${args[@]}" --duration "$DURATION" \
    --threads "$TOOL_THREADS" --settle "$SETTLE" --label "$name" >"$log" 2>&1 || rc=$?
  cat "$log"
  line=$(grep -m1 '^RESULT ' "$log") || die "federation_bench printed no RESULT in $name (exit $rc)"
  ((rc == 0)) || echo "bench-federation: WARNING: $name: federation_bench exited $rc (see above)" >&2
  local applied_line="" seg
  for seg in "${NODE_SEGMENTS[@]}"; do applied_line+=" $(applied "$seg")"; done
  echo "segment counters, events_applied per node:$applied_line"
  if [ "$federated" = yes ]; then
    mem1=$(rcli info memory | sed -nE 's/^used_memory:([0-9]+).*/\1/p')
    xlen=$(rcli xlen "bench-$$-$name:events")
    echo "redis: $xlen entries in bench-$$-$name:events, used_memory $mem0 -> $mem1 bytes" \
      "($(awk -v a="$mem0" -v b="$mem1" -v n="$xlen" 'BEGIN { printf "%.0f", (n > 0 ? (b - a) / n : 0) }') bytes per entry)"
    for i in "${!NODE_PORTS[@]}"; do
      echo "node$((i + 1)) /health federation: $(curl -s --max-time 2 "http://127.0.0.1:${NODE_PORTS[$i]}/health" |
        grep -oE '"federation":\{[^}]*\}' || echo '(none)')"
    done
  fi
  stop_nodes
  [ "$federated" = yes ] && rcli del "bench-$$-$name:events" "bench-$$-$name:snapshot" "bench-$$-$name:janitor" >/dev/null
  RESULT[$name]=$line
  EXTRA[$name]="$count $posting $federated $xlen"
  ROWS+=("$name")
}

warn_if_busy bench-federation
cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo "bench-federation: $(nproc) cores ($cpu_model), load average $(cut -d' ' -f1-3 /proc/loadavg);" \
  "redis-server, the nodes and the load share them"
echo "bench-federation: $("$REDIS_SERVER" --version | cut -d' ' -f1-3) pid $REDIS_PID on :$REDIS_PORT;" \
  "serve --tick $TICK --leading-edge ${LEADING_EDGE:-default} --threads $SERVER_THREADS;" \
  "${DURATION}s per phase, $LANES connections per node, batches of $BATCH, latency at $RATE events/s per node"

for n in $NODES; do
  for kind in $PHASES; do
    if ((n == 1)); then
      phase "$kind-local" "$kind" 1 1 no
      phase "$kind" "$kind" 2 1 yes
    else
      phase "$kind-$n" "$kind" "$n" "$n" yes
    fi
  done
done

# --- the table ---
echo
echo "bench-federation: $(nproc) cores shared by redis-server, the nodes and the load;" \
  "${DURATION}s per phase; CPU from the first POST until every node held every final n"
row() { printf '| %-13s | %5s | %7s | %7s | %9s | %6s | %12s | %8s | %15s | %16s | %16s | %11s | %11s | %15s |\n' "$@"; }
row phase nodes posting ev/POST events/s failed "POST p50/p99" final "lat same p50/99" "lat other p50/99" \
  "other from sent" "nodes µs/ev" "redis µs/ev" "ev/s/redis core"
row ------------- ----: ------: ------: --------: -----: -----------: -------: --------------: ---------------: ---------------: ----------: ----------: --------------:
for name in "${ROWS[@]}"; do
  r=${RESULT[$name]}
  read -r count posting federated _ <<<"${EXTRA[$name]}"
  node_us=0
  for i in $(seq "$count"); do
    node_us=$(awk -v a="$node_us" -v b="$(field "cpu_node${i}_us" "$r")" 'BEGIN { printf "%.2f", a + b }')
  done
  redis_us=$(field cpu_redis_us "$r")
  per_core="-"
  [ -n "$redis_us" ] && per_core=$(awk -v u="$redis_us" 'BEGIN { printf "%.0f", (u > 0 ? 1e6 / u : 0) }')
  lat_same="-" lat_other="-" lat_sent="-"
  if [ "$(field rate "$r")" != 0 ]; then
    lat_same="$(field same_p50_ms "$r")/$(field same_p99_ms "$r")"
    if ((count > 1)); then
      lat_other="$(field other_p50_ms "$r")/$(field other_p99_ms "$r")"
      lat_sent="$(field other_sent_p50_ms "$r")/$(field other_sent_p99_ms "$r")"
    fi
  fi
  final=$(field final "$r")
  [ "$final" = yes ] && final="$(field converge_s "$r")s"
  differ=$(field differ "$r")
  [[ ${differ%%/*} == 0 ]] || final="$final, ${differ%%/*} differ"
  row "$name" "$count" "$posting" "$(field batch "$r")" "$(field events_per_s "$r")" "$(field failures "$r")" \
    "$(field rt_p50_ms "$r")/$(field rt_p99_ms "$r")" "$final" "$lat_same" "$lat_other" "$lat_sent" \
    "$node_us" "${redis_us:--}" "$per_core"
done
echo
echo "(events/s: events acknowledged by the posting nodes per second of posting, all of them;" \
  "failed: POSTs answered otherwise (or not at all)." \
  "final: every node held every task's last acknowledged n that many seconds after the last" \
  "answer (no: not within SETTLE); \"differ\": tasks whose JSON differs between the nodes." \
  "lat same / other: ms from a POST's answer to the frame carrying it on the node that took the" \
  "POST / on another node, delta protocol, p50/p99 (seen before the answer: 0 ms); other from" \
  "sent: the same from the POST's first byte, its round trip included. nodes µs/ev: CPU of all" \
  "the phase's nodes" \
  "per acknowledged event; redis µs/ev: redis-server's; ev/s/redis core: events one core of" \
  "Redis carries at that cost.)"
