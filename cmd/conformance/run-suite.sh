#!/usr/bin/env bash
# Run an official protocol conformance suite against a server that is ALREADY
# listening on http://localhost:3000 (`make conformance-server`; the suites
# hard-code that URL and pingInterval=300 / pingTimeout=200 / maxPayload=1e6).
# The suites are fetched separately and never committed: CONFORMANCE_DIR
# (default ./.conformance, git-ignored) holds engine.io-protocol/ and
# socket.io-protocol/ checkouts.
#
#   usage: cmd/conformance/run-suite.sh engine|socket [--browser-like-ws] [mocha args...]
#
#   engine -> $CONFORMANCE_DIR/engine.io-protocol/test-suite  (path /engine.io/, 24 tests)
#   socket -> $CONFORMANCE_DIR/socket.io-protocol/test-suite  (path /socket.io/, 32 tests)
#
#   --browser-like-ws  load shim/browser-like-ws.cjs: the Node `ws` client then
#                      spaces out WebSocket events that arrive in the same tick
#                      (one per macrotask, as browsers do). Without it the
#                      unmodified suites lose the second of two frames that
#                      arrive in one TCP read (it bites `40{"sid"}` +
#                      `42["auth",..]`), failing 1-5 socket tests at random even
#                      against the reference Node server. Recommended for socket.
#                      Test cases are unchanged either way.
#
# Extra args go to mocha, e.g. --grep "upgrade" or --reporter dot.
# Exit status is mocha's (number of failed tests; 0 = all passed).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
suites="${CONFORMANCE_DIR:-$here/../../.conformance}"
suite="${1:-}"
case "$suite" in
  engine) dir="$suites/engine.io-protocol/test-suite" ;;
  socket) dir="$suites/socket.io-protocol/test-suite" ;;
  *) echo "usage: $0 engine|socket [--browser-like-ws] [mocha args...]" >&2; exit 2 ;;
esac
shift

extra=()
if [ "${1:-}" = "--browser-like-ws" ]; then
  extra+=(--require "$here/browser-like-ws.cjs")
  shift
fi

# Fail fast with a clear message instead of dozens of ECONNREFUSED failures.
if ! (exec 3<>/dev/tcp/127.0.0.1/3000) 2>/dev/null; then
  echo "run.sh: nothing is listening on 127.0.0.1:3000; start the server first" >&2
  exit 3
fi

if [ ! -d "$dir/node_modules" ]; then
  (cd "$dir" && npm ci --no-audit --no-fund >/dev/null)
fi

cd "$dir"
# --exit: several tests leave their WebSocket open (the upgrade tests never
# close theirs); without it mocha hangs until the server drops them.
# The suites' own timeouts are kept: 2000 ms per test, 5000 ms for heartbeat.
exec ./node_modules/.bin/mocha --exit "${extra[@]}" "$@" test-suite.js
