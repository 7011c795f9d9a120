#!/usr/bin/env bash
# WebSocket benchmarks with bench/ws (`wsbench`, its own Go module) against:
#   iodine -t $THREADS -w $WORKERS (this gem, exe/iodine) running bench/ws_echo.ru or bench/ws_broadcast.ru
#   hub                       (`wsbench hub`: pure-Go fasthttp + fasthttp/websocket, the ceiling)
# Cases:
#   hub-echo, iodine-echo             round trips/s: ECHO_CONNS connections, each sends a
#                                     SIZE-byte text message and waits for it to come back
#   hub-broadcast, iodine-broadcast   deliveries/s to BC_CLIENTS subscribers; BC_PUBLISHERS of them
#                                     publish numbered messages, each keeping BC_WINDOW in flight;
#                                     plus lost / out-of-order / duplicate counts (target: none)
#   hub-idle, iodine-idle             server VmRSS growth per connection with IDLE_CONNS idle
#                                     WebSockets open for IDLE_HOLD (iodine target <= 6 KB)
# The cases alternate (round 1: every case, round 2: every case, ...); the table
# shows each run, the median and the best (the lowest for KB/connection), then
# the ratios iodine / hub and the targets. A server that does not start or
# answer is reported with its log and the other cases go on.
#
# Usage: bench/ws.sh             (after `rake compile`; the hub cases need only Go)
# Environment (defaults):
#   CASES="hub-echo iodine-echo hub-broadcast iodine-broadcast hub-idle iodine-idle"
#   ROUNDS=3          how many times the whole sequence runs
#   THREADS=1         iodine -t
#   WORKERS=0         iodine -w; with 2, a broadcast crosses the cluster's pub/sub hub (the idle
#                     case measures one process, so it needs WORKERS=0)
#   DURATION=5s       measured time of echo and broadcast
#   WARMUP=1s         unmeasured load before it (0 to skip)
#   SIZE=32           message bytes
#   ECHO_CONNS=50
#   BC_CLIENTS=1000 BC_PUBLISHERS=10 BC_WINDOW=4
#   BC_RATE=0         messages/s over all publishers; 0 = as fast as the window allows
#                     (deliveries/s grows with BC_PUBLISHERS * BC_WINDOW: compare at equal settings)
#   IDLE_CONNS=10000 IDLE_HOLD=2s IDLE_APP=bench/ws_broadcast.ru   (idle connections subscribe)
# Every server listens on 127.0.0.1 on a port from binding port 0, runs with
# RACK_ENV=production, and is started and stopped by its pid; every step is
# bounded in time. wsbench runs on the same cores as the server and prints its
# own CPU use with each result.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

CASES="${CASES:-hub-echo iodine-echo hub-broadcast iodine-broadcast hub-idle iodine-idle}"
ROUNDS="${ROUNDS:-3}"
THREADS="${THREADS:-1}"
WORKERS="${WORKERS:-0}"
DURATION="${DURATION:-5s}"
WARMUP="${WARMUP:-1s}"
SIZE="${SIZE:-32}"
ECHO_CONNS="${ECHO_CONNS:-50}"
BC_CLIENTS="${BC_CLIENTS:-1000}"
BC_PUBLISHERS="${BC_PUBLISHERS:-10}"
BC_WINDOW="${BC_WINDOW:-4}"
BC_RATE="${BC_RATE:-0}"
IDLE_CONNS="${IDLE_CONNS:-10000}"
IDLE_HOLD="${IDLE_HOLD:-2s}"
IDLE_APP="${IDLE_APP:-$ROOT/bench/ws_broadcast.ru}"
export RACK_ENV=production

GO="$(command -v go || echo /usr/local/go/bin/go)"
for tool in ruby timeout "$GO"; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing" >&2; exit 1; }
done
if [ ! -f "$ROOT/lib/iodine/iodine_ext.so" ] || [ ! -f "$ROOT/lib/iodine/libiodine_go.so" ]; then
  echo "bench: warning: the gem is not built (rake compile); the iodine cases will fail" >&2
fi

# 10,000 idle sockets need that many descriptors in the server and in wsbench:
# lift the soft limit to the hard one for every process started from here.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((IDLE_CONNS + 100)) ]; then
  echo "bench: warning: open-files limit $(ulimit -n) < IDLE_CONNS + 100; the idle cases will fail" >&2
fi

WORK="$(mktemp -d -t iodine-ws-bench.XXXXXX)"
SERVER_PID=""
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

cleanup() {
  stop_server
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_server CASE PORT: starts the server of one case in the background,
# sets SERVER_PID and URL (the WebSocket endpoint).
start_server() {
  local name="$1" port="$2" log="$WORK/$1.log" app
  case "$name" in
    iodine-echo) app="$ROOT/bench/ws_echo.ru" ;;
    iodine-broadcast) app="$ROOT/bench/ws_broadcast.ru" ;;
    iodine-idle)
      if [ "$WORKERS" != 0 ]; then echo "bench: iodine-idle measures one process: run it with WORKERS=0" >&2; return 1; fi
      app="$IDLE_APP" ;;
    hub-*) app="" ;;
    *) echo "bench: unknown case $name" >&2; return 1 ;;
  esac
  if [ -n "$app" ]; then
    ruby "$ROOT/exe/iodine" -p "$port" -b 127.0.0.1 -t "$THREADS" -w "$WORKERS" "$app" >"$log" 2>&1 &
    URL="ws://127.0.0.1:$port/"
  else
    "$WORK/wsbench" hub -addr "127.0.0.1:$port" >"$log" 2>&1 &
    URL="ws://127.0.0.1:$port/"
    [ "$name" = hub-echo ] && URL="ws://127.0.0.1:$port/echo"
  fi
  SERVER_PID=$!
}

# run_case CASE: runs wsbench for a started server; its output goes to
# $WORK/out; returns non-zero when wsbench failed.
run_case() {
  local name="$1" limit
  limit=$(( $(seconds "$DURATION") + $(seconds "$WARMUP") + 120 ))
  case "$name" in
    *-echo)
      timeout "$limit" "$WORK/wsbench" echo -url "$URL" -conns "$ECHO_CONNS" \
        -duration "$DURATION" -warmup "$WARMUP" -size "$SIZE" >"$WORK/out" 2>&1 ;;
    *-broadcast)
      timeout "$limit" "$WORK/wsbench" broadcast -url "$URL" -clients "$BC_CLIENTS" \
        -publishers "$BC_PUBLISHERS" -window "$BC_WINDOW" -rate "$BC_RATE" -duration "$DURATION" \
        -warmup "$WARMUP" -size "$SIZE" >"$WORK/out" 2>&1 ;;
    *-idle)
      timeout 300 "$WORK/wsbench" idle -url "$URL" -conns "$IDLE_CONNS" -pid "$SERVER_PID" \
        -hold "$IDLE_HOLD" >"$WORK/out" 2>&1 ;;
  esac
}

# field KEY: the value of KEY= on wsbench's RESULT line
field() {
  awk -v k="$1" '/^RESULT / { for (i = 2; i <= NF; i++) { split($i, a, "="); if (a[1] == k) print a[2] } }' "$WORK/out"
}

num() { local v; v="$(field "$1")"; echo "${v:-0}"; }

echo "building wsbench (bench/ws) ..."
(cd "$ROOT/bench/ws" && timeout 300 "$GO" build -o "$WORK/wsbench" .)

declare -A RESULTS CHECKS
echo "$(nproc) CPU(s); iodine -t $THREADS -w $WORKERS; ${DURATION} measured after ${WARMUP} warm-up; $ROUNDS round(s)"
echo "echo: $ECHO_CONNS conns; broadcast: $BC_CLIENTS clients, $BC_PUBLISHERS publishers x window $BC_WINDOW, rate $BC_RATE; idle: $IDLE_CONNS conns held $IDLE_HOLD; $SIZE-byte messages"
for round in $(seq 1 "$ROUNDS"); do
  for name in $CASES; do
    port="$(free_port)"
    : >"$WORK/check.out"
    if ! start_server "$name" "$port"; then continue; fi
    if ! wait_port "$port" || ! timeout 15 "$WORK/wsbench" check -url "$URL" >"$WORK/check.out" 2>&1; then
      echo "bench: $name did not start or did not answer a WebSocket message:" >&2
      sed 's/^/  check: /' "$WORK/check.out" >&2 2>/dev/null || true
      echo "  its log:" >&2
      sed 's/^/  | /' "$WORK/$name.log" >&2
      stop_server
      RESULTS[$name]="${RESULTS[$name]:-} fail"
      continue
    fi
    if ! run_case "$name"; then
      echo "bench: wsbench failed for $name:" >&2
      sed 's/^/  | /' "$WORK/out" >&2
      stop_server
      RESULTS[$name]="${RESULTS[$name]:-} fail"
      continue
    fi
    stop_server
    sed 's/^/    /' "$WORK/out" | grep -v '^    RESULT'
    case "$name" in
      *-echo)
        v="$(field rtps)"
        CHECKS[$name]="p50 $(field p50_us)us p99 $(field p99_us)us wrong $(field wrong) failed $(field failed)" ;;
      *-broadcast)
        v="$(field dps)"
        # lost / out-of-order / duplicates add up over the rounds
        read -r l o d _ <<<"${CHECKS[$name]:-0 0 0}"
        l=$((l + $(num lost))) o=$((o + $(num ooo))) d=$((d + $(num dup)))
        CHECKS[$name]="$l $o $d latency p50 $(field p50_us)us p99 $(field p99_us)us" ;;
      *-idle)
        v="$(field kb_per_conn)"
        CHECKS[$name]="pong $(field alive)/$(field sampled), RSS $(field rss_before_kb) -> $(field rss_after_kb) KB" ;;
    esac
    RESULTS[$name]="${RESULTS[$name]:-} ${v:-fail}"
    printf "  round %d  %-17s %12s\n" "$round" "$name" "${v:-fail}"
  done
done

# median, best (highest) and lowest of a list of numbers; "fail" entries are skipped
nums() { tr ' ' '\n' | grep -E '^-?[0-9.]+$' || true; }
median() { nums | sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
best() { nums | sort -g | tail -1 | grep . || echo -; }
lowest() { nums | sort -g | head -1 | grep . || echo -; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "-" && b != "-" && b > 0) printf "%.2f", a / b; else print "n/a" }'; }

declare -A MEDIAN BEST
echo
printf "%-17s | %-9s | %-30s | %10s | %10s | %s\n" "case" "unit" "runs" "median" "best" "checks"
printf -- "------------------+-----------+--------------------------------+------------+------------+-------------------------\n"
for name in $CASES; do
  runs="${RESULTS[$name]:-}"
  MEDIAN[$name]="$(echo "$runs" | median)"
  case "$name" in
    *-echo) unit="rt/s"; BEST[$name]="$(echo "$runs" | best)"; checks="${CHECKS[$name]:-} (last run)" ;;
    *-broadcast)
      unit="deliv/s"; BEST[$name]="$(echo "$runs" | best)"
      read -r l o d lat <<<"${CHECKS[$name]:-- - -}"
      checks="lost $l, out-of-order $o, dup $d (all runs); ${lat:-} (last run)" ;;
    *-idle) unit="KB/conn"; BEST[$name]="$(echo "$runs" | lowest)"; checks="${CHECKS[$name]:-} (last run)" ;;
  esac
  printf "%-17s | %-9s | %-30s | %10s | %10s | %s\n" "$name" "$unit" "${runs# }" "${MEDIAN[$name]}" "${BEST[$name]}" "$checks"
done

echo
has() { [ -n "${MEDIAN[$1]:-}" ] && [ "${MEDIAN[$1]}" != "-" ]; }
if has iodine-echo && has hub-echo; then
  printf "iodine echo / hub echo           : %s (median)  %s (best)\n" \
    "$(ratio "${MEDIAN[iodine-echo]}" "${MEDIAN[hub-echo]}")" "$(ratio "${BEST[iodine-echo]}" "${BEST[hub-echo]}")"
fi
if has iodine-broadcast && has hub-broadcast; then
  printf "iodine broadcast / hub broadcast : %s (median)  %s (best)\n" \
    "$(ratio "${MEDIAN[iodine-broadcast]}" "${MEDIAN[hub-broadcast]}")" "$(ratio "${BEST[iodine-broadcast]}" "${BEST[hub-broadcast]}")"
fi
if has iodine-broadcast; then
  read -r l o d _ <<<"${CHECKS[iodine-broadcast]}"
  printf "iodine broadcast                 : %s deliveries/s (median), lost %s, out-of-order %s, dup %s   target >= 600000, none lost or reordered\n" \
    "${MEDIAN[iodine-broadcast]}" "$l" "$o" "$d"
fi
if has iodine-idle; then
  printf "iodine idle                      : %s KB per connection (median)   target <= 6\n" "${MEDIAN[iodine-idle]}"
fi
if has iodine-idle && has hub-idle; then
  printf "iodine idle / hub idle           : %s (median)\n" "$(ratio "${MEDIAN[iodine-idle]}" "${MEDIAN[hub-idle]}")"
fi
