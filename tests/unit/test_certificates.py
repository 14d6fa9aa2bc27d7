"""Unit tests for src/certificates.py; every key and certificate is made at test time."""

from __future__ import annotations

import base64
import datetime
import re
import shutil
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519
from hypothesis import given, settings
from hypothesis import strategies as st

from certificates import (
    CertificateError,
    CertificateInfo,
    CertifiedKey,
    check_for_domain,
    covers,
    describe_chain,
    load,
)
from tests import pki
from tests.pki import PRIVATE_KEY

DOMAIN = "snaps.example.com"
DAY = datetime.timedelta(days=1)
PKCS1 = serialization.PrivateFormat.TraditionalOpenSSL  # RSA PKCS#1 or EC SEC1
PKCS8 = serialization.PrivateFormat.PKCS8


@pytest.fixture(scope="module")
def chain() -> pki.Chain:
    return pki.chain_for(DOMAIN)


def pems(certified: CertifiedKey) -> list[str]:
    """The certificates of a served chain, as PEM, in order."""
    return [
        cert.public_bytes(serialization.Encoding.PEM).decode()
        for cert in x509.load_pem_x509_certificates(certified.chain_pem.encode())
    ]


def key_pem(key: pki.PrivateKey, fmt: serialization.PrivateFormat = PKCS8) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, fmt, serialization.NoEncryption()
    ).decode()


def encrypted_key_pem(key: pki.PrivateKey, fmt: serialization.PrivateFormat) -> str:
    return pki.encrypted_key_pem(key, fmt, b"secret")


def pem_block(label: str, der: bytes) -> str:
    body = base64.encodebytes(der).decode()
    return f"-----BEGIN {label}-----\n{body}-----END {label}-----\n"


def key_fragments(pem: str) -> list[str]:
    """Pieces of a key's base64 body long enough that finding one in a message is a leak."""
    body = "".join(line for line in pem.splitlines() if not line.startswith("-----"))
    return [body[i : i + 16] for i in range(0, len(body) - 16, 16)]


def load_error(certificate: str, key: str, chain: str = "") -> str:
    with pytest.raises(CertificateError) as caught:
        load(certificate, key, chain)
    return str(caught.value)


def info_with(
    san_dns: tuple[str, ...] = (),
    *,
    has_san: bool = True,
    common_name: str | None = None,
    not_after: datetime.datetime = pki.NOW + 90 * DAY,
) -> CertificateInfo:
    return CertificateInfo(
        subject=f"CN={common_name or 'test'}",
        san_dns=san_dns,
        issuer="CN=Test CA",
        not_before=pki.NOW - DAY,
        not_after=not_after,
        fingerprint_sha256="AB:CD",
        common_name=common_name,
        has_san=has_san,
    )


# load: what is served


def test_fullchain_in_order_is_served_leaf_first(chain: pki.Chain):
    # Given a fullchain file: leaf then intermediate
    # When
    certified = load(chain.fullchain_pem, chain.leaf.key_pem())
    # Then
    assert pems(certified) == [chain.leaf.cert_pem, chain.intermediate.cert_pem]


def test_reversed_fullchain_is_reordered_leaf_first(chain: pki.Chain):
    # Given the intermediate before the leaf
    bundle = chain.intermediate.cert_pem + chain.leaf.cert_pem
    # When
    certified = load(bundle, chain.leaf.key_pem())
    # Then
    assert pems(certified) == [chain.leaf.cert_pem, chain.intermediate.cert_pem]


def test_chain_param_adds_intermediates_after_the_leaf(chain: pki.Chain):
    # Given the leaf alone and the intermediate as chain=
    # When
    certified = load(chain.leaf.cert_pem, chain.leaf.key_pem(), chain.intermediate.cert_pem)
    # Then
    assert pems(certified) == [chain.leaf.cert_pem, chain.intermediate.cert_pem]


def test_two_intermediates_in_any_order_are_ordered_by_signature():
    # Given root -> upper -> lower -> leaf, given scrambled
    root = pki.issue("Root", is_ca=True)
    upper = pki.issue("Upper CA", issuer=root, is_ca=True)
    lower = pki.issue("Lower CA", issuer=upper, is_ca=True)
    leaf = pki.issue(DOMAIN, issuer=lower, sans=(DOMAIN,))
    # When
    certified = load(upper.cert_pem + leaf.cert_pem, leaf.key_pem(), lower.cert_pem)
    # Then
    assert pems(certified) == [leaf.cert_pem, lower.cert_pem, upper.cert_pem]


@pytest.mark.parametrize("where", ["certificate", "chain"])
def test_self_signed_root_is_accepted_but_not_served(chain: pki.Chain, where: str):
    # Given the root in the certificate field or in chain=
    certificate = chain.fullchain_pem + (chain.root.cert_pem if where == "certificate" else "")
    extra = chain.root.cert_pem if where == "chain" else ""
    # When
    certified = load(certificate, chain.leaf.key_pem(), extra)
    # Then
    assert pems(certified) == [chain.leaf.cert_pem, chain.intermediate.cert_pem]


def test_duplicate_certificates_are_served_once(chain: pki.Chain):
    # Given the intermediate in both fields and the leaf twice
    certificate = chain.fullchain_pem + chain.leaf.cert_pem
    # When
    certified = load(certificate, chain.leaf.key_pem(), chain.intermediate.cert_pem)
    # Then
    assert pems(certified) == [chain.leaf.cert_pem, chain.intermediate.cert_pem]


def test_leaf_alone_is_served_alone(chain: pki.Chain):
    # Given only the leaf
    # When
    certified = load(chain.leaf.cert_pem, chain.leaf.key_pem())
    # Then
    assert pems(certified) == [chain.leaf.cert_pem]


def test_self_signed_leaf_is_accepted():
    # Given a self-signed end-entity certificate (CA:FALSE)
    leaf = pki.issue(DOMAIN, sans=(DOMAIN,))
    # When
    certified = load(leaf.cert_pem, leaf.key_pem())
    # Then
    assert pems(certified) == [leaf.cert_pem]


def test_chain_pem_is_joined_pem_ending_with_a_newline(chain: pki.Chain):
    # Given / When
    certified = load(chain.fullchain_pem, chain.leaf.key_pem())
    # Then
    assert certified.chain_pem == chain.leaf.cert_pem + chain.intermediate.cert_pem
    assert certified.chain_pem.endswith("\n")


def test_base64_of_pem_is_accepted_in_every_field(chain: pki.Chain):
    # Given each field base64-encoded, as `base64 -w0` writes it
    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    # When
    certified = load(
        b64(chain.leaf.cert_pem), b64(chain.leaf.key_pem()), b64(chain.intermediate.cert_pem)
    )
    # Then
    assert pems(certified) == [chain.leaf.cert_pem, chain.intermediate.cert_pem]


def test_wrapped_base64_of_pem_is_accepted(chain: pki.Chain):
    # Given base64 wrapped at 76 columns, as `base64` writes it by default
    encoded = base64.encodebytes(chain.fullchain_pem.encode()).decode()
    # When
    certified = load(encoded, chain.leaf.key_pem())
    # Then
    assert certified.info.san_dns == (DOMAIN,)


def test_crlf_line_endings_and_missing_final_newline_are_accepted(chain: pki.Chain):
    # Given Windows line endings and no trailing newline
    def windows(text: str) -> str:
        return text.replace("\n", "\r\n").rstrip()

    # When
    certified = load(windows(chain.fullchain_pem), windows(chain.leaf.key_pem()))
    # Then
    assert pems(certified) == [chain.leaf.cert_pem, chain.intermediate.cert_pem]
    assert "\r" not in certified.key_pem


def test_surrounding_whitespace_and_text_between_blocks_are_ignored(chain: pki.Chain):
    # Given openssl-style explanatory text and stray blank lines
    certificate = (
        "\n  subject=CN = snaps.example.com\n"
        + chain.leaf.cert_pem
        + "\nissuer=CN = Test Root CA\n"
        + chain.intermediate.cert_pem
        + "\n\n  "
    )
    # When
    certified = load(certificate, "\n" + chain.leaf.key_pem() + "  \n")
    # Then
    assert pems(certified) == [chain.leaf.cert_pem, chain.intermediate.cert_pem]


def test_pem_flattened_onto_one_line_is_accepted(chain: pki.Chain):
    # Given PEM whose line breaks became spaces (pasted through a single-line field)
    # When
    certified = load(chain.leaf.cert_pem.replace("\n", " "), chain.leaf.key_pem())
    # Then
    assert pems(certified) == [chain.leaf.cert_pem]


@pytest.mark.parametrize(
    ("key", "fmt"),
    [
        pytest.param(pki.rsa_key(2048), PKCS1, id="rsa-2048-pkcs1"),
        pytest.param(pki.rsa_key(2048), PKCS8, id="rsa-2048-pkcs8"),
        pytest.param(pki.rsa_key(3072), PKCS8, id="rsa-3072-pkcs8"),
        pytest.param(pki.ec_key(ec.SECP256R1()), PKCS1, id="p256-sec1"),
        pytest.param(pki.ec_key(ec.SECP256R1()), PKCS8, id="p256-pkcs8"),
        pytest.param(pki.ec_key(ec.SECP384R1()), PKCS1, id="p384-sec1"),
        pytest.param(pki.ec_key(ec.SECP384R1()), PKCS8, id="p384-pkcs8"),
    ],
)
def test_supported_keys_are_accepted_and_served_as_pkcs8(
    key: pki.PrivateKey, fmt: serialization.PrivateFormat
):
    # Given a leaf for this key, with the key in this PEM form
    leaf = pki.issue(DOMAIN, key=key, sans=(DOMAIN,))
    # When
    certified = load(leaf.cert_pem, key_pem(key, fmt))
    # Then
    assert certified.key_pem.startswith(f"-----BEGIN {PRIVATE_KEY}-----\n")
    assert certified.key_pem == key_pem(key, PKCS8)


def test_sec1_key_after_its_ec_parameters_block_is_accepted():
    # Given `openssl ecparam -genkey` output: EC PARAMETERS then EC PRIVATE KEY
    leaf = pki.issue(DOMAIN, sans=(DOMAIN,))
    parameters = "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
    # When
    certified = load(leaf.cert_pem, parameters + key_pem(leaf.key, PKCS1))
    # Then
    assert certified.key_pem == key_pem(leaf.key)


def test_certified_key_repr_never_shows_the_key(chain: pki.Chain):
    # Given
    certified = load(chain.fullchain_pem, chain.leaf.key_pem())
    # When
    text = repr(certified)
    # Then
    assert "PRIVATE" not in text


# load: what is rejected, and what the operator is told


@pytest.mark.parametrize("field", ["certificate", "key", "chain"])
@pytest.mark.parametrize(
    "garbage",
    [
        "hello world",
        "not base64 at all!",
        base64.b64encode(b"plain text, no PEM inside").decode(),
        base64.b64encode(b"\xff\xfe\x00binary").decode(),
    ],
)
def test_text_that_is_neither_pem_nor_base64_of_pem_is_rejected(
    chain: pki.Chain, field: str, garbage: str
):
    # Given one field holding garbage
    fields = {"certificate": chain.fullchain_pem, "key": chain.leaf.key_pem(), "chain": ""}
    fields[field] = garbage
    # When
    message = load_error(**fields)
    # Then
    assert f"the {field} field is neither PEM nor base64 of PEM" in message
    assert "-----BEGIN" in message


@pytest.mark.parametrize("certificate", ["", "   \n\t ", "\r\n"])
def test_missing_certificate_is_rejected(chain: pki.Chain, certificate: str):
    # Given / When
    message = load_error(certificate, chain.leaf.key_pem())
    # Then
    assert "no certificate found in the certificate field" in message
    assert "certificate=" in message


@pytest.mark.parametrize("key", ["", "  \n "])
def test_missing_key_is_rejected(chain: pki.Chain, key: str):
    # Given / When
    message = load_error(chain.fullchain_pem, key)
    # Then
    assert "no private key found in the key field" in message
    assert "key=" in message


def test_two_keys_are_rejected(chain: pki.Chain):
    # Given the right key and another one
    keys = chain.leaf.key_pem() + key_pem(pki.ec_key())
    # When
    message = load_error(chain.fullchain_pem, keys)
    # Then
    assert "the key field contains 2 private keys" in message
    assert "only the one that matches the certificate" in message


@pytest.mark.parametrize("fmt", [PKCS8, PKCS1], ids=["pkcs8-encrypted", "legacy-proc-type"])
def test_encrypted_key_is_rejected_with_how_to_decrypt_it(
    chain: pki.Chain, fmt: serialization.PrivateFormat
):
    # Given a password-protected key
    encrypted = encrypted_key_pem(chain.leaf.key, fmt)
    # When
    message = load_error(chain.fullchain_pem, encrypted)
    # Then
    assert "the private key is encrypted" in message
    assert "openssl pkey -in key.pem -out key-decrypted.pem" in message


@pytest.mark.parametrize(
    ("key", "named"),
    [
        pytest.param(ed25519.Ed25519PrivateKey.generate(), "Ed25519", id="ed25519"),
        pytest.param(dsa.generate_private_key(2048), "DSA", id="dsa"),
        pytest.param(pki.ec_key(ec.SECP521R1()), "secp521r1", id="p521"),
        pytest.param(pki.ec_key(ec.SECP256K1()), "secp256k1", id="secp256k1"),
    ],
)
def test_unsupported_key_type_is_rejected_by_name(chain: pki.Chain, key: object, named: str):
    # Given a PKCS#8 key of a type nginx should not serve with
    assert isinstance(
        key, (ed25519.Ed25519PrivateKey, dsa.DSAPrivateKey, ec.EllipticCurvePrivateKey)
    )
    pem = key.private_bytes(serialization.Encoding.PEM, PKCS8, serialization.NoEncryption())
    # When
    message = load_error(chain.fullchain_pem, pem.decode())
    # Then
    assert named in message
    assert "RSA key of at least 2048 bits or an ECDSA P-256 or P-384 key" in message or (
        "only P-256 (secp256r1) and P-384 (secp384r1)" in message
    )


def test_openssh_key_format_is_rejected_by_name(chain: pki.Chain):
    # Given an OpenSSH-format key
    pem = chain.leaf.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    # When
    message = load_error(chain.fullchain_pem, pem)
    # Then
    assert "unsupported private key format OPENSSH PRIVATE KEY" in message


def test_rsa_key_below_2048_bits_is_rejected_with_its_size():
    # Given a 1024-bit RSA key and its certificate
    leaf = pki.issue(DOMAIN, key=pki.rsa_key(1024), sans=(DOMAIN,))
    # When
    message = load_error(leaf.cert_pem, leaf.key_pem(PKCS1))
    # Then
    assert "the RSA key is 1024 bits, below the minimum of 2048" in message


def test_key_of_another_certificate_is_rejected(chain: pki.Chain):
    # Given a valid key that is not the leaf's
    # When
    message = load_error(chain.fullchain_pem, key_pem(pki.ec_key()))
    # Then
    assert f"the private key does not match the certificate CN={DOMAIN}" in message


def test_ca_certificate_as_leaf_is_rejected(chain: pki.Chain):
    # Given the intermediate CA certificate with its key, as if it were the leaf
    # When
    message = load_error(chain.intermediate.cert_pem, chain.intermediate.key_pem())
    # Then
    assert "the certificate CN=Test Intermediate CA is a CA certificate" in message
    assert "basicConstraints CA:TRUE" in message


def test_self_signed_ca_certificate_alone_is_rejected_as_a_ca():
    # Given what `openssl req -x509` makes by default: a self-signed CA:TRUE certificate
    ca = pki.issue(DOMAIN, is_ca=True, sans=(DOMAIN,))
    # When
    message = load_error(ca.cert_pem, ca.key_pem())
    # Then
    assert f"the certificate CN={DOMAIN} is a CA certificate" in message


def test_two_leaf_certificates_are_rejected(chain: pki.Chain):
    # Given the leaf and another end-entity certificate from the same CA
    other = pki.issue("other.example.com", issuer=chain.intermediate, sans=("other.example.com",))
    # When
    message = load_error(chain.fullchain_pem + other.cert_pem, chain.leaf.key_pem())
    # Then
    assert "found 2 leaf (non-CA) certificates" in message
    assert f"CN={DOMAIN}" in message
    assert "CN=other.example.com" in message


def test_intermediate_with_the_issuer_name_but_another_key_is_rejected(chain: pki.Chain):
    # Given an intermediate named like the leaf's issuer but holding a different key
    impostor = pki.issue("Test Intermediate CA", issuer=chain.root, is_ca=True)
    # When
    message = load_error(chain.leaf.cert_pem + impostor.cert_pem, chain.leaf.key_pem())
    # Then
    assert "the chain does not link" in message
    assert f"CN=Test Intermediate CA did not sign CN={DOMAIN}" in message


def test_missing_link_names_the_subject_without_issuer():
    # Given root -> upper -> lower -> leaf, but `lower` left out
    root = pki.issue("Root", is_ca=True)
    upper = pki.issue("Upper CA", issuer=root, is_ca=True)
    lower = pki.issue("Lower CA", issuer=upper, is_ca=True)
    leaf = pki.issue(DOMAIN, issuer=lower, sans=(DOMAIN,))
    # When
    message = load_error(leaf.cert_pem + upper.cert_pem, leaf.key_pem())
    # Then
    assert f"the chain does not link: CN={DOMAIN} has no issuer in the bundle" in message
    assert "issued by CN=Lower CA" in message
    assert "CN=Upper CA cannot follow it" in message


def test_unrelated_intermediate_is_rejected(chain: pki.Chain):
    # Given a complete chain up to its root, plus an intermediate of another hierarchy
    stranger = pki.chain_for("elsewhere.example.com").intermediate
    bundle = chain.fullchain_pem + chain.root.cert_pem + stranger.cert_pem
    # When
    message = load_error(bundle, chain.leaf.key_pem())
    # Then
    assert "unrelated intermediate certificate(s) CN=Test Intermediate CA" in message
    assert "remove them" in message


def test_private_key_in_certificate_field_is_rejected(chain: pki.Chain):
    # Given the key pasted along with the certificate
    # When
    message = load_error(chain.fullchain_pem + chain.leaf.key_pem(), chain.leaf.key_pem())
    # Then
    assert message.startswith("the certificate field contains a private key; pass it as key=...")


def test_private_key_in_chain_field_is_rejected(chain: pki.Chain):
    # Given / When
    message = load_error(chain.leaf.cert_pem, chain.leaf.key_pem(), chain.leaf.key_pem())
    # Then
    assert message.startswith("the chain field contains a private key; pass it as key=...")


def test_certificate_in_key_field_is_rejected(chain: pki.Chain):
    # Given the certificate pasted into the key field
    # When
    message = load_error(chain.fullchain_pem, chain.leaf.key_pem() + chain.leaf.cert_pem)
    # Then
    assert message.startswith("the key field contains a certificate; pass it as certificate=...")


def test_public_key_in_key_field_is_rejected(chain: pki.Chain):
    # Given the public half of the key
    public = chain.leaf.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # When
    message = load_error(chain.fullchain_pem, public.decode())
    # Then
    assert "the key field contains a PUBLIC KEY block, not a private key" in message


def test_certificate_signing_request_in_certificate_field_is_rejected(chain: pki.Chain):
    # Given a CSR instead of the certificate
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(chain.leaf.cert.subject)
        .sign(chain.leaf.key, hashes.SHA256())
    )
    pem = csr.public_bytes(serialization.Encoding.PEM).decode()
    # When
    message = load_error(pem, chain.leaf.key_pem())
    # Then
    assert "contains a CERTIFICATE REQUEST block, which is not a certificate" in message


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param(lambda pem: pem.rsplit("-----END", 1)[0], id="no-end-line"),
        pytest.param(lambda pem: pem.split("\n", 1)[1], id="no-begin-line"),
        pytest.param(
            lambda pem: pem.replace("END CERTIFICATE", "END PRIVATE KEY"), id="mismatched"
        ),
    ],
)
def test_unpaired_pem_markers_are_rejected(chain: pki.Chain, broken):
    # Given / When
    message = load_error(broken(chain.leaf.cert_pem), chain.leaf.key_pem())
    # Then
    assert "do not pair up" in message
    assert "paste each PEM block whole" in message


def test_pem_block_with_invalid_base64_is_rejected(chain: pki.Chain):
    # Given a certificate with a character that base64 does not have
    damaged = chain.leaf.cert_pem.replace("M", "!", 2)
    # When
    message = load_error(damaged, chain.leaf.key_pem())
    # Then
    assert "PEM block 1 (CERTIFICATE) in the certificate field is not valid base64" in message


def test_truncated_certificate_is_rejected(chain: pki.Chain):
    # Given a certificate whose DER was cut short (still valid base64)
    der = chain.leaf.cert.public_bytes(serialization.Encoding.DER)[:200]
    pem = pem_block("CERTIFICATE", der)
    # When
    message = load_error(chain.intermediate.cert_pem + pem, chain.leaf.key_pem())
    # Then
    assert "certificate 2 in the certificate field is not a valid X.509 certificate" in message


def test_damaged_key_is_rejected_without_quoting_it(chain: pki.Chain):
    # Given a key whose DER was cut short
    der = chain.leaf.key.private_bytes(
        serialization.Encoding.DER, PKCS8, serialization.NoEncryption()
    )
    pem = pem_block("PRIVATE KEY", der[:40])
    # When
    message = load_error(chain.fullchain_pem, pem)
    # Then
    assert "the private key in the key field could not be read" in message
    assert not any(fragment in message for fragment in key_fragments(pem))


@pytest.mark.parametrize("field", ["certificate", "key", "chain"])
def test_field_over_one_mebibyte_is_rejected(chain: pki.Chain, field: str):
    # Given a field padded beyond 1 MiB
    fields = {"certificate": chain.fullchain_pem, "key": chain.leaf.key_pem(), "chain": ""}
    fields[field] += " " * (1024 * 1024 + 1)
    # When
    message = load_error(**fields)
    # Then
    assert f"the {field} field is" in message
    assert "over the limit of 1048576 (1 MiB)" in message


@pytest.mark.parametrize(
    "make_message",
    [
        pytest.param(lambda c: load_error(c.fullchain_pem, key_pem(pki.ec_key())), id="mismatch"),
        pytest.param(lambda c: load_error(c.leaf.key_pem(), c.leaf.key_pem()), id="key-as-cert"),
        pytest.param(lambda c: load_error(c.fullchain_pem, c.leaf.key_pem() * 2), id="two-keys"),
        pytest.param(
            lambda c: load_error(c.fullchain_pem, encrypted_key_pem(c.leaf.key, PKCS1)),
            id="encrypted",
        ),
    ],
)
def test_errors_never_contain_key_material(chain: pki.Chain, make_message):
    # Given / When
    message = make_message(chain)
    # Then
    assert "PRIVATE KEY-----" not in message
    assert not any(fragment in message for fragment in key_fragments(chain.leaf.key_pem()))


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        " \t\n",
        "\udcff\udcfe",  # lone surrogates, as os.fsdecode makes of invalid UTF-8
        "-----BEGIN CERTIFICATE-----\n\udcff\n-----END CERTIFICATE-----",
        "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----",
        f"-----BEGIN {PRIVATE_KEY}-----\n-----END {PRIVATE_KEY}-----",
        "-----BEGIN " * 70_000,
        "A" * (1024 * 1024 - 1),
        "=" * 5000,
        bytes(range(256)).decode("latin-1"),
        base64.b64encode(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----").decode(),
    ],
)
def test_garbage_in_any_field_raises_only_certificate_error(chain: pki.Chain, garbage: str):
    # Given each field in turn replaced by garbage
    for field in ("certificate", "key", "chain"):
        fields = {"certificate": chain.fullchain_pem, "key": chain.leaf.key_pem(), "chain": ""}
        fields[field] = garbage
        # When / Then
        if field == "chain" and not garbage.strip():
            load(**fields)  # an empty chain is fine
            continue
        with pytest.raises(CertificateError):
            load(**fields)


@settings(max_examples=150, deadline=None)
@given(certificate=st.text(), key=st.text(), extra=st.text())
def test_random_text_raises_only_certificate_error(certificate: str, key: str, extra: str):
    # Given arbitrary text in every field / When / Then
    with pytest.raises(CertificateError):
        load(certificate, key, extra)


@settings(max_examples=100, deadline=None)
@given(noise=st.binary(max_size=300))
def test_random_der_in_pem_armour_raises_only_certificate_error(noise: bytes):
    # Given random bytes dressed as a certificate and as a key / When / Then
    with pytest.raises(CertificateError):
        load(pem_block("CERTIFICATE", noise), pem_block("EC PRIVATE KEY", noise))


# check_for_domain


def test_valid_certificate_covering_the_domain_passes(chain: pki.Chain):
    # Given / When / Then
    check_for_domain(load(chain.fullchain_pem, chain.leaf.key_pem()), DOMAIN, pki.NOW)


def test_expired_certificate_is_rejected_with_its_dates():
    # Given a certificate that expired yesterday
    not_before = datetime.datetime(2024, 1, 2, 3, 4, tzinfo=datetime.timezone.utc)
    not_after = datetime.datetime(2025, 6, 7, 8, 9, tzinfo=datetime.timezone.utc)
    leaf = pki.issue(DOMAIN, sans=(DOMAIN,), not_before=not_before, not_after=not_after)
    certified = load(leaf.cert_pem, leaf.key_pem())
    # When
    with pytest.raises(CertificateError) as caught:
        check_for_domain(certified, DOMAIN, not_after + DAY)
    # Then
    message = str(caught.value)
    assert f"the certificate CN={DOMAIN} has expired" in message
    assert "valid from 2024-01-02 03:04 UTC to 2025-06-07 08:09 UTC" in message
    assert "renew it" in message


def test_not_yet_valid_certificate_is_rejected_with_its_dates():
    # Given a certificate valid from tomorrow
    not_before = datetime.datetime(2030, 1, 2, 3, 4, tzinfo=datetime.timezone.utc)
    not_after = datetime.datetime(2030, 6, 7, 8, 9, tzinfo=datetime.timezone.utc)
    leaf = pki.issue(DOMAIN, sans=(DOMAIN,), not_before=not_before, not_after=not_after)
    certified = load(leaf.cert_pem, leaf.key_pem())
    # When
    with pytest.raises(CertificateError) as caught:
        check_for_domain(certified, DOMAIN, not_before - DAY)
    # Then
    message = str(caught.value)
    assert f"the certificate CN={DOMAIN} is not valid yet" in message
    assert "valid from 2030-01-02 03:04 UTC to 2030-06-07 08:09 UTC" in message
    assert "clock" in message


def test_certificate_not_covering_the_domain_lists_what_it_covers():
    # Given a certificate for two other names
    leaf = pki.issue("a.example.com", sans=("a.example.com", "*.b.example.com"))
    certified = load(leaf.cert_pem, leaf.key_pem())
    # When
    with pytest.raises(CertificateError) as caught:
        check_for_domain(certified, DOMAIN, pki.NOW)
    # Then
    message = str(caught.value)
    assert f"does not cover '{DOMAIN}'" in message
    assert "it covers a.example.com, *.b.example.com" in message


def test_certificate_without_san_says_it_covers_only_its_cn():
    # Given a certificate with no SAN extension
    leaf = pki.issue("a.example.com", sans=None)
    certified = load(leaf.cert_pem, leaf.key_pem())
    # When
    with pytest.raises(CertificateError) as caught:
        check_for_domain(certified, DOMAIN, pki.NOW)
    # Then
    assert "it covers a.example.com (subject CN only" in str(caught.value)


# covers


@pytest.mark.parametrize(
    ("names", "domain", "expected"),
    [
        (("snaps.example.com",), "snaps.example.com", True),
        (("snaps.example.com",), "SNAPS.Example.COM", True),
        (("SNAPS.EXAMPLE.COM",), "snaps.example.com", True),
        (("snaps.example.com",), "snaps.example.com.", True),
        (("snaps.example.com",), "other.example.com", False),
        (("snaps.example.com",), "example.com", False),
        (("*.example.com",), "a.example.com", True),
        (("*.example.com",), "A.EXAMPLE.COM.", True),
        (("*.example.com",), "a.b.example.com", False),
        (("*.example.com",), "example.com", False),
        (("*.example.com",), ".example.com", False),
        (("*.example.com",), "a.example.org", False),
        (("example.com", "*.example.com"), "example.com", True),
        ((), "snaps.example.com", False),
        (("snaps.example.com",), "", False),
    ],
)
def test_covers_matches_san_names_with_single_label_wildcards(
    names: tuple[str, ...], domain: str, expected: bool
):
    # Given / When / Then
    assert covers(info_with(names), domain) is expected


def test_covers_uses_cn_when_there_is_no_san():
    # Given / When / Then
    assert covers(info_with(has_san=False, common_name=DOMAIN), DOMAIN)


def test_covers_ignores_cn_when_there_is_a_san():
    # Given a SAN extension that does not list the CN
    info = info_with(("other.example.com",), common_name=DOMAIN)
    # When / Then
    assert not covers(info, DOMAIN)


def test_covers_ignores_cn_of_a_real_certificate_with_san():
    # Given a real certificate whose CN is not among its SAN names
    leaf = pki.issue(DOMAIN, sans=("other.example.com",))
    info = load(leaf.cert_pem, leaf.key_pem()).info
    # When / Then
    assert info.common_name == DOMAIN
    assert not covers(info, DOMAIN)


# CertificateInfo


@pytest.mark.parametrize(
    ("left", "days"),
    [
        (datetime.timedelta(days=10), 10),
        (datetime.timedelta(days=10) - datetime.timedelta(seconds=1), 9),
        (datetime.timedelta(0), 0),
        (datetime.timedelta(seconds=-1), -1),
        (datetime.timedelta(days=-3, hours=-1), -4),
    ],
)
def test_days_left_is_whole_days_rounded_down(left: datetime.timedelta, days: int):
    # Given
    info = info_with(not_after=pki.NOW + left)
    # When / Then
    assert info.days_left(pki.NOW) == days


def test_as_result_has_exactly_the_documented_keys_and_no_key_material(chain: pki.Chain):
    # Given
    certified = load(chain.fullchain_pem, chain.leaf.key_pem())
    # When
    result = certified.info.as_result(pki.NOW)
    # Then
    assert set(result) == {
        "subject",
        "san-names",
        "issuer",
        "not-before",
        "not-after",
        "days-left",
        "fingerprint-sha256",
    }
    assert all(isinstance(value, str) for value in result.values())
    assert not any("PRIVATE" in value for value in result.values())


def test_as_result_values_describe_the_leaf():
    # Given a leaf with known dates and names
    not_before = datetime.datetime(2026, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
    not_after = datetime.datetime(2027, 3, 1, 12, 0, tzinfo=datetime.timezone.utc)
    issuer = pki.issue("Test CA", is_ca=True)
    leaf = pki.issue(
        DOMAIN,
        issuer=issuer,
        sans=(DOMAIN, "*.snaps.example.com"),
        not_before=not_before,
        not_after=not_after,
    )
    info = load(leaf.cert_pem, leaf.key_pem()).info
    # When
    result = info.as_result(not_after - 10 * DAY)
    # Then
    assert result["subject"] == f"CN={DOMAIN}"
    assert result["san-names"] == f"{DOMAIN}, *.snaps.example.com"
    assert result["issuer"] == "CN=Test CA"
    assert result["not-before"] == "2026-01-01T00:00:00Z"
    assert result["not-after"] == "2027-03-01T12:00:00Z"
    assert result["days-left"] == "10"


def test_info_dates_are_timezone_aware_utc(chain: pki.Chain):
    # Given / When
    info = load(chain.fullchain_pem, chain.leaf.key_pem()).info
    # Then
    assert info.not_before.utcoffset() == datetime.timedelta(0)
    assert info.not_after.utcoffset() == datetime.timedelta(0)


def test_fingerprint_has_openssl_format(chain: pki.Chain):
    # Given / When
    fingerprint = load(chain.fullchain_pem, chain.leaf.key_pem()).info.fingerprint_sha256
    # Then
    assert re.fullmatch(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", fingerprint)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_fingerprint_equals_openssl_x509_fingerprint(chain: pki.Chain):
    # Given what openssl prints, e.g. "sha256 Fingerprint=AB:CD:..."
    printed = subprocess.run(
        ["openssl", "x509", "-noout", "-fingerprint", "-sha256"],
        input=chain.leaf.cert_pem,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # When
    info = load(chain.fullchain_pem, chain.leaf.key_pem()).info
    # Then
    assert info.fingerprint_sha256 == printed.strip().split("=", 1)[1]


# describe_chain


def test_describe_chain_describes_the_first_certificate(chain: pki.Chain):
    # Given a served chain
    certified = load(chain.fullchain_pem, chain.leaf.key_pem())
    # When
    info = describe_chain(certified.chain_pem)
    # Then
    assert info == certified.info
    assert info.subject == f"CN={DOMAIN}"
    assert info.issuer == "CN=Test Intermediate CA"


@pytest.mark.parametrize("text", ["", "\n", "garbage", "-----BEGIN CERTIFICATE-----\nAA=="])
def test_describe_chain_without_a_certificate_raises_certificate_error(text: str):
    # Given / When / Then
    with pytest.raises(CertificateError):
        describe_chain(text)
