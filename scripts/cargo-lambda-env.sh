# Sourced by the scripts that drive cargo-lambda (lambda-size.sh, lambda-events.sh): installs the
# pinned cargo-lambda into "$tools_venv" (the caller sets it: "$LATCHKEY_VENV-sam") when it is
# missing or another version, and puts it first on PATH.
cargo_lambda_version=1.9.2
if [ ! -x "$tools_venv/bin/python" ]; then python3 -m venv "$tools_venv"; fi
if ! "$tools_venv/bin/pip" show cargo-lambda 2>/dev/null | grep -qx "Version: $cargo_lambda_version"; then
  "$tools_venv/bin/pip" install --disable-pip-version-check -q "cargo-lambda==$cargo_lambda_version"
fi
export PATH="$tools_venv/bin:$PATH"
