# bench/lib.sh: what the benchmark scripts share (sourced, not run).
# They keep the pid of the server under test in SERVER_PID.

# whole seconds from a duration such as 5s, 1.5s, 1m, 500ms (rounded up)
seconds() {
  local d="$1"
  case "$d" in
    *ms) echo 1 ;;
    *m) echo $(( ${d%m} * 60 )) ;;
    *s) echo "${d%s}" | awk '{ printf "%d", ($1 == int($1)) ? $1 : int($1) + 1 }' ;;
    *) echo "$d" ;;
  esac
}

# a free port on 127.0.0.1, from binding port 0
free_port() {
  ruby -rsocket -e 's = TCPServer.new("127.0.0.1", 0); print s.addr[1]; s.close'
}

# wait_port PORT: up to 15 s for the port to accept, while the server lives.
wait_port() {
  local port="$1" i
  for i in $(seq 1 150); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then return 1; fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

# stop_server: TERM, up to 10 s, then KILL; only the pid we started.
stop_server() {
  local pid="$SERVER_PID" i
  [ -n "$pid" ] || return 0
  SERVER_PID=""
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "bench: pid $pid ignored TERM; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}
