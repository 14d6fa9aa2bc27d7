"""The leak detector: does any stretch of a private key appear in a text or a file?

Shared by tests/unit/test_key_hygiene.py and tests/workload/test_key_hygiene.py; it
needs nothing beyond cryptography and pytest, so both environments can import it.
"""

from __future__ import annotations

import base64
import functools
import logging
import re
import traceback
from collections.abc import Iterable

import pytest
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa

WINDOW = 32  # any run of this many characters of the key's base64 counts as a leak
# ...if it carries private bits: the ASN.1 framing is the same in every key of a type and
# the public half is in the certificate, so windows of those alone would flag any other key
# or certificate. 64 private bits cannot match another key's by chance.
MIN_PRIVATE_BITS = 64

_ESCAPED_BREAKS = re.compile(r"\\r|\\n")  # line breaks as repr() and JSON write them
_WHITESPACE = re.compile(r"\s+")


def pem_body(secret_pem: str) -> str:
    """The base64 of a PEM key (or bare base64) without BEGIN/END lines, headers and whitespace."""
    lines = (line.strip() for line in secret_pem.splitlines())
    kept = "".join(line for line in lines if not line.startswith("-----") and ":" not in line)
    return "".join(kept.split())


def _private_byte_mask(der: bytes) -> list[bool] | None:
    """Which bytes of a DER private key hold private values; None when it cannot be read."""
    try:
        key = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None
    if isinstance(key, rsa.RSAPrivateKey):
        n = key.private_numbers()
        values = [n.d, n.p, n.q, n.dmp1, n.dmq1, n.iqmp]
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        values = [key.private_numbers().private_value]
    elif isinstance(key, dsa.DSAPrivateKey):
        values = [key.private_numbers().x]
    else:  # EdDSA and X25519/X448: only the raw private bytes are secret
        raw = key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        values = [int.from_bytes(raw, "big")]
    mask = [False] * len(der)
    for value in values:
        encoded = value.to_bytes((value.bit_length() + 7) // 8, "big")
        at = der.find(encoded)
        if at >= 0:
            mask[at : at + len(encoded)] = [True] * len(encoded)
    return mask


@functools.cache
def secret_windows(secret_pem: str) -> tuple[str, ...]:
    """The 32-character windows of the key's base64 body that carry private bits.

    A body that is no readable key (encrypted, corrupt, base64 of PEM) is all secret.
    """
    body = pem_body(secret_pem)
    starts = range(len(body) - WINDOW + 1)
    try:
        mask = _private_byte_mask(base64.b64decode(body, validate=True))
    except ValueError:
        mask = None
    if mask is None:
        return tuple(dict.fromkeys(body[i : i + WINDOW] for i in starts))
    bits = [secret for secret in mask for _ in range(8)]  # base64 char i covers bits 6i..6i+5
    return tuple(
        dict.fromkeys(
            body[i : i + WINDOW]
            for i in starts
            if sum(bits[6 * i : 6 * (i + WINDOW)]) >= MIN_PRIVATE_BITS
        )
    )


def _substrings(text: str) -> set[str]:
    return {text[i : i + WINDOW] for i in range(len(text) - WINDOW + 1)}


def leaks(secret_pem: str, haystack: str) -> list[str]:
    """Return every 32-character window of the key's base64 body found in `haystack`.

    `secret_pem` is the key as PEM (or just its base64 body). The haystack is searched as
    it is, with all whitespace removed (a PEM wrapped at 64 characters, a key split over
    log lines), and with repr/JSON-escaped line breaks removed too (a PEM inside the repr
    of a string or a dict). Windows holding no private bits are not secrets (see
    MIN_PRIVATE_BITS).
    """
    views = (
        haystack,
        _WHITESPACE.sub("", haystack),
        _WHITESPACE.sub("", _ESCAPED_BREAKS.sub("", haystack)),
    )
    seen = set().union(*map(_substrings, views))
    return [window for window in secret_windows(secret_pem) if window in seen]


def key_forms(*pems: str) -> list[str]:
    """The PEMs given, plus every form the charm or a library may rewrite a key to.

    A key imported as PKCS#1 or SEC1 is served as PKCS#8, and a key given as base64 of
    PEM is decoded: every form must stay hidden.
    """
    forms = dict.fromkeys(pems)
    for given in pems:
        pem = given if "-----BEGIN" in given else _decoded(given)
        forms[pem] = None
        try:
            key = serialization.load_pem_private_key(pem.encode(), password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            continue  # encrypted or corrupt: only its own text is known
        for private_format in (
            serialization.PrivateFormat.PKCS8,
            serialization.PrivateFormat.TraditionalOpenSSL,
        ):
            try:
                rewritten = key.private_bytes(
                    serialization.Encoding.PEM, private_format, serialization.NoEncryption()
                )
            except ValueError:  # no traditional form for this key type
                continue
            forms[rewritten.decode()] = None
    return [form for form in forms if form]


def _decoded(text: str) -> str:
    try:
        return base64.b64decode(pem_body(text), validate=True).decode()
    except ValueError:
        return ""


def leaks_of(pems: Iterable[str], haystack: str) -> list[str]:
    """Every window of any of the keys (in every form) found in `haystack`."""
    return [window for pem in key_forms(*pems) for window in leaks(pem, haystack)]


@functools.cache
def _secret_der_windows(secret_pem: str) -> tuple[bytes, ...]:
    try:
        der = base64.b64decode(pem_body(secret_pem), validate=True)
    except ValueError:
        return ()
    mask = _private_byte_mask(der) or [True] * len(der)
    return tuple(
        der[i : i + WINDOW]
        for i in range(len(der) - WINDOW + 1)
        if 8 * sum(mask[i : i + WINDOW]) >= MIN_PRIVATE_BITS
    )


def holds_key(data: bytes, pems: Iterable[str]) -> bool:
    """Whether file bytes hold a secret window of a key's PEM, or 32 bytes of its DER."""
    forms = key_forms(*pems)
    if leaks_of(forms, data.decode("latin-1")):
        return True
    return any(window in data for pem in forms for window in _secret_der_windows(pem))


def log_haystack(records: Iterable[logging.LogRecord]) -> str:
    """Everything a log record carries: message, arguments, extras, exception and stack."""
    formatter = logging.Formatter()
    parts = []
    for record in records:
        parts += [record.getMessage(), repr(vars(record))]
        if record.exc_info:
            parts.append(formatter.formatException(record.exc_info))
        if record.stack_info:
            parts.append(record.stack_info)
    return "\n".join(parts)


def exception_haystack(error: BaseException) -> str:
    """str, repr, reason and the traceback as a log handler would print it, causes included."""
    reason = getattr(error, "reason", None)
    return "\n".join([str(error), repr(error), str(reason), *traceback.format_exception(error)])


def debug_logs_everywhere(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Capture DEBUG and up from every logger, including those that do not propagate."""
    caplog.set_level(logging.DEBUG)
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger):
            caplog.set_level(logging.DEBUG, logger=name)
            if not logger.propagate and caplog.handler not in logger.handlers:
                logger.addHandler(caplog.handler)
    return caplog
