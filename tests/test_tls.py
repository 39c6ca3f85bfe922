"""The function's HTTPS, over ring, as on Lambda: the AWS SDK and the Spotify client each
complete a TLS handshake, verify the server against the roots in `SSL_CERT_FILE`, and
refuse a server they cannot verify. Every other test talks plain HTTP to the stand-ins;
here a TLS terminator sits in front of moto and of the Spotify stand-in, with a
certificate from a CA made for the test."""

import contextlib
import datetime
import ipaddress
import socket
import ssl
import threading
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from devstack.local import EVERY_WINDOW, LocalStack


def certificate(subject: str, issuer_key, issuer_name, key, ca: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer_name or x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        ).add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


class Terminator:
    """Accepts TLS on a port of its own and pipes the plain bytes to `target_port`."""

    def __init__(self, target_port: int, context: ssl.SSLContext):
        self.target_port, self.context = target_port, context
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"https://127.0.0.1:{self.listener.getsockname()[1]}"
        self.handshakes = 0
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self.connection, args=(raw,), daemon=True).start()

    def connection(self, raw):
        try:
            client = self.context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            return
        self.handshakes += 1
        upstream = socket.create_connection(("127.0.0.1", self.target_port))
        threading.Thread(target=self.pipe, args=(upstream, client), daemon=True).start()
        self.pipe(client, upstream)

    @staticmethod
    def pipe(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.close()
                except OSError:
                    pass

    def stop(self):
        self.listener.close()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = certificate("now-playing test CA", ca_key, None, ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = certificate("127.0.0.1", ca_key, ca.subject, server_key, ca=False)
    (folder / "ca.pem").write_bytes(pem(ca))
    (folder / "server.pem").write_bytes(pem(server) + pem(ca))
    (folder / "server.key").write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    trusted = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trusted.load_cert_chain(folder / "server.pem", folder / "server.key")
    # The same server name, from a CA the function does not trust: its roots are only the
    # test CA.
    other_key = ec.generate_private_key(ec.SECP256R1())
    other = certificate("another CA", other_key, None, other_key, ca=True)
    (folder / "impostor.pem").write_bytes(pem(certificate("127.0.0.1", other_key, other.subject, server_key, ca=False)))
    impostor = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    impostor.load_cert_chain(folder / "impostor.pem", folder / "server.key")
    return folder / "ca.pem", trusted, impostor


@contextlib.contextmanager
def behind_tls(roots: Path, aws_tls: ssl.SSLContext, spotify_tls: ssl.SSLContext):
    """The function, with moto and the Spotify stand-in behind TLS terminators, and
    `roots` its only trusted CAs; everything is stopped afterwards."""
    stack = LocalStack(processes=1, extra_env=EVERY_WINDOW)
    aws = Terminator(stack.moto.port, aws_tls)
    spotify = Terminator(int(stack.fake.url.rsplit(":", 1)[1]), spotify_tls)
    stack.extra_env |= {
        "AWS_ENDPOINT_URL": aws.url,
        "SPOTIFY_API_URL": spotify.url,
        "SPOTIFY_ACCOUNTS_URL": spotify.url,
        "SSL_CERT_FILE": str(roots),
    }
    try:
        stack.start()
        yield stack, aws, spotify
    finally:
        stack.stop()
        aws.stop()
        spotify.stop()


def test_the_sdk_and_the_spotify_client_speak_tls_over_ring(pki):
    roots, trusted, _ = pki
    with behind_tls(roots, trusted, trusted) as (stack, aws, spotify):
        response = requests.get(f"{stack.url}/v1/current", timeout=30)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "playing"
        calls = stack.fake.calls()
        assert calls["token"] == 1 and calls["currently_playing"] == 1, calls
        assert aws.handshakes >= 1 and spotify.handshakes >= 1, (aws.handshakes, spotify.handshakes)


def test_a_server_the_roots_do_not_vouch_for_is_refused(pki):
    roots, trusted, impostor = pki
    # AWS is the real one; Spotify's address answers with another CA's certificate.
    with behind_tls(roots, trusted, impostor) as (stack, aws, spotify):
        response = requests.get(f"{stack.url}/v1/current", timeout=30)
        assert response.status_code >= 500, response.text
        assert response.json()["error"]["code"] == "upstream_unavailable", response.text
        assert stack.fake.calls()["token"] == 0, "the refresh token was never sent to the impostor"
        assert aws.handshakes >= 1 and spotify.handshakes == 0, (aws.handshakes, spotify.handshakes)
        assert "UnknownIssuer" in stack.logs(), stack.logs()[-2000:]
