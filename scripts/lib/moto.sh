# shellcheck shell=bash
# moto's server (EventBridge, EventBridge Scheduler, SQS) on a free loopback port, for the scripts
# that need it. Sourced from the repository's root, after `scripts/setup` has installed .venv:
#
#   source scripts/lib/moto.sh
#   trap stop_moto EXIT
#   start_moto                      # or: start_moto faketime -f '+365d'
#   ... MOTO_ENDPOINT_URL is exported ...
#   stop_moto
#
# start_moto runs the server through the command prefix given (none, or faketime), in a process
# group of its own so that stop_moto ends the prefix's children too, waits until it answers (at
# most MOTO_START_TIMEOUT seconds, 30 by default), exports MOTO_ENDPOINT_URL and records the
# server's pid in MOTO_PID. When the server ends or does not answer in time it prints the server's
# log and returns 1 (a script under `set -e` ends there). stop_moto stops it; it does nothing when
# no server runs, so it can be an EXIT trap and be called again.

MOTO_PID=
MOTO_LOG=

# A free loopback port, as the kernel hands out: bound once to port 0, then released for the server.
free_port() {
  .venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# shellcheck disable=SC2120 # the command prefix is optional
start_moto() {
  local port deadline
  stop_moto
  port=$(free_port)
  MOTO_LOG=$(mktemp "${TMPDIR:-/tmp}/moto.XXXXXX.log")
  # setsid: the server leads a process group of its own, which stop_moto ends as a whole (faketime
  # runs the server as its child and does not pass a signal on).
  setsid "$@" .venv/bin/moto_server -H 127.0.0.1 -p "$port" >"$MOTO_LOG" 2>&1 &
  MOTO_PID=$!
  deadline=$((SECONDS + ${MOTO_START_TIMEOUT:-30}))
  until .venv/bin/python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/', timeout=1)" 2>/dev/null; do
    if ! kill -0 "$MOTO_PID" 2>/dev/null; then
      echo "moto: the server ended before it answered on port $port; its log:" >&2
      cat "$MOTO_LOG" >&2
      stop_moto
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "moto: the server did not answer on port $port within ${MOTO_START_TIMEOUT:-30} s; its log:" >&2
      cat "$MOTO_LOG" >&2
      stop_moto
      return 1
    fi
    sleep 0.2
  done
  export MOTO_ENDPOINT_URL="http://127.0.0.1:$port"
}

stop_moto() {
  if [ -n "$MOTO_PID" ]; then
    kill -- "-$MOTO_PID" 2>/dev/null || kill "$MOTO_PID" 2>/dev/null || true
    wait "$MOTO_PID" 2>/dev/null || true
    MOTO_PID=
  fi
  if [ -n "$MOTO_LOG" ]; then
    rm -f "$MOTO_LOG"
    MOTO_LOG=
  fi
  unset MOTO_ENDPOINT_URL
}
