#!/usr/bin/env bash
# Chaos benchmark: for N minutes, kill -9 at random one of the writers and readers of one segment
# (the ingest daemon, the broadcast daemon, an nginx worker of the module, the store's own writer
# loop slot_hammer) under a write load and live clients, restart it as systemd would (after
# RESTART_DELAY; nginx's master respawns its worker itself), and at the end check that every
# acknowledged event is in the segment. See bench/README.md ("Chaos").
#
# Usage: bench/chaos/run.sh [--minutes N]    (default 3, at most 30)
# Environment (defaults in brackets):
#   PROGRESSISTA [build/daemon/progressista]  release binary; slot_hammer and the module are
#                        taken from the same build tree (SLOT_HAMMER, NGINX_MODULE override)
#   KILL_EVERY ["1.5 4"]  seconds between two kills, drawn uniformly from this range
#   RESTART_DELAY [0.5]  seconds before a killed daemon is started again (RestartSec)
#   RATE [400]           events/s posted by the writers (half to ingest, half to nginx)
#   HOT_TASKS [8]        tasks every writer updates (records near the field limits)
#   HAMMER_BUSY_MS [500] HAMMER_IDLE_MS [500]  slot_hammer writes in bursts: a burst laps the
#                        change feed (clients get reset snapshots), the pause lets deltas flow
#   WS_CLIENTS [6] SSE_CLIENTS [6]  live clients of the broadcaster (they reconnect)
#   SEED []              seeds the choice of victims and delays
#
# Exit status: 0 when every acknowledged event is stored, 1 when one was lost (or on error).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib.sh
. "$HERE/../lib.sh"
# shellcheck source=procs.sh
. "$HERE/procs.sh"
ROOT=$(cd "$HERE/../.." && pwd)
NAME=bench-chaos
parse_minutes 3 1 30 "$@"
BIN=$(realpath -m "${PROGRESSISTA:-$ROOT/build/daemon/progressista}")
TREE=$(dirname "$(dirname "$BIN")")
HAMMER=$(realpath -m "${SLOT_HAMMER:-$TREE/bench/slot_hammer}")
MODULE=$(realpath -m "${NGINX_MODULE:-$TREE/module/ngx_http_progressista_module.so}")
read -r KILL_MIN KILL_MAX <<<"${KILL_EVERY:-1.5 4}"
RESTART_DELAY=${RESTART_DELAY:-0.5}
RATE=${RATE:-400}
HOT_TASKS=${HOT_TASKS:-8}
WS_CLIENTS=${WS_CLIENTS:-6}
SSE_CLIENTS=${SSE_CLIENTS:-6}
HAMMER_BUSY_MS=${HAMMER_BUSY_MS:-500}
HAMMER_IDLE_MS=${HAMMER_IDLE_MS:-500}
[ -n "${SEED:-}" ] && RANDOM=$SEED
for v in "$KILL_MIN" "$KILL_MAX" "$RESTART_DELAY"; do
  [[ $v =~ ^[0-9]*\.?[0-9]+$ ]] || die "KILL_EVERY and RESTART_DELAY are seconds, not '$v'"
done
is_count "$RATE" 1 100000 || die "RATE must be 1-100000, not '$RATE'"
is_count "$HOT_TASKS" 1 1000 || die "HOT_TASKS must be 1-1000, not '$HOT_TASKS'"
is_count "$WS_CLIENTS" 0 1000 || die "WS_CLIENTS must be 0-1000"
is_count "$SSE_CLIENTS" 0 1000 || die "SSE_CLIENTS must be 0-1000"
is_count "$HAMMER_BUSY_MS" 1 60000 || die "HAMMER_BUSY_MS must be 1-60000"
is_count "$HAMMER_IDLE_MS" 0 60000 || die "HAMMER_IDLE_MS must be 0-60000"
[ -x "$BIN" ] || die "$BIN not found: build it (make bench-chaos)"
[ -x "$HAMMER" ] || die "$HAMMER not found: build the slot_hammer target"
[ -f "$MODULE" ] || die "$MODULE not found: build the ngx_http_progressista_module target"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || die "nginx not found (apt-get install nginx)"
command -v curl >/dev/null || die "curl not found"

SEGMENT=bench-chaos-$$
TMP=""
PIDS=()
trap cleanup_procs EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
[ -e "/dev/shm/$SEGMENT" ] && { SEGMENT=""; die "/dev/shm/bench-chaos-$$ already exists"; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench-chaos.XXXXXX")
LOADGEN=(python3 "$HERE/loadgen.py")
SECONDS_TOTAL=$((MINUTES * 60))
BASE_US=$(($(date +%s) * 1000000))  # n = timestamp in µs - BASE_US: later events, larger n

PORT_INGEST=$(free_port)
PORT_BROADCAST=$(free_port)
PORT_NGINX=$(free_port)
[ "$PORT_INGEST" != "$PORT_BROADCAST" ] && [ "$PORT_BROADCAST" != "$PORT_NGINX" ] &&
  [ "$PORT_INGEST" != "$PORT_NGINX" ] || die "port clash, run again"
INGEST_URL=http://127.0.0.1:$PORT_INGEST
BROADCAST_URL=http://127.0.0.1:$PORT_BROADCAST
NGINX_URL=http://127.0.0.1:$PORT_NGINX

declare -A PID KILLS RESTARTS UNEXPECTED SLOWEST
COMPONENTS=(ingest broadcast nginx-worker slot_hammer)
for c in "${COMPONENTS[@]}"; do KILLS[$c]=0 RESTARTS[$c]=0 UNEXPECTED[$c]=0 SLOWEST[$c]=0; done

# start COMPONENT: starts it (again) and waits until it serves; 1 when it did not within 10 s.
start() {
  local t0=$EPOCHREALTIME
  case $1 in
    ingest)
      start_daemon ingest "$PORT_INGEST" "$TMP/ingest.log" --capacity 1024 --shm-mode 0660 \
        --storage-path "" --threads 2
      PID[ingest]=$STARTED_PID
      wait_health "${PID[ingest]}" "$INGEST_URL" 10 || return 1 ;;
    broadcast)
      start_daemon broadcast "$PORT_BROADCAST" "$TMP/broadcast.log" --tick 0.1 --threads 1
      PID[broadcast]=$STARTED_PID
      wait_health "${PID[broadcast]}" "$BROADCAST_URL" 10 || return 1 ;;
    slot_hammer)
      local left=$((SECONDS_TOTAL - SECONDS + 5))
      ((left > 0)) || left=1
      nice -n 19 "$HAMMER" --segment "$SEGMENT" --base-us "$BASE_US" --tasks "$HOT_TASKS" \
        --seconds "$left" --busy-ms "$HAMMER_BUSY_MS" --idle-ms "$HAMMER_IDLE_MS" \
        >>"$TMP/slot_hammer.log" 2>&1 &
      PID[slot_hammer]=$!
      PIDS+=("${PID[slot_hammer]}")
      sleep 0.2
      kill -0 "${PID[slot_hammer]}" 2>/dev/null || return 1 ;;
  esac
  local ms
  ms=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }')
  ((ms > SLOWEST[$1])) && SLOWEST[$1]=$ms
  return 0
}

# restart COMPONENT: after RESTART_DELAY, as Restart=on-failure would; three tries.
restart() {
  local try
  for try in 1 2 3; do
    sleep "$RESTART_DELAY"
    if start "$1"; then
      RESTARTS[$1]=$((RESTARTS[$1] + 1))
      return 0
    fi
    echo "$NAME: $1 did not come back (try $try); its log:" >&2
    tail -n 5 "$TMP/$1.log" >&2 || true
  done
  die "$1 could not be restarted"
}

# reap PID: waits for a child we killed, so its PID is no longer ours.
reap() {
  wait "$1" 2>/dev/null || true
  forget_pid "$1"
}

nginx_workers() { pgrep -P "$NGINX_PID" 2>/dev/null | sort -n | tr '\n' ' ' || true; }

# --- start-up: ingest creates the segment (0660: nginx's workers run as nobody) ---
start ingest || { cat "$TMP/ingest.log" >&2; die "ingest did not start (log above)"; }
start broadcast || { cat "$TMP/broadcast.log" >&2; die "broadcast did not start (log above)"; }
start_nginx "$TMP/nginx" "$PORT_NGINX" 2 "$MODULE"
NGINX_PID=$STARTED_PID
for i in $(seq 100); do
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 -X POST -H 'Content-Type: application/json' \
    --data '{"task_id":"chaos-probe","n":1}' "$NGINX_URL/progress" || true)
  [ "$code" = 200 ] && break
  kill -0 "$NGINX_PID" 2>/dev/null || { cat "$TMP/nginx/logs/error.log" >&2; die "nginx exited"; }
  sleep 0.1
done
[ "$code" = 200 ] || { cat "$TMP/nginx/logs/error.log" >&2; die "nginx's module answered $code"; }
start slot_hammer || { cat "$TMP/slot_hammer.log" >&2; die "slot_hammer did not start"; }

warn_if_busy "$NAME"
echo "$NAME: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); everything shares them"
echo "$NAME: segment $SEGMENT; ingest :$PORT_INGEST, broadcast :$PORT_BROADCAST," \
  "nginx :$PORT_NGINX (2 workers, module); $HOT_TASKS hot tasks, records near the field limits"
echo "$NAME: writers $RATE events/s (ingest + nginx), slot_hammer (nice 19) as fast as it can" \
  "in bursts of $HAMMER_BUSY_MS ms every $((HAMMER_BUSY_MS + HAMMER_IDLE_MS)) ms," \
  "$WS_CLIENTS WebSocket + $SSE_CLIENTS SSE clients; ${MINUTES} min of kill -9 every" \
  "${KILL_MIN}-${KILL_MAX} s, restart after ${RESTART_DELAY} s"

"${LOADGEN[@]}" watch --url "$BROADCAST_URL" --ws "$WS_CLIENTS" --sse "$SSE_CLIENTS" \
  --prefix chaos-hot- --duration $((SECONDS_TOTAL + 120)) --stats "$TMP/watch.json" \
  --views "$TMP/views.json" >"$TMP/watch.log" 2>&1 &
WATCH_PID=$!
PIDS+=("$WATCH_PID")
"${LOADGEN[@]}" write --url "$INGEST_URL" --url "$NGINX_URL" --threads 2 --rate "$RATE" \
  --tasks "$HOT_TASKS" --prefix chaos-hot- --big --base-us "$BASE_US" \
  --duration "$SECONDS_TOTAL" --stats "$TMP/writer.json" >"$TMP/writer.log" 2>&1 &
WRITER_PID=$!
PIDS+=("$WRITER_PID")

# --- the chaos: bounded by time and by count ---
SECONDS=0
max_kills=$((SECONDS_TOTAL * 2))
kills=0
last_report=0
while ((SECONDS < SECONDS_TOTAL && kills < max_kills)); do
  sleep "$(awk -v a="$KILL_MIN" -v b="$KILL_MAX" -v r="$RANDOM" 'BEGIN { printf "%.2f", a + (b - a) * r / 32767 }')"
  ((SECONDS < SECONDS_TOTAL)) || break
  # Anything that died without our kill is a finding: count it, bring it back.
  for c in ingest broadcast slot_hammer; do
    if ! kill -0 "${PID[$c]}" 2>/dev/null; then
      if [ "$c" = slot_hammer ] && ((SECONDS_TOTAL - SECONDS < 5)); then continue; fi
      echo "$NAME: $c (pid ${PID[$c]}) died on its own at ${SECONDS}s; its log:" >&2
      tail -n 5 "$TMP/$c.log" >&2 || true
      UNEXPECTED[$c]=$((UNEXPECTED[$c] + 1))
      reap "${PID[$c]}"
      restart "$c"
    fi
  done
  kill -0 "$NGINX_PID" 2>/dev/null || die "the nginx master died"
  victim=${COMPONENTS[RANDOM % ${#COMPONENTS[@]}]}
  case $victim in
    nginx-worker)
      read -r -a workers <<<"$(nginx_workers)"
      ((${#workers[@]} > 0)) || { echo "$NAME: nginx has no worker right now" >&2; continue; }
      w=${workers[RANDOM % ${#workers[@]}]}
      # Only a child of our own master (pgrep -P above).
      kill -KILL "$w" 2>/dev/null || continue
      kills=$((kills + 1)) KILLS[$victim]=$((KILLS[$victim] + 1))
      # nginx's master respawns the worker at once; count it when it is there.
      for i in $(seq 100); do
        now=" $(nginx_workers)"
        [[ $now != *" $w "* ]] && (($(wc -w <<<"$now") >= 2)) && break
        sleep 0.05
      done
      if [[ $now != *" $w "* ]] && (($(wc -w <<<"$now") >= 2)); then
        RESTARTS[$victim]=$((RESTARTS[$victim] + 1))
      else
        echo "$NAME: nginx did not respawn worker $w within 5 s" >&2
      fi
      ;;
    *)
      kill -KILL "${PID[$victim]}" 2>/dev/null || continue
      kills=$((kills + 1)) KILLS[$victim]=$((KILLS[$victim] + 1))
      reap "${PID[$victim]}"
      restart "$victim"
      ;;
  esac
  if ((SECONDS - last_report >= 30)); then
    last_report=$SECONDS
    echo "$NAME: ${SECONDS}s: $kills kills ($(for c in "${COMPONENTS[@]}"; do printf '%s %d ' "$c" "${KILLS[$c]}"; done))"
  fi
done
echo "$NAME: chaos over after ${SECONDS}s, $kills kills; draining"

# --- the end: writers stop, the segment settles, the clients catch up ---
wait "$WRITER_PID" || die "the writers failed: $(tail -n 5 "$TMP/writer.log")"
forget_pid "$WRITER_PID"
if kill -0 "${PID[slot_hammer]}" 2>/dev/null; then
  kill -TERM "${PID[slot_hammer]}" 2>/dev/null || true
fi
reap "${PID[slot_hammer]}"
for c in ingest broadcast; do
  kill -0 "${PID[$c]}" 2>/dev/null || { UNEXPECTED[$c]=$((UNEXPECTED[$c] + 1)); reap "${PID[$c]}"; restart "$c"; }
done
sleep 3  # 30 ticks: every live client has had the last changes offered
"$BIN" inspect --segment "$SEGMENT" --json --limit 100000 >"$TMP/stored.json" ||
  die "inspect failed"
curl -s --max-time 5 "$BROADCAST_URL/metrics" >"$TMP/metrics.txt" || true
kill -TERM "$WATCH_PID" 2>/dev/null || true
wait "$WATCH_PID" || true
forget_pid "$WATCH_PID"

rc=0
"${LOADGEN[@]}" verify --stored "$TMP/stored.json" --acked "$TMP/writer.json" --views "$TMP/views.json" \
  --prefix chaos-hot- --json "$TMP/verify.json" >"$TMP/verify.log" || rc=1

# --- the summary ---
j() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {"d": d}))' "$@"; }
lock_recoveries=$(j "$TMP/stored.json" 'd.get("counters", {}).get("lock_recoveries", "?")')
metric_recoveries=$(awk '/^progressista_lock_recoveries_total/ { print $2 }' "$TMP/metrics.txt")
hammer_runs=$(grep -c '^slot_hammer: ' "$TMP/slot_hammer.log" || true)
nginx_signal9=$(grep -c 'exited on signal 9' "$TMP/nginx/logs/error.log" || true)
echo
echo "=== $NAME summary ($(date -u +%FT%TZ), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo ?)," \
  "${MINUTES} min, $(nproc) shared cores)"
printf '| %-12s | %5s | %8s | %16s | %19s |\n' component kills restarts "died on its own" "slowest restart ms"
printf '| %-12s | %5s | %8s | %16s | %19s |\n' ------------ ----: -------: ---------------: ------------------:
for c in "${COMPONENTS[@]}"; do
  printf '| %-12s | %5d | %8d | %16d | %19s |\n' "$c" "${KILLS[$c]}" "${RESTARTS[$c]}" "${UNEXPECTED[$c]}" \
    "$([ "$c" = nginx-worker ] && echo '(master)' || echo "${SLOWEST[$c]}")"
done
echo
w=$TMP/writer.json
echo "writes: $(j "$w" 'd["requests"]') requests, $(j "$w" 'd["acked"]') acknowledged," \
  "$(j "$w" 'd["conn_errors"]') connection errors (the target was down: not acknowledged)," \
  "other answers $(j "$w" 'd["status"]'); slot_hammer runs that ended by themselves: $hammer_runs"
cat "$TMP/verify.log"
v=$TMP/watch.json
echo "live clients: $(j "$v" 'd["connections"]') connections ($(($(j "$v" 'd["connections"]') - WS_CLIENTS - SSE_CLIENTS)) reconnects)," \
  "$(j "$v" 'd["connect_failures"]') failed connects, $(j "$v" 'd["frames"]') frames" \
  "($(j "$v" 'd["snapshots"]') snapshots, $(j "$v" 'd["resets"]') with reset, $(j "$v" 'd["deltas"]') deltas);" \
  "seq going back in a connection: $(j "$v" 'd["seq_back"]'), repeated: $(j "$v" 'd["seq_repeat"]');" \
  "n going back in a connection: $(j "$v" 'd["n_back_in_conn"]'), after a reconnect: $(j "$v" 'd["n_back_after_reconnect"]');" \
  "malformed frames: $(j "$v" 'd["malformed"]')"
echo "lock_recoveries: $lock_recoveries (segment counters, inspect); /metrics: ${metric_recoveries:-?}"
echo "nginx error log: $nginx_signal9 workers exited on signal 9; first alerts:"
grep -E '\[(alert|crit|emerg)\]' "$TMP/nginx/logs/error.log" | grep -v 'exited on signal 9' | head -n 3 || true
for c in ingest broadcast; do
  n=$(grep -ciE '\b(error|fatal|abort)' "$TMP/$c.log" || true)
  echo "$c log: $n error lines$( ((n > 0)) && echo "; first: $(grep -iE '\b(error|fatal|abort)' "$TMP/$c.log" | head -n 1)")"
done
if [ "$lock_recoveries" = 0 ]; then
  echo "WARNING: no kill landed inside a slot lock (lock_recoveries 0)"
fi
((rc == 0)) && echo "RESULT: every acknowledged event is stored" || echo "RESULT: ACKNOWLEDGED EVENTS LOST"
exit "$rc"
