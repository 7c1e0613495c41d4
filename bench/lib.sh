# Shell helpers shared by the benchmark scripts (sourced, not run).

# Percent of the CPUs busy over one second (from /proc/stat).
cpu_busy_percent() {
  local a b
  read -r -a a < <(head -1 /proc/stat)
  sleep 1
  read -r -a b < <(head -1 /proc/stat)
  local total=0 i
  for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
  echo $((total > 0 ? 100 - 100 * (b[4] - a[4] + b[5] - a[5]) / total : 0))
}

# Other work on the machine makes every figure noisy: say so before measuring. $1 names the
# benchmark in the message.
warn_if_busy() {
  local busy
  busy=$(cpu_busy_percent)
  if ((busy > 10)); then
    echo "$1: WARNING: the CPUs were $busy% busy before the benchmark started;" \
      "the figures will be noisy" >&2
  fi
}

# is_count VALUE MIN MAX: VALUE is a whole number within [MIN, MAX].
is_count() { [[ $1 =~ ^[0-9]+$ ]] && ((10#$1 >= $2 && 10#$1 <= $3)); }

# --- processes a script started (callers keep their PIDs in the array PIDS and define die) ---

# ppid_of PID: its parent's PID, or nothing once it is gone.
ppid_of() { [ -r "/proc/$1/stat" ] && sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f2; }

# forget_pid PID: a child we reaped (or killed and waited for); its PID may be reused, so it is
# no longer ours to signal.
forget_pid() {
  local keep=() p
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

# stop_started: SIGTERM to every PID in PIDS that is still our child, SIGKILL to what is left
# after 5 s, then reaps them. nginx workers are our master's children: remembered before the
# master goes, and waited for too.
stop_started() {
  local pid i mine=() all=()
  for pid in "${PIDS[@]}"; do
    [ "$(ppid_of "$pid")" = "$$" ] || continue
    mine+=("$pid")
    all+=("$pid")
    for i in $(pgrep -P "$pid" 2>/dev/null || true); do all+=("$i"); done
  done
  for pid in "${mine[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${all[@]}"; do
    for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  for pid in "${mine[@]}"; do wait "$pid" 2>/dev/null || true; done
}

# A loopback port nobody listens on (a refused connection), below the kernel's ephemeral range
# (32768 and up) so that no outgoing connection holds it. The server's bind is the real test.
free_port() {
  local p i
  for i in $(seq 200); do
    p=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  die "no free loopback port found"
}

# nginx_private_paths DIR: the lines of an `http {}` block that keep a benchmark's own nginx
# out of the system's folders (its temporary files under DIR) and quiet (no access log).
nginx_private_paths() {
  local dir=$1 t
  echo "    access_log off;"
  for t in client_body proxy fastcgi uwsgi scgi; do echo "    ${t}_temp_path $dir/$t;"; done
}

# start_serve LOG ARGS...: `$BIN serve --host 127.0.0.1 --port 0 ARGS...` in the background,
# without the caller's PROGRESSISTA_* variables, its output in LOG. Sets SERVER_PID (also added
# to PIDS when the caller keeps one) and PORT, read from its `listening on` line within 10 s.
# Callers define BIN and die.
start_serve() {
  local log=$1 v unset_env=()
  shift
  for v in $(compgen -e); do [[ $v == PROGRESSISTA_* ]] && unset_env+=(-u "$v"); done
  env "${unset_env[@]}" "$BIN" serve --host 127.0.0.1 --port 0 "$@" >"$log" 2>&1 &
  SERVER_PID=$!
  if declare -p PIDS >/dev/null 2>&1; then PIDS+=("$SERVER_PID"); fi
  PORT=""
  for _ in $(seq 100); do
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$log" >&2; die "serve exited at start (log above)"; }
    PORT=$(sed -nE 's|.*listening on http://127\.0\.0\.1:([0-9]+).*|\1|p' "$log" | head -1)
    [ -n "$PORT" ] && return 0
    sleep 0.1
  done
  cat "$log" >&2
  die "serve logged no 'listening on' line within 10 s"
}
