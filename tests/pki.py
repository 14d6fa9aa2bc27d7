"""Certificates made at test time: a root, intermediates and leaves, any way a test needs.

No key or certificate is ever committed; every test builds what it needs here.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

NOW = datetime.datetime.now(datetime.timezone.utc)


def ec_key(curve: ec.EllipticCurve | None = None) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(curve or ec.SECP256R1())


def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@dataclass(frozen=True)
class Issued:
    """A certificate and its key, with PEM forms ready to paste."""

    cert: x509.Certificate
    key: PrivateKey = field(repr=False)

    @property
    def cert_pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def key_pem(self, fmt: serialization.PrivateFormat = serialization.PrivateFormat.PKCS8) -> str:
        return self.key.private_bytes(
            serialization.Encoding.PEM, fmt, serialization.NoEncryption()
        ).decode()


def issue(
    common_name: str,
    *,
    issuer: Issued | None = None,
    key: PrivateKey | None = None,
    sans: tuple[str, ...] | None = None,
    is_ca: bool = False,
    not_before: datetime.datetime | None = None,
    not_after: datetime.datetime | None = None,
    hash_algorithm: Any = None,  # any hash cryptography signs with, SHA-1 included
) -> Issued:
    """Issue a certificate; self-signed when `issuer` is None. `sans=None` means no SAN extension."""
    key = key or ec_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    signer = issuer or Issued(cert=None, key=key)  # type: ignore[arg-type]
    issuer_name = issuer.cert.subject if issuer else subject
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - datetime.timedelta(days=1))
        .not_valid_after(not_after or NOW + datetime.timedelta(days=90))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    if sans is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name) for name in sans]), critical=False
        )
    cert = builder.sign(signer.key, hash_algorithm or hashes.SHA256())
    return Issued(cert=cert, key=key)


@dataclass(frozen=True)
class Chain:
    """root -> intermediate -> leaf, for one domain."""

    root: Issued
    intermediate: Issued
    leaf: Issued

    @property
    def fullchain_pem(self) -> str:
        """Leaf then intermediate, as a fullchain file holds them."""
        return self.leaf.cert_pem + self.intermediate.cert_pem


def chain_for(domain: str, *, days: int = 90, sans: tuple[str, ...] | None = None) -> Chain:
    root = issue("Test Root CA", is_ca=True, not_after=NOW + datetime.timedelta(days=3650))
    intermediate = issue("Test Intermediate CA", issuer=root, is_ca=True)
    leaf = issue(
        domain,
        issuer=intermediate,
        sans=(domain,) if sans is None else sans,
        not_after=NOW + datetime.timedelta(days=days),
    )
    return Chain(root=root, intermediate=intermediate, leaf=leaf)


def renew(chain: Chain, *, days: int = 90) -> Chain:
    """A new leaf (new key) from the same intermediate, as a certificate renewal gives."""
    leaf = chain.leaf.cert
    domain = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    renewed = issue(
        str(domain),
        issuer=chain.intermediate,
        sans=tuple(sans.get_values_for_type(x509.DNSName)),
        not_after=NOW + datetime.timedelta(days=days),
    )
    return Chain(root=chain.root, intermediate=chain.intermediate, leaf=renewed)
