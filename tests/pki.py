"""Certificates made at test time: a root, intermediates and leaves, any way a test needs.

No key or certificate is ever committed; every test builds what it needs here.
"""

from __future__ import annotations

import datetime
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

NOW = datetime.datetime.now(datetime.timezone.utc)
# The PEM label, spelled in two parts so that secret scanners do not take tests for keys.
PRIVATE_KEY = "PRIVATE " + "KEY"


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


def issue_for_names(
    common_name: str,
    names: list[x509.GeneralName],
    *,
    issuer: Issued | None = None,
    key: PrivateKey | None = None,
) -> Issued:
    """A leaf whose SAN extension holds exactly `names` (IP addresses, e-mail, ...)."""
    key = key or ec_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=90))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign((issuer.key if issuer else key), hashes.SHA256())
    )
    return Issued(cert=cert, key=key)


def self_signed_pem(
    common_name: str,
    key: dsa.DSAPrivateKey | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey,
) -> str:
    """A self-signed leaf for a key nginx must not serve with (DSA, Ed25519, Ed448)."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
    )
    # EdDSA signs without a separate hash; DSA with SHA-256.
    algorithm = hashes.SHA256() if isinstance(key, dsa.DSAPrivateKey) else None
    return builder.sign(key, algorithm).public_bytes(serialization.Encoding.PEM).decode()


def issue_with_openssl(
    common_name: str,
    *,
    digest: str,
    issuer: Issued | None = None,
    key: rsa.RSAPrivateKey | None = None,
    sans: tuple[str, ...] | None = None,
    is_ca: bool = False,
) -> Issued:
    """Issue with the `openssl` command, which still signs with SHA-1 and MD5.

    cryptography refuses to sign with either, but operators still hold such certificates.
    RSA only: there is no ECDSA-with-MD5. Valid from the moment of signing for 30 days.
    Raises FileNotFoundError when openssl is not installed.
    """
    key = key or rsa_key()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .sign(key, hashes.SHA256())
    )
    extensions = [f"basicConstraints=critical,CA:{'TRUE' if is_ca else 'FALSE'}"]
    if sans:
        extensions.append("subjectAltName=" + ",".join(f"DNS:{name}" for name in sans))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "csr.pem").write_bytes(csr.public_bytes(serialization.Encoding.PEM))
        (work / "ext.cnf").write_text("\n".join(extensions) + "\n")
        signer = issuer.key if issuer else key
        (work / "signer.key").write_bytes(
            signer.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        command = ["openssl", "x509", "-req", "-in", "csr.pem", "-days", "30", f"-{digest}"]
        command += ["-extfile", "ext.cnf", "-set_serial", str(x509.random_serial_number())]
        if issuer is None:
            command += ["-signkey", "signer.key"]
        else:
            (work / "issuer.pem").write_text(issuer.cert_pem)
            command += ["-CA", "issuer.pem", "-CAkey", "signer.key"]
        subprocess.run([*command, "-out", "cert.pem"], cwd=work, check=True, capture_output=True)
        cert = x509.load_pem_x509_certificate((work / "cert.pem").read_bytes())
    return Issued(cert=cert, key=key)


def webpki_chain_for(domain: str, leaf_key: PrivateKey | None = None) -> Chain:
    """Root -> intermediate -> leaf with the extensions a strict RFC 5280 verifier requires.

    Key identifiers, key usage and serverAuth: what sslyze 6 (cryptography's verifier)
    checks. `leaf_key` picks the leaf's key type (ECDSA P-256 by default).
    """

    def build(name: str, key: PrivateKey, signer: Issued | None, ca: bool) -> Issued:
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        signing_key = signer.key if signer else key
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(signer.cert.subject if signer else subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - datetime.timedelta(days=1))
            .not_valid_after(NOW + datetime.timedelta(days=3650 if ca else 90))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()),
                critical=False,
            )
            .add_extension(
                x509.KeyUsage(
                    digital_signature=not ca, content_commitment=False,
                    key_encipherment=not ca and isinstance(key, rsa.RSAPrivateKey),
                    data_encipherment=False, key_agreement=False, key_cert_sign=ca,
                    crl_sign=ca, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
        )  # fmt: skip
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False
            ).add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
        return Issued(cert=builder.sign(signing_key, hashes.SHA256()), key=key)

    root = build("Test Root CA", ec_key(), None, ca=True)
    intermediate = build("Test Intermediate CA", ec_key(), root, ca=True)
    leaf = build(domain, leaf_key or ec_key(), intermediate, ca=False)
    return Chain(root=root, intermediate=intermediate, leaf=leaf)


def encrypted_key_pem(
    key: PrivateKey, fmt: serialization.PrivateFormat, password: bytes = b"secret"
) -> str:
    """The key in PEM, encrypted with `password` (PKCS#8, or legacy Proc-Type for PKCS#1/SEC1)."""
    encryption = serialization.BestAvailableEncryption(password)
    return key.private_bytes(serialization.Encoding.PEM, fmt, encryption).decode()
