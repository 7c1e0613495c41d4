#!/usr/bin/env bash
# `progressista pipe` against `cat` in the same run: SIZE_GIB GiB from one generator through
# each, into one sink, ROUNDS times each (alternating), best and median GB/s and the ratio; then
# the same with `pipe --lines`. The pipe posts to a real `progressista serve` on a loopback port
# every 0.5 s, as it would in use.
#
#   PROGRESSISTA=build/daemon/progressista bench/pipe/run.sh      (or: make bench-pipe)
#   SIZE_GIB=4 ROUNDS=3 (defaults)
#
# Generator: python3 writing 1 MiB blocks of 32-byte lines with os.write (the bytes come from
# user space, as from a real producer). Sink: dd reading 1 MiB blocks into user space (a real
# consumer; /dev/null as the pipe's own stdout would let splice skip the copy entirely).
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh

PROGRESSISTA=${PROGRESSISTA:-build/daemon/progressista}
SIZE_GIB=${SIZE_GIB:-4}
ROUNDS=${ROUNDS:-3}
PIDS=()
die() { echo "bench/pipe: $*" >&2; stop_started; exit 1; }
is_count "$SIZE_GIB" 1 64 || die "SIZE_GIB must be a whole number from 1 to 64"
is_count "$ROUNDS" 1 20 || die "ROUNDS must be a whole number from 1 to 20"
[ -x "$PROGRESSISTA" ] || die "no binary at $PROGRESSISTA (make build, or set PROGRESSISTA=)"
command -v python3 >/dev/null || die "python3 is needed for the generator"

BYTES=$((SIZE_GIB << 30))
SEGMENT="bench-pipe-$$"
PORT=$(free_port)
LOG=$(mktemp /tmp/bench-pipe-XXXXXX.log)
[ -e "/dev/shm/$SEGMENT" ] && die "/dev/shm/$SEGMENT already exists; not touching it"
cleanup() {
  stop_started
  rm -f "/dev/shm/$SEGMENT"
  rm -f "$LOG"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$PROGRESSISTA" serve --segment "$SEGMENT" --capacity 64 --port "$PORT" --threads 1 2>"$LOG" &
PIDS+=($!)
for _ in $(seq 100); do grep -q "listening on" "$LOG" && break; sleep 0.1; done
grep -q "listening on" "$LOG" || die "the server did not start: $(cat "$LOG")"
URL="http://127.0.0.1:$PORT"

generate() {
  python3 -c '
import os, sys
total = int(sys.argv[1])
line = b"progressista pipe bench line...\n"
block = line * (1 << 15)  # 1 MiB
view = memoryview(block)
left = total
while left > 0:
    n = os.write(1, view[: min(left, len(block))])
    left -= n
' "$BYTES"
}
sink() { dd of=/dev/null bs=1M status=none; }

# seconds MIDDLE...: the wall time of generate | MIDDLE | sink.
seconds() {
  local start end
  start=$(date +%s.%N)
  generate | "$@" | sink
  end=$(date +%s.%N)
  echo "$end - $start" | bc -l
}

warn_if_busy "bench/pipe"
declare -A times
for round in $(seq "$ROUNDS"); do
  times[cat]+="$(seconds cat) "
  times[pipe]+="$(seconds "$PROGRESSISTA" pipe --server-url "$URL" --task-id bench-pipe --total "$BYTES") "
  times[lines]+="$(seconds "$PROGRESSISTA" pipe --server-url "$URL" --task-id bench-lines --lines) "
  echo "round $round/$ROUNDS done" >&2
done

# best and median GB/s of a list of seconds
rates() {
  tr ' ' '\n' <<<"$1" | sed '/^$/d' | awk -v b="$BYTES" '{print b / $1 / 1e9}' | sort -g |
    awk '{r[NR] = $1} END {printf "%.2f %.2f", r[NR], r[int((NR + 1) / 2)]}'
}
read -r cat_best cat_median <<<"$(rates "${times[cat]}")"
read -r pipe_best pipe_median <<<"$(rates "${times[pipe]}")"
read -r lines_best lines_median <<<"$(rates "${times[lines]}")"
n_pipe=$(curl -s "$URL/tasks/bench-pipe" | python3 -c 'import json,sys; t=json.load(sys.stdin); print(int(t["n"]), t["status"])' 2>/dev/null || echo "?")
n_lines=$(curl -s "$URL/tasks/bench-lines" | python3 -c 'import json,sys; t=json.load(sys.stdin); print(int(t["n"]), t["status"])' 2>/dev/null || echo "?")

echo "bench/pipe: $SIZE_GIB GiB per run, $ROUNDS rounds; generator python3 (1 MiB writes), sink dd bs=1M"
printf '%-28s %10s %12s %14s\n' "through" "best GB/s" "median GB/s" "median vs cat"
printf '%-28s %10s %12s %14s\n' "cat" "$cat_best" "$cat_median" "1.00"
printf '%-28s %10s %12s %14s\n' "progressista pipe" "$pipe_best" "$pipe_median" \
  "$(echo "$pipe_median / $cat_median" | bc -l | xargs printf '%.2f')"
printf '%-28s %10s %12s %14s\n' "progressista pipe --lines" "$lines_best" "$lines_median" \
  "$(echo "$lines_median / $cat_median" | bc -l | xargs printf '%.2f')"
echo "last tasks on the server: bench-pipe n=$n_pipe; bench-lines n=$n_lines"
