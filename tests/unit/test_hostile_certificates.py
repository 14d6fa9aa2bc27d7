"""A corpus of hostile or mistaken `import-certificate` inputs, each with its exact outcome.

Every input goes through what the action does: `load(certificate, key, chain)` then
`check_for_domain(..., DOMAIN, now)`. Each case says either ACCEPTED or a distinctive
substring of the one message the operator must get. For every refusal the message must
not quote the private key, and nothing but CertificateError may escape.

Every key and certificate is made at test time (tests/pki.py); SHA-1 and MD5 signatures,
which cryptography refuses to make, come from the `openssl` command.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import ipaddress
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519

from certificates import CertificateError, CertifiedKey, check_for_domain, load
from tests import pki
from tests.pki import PRIVATE_KEY

DOMAIN = "snaps.example.internal"
DAY = datetime.timedelta(days=1)
PKCS1 = serialization.PrivateFormat.TraditionalOpenSSL  # RSA PKCS#1, EC SEC1, DSA legacy
PKCS8 = serialization.PrivateFormat.PKCS8
TWENTY_MB = 20 * 1024 * 1024
IP = ipaddress.ip_address("10.0.0.7")
LEAK_WINDOW = 32  # characters of a key's base64 that would be a leak if found in a message

_PRIVATE_BLOCK = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(.*?)-----END", re.DOTALL)


# --- the table ------------------------------------------------------------------------


@dataclass(frozen=True)
class Given:
    """What the operator passed to import-certificate."""

    certificate: str
    key: str
    chain: str = ""
    served: tuple[str, ...] | None = None  # if accepted: the chain served, leaf first
    secrets: tuple[str, ...] = ()  # key material not in PEM form (base64 of DER, ...)


@dataclass(frozen=True)
class Accepted:
    """The input is accepted: it can be served for DOMAIN now."""


ACCEPTED = Accepted()


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[pki.Chain], Given]
    expect: str | Accepted  # a distinctive substring of the refusal, or ACCEPTED


def pem_block(label: str, der: bytes) -> str:
    body = base64.encodebytes(der).decode()
    return f"-----BEGIN {label}-----\n{body}-----END {label}-----\n"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def der(issued: pki.Issued) -> bytes:
    return issued.cert.public_bytes(serialization.Encoding.DER)


def key_der(key: pki.PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.DER, PKCS8, serialization.NoEncryption())


def pem_of_key(key: object, fmt: serialization.PrivateFormat = PKCS8) -> str:
    assert isinstance(
        key,
        (
            pki.rsa.RSAPrivateKey,
            ec.EllipticCurvePrivateKey,
            dsa.DSAPrivateKey,
            ed25519.Ed25519PrivateKey,
            ed448.Ed448PrivateKey,
        ),
    )
    return key.private_bytes(
        serialization.Encoding.PEM, fmt, serialization.NoEncryption()
    ).decode()


def encrypted_pem(key: pki.PrivateKey, fmt: serialization.PrivateFormat) -> str:
    return pki.encrypted_key_pem(key, fmt, b"correct horse battery staple")


def leaf_for(*, sans: tuple[str, ...] | None = (DOMAIN,), **kwargs: object) -> pki.Issued:
    return pki.issue(DOMAIN, sans=sans, **kwargs)  # type: ignore[arg-type]


def alone(leaf: pki.Issued) -> Given:
    """The leaf and its key, nothing else."""
    return Given(leaf.cert_pem, leaf.key_pem(), served=(leaf.cert_pem,))


def with_key(c: pki.Chain, key: str, **kwargs: object) -> Given:
    """The fullchain with `key` in the key field."""
    return Given(c.fullchain_pem, key, **kwargs)  # type: ignore[arg-type]


def openssl_issue(common_name: str, **kwargs: object) -> pki.Issued:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to sign with SHA-1 or MD5")
    return pki.issue_with_openssl(common_name, **kwargs)  # type: ignore[arg-type]


def truncated_body(pem: str, lines: int) -> str:
    """The first `lines` base64 lines of a PEM block, re-armoured: valid base64, short DER."""
    begin, *body, end = pem.strip().splitlines()
    return "\n".join([begin, *body[:lines], end]) + "\n"


def garbled_body(pem: str, junk: str) -> str:
    """The PEM block with `junk` inserted in the middle of its base64."""
    lines = pem.splitlines(keepends=True)
    middle = len(lines) // 2
    return "".join([*lines[:middle], junk, *lines[middle:]])


def served(c: pki.Chain) -> tuple[str, str]:
    return (c.leaf.cert_pem, c.intermediate.cert_pem)


def two_level_chain() -> tuple[pki.Issued, pki.Issued, pki.Issued]:
    """Root -> upper -> lower -> leaf, returned as (upper, lower, leaf)."""
    root = pki.issue("Deep Root CA", is_ca=True)
    upper = pki.issue("Upper CA", issuer=root, is_ca=True)
    lower = pki.issue("Lower CA", issuer=upper, is_ca=True)
    return upper, lower, pki.issue(DOMAIN, issuer=lower, sans=(DOMAIN,))


def csr_pem(c: pki.Chain) -> str:
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(c.leaf.cert.subject)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(DOMAIN)]), critical=False)
        .sign(c.leaf.key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def public_key_pem(c: pki.Chain) -> str:
    return (
        c.leaf.key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def foreign_key(make_key: Callable[[], object], fmt: serialization.PrivateFormat) -> Given:
    """A key nginx must not serve with, and a self-signed certificate made for it."""
    key = make_key()
    assert isinstance(key, (dsa.DSAPrivateKey, ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey))
    return Given(pki.self_signed_pem(DOMAIN, key), pem_of_key(key, fmt))


def sha1_intermediate() -> Given:
    root = pki.issue("Modern Root CA", is_ca=True)
    intermediate = openssl_issue("Old Intermediate CA", digest="sha1", issuer=root, is_ca=True)
    leaf = pki.issue(DOMAIN, issuer=intermediate, sans=(DOMAIN,))
    return Given(leaf.cert_pem + intermediate.cert_pem, leaf.key_pem())


def sha1_root_included() -> Given:
    root = openssl_issue("Old Root CA", digest="sha1", is_ca=True)
    intermediate = pki.issue("Modern Intermediate CA", issuer=root, is_ca=True)
    leaf = pki.issue(DOMAIN, issuer=intermediate, sans=(DOMAIN,))
    bundle = leaf.cert_pem + intermediate.cert_pem + root.cert_pem
    return Given(bundle, leaf.key_pem(), served=(leaf.cert_pem, intermediate.cert_pem))


def base64_of_der_key(c: pki.Chain) -> Given:
    encoded = base64.b64encode(key_der(c.leaf.key)).decode()
    return with_key(c, encoded, secrets=(encoded,))


def rsa_pkcs1() -> Given:
    leaf = leaf_for(key=pki.rsa_key(2048))
    return Given(leaf.cert_pem, leaf.key_pem(PKCS1), served=(leaf.cert_pem,))


def sha1_leaf_from_a_ca(c: pki.Chain) -> Given:
    leaf = openssl_issue(DOMAIN, digest="sha1", issuer=c.intermediate, sans=(DOMAIN,))
    return Given(leaf.cert_pem + c.intermediate.cert_pem, leaf.key_pem())


def two_leaves(c: pki.Chain) -> Given:
    other = pki.issue("b.example.internal", issuer=c.intermediate, sans=("b.example.internal",))
    return Given(c.fullchain_pem + other.cert_pem, c.leaf.key_pem())


def missing_middle_link() -> Given:
    upper, _lower, leaf = two_level_chain()
    return Given(leaf.cert_pem + upper.cert_pem, leaf.key_pem())


def unrelated_intermediate(c: pki.Chain, *, with_root: bool) -> Given:
    stranger = pki.issue("Stranger CA", issuer=pki.issue("Stranger Root", is_ca=True), is_ca=True)
    root = c.root.cert_pem if with_root else ""
    return Given(c.fullchain_pem + root + stranger.cert_pem, c.leaf.key_pem())


NON_UTF8 = b"\xff\xfe\xc3\x28\xa0\xa1\xe2\x28\xa1\xf0\x28\x8c\xbc".decode(
    "utf-8", "surrogateescape"
)

CASES: list[Case] = [
    Case(
        "fullchain-as-issued", lambda c: with_key(c, c.leaf.key_pem(), served=served(c)), ACCEPTED
    ),
    # Damaged or mangled PEM
    Case(
        "truncated-paste",
        lambda c: Given(c.fullchain_pem[: len(c.fullchain_pem) * 3 // 4], c.leaf.key_pem()),
        "the certificate field has a CERTIFICATE block whose -----BEGIN CERTIFICATE----- and "
        "-----END CERTIFICATE----- lines do not pair up",
    ),
    Case(
        "truncated-certificate-body",
        lambda c: Given(truncated_body(c.leaf.cert_pem, 3), c.leaf.key_pem()),
        "certificate 1 in the certificate field is not a valid X.509 certificate",
    ),
    Case(
        "truncated-key",
        lambda c: with_key(c, c.leaf.key_pem()[:-30]),
        "the key field has a PRIVATE KEY block whose",
    ),
    Case(
        "garbage-between-blocks",
        lambda c: Given(
            "Bag Attributes\n    friendlyName: snaps\n"
            + c.leaf.cert_pem
            + "subject=CN = Test Intermediate CA\n% ; } { $ # \\ 'quoted'\n\n"
            + c.intermediate.cert_pem
            + "trailing notes",
            c.leaf.key_pem(),
            served=served(c),
        ),
        ACCEPTED,
    ),
    Case(
        "garbage-inside-a-block",
        lambda c: Given(garbled_body(c.leaf.cert_pem, "garbage!\n"), c.leaf.key_pem()),
        "PEM block 1 (CERTIFICATE) in the certificate field is not valid base64",
    ),
    Case(
        "nul-inside-a-block",
        lambda c: Given(garbled_body(c.leaf.cert_pem, "\x00\n"), c.leaf.key_pem()),
        "PEM block 1 (CERTIFICATE) in the certificate field is not valid base64",
    ),
    Case(
        "non-utf8-inside-a-key-block",
        lambda c: with_key(c, garbled_body(c.leaf.key_pem(), NON_UTF8 + "\n")),
        "PEM block 1 (PRIVATE KEY) in the key field is not valid base64",
    ),
    # Other encodings
    Case(
        "der-certificate-read-as-latin-1",
        lambda c: Given(der(c.leaf).decode("latin-1"), c.leaf.key_pem()),
        "the certificate field holds DER (binary), not PEM; convert it with `openssl x509 -inform DER",
    ),
    Case(
        "der-certificate-read-with-surrogateescape",
        lambda c: Given(der(c.leaf).decode("utf-8", "surrogateescape"), c.leaf.key_pem()),
        "the certificate field holds DER (binary), not PEM",
    ),
    Case(
        "base64-of-der-certificate",
        lambda c: Given(base64.b64encode(der(c.leaf)).decode(), c.leaf.key_pem()),
        "the certificate field holds DER (binary), not PEM",
    ),
    Case(
        "base64-of-der-key",
        base64_of_der_key,
        "the key field holds DER (binary), not PEM; convert it with "
        "`openssl x509 -inform DER -in cert.der -out cert.pem` (a key: `openssl pkey -inform DER",
    ),
    Case(
        "base64-of-fullchain-and-key",
        lambda c: Given(b64(c.fullchain_pem), b64(c.leaf.key_pem()), served=served(c)),
        ACCEPTED,
    ),
    Case(
        "windows-line-endings",
        lambda c: Given(
            c.fullchain_pem.replace("\n", "\r\n"),
            c.leaf.key_pem().replace("\n", "\r\n"),
            served=served(c),
        ),
        ACCEPTED,
    ),
    Case(
        "classic-mac-line-endings",
        lambda c: Given(
            c.fullchain_pem.replace("\n", "\r"),
            c.leaf.key_pem().replace("\n", "\r"),
            served=served(c),
        ),
        ACCEPTED,
    ),
    Case(
        "non-utf8-bytes-surrogateescaped",
        lambda c: Given(NON_UTF8 * 10, c.leaf.key_pem()),
        "the certificate field is neither PEM nor base64 of PEM",
    ),
    Case(
        "latin-1-garbage",
        lambda c: Given(bytes(range(0x80, 0x100)).decode("latin-1"), c.leaf.key_pem()),
        "the certificate field is neither PEM nor base64 of PEM",
    ),
    Case(
        "latin-1-garbage-as-key",
        lambda c: with_key(c, "cl\xe9 priv\xe9e: " + bytes(range(0xA4, 0xC0)).decode("latin-1")),
        "the key field is neither PEM nor base64 of PEM",
    ),
    # Nothing there
    Case(
        "empty-certificate",
        lambda c: Given("", c.leaf.key_pem()),
        "no certificate found in the certificate field",
    ),
    Case(
        "whitespace-only-certificate",
        lambda c: Given(" \t\r\n\n  \u00a0\u2003", c.leaf.key_pem()),
        "no certificate found in the certificate field",
    ),
    Case("empty-key", lambda c: with_key(c, ""), "no private key found in the key field"),
    Case(
        "whitespace-only-key",
        lambda c: with_key(c, "\r\n\t  \n"),
        "no private key found in the key field",
    ),
    # Too much
    Case(
        "twenty-mb-certificate",
        lambda c: Given("A" * TWENTY_MB, c.leaf.key_pem()),
        f"the certificate field is {TWENTY_MB} characters long, over the limit of 1048576",
    ),
    Case(
        "twenty-mb-key",
        lambda c: with_key(c, c.leaf.key_pem() + "\n" * (TWENTY_MB - len(c.leaf.key_pem()))),
        f"the key field is {TWENTY_MB} characters long, over the limit",
    ),
    Case(
        "twenty-mb-chain",
        lambda c: Given(c.leaf.cert_pem, c.leaf.key_pem(), " " * TWENTY_MB),
        f"the chain field is {TWENTY_MB} characters long, over the limit",
    ),
    # The wrong kind of block in a field
    Case(
        "csr-instead-of-certificate",
        lambda c: Given(csr_pem(c), c.leaf.key_pem()),
        "the certificate field contains a CERTIFICATE REQUEST block, which is not a certificate",
    ),
    Case(
        "pkcs7-instead-of-certificate",
        lambda c: Given(pem_block("PKCS7", der(c.leaf)), c.leaf.key_pem()),
        "contains a PKCS7 block, which is not a certificate",
    ),
    Case(
        "openssl-trusted-certificate",
        lambda c: Given(pem_block("TRUSTED CERTIFICATE", der(c.leaf)), c.leaf.key_pem()),
        "contains a TRUSTED CERTIFICATE block, which is not a certificate",
    ),
    Case(
        "public-key-instead-of-private-key",
        lambda c: with_key(c, public_key_pem(c)),
        "the key field contains a PUBLIC KEY block, not a private key",
    ),
    Case(
        "key-pasted-in-certificate-field",
        lambda c: Given(c.leaf.key_pem(), c.leaf.key_pem()),
        "the certificate field contains a private key; pass it as key=...",
    ),
    Case(
        "key-appended-to-fullchain",
        lambda c: Given(c.fullchain_pem + c.leaf.key_pem(PKCS1), c.leaf.key_pem()),
        "the certificate field contains a private key; pass it as key=...",
    ),
    Case(
        "key-pasted-in-chain-field",
        lambda c: Given(c.leaf.cert_pem, c.leaf.key_pem(), c.leaf.key_pem()),
        "the chain field contains a private key",
    ),
    Case(
        "certificate-pasted-in-key-field",
        lambda c: with_key(c, c.leaf.cert_pem),
        "the key field contains a certificate; pass it as certificate=...",
    ),
    # Keys
    Case(
        "two-different-keys",
        lambda c: with_key(c, c.leaf.key_pem() + pem_of_key(pki.ec_key())),
        "the key field contains 2 private keys; pass only the one that matches",
    ),
    Case(
        "same-key-twice-in-two-formats",
        lambda c: with_key(c, c.leaf.key_pem() + c.leaf.key_pem(PKCS1)),
        "the key field contains 2 private keys",
    ),
    Case(
        "encrypted-pkcs8-key",
        lambda c: with_key(c, encrypted_pem(c.leaf.key, PKCS8)),
        "the private key is encrypted; decrypt it with "
        "`openssl pkey -in key.pem -out key-decrypted.pem`",
    ),
    Case(
        "encrypted-legacy-pem-key-proc-type",
        lambda c: with_key(c, encrypted_pem(c.leaf.key, PKCS1)),
        "the private key is encrypted; decrypt it with "
        "`openssl pkey -in key.pem -out key-decrypted.pem`",
    ),
    Case(
        "dsa-key-pkcs8",
        lambda c: foreign_key(lambda: dsa.generate_private_key(2048), PKCS8),
        "unsupported key type DSA; use an RSA key of at least 2048 bits or an ECDSA P-256",
    ),
    Case(
        "dsa-key-legacy-pem",
        lambda c: foreign_key(lambda: dsa.generate_private_key(2048), PKCS1),
        "unsupported private key format DSA PRIVATE KEY",
    ),
    Case(
        "ed25519-key",
        lambda c: foreign_key(ed25519.Ed25519PrivateKey.generate, PKCS8),
        "unsupported key type Ed25519; use an RSA key of at least 2048 bits or an ECDSA "
        "P-256 or P-384 key",
    ),
    Case(
        "ed448-key",
        lambda c: foreign_key(ed448.Ed448PrivateKey.generate, PKCS8),
        "unsupported key type Ed448",
    ),
    Case(
        "rsa-1024-key",
        lambda c: alone(leaf_for(key=pki.rsa_key(1024))),
        "the RSA key is 1024 bits, below the minimum of 2048",
    ),
    Case(
        "ecdsa-p521-key",
        lambda c: alone(leaf_for(key=pki.ec_key(ec.SECP521R1()))),
        "the ECDSA key uses curve secp521r1, which is not supported",
    ),
    Case(
        "openssh-key",
        lambda c: with_key(c, pem_of_key(c.leaf.key, serialization.PrivateFormat.OpenSSH)),
        "unsupported private key format OPENSSH PRIVATE KEY",
    ),
    Case(
        "key-of-another-certificate",
        lambda c: with_key(c, pem_of_key(pki.ec_key())),
        f"the private key does not match the certificate CN={DOMAIN}",
    ),
    Case(
        "rsa-2048-pkcs1-key",
        lambda c: rsa_pkcs1(),
        ACCEPTED,
    ),
    # Signature algorithms
    Case(
        "sha1-signed-self-signed-leaf",
        lambda c: alone(openssl_issue(DOMAIN, digest="sha1", sans=(DOMAIN,))),
        f"the certificate CN={DOMAIN} is signed with SHA-1, which TLS clients reject; "
        "reissue it with a SHA-256 signature",
    ),
    Case(
        "sha1-signed-leaf-from-a-ca",
        sha1_leaf_from_a_ca,
        f"the certificate CN={DOMAIN} is signed with SHA-1",
    ),
    Case(
        "md5-signed-leaf",
        lambda c: alone(openssl_issue(DOMAIN, digest="md5", sans=(DOMAIN,))),
        f"the certificate CN={DOMAIN} is signed with MD5, which TLS clients reject",
    ),
    Case(
        "sha1-signed-intermediate",
        lambda c: sha1_intermediate(),
        "the certificate CN=Old Intermediate CA is signed with SHA-1",
    ),
    Case("sha1-self-signed-root-included", lambda c: sha1_root_included(), ACCEPTED),
    # Validity
    Case(
        "expired-leaf",
        lambda c: alone(leaf_for(not_before=pki.NOW - 100 * DAY, not_after=pki.NOW - DAY)),
        f"the certificate CN={DOMAIN} has expired",
    ),
    Case(
        "leaf-valid-only-from-tomorrow",
        lambda c: alone(leaf_for(not_before=pki.NOW + DAY, not_after=pki.NOW + 90 * DAY)),
        f"the certificate CN={DOMAIN} is not valid yet",
    ),
    Case(
        "ca-certificate-as-leaf",
        lambda c: Given(c.intermediate.cert_pem, c.intermediate.key_pem()),
        "the certificate CN=Test Intermediate CA is a CA certificate (basicConstraints CA:TRUE), "
        "not a server certificate",
    ),
    Case(
        "self-signed-ca-as-leaf",
        lambda c: alone(leaf_for(is_ca=True)),
        f"the certificate CN={DOMAIN} is a CA certificate",
    ),
    Case(
        "two-leaf-certificates",
        two_leaves,
        "found 2 leaf (non-CA) certificates",
    ),
    # Names
    Case(
        "wildcard-two-labels-up",
        lambda c: alone(leaf_for(sans=("*.internal",))),
        f"does not cover '{DOMAIN}'; it covers *.internal;",
    ),
    Case(
        "wildcard-one-label-too-deep",
        lambda c: alone(leaf_for(sans=(f"*.{DOMAIN}",))),
        f"does not cover '{DOMAIN}'; it covers *.{DOMAIN};",
    ),
    Case(
        "wildcard-for-the-parent",
        lambda c: alone(leaf_for(sans=("*.example.internal",))),
        ACCEPTED,
    ),
    Case("san-in-upper-case", lambda c: alone(leaf_for(sans=(DOMAIN.upper(),))), ACCEPTED),
    Case(
        "ip-address-only",
        lambda c: alone(pki.issue_for_names("10.0.0.7", [x509.IPAddress(IP)])),
        f"does not cover '{DOMAIN}'; it covers no DNS names",
    ),
    Case("cn-only-without-san", lambda c: alone(leaf_for(sans=None)), ACCEPTED),
    Case(
        "cn-ignored-when-san-present",
        lambda c: alone(leaf_for(sans=("other.example.internal",))),
        f"does not cover '{DOMAIN}'; it covers other.example.internal;",
    ),
    Case(
        "cn-only-for-another-name",
        lambda c: alone(pki.issue("other.example.internal", sans=None)),
        "it covers other.example.internal (subject CN only: it has no subjectAltName)",
    ),
    # Chains
    Case(
        "chain-reversed",
        lambda c: Given(
            c.intermediate.cert_pem + c.leaf.cert_pem, c.leaf.key_pem(), served=served(c)
        ),
        ACCEPTED,
    ),
    Case(
        "leaf-in-chain-field",
        lambda c: Given(
            c.intermediate.cert_pem, c.leaf.key_pem(), c.leaf.cert_pem, served=served(c)
        ),
        ACCEPTED,
    ),
    Case(
        "missing-middle-link",
        lambda c: missing_middle_link(),
        f"the chain does not link: CN={DOMAIN} has no issuer in the bundle (it was issued by "
        "CN=Lower CA), so CN=Upper CA cannot follow it",
    ),
    Case(
        "unrelated-intermediate",
        lambda c: unrelated_intermediate(c, with_root=True),
        "unrelated intermediate certificate(s) CN=Stranger CA: not on the path",
    ),
    Case(
        "unrelated-intermediate-without-root",
        lambda c: unrelated_intermediate(c, with_root=False),
        "so CN=Stranger CA cannot follow it",
    ),
    Case(
        "impostor-intermediate",
        lambda c: Given(
            c.leaf.cert_pem
            + pki.issue("Test Intermediate CA", issuer=c.root, is_ca=True).cert_pem,
            c.leaf.key_pem(),
        ),
        f"the intermediate CN=Test Intermediate CA did not sign CN={DOMAIN}",
    ),
    Case(
        "root-included",
        lambda c: Given(c.fullchain_pem + c.root.cert_pem, c.leaf.key_pem(), served=served(c)),
        ACCEPTED,
    ),
    Case(
        "root-first-in-chain-field",
        lambda c: Given(
            c.leaf.cert_pem,
            c.leaf.key_pem(),
            c.root.cert_pem + c.intermediate.cert_pem,
            served=served(c),
        ),
        ACCEPTED,
    ),
]


# --- running a case -------------------------------------------------------------------


@pytest.fixture(scope="module")
def chain() -> pki.Chain:
    return pki.chain_for(DOMAIN)


@pytest.fixture(scope="module")
def made() -> dict[str, Given]:
    """Each case's input, made once per module however many tests read it."""
    return {}


def given_for(case: Case, chain: pki.Chain, made: dict[str, Given]) -> Given:
    if case.name not in made:
        made[case.name] = case.make(chain)
    return made[case.name]


def outcome(given: Given) -> CertifiedKey | CertificateError:
    """What import-certificate would conclude: the bundle to serve, or the refusal."""
    try:
        certified = load(given.certificate, given.key, given.chain)
        check_for_domain(certified, DOMAIN, datetime.datetime.now(datetime.timezone.utc))
    except CertificateError as error:
        return error
    except Exception as error:  # the action handler catches CertificateError only
        pytest.fail(f"{type(error).__name__} escaped instead of CertificateError")
    return certified


def key_bodies(given: Given) -> list[str]:
    """The base64 of every private key in the input, whitespace removed."""
    texts = [given.certificate, given.key, given.chain]
    for text in texts[:3]:
        with contextlib.suppress(ValueError):  # base64 of PEM holds its keys one level down
            texts.append(base64.b64decode("".join(text.split()), validate=True).decode())
    bodies = [body for text in texts for body in _PRIVATE_BLOCK.findall(text)]
    return ["".join(body.split()) for body in [*bodies, *given.secrets]]


def leaks(message: str, bodies: list[str]) -> list[str]:
    """Every LEAK_WINDOW-character piece of a key body found in the message."""
    squeezed = "".join(message.split())
    return [
        body[i : i + LEAK_WINDOW]
        for body in bodies
        for i in range(len(body) - LEAK_WINDOW + 1)
        if body[i : i + LEAK_WINDOW] in message or body[i : i + LEAK_WINDOW] in squeezed
    ]


def served_pems(certified: CertifiedKey) -> tuple[str, ...]:
    return tuple(
        cert.public_bytes(serialization.Encoding.PEM).decode()
        for cert in x509.load_pem_x509_certificates(certified.chain_pem.encode())
    )


def by_name(cases: list[Case]) -> list[object]:
    return [pytest.param(case, id=case.name) for case in cases]


REFUSED = [case for case in CASES if not isinstance(case.expect, Accepted)]
SERVED = [case for case in CASES if isinstance(case.expect, Accepted)]


# --- tests ----------------------------------------------------------------------------


def test_corpus_has_at_least_forty_distinct_cases():
    # Given / When
    names = [case.name for case in CASES]
    # Then
    assert len(names) >= 40
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("case", by_name(CASES))
def test_each_input_is_accepted_or_refused_with_its_message(
    case: Case, chain: pki.Chain, made: dict[str, Given]
):
    # Given
    given = given_for(case, chain, made)
    # When
    result = outcome(given)
    # Then
    if isinstance(case.expect, Accepted):
        assert isinstance(result, CertifiedKey), f"refused: {result}"
    else:
        assert isinstance(result, CertificateError), "accepted"
        assert case.expect in str(result)


@pytest.mark.parametrize("case", by_name(REFUSED))
def test_refusal_never_quotes_the_private_key(
    case: Case, chain: pki.Chain, made: dict[str, Given]
):
    # Given
    given = given_for(case, chain, made)
    bodies = key_bodies(given) + key_bodies(Given("", chain.leaf.key_pem()))
    # When
    result = outcome(given)
    # Then
    assert isinstance(result, CertificateError)
    assert leaks(str(result), bodies) == []


@pytest.mark.parametrize("case", by_name(SERVED))
def test_accepted_input_is_served_leaf_first_without_its_root(
    case: Case, chain: pki.Chain, made: dict[str, Given]
):
    # Given
    given = given_for(case, chain, made)
    assert given.served is not None, "an accepted case says what is served"
    # When
    certified = load(given.certificate, given.key, given.chain)
    # Then
    assert served_pems(certified) == given.served
    assert certified.key_pem.startswith(f"-----BEGIN {PRIVATE_KEY}-----\n")


@pytest.mark.parametrize("field", ["certificate", "key", "chain"])
def test_twenty_megabytes_are_refused_within_a_tenth_of_a_second(chain: pki.Chain, field: str):
    # Given a valid bundle with one field replaced by 20 MB of base64-looking text
    fields = {"certificate": chain.fullchain_pem, "key": chain.leaf.key_pem(), "chain": ""}
    fields[field] = "QUFB" * (TWENTY_MB // 4)
    # When
    started = time.perf_counter()
    with pytest.raises(CertificateError) as caught:
        load(**fields)
    elapsed = time.perf_counter() - started
    # Then
    assert "over the limit of 1048576 (1 MiB)" in str(caught.value)
    assert elapsed < 0.1
