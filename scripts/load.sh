#!/usr/bin/env bash
# Load test of the local server on loopback: bearer-token validation and JWKS under wrk.
# Builds an optimized local server (profile `load`), starts it on a free port with a throw-away
# data dir, signs up one user, then runs wrk for a bounded time against:
#   GET /users/auth/status  (bearer-token validation: signature check + session liveness read)
#   GET /auth/validate      (the same, plus the user's workspaces: seed 004's answer)
#   GET /.well-known/jwks.json (the HTTP stack with no token and no table: the ceiling)
# and stops the server. Traffic goes to 127.0.0.1 only. Usage: scripts/load.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --profile load -p latchkey-local
target=${CARGO_TARGET_DIR:-target}
data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
LATCHKEY_LISTEN="127.0.0.1:$port" LATCHKEY_DATA_DIR="$data" RUST_LOG=warn "$target/load/latchkey" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 50); do curl -fs "$url/health" >/dev/null && break; sleep 0.1; done
token=$(curl -fs -X POST "$url/auth/sign-up" -H 'content-type: application/json' \
  -d '{"email":"load@example.com","password":"correct horse battery staple 42","name":"Load"}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
echo "== GET /users/auth/status (bearer), ${seconds}s, 2 threads, 64 connections"
wrk -t2 -c64 -d"${seconds}s" -H "Authorization: Bearer $token" "$url/users/auth/status"
echo "== GET /auth/validate (bearer), ${seconds}s, 2 threads, 64 connections"
wrk -t2 -c64 -d"${seconds}s" -H "Authorization: Bearer $token" "$url/auth/validate"
echo "== GET /.well-known/jwks.json, ${seconds}s, 2 threads, 64 connections"
wrk -t2 -c64 -d"${seconds}s" "$url/.well-known/jwks.json"
