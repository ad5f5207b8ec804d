"""Starts the moto server (same arguments as `moto_server`) handling one request at a time.

Real DynamoDB applies each item operation atomically. moto's threaded server takes no lock, so
concurrent `ADD`s lose updates and two conditional deletes can both win inside the emulator, which
would make the storage conformance suite's concurrency tests fail for the emulator's sake.
Serializing requests gives the emulator DynamoDB's per-request atomicity; connections are still
accepted on many threads.
"""

import json
import threading

import moto.server as server
from moto.ses.models import Message, ses_backends

_one_at_a_time = threading.Lock()
_run_simple = server.run_simple


# The tests read sent mail back often. moto's `/moto-api/data.json` serializes every backend's
# whole state (seconds once the suite has filled the tables) while holding the lock above, which
# stalls other tests past their AWS timeouts; this path answers only SES's sent messages, in the
# shape data.json gives them.
SES_MESSAGES_PATH = "/latchkey/ses-messages"


def _ses_messages():
    messages = []
    for regions in list(ses_backends.values()):
        for backend in list(regions.values()):
            for message in backend.sent_messages:
                if isinstance(message, Message):
                    messages.append(
                        {
                            "id": message.id,
                            "source": message.source,
                            "subject": message.subject,
                            "body": message.body,
                            "destinations": message.destinations,
                        }
                    )
    return json.dumps({"Message": messages}).encode()


def _serialized_run_simple(host, port, app, **options):
    def serialized_app(environ, start_response):
        if environ.get("PATH_INFO") == SES_MESSAGES_PATH:
            with _one_at_a_time:
                body = _ses_messages()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        with _one_at_a_time:
            # Read the whole body inside the lock: moto builds responses eagerly anyway.
            return list(app(environ, start_response))

    return _run_simple(host, port, serialized_app, **options)


server.run_simple = _serialized_run_simple

if __name__ == "__main__":
    server.main()
