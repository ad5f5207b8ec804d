"""A fault-injection HTTP proxy in front of the AWS emulator, for the tests of what Latchkey does
when DynamoDB, KMS or SES hang or fail.

    python tests/fault_proxy.py --port PORT --upstream http://127.0.0.1:MOTO_PORT

The control port answers:
    GET    /health                  -> 200 once the proxy is up
    POST   /lanes                   -> {"port": N, "url": "http://127.0.0.1:N"}: a new lane, a port
                                       of its own that forwards everything to the upstream, so
                                       tests running at once do not see each other's faults
    PUT    /lanes/N/faults          <- {"rules": [{"target": "DynamoDB_20120810.", "action": "blackhole"}]}
    DELETE /lanes/N                 -> the lane stops

A rule matches a request whose `X-Amz-Target` header (DynamoDB `DynamoDB_20120810.GetItem`,
KMS `TrentService.Decrypt`) starts with `target`, or whose path starts with `path` (SES v2 is
REST: `/v2/email/outbound-emails`). Its `action`:
    blackhole  the request is read and never answered (the connection stays open, as behind a
               dropped route) until the rules change or `HOLD_SECONDS` pass
    fail       `500` with an AWS JSON error body (`InternalServerError`), at once
Requests no rule matches are forwarded unchanged. Standard library only.
"""

import argparse
import http.client
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# The longest a black-holed request is held: far beyond any client timeout under test, short
# enough that a forgotten lane does not pin threads for the whole test run.
HOLD_SECONDS = 60

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "content-length",
}


class Lane:
    def __init__(self, upstream):
        self.upstream = upstream
        self.rules = []
        self.changed = threading.Condition()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def set_rules(self, rules):
        with self.changed:
            self.rules = rules
            self.changed.notify_all()

    def close(self):
        self.set_rules([])
        self.server.shutdown()
        self.server.server_close()

    def action_for(self, target, path):
        for rule in self.rules:
            if "target" in rule and target.startswith(rule["target"]):
                return rule["action"]
            if "path" in rule and path.startswith(rule["path"]):
                return rule["action"]
        return None

    def _handler(self):
        lane = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # noqa: A002 - the base class's name
                pass

            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                target = self.headers.get("X-Amz-Target", "")
                action = lane.action_for(target, self.path)
                if action == "blackhole":
                    with lane.changed:
                        rules = lane.rules
                        lane.changed.wait_for(lambda: lane.rules is not rules, HOLD_SECONDS)
                    self.close_connection = True
                    return
                if action == "fail":
                    payload = json.dumps(
                        {
                            "__type": "InternalServerError",
                            "message": "injected by the fault proxy",
                        }
                    ).encode()
                    self.send_response(500)
                    self.send_header("Content-Type", "application/x-amz-json-1.0")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                self._forward(body)

            def _forward(self, body):
                upstream = urllib.parse.urlsplit(lane.upstream)
                connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                try:
                    connection.request(self.command, self.path, body=body, headers=headers)
                    answer = connection.getresponse()
                    payload = answer.read()
                except OSError as error:
                    self.send_error(502, f"upstream unreachable: {error}")
                    return
                finally:
                    connection.close()
                self.send_response(answer.status, answer.reason)
                for name, value in answer.getheaders():
                    if name.lower() not in HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _any

        return Handler


def control_handler(upstream):
    lanes = {}
    lock = threading.Lock()

    class Control(BaseHTTPRequestHandler):
        def log_message(self, format, *args):  # noqa: A002 - the base class's name
            pass

        def _answer(self, status, document):
            payload = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _lane(self):
            parts = self.path.strip("/").split("/")
            if len(parts) < 2 or parts[0] != "lanes" or not parts[1].isdigit():
                return None, parts
            with lock:
                return lanes.get(int(parts[1])), parts

        def do_GET(self):
            if self.path == "/health":
                self._answer(200, {"status": "ok", "lanes": len(lanes)})
            else:
                self._answer(404, {"error": "no such endpoint"})

        def do_POST(self):
            if self.path != "/lanes":
                return self._answer(404, {"error": "no such endpoint"})
            lane = Lane(upstream)
            with lock:
                lanes[lane.port] = lane
            self._answer(201, {"port": lane.port, "url": f"http://127.0.0.1:{lane.port}"})

        def do_PUT(self):
            lane, parts = self._lane()
            if lane is None or parts[2:] != ["faults"]:
                return self._answer(404, {"error": "no such lane"})
            length = int(self.headers.get("Content-Length") or 0)
            try:
                rules = json.loads(self.rfile.read(length) or b"{}").get("rules", [])
                if not all(r.get("action") in ("blackhole", "fail") for r in rules):
                    raise ValueError("action must be blackhole or fail")
            except ValueError as error:
                return self._answer(400, {"error": str(error)})
            lane.set_rules(rules)
            self._answer(200, {"rules": rules})

        def do_DELETE(self):
            lane, _ = self._lane()
            if lane is None:
                return self._answer(404, {"error": "no such lane"})
            with lock:
                lanes.pop(lane.port, None)
            lane.close()
            self._answer(200, {"closed": lane.port})

    return Control


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), control_handler(args.upstream))
    server.daemon_threads = True
    print(f"fault proxy control on http://{args.host}:{args.port}, upstream {args.upstream}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
