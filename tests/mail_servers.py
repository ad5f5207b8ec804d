"""Real mail servers on loopback for the inbox tests (tests/api/inboxes.rs), started and stopped
by tests/run.sh.

- IMAP with STARTTLS: PyPI's pymap (in-memory `dict` backend), one account.
- IMAPS (TLS from the first byte): a TLS terminator in front of that pymap.
- SMTP with STARTTLS (required before AUTH) and SMTPS: PyPI's aiosmtpd, AUTH PLAIN/LOGIN
  against the same account.
- A "silent" port that accepts connections and never says a word: a server that hangs.

Every TLS port presents a throw-away self-signed certificate for 127.0.0.1 / localhost, made at
start; the tests trust it (and only the tests: Latchkey's configuration has no setting for it).
Writes `servers.json` into the directory given, then serves until SIGTERM/SIGINT, taking pymap
down with it.

    python tests/mail_servers.py <dir>
"""

import asyncio
import datetime
import ipaddress
import json
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HOST = "127.0.0.1"


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def make_certificate(directory):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "latchkey test mail servers")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = os.path.join(directory, "cert.pem")
    key_path = os.path.join(directory, "key.pem")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return cert_path, key_path


class Authenticator:
    def __init__(self, username, password):
        self.username = username.encode()
        self.password = password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and secrets.compare_digest(auth_data.login, self.username)
            and secrets.compare_digest(auth_data.password, self.password)
        )
        return AuthResult(success=ok, handled=False)


class Sink:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def main(directory):
    os.makedirs(directory, exist_ok=True)
    cert_path, key_path = make_certificate(directory)
    username = "ada@mail.test"
    password = "imap-" + secrets.token_urlsafe(12)

    imap_port = free_port()
    pymap = subprocess.Popen(
        [
            os.path.join(os.path.dirname(sys.executable), "pymap"),
            "--host", HOST, "--port", str(imap_port),
            "--cert", cert_path, "--key", key_path,
            "dict", "--demo-user", username, "--demo-password", password,
        ],
        stdout=sys.stdout,
        stderr=sys.stderr,
    )

    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert_path, key_path)

    async def imaps(reader, writer):
        try:
            up_reader, up_writer = await asyncio.open_connection(HOST, imap_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    imaps_server = await asyncio.start_server(imaps, HOST, 0, ssl=server_tls)
    imaps_port = imaps_server.sockets[0].getsockname()[1]

    held = []

    async def silent(reader, writer):
        held.append(writer)  # never a byte: the client must give up on its own

    silent_server = await asyncio.start_server(silent, HOST, 0)
    silent_port = silent_server.sockets[0].getsockname()[1]

    authenticator = Authenticator(username, password)
    smtp_port = free_port()
    smtp = Controller(
        Sink(), hostname=HOST, port=smtp_port, authenticator=authenticator,
        tls_context=server_tls, require_starttls=True, auth_require_tls=True,
    )
    smtp.start()
    smtps_port = free_port()
    smtps = Controller(
        Sink(), hostname=HOST, port=smtps_port, authenticator=authenticator,
        ssl_context=server_tls, auth_require_tls=False,
    )
    smtps.start()

    # pymap is up when its port answers.
    for _ in range(100):
        if pymap.poll() is not None:
            raise SystemExit("pymap exited at start")
        try:
            with socket.create_connection((HOST, imap_port), timeout=0.5):
                break
        except OSError:
            await asyncio.sleep(0.1)
    else:
        raise SystemExit("pymap did not start")

    with open(cert_path) as f:
        ca_pem = f.read()
    description = {
        "host": HOST,
        "username": username,
        "password": password,
        "imap_starttls_port": imap_port,
        "imaps_port": imaps_port,
        "smtp_starttls_port": smtp_port,
        "smtps_port": smtps_port,
        "silent_port": silent_port,
        "ca_pem": ca_pem,
    }
    path = os.path.join(directory, "servers.json")
    with open(path + ".tmp", "w") as f:
        json.dump(description, f)
    os.replace(path + ".tmp", path)
    print(f"mail servers ready: {json.dumps({k: v for k, v in description.items() if k.endswith('port')})}", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        smtp.stop()
        smtps.stop()
        imaps_server.close()
        silent_server.close()
        pymap.terminate()
        try:
            pymap.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pymap.kill()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
