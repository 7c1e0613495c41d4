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
