#!/usr/bin/env bash
# Builds every Lambda function for x86-64 in release (cargo-lambda, as `sam build` does), zips
# each bootstrap as a deployment package, and reports the zipped size against the 5 MB budget and
# the process start-to-ready time against a stand-in Lambda Runtime API
# (scripts/lambda_start_time.py). Slow (release, LTO): not part of tests/run.sh.
# Writes a Markdown table to stdout; docs/measurements.md holds the last recorded run.
#
# Environment: LATCHKEY_VENV (cargo-lambda is installed into "$LATCHKEY_VENV-sam"),
# CARGO_TARGET_DIR, RUNS (start-time runs per function, default 5), SKIP_BUILD (set: measure the
# bootstraps already built, e.g. again on a quieter machine).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
venv=${LATCHKEY_VENV:-$root/.venv}
tools_venv="$venv-sam"
target=${CARGO_TARGET_DIR:-$root/target}
runs=${RUNS:-5}
budget=$((5 * 1024 * 1024))
# shellcheck source=scripts/cargo-lambda-env.sh
. scripts/cargo-lambda-env.sh

# Every function crate but the local server: its package and binary names.
bins=()
packages=()
for manifest in functions/*/Cargo.toml; do
  [ "$(basename "$(dirname "$manifest")")" = local ] && continue
  packages+=("$(awk '/^\[package\]/{p=1} p && /^name *=/{gsub(/"/, "", $3); print $3; exit}' "$manifest")")
  bins+=("$(awk '/^\[\[bin\]\]/{b=1} b && /^name *=/{gsub(/"/, "", $3); print $3; exit}' "$manifest")")
done

# One function at a time, as `sam build` builds each from its own CodeUri: cargo resolves the
# shared crate's features per package then, so the inboxes function's `inbox-check` (IMAP and
# SMTP clients) is not unified into every other one, as one `--workspace` build would do.
build_secs=
if [ -z "${SKIP_BUILD:-}" ]; then
  build_start=$(date +%s)
  for i in "${!bins[@]}"; do
    echo "building ${bins[$i]} (release, x86-64)..." >&2
    cargo lambda build --release --x86-64 -p "${packages[$i]}" --bin "${bins[$i]}" >&2
  done
  build_secs=$(( $(date +%s) - build_start ))
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "| function | bootstrap | zipped | budget (5 MB) | start to ready (median / max of $runs) | first response |"
echo "|---|---|---|---|---|---|"
for bin in "${bins[@]}"; do
  bootstrap="$target/lambda/$bin/bootstrap"
  zip="$work/$bin.zip"
  python3 - "$bootstrap" "$zip" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[2], "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    info = zipfile.ZipInfo("bootstrap")
    info.external_attr = 0o755 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    z.writestr(info, open(sys.argv[1], "rb").read())
PY
  raw=$(stat -c %s "$bootstrap")
  zipped=$(stat -c %s "$zip")
  verdict=ok; [ "$zipped" -lt "$budget" ] || verdict=OVER
  group=$bin
  event=events/$group/health.json
  if [ ! -f "$event" ]; then
    # The group's first event (expectations.json is the tests' table, not an event).
    event=$(find events/"$group" -name '*.json' ! -name expectations.json | sort | head -n 1)
  fi
  # The production configuration, with every AWS call pointed at a closed local port: start-up
  # must not wait on the network, and the first request shows what a cold invocation costs here.
  timing=$(env -i PATH="$PATH" HOME="$HOME" \
    LATCHKEY_BACKEND=aws LATCHKEY_TABLE=latchkey-measure LATCHKEY_CREATE_TABLE=false \
    LATCHKEY_KMS_KEY_ID=arn:aws:kms:us-east-1:123456789012:key/measure \
    LATCHKEY_MAIL_FROM="Latchkey <no-reply@example.com>" LATCHKEY_PUBLIC_URL=https://auth.example.com \
    AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH=true RUST_LOG=warn \
    AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=measure AWS_SECRET_ACCESS_KEY=measure \
    AWS_ENDPOINT_URL=http://127.0.0.1:9 AWS_EC2_METADATA_DISABLED=true \
    python3 scripts/lambda_start_time.py "$bootstrap" "$event" "$runs")
  read -r ready ready_max first status < <(python3 -c 'import json,sys; t=json.loads(sys.argv[1]); print(t["ready_ms_median"], t["ready_ms_max"], t["first_response_ms_median"], t["status"])' "$timing")
  printf '| %s | %s KiB | %s KiB | %s | %s ms / %s ms | %s ms (`%s` -> %s) |\n' \
    "$bin" $((raw / 1024)) $((zipped / 1024)) "$verdict" "$ready" "$ready_max" "$first" "$(basename "$event")" "$status"
done
echo
if [ -n "$build_secs" ]; then
  echo "Release builds of ${bins[*]}, one at a time: ${build_secs}s on $(nproc) cores ($(uname -m), $(rustc --version))."
fi
echo "Load average when measured: $(cut -d' ' -f1-3 /proc/loadavg)."
