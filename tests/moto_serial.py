"""Starts the moto server (same arguments as `moto_server`) handling one request at a time.

Real DynamoDB applies each item operation atomically. moto's threaded server takes no lock, so
concurrent `ADD`s lose updates and two conditional deletes can both win inside the emulator, which
would make the storage conformance suite's concurrency tests fail for the emulator's sake.
Serializing requests gives the emulator DynamoDB's per-request atomicity; connections are still
accepted on many threads.
"""

import threading

import moto.server as server

_one_at_a_time = threading.Lock()
_run_simple = server.run_simple


def _serialized_run_simple(host, port, app, **options):
    def serialized_app(environ, start_response):
        with _one_at_a_time:
            # Read the whole body inside the lock: moto builds responses eagerly anyway.
            return list(app(environ, start_response))

    return _run_simple(host, port, serialized_app, **options)


server.run_simple = _serialized_run_simple

if __name__ == "__main__":
    server.main()
