#!/usr/bin/env bash
# Fan-out benchmark of the broadcaster: starts `progressista serve` on a fresh segment, then for
# each scenario and each protocol phase runs fanout_bench (N WebSocket clients, events POSTed at
# a steady rate) and prints one table row per scenario and protocol. See bench/README.md for the
# figures.
#
# Environment (defaults in brackets):
#   DURATION [10]        seconds of posting per phase (1-600)
#   SCENARIOS ["100x1000 100x10000 1000x1000 1000x10000"]  CLIENTSxEVENTS_PER_S
#   PROTOCOLS ["delta delta2"]  the phases of each scenario, one after the other against the same
#                        server with the same load: delta (/ws?protocol=delta, v1), delta2
#                        (/ws?protocol=delta2, the compact protocol), or delta+delta2 (half the
#                        clients of each at once: they share the server's CPU and the latency)
#   TASKS [10000]        tasks the events go to, round-robin, created before the clients connect
#   TICK [0.1]           serve --tick
#   LEADING_EDGE []      serve --leading-edge (empty: the server's default, the tick; 0: ticks only)
#   CAPACITY [16384]     task slots of the benchmark's segment
#   PLAIN_CLIENTS [0]    clients of Progressista's protocol (/ws) added to every scenario
#   IO_THREADS [1]       fanout_bench's client threads (1 or 2)
#   SERVER_THREADS [0]   serve --threads (0: one per core)
#   PROGRESSISTA [build/daemon/progressista], FANOUT_BENCH [build/bench/fanout_bench]
#   PERF_DIR []          when set, `perf record -g` the server while each scenario posts, into
#                        PERF_DIR/fanout-<scenario>.data (perf costs CPU: those figures are not
#                        comparable)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib.sh
. "$HERE/../lib.sh"
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${PROGRESSISTA:-$ROOT/build/daemon/progressista}
TOOL=${FANOUT_BENCH:-$ROOT/build/bench/fanout_bench}
DURATION=${DURATION:-10}
SCENARIOS=${SCENARIOS:-100x1000 100x10000 1000x1000 1000x10000}
PROTOCOLS=${PROTOCOLS:-delta delta2}
TASKS=${TASKS:-10000}
TICK=${TICK:-0.1}
LEADING_EDGE=${LEADING_EDGE:-}
CAPACITY=${CAPACITY:-16384}
PLAIN_CLIENTS=${PLAIN_CLIENTS:-0}
IO_THREADS=${IO_THREADS:-1}
SERVER_THREADS=${SERVER_THREADS:-0}
PERF_DIR=${PERF_DIR:-}
SEGMENT=bench-fanout-$$

die() {
  echo "bench-fanout: error: $*" >&2
  exit 1
}

is_count "$DURATION" 1 600 || die "DURATION must be 1-600 seconds, not '$DURATION'"
is_count "$TASKS" 1 99999 || die "TASKS must be 1-99999, not '$TASKS'"
is_count "$CAPACITY" 1 10000000 || die "CAPACITY must be a number of task slots, not '$CAPACITY'"
is_count "$PLAIN_CLIENTS" 0 10000 || die "PLAIN_CLIENTS must be 0-10000, not '$PLAIN_CLIENTS'"
is_count "$IO_THREADS" 1 2 || die "IO_THREADS must be 1 or 2, not '$IO_THREADS'"
is_count "$SERVER_THREADS" 0 256 || die "SERVER_THREADS must be 0-256, not '$SERVER_THREADS'"
[[ $TICK =~ ^[0-9]*\.?[0-9]+$ ]] || die "TICK must be seconds, not '$TICK'"
[[ -z $LEADING_EDGE || $LEADING_EDGE =~ ^[0-9]*\.?[0-9]+$ ]] || die "LEADING_EDGE must be seconds, not '$LEADING_EDGE'"
((CAPACITY >= TASKS)) || die "CAPACITY ($CAPACITY) must hold TASKS ($TASKS)"
max_clients=0
for s in $SCENARIOS; do
  [[ $s =~ ^([0-9]+)x([0-9]+)$ ]] || die "a scenario is CLIENTSxEVENTS_PER_S, not '$s'"
  c=${BASH_REMATCH[1]} r=${BASH_REMATCH[2]}
  is_count "$c" 1 10000 || die "clients must be 1-10000 in '$s'"
  is_count "$r" 1 1000000 || die "events/s must be 1-1000000 in '$s'"
  ((10#$c > max_clients)) && max_clients=$((10#$c))
done
[ -n "${PROTOCOLS// /}" ] || die "PROTOCOLS is empty"
for p in $PROTOCOLS; do
  case $p in delta | delta2 | delta+delta2) ;; *) die "a protocol phase is delta, delta2 or delta+delta2, not '$p'" ;; esac
done
[ -x "$BIN" ] || die "$BIN not found: build it first (make build, or make bench-fanout)"
[ -x "$TOOL" ] || die "$TOOL not found: build it first (make build, or make bench-fanout)"
if [ -n "$PERF_DIR" ]; then
  command -v perf >/dev/null || die "PERF_DIR is set but perf is not installed"
  mkdir -p "$PERF_DIR"
fi
[ -e "/dev/shm/$SEGMENT" ] && die "/dev/shm/$SEGMENT already exists; not touching it"

# Every client is a descriptor in the tool and one in the server (which has its own listeners).
need=$((max_clients + PLAIN_CLIENTS + 256))
if (($(ulimit -n) < need)); then
  ulimit -n "$need" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
  (($(ulimit -n) >= need)) || die "$need open files needed, the hard limit is $(ulimit -Hn)"
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench-fanout.XXXXXX")
PIDS=()

# Stops what this script started, by PID, removes its segment and temp dir. Runs on every exit.
cleanup() {
  local rc=$? pid i
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  # Only this run's segment: other runs of this script may be going on beside it.
  rm -f "/dev/shm/$SEGMENT"
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the server, on its own segment; no PROGRESSISTA_* from the caller ---
LOG=$TMP/serve.log
start_serve "$LOG" --segment "$SEGMENT" --capacity "$CAPACITY" --tick "$TICK" \
  ${LEADING_EDGE:+--leading-edge "$LEADING_EDGE"} --threads "$SERVER_THREADS" --storage-path "" \
  --no-access-log

warn_if_busy bench-fanout
cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo "bench-fanout: $(nproc) cores ($cpu_model), load average $(cut -d' ' -f1-3 /proc/loadavg);" \
  "clients, poster and server share them"
echo "bench-fanout: serve pid $SERVER_PID on :$PORT (segment $SEGMENT, $CAPACITY slots, tick ${TICK}s, leading edge ${LEADING_EDGE:+${LEADING_EDGE}s}${LEADING_EDGE:-the tick});" \
  "$TASKS tasks, ${DURATION}s per phase; phases: $PROTOCOLS"

# field KEY LINE: the value of KEY=... in a RESULT line.
field() { sed -nE "s/.*(^| )$1=([^ ]*).*/\2/p" <<<"$2"; }

# The server's CPU time so far (utime + stime, clock ticks).
server_ticks() { awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat"; }

# Waits (10 s at most) until the server used under 5 % of a core over half a second: a phase
# does not start while the previous one's clients are still being closed.
wait_server_idle() {
  local hz a b
  hz=$(getconf CLK_TCK)
  for _ in $(seq 20); do
    a=$(server_ticks) || return 0
    sleep 0.5
    b=$(server_ticks) || return 0
    (((b - a) * 100 < 5 * hz / 2)) && return 0
  done
  echo "bench-fanout: the server was still busy 10 s after the previous phase" >&2
}

# RESULT lines by "scenario#phase-number", one per protocol of the phase, in order.
declare -A RESULT
for s in $SCENARIOS; do
  clients=${s%x*} rate=${s#*x} phase=0
  for proto in $PROTOCOLS; do
    phase=$((phase + 1))
    out=$TMP/fanout-$s-$phase.log perf_pid=""
    case $proto in
      delta) counts=(--clients "$clients" --delta2-clients 0) ;;
      delta2) counts=(--clients 0 --delta2-clients "$clients") ;;
      delta+delta2) counts=(--clients $((clients / 2)) --delta2-clients $((clients - clients / 2))) ;;
    esac
    wait_server_idle
    echo
    echo "=== $clients clients x $rate events/s, $proto"
    timeout $((DURATION + 600)) "$TOOL" --port "$PORT" --server-pid "$SERVER_PID" \
      "${counts[@]}" --plain-clients "$PLAIN_CLIENTS" --rate "$rate" --tasks "$TASKS" \
      --duration "$DURATION" --tick "$TICK" --io-threads "$IO_THREADS" >"$out" 2>&1 &
    tool_pid=$!
    PIDS+=("$tool_pid")
    if [ -n "$PERF_DIR" ]; then
      # From the moment every client holds its snapshot: the posting, not the connecting.
      until grep -q 'clients connected' "$out" 2>/dev/null || ! kill -0 "$tool_pid" 2>/dev/null; do
        sleep 0.05
      done
      perf record -g -o "$PERF_DIR/fanout-$s-$proto.data" -p "$SERVER_PID" -- sleep "$DURATION" \
        >"$TMP/perf-$s-$phase.log" 2>&1 &
      perf_pid=$!
      PIDS+=("$perf_pid")
    fi
    rc=0
    wait "$tool_pid" || rc=$?
    [ -n "$perf_pid" ] && { wait "$perf_pid" || true; }
    cat "$out"
    ((rc == 0)) || die "fanout_bench failed for $s, $proto (exit $rc)"
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 30 "$LOG" >&2; die "serve died during $s, $proto"; }
    RESULT[$s#$phase]=$(grep '^RESULT ' "$out") || die "fanout_bench printed no RESULT line for $s, $proto"
  done
done

warnings=$(grep -cE '\b(warn|error)\b' "$LOG" || true)
if ((warnings > 0)); then
  echo
  echo "bench-fanout: the server logged $warnings warnings/errors; the first ones:"
  grep -E '\b(warn|error)\b' "$LOG" | head -n 5
fi

# --- the table ---
echo
echo "bench-fanout: $(nproc) cores shared by the clients, the poster and the server;" \
  "tick ${TICK}s, $TASKS tasks, ${DURATION}s per phase; latency = frame received - POST acknowledged"
ROW='| %7s | %-12s | %9s | %9s | %8s | %8s | %9s | %8s | %8s | %8s | %8s | %8s | %8s | %6s | %8s | %8s | %9s | %6s |\n'
# shellcheck disable=SC2059
printf "$ROW" clients protocol 'ev/s off' 'ev/s got' frames/s MB/s updates/s B/update 'B/new n' 'p50 ms' \
  'p99 ms' 'p99 >1s' 'max ms' 'CPU %' 'RSS MiB' 'own MiB' delivered resets
# shellcheck disable=SC2059
printf "$ROW" ------: ------------ --------: --------: -------: -------: --------: -------: -------: -------: \
  -------: -------: -------: -----: -------: -------: --------: -----:
phases=$(wc -w <<<"$PROTOCOLS")
for s in $SCENARIOS; do
  for phase in $(seq "$phases"); do
    while IFS= read -r r; do
      name=$(field protocol "$r")
      [ "$(field all_clients "$r")" = "$(field clients "$r")" ] || name="$name (mix)"
      # shellcheck disable=SC2059
      printf "$ROW" "$(field clients "$r")" "$name" "$(field offered "$r")" "$(field achieved "$r")" \
        "$(field frames_per_s "$r")" "$(field mb_per_s "$r")" "$(field updates_per_s "$r")" \
        "$(field bytes_per_update "$r")" "$(field bytes_per_new "$r")" "$(field p50_ms "$r")" "$(field p99_ms "$r")" \
        "$(field p99_after_1s_ms "$r")" "$(field max_ms "$r")" "$(field cpu_pct "$r")" "$(field rss_mib "$r")" \
        "$(field anon_mib "$r")" "$(field delivered_pct "$r")%" "$(field resets "$r")"
    done <<<"${RESULT[$s#$phase]}"
  done
done
echo
echo "(updates: task entries carrying n in the frames received during the phase, new to the client" \
  "or not; B/update: payload bytes received / updates; B/new n: payload bytes received from the" \
  "phase's start to the end of the drain / distinct (client, task, n) received, resets included." \
  "p99 >1s: p99 of the events acknowledged from 1 s after the start on (the first pass over the" \
  "tasks left out)." \
  "CPU %: the server process, all threads," \
  "of one core. RSS: its peak VmRSS sampled during the phase, the pages of the shared segment it" \
  "touched included; own: its peak RssAnon, the process's private memory. delivered: distinct" \
  "(client, task, n) received / events acknowledged x clients; resets: snapshots with \"reset\"" \
  "sent to lagging clients. In a delta+delta2 phase (mix) both protocols' clients share the" \
  "server: its CPU and memory are the phase's. Memory: a phase starts from what the earlier" \
  "phases left in the server's heap (freed memory is kept), so compare it on separate servers)"

# ratio A B: B / A, or n/a.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b != "") printf "%.3f", b / a; else printf "n/a" }'; }
aim_ms=$(awk -v t="$TICK" 'BEGIN { printf "%.0f", t * 1000 + 25 }')
le() { awk -v a="$1" -v b="$2" 'BEGIN { print (a != "" && a <= b ? "met" : "NOT met") }'; }
for s in $SCENARIOS; do
  # The first phase of each protocol alone, else the first mixed phase.
  v1="" v2="" m1="" m2="" how=""
  for phase in $(seq "$phases"); do
    while IFS= read -r r; do
      if [ "$(field all_clients "$r")" = "$(field clients "$r")" ]; then
        case $(field protocol "$r") in
          delta) [ -n "$v1" ] || v1=$r ;;
          delta2) [ -n "$v2" ] || v2=$r ;;
        esac
      else
        case $(field protocol "$r") in
          delta) [ -n "$m1" ] || m1=$r ;;
          delta2) [ -n "$m2" ] || m2=$r ;;
        esac
      fi
    done <<<"${RESULT[$s#$phase]}"
  done
  if [ -z "$v1" ] || [ -z "$v2" ]; then
    if [ -n "$m1" ] && [ -n "$m2" ]; then v1=$m1 v2=$m2 how=" (mixed phase: one server CPU for both)"; fi
  fi
  if [ -n "$v1" ] && [ -n "$v2" ]; then
    echo "v2/v1 at ${s%x*} clients x ${s#*x} events/s$how: bytes per update $(field bytes_per_update "$v2")" \
      "/ $(field bytes_per_update "$v1") = $(ratio "$(field bytes_per_update "$v1")" "$(field bytes_per_update "$v2")")," \
      "MB/s $(ratio "$(field mb_per_s "$v1")" "$(field mb_per_s "$v2")"), server CPU" \
      "$(field cpu_pct "$v2") % / $(field cpu_pct "$v1") %, p99 $(field p99_ms "$v2") / $(field p99_ms "$v1") ms" \
      "($(field p99_after_1s_ms "$v2") / $(field p99_after_1s_ms "$v1") ms after the first second)," \
      "resets $(field resets "$v2") / $(field resets "$v1")"
  fi
  [ "$s" = 1000x10000 ] || continue
  for r in "$v1" "$v2"; do
    [ -n "$r" ] || continue
    p99=$(field p99_ms "$r") rss=$(field rss_mib "$r") own=$(field anon_mib "$r")
    echo "aim ($(field protocol "$r")): 1000 clients x 10000 events/s: p99 <= $aim_ms ms: $(le "$p99" "$aim_ms") ($p99 ms;" \
      "from 1 s on $(field p99_after_1s_ms "$r") ms);" \
      "server RSS <= 100 MiB: $(le "$rss" 100) ($rss MiB with the segment's pages," \
      "own memory $(le "$own" 100): $own MiB)"
  done
  if [ -n "$v2" ]; then
    echo "aim (delta2): <= 80 bytes per delivered update: $(le "$(field bytes_per_update "$v2")" 80)" \
      "($(field bytes_per_update "$v2") bytes)"
  fi
done
