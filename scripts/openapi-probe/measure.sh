#!/usr/bin/env bash
# What an OpenAPI generator costs a Lambda function: the probe's ten routes built in release (the
# workspace's size-tuned profile) as plain axum, with utoipa + utoipa-axum, and with aide +
# schemars. Prints each binary's size and zipped size and the CPU seconds (user + sys, which
# load from other processes disturbs far less than wall time) of building it once the shared
# dependencies (axum, tokio, lambda_http, serde) are built: the generator's crates, the probe and
# the LTO link. Plain axum's figure is the link-only baseline.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/target-openapi-probe}
cargo build --release --quiet   # the shared dependencies, not measured
echo "| variant | binary | zipped | build CPU (s) | build wall (s) |"
echo "|---|---|---|---|---|"
for variant in plain utoipa aide; do
  features=()
  [ "$variant" = plain ] || features=(--features "$variant")
  # Each variant from its own clean state of the generator's crates: remove what an earlier run
  # of this variant built, then time the build.
  cargo clean --release --quiet -p openapi-probe
  for crate in utoipa utoipa-gen utoipa-axum aide aide-macros schemars schemars_derive serde_derive_internals; do
    cargo clean --release --quiet -p "$crate" 2>/dev/null || true
  done
  times=$( { /usr/bin/time -f "%U %S %e" cargo build --release --quiet "${features[@]}" >/dev/null; } 2>&1 | tail -1)
  read -r user sys wall <<<"$times"
  bin="$CARGO_TARGET_DIR/release/openapi-probe"
  zipped=$(python3 -c 'import sys,zlib; print(len(zlib.compress(open(sys.argv[1],"rb").read(), 9)))' "$bin")
  printf '| %s | %s KiB | %s KiB | %.0f | %.0f |\n' "$variant" $(( $(stat -c %s "$bin") / 1024 )) $(( zipped / 1024 )) \
    "$(echo "$user + $sys" | bc)" "$wall"
done
echo
echo "$(nproc) cores, $(rustc --version); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
