#!/usr/bin/env bash
# Runs every event in events/<group>/ through its Lambda function with cargo-lambda, against the
# AWS emulator, and prints a table: event -> status answered vs expected (expectations.json).
# Fails (exit 1) when an event gets no answer or another status than expected.
#
# Starts moto on a free loopback port (as tests/run.sh does), makes the table, KMS key and SES
# identity with `latchkey dev-aws`, builds the functions (as Lambda builds them: without the
# embedded store), starts one `cargo lambda watch -p <package> -P <port>` per function, and
# sends each event with `cargo lambda invoke` (scripts/lambda_events.py). Stops everything it
# started on exit, also on failure. Not part of tests/run.sh: the functions build with another
# feature set than the test binary, which would double the suite's build.
#
# Environment: LATCHKEY_VENV (moto; cargo-lambda goes into "$LATCHKEY_VENV-sam"), CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
venv=${LATCHKEY_VENV:-$root/.venv}
tools_venv="$venv-sam"
target=${CARGO_TARGET_DIR:-$root/target}
if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
if ! "$venv/bin/python" -c 'import moto' 2>/dev/null; then
  "$venv/bin/pip" install --disable-pip-version-check -q -r tests/requirements.txt
fi
# shellcheck source=scripts/cargo-lambda-env.sh
. scripts/cargo-lambda-env.sh

# Every function crate but the local server: its package, and its binary (= its events folder).
packages=()
functions=()
for manifest in functions/*/Cargo.toml; do
  package=$(sed -n 's/^name = "\(.*\)"/\1/p' "$manifest" | head -1)
  [ "$package" = latchkey-local ] && continue
  packages+=("$package")
  functions+=("$(sed -n '/^\[\[bin\]\]/,/^name/s/^name = "\(.*\)"/\1/p' "$manifest")")
done
echo "building the local server (for dev-aws) and ${#functions[@]} functions" >&2
cargo build -q -p latchkey-local
# One at a time, as `cargo run -p <package>` under the watch builds it (features are unified per
# build: together they would build the shared crate differently), so the first invocation of a
# function does not wait for a build.
for package in "${packages[@]}"; do cargo build -q -p "$package"; done

free_port() { "$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
logs=$(mktemp -d)
pids=()
cleanup() {
  # Each watch runs in its own process group (setsid): end it with the function it started.
  for pid in "${pids[@]}"; do kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$logs"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

moto_port=$(free_port)
setsid "$venv/bin/python" tests/moto_serial.py -H 127.0.0.1 -p "$moto_port" > "$logs/moto.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  if "$venv/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$moto_port/moto-api/data.json', timeout=1)" 2>/dev/null; then break; fi
  kill -0 "${pids[0]}" 2>/dev/null || { cat "$logs/moto.log" >&2; exit 1; }
  sleep 0.2
done
export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port"
eval "$("$target/debug/latchkey" dev-aws)"
# As template.yaml sets it for every function: a REST (v1) event's stage is not in the path.
export AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH=true
# The expectations are the in-process test's, whose configuration serves the passkey demo page;
# on Lambda it is off by default (events/passkeys/demo.json would answer 404).
export LATCHKEY_DEMO_PAGES=true

ports="{"
for i in "${!functions[@]}"; do
  function=${functions[$i]}
  package=${packages[$i]}
  port=$(free_port)
  setsid cargo lambda watch -q -p "$package" -A 127.0.0.1 -P "$port" > "$logs/watch-$function.log" 2>&1 &
  pids+=($!)
  ports+="\"$function\": $port,"
done
ports="${ports%,}}"
sleep 2
status=0
"$venv/bin/python" scripts/lambda_events.py "$target/debug/latchkey" "$AWS_ENDPOINT_URL" "$ports" || status=$?
if [ "$status" != 0 ]; then
  echo "the watch logs' last lines:" >&2
  for log in "$logs"/watch-*.log; do echo "== $log" >&2; tail -5 "$log" >&2; done
fi
exit "$status"
