#!/usr/bin/env bash
# Measures what one Redis shard (one redis-server, one core) does per second
# for the chat's per-message work, with redis-benchmark: the append script
# (EVALSHA of the store's existence check + RPUSH, a 100-byte message) and
# SPUBLISH of a 220-byte frame (an envelope of such a message) to 0 and to 3
# subscribers (3 nodes serving the room). Inputs of docs/scaling.md.
#
#   bench/redis-shard.sh [samples]     # default 3 samples, 45 s apart
#   PIPELINE=1 bench/redis-shard.sh    # one command per round trip, as the
#                                      # gateway sends them (default 16)
#
# The server runs pinned to core 1 on PORT (default 17201, must be free),
# with no persistence, and is shut down at the end; the clients run on
# core 0. The load average is printed with each sample: on a shared machine
# the figures move with it.
set -euo pipefail
PORT="${PORT:-17201}"
samples="${1:-3}"
PIPELINE="${PIPELINE:-16}"
dir="$(mktemp -d)"
trap 'redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
if redis-cli -p "$PORT" ping >/dev/null 2>&1; then
  echo "redis-shard.sh: port $PORT is taken; set PORT" >&2
  exit 2
fi
taskset -c 1 redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no \
  --daemonize yes --logfile "$dir/redis.log" --dir "$dir"
for _ in $(seq 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done

frame="$(printf 'x%.0s' $(seq 220))"
# No commas in the message: redis-benchmark's CSV quotes the command line,
# and the rate is read as its second comma-separated field.
message="{\"username\":\"u1\" \"content\":\"$(printf 'x%.0s' $(seq 100))\" \"createdAt\":\"2026-12-02T05:00:00.000Z\"}"
script="if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end return redis.call('RPUSH', KEYS[2], ARGV[1])"
redis-cli -p "$PORT" hset 'chat:{bench}:room' creator bob >/dev/null
sha="$(redis-cli -p "$PORT" script load "$script")"
# rate prints requests/s and the share of its core redis-server used
# meanwhile: below ~0.9 the client side or the machine, not Redis, was the
# limit.
cpu() { redis-cli -p "$PORT" info cpu | awk -F: '/^used_cpu_(sys|user):/ {t += $2} END {printf "%.3f", t}'; }
rate() {
  local c0 t0 r c1 t1
  c0="$(cpu)"; t0="$(date +%s.%N)"
  r="$(taskset -c 0 redis-benchmark -p "$PORT" -n "$1" -c 50 -P "$PIPELINE" --csv "${@:2}" 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"')"
  c1="$(cpu)"; t1="$(date +%s.%N)"
  echo "$r/s, redis-server at $(awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" 'BEGIN {printf "%.2f", (c1 - c0) / (t1 - t0)}') of its core"
}

for i in $(seq "$samples"); do
  [ "$i" -gt 1 ] && sleep 45
  echo "sample $i, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "  append (EVALSHA, 50 clients, pipeline $PIPELINE): $(rate 200000 EVALSHA "$sha" 2 'chat:{bench}:room' 'chat:{bench}:messages' "$message")"
  redis-cli -p "$PORT" del 'chat:{bench}:messages' >/dev/null
  echo "  SPUBLISH, no subscriber:                   $(rate 300000 SPUBLISH 'chat:events:{bench}' "$frame")"
  pids=()
  for _ in 1 2 3; do
    taskset -c 0 redis-cli -p "$PORT" ssubscribe 'chat:events:{bench}' >/dev/null &
    pids+=($!)
  done
  for _ in $(seq 50); do
    [ "$(redis-cli -p "$PORT" pubsub shardnumsub 'chat:events:{bench}' | tail -1)" = 3 ] && break
    sleep 0.1
  done
  # A subscriber too slow for its output buffer limit is disconnected,
  # which would make the rate look better: say how many were left.
  echo "  SPUBLISH to 3 subscribers:                 $(rate 300000 SPUBLISH 'chat:events:{bench}' "$frame") ($(redis-cli -p "$PORT" pubsub shardnumsub 'chat:events:{bench}' | tail -1) still subscribed)"
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
done
