"""Certificates and keys as operators paste them: parse, validate, normalise, describe.

Pure module: no ops import. Every rejected input raises `CertificateError`, whose
message says what is wrong and how to fix it, and never contains key material.

- `load(certificate, key, chain="") -> CertifiedKey`
  Each argument is PEM text or base64 of PEM (whitespace/CRLF tolerated). The
  certificate field may hold the leaf plus intermediates in any order (a fullchain);
  `chain` may add more intermediates. Certificates are deduplicated, ordered leaf
  first, then each intermediate signing the one before; a self-signed root is
  dropped (never served). Checks, each a precise CertificateError:
  not PEM/base64 (DER is named, with the command that converts it); no certificate;
  no key / more than one key; encrypted key (say how to decrypt:
  `openssl pkey -in key.pem -out key-decrypted.pem`); key type not
  RSA>=2048 or ECDSA P-256/P-384 (PKCS#1, PKCS#8, SEC1 PEM accepted); key does not
  match leaf; leaf is a CA; more than one leaf; chain does not link (an intermediate
  not signing the previous certificate, a missing link, an unrelated intermediate);
  leaf or intermediate signed with SHA-1 or MD5, which TLS clients refuse (a root's own
  self-signature is never checked by clients, so a SHA-1 root is accepted and dropped).
- `check_for_domain(certified, domain, now)`: leaf expired / not yet valid (give the
  dates), leaf does not cover `domain` (list the names it covers).
- `covers(info, domain)`: SAN DNS names with single-label wildcards; subject CN only
  when the certificate has no SAN extension.
- `describe_chain(chain_pem) -> CertificateInfo` for the certificate being served.
"""

from __future__ import annotations

import base64
import datetime
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ParamSpec, TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import (
    dsa,
    ec,
    ed448,
    ed25519,
    padding,
    rsa,
    x448,
    x25519,
)
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import NameOID

# Far above any real bundle, low enough that parsing a hostile paste stays instant.
MAX_FIELD_CHARS = 1024 * 1024

ServableKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

_MIN_RSA_BITS = 2048
_SUPPORTED_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384"}
_KEY_LABELS = frozenset({"PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"})
# `openssl ecparam -genkey` writes this block before a SEC1 key; it carries nothing we need.
_IGNORED_LABELS = frozenset({"EC PARAMETERS"})
_OTHER_KEY_KINDS: tuple[tuple[type, str], ...] = (
    (dsa.DSAPrivateKey, "DSA"),
    (ed25519.Ed25519PrivateKey, "Ed25519"),
    (ed448.Ed448PrivateKey, "Ed448"),
    (x25519.X25519PrivateKey, "X25519"),
    (x448.X448PrivateKey, "X448"),
)
# Labels are upper-case words; the bounded class (no '-') keeps matching linear on any input.
_PEM_MARKER = re.compile(r"-----(BEGIN|END) ([A-Z0-9 ]{1,64})-----")
# Spelled in two parts so that secret scanners do not take this module for a key.
_PRIVATE_KEY = "PRIVATE " + "KEY"
_DECRYPT_HINT = "decrypt it with `openssl pkey -in key.pem -out key-decrypted.pem`"
_KEY_ADVICE = "use an RSA key of at least 2048 bits or an ECDSA P-256 or P-384 key"
# Signature hashes TLS clients refuse in a served certificate (collisions are practical).
_WEAK_HASHES = {"sha1": "SHA-1", "md5": "MD5"}
# DER starts with an ASN.1 SEQUENCE tag; certificates and keys are longer than 127 bytes.
_DER_PREFIXES = (b"\x30\x82", b"\x30\x81", b"\x30\x83")

_P = ParamSpec("_P")
_R = TypeVar("_R")


class CertificateError(ValueError):
    """An input that cannot become the served certificate; str() says why and what to do."""


@dataclass(frozen=True)
class CertificateInfo:
    """What an operator wants to know about a leaf certificate."""

    subject: str
    san_dns: tuple[str, ...]
    issuer: str
    not_before: datetime.datetime  # timezone-aware UTC
    not_after: datetime.datetime  # timezone-aware UTC
    fingerprint_sha256: str  # colon-separated upper-case hex
    common_name: str | None = None
    has_san: bool = True

    def days_left(self, now: datetime.datetime) -> int:
        """Whole days from `now` (timezone-aware) until expiry, rounded down; negative once expired."""
        return (self.not_after - now) // datetime.timedelta(days=1)

    def as_result(self, now: datetime.datetime) -> dict[str, str]:
        """Return the action result: subject, san-names, issuer, validity, days-left, fingerprint."""
        return {
            "subject": self.subject,
            "san-names": ", ".join(self.san_dns),
            "issuer": self.issuer,
            "not-before": _iso_utc(self.not_before),
            "not-after": _iso_utc(self.not_after),
            "days-left": str(self.days_left(now)),
            "fingerprint-sha256": self.fingerprint_sha256,
        }

    def names(self) -> tuple[str, ...]:
        """Return the names clients match: the SAN DNS names, or the CN when there is no SAN."""
        if self.has_san:
            return self.san_dns
        return (self.common_name,) if self.common_name else ()


@dataclass(frozen=True)
class CertifiedKey:
    """A validated leaf, its intermediates and its private key, ready to serve."""

    chain_pem: str  # leaf first, then intermediates; never the root; ends with a newline
    key_pem: str = field(repr=False)  # unencrypted PKCS#8 PEM with "\n" line endings
    info: CertificateInfo = field(compare=False)


@dataclass(frozen=True)
class _PemBlock:
    label: str
    body: str  # the text between the BEGIN and END lines, headers included
    number: int  # 1-based position among the blocks of its field, for messages


def _only_certificate_errors(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """Turn anything a parser raises on hostile input into CertificateError.

    The cryptography parsers raise several unrelated exception types on malformed input;
    callers (action handlers) must only need to catch one. The original exception is not
    chained: its text could quote the input, which may be a private key.
    """

    @functools.wraps(function)
    def guarded(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return function(*args, **kwargs)
        except CertificateError:
            raise
        except Exception as error:
            raise CertificateError(
                f"the certificate or key could not be read ({type(error).__name__}); "
                "check that each field holds complete, unmodified PEM"
            ) from None

    return guarded


@_only_certificate_errors
def load(certificate: str, key: str, chain: str = "") -> CertifiedKey:
    """Validate what an operator (or a provider) gave and return it ready to serve.

    Raises CertificateError saying what is wrong and how to fix it.
    """
    certs = _read_certificates(certificate, "certificate") + _read_certificates(chain, "chain")
    private_key = _read_key(key)
    if not certs:
        raise CertificateError(
            "no certificate found in the certificate field; pass the PEM certificate "
            "(-----BEGIN CERTIFICATE-----) as certificate=..."
        )
    unique = list(dict.fromkeys(certs))  # Certificate equality is DER equality
    leaf = _pick_leaf(unique, private_key)
    _check_key_matches(leaf, private_key)
    _check_signature_hash(leaf)
    roots = [cert for cert in unique if _is_ca(cert) and _is_self_signed(cert)]
    intermediates = [cert for cert in unique if cert is not leaf and cert not in roots]
    served = _order_chain(leaf, intermediates, roots)
    for intermediate in served[1:]:
        _check_signature_hash(intermediate)
    return CertifiedKey(
        chain_pem="".join(_pem_of(cert) for cert in served),
        key_pem=_pkcs8_pem(private_key),
        info=_describe(leaf),
    )


def check_for_domain(certified: CertifiedKey, domain: str, now: datetime.datetime) -> None:
    """Raise CertificateError unless the leaf is valid at `now` (tz-aware) and covers `domain`."""
    info = certified.info
    validity = f"valid from {_human_utc(info.not_before)} to {_human_utc(info.not_after)}"
    if now < info.not_before:
        raise CertificateError(
            f"the certificate {info.subject} is not valid yet ({validity}); check this "
            "machine's clock, or import it once it becomes valid"
        )
    if now > info.not_after:
        raise CertificateError(
            f"the certificate {info.subject} has expired ({validity}); "
            "renew it and import the new certificate"
        )
    if not covers(info, domain):
        raise CertificateError(
            f"the certificate {info.subject} does not cover {domain!r}; it covers "
            f"{_covered_names(info)}; issue a certificate with {domain!r} as a "
            "subjectAltName DNS name, or set the `domain` option to a covered name"
        )


def covers(info: CertificateInfo, domain: str) -> bool:
    """Whether a client connecting to `domain` would accept this certificate's names.

    Case-insensitive; a trailing dot on `domain` is ignored; `*.example.com` matches
    exactly one extra label. The subject CN counts only when there is no SAN extension,
    as browsers and modern TLS clients do.
    """
    wanted = _canonical_name(domain)
    if not wanted:
        return False
    return any(_name_matches(_canonical_name(name), wanted) for name in info.names())


@_only_certificate_errors
def describe_chain(chain_pem: str) -> CertificateInfo:
    """Describe the first certificate of a PEM bundle: the leaf being served."""
    certs = _read_certificates(chain_pem, "served chain")
    if not certs:
        raise CertificateError("no certificate found in the served chain")
    return _describe(certs[0])


# --- reading fields -------------------------------------------------------------------


def _read_certificates(value: str, field_name: str) -> list[x509.Certificate]:
    """Every certificate in a field, in the order given; nothing else may be there."""
    certs: list[x509.Certificate] = []
    for block in _pem_blocks(_pem_text(value, field_name), field_name):
        if "PRIVATE KEY" in block.label:
            raise CertificateError(
                f"the {field_name} field contains a private key; pass it as key=... "
                "(and keep it out of chats and bug reports)"
            )
        if block.label in _IGNORED_LABELS:
            continue
        if block.label != "CERTIFICATE":
            raise CertificateError(
                f"the {field_name} field contains a {block.label} block, which is not a "
                "certificate; pass only PEM certificates (-----BEGIN CERTIFICATE-----) there"
            )
        certs.append(_parse_certificate(block, field_name))
    return certs


def _read_key(value: str) -> ServableKey:
    """Return the one private key of the key field, checked to be one we can serve with."""
    blocks = [
        block
        for block in _pem_blocks(_pem_text(value, "key"), "key")
        if block.label not in _IGNORED_LABELS
    ]
    if any(block.label == "CERTIFICATE" for block in blocks):
        raise CertificateError(
            "the key field contains a certificate; pass it as certificate=... "
            "and give only the private key as key=..."
        )
    for block in blocks:
        if "PRIVATE KEY" not in block.label:
            raise CertificateError(
                f"the key field contains a {block.label} block, not a private key; "
                "pass the PEM private key as key=..."
            )
    if not blocks:
        raise CertificateError(
            "no private key found in the key field; pass the PEM private key "
            f"(-----BEGIN {_PRIVATE_KEY}-----) as key=..."
        )
    if len(blocks) > 1:
        raise CertificateError(
            f"the key field contains {len(blocks)} private keys; "
            "pass only the one that matches the certificate"
        )
    return _parse_key(blocks[0])


def _pem_text(value: str, field_name: str) -> str:
    """Return the field as PEM text, base64-decoding it first if that is how it was given."""
    text = _normalised(value, field_name)
    if not text or _PEM_MARKER.search(text):
        return text
    decoded = _base64_text(text)
    if decoded is None or not _PEM_MARKER.search(decoded):
        if _looks_like_der(text):
            raise CertificateError(
                f"the {field_name} field holds DER (binary), not PEM; convert it with "
                "`openssl x509 -inform DER -in cert.der -out cert.pem` (a key: "
                "`openssl pkey -inform DER -in key.der -out key.pem`) and pass the PEM text"
            )
        raise CertificateError(
            f"the {field_name} field is neither PEM nor base64 of PEM; pass the file's text, "
            "which starts with -----BEGIN ...-----, or its base64 (`base64 -w0 file.pem`)"
        )
    return _normalised(decoded, field_name)


def _normalised(value: str, field_name: str) -> str:
    """Return the text with Unix line endings and no surrounding whitespace, if not too big."""
    if not isinstance(value, str):
        raise CertificateError(f"the {field_name} field must be text (PEM or base64 of PEM)")
    if len(value) > MAX_FIELD_CHARS:
        raise CertificateError(
            f"the {field_name} field is {len(value)} characters long, over the limit of "
            f"{MAX_FIELD_CHARS} (1 MiB); pass only the PEM certificate(s) or key"
        )
    return value.replace("\r\n", "\n").replace("\r", "\n").strip()


def _base64_text(text: str) -> str | None:
    """Return the UTF-8 text that `text` encodes in base64 (line breaks allowed), or None."""
    try:
        return base64.b64decode("".join(text.split()), validate=True).decode("utf-8")
    except ValueError:  # binascii.Error, non-ASCII input and UnicodeDecodeError all are
        return None


def _looks_like_der(text: str) -> bool:
    """Whether `text` is DER: as pasted (bytes read as Latin-1 or surrogateescape) or base64."""
    try:
        raw = text.encode("latin-1")
    except UnicodeEncodeError:
        try:
            raw = text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a surrogate that no decoding of bytes makes
            raw = b""
    try:
        decoded = base64.b64decode("".join(text.split()), validate=True)
    except ValueError:
        decoded = b""
    return raw.startswith(_DER_PREFIXES) or decoded.startswith(_DER_PREFIXES)


def _pem_blocks(text: str, field_name: str) -> list[_PemBlock]:
    """Split `text` into PEM blocks; text between blocks (as openssl writes it) is ignored."""
    blocks: list[_PemBlock] = []
    open_label, body_start = None, 0
    for marker in _PEM_MARKER.finditer(text):
        kind, label = marker.groups()
        if kind == "BEGIN" and open_label is None:
            open_label, body_start = label, marker.end()
        elif kind == "END" and label == open_label:
            blocks.append(_PemBlock(label, text[body_start : marker.start()], len(blocks) + 1))
            open_label = None
        else:
            raise _broken_pem(field_name, open_label or label)
    if open_label is not None:
        raise _broken_pem(field_name, open_label)
    return blocks


def _broken_pem(field_name: str, label: str) -> CertificateError:
    return CertificateError(
        f"the {field_name} field has a {label} block whose -----BEGIN {label}----- and "
        f"-----END {label}----- lines do not pair up; paste each PEM block whole, "
        "from its BEGIN line to its END line"
    )


def _block_der(block: _PemBlock, field_name: str) -> bytes:
    """Return the DER a PEM block encodes; line breaks and spaces in the base64 are fine."""
    try:
        return base64.b64decode("".join(block.body.split()), validate=True)
    except ValueError:
        raise CertificateError(
            f"PEM block {block.number} ({block.label}) in the {field_name} field is not "
            "valid base64; it may have been truncated or edited: paste it again unchanged"
        ) from None


def _parse_certificate(block: _PemBlock, field_name: str) -> x509.Certificate:
    """Load a certificate and touch every part we later read, so errors surface here."""
    der = _block_der(block, field_name)
    try:
        cert = x509.load_der_x509_certificate(der)
        _describe(cert)
        _is_ca(cert)
    except Exception:  # the Rust parser raises several unrelated types on malformed DER
        raise CertificateError(
            f"certificate {block.number} in the {field_name} field is not a valid X.509 "
            "certificate; it may have been truncated or edited: paste it again unchanged"
        ) from None
    return cert


def _parse_key(block: _PemBlock) -> ServableKey:
    """Load the key of a PEM block and check that nginx can serve with it."""
    # Legacy OpenSSL encryption shows as a "Proc-Type: 4,ENCRYPTED" header inside the block.
    if block.label == "ENCRYPTED PRIVATE KEY" or "Proc-Type:" in block.body:
        raise CertificateError(f"the private key is encrypted; {_DECRYPT_HINT} and pass that")
    if block.label not in _KEY_LABELS:
        raise CertificateError(
            f"unsupported private key format {block.label}; {_KEY_ADVICE}, as PEM "
            "(BEGIN PRIVATE KEY, BEGIN RSA PRIVATE KEY or BEGIN EC PRIVATE KEY)"
        )
    der = _block_der(block, "key")
    try:
        key = serialization.load_der_private_key(der, password=None)
    except TypeError:  # raised when the DER itself is password-protected
        raise CertificateError(f"the private key is encrypted; {_DECRYPT_HINT}") from None
    except UnsupportedAlgorithm:
        raise CertificateError(
            f"the private key's algorithm is not supported; {_KEY_ADVICE}"
        ) from None
    except ValueError:
        raise CertificateError(
            "the private key in the key field could not be read; it may have been "
            "truncated or edited: paste it again unchanged"
        ) from None
    return _servable(key)


def _servable(key: PrivateKeyTypes) -> ServableKey:
    """Return the key if it is RSA >= 2048 bits or ECDSA P-256/P-384; raise otherwise."""
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < _MIN_RSA_BITS:
            raise CertificateError(
                f"the RSA key is {key.key_size} bits, below the minimum of {_MIN_RSA_BITS}; "
                "generate a new key (e.g. `openssl genrsa -out key.pem 3072`) and reissue "
                "the certificate for it"
            )
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name not in _SUPPORTED_CURVES:
            raise CertificateError(
                f"the ECDSA key uses curve {key.curve.name}, which is not supported; "
                "only P-256 (secp256r1) and P-384 (secp384r1) are: generate a new key and "
                "reissue the certificate"
            )
        return key
    kind = next((name for cls, name in _OTHER_KEY_KINDS if isinstance(key, cls)), "unknown")
    raise CertificateError(f"unsupported key type {kind}; {_KEY_ADVICE}")


# --- the leaf and its chain -----------------------------------------------------------


def _pick_leaf(certs: list[x509.Certificate], key: ServableKey) -> x509.Certificate:
    """Return the only end-entity (non-CA) certificate of the bundle."""
    leaves = [cert for cert in certs if not _is_ca(cert)]
    if len(leaves) > 1:
        listed = "; ".join(
            f"{cert.subject.rfc4514_string()} (expires {_human_utc(cert.not_valid_after_utc)})"
            for cert in leaves
        )
        raise CertificateError(
            f"found {len(leaves)} leaf (non-CA) certificates: {listed}; pass exactly one "
            "server certificate, plus the intermediate CA certificates that issued it"
        )
    if not leaves:
        # Name the certificate the operator most likely meant as the leaf.
        meant = next((cert for cert in certs if _public_key_matches(cert, key)), certs[0])
        raise CertificateError(
            f"the certificate {meant.subject.rfc4514_string()} is a CA certificate "
            "(basicConstraints CA:TRUE), not a server certificate; pass the leaf "
            "certificate issued for the domain (CA:FALSE)"
        )
    return leaves[0]


def _check_key_matches(leaf: x509.Certificate, key: ServableKey) -> None:
    if not _public_key_matches(leaf, key):
        raise CertificateError(
            f"the private key does not match the certificate {leaf.subject.rfc4514_string()}; "
            "pass the key the certificate was issued for (the one its CSR was made with)"
        )


def _order_chain(
    leaf: x509.Certificate, intermediates: list[x509.Certificate], roots: list[x509.Certificate]
) -> list[x509.Certificate]:
    """Leaf first, then each intermediate that signed the one before; all must be used."""
    served, unplaced = [leaf], list(intermediates)
    while issuer := next((cert for cert in unplaced if _signed_by(served[-1], cert)), None):
        served.append(issuer)
        unplaced.remove(issuer)
    if unplaced:
        raise _unlinked(served[-1], unplaced, roots)
    return served


def _unlinked(
    last: x509.Certificate, unplaced: list[x509.Certificate], roots: list[x509.Certificate]
) -> CertificateError:
    """Why the intermediates left over could not be placed after `last`."""
    last_subject, unplaced_subjects = last.subject.rfc4514_string(), _subjects(unplaced)
    impostor = next((cert for cert in unplaced if cert.subject == last.issuer), None)
    if impostor is not None:
        return CertificateError(
            f"the chain does not link: the intermediate {impostor.subject.rfc4514_string()} "
            f"did not sign {last_subject} (same name as its issuer, but the signature does "
            "not verify); pass the intermediate that actually issued it"
        )
    if _is_self_signed(last) or any(_signed_by(last, root) for root in roots):
        return CertificateError(
            f"unrelated intermediate certificate(s) {unplaced_subjects}: not on the path from "
            "the leaf to its root; remove them"
        )
    return CertificateError(
        f"the chain does not link: {last_subject} has no issuer in the bundle (it was issued "
        f"by {last.issuer.rfc4514_string()}), so {unplaced_subjects} cannot follow it; add "
        "the missing intermediate certificate, or remove the unrelated ones"
    )


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except ValueError:  # cryptography refuses to verify SHA-1 and MD5 signatures
        return _weak_signature_verifies(cert, issuer)
    except (TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _weak_signature_verifies(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Verify a SHA-1 or MD5 signature, so such a certificate is placed and then named.

    Placing it matters: a root self-signed with SHA-1 is still a root (clients never
    check a root's own signature), and a SHA-1 intermediate deserves "signed with
    SHA-1", not "the chain does not link".
    """
    try:
        algorithm = cert.signature_hash_algorithm
        public_key = issuer.public_key()
        if algorithm is None or algorithm.name not in _WEAK_HASHES:
            return False
        scheme = cert.signature_algorithm_parameters
        if isinstance(public_key, rsa.RSAPublicKey):
            if not isinstance(scheme, (padding.PKCS1v15, padding.PSS)):
                return False
            public_key.verify(cert.signature, cert.tbs_certificate_bytes, scheme, algorithm)
            return True
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(algorithm))
            return True
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        pass
    return False


def _check_signature_hash(cert: x509.Certificate) -> None:
    """Refuse a served certificate whose signature TLS clients reject."""
    subject = cert.subject.rfc4514_string()
    try:
        algorithm = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        raise CertificateError(
            f"the certificate {subject} is signed with an unsupported algorithm "
            f"({cert.signature_algorithm_oid.dotted_string}); reissue it with a SHA-256 "
            "signature"
        ) from None
    if algorithm is not None and algorithm.name in _WEAK_HASHES:
        raise CertificateError(
            f"the certificate {subject} is signed with {_WEAK_HASHES[algorithm.name]}, "
            "which TLS clients reject; reissue it with a SHA-256 signature "
            "(e.g. `openssl x509 -req -sha256 ...`)"
        )


def _is_self_signed(cert: x509.Certificate) -> bool:
    return _signed_by(cert, cert)


def _is_ca(cert: x509.Certificate) -> bool:
    # RFC 5280: without basicConstraints CA:TRUE a certificate is an end entity.
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        return False
    return constraints.value.ca


def _public_key_matches(cert: x509.Certificate, key: ServableKey) -> bool:
    try:
        cert_key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return False
    return _spki(cert_key) == _spki(key.public_key())


def _spki(public_key: object) -> bytes:
    """SubjectPublicKeyInfo DER: a key-type-independent way to compare public keys."""
    if not isinstance(public_key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)):
        return b""  # never equal to the servable key it is compared with
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# --- describing -----------------------------------------------------------------------


def _describe(cert: x509.Certificate) -> CertificateInfo:
    san = _san(cert)
    return CertificateInfo(
        subject=cert.subject.rfc4514_string(),
        san_dns=tuple(san.get_values_for_type(x509.DNSName)) if san else (),
        issuer=cert.issuer.rfc4514_string(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        # The same form as `openssl x509 -noout -fingerprint -sha256`.
        fingerprint_sha256=cert.fingerprint(hashes.SHA256()).hex(":").upper(),
        common_name=_common_name(cert),
        has_san=san is not None,
    )


def _san(cert: x509.Certificate) -> x509.SubjectAlternativeName | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None


def _common_name(cert: x509.Certificate) -> str | None:
    attributes = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not attributes:
        return None
    value = attributes[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _covered_names(info: CertificateInfo) -> str:
    if not info.names():
        return "no DNS names"
    names = ", ".join(info.names())
    return names if info.has_san else f"{names} (subject CN only: it has no subjectAltName)"


def _canonical_name(name: str) -> str:
    name = name.strip().lower()
    return name[:-1] if name.endswith(".") else name


def _name_matches(pattern: str, domain: str) -> bool:
    """Exact match, or a `*.` wildcard standing for exactly one non-empty leftmost label."""
    if pattern == domain:
        return True
    if not pattern.startswith("*."):
        return False
    label, _, parent = domain.partition(".")
    return bool(label) and label != "*" and parent == pattern[2:]


def _subjects(certs: list[x509.Certificate]) -> str:
    return ", ".join(cert.subject.rfc4514_string() for cert in certs)


def _pem_of(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _pkcs8_pem(key: ServableKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def _iso_utc(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _human_utc(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
