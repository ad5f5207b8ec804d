#!/usr/bin/env python3
"""Start-to-ready time of a Lambda bootstrap, measured against a stand-in Lambda Runtime API.

Usage: lambda_start_time.py BOOTSTRAP EVENT_JSON [RUNS]

For each run: start the binary with AWS_LAMBDA_RUNTIME_API pointing at a local listener, note
when it first asks for work (GET .../runtime/invocation/next: the process is ready), hand it the
event, and note when it posts the response. Prints one JSON line with the medians in ms and the
status code of the function's answer. The environment of this script is passed on, so the caller
chooses the backend (LATCHKEY_BACKEND, AWS_*, ...).
"""

import http.server
import json
import os
import socketserver
import statistics
import subprocess
import sys
import threading
import time

bootstrap, event_path = sys.argv[1], sys.argv[2]
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
event = open(event_path, "rb").read()


class Runtime(http.server.BaseHTTPRequestHandler):
    state = {}

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.endswith("/runtime/invocation/next"):
            s = self.server.state
            if "ready" not in s:
                s["ready"] = time.perf_counter()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Lambda-Runtime-Aws-Request-Id", "8476a536-e9f4-11e8-9739-2dfe598c3fcd")
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 10_000))
                self.send_header(
                    "Lambda-Runtime-Invoked-Function-Arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:latchkey-measure",
                )
                self.send_header("Lambda-Runtime-Trace-Id", "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700")
                self.send_header("Content-Length", str(len(event)))
                self.end_headers()
                self.wfile.write(event)
            else:
                # Second poll: hold it until the measurement is over.
                s["done"].wait(5)
                self.send_response(500)
                self.end_headers()
        else:
            self.send_response(404)
            self.end_headers()

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        s = self.server.state
        if "/response" in self.path:
            s["answered"] = time.perf_counter()
            try:
                s["status"] = json.loads(body).get("statusCode")
            except ValueError:
                s["status"] = None
        else:
            s["error"] = body.decode(errors="replace")
            s["answered"] = time.perf_counter()
        self.send_response(202)
        self.end_headers()
        s["done"].set()


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


ready, answered, statuses = [], [], []
for _ in range(runs):
    server = Server(("127.0.0.1", 0), Runtime)
    server.state = {"done": threading.Event()}
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}",
               AWS_LAMBDA_FUNCTION_NAME="latchkey-measure", AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
               AWS_LAMBDA_FUNCTION_MEMORY_SIZE="512")
    start = time.perf_counter()
    process = subprocess.Popen([bootstrap], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    finished = server.state["done"].wait(10)
    process.kill()
    _, stderr = process.communicate()
    server.shutdown()
    s = server.state
    if not finished or "ready" not in s:
        sys.exit(f"{bootstrap} never became ready; its stderr:\n{stderr.decode(errors='replace')}")
    if "error" in s:
        sys.exit(f"{bootstrap} reported an error: {s['error']}")
    ready.append((s["ready"] - start) * 1000)
    answered.append((s["answered"] - start) * 1000)
    statuses.append(s.get("status"))

print(json.dumps({
    "runs": runs,
    "ready_ms_median": round(statistics.median(ready), 1),
    "ready_ms_max": round(max(ready), 1),
    "first_response_ms_median": round(statistics.median(answered), 1),
    "status": statuses[0],
}))
