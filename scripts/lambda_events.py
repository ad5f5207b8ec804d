"""Send every event in events/<group>/ to its function under `cargo lambda watch` and compare the
answer with events/<group>/expectations.json. Run by scripts/lambda-events.sh, which starts moto
and one `cargo lambda watch` per function; standard library only.

    python scripts/lambda_events.py <latchkey binary> <moto url> '<{"function": port}>'

Each event runs on fresh state, as tests/api/lambda_events.rs runs it on a fresh embedded store:
moto is reset and `latchkey dev-aws` makes the table, KMS key and SES identity again, then the
events of its `after` list are sent, then the event (a function process outlives the reset and
keeps its signing key: tokens it signs after one are unknown to other functions; no HTTP event
depends on that, as their credentials are fixed strings). The authorizer's events (no expectations
file: their answer is an authorizer response, not HTTP) are sent twice: as filed, with the
`CREDENTIAL` placeholder (denied), and with a real credential in its place (allowed): an access
token from accounts/sign-up, or for the `X-API-Key` event an API key made with it; these run
first, on one state. Prints a table; exits 1 when an event gets no answer or another status than
expected.
"""

import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
INVOKE_TIMEOUT = 240  # the first invocation of a function starts it (`cargo run`)


def reset(moto_url, latchkey):
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST"), timeout=30)
    subprocess.run([latchkey, "dev-aws"], check=True, capture_output=True, timeout=60)


def invoke(ports, function, event_path):
    """(answer, raw): answer is the HTTP status, `allow`/`deny` for an authorizer response,
    the error message of a function error, or None when nothing answered."""
    command = ["cargo", "lambda", "invoke", "-A", "127.0.0.1", "-P", str(ports[function]),
               function, "--data-file", str(event_path)]
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=INVOKE_TIMEOUT)
    except subprocess.TimeoutExpired:
        return None, f"no answer within {INVOKE_TIMEOUT} s"
    out = run.stdout.strip()
    if run.returncode != 0:
        # A function error (the authorizer's `Unauthorized`) comes back as the invoke's error.
        text = run.stderr + run.stdout
        if "Unauthorized" in text:
            return "Unauthorized", text
        return None, text.strip()[-400:]
    try:
        answer = json.loads(out)
    except json.JSONDecodeError:
        return None, out[-400:]
    if isinstance(answer, dict) and "statusCode" in answer:
        return answer["statusCode"], answer
    if isinstance(answer, dict) and "isAuthorized" in answer:
        return ("allow" if answer["isAuthorized"] else "deny"), answer
    if isinstance(answer, dict) and "policyDocument" in answer:
        effects = {s.get("Effect") for s in answer["policyDocument"].get("Statement", [])}
        return ("allow" if "Allow" in effects else "deny"), answer
    return None, out[-400:]


def invoke_text(ports, function, text):
    """Invoke with an event given as text (an event file with a real credential in it)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as event:
        event.write(text)
    try:
        return invoke(ports, function, event.name)
    finally:
        os.unlink(event.name)


def body_of(raw):
    try:
        return json.loads(raw.get("body") or "null")
    except (AttributeError, json.JSONDecodeError):
        return None


def explain(answered, expected, raw, note):
    if answered is None:
        return f"NO ANSWER: {raw}"
    if answered != expected:
        return f"differs: {str(raw)[:300]}"
    return note


def main():
    latchkey, moto_url, ports = sys.argv[1:4]
    ports = json.loads(ports)
    rows = []  # (event, answered, expected, note)

    def send(name):
        group, _ = name.split("/", 1)
        return invoke(ports, group, EVENTS / name)

    def send_after(name, expectations, seen):
        for earlier in expectations[name].get("after", []):
            if earlier not in seen:
                send_after(earlier, expectations, seen)
                seen.add(earlier)
                send(earlier)

    expectations = {}
    for path in sorted(EVENTS.glob("*/expectations.json")):
        for file, expectation in json.loads(path.read_text()).items():
            expectations[f"{path.parent.name}/{file}"] = expectation

    # First, on one state: a function keeps the signing key it has read or made, so after a reset
    # the accounts function signs with a key the new table (and so the authorizer) does not know.
    reset(moto_url, latchkey)
    signed_up, raw = send("accounts/sign-up.json")
    token = (body_of(raw) or {}).get("access_token") if isinstance(raw, dict) else None
    for path in sorted((EVENTS / "authorizer").glob("*.json")):
        name = f"authorizer/{path.name}"
        denied = "Unauthorized" if path.name.startswith("rest-") else "deny"
        answered, raw = send(name)
        rows.append((f"{name} (as filed: CREDENTIAL)", answered, denied,
                     explain(answered, denied, raw, "the placeholder is no credential")))
        if not token:
            rows.append((f"{name} (an access token)", None, "allow", f"sign-up gave no token: {signed_up} {raw}"))
            continue
        # The REST REQUEST event sends `X-API-Key`: an API key made with that access token.
        what, credential = "an access token from accounts/sign-up", token
        if '"x-api-key": "CREDENTIAL"' in path.read_text():
            # The filed event asks for a read-only key, which may not POST: the default scopes.
            create = json.loads((EVENTS / "api-keys/create-api-key.json").read_text())
            create["headers"]["authorization"] = f"Bearer {token}"
            create["body"] = json.dumps({"name": "lambda-events"})
            made, raw = invoke_text(ports, "api-keys", json.dumps(create))
            credential = (body_of(raw) or {}).get("apiKey", "") if isinstance(raw, dict) else ""
            what = "an API key made with that token (default scopes)"
            if not credential:
                rows.append((f"{name} (an API key)", None, "allow", f"no API key made: {made} {str(raw)[:300]}"))
                continue
        answered, raw = invoke_text(ports, "authorizer", path.read_text().replace("CREDENTIAL", credential))
        rows.append((f"{name} (CREDENTIAL = {what})", answered, "allow", explain(answered, "allow", raw, "")))

    for name, expectation in expectations.items():
        reset(moto_url, latchkey)
        send_after(name, expectations, set())
        answered, raw = send(name)
        expected = expectation["status"]
        text = (EVENTS / name).read_text()
        note = expectation.get("note", "")
        if name == "passkeys/demo.json":
            note = "LATCHKEY_DEMO_PAGES=true set for the watches (on Lambda the default is false: 404)"
        elif answered == expected and expected in (400, 401) and any(
            marker in text for marker in ("Bearer ", "token", "code")
        ):
            note = note or "a fixed token or code in the event, not one we issued: refused, as in the in-process test"
        elif answered != expected:
            body = body_of(raw)
            error = body.get("error") if isinstance(body, dict) else None
            note = f"differs: {error or body}"
        note = explain(answered, expected, raw, note) if answered is None else note
        rows.append((name, answered, expectation["status"], note))

    width = max(len(r[0]) for r in rows)
    print(f"{'event':<{width}}  {'answered':<12}  {'expected':<12}  note")
    failed = 0
    for event, answered, expected, note in rows:
        ok = answered == expected
        failed += not ok
        mark = "" if ok else "  <-- MISMATCH"
        print(f"{event:<{width}}  {str(answered):<12}  {str(expected):<12}  {note}{mark}")
    matched = len(rows) - failed
    print(f"\n{len(rows)} invocations ({len(expectations)} HTTP events, "
          f"{len(list((EVENTS / 'authorizer').glob('*.json')))} authorizer events twice): "
          f"{matched} answered as expected, {failed} did not")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
