#!/usr/bin/env bash
# The one test command: installs what the tests need into a virtualenv, starts the local AWS
# emulator (moto server: DynamoDB, KMS, SES), runs `cargo test --workspace` against it, and stops
# the emulator whatever happens. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
venv=${LATCHKEY_VENV:-$root/.venv}
logs=${CARGO_TARGET_DIR:-$root/target}/test-logs
mkdir -p "$logs"

step() { printf '\n==> %s\n' "$*"; }

step "Python tools into $venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
stamp="$venv/.requirements.sha"
want=$(sha256sum tests/requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  "$venv/bin/pip" install --disable-pip-version-check -q -r tests/requirements.txt
  echo "$want" > "$stamp"
fi

step "Starting the AWS emulator (moto server)"
port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# One request at a time, as DynamoDB applies each atomically: see tests/moto_serial.py.
"$venv/bin/python" tests/moto_serial.py -H 127.0.0.1 -p "$port" > "$logs/moto.log" 2>&1 &
moto_pid=$!
cleanup() { kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true; }
trap cleanup EXIT INT TERM
for _ in $(seq 1 100); do
  if "$venv/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/data.json', timeout=1)" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$moto_pid" 2>/dev/null; then
    echo "moto server exited; its log:" >&2; cat "$logs/moto.log" >&2; exit 1
  fi
  sleep 0.2
done
echo "moto server on http://127.0.0.1:$port (log: $logs/moto.log)"

export LATCHKEY_TEST_AWS_ENDPOINT="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
# Tests that check our output with an independent implementation (PyJWT) run this Python.
export LATCHKEY_TEST_PYTHON="$venv/bin/python"

step "cargo test --workspace"
cargo test --workspace "$@"
