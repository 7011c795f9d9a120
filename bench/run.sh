#!/usr/bin/env bash
# Benchmarks the seed README's hello world (bench/hello.ru) with wrk against:
#   iodine -t 1 -w 0, iodine -t 4 -w 0   (this gem, exe/iodine)
#   puma -t 4:4 -w 0, puma -t 1:1 -w 0   (Debian's puma)
#   ceiling                              (pure-Go fasthttp, same bytes: bench/ceiling)
# The cases alternate (round 1: every case, round 2: every case, ...), and the
# table shows each run, the median and the best, then the ratios
#   iodine t4 / puma t4   (target >= 5)   and   iodine t1 / ceiling   (target >= 0.6).
#
# Usage: bench/run.sh            (after `rake compile`)
# Environment (defaults):
#   WRK_THREADS=2 WRK_CONNS=50 WRK_DURATION=5s   wrk -t -c -d
#   WARMUP=1s        a wrk run before each measured one (0 to skip)
#   ROUNDS=3         how many times the whole sequence runs
#   CASES="iodine-t1 iodine-log-t1 iodine-t4 puma-t4 puma-t1 ceiling iodine-w2t2 puma-w2t2"   which cases, in order
# Every server listens on 127.0.0.1 on a port from binding port 0, runs with
# RACK_ENV=production, and is started and stopped by its pid; every step is
# bounded in time.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

WRK_THREADS="${WRK_THREADS:-2}"
WRK_CONNS="${WRK_CONNS:-50}"
WRK_DURATION="${WRK_DURATION:-5s}"
WARMUP="${WARMUP:-1s}"
ROUNDS="${ROUNDS:-3}"
CASES="${CASES:-iodine-t1 iodine-log-t1 iodine-t4 puma-t4 puma-t1 ceiling iodine-w2t2 puma-w2t2}"
APP="$ROOT/bench/hello.ru"
export RACK_ENV=production

for tool in ruby wrk puma go timeout; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing" >&2; exit 1; }
done
[ -f "$ROOT/lib/iodine/iodine_ext.so" ] && [ -f "$ROOT/lib/iodine/libiodine_go.so" ] ||
  { echo "bench: build the gem first (rake compile)" >&2; exit 1; }

WORK="$(mktemp -d -t iodine-bench.XXXXXX)"
SERVER_PID=""
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

cleanup() {
  stop_server
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Checks the server answers the hello world before measuring it.
check_hello() {
  local port="$1"
  timeout 10 ruby -rnet/http -e '
    res = Net::HTTP.get_response(URI("http://127.0.0.1:#{ARGV[0]}/"))
    exit(res.code == "200" && res.body == "Hello from Rack!" ? 0 : 1)' "$port"
}

# start_server CASE PORT: starts one case in the background, sets SERVER_PID.
start_server() {
  local name="$1" port="$2" log="$WORK/$1.log"
  case "$name" in
    iodine-w*t*) # cluster: iodine-w2t2 = -w 2 -t 2
      local w="${name#iodine-w}"
      ruby "$ROOT/exe/iodine" -p "$port" -b 127.0.0.1 -t "${w#*t}" -w "${w%%t*}" "$APP" >"$log" 2>&1 &
      ;;
    iodine-log-t*) # with the request log (-v); the lines go to $log
      ruby "$ROOT/exe/iodine" -p "$port" -b 127.0.0.1 -t "${name#iodine-log-t}" -w 0 -v "$APP" >"$log" 2>&1 &
      ;;
    iodine-t*)
      ruby "$ROOT/exe/iodine" -p "$port" -b 127.0.0.1 -t "${name#iodine-t}" -w 0 "$APP" >"$log" 2>&1 &
      ;;
    puma-w*t*)
      local w="${name#puma-w}" t
      t="${w#*t}"
      puma -b "tcp://127.0.0.1:$port" -t "$t:$t" -w "${w%%t*}" -e production "$APP" >"$log" 2>&1 &
      ;;
    puma-t*)
      local t="${name#puma-t}"
      puma -b "tcp://127.0.0.1:$port" -t "$t:$t" -w 0 -e production "$APP" >"$log" 2>&1 &
      ;;
    ceiling)
      "$WORK/ceiling" "$port" 127.0.0.1 >"$log" 2>&1 &
      ;;
    *)
      echo "bench: unknown case $name" >&2; return 1 ;;
  esac
  SERVER_PID=$!
}

# run_wrk PORT DURATION: prints requests/s (0 on failure); wrk's output goes
# to $WORK/wrk.out.
run_wrk() {
  local port="$1" dur="$2" limit
  limit=$(( $(seconds "$dur") + 30 ))
  if ! timeout "$limit" wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"$dur" "http://127.0.0.1:$port/" \
      >"$WORK/wrk.out" 2>&1; then
    echo 0; return
  fi
  if grep -qE 'Non-2xx|Socket errors' "$WORK/wrk.out"; then
    grep -E 'Non-2xx|Socket errors' "$WORK/wrk.out" | sed 's/^/  wrk: /' >&2
  fi
  awk '/^Requests\/sec:/ { printf "%d", $2; found = 1 } END { if (!found) print 0 }' "$WORK/wrk.out"
}

echo "building the ceiling (bench/ceiling) ..."
(cd "$ROOT/bench/ceiling" && timeout 300 go build -o "$WORK/ceiling" .)

declare -A RESULTS
echo "wrk -t$WRK_THREADS -c$WRK_CONNS -d$WRK_DURATION, warm-up $WARMUP, $ROUNDS round(s), $(nproc) CPU(s)"
for round in $(seq 1 "$ROUNDS"); do
  for name in $CASES; do
    port="$(free_port)"
    start_server "$name" "$port"
    if ! wait_port "$port" || ! check_hello "$port"; then
      echo "bench: $name did not start or answered wrongly; its log:" >&2
      cat "$WORK/$name.log" >&2
      stop_server
      RESULTS[$name]="${RESULTS[$name]:-} 0"
      continue
    fi
    if [ "$WARMUP" != "0" ]; then run_wrk "$port" "$WARMUP" >/dev/null; fi
    rps="$(run_wrk "$port" "$WRK_DURATION")"
    stop_server
    RESULTS[$name]="${RESULTS[$name]:-} $rps"
    printf "  round %d  %-10s %10s req/s\n" "$round" "$name" "$rps"
  done
done

# median and best of a list of numbers
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%d\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
best() { tr ' ' '\n' | grep -v '^$' | sort -n | tail -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

declare -A MEDIAN BEST
echo
printf "%-10s | %-32s | %10s | %10s\n" "case" "runs (req/s)" "median" "best"
printf -- "-----------+----------------------------------+------------+-----------\n"
for name in $CASES; do
  runs="${RESULTS[$name]:-}"
  MEDIAN[$name]="$(echo "$runs" | median)"
  BEST[$name]="$(echo "$runs" | best)"
  printf "%-10s | %-32s | %10s | %10s\n" "$name" "${runs# }" "${MEDIAN[$name]}" "${BEST[$name]}"
done

echo
if [ -n "${MEDIAN[iodine-t4]:-}" ] && [ -n "${MEDIAN[puma-t4]:-}" ]; then
  printf "iodine t4 / puma t4  : %s (median)  %s (best)   target >= 5\n" \
    "$(ratio "${MEDIAN[iodine-t4]}" "${MEDIAN[puma-t4]}")" "$(ratio "${BEST[iodine-t4]}" "${BEST[puma-t4]}")"
fi
if [ -n "${MEDIAN[iodine-t1]:-}" ] && [ -n "${MEDIAN[ceiling]:-}" ]; then
  printf "iodine t1 / ceiling  : %s (median)  %s (best)   target >= 0.6\n" \
    "$(ratio "${MEDIAN[iodine-t1]}" "${MEDIAN[ceiling]}")" "$(ratio "${BEST[iodine-t1]}" "${BEST[ceiling]}")"
fi
if [ -n "${MEDIAN[iodine-log-t1]:-}" ] && [ -n "${MEDIAN[iodine-t1]:-}" ]; then
  printf "iodine t1 -v / t1    : %s (median)  %s (best)   target >= 0.9\n" \
    "$(ratio "${MEDIAN[iodine-log-t1]}" "${MEDIAN[iodine-t1]}")" "$(ratio "${BEST[iodine-log-t1]}" "${BEST[iodine-t1]}")"
fi
if [ -n "${MEDIAN[iodine-w2t2]:-}" ] && [ -n "${MEDIAN[puma-w2t2]:-}" ]; then
  printf "iodine w2t2 / puma w2t2: %s (median)  %s (best)\n" \
    "$(ratio "${MEDIAN[iodine-w2t2]}" "${MEDIAN[puma-w2t2]}")" "$(ratio "${BEST[iodine-w2t2]}" "${BEST[puma-w2t2]}")"
fi
if [ -n "${MEDIAN[iodine-t1]:-}" ] && [ -n "${MEDIAN[puma-t1]:-}" ]; then
  printf "iodine t1 / puma t1  : %s (median)  %s (best)\n" \
    "$(ratio "${MEDIAN[iodine-t1]}" "${MEDIAN[puma-t1]}")" "$(ratio "${BEST[iodine-t1]}" "${BEST[puma-t1]}")"
fi
