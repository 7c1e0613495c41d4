#!/usr/bin/env bash
# Fan-out benchmark of the broadcaster: starts `progressista serve` on a fresh segment, then for
# each scenario and each protocol phase runs fanout_bench (N WebSocket clients, events POSTed at
# a steady rate) and prints one table row per scenario and protocol. See bench/README.md for the
# figures.
#
# Side by side with Nchan (issue 11 item 6): a phase `nchan` in PROTOCOLS runs the same load
# through Nchan, nginx's pub/sub module, on an nginx of this script's own (own prefix and conf in
# the temp dir, a loopback port, `load_module` of the .so, not the system's nginx.conf; master +
# NCHAN_WORKERS workers, stopped by PID at exit): every event POSTed alone to a publisher location
# of a channel new to the phase, every client a websocket subscriber of that channel. nginx and
# libnginx-mod-nchan are installed from apt when absent (no service started; the link the package
# adds to /etc/nginx/modules-enabled is removed again, so the system nginx does not load Nchan).
# After the table, a line per scenario compares Nchan with delta/delta2 against the issue's aims:
#   flock /tmp/progressista-cpu.lock env DURATION=10 SCENARIOS="1000x100 1000x1000" \
#     PROTOCOLS="delta delta2 nchan" bench/fanout/run.sh
#
# Environment (defaults in brackets):
#   DURATION [10]        seconds of posting per phase (1-600)
#   SCENARIOS ["100x1000 100x10000 1000x1000 1000x10000"]  CLIENTSxEVENTS_PER_S
#   PROTOCOLS ["delta delta2"]  the phases of each scenario, one after the other against the same
#                        server with the same load: delta (/ws?protocol=delta, v1), delta2
#                        (/ws?protocol=delta2, the compact protocol), or delta+delta2 (half the
#                        clients of each at once: they share the server's CPU and the latency);
#                        nchan: the same clients and rate through Nchan (above). Not in the
#                        default: it installs a package, and past ~250 events/s its figures are
#                        the publisher's ceiling rather than a fan-out's
#   NCHAN_WORKERS [nproc]  worker_processes of the nchan phase's nginx (as serve's --threads 0:
#                        one per core)
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
NCHAN_WORKERS=${NCHAN_WORKERS:-$(nproc)}
TASKS=${TASKS:-10000}
TICK=${TICK:-0.1}
LEADING_EDGE=${LEADING_EDGE:-}
CAPACITY=${CAPACITY:-16384}
PLAIN_CLIENTS=${PLAIN_CLIENTS:-0}
IO_THREADS=${IO_THREADS:-1}
SERVER_THREADS=${SERVER_THREADS:-0}
PERF_DIR=${PERF_DIR:-}
SEGMENT=bench-fanout-$$
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
NCHAN_SO=/usr/lib/nginx/modules/ngx_nchan_module.so
# Where libnginx-mod-nchan links its load_module snippet; Debian's nginx.conf includes the dir.
NCHAN_LINK=/etc/nginx/modules-enabled/50-mod-nchan.conf

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
is_count "$NCHAN_WORKERS" 1 64 || die "NCHAN_WORKERS must be 1-64, not '$NCHAN_WORKERS'"
[[ $TICK =~ ^[0-9]*\.?[0-9]+$ ]] || die "TICK must be seconds, not '$TICK'"
[[ -z $LEADING_EDGE || $LEADING_EDGE =~ ^[0-9]*\.?[0-9]+$ ]] || die "LEADING_EDGE must be seconds, not '$LEADING_EDGE'"
((CAPACITY >= TASKS)) || die "CAPACITY ($CAPACITY) must hold TASKS ($TASKS)"
max_clients=0 max_rate=0
for s in $SCENARIOS; do
  [[ $s =~ ^([0-9]+)x([0-9]+)$ ]] || die "a scenario is CLIENTSxEVENTS_PER_S, not '$s'"
  c=${BASH_REMATCH[1]} r=${BASH_REMATCH[2]}
  is_count "$c" 1 10000 || die "clients must be 1-10000 in '$s'"
  is_count "$r" 1 1000000 || die "events/s must be 1-1000000 in '$s'"
  ((10#$c > max_clients)) && max_clients=$((10#$c))
  ((10#$r > max_rate)) && max_rate=$((10#$r))
done
[ -n "${PROTOCOLS// /}" ] || die "PROTOCOLS is empty"
ours=no nchan=no
for p in $PROTOCOLS; do
  case $p in
    delta | delta2 | delta+delta2) ours=yes ;;
    nchan) nchan=yes ;;
    *) die "a protocol phase is delta, delta2, delta+delta2 or nchan, not '$p'" ;;
  esac
done
if [ $ours = yes ]; then
  [ -x "$BIN" ] || die "$BIN not found: build it first (make build, or make bench-fanout)"
fi
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
POLICY_RC_CREATED=""

# Stops what this script started, by PID (nginx's workers with their master), removes its
# segment and temp dir. Runs on every exit.
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_started
  # Only this run's segment: other runs of this script may be going on beside it.
  rm -f "/dev/shm/$SEGMENT"
  rm -rf "$TMP"
  [ -n "$POLICY_RC_CREATED" ] && $SUDO rm -f /usr/sbin/policy-rc.d
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- Nchan: nginx and libnginx-mod-nchan from apt, only when absent (as bench/http/run.sh) ---
install_nchan() {
  local missing=() had_link=no
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
  [ -e "$NCHAN_SO" ] || missing+=(libnginx-mod-nchan)
  ((${#missing[@]} > 0)) || return 0
  echo "bench-fanout: installing ${missing[*]} for the nchan phase"
  # The packages would (re)start the system nginx; a policy-rc.d that denies it keeps it stopped.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# bench/fanout/run.sh: no service starts while it installs nginx/nchan\nexit 101\n' |
      $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
    POLICY_RC_CREATED=yes
  fi
  if [ -e "$NCHAN_LINK" ] || [ -L "$NCHAN_LINK" ]; then had_link=yes; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  if [ -n "$POLICY_RC_CREATED" ]; then
    $SUDO rm -f /usr/sbin/policy-rc.d
    POLICY_RC_CREATED=""
  fi
  # The package links mod-nchan.conf (a load_module line) into modules-enabled, which Debian's
  # nginx.conf includes: the system nginx would load Nchan, and reserve its 128 MiB shared zone,
  # from its next start on. Our nginx loads the .so itself, so the link goes; the package keeps
  # that choice on upgrades (its postinst links again only on a fresh install).
  if [ $had_link = no ] && [ -L "$NCHAN_LINK" ]; then
    $SUDO rm -f "$NCHAN_LINK"
    echo "bench-fanout: removed $NCHAN_LINK (the system nginx does not load Nchan; link" \
      "/usr/share/nginx/modules-available/mod-nchan.conf there to have it)"
  fi
  [ -e "$NCHAN_SO" ] || die "$NCHAN_SO is still missing after installing ${missing[*]}"
}

# start_nchan: our own nginx with Nchan on a loopback port; sets NCHAN_PID (master), NCHAN_PORT,
# NCHAN_LOG, and NCHAN_PIDS (master and workers) once every worker is up.
start_nchan() {
  local dir=$TMP/nchan conns messages shm_mib timeout_s user="" nginx code workers=()
  nginx=$(command -v nginx || echo /usr/sbin/nginx)
  mkdir -p "$dir/logs"
  # Workers run as nobody when we are root: they must reach their temp dirs.
  chmod 755 "$TMP" "$dir"
  [ "$(id -u)" = 0 ] && user="user nobody $(id -gn);"
  NCHAN_PORT=$(free_port)
  NCHAN_LOG=$dir/logs/error.log
  # Every client may land on one worker.
  conns=$((max_clients + 256))
  # Sized so that Nchan's store is never what fails: a channel (one per phase) keeps every
  # message the fastest scenario could publish in a phase (at most 100,000), messages live past a
  # phase and its drain (so at most two phases' channels hold messages at a time), and the shared
  # zone has 128 MiB (Nchan's default) plus 4 KiB per message kept, two channels at ~2 KiB each.
  messages=$((max_rate * DURATION))
  ((messages < 100)) && messages=100
  ((messages > 100000)) && messages=100000
  shm_mib=$((128 + messages * 4 / 1024))
  timeout_s=$((DURATION + 120))
  cat >"$dir/nginx.conf" <<CONF
# Written by bench/fanout/run.sh: Nchan for the side-by-side of issue 11 item 6.
daemon off;
master_process on;
# As progressista serve's --threads 0: one per core.
worker_processes $NCHAN_WORKERS;
worker_rlimit_nofile $((2 * conns));
$user
load_module $NCHAN_SO;
pid $dir/nginx.pid;
error_log $NCHAN_LOG warn;
events {
    worker_connections $conns;
}
http {
$(nginx_private_paths "$dir")
    # One keep-alive connection carries a phase's POSTs (nginx closes one after 1000 by default).
    keepalive_requests 100000000;
    keepalive_timeout 75s;
    # Nchan's store, sized not to be the thing that fails ($max_rate events/s x ${DURATION} s at most
    # per phase): 128 MiB (the default) + 4 KiB per message kept; every message of a phase kept
    # (at most 100,000) for the phase, its drain and 110 s more.
    nchan_shared_memory_size ${shm_mib}m;
    nchan_message_buffer_length $messages;
    nchan_message_timeout ${timeout_s}s;
    server {
        listen 127.0.0.1:$NCHAN_PORT;
        location = /ready {
            return 204;
        }
        location = /nchan_status {
            nchan_stub_status;
        }
        # A channel per phase: /pub/<channel> publishes the POST's body as one message.
        location ~ ^/pub/([A-Za-z0-9_-]+)\$ {
            nchan_publisher;
            nchan_channel_id \$1;
        }
        # Every client watches the whole channel, as a delta client watches the whole table;
        # it gets what is published after it subscribed.
        location ~ ^/sub/([A-Za-z0-9_-]+)\$ {
            nchan_subscriber websocket;
            nchan_channel_id \$1;
            nchan_subscriber_first_message newest;
        }
    }
}
CONF
  "$nginx" -p "$dir" -e "$NCHAN_LOG" -c "$dir/nginx.conf" >"$dir/logs/stdout.log" 2>&1 &
  NCHAN_PID=$!
  PIDS+=("$NCHAN_PID")
  for _ in $(seq 100); do
    kill -0 "$NCHAN_PID" 2>/dev/null || { cat "$dir/logs/stdout.log" "$NCHAN_LOG" >&2; die "nginx (Nchan) exited at start"; }
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$NCHAN_PORT/ready" || true)
    if [ "$code" = 204 ]; then
      mapfile -t workers < <(pgrep -P "$NCHAN_PID" || true)
      ((${#workers[@]} == NCHAN_WORKERS)) && break
    fi
    sleep 0.1
  done
  ((${#workers[@]} == NCHAN_WORKERS)) ||
    die "nginx (Nchan) did not answer with $NCHAN_WORKERS workers within 10 s (log: $(tail -n 3 "$NCHAN_LOG"))"
  NCHAN_PIDS=("$NCHAN_PID" "${workers[@]}")
  echo "bench-fanout: nginx $("$nginx" -v 2>&1 | sed 's|.*/||') with Nchan" \
    "$(dpkg-query -W -f='${Version}' libnginx-mod-nchan 2>/dev/null || echo '?') on :$NCHAN_PORT," \
    "master $NCHAN_PID, workers ${workers[*]}; ${shm_mib} MiB shared zone, $messages messages" \
    "kept per channel for ${timeout_s} s"
}

# A line of Nchan's counters (nchan_stub_status).
nchan_status() {
  curl -s --max-time 5 "http://127.0.0.1:$NCHAN_PORT/nchan_status" |
    grep -E '^(total published messages|stored messages|shared memory used|channels|subscribers):' |
    paste -sd ';' - | sed 's/;/; /g'
}

if [ $ours = yes ]; then
  # --- the server, on its own segment; no PROGRESSISTA_* from the caller ---
  LOG=$TMP/serve.log
  start_serve "$LOG" --segment "$SEGMENT" --capacity "$CAPACITY" --tick "$TICK" \
    ${LEADING_EDGE:+--leading-edge "$LEADING_EDGE"} --threads "$SERVER_THREADS" --storage-path "" \
    --no-access-log
fi
if [ $nchan = yes ]; then
  install_nchan
  start_nchan
fi

warn_if_busy bench-fanout
cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo "bench-fanout: $(nproc) cores ($cpu_model), load average $(cut -d' ' -f1-3 /proc/loadavg);" \
  "clients, poster and server share them"
if [ $ours = yes ]; then
  echo "bench-fanout: serve pid $SERVER_PID on :$PORT (segment $SEGMENT, $CAPACITY slots, tick ${TICK}s, leading edge ${LEADING_EDGE:-the tick}${LEADING_EDGE:+s});" \
    "$TASKS tasks, ${DURATION}s per phase; phases: $PROTOCOLS"
else
  echo "bench-fanout: $TASKS tasks, ${DURATION}s per phase; phases: $PROTOCOLS"
fi

# field KEY LINE: the value of KEY=... in a RESULT line.
field() { sed -nE "s/.*(^| )$1=([^ ]*).*/\2/p" <<<"$2"; }

# ticks PID...: the CPU time of these processes so far (utime + stime, clock ticks).
ticks() {
  local p
  for p in "$@"; do cat "/proc/$p/stat"; done | awk '{ s += $14 + $15 } END { print s }'
}

# wait_idle PID...: waits (10 s at most) until these processes used under 5 % of a core over
# half a second: a phase does not start while the previous one's clients are still being closed.
wait_idle() {
  local hz a b
  hz=$(getconf CLK_TCK)
  for _ in $(seq 20); do
    a=$(ticks "$@") || return 0
    sleep 0.5
    b=$(ticks "$@") || return 0
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
      nchan)
        # A channel new to the phase: nothing of an earlier phase is buffered in it.
        channel=fanout-$s-$phase
        counts=(--clients 0 --nchan-clients "$clients" --nchan-pub "/pub/$channel" --nchan-sub "/sub/$channel")
        ;;
    esac
    if [ "$proto" = nchan ]; then
      server=(--port "$NCHAN_PORT") pids=("${NCHAN_PIDS[@]}")
    else
      server=(--port "$PORT" --plain-clients "$PLAIN_CLIENTS") pids=("$SERVER_PID")
    fi
    pid_args=()
    for p in "${pids[@]}"; do pid_args+=(--server-pid "$p"); done
    wait_idle "${pids[@]}"
    echo
    echo "=== $clients clients x $rate events/s, $proto"
    timeout $((DURATION + 600)) "$TOOL" "${server[@]}" "${pid_args[@]}" \
      "${counts[@]}" --rate "$rate" --tasks "$TASKS" \
      --duration "$DURATION" --tick "$TICK" --io-threads "$IO_THREADS" >"$out" 2>&1 &
    tool_pid=$!
    PIDS+=("$tool_pid")
    if [ -n "$PERF_DIR" ]; then
      # From the moment every client holds its snapshot: the posting, not the connecting.
      until grep -q 'clients connected' "$out" 2>/dev/null || ! kill -0 "$tool_pid" 2>/dev/null; do
        sleep 0.05
      done
      perf record -g -o "$PERF_DIR/fanout-$s-$proto.data" -p "$(IFS=,; echo "${pids[*]}")" -- sleep "$DURATION" \
        >"$TMP/perf-$s-$phase.log" 2>&1 &
      perf_pid=$!
      PIDS+=("$perf_pid")
    fi
    rc=0
    wait "$tool_pid" || rc=$?
    forget_pid "$tool_pid"
    if [ -n "$perf_pid" ]; then
      wait "$perf_pid" || true
      forget_pid "$perf_pid"
    fi
    cat "$out"
    ((rc == 0)) || die "fanout_bench failed for $s, $proto (exit $rc)"
    if [ "$proto" = nchan ]; then
      for p in "${pids[@]}"; do
        kill -0 "$p" 2>/dev/null || { tail -n 30 "$NCHAN_LOG" >&2; die "nginx process $p (Nchan) died during $s, $proto"; }
      done
      echo "nchan_stub_status after the phase: $(nchan_status)"
    else
      kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 30 "$LOG" >&2; die "serve died during $s, $proto"; }
    fi
    RESULT[$s#$phase]=$(grep '^RESULT ' "$out") || die "fanout_bench printed no RESULT line for $s, $proto"
  done
done

if [ $ours = yes ]; then
  warnings=$(grep -cE '\b(warn|error)\b' "$LOG" || true)
  if ((warnings > 0)); then
    echo
    echo "bench-fanout: the server logged $warnings warnings/errors; the first ones:"
    grep -E '\b(warn|error)\b' "$LOG" | head -n 5
  fi
fi
if [ $nchan = yes ]; then
  warnings=$(grep -cE '\[(warn|error|crit|alert|emerg)\]' "$NCHAN_LOG" || true)
  if ((warnings > 0)); then
    echo
    echo "bench-fanout: nginx (Nchan) logged $warnings warnings/errors; the first ones:"
    grep -E '\[(warn|error|crit|alert|emerg)\]' "$NCHAN_LOG" | head -n 5
  fi
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
  "phases left in the server's heap (freed memory is kept), so compare it on separate servers." \
  "nchan: a websocket message per event per client, each event POSTed alone; the server is" \
  "nginx's master + workers, CPU and memory summed over them (RSS counts the pages they share" \
  "once per process)"

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

# --- side by side with Nchan (issue 11 item 6) ---
# alone PROTOCOL SCENARIO: the RESULT line of the first phase where PROTOCOL ran alone.
alone() {
  local phase r
  for phase in $(seq "$phases"); do
    while IFS= read -r r; do
      if [ "$(field protocol "$r")" = "$1" ] && [ "$(field all_clients "$r")" = "$(field clients "$r")" ]; then
        echo "$r"
        return 0
      fi
    done <<<"${RESULT[$2#$phase]}"
  done
}
# kept_up LINE: every event accepted: no POST failed and >= 99 % of the offered rate acknowledged
# (a POST due at the very end of the window may be left out).
kept_up() {
  awk -v o="$(field offered "$1")" -v a="$(field achieved "$1")" -v f="$(field failed_posts "$1")" \
    'BEGIN { exit !(f == 0 && a >= 0.99 * o) }'
}
for s in $SCENARIOS; do
  n=$(alone nchan "$s")
  [ -n "$n" ] || continue
  ours_rows=()
  for p in delta delta2; do
    r=$(alone "$p" "$s")
    [ -n "$r" ] && ours_rows+=("$r")
  done
  ((${#ours_rows[@]} > 0)) || continue
  echo
  line="side by side at ${s%x*} clients x ${s#*x} events/s (latency: frame received - POST acknowledged):"
  for r in "$n" "${ours_rows[@]}"; do
    line+=" $(field protocol "$r") $(field achieved "$r") ev/s acknowledged, p50 $(field p50_ms "$r") ms, p99"
    line+=" $(field p99_ms "$r") ms, CPU $(field cpu_pct "$r") %;"
  done
  echo "${line%;}"
  # Nchan may hand a message to its subscribers before it answers the POST: such an event is
  # counted as 0 ms above; from the POST's sending nothing is.
  echo "  from the POST's sending (its round trip included):$(for r in "$n" "${ours_rows[@]}"; do
    printf ' %s p50 %s ms, p99 %s ms;' "$(field protocol "$r")" "$(field p50_sent_ms "$r")" "$(field p99_sent_ms "$r")"
  done | sed 's/;$//'); nchan events received before their POST's answer: $(field early "$n")" \
    "of $(awk -v a="$(field events_acked "$n")" -v c="$(field connected "$n")" 'BEGIN { print a * c }')"
  kept_up "$n" || echo "  Nchan did not keep up: $(field achieved "$n") of $(field offered "$n") events/s" \
    "acknowledged ($(field failed_posts "$n") failed POSTs): its CPU and latency are for that rate"
  case $s in
    1000x100)
      for r in "${ours_rows[@]}"; do
        verdict=$(awk -v p50="$(field p50_ms "$r")" -v p99="$(field p99_ms "$r")" \
          -v cpu="$(field cpu_pct "$r")" -v ncpu="$(field cpu_pct "$n")" \
          'BEGIN { print (p50 <= 5 && p99 <= 25 && cpu <= ncpu ? "met" : "NOT met") }')
        echo "  aim ($(field protocol "$r")): p50 <= 5 ms and p99 <= 25 ms with no more CPU than Nchan:" \
          "$verdict (p50 $(field p50_ms "$r") ms, p99 $(field p99_ms "$r") ms, CPU $(field cpu_pct "$r") %" \
          "against Nchan's $(field cpu_pct "$n") %)"
      done
      ;;
    1000x1000)
      for r in "${ours_rows[@]}"; do
        verdict="NOT met"
        kept_up "$r" && [ "$(le "$(field p99_ms "$r")" "$aim_ms")" = met ] && verdict=met
        echo "  aim ($(field protocol "$r")): every event accepted and p99 <= tick + 25 ms = $aim_ms ms:" \
          "$verdict ($(field achieved "$r") of $(field offered "$r") events/s acknowledged," \
          "$(field failed_posts "$r") failed POSTs; p99 $(field p99_ms "$r") ms)"
      done
      ;;
  esac
done
