#!/usr/bin/env bash
# Load test of the local server (embedded store) on loopback, in one run:
#   sign-in at c=1 and c=16, next to the measured time of one hash and the share of the limit
#     (the limit: one hash per core at a time, so cores x 1000/hash_ms req/s; 1000/hash_ms at c=1);
#   refresh at c=16, each connection rotating its own chain of refresh tokens;
#   GET /auth/validate and GET /users/auth/status (bearer) at c=16, and the ratio;
#   then a mixed phase (sign-up, sign-in, refresh chains, validate at once) and the server's peak
#   RSS (VmHWM) over the whole run (about 2 minutes with the defaults).
# Builds an optimized server (profile `load`), starts it on a free port with a throw-away data dir,
# and stops it. Traffic goes to 127.0.0.1 only. The machine's load average is printed first:
# figures taken while other work runs on the cores are low.
# Usage: scripts/load.sh [seconds per phase, default 10] [seconds of mixed load, default 60]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
mixed=${2:-60}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build -q --profile load -p latchkey-local --bin latchkey --example hash_time
target=${CARGO_TARGET_DIR:-target}
cores=$(nproc)
data=$(mktemp -d)
lua=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
echo "== machine: $cores cores, load average $(cut -d' ' -f1-3 /proc/loadavg) before the run"
hash_ms=$(RUST_LOG=error "$target/load/examples/hash_time" | sed -n 's/^hash_ms=//p')
# LATCHKEY_TRUST_PROXY: wrk plays the proxy, so each sign-up can come from its own address.
LATCHKEY_TRUST_PROXY=true LATCHKEY_LISTEN="127.0.0.1:$port" LATCHKEY_DATA_DIR="$data" RUST_LOG=warn \
  "$target/load/latchkey" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data" "$lua"' EXIT
for _ in $(seq 1 50); do curl -fs "$url/health" >/dev/null && break; sleep 0.1; done

password="correct horse battery staple 42"
auth() { # path, body -> the AuthResponse
  curl -fs -X POST "$url$1" -H 'content-type: application/json' -d "$2"
}
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
token=$(auth /auth/sign-up "{\"email\":\"load@example.com\",\"password\":\"$password\",\"name\":\"Load\"}" | field access_token)
# One refresh chain per connection of the refresh phases (and of the mixed phase).
for i in $(seq 1 32); do
  auth /auth/sign-in "{\"email\":\"load@example.com\",\"password\":\"$password\"}" | field refresh_token
done > "$lua/refresh-tokens"

# One account per connection (wrk thread): sign-in failures are counted before the hash (issue
# 17), so sixteen concurrent sign-ins of ONE account would trip its limit of 10 in flight.
for i in $(seq 1 16); do
  auth /auth/sign-up "{\"email\":\"load-$i@example.com\",\"password\":\"$password\",\"name\":\"Load $i\"}" > /dev/null
done
cat > "$lua/sign-in.lua" <<LUA
local next_id = 0
function setup(thread) next_id = next_id + 1; thread:set("id", next_id) end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
function request()
  return wrk.format(nil, nil, nil, '{"email":"load-' .. id .. '@example.com","password":"$password"}')
end
LUA
cat > "$lua/sign-up.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local counter = 0
local id = 0
function setup(thread) id = id + 1; thread:set("id", id) end
-- Each sign-up from its own client address (the server trusts one proxy hop's X-Forwarded-For
-- here): sign-ups are limited to 20 an hour per address.
function request()
  counter = counter + 1
  wrk.headers["X-Forwarded-For"] = string.format("10.%d.%d.%d", id, math.floor(counter / 256) % 256, counter % 256)
  return wrk.format(nil, nil, nil, string.format(
    '{"email":"mixed-%d-%d-%d@example.com","password":"$password"}', id, counter, os.time()))
end
LUA
# One thread per connection, so each thread's token is one connection's chain: each answer's
# refresh token is the next request's.
cat > "$lua/refresh.lua" <<LUA
local tokens = {}
for line in io.lines("$lua/refresh-tokens") do tokens[#tokens + 1] = line end
local next_chain = ${REFRESH_OFFSET:-0}
function setup(thread) next_chain = next_chain + 1; thread:set("token", tokens[next_chain]) end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
function request()
  return wrk.format(nil, nil, nil, '{"refresh_token":"' .. token .. '"}')
end
function response(status, headers, body)
  local rotated = body:match('"refresh_token":"([^"]+)"')
  if rotated then token = rotated end
end
function done(summary, latency, requests)
  io.write(string.format("non-2xx or errors: %d\n", summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA
sed 's/local next_chain = .*/local next_chain = 16/' "$lua/refresh.lua" > "$lua/refresh-mixed.lua"

rate() { sed -n 's/^Requests\/sec: *//p' | cut -d. -f1; }
run() { # name, wrk args... -> prints wrk's summary, remembers req/s in $last
  echo "== $1"
  shift
  out=$(wrk --latency "$@")
  echo "$out" | grep -E 'Latency |Non-2xx|Socket errors|non-2xx|Requests/sec|  99%' || true
  last=$(echo "$out" | rate)
}

run "POST /auth/sign-in, c=1, ${seconds}s" -t1 -c1 -d"${seconds}s" -s "$lua/sign-in.lua" "$url/auth/sign-in"
sign_in_1=$last
run "POST /auth/sign-in, c=16, ${seconds}s" -t16 -c16 -d"${seconds}s" -s "$lua/sign-in.lua" "$url/auth/sign-in"
sign_in_16=$last
run "POST /auth/refresh, c=16 chained, ${seconds}s" -t16 -c16 -d"${seconds}s" -s "$lua/refresh.lua" "$url/auth/refresh"
refresh_16=$last
run "GET /users/auth/status (bearer), c=16, ${seconds}s" -t2 -c16 -d"${seconds}s" -H "Authorization: Bearer $token" "$url/users/auth/status"
status_16=$last
run "GET /auth/validate (bearer), c=16, ${seconds}s" -t2 -c16 -d"${seconds}s" -H "Authorization: Bearer $token" "$url/auth/validate"
validate_16=$last

echo "== mixed, ${mixed}s: sign-up c=2, sign-in c=8, refresh c=8 chained, validate c=8"
wrk -t1 -c2 -d"${mixed}s" -s "$lua/sign-up.lua" "$url/auth/sign-up" > "$lua/mixed-sign-up" &
w1=$!
wrk -t8 -c8 -d"${mixed}s" -s "$lua/sign-in.lua" "$url/auth/sign-in" > "$lua/mixed-sign-in" &
w2=$!
wrk -t8 -c8 -d"${mixed}s" -s "$lua/refresh-mixed.lua" "$url/auth/refresh" > "$lua/mixed-refresh" &
w3=$!
wrk -t1 -c8 -d"${mixed}s" -H "Authorization: Bearer $token" "$url/auth/validate" > "$lua/mixed-validate" &
w4=$!
wait $w1 $w2 $w3 $w4
for phase in sign-up sign-in refresh validate; do
  echo "   $phase: $(rate < "$lua/mixed-$phase") req/s$(grep -h 'Non-2xx' "$lua/mixed-$phase" | sed 's/^ */, /')"
done
rss_peak=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$pid/status")
rss_now=$(awk '/VmRSS/ {print int($2/1024)}' "/proc/$pid/status")

python3 - "$hash_ms" "$cores" "$sign_in_1" "$sign_in_16" "$refresh_16" "$status_16" "$validate_16" "$rss_peak" "$rss_now" <<'PY'
import sys
hash_ms, cores = float(sys.argv[1]), int(sys.argv[2])
s1, s16, refresh, status, validate, peak, now = map(int, sys.argv[3:])
limit1, limit16 = 1000 / hash_ms, cores * 1000 / hash_ms
def verdict(ok): return "ok" if ok else "BELOW GOAL"
print()
print("| figure | measured | limit / goal | |")
print("|---|---|---|---|")
print(f"| one password hash (warm, alone) | {hash_ms:.1f} ms | | |")
print(f"| sign-in, c=1 | {s1} req/s | {100*s1/limit1:.0f}% of {limit1:.0f} (1 core / hash) | {verdict(s1 >= 0.9*limit1)} (>= 90%) |")
print(f"| sign-in, c=16 | {s16} req/s | {100*s16/limit16:.0f}% of {limit16:.0f} ({cores} cores / hash) | {verdict(s16 >= 0.9*limit16)} (>= 90%) |")
print(f"| refresh, c=16, chained tokens | {refresh} req/s | 1,000 req/s | {verdict(refresh >= 1000)} |")
print(f"| GET /users/auth/status, c=16 | {status} req/s | | |")
print(f"| GET /auth/validate, c=16 | {validate} req/s | {100*validate/status:.0f}% of status | {verdict(validate >= 0.75*status)} (>= 75%) |")
print(f"| server peak RSS (VmHWM) over the run | {peak} MiB ({now} MiB at the end) | 256 MiB | {verdict(peak < 256)} |")
PY
echo
echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
