#!/usr/bin/env bash
# HTTP load benchmark, one run side by side with the same wrk load on loopback:
#   nginx    nginx answering `return 204` (the ceiling: an HTTP/1.1 server that ignores bodies)
#   module1  nginx with `progressista_ingest` (the nginx module), 1 worker
#   module2  the same with SERVER_THREADS workers
#   proxy    nginx proxying to `progressista ingest` (keep-alive upstream)
#   ingest   `progressista ingest` direct
# All writers share one segment. See bench/http/README.md for the figures and how to read them.
#
# Environment (defaults in brackets):
#   DURATION [10]        seconds per wrk run (1-600)
#   CONNECTIONS [64]     keep-alive connections per run
#   WRK_THREADS [2]      wrk threads (-t)
#   SERVER_THREADS [nproc]  ingest --threads and nginx worker_processes
#   TASKS [10000]        task ids in the spread and batched scenarios
#   BATCH [100]          events per NDJSON request
#   CAPACITY [16384]     task slots of the benchmark's segment
#   SCENARIOS ["hot spread ndjson"]
#   REPEAT [1]           runs per scenario and target, alternating; the table shows the median
#   STRICT [0]           1: wrk counts every non-2xx answer in a Lua response() callback
#                        (costs wrk CPU); by default wrk counts answers >= 400, and the
#                        segment's counters must show every event of an ingest run applied
#   PROGRESSISTA [build/daemon/progressista]  the binary under test
#   NGINX_MODULE [<PROGRESSISTA's build dir>/module/ngx_http_progressista_module.so]
#   TARGETS ["nginx module1 module2 proxy ingest"]  which servers run (nginx is the ceiling
#                        every ratio refers to, so it always runs)
#   PERF_DIR []          when set, `perf record -g` the ingest process during each ingest run
#                        into PERF_DIR/ingest-<scenario>-<run>.data (perf costs CPU: those runs'
#                        figures are not comparable); PERF_RECORD_ARGS [-g] are perf record's
#                        options (`--call-graph dwarf` gives whole stacks; the build has no
#                        frame pointers)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib.sh
. "$HERE/../lib.sh"
ROOT=$(cd "$HERE/../.." && pwd)
BIN=$(realpath -m "${PROGRESSISTA:-$ROOT/build/daemon/progressista}")
NGINX_MODULE=$(realpath -m "${NGINX_MODULE:-$(dirname "$(dirname "$BIN")")/module/ngx_http_progressista_module.so}")
TARGETS=${TARGETS:-nginx module1 module2 proxy ingest}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
WRK_THREADS=${WRK_THREADS:-2}
CORES=$(nproc)
SERVER_THREADS=${SERVER_THREADS:-$CORES}
TASKS=${TASKS:-10000}
BATCH=${BATCH:-100}
CAPACITY=${CAPACITY:-16384}
SCENARIOS=${SCENARIOS:-hot spread ndjson}
PERF_DIR=${PERF_DIR:-}
PERF_RECORD_ARGS=${PERF_RECORD_ARGS:--g}
STRICT=${STRICT:-0}
REPEAT=${REPEAT:-1}
SEGMENT=bench-http-$$

die() {
  echo "bench-http: error: $*" >&2
  exit 1
}

is_count "$DURATION" 1 600 || die "DURATION must be 1-600 seconds, not '$DURATION'"
is_count "$CONNECTIONS" 1 10000 || die "CONNECTIONS must be 1-10000, not '$CONNECTIONS'"
is_count "$WRK_THREADS" 1 256 || die "WRK_THREADS must be 1-256, not '$WRK_THREADS'"
is_count "$SERVER_THREADS" 1 256 || die "SERVER_THREADS must be 1-256, not '$SERVER_THREADS'"
is_count "$TASKS" 1 1000000 || die "TASKS must be 1-1000000, not '$TASKS'"
is_count "$BATCH" 1 10000 || die "BATCH must be 1-10000, not '$BATCH'"
((CONNECTIONS >= WRK_THREADS)) || die "CONNECTIONS ($CONNECTIONS) must be >= WRK_THREADS"
((CAPACITY >= TASKS + 2)) || die "CAPACITY ($CAPACITY) must hold TASKS ($TASKS) + 2 tasks"
for s in $SCENARIOS; do
  [[ $s == hot || $s == spread || $s == ndjson ]] || die "unknown scenario '$s'"
done
is_count "$REPEAT" 1 15 || die "REPEAT must be 1-15, not '$REPEAT'"
[[ " $TARGETS " == *" nginx "* ]] || TARGETS="nginx $TARGETS"
for t in $TARGETS; do
  [[ $t =~ ^(nginx|module1|module2|proxy|ingest)$ ]] || die "unknown target '$t'"
done
if [[ " $TARGETS " == *" module"* ]]; then
  [ -f "$NGINX_MODULE" ] || die "$NGINX_MODULE not found: build the ngx_http_progressista_module target, or set NGINX_MODULE"
fi
has_target() { [[ " $TARGETS " == *" $1 "* ]]; }
[[ $STRICT == 0 || $STRICT == 1 ]] || die "STRICT must be 0 or 1, not '$STRICT'"
[ -x "$BIN" ] || die "$BIN not found: build it first (make build, or make bench-http)"

SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
TMP=""
POLICY_RC_CREATED=""
SEGMENT_OURS=""
PIDS=()

# Stops what this script started, by PID and only while the PID is still our child (or, for
# nginx workers, our nginx master's child), then removes the segment and the temp dir. Runs on
# every exit.
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_started
  [ -n "$SEGMENT_OURS" ] && rm -f "/dev/shm/$SEGMENT"
  [ -n "$TMP" ] && rm -rf "$TMP"
  [ -n "$POLICY_RC_CREATED" ] && $SUDO rm -f /usr/sbin/policy-rc.d
  exit "$rc"
}
trap cleanup EXIT

trap 'exit 130' INT
trap 'exit 143' TERM

# --- tools: wrk, nginx and curl from apt, only when absent (as the Makefile's deps target) ---
have_binary() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
missing=()
for pair in wrk:wrk nginx:nginx curl:curl; do
  pkg=${pair%%:*} binary=${pair#*:}
  have_binary "$binary" ||
    dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q '^install ok installed' ||
    missing+=("$pkg")
done
if ((${#missing[@]} > 0)); then
  echo "installing: ${missing[*]}"
  nginx_was_active=no
  if [[ " ${missing[*]} " == *" nginx "* ]]; then
    # The package would start the system nginx; a policy-rc.d that denies it keeps it stopped.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\n# bench/http/run.sh: no service starts while it installs nginx\nexit 101\n' |
        $SUDO tee /usr/sbin/policy-rc.d >/dev/null
      $SUDO chmod 755 /usr/sbin/policy-rc.d
      POLICY_RC_CREATED=yes
    fi
    if command -v systemctl >/dev/null && systemctl is-active --quiet nginx 2>/dev/null; then
      nginx_was_active=yes
    fi
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  if [ -n "$POLICY_RC_CREATED" ]; then
    $SUDO rm -f /usr/sbin/policy-rc.d
    POLICY_RC_CREATED=""
  fi
  # An existing policy may have let it start: leave the system service as it was before.
  if [[ " ${missing[*]} " == *" nginx "* && $nginx_was_active == no ]] && command -v systemctl >/dev/null &&
    systemctl is-active --quiet nginx 2>/dev/null; then
    echo "stopping the system nginx the package started (this benchmark runs its own)"
    $SUDO systemctl stop nginx
  fi
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench-http.XXXXXX")
[ -e "/dev/shm/$SEGMENT" ] && die "/dev/shm/$SEGMENT already exists; not touching it"
if [ -n "$PERF_DIR" ]; then
  mkdir -p "$PERF_DIR"
  command -v perf >/dev/null || die "PERF_DIR is set but perf is not installed"
fi

PROBE='{"task_id":"bench-http-probe","n":1,"total":1,"status":"update"}'
# wait_ready NAME PID URL EXPECTED_STATUS LOG: POSTs one event until the answer is EXPECTED.
wait_ready() {
  local name=$1 pid=$2 url=$3 expected=$4 log=$5 code i
  for i in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; die "$name exited at start (log above)"; }
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 -X POST \
      -H 'Content-Type: application/json' --data "$PROBE" "$url/progress" || true)
    [ "$code" = "$expected" ] && return 0
    sleep 0.1
  done
  cat "$log" >&2
  die "$name did not answer $expected on $url/progress within 10 s (last: $code)"
}

# --- our own nginx instances (own config, prefix, pid file, error log; never the service) ---
# Module workers open the daemon's segment, created 0660 by ingest: when this script runs as
# root, workers run as nobody in root's group (as a deployment shares a group between the
# daemons and nginx's workers).
NGINX_USER=""
[ "$(id -u)" = 0 ] && NGINX_USER="user nobody $(id -gn);"

# start_nginx NAME WORKERS PORT HTTP_EXTRA SERVER_BODY: an nginx of our own in $TMP/NAME;
# sets STARTED_PID.
start_nginx() {
  local name=$1 workers=$2 port=$3 http_extra=$4 server_body=$5 load=""
  local dir=$TMP/$name
  mkdir -p "$dir/logs"
  chmod 755 "$TMP" "$dir"
  [[ $http_extra == *progressista_segment* ]] && load="load_module $NGINX_MODULE;"
  cat >"$dir/nginx.conf" <<EOF
# Written by bench/http/run.sh: $name.
daemon off;
master_process on;
worker_processes $workers;
$NGINX_USER
$load
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events {
    worker_connections 4096;
}
http {
$(nginx_private_paths "$dir")
    # nginx closes a keep-alive connection after 1000 requests by default; ingest never does.
    keepalive_requests 100000000;
    keepalive_timeout 75s;
    # Batched bodies (20 KB) stay in memory instead of going to a temp file.
    client_body_buffer_size 1m;
$http_extra
    server {
        listen 127.0.0.1:$port;
$server_body
    }
}
EOF
  "$NGINX" -p "$dir" -e "$dir/logs/error.log" -c "$dir/nginx.conf" >"$dir/logs/stdout.log" 2>&1 &
  STARTED_PID=$!
  PIDS+=("$STARTED_PID")
}

# The ceiling, a 204 for every POST /progress; the same nginx proxies to ingest on a second
# port (its CPU is counted with ingest's for the proxy runs).
NGINX_PORT=$(free_port)
INGEST_PORT=$(free_port)
PROXY_PORT=$(free_port)
start_nginx nginx "$SERVER_THREADS" "$NGINX_PORT" "
    upstream progressista_ingest {
        server 127.0.0.1:$INGEST_PORT;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$PROXY_PORT;
        location = /progress {
            proxy_pass http://progressista_ingest;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
        }
    }" "
        location = /progress {
            if (\$request_method = POST) {
                return 204;
            }
            return 405;
        }"
NGINX_PID=$STARTED_PID
declare -A PORT=([nginx]=$NGINX_PORT [proxy]=$PROXY_PORT [ingest]=$INGEST_PORT)
# The module's nginx instances attach the benchmark's segment (created by ingest, below).
declare -A MODULE_PID=()

# --- the daemon under test, on its own fresh segment; no PROGRESSISTA_* from the caller ---
unset_env=()
for v in $(compgen -e); do [[ $v == PROGRESSISTA_* ]] && unset_env+=(-u "$v"); done
env "${unset_env[@]}" "$BIN" ingest --host 127.0.0.1 --port "$INGEST_PORT" \
  --threads "$SERVER_THREADS" --segment "$SEGMENT" --capacity "$CAPACITY" --shm-mode 0660 \
  --storage-path "" --no-access-log >"$TMP/ingest.log" 2>&1 &
INGEST_PID=$!
PIDS+=("$INGEST_PID")
SEGMENT_OURS=yes

wait_ready nginx "$NGINX_PID" "http://127.0.0.1:$NGINX_PORT" 204 "$TMP/nginx/logs/error.log"
wait_ready ingest "$INGEST_PID" "http://127.0.0.1:$INGEST_PORT" 200 "$TMP/ingest.log"
wait_ready proxy "$NGINX_PID" "http://127.0.0.1:$PROXY_PORT" 200 "$TMP/nginx/logs/error.log"
for m in module1 module2; do
  has_target "$m" || continue
  PORT[$m]=$(free_port)
  workers=1
  [ "$m" = module2 ] && workers=$SERVER_THREADS
  start_nginx "$m" "$workers" "${PORT[$m]}" \
    "    progressista_segment $SEGMENT capacity=$CAPACITY mode=0660;" \
    "        location = /progress { progressista_ingest; }"
  MODULE_PID[$m]=$STARTED_PID
done
for m in "${!MODULE_PID[@]}"; do
  wait_ready "$m" "${MODULE_PID[$m]}" "http://127.0.0.1:${PORT[$m]}" 200 "$TMP/$m/logs/error.log"
done

# Sum of the segment's counters whose name matches the regex $1.
counter_sum() {
  "$BIN" inspect --segment "$SEGMENT" --json --limit 0 |
    grep -oE "\"($1)\":[0-9]+" | awk -F: '{ s += $2 } END { print s + 0 }'
}

warn_if_busy bench-http

cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo "bench-http: $CORES cores ($cpu_model); wrk, nginx and ingest share them"
echo "bench-http: nginx $("$NGINX" -v 2>&1 | sed 's/.*\///'), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)," \
  "ingest --threads $SERVER_THREADS, nginx worker_processes $SERVER_THREADS"
echo "bench-http: wrk -t $WRK_THREADS -c $CONNECTIONS -d ${DURATION}s; targets: $(for t in $TARGETS; do
  printf '%s :%s  ' "$t" "${PORT[$t]}"
done)(segment $SEGMENT, $CAPACITY slots)"

# Bodies carry one timestamp for the whole run (see progress.lua).
BENCH_TS=$(date +%s.%N | cut -c1-17)
declare -A RESULT RATIO

# field KEY LINE: the value of KEY=... in a RESULT line.
field() { sed -nE "s/.*(^| )$1=([^ ]*).*/\2/p" <<<"$2"; }

# server_ticks TARGET: "USER SYSTEM" CPU time (clock ticks) the target's processes used so far:
# the ingest process (all its threads), the nginx workers, or both for the proxy.
server_ticks() {
  local pids p u=0 s=0 f
  case $1 in
    ingest) pids=$INGEST_PID ;;
    nginx) pids=${WORKERS[nginx]} ;;
    proxy) pids="${WORKERS[nginx]} $INGEST_PID" ;;
    *) pids=${WORKERS[$1]} ;;
  esac
  for p in $pids; do
    read -r -a f < <(sed 's/^.*) //' "/proc/$p/stat")
    u=$((u + f[11])) s=$((s + f[12]))  # utime, stime: fields 14 and 15 of /proc/PID/stat
  done
  echo "$u $s"
}
CLK_TCK=$(getconf CLK_TCK)
declare -A WORKERS=([nginx]=$(pgrep -P "$NGINX_PID" | tr '\n' ' '))
[ -n "${WORKERS[nginx]}" ] || die "nginx has no worker processes"
for m in "${!MODULE_PID[@]}"; do
  WORKERS[$m]=$(pgrep -P "${MODULE_PID[$m]}" | tr '\n' ' ')
  [ -n "${WORKERS[$m]}" ] || die "$m has no worker processes"
done

# run_wrk SCENARIO TARGET PORT REP: one wrk run; its RESULT line (plus cpu_us_per_req) lands
# in RESULT[SCENARIO,TARGET,REP].
run_wrk() {
  local scenario=$1 target=$2 port=$3 rep=$4 log="$TMP/wrk-$1-$2-$4.log" line perf_pid=""
  local applied_before=0 rejected_before=0 ignored_before=0 user0 sys0 user1 sys1
  echo
  echo "=== $scenario -> $target (run $rep of $REPEAT)"
  if [ "$target" != nginx ]; then
    applied_before=$(counter_sum events_applied)
    rejected_before=$(counter_sum 'rejected_[a-z_]+')
    ignored_before=$(counter_sum 'events_ignored_[a-z_]+')
    if [ -n "$PERF_DIR" ] && [ "$target" = ingest ]; then
      # shellcheck disable=SC2086 # PERF_RECORD_ARGS is a list of options
      perf record $PERF_RECORD_ARGS -o "$PERF_DIR/ingest-$scenario-$rep.data" -p "$INGEST_PID" \
        -- sleep "$DURATION" >"$TMP/perf-$scenario-$rep.log" 2>&1 &
      perf_pid=$!
      PIDS+=("$perf_pid")
    fi
  fi
  read -r user0 sys0 < <(server_ticks "$target")
  # In the background, so that a signal to this script ends the run at once (bash waits for a
  # foreground command before it runs a trap).
  BENCH_STRICT=$STRICT BENCH_SHAPE=$scenario BENCH_TASKS=$TASKS BENCH_BATCH=$BATCH \
    BENCH_TS=$BENCH_TS BENCH_LABEL="$scenario/$target" \
    timeout $((DURATION + 60)) wrk -t "$WRK_THREADS" -c "$CONNECTIONS" -d "${DURATION}s" \
    --timeout 5s -s "$HERE/progress.lua" "http://127.0.0.1:$port/progress" >"$log" 2>&1 &
  local wrk_pid=$! wrk_rc=0
  PIDS+=("$wrk_pid")
  wait "$wrk_pid" || wrk_rc=$?
  forget_pid "$wrk_pid"
  cat "$log"
  ((wrk_rc == 0)) || die "wrk failed (exit status $wrk_rc) in $scenario/$target"
  read -r user1 sys1 < <(server_ticks "$target")
  local ticks=$((user1 - user0 + sys1 - sys0))
  if [ -n "$perf_pid" ]; then
    wait "$perf_pid" || true
    forget_pid "$perf_pid"
  fi
  line=$(grep -m1 '^RESULT ' "$log") || die "wrk printed no RESULT line for $scenario/$target"
  local cpu
  cpu=$(awk -v t="$ticks" -v hz="$CLK_TCK" -v n="$(field requests "$line")" \
    'BEGIN { printf "%.1f", (n > 0 ? t / hz * 1e6 / n : 0) }')
  echo "$target used $(awk -v t="$ticks" -v u="$((user1 - user0))" -v hz="$CLK_TCK" \
    'BEGIN { printf "%.2f CPU-s (%.0f%% user)", t / hz, (t > 0 ? 100 * u / t : 0) }'):" \
    "$cpu us per request"
  RESULT[$scenario,$target,$rep]="$line cpu_us_per_req=$cpu"
  local status_errors socket_errors non2xx
  status_errors=$(field status_errors "$line")
  non2xx=$(field non2xx "$line")
  if [[ $non2xx =~ ^[0-9]+$ ]] && ((non2xx > status_errors)); then status_errors=$non2xx; fi
  socket_errors=$(($(field connect_errors "$line") + $(field read_errors "$line") +
    $(field write_errors "$line") + $(field timeouts "$line")))
  if ((status_errors > 0)); then
    [ "$target" = ingest ] && tail -n 20 "$TMP/ingest.log" >&2
    [[ $target == module* ]] && tail -n 20 "$TMP/$target/logs/error.log" >&2
    die "$target answered $status_errors non-2xx responses in $scenario: the figures are void"
  fi
  ((socket_errors == 0)) || echo "bench-http: WARNING: $socket_errors socket errors/timeouts" >&2
  if [ "$target" != nginx ]; then
    # wrk counts non-2xx only from 400 up; the segment's counters say whether every event landed.
    local applied rejected ignored events
    applied=$(($(counter_sum events_applied) - applied_before))
    rejected=$(($(counter_sum 'rejected_[a-z_]+') - rejected_before))
    ignored=$(($(counter_sum 'events_ignored_[a-z_]+') - ignored_before))
    events=$(field events "$line")
    echo "segment counters: $applied events applied, $ignored ignored, $rejected rejected" \
      "(wrk completed $events)"
    ((rejected == 0)) || die "$target rejected $rejected events in $scenario"
    ((applied >= events)) || die "$target applied $applied events, fewer than the $events wrk completed"
    ((ignored == 0)) || echo "bench-http: WARNING: $ignored events ignored (out of order or closed)" >&2
  fi
}

# Rounds alternate (every target, then every target again, ...) so that a disturbance hits all.
for scenario in $SCENARIOS; do
  for rep in $(seq "$REPEAT"); do
    for target in $TARGETS; do
      run_wrk "$scenario" "$target" "${PORT[$target]}" "$rep"
    done
  done
done

# median SCENARIO TARGET: the RESULT line of the run with the median req/s (the lower median).
median() {
  local rep
  for rep in $(seq "$REPEAT"); do
    echo "$(field rps "${RESULT[$1,$2,$rep]}") $rep"
  done | sort -n | sed -n "$(((REPEAT + 1) / 2))p" | {
    read -r _ rep
    echo "${RESULT[$1,$2,$rep]}"
  }
}

# --- the table ---
declare -A NAME=([hot]="1 hot task" [spread]="$TASKS tasks" [ndjson]="NDJSON x$BATCH, $TASKS tasks")
declare -A WHAT=([nginx]="nginx return 204" [module1]="module, 1 worker"
  [module2]="module, $SERVER_THREADS workers" [proxy]="nginx -> ingest" [ingest]="ingest direct")
echo
echo "bench-http: $CORES cores shared by wrk (-t $WRK_THREADS), nginx and ingest;" \
  "$CONNECTIONS keep-alive connections, ${DURATION}s per run$( ((REPEAT > 1)) &&
    echo ", median of $REPEAT runs by req/s")"
row() { printf '| %-24s | %-18s | %9s | %9s | %9s | %12s | %8s | %10s |\n' "$@"; }
row scenario target req/s p50 p99 "server CPU" "x ceiling" events/s
row ------------------------ ------------------ --------: --------: --------: -----------: -------: ---------:
ms() { awk -v us="$1" 'BEGIN { printf "%.2f ms", us / 1000 }'; }
aims=() runs=()
for scenario in $SCENARIOS; do
  ceiling=$(field rps "$(median "$scenario" nginx)")
  for target in $TARGETS; do
    line=$(median "$scenario" "$target")
    events="-" r="1.00"
    if [ "$target" != nginx ]; then
      r=$(awk -v a="$(field rps "$line")" -v b="$ceiling" 'BEGIN { printf "%.2f", a / b }')
      events=$(awk -v e="$(field events_per_s "$line")" 'BEGIN { printf "%.0f", e }')
    fi
    RATIO[$scenario,$target]=$r
    row "${NAME[$scenario]}" "${WHAT[$target]}" "$(printf '%.0f' "$(field rps "$line")")" \
      "$(ms "$(field p50_us "$line")")" "$(ms "$(field p99_us "$line")")" \
      "$(field cpu_us_per_req "$line") us/req" "$r" "$events"
    runs+=("$scenario/$target req/s of each run: $(for rep in $(seq "$REPEAT"); do
      printf '%.0f ' "$(field rps "${RESULT[$scenario,$target,$rep]}")"
    done)")
  done
  if [ "$scenario" = ndjson ]; then
    for target in ingest module2; do
      has_target "$target" || continue
      eps=$(field events_per_s "$(median "$scenario" "$target")")
      verdict=$(awk -v e="$eps" 'BEGIN { print (e >= 1e6 ? "met" : "NOT met") }')
      aims+=("$target: batched events/s >= 1,000,000: $verdict ($(printf '%.0f' "$eps"))")
    done
  else
    if has_target ingest; then
      verdict=$(awk -v r="${RATIO[$scenario,ingest]}" 'BEGIN { print (r >= 0.8 ? "met" : "NOT met") }')
      aims+=("${NAME[$scenario]}: ingest >= 0.8x ceiling: $verdict (${RATIO[$scenario,ingest]})")
    fi
    if has_target module2; then
      verdict=$(awk -v r="${RATIO[$scenario,module2]}" 'BEGIN { print (r >= 0.9 ? "met" : "NOT met") }')
      aims+=("${NAME[$scenario]}: module ($SERVER_THREADS workers) >= 0.9x ceiling: $verdict (${RATIO[$scenario,module2]})")
    fi
  fi
done
echo
if ((REPEAT > 1)); then
  for r in "${runs[@]}"; do echo "$r"; done
  echo
fi
for a in "${aims[@]}"; do echo "aim: $a"; done
