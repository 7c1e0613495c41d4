# Process helpers shared by bench/chaos/run.sh and bench/soak/run.sh (sourced after ../lib.sh).
# The caller sets NAME (for messages), SEGMENT, TMP (may be empty until made) and PIDS=().
# The nginx configuration follows bench/http/run.sh; ppid_of, forget_pid, stop_started and
# free_port are in ../lib.sh.

die() {
  echo "$NAME: error: $*" >&2
  exit 1
}

# Stops what the script started, by PID and only while it is still our child (nginx workers:
# our nginx master's children, remembered before the master goes), removes the segment and
# the temp dir. Installed as the EXIT trap.
cleanup_procs() {
  local rc=$?
  trap - EXIT INT TERM
  stop_started
  [ -n "$SEGMENT" ] && rm -f "/dev/shm/$SEGMENT"
  [ -n "$TMP" ] && rm -rf "$TMP"
  exit "$rc"
}

# parse_minutes DEFAULT MIN MAX "$@": the scripts' command line (--minutes N, --help, which
# prints the script's header); sets MINUTES.
parse_minutes() {
  local lo=$2 hi=$3
  MINUTES=$1
  shift 3
  while (($# > 0)); do
    case $1 in
      --minutes) MINUTES=${2:-}; shift 2 ;;
      -h | --help) sed -n '2,/^set -e/{/^#/p}' "$0"; exit 0 ;;
      *) die "unknown argument '$1' (try --help)" ;;
    esac
  done
  is_count "$MINUTES" "$lo" "$hi" || die "--minutes must be $lo-$hi, not '$MINUTES'"
}

# The caller's PROGRESSISTA_* variables must not reach the daemons.
UNSET_ENV=()
for v in $(compgen -e); do [[ $v == PROGRESSISTA_* ]] && UNSET_ENV+=(-u "$v"); done

# start_daemon ROLE PORT LOG [FLAGS...]: `progressista ROLE` on 127.0.0.1:PORT and the segment,
# output appended to LOG; sets STARTED_PID.
start_daemon() {
  local role=$1 port=$2 log=$3
  shift 3
  env "${UNSET_ENV[@]}" "$BIN" "$role" --host 127.0.0.1 --port "$port" --segment "$SEGMENT" \
    --no-access-log "$@" >>"$log" 2>&1 &
  STARTED_PID=$!
  PIDS+=("$STARTED_PID")
}

# wait_health PID URL SECONDS: until GET URL/health answers 200 (0), or the process exits or
# the time runs out (1).
wait_health() {
  local pid=$1 url=$2 i
  for i in $(seq $(($3 * 20))); do
    kill -0 "$pid" 2>/dev/null || return 1
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url/health" || true)" = 200 ] && return 0
    sleep 0.05
  done
  return 1
}

# start_nginx DIR PORT WORKERS MODULE: nginx of our own (own prefix, config, pid file, logs)
# with the module writing /progress into the segment; sets STARTED_PID (the master).
start_nginx() {
  local dir=$1 port=$2 workers=$3 module=$4 user=""
  # As root, workers run as nobody in root's group: the daemons create the segment 0660.
  [ "$(id -u)" = 0 ] && user="user nobody $(id -gn);"
  mkdir -p "$dir/logs"
  chmod 755 "$TMP" "$dir"
  cat >"$dir/nginx.conf" <<EOF
# Written by $NAME.
daemon off;
master_process on;
worker_processes $workers;
$user
load_module $module;
pid $dir/nginx.pid;
error_log $dir/logs/error.log notice;
events {
    worker_connections 1024;
}
http {
$(nginx_private_paths "$dir")
    client_body_buffer_size 1m;
    progressista_segment $SEGMENT mode=0660;
    server {
        listen 127.0.0.1:$port;
        location = /progress { progressista_ingest; }
    }
}
EOF
  "$NGINX" -p "$dir" -e "$dir/logs/error.log" -c "$dir/nginx.conf" >"$dir/logs/stdout.log" 2>&1 &
  STARTED_PID=$!
  PIDS+=("$STARTED_PID")
}
