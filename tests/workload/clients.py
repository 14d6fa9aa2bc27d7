"""Clients for the workload tests: every connection goes to 127.0.0.1, SNI and Host name the domain."""

from __future__ import annotations

import http.client
import json
import re
import socket
import ssl
import subprocess
from dataclasses import dataclass

from cryptography import x509

DOMAIN = "store.test"
TIMEOUT = 10


@dataclass(frozen=True)
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def echoed_headers(self) -> list[tuple[str, str]]:
        return [(name.lower(), value) for name, value in json.loads(self.body)["headers"]]


def tls_context(*root_pems: str) -> ssl.SSLContext:
    """Trusts only the given roots, verifies the host name, like a snap client would."""
    return ssl.create_default_context(cadata="".join(root_pems))


def tls_socket(port: int, context: ssl.SSLContext) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    return context.wrap_socket(raw, server_hostname=DOMAIN)


def request(
    port: int,
    path: str = "/echo",
    *,
    context: ssl.SSLContext | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """One GET on a fresh connection (keep-alive off); HTTPS when a context is given."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    if context is not None:
        conn.sock = tls_socket(port, context)
    try:
        conn.request(
            "GET", path, headers={"Host": DOMAIN, "Connection": "close", **(headers or {})}
        )
        response = conn.getresponse()
        return Response(response.status, response.headers, response.read())
    finally:
        conn.close()


def served_leaf(port: int, context: ssl.SSLContext) -> x509.Certificate:
    with tls_socket(port, context) as sock:
        der = sock.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def served_chain(port: int) -> list[x509.Certificate]:
    """Every certificate the server sends, in order (Python < 3.13 cannot list them)."""
    result = subprocess.run(
        [
            "openssl",
            "s_client",
            "-connect",
            f"127.0.0.1:{port}",
            "-servername",
            DOMAIN,
            "-showcerts",
        ],
        input="",
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    pems = re.findall(
        r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", result.stdout, re.S
    )
    return [x509.load_pem_x509_certificate(pem.encode()) for pem in pems]


def openssl_handshake(port: int, *flags: str) -> subprocess.CompletedProcess[str]:
    """A handshake with openssl's own client, for protocol versions Python will not offer."""
    return subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", DOMAIN, *flags],
        input="",
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT).close()
    except ConnectionRefusedError:
        return True
    return False
