#!/usr/bin/env bash
# A full table must cost the writers of existing tasks nothing. `progressista ingest` holds
# TASKS running tasks in a segment of exactly that capacity (full, none finished). One wrk
# updates the first half of them; at the same time a second wrk floods the server either with
# events for new task ids (each refused: 507) or, for comparison, with valid updates of the
# other half. The figure is the first wrk's rate beside the 507 flood over its rate beside
# the valid flood, runs alternating, REPEAT pairs. Effects are counted from the segment's
# counters (events applied, refusals), not only from wrk's request counts.
#
# Environment (defaults in brackets):
#   DURATION [5]        seconds per run (1-600)
#   TASKS [10000]       tasks in the full table (capacity)
#   CONNECTIONS [32]    keep-alive connections of each wrk
#   SERVER_THREADS [nproc]  ingest --threads
#   REPEAT [3]          pairs of runs; the table shows the medians
#   PROGRESSISTA [build/daemon/progressista]
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib.sh
. "$HERE/../lib.sh"
ROOT=$(cd "$HERE/../.." && pwd)
BIN=$(realpath -m "${PROGRESSISTA:-$ROOT/build/daemon/progressista}")
DURATION=${DURATION:-5}
TASKS=${TASKS:-10000}
CONNECTIONS=${CONNECTIONS:-32}
SERVER_THREADS=${SERVER_THREADS:-$(nproc)}
REPEAT=${REPEAT:-3}
SEGMENT=bench-flood-$$

die() {
  echo "bench-flood: error: $*" >&2
  exit 1
}
is_count "$DURATION" 1 600 || die "DURATION must be 1-600 seconds, not '$DURATION'"
is_count "$TASKS" 2 1000000 || die "TASKS must be 2-1000000, not '$TASKS'"
is_count "$CONNECTIONS" 1 10000 || die "CONNECTIONS must be 1-10000, not '$CONNECTIONS'"
is_count "$SERVER_THREADS" 1 256 || die "SERVER_THREADS must be 1-256, not '$SERVER_THREADS'"
is_count "$REPEAT" 1 15 || die "REPEAT must be 1-15, not '$REPEAT'"
[ -x "$BIN" ] || die "$BIN not found: build it first (make build)"
missing=()
for tool in wrk curl bc; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if ((${#missing[@]} > 0)); then
  echo "installing: ${missing[*]}"
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
[ -e "/dev/shm/$SEGMENT" ] && die "/dev/shm/$SEGMENT already exists; not touching it"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench-flood.XXXXXX")
SERVER_PID=""
cleanup() {
  local rc=$? i
  trap - EXIT INT TERM
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
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

warn_if_busy bench-flood

PORT=$((20000 + RANDOM % 12000))
"$BIN" ingest --host 127.0.0.1 --port "$PORT" --segment "$SEGMENT" --capacity "$TASKS" \
  --threads "$SERVER_THREADS" --body-limit 67108864 --log-level warn >"$TMP/ingest.log" 2>&1 &
SERVER_PID=$!
URL="http://127.0.0.1:$PORT"
for i in $(seq 100); do
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$TMP/ingest.log" >&2; die "ingest exited at start"; }
  curl -s -o /dev/null --max-time 1 "$URL/health" && break
  sleep 0.1
done

# Fill the table with the ids progress.lua's spread shape uses (shards 0 .. TASKS-1).
awk -v n="$TASKS" 'BEGIN {
  for (i = 0; i < n; i++)
    printf("{\"task_id\":\"etl-7f3a9c2e/resize-images/shard-%05d\",\"desc\":\"Resizing product images, shard %d of %d (worker-%02d)\",\"n\":0,\"total\":250000,\"unit\":\"img\",\"status\":\"update\"}\n", i, i, n, i % 64)
}' >"$TMP/fill.ndjson"
code=$(curl -s -o "$TMP/fill.out" -w '%{http_code}' -H 'Content-Type: application/x-ndjson' \
  --data-binary "@$TMP/fill.ndjson" "$URL/progress")
[ "$code" = 200 ] || die "filling the table answered $code: $(cat "$TMP/fill.out")"
code=$(curl -s -o "$TMP/one.out" -w '%{http_code}' -H 'Content-Type: application/json' \
  --data '{"task_id":"one-too-many"}' "$URL/progress")
[ "$code" = 507 ] || die "the table should be full (507) but answered $code"

counter() {  # counter NAME: its value in the segment
  "$BIN" inspect --segment "$SEGMENT" --json --limit 0 | grep -o "\"$1\":[0-9]*" | head -1 | cut -d: -f2
}

HALF=$((TASKS / 2))
# wrk_run LABEL FIRST COUNT: spread updates over shards FIRST .. FIRST+COUNT-1, in the background.
wrk_run() {
  BENCH_SHAPE=spread BENCH_TASKS=$3 BENCH_FIRST=$2 BENCH_LABEL=$1 BENCH_TS=$(date +%s) \
    wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -s "$HERE/progress.lua" "$URL" >"$TMP/$1.out" 2>&1
}
rps_of() { sed -n 's/^RESULT .* rps=\([0-9.]*\) .*/\1/p' "$TMP/$1.out"; }

declare -a beside_507 beside_valid
for r in $(seq "$REPEAT"); do
  for flood in refused valid; do
    applied0=$(counter events_applied)
    full0=$(counter rejected_table_full)
    if [ "$flood" = refused ]; then first=$((TASKS * 10)); else first=$HALF; fi
    wrk_run measured 0 "$HALF" &
    a=$!
    wrk_run flood "$first" "$HALF" &
    b=$!
    wait "$a" "$b"
    applied=$(($(counter events_applied) - applied0))
    refused=$(($(counter rejected_table_full) - full0))
    m=$(rps_of measured)
    f=$(rps_of flood)
    printf 'run %d, beside a %-7s flood: measured %10s req/s, flood %10s req/s; applied %d, refused (507) %d\n' \
      "$r" "$flood" "$m" "$f" "$applied" "$refused"
    if [ "$flood" = refused ]; then beside_507+=("$m"); else beside_valid+=("$m"); fi
  done
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
m507=$(median "${beside_507[@]}")
mvalid=$(median "${beside_valid[@]}")
printf '\nupdates of existing tasks, median of %d: beside a 507 flood %.0f req/s, beside a valid flood %.0f req/s: %.2fx\n' \
  "$REPEAT" "$m507" "$mvalid" "$(echo "$m507 / $mvalid" | bc -l)"
