#!/usr/bin/env bash
# Static files: a 100 KB file served by iodine -www (Go, no Ruby) against
# puma serving the same folder with Rack::Files, in alternating wrk runs.
#   WRK_THREADS=2 WRK_CONNS=50 WRK_DURATION=5s ROUNDS=3 bench/static.sh
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WRK_THREADS="${WRK_THREADS:-2}" WRK_CONNS="${WRK_CONNS:-50}" WRK_DURATION="${WRK_DURATION:-5s}" ROUNDS="${ROUNDS:-3}"
WORK="$(mktemp -d)"
PID=""
cleanup() { [ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

mkdir -p "$WORK/www"
head -c 102400 /dev/urandom > "$WORK/www/file.bin"
printf 'run Rack::Files.new(%s)\n' "\"$WORK/www\"" > "$WORK/files.ru"

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh" # free_port

wait_ready() { # port
  for _ in $(seq 1 100); do
    curl -s -o /dev/null -m 1 "http://127.0.0.1:$1/file.bin" && return 0
    sleep 0.1
  done
  echo "bench: server on $1 never answered" >&2; return 1
}

run_case() { # name port
  case "$1" in
    iodine) ruby "$ROOT/exe/iodine" -p "$2" -b 127.0.0.1 -t 4 -w 0 -www "$WORK/www" "$ROOT/bench/hello.ru" >"$WORK/$1.log" 2>&1 & ;;
    puma)   puma -b "tcp://127.0.0.1:$2" -t 4:4 -w 0 -e production "$WORK/files.ru" >"$WORK/$1.log" 2>&1 & ;;
  esac
  PID=$!
  wait_ready "$2"
  timeout 60 wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"$WRK_DURATION" "http://127.0.0.1:$2/file.bin" > "$WORK/wrk.out" 2>&1 || true
  grep -E 'Non-2xx|Socket errors' "$WORK/wrk.out" | sed 's/^/  wrk: /' >&2 || true
  kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; PID=""
  awk '/^Requests\/sec:/ { printf "%d", $2 }' "$WORK/wrk.out"
}

declare -A BEST
echo "100 KB file, wrk -t$WRK_THREADS -c$WRK_CONNS -d$WRK_DURATION, $ROUNDS round(s), both -t 4 -w 0"
for round in $(seq 1 "$ROUNDS"); do
  for name in iodine puma; do
    rps=$(run_case "$name" "$(free_port)")
    printf "  round %d %-7s %8s req/s\n" "$round" "$name" "$rps"
    [ "${BEST[$name]:-0}" -lt "$rps" ] && BEST[$name]=$rps
  done
done
printf "best: iodine %s, puma %s, ratio %s\n" "${BEST[iodine]}" "${BEST[puma]}" \
  "$(awk -v a="${BEST[iodine]}" -v b="${BEST[puma]}" 'BEGIN { printf "%.1f", a / b }')"
