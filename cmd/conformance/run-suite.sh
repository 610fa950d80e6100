#!/usr/bin/env bash
# Runs an official protocol conformance suite against a server that is
# ALREADY listening on localhost:3000 (`make conformance-server`; the suites
# hard-code that URL and pingInterval=300 / pingTimeout=200 / maxPayload=1e6).
# The suites are fetched separately and never committed: CONFORMANCE_DIR
# (default ./.conformance, git-ignored) holds engine.io-protocol/ and
# socket.io-protocol/ checkouts.
#
#   usage: cmd/conformance/run-suite.sh engine|socket [--browser] [--runs N]
#                                       [--ws-events async|sync] [mocha args...]
#
#   engine -> $CONFORMANCE_DIR/engine.io-protocol/test-suite  (path /engine.io/, 24 tests)
#   socket -> $CONFORMANCE_DIR/socket.io-protocol/test-suite  (path /socket.io/, 32 tests)
#
#   (default)  the suite's Node harness: mocha on test-suite.js, its `ws`
#              client replaced by ws@$WS_VERSION in the suite's node_modules
#              (never in its package.json or lockfile; the suites pin 8.5).
#   --ws-events async
#              ws's own allowSynchronousEvents: false (ws-async-events.cjs):
#              each WebSocket message in its own macrotask, as in browsers.
#              The default for socket, whose tests await frames one at a time.
#   --ws-events sync
#              ws's default: every frame of one TCP read emitted at once (the
#              suites' ws 8.5 behaviour). The default for engine: its test
#              "ignores HTTP requests with same sid after upgrade" never reads
#              the 3probe frame and relies on it being emitted, unheard,
#              before the test's poll resolves (README, Conformance).
#   --browser  the suite's own index.html in headless Debian chromium
#              (browser-suite.mjs, playwright-core from gateway/interop/node;
#              run `make setup` once). Mocha args and --ws-events do not apply.
#   --runs N   run N times in a row; prints each run's counts and a summary.
#
# Extra args go to mocha, e.g. --grep "upgrade" (the summary still counts
# against the whole suite's size).
# Exit status: 0 when every run passed all of the suite's tests, else 1; 2 for
# bad usage or a suite not fetched, 3 when nothing listens on port 3000.
set -euo pipefail

# ws 8.17 is the first release with allowSynchronousEvents for clients.
WS_VERSION=8.18.3

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
suites="${CONFORMANCE_DIR:-$here/../../.conformance}"
usage="usage: $0 engine|socket [--browser] [--runs N] [--ws-events async|sync] [mocha args...]"
suite="${1:-}"
case "$suite" in
  engine) dir="$suites/engine.io-protocol/test-suite"; want=24; ws_events=sync ;;
  socket) dir="$suites/socket.io-protocol/test-suite"; want=32; ws_events=async ;;
  *) echo "$usage" >&2; exit 2 ;;
esac
shift

browser=false
runs=1
while [ $# -gt 0 ]; do
  case "$1" in
    --browser) browser=true; shift ;;
    --runs)
      [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || { echo "$usage" >&2; exit 2; }
      runs="$2"; shift 2 ;;
    --ws-events)
      [[ "${2:-}" =~ ^(async|sync)$ ]] || { echo "$usage" >&2; exit 2; }
      ws_events="$2"; shift 2 ;;
    *) break ;;
  esac
done

suite_name="$(basename "$(dirname "$dir")")"
if [ ! -f "$dir/test-suite.js" ]; then
  echo "run-suite.sh: no suite in $dir: fetch socketio/$suite_name into $suites first (see README, Conformance)" >&2
  exit 2
fi
# Fail fast with a clear message instead of dozens of ECONNREFUSED failures.
if ! (exec 3<>/dev/tcp/127.0.0.1/3000) 2>/dev/null; then
  echo "run-suite.sh: nothing is listening on 127.0.0.1:3000; start the server first" >&2
  exit 3
fi

cd "$dir"
if [ ! -d node_modules ]; then
  npm ci --no-audit --no-fund >/dev/null
fi
have_ws="$(node -p 'require("./node_modules/ws/package.json").version' 2>/dev/null || true)"
if ! $browser && [ "$have_ws" != "$WS_VERSION" ]; then
  echo "run-suite.sh: installing ws@$WS_VERSION into $dir/node_modules (the suite pins ${have_ws:-none})" >&2
  npm install --no-save --no-package-lock --no-audit --no-fund "ws@$WS_VERSION" >/dev/null
fi

hook=()
[ "$ws_events" = async ] && hook=(--require "$here/ws-async-events.cjs")
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
mode="node, ws events $ws_events"
$browser && mode=chromium
clean=0
for ((i = 1; i <= runs; i++)); do
  status=0
  if $browser; then
    node "$here/browser-suite.mjs" "$dir" >"$out" 2>&1 || status=$?
  else
    # --exit: several tests leave their WebSocket open (the upgrade tests
    # never close theirs); without it mocha waits until the server drops
    # them. The suites' own timeouts are kept: 2000 ms per test, 5000 ms
    # for the heartbeat ones.
    ./node_modules/.bin/mocha --exit "${hook[@]}" "$@" test-suite.js >"$out" 2>&1 || status=$?
  fi
  passed="$(sed -n 's/^ *\([0-9][0-9]*\) passing.*/\1/p' "$out" | tail -n1)"
  failed="$(sed -n 's/^ *\([0-9][0-9]*\) failing.*/\1/p' "$out" | tail -n1)"
  passed="${passed:-0}" failed="${failed:-0}"
  if [ "$runs" -eq 1 ]; then
    cat "$out"
  elif [ "$status" -ne 0 ] || [ "$passed" -ne "$want" ]; then
    cat "$out" # the failures, in full
  fi
  echo "${suite_name} ($mode) run $i/$runs: $passed passed, $failed failed (of $want)"
  if [ "$status" -eq 0 ] && [ "$passed" -eq "$want" ] && [ "$failed" -eq 0 ]; then
    clean=$((clean + 1))
  fi
done
echo "${suite_name} ($mode): $want/$want in $clean of $runs runs"
[ "$clean" -eq "$runs" ]
