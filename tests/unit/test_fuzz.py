"""Property-based fuzzing of everything an operator's text reaches before nginx does.

- the certificate parser and validator (`certificates.load`, `describe_chain`): whatever
  the input, only CertificateError escapes, and a bundle that is accepted is the genuine
  one; harmless changes (line endings, whitespace, base64, order) never break it;
- the config options (`state.CharmConfig`): a value is either canonical or refused with
  InvalidConfig naming its option;
- the renderer (`frontend.render_config`): no value SiteConfig accepts can add or remove
  an nginx directive or block, and the config never holds PEM.

How many examples run comes from the hypothesis profile (tests/conftest.py): 2,000 per
property in CI; `FUZZ_EXAMPLES=<n>` raises it locally. Certificates are made once per
module, never per example.
"""

from __future__ import annotations

import base64
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st

from certificates import CertificateError, CertifiedKey, check_for_domain, describe_chain, load
from frontend import Layout, SiteConfig, TLSFiles, render_config
from state import CharmConfig, InvalidConfig, parse_domain
from tests import pki

DOMAIN = "snaps.example.internal"
LAYOUT = Layout(
    root=Path("/etc/snap-store-proxy-frontend"),
    run_dir=Path("/run/snap-store-proxy-frontend"),
    log_dir=Path("/var/log/snap-store-proxy-frontend"),
)
FIELDS = ("certificate", "key", "chain")
_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----\n?", re.DOTALL)
_RFC1123_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


# --- one valid bundle per module ------------------------------------------------------


@dataclass(frozen=True)
class Bundle:
    """A valid import: fullchain, key, and the root in chain= (accepted, never served)."""

    fields: dict[str, str]
    served: CertifiedKey


@functools.cache
def bundle() -> Bundle:
    chain = pki.chain_for(DOMAIN)
    fields = {
        "certificate": chain.fullchain_pem,
        "key": chain.leaf.key_pem(),
        "chain": chain.root.cert_pem,
    }
    return Bundle(fields=fields, served=load(**fields))


def outcome(fields: dict[str, str]) -> CertifiedKey | CertificateError:
    """What import-certificate concludes; any other exception propagates and fails the test."""
    try:
        certified = load(**fields)
        check_for_domain(certified, DOMAIN, pki.NOW)
    except CertificateError as error:
        return error
    return certified


def assert_genuine_or_refused(fields: dict[str, str]) -> None:
    """Only CertificateError escapes, never quoting the key; what is accepted is the genuine bundle."""
    result = outcome(fields)
    event("accepted" if isinstance(result, CertifiedKey) else "refused")
    genuine = bundle().served
    if isinstance(result, CertificateError):
        key = "".join(line for line in genuine.key_pem.splitlines() if "-----" not in line)
        message = "".join(str(result).split())
        assert not any(key[i : i + 32] in message for i in range(len(key) - 31))
        return
    assert result.key_pem == genuine.key_pem
    assert result.chain_pem.startswith(_leaf_pem(genuine))
    assert result.info.fingerprint_sha256 == genuine.info.fingerprint_sha256


def _leaf_pem(certified: CertifiedKey) -> str:
    end = "-----END CERTIFICATE-----\n"
    return certified.chain_pem[: certified.chain_pem.index(end) + len(end)]


def blocks(text: str) -> list[str]:
    return [match.group(0) for match in _BLOCK.finditer(text)]


# --- strategies: certificate fields ---------------------------------------------------

LABELS = st.one_of(
    st.sampled_from(
        [
            "CERTIFICATE",
            "PRIVATE KEY",
            "EC PRIVATE KEY",
            "RSA PRIVATE KEY",
            "ENCRYPTED PRIVATE KEY",
            "EC PARAMETERS",
            "PUBLIC KEY",
            "CERTIFICATE REQUEST",
            "X509 CRL",
            "TRUSTED CERTIFICATE",
        ]
    ),
    st.from_regex(r"[A-Z0-9 ]{1,64}", fullmatch=True),
)
# Characters that matter to a PEM or base64 parser, and some that matter to nothing.
NOISE = st.sampled_from(
    [
        *"AZaz09+/=-\n\r\t :!.\x00{};$#\\\"'",
        *["\u00e9", "\udcff", "\u2028", "\u00a0", "-----", "-----BEGIN ", "-----END "],
    ]
)
SPACE = st.text(alphabet=" \t\r\n\u00a0\u2003", max_size=6)
INDENT = st.text(alphabet=" \t\u00a0\u2003", max_size=4)


@st.composite
def armoured(draw: st.DrawFn) -> str:
    """Random bytes in PEM armour under a random label, optionally with headers."""
    label = draw(LABELS)
    body = base64.encodebytes(draw(st.binary(max_size=700))).decode()
    headers = draw(st.sampled_from(["", "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\n"]))
    end_label = draw(st.one_of(st.just(label), LABELS))
    return f"-----BEGIN {label}-----\n{headers}{body}-----END {end_label}-----\n"


@st.composite
def mutated(draw: st.DrawFn, text: str) -> str:
    """`text` after one to four edits: flips, cuts, insertions, block duplication and shuffles."""
    for _ in range(draw(st.integers(1, 4))):
        operation = draw(
            st.sampled_from(
                ["flip", "truncate", "cut", "insert", "duplicate", "shuffle", "drop", "relabel"]
            )
        )
        at = draw(st.integers(0, max(len(text) - 1, 0)))
        found = blocks(text)
        if operation == "flip" and text:
            text = text[:at] + draw(NOISE) + text[at + 1 :]
        elif operation == "truncate":
            text = text[:at]
        elif operation == "cut":
            text = text[:at] + text[at + draw(st.integers(1, 200)) :]
        elif operation == "insert":
            text = text[:at] + draw(st.one_of(NOISE, SPACE, st.text(max_size=20))) + text[at:]
        elif operation in ("duplicate", "shuffle", "drop") and found:
            if operation == "duplicate":
                found.insert(draw(st.integers(0, len(found))), draw(st.sampled_from(found)))
            elif operation == "shuffle":
                found = draw(st.permutations(found))
            else:
                del found[draw(st.integers(0, len(found) - 1))]
            text = "".join(found)
        elif operation == "relabel" and found:
            label = draw(LABELS)
            text = re.sub(r"(BEGIN|END) [A-Z0-9 ]+-----", rf"\1 {label}-----", text, count=1)
    return text


def encoded(text: str, how: str) -> str:
    """The text as an operator might pass it: as is, base64 on one line, or wrapped base64."""
    data = text.encode("utf-8", "surrogatepass")
    if how == "base64":
        return base64.b64encode(data).decode()
    if how == "wrapped":
        return base64.encodebytes(data).decode()
    return text


@st.composite
def harmless(draw: st.DrawFn, text: str) -> str:
    """`text` changed only in ways an operator's copy and paste may change it."""
    lines = text.splitlines()
    if draw(st.booleans()):  # indented lines
        lines = [draw(INDENT) + line for line in lines]
    if draw(st.booleans()):
        lines = [line + " " * draw(st.integers(0, 3)) for line in lines]
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = newline.join(lines)
    text = draw(SPACE) + text + draw(SPACE)
    return encoded(text, draw(st.sampled_from(["plain", "plain", "base64", "wrapped"])))


# --- the certificate parser -----------------------------------------------------------


@given(certificate=st.text(), key=st.text(), chain=st.text())
def test_random_text_in_every_field_raises_only_certificate_error(
    certificate: str, key: str, chain: str
):
    # Given arbitrary text in each field / When / Then
    with pytest.raises(CertificateError):
        load(certificate, key, chain)


@given(field=st.sampled_from(FIELDS), armour=st.lists(armoured(), min_size=1, max_size=3))
def test_random_bytes_in_pem_armour_are_refused_or_ignored(field: str, armour: list[str]):
    # Given one field replaced by random DER under random labels
    fields = dict(bundle().fields)
    fields[field] = "".join(armour)
    # When / Then: refused with CertificateError, or (ignorable blocks in chain=) the
    # genuine bundle served unchanged
    assert_genuine_or_refused(fields)


MUTATED_FIELD = st.sampled_from(FIELDS).flatmap(
    lambda field: st.tuples(st.just(field), mutated(bundle().fields[field]))
)


@given(mutation=MUTATED_FIELD, how=st.sampled_from(["plain", "plain", "base64", "wrapped"]))
def test_mutated_bundle_is_refused_or_still_the_genuine_one(mutation: tuple[str, str], how: str):
    # Given one field of a valid bundle damaged, then maybe base64-encoded
    field, damaged = mutation
    fields = {**bundle().fields, field: encoded(damaged, how)}
    # When / Then
    assert_genuine_or_refused(fields)


@given(data=st.data(), layout=st.sampled_from(["fullchain", "reversed", "split"]))
def test_harmless_changes_keep_the_bundle_accepted_unchanged(data: st.DataObject, layout: str):
    # Given the valid bundle with its line endings, blanks, encoding and order changed
    fields = bundle().fields
    leaf, intermediate = blocks(fields["certificate"])
    certificate, chain = {
        "fullchain": (leaf + intermediate, fields["chain"]),
        "reversed": (intermediate + leaf, fields["chain"]),
        "split": (leaf, fields["chain"] + intermediate),
    }[layout]
    changed = {
        "certificate": data.draw(harmless(certificate)),
        "key": data.draw(harmless(fields["key"])),
        "chain": data.draw(harmless(chain)),
    }
    # When
    result = outcome(changed)
    # Then
    assert result == bundle().served


DAMAGED_CHAIN = st.deferred(lambda: mutated(bundle().served.chain_pem))


@given(
    chain_pem=st.one_of(st.text(), st.lists(armoured(), max_size=3).map("".join), DAMAGED_CHAIN)
)
def test_describe_chain_raises_only_certificate_error(chain_pem: str):
    # Given random text, random armour, or a damaged served chain
    # When / Then
    try:
        info = describe_chain(chain_pem)
    except CertificateError:
        return
    assert info.fingerprint_sha256  # a certificate was read whole


# --- strategies: config values --------------------------------------------------------

INJECTION = [";", "}", "{", "\n", "\r", "$", '"', "'", "#", "\\", "\x00", " ", "\t", "`"]
FRAGMENTS = [
    "snaps",
    "example",
    "internal",
    ".",
    "-",
    "a",
    "0",
    "xn--",
    "localhost",
    " return 200",
    "include /etc/passwd",
    "$host",
    "${x}",
    "\u212a",  # KELVIN SIGN: lower-cases to an ASCII 'k'
    "\u0130",  # I WITH DOT: lower-cases to two characters
    "\uff0e",  # FULLWIDTH FULL STOP
    "\u00e9",
    "\u2028",
    "\u00a0",
]
HOSTILE_TEXT = st.lists(st.sampled_from(INJECTION + FRAGMENTS), max_size=14).map("".join)
ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
LABEL = st.one_of(
    st.lists(st.text(ALNUM, min_size=1, max_size=8), min_size=1, max_size=3).map("-".join),
    st.sampled_from(["xn--bcher-kva", "a" * 63, "0", "x"]),
)
VALID_DOMAINS = st.lists(LABEL, min_size=1, max_size=6).map(".".join)
LONG_DOMAINS = st.lists(st.just("a" * 63), min_size=3, max_size=5).map(".".join)
DOMAIN_TEXT = st.one_of(
    VALID_DOMAINS,
    VALID_DOMAINS.map(lambda d: f"  {d}.\n"),
    LONG_DOMAINS,
    HOSTILE_TEXT,
    st.tuples(VALID_DOMAINS, HOSTILE_TEXT).map("".join),
    st.text(max_size=80),
)
NOT_TEXT = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.binary(max_size=10),
    st.lists(st.integers(), max_size=2),
)
NUMBERS = st.one_of(
    st.integers(0, 63072000),
    st.integers(1024, 65535),
    st.integers(-(2**70), 2**70),
    st.integers(-2, 70_000),
    st.integers(60_000_000, 70_000_000),
    st.booleans(),
    st.floats(),
    st.text(alphabet="0123456789 -+", max_size=8),
    st.none(),
)
CHANNELS = st.one_of(
    st.from_regex(
        r"([a-z0-9][a-z0-9.+_-]{0,8}/)?(stable|candidate|beta|edge)(/[a-z0-9]{1,6})?",
        fullmatch=True,
    ),
    HOSTILE_TEXT,
    st.text(max_size=30),
    NOT_TEXT,
)
OPTIONS = {
    "domain": ("domain", st.one_of(DOMAIN_TEXT, NOT_TEXT)),
    "hsts_max_age": ("hsts-max-age", NUMBERS),
    "channel": ("channel", CHANNELS),
    "internal_port": ("internal-port", NUMBERS),
}
GOOD = {"domain": DOMAIN, "hsts_max_age": 0, "channel": "stable", "internal_port": 8080}


def is_rfc1123(name: str) -> bool:
    labels = name.split(".")
    return (
        len(name) <= 253
        and re.fullmatch(r"[a-z0-9.-]+", name) is not None
        and all(_RFC1123_LABEL.fullmatch(label) for label in labels)
        and not labels[-1].isdigit()
    )


def accepted_config(option: str, value: object) -> CharmConfig | InvalidConfig:
    try:
        return CharmConfig(**{**GOOD, option: value})  # type: ignore[arg-type]
    except InvalidConfig as error:
        return error


# --- config options -------------------------------------------------------------------


OPTION_VALUES = st.sampled_from(sorted(OPTIONS)).flatmap(
    lambda option: st.tuples(st.just(option), OPTIONS[option][1])
)


@given(setting=OPTION_VALUES)
@example(setting=("domain", "\u212a.example.internal"))  # KELVIN SIGN lower-cases to "k"
@example(setting=("domain", "snaps.example.internal;"))
@example(setting=("internal_port", 2**64))
@example(setting=("hsts_max_age", True))
def test_config_value_is_canonical_or_refused_naming_its_option(setting: tuple[str, object]):
    # Given one option set to a hostile, huge, mistyped or valid value
    option, value = setting
    # When
    result = accepted_config(option, value)
    # Then
    event(f"{option}: {'refused' if isinstance(result, InvalidConfig) else 'accepted'}")
    if isinstance(result, InvalidConfig):
        assert result.option == OPTIONS[option][0]
        return
    accepted = getattr(result, option)
    if option == "domain":
        assert isinstance(value, str)
        assert is_rfc1123(accepted)
        assert parse_domain(accepted) == accepted
        # The canonical form spells what was configured: only case, blanks and a final dot go.
        assert value.strip().isascii()
        assert value.strip().lower().removesuffix(".") == accepted
    elif option == "channel":
        assert re.fullmatch(r"[a-z0-9./+_-]+", accepted)
    else:
        assert type(accepted) is int
        low, high = (1024, 65535) if option == "internal_port" else (0, 2 * 365 * 24 * 3600)
        assert low <= accepted <= high


@given(domain=DOMAIN_TEXT)
def test_every_domain_the_config_accepts_the_front_end_accepts(domain: str):
    # Given a domain value
    result = accepted_config("domain", domain)
    # When / Then: what the charm accepts, it can serve
    if isinstance(result, CharmConfig):
        SiteConfig(domain=result.domain, backend_port=result.internal_port)


# --- the renderer ---------------------------------------------------------------------


def nginx_tokens(text: str) -> list[str]:
    """Split nginx config text into tokens as nginx does: words, quoted strings, ; { }.

    `#` at the start of a token comments out the rest of the line; quotes hold anything,
    with backslash escapes; `${name}` stays inside its word.
    """
    tokens: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif char == "#":
            end = text.find("\n", i)
            i = len(text) if end == -1 else end
        elif char in ";{}":
            tokens.append(char)
            i += 1
        elif char in "\"'":
            end = i + 1
            while end < len(text) and text[end] != char:
                end += 2 if text[end] == "\\" else 1
            if end >= len(text):
                raise ValueError(f"unterminated {char} at {i}")
            tokens.append(text[i : end + 1])
            i = end + 1
        else:
            end = i
            while end < len(text) and not text[end].isspace() and text[end] not in ";{}":
                if text.startswith("${", end):
                    closing = text.find("}", end)
                    end = len(text) if closing == -1 else closing + 1
                else:
                    end += 2 if text[end] == "\\" else 1
            tokens.append(text[i:end])
            i = end
    return tokens


def skeleton(config: str) -> list[str]:
    """The structure of a config: each statement as `name/arguments` then `;` or `{`, and `}`.

    Malformed structure (an empty or unterminated statement) shows up in the list too, so
    it can never compare equal to a well-formed reference.
    """
    shape: list[str] = []
    statement: list[str] = []
    for token in [*nginx_tokens(config), None]:
        if token in (";", "{", "}", None) and statement:
            ending = token if token in (";", "{") else " (unterminated)"
            shape.append(f"{statement[0]}/{len(statement) - 1}{ending}")
            statement = []
            if token in (";", "{"):
                continue
        if token in (";", "{", "}"):
            shape.append(token)  # type: ignore[arg-type]
        elif token is not None:
            statement.append(token)
    return shape


@functools.cache
def reference_skeleton(tls: bool, hsts: bool) -> tuple[str, ...]:
    site = SiteConfig(
        domain=DOMAIN,
        backend_port=8080,
        tls=reference_tls() if tls else None,
        hsts_max_age=31536000 if hsts else 0,
    )
    return tuple(skeleton(render_config(site, LAYOUT)))


@functools.cache
def reference_tls() -> TLSFiles:
    served = bundle().served
    return TLSFiles(chain_pem=served.chain_pem, key_pem=served.key_pem)


def mostly(valid: st.SearchStrategy[object], hostile: st.SearchStrategy[object]):
    """Valid seven times in eight, so most drawn SiteConfigs are accepted and rendered."""
    return st.sampled_from([*["valid"] * 7, "hostile"]).flatmap(
        lambda kind: valid if kind == "valid" else hostile
    )


GOOD_PORTS = st.one_of(st.integers(1, 65535), st.sampled_from([1, 80, 443, 8080, 65535]))
PORTS = mostly(GOOD_PORTS, st.one_of(st.sampled_from([0, -1, 65536, 2**64]), NOT_TEXT))
ADDRESSES = mostly(
    st.one_of(st.just(""), st.ip_addresses().map(str)),
    st.one_of(
        st.sampled_from(["fe80::1%eth0", "0.0.0.0;", "1.2.3.4 ssl", "[::1]", "localhost"]),
        HOSTILE_TEXT,
    ),
)
SITE_DOMAINS = mostly(
    st.one_of(VALID_DOMAINS, LONG_DOMAINS, VALID_DOMAINS.map(str.upper)),
    st.one_of(DOMAIN_TEXT, NOT_TEXT),
)
HSTS = mostly(st.one_of(st.integers(0, 2**64), st.just(0)), NUMBERS)
TLS_CONTENT = st.one_of(
    st.just("pem"), st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=200)
)


@st.composite
def sites(draw: st.DrawFn) -> SiteConfig | ValueError:
    """A SiteConfig from hostile and valid values, or the ValueError that refused them."""
    tls: TLSFiles | None = None
    if draw(st.booleans()):
        chain, key = draw(TLS_CONTENT), draw(TLS_CONTENT)
        genuine = reference_tls()
        tls = TLSFiles(
            chain_pem=genuine.chain_pem if chain == "pem" else chain,
            key_pem=genuine.key_pem if key == "pem" else key,
        )
    values: dict[str, Any] = {
        "domain": draw(SITE_DOMAINS),
        "backend_port": draw(PORTS),
        "hsts_max_age": draw(HSTS),
        "http_port": draw(PORTS),
        "https_port": draw(PORTS),
        "listen_address": draw(ADDRESSES),
    }
    try:
        return SiteConfig(tls=tls, **values)
    except ValueError as error:
        return error


@given(site=sites())
def test_no_accepted_value_adds_or_removes_a_directive(site: SiteConfig | ValueError):
    # Given whatever SiteConfig accepted
    event("refused" if isinstance(site, ValueError) else "rendered")
    if isinstance(site, ValueError):
        return
    # When
    config = render_config(site, LAYOUT)
    # Then
    expected = reference_skeleton(site.tls is not None, site.hsts_max_age > 0)
    assert tuple(skeleton(config)) == expected


@given(site=sites())
def test_rendered_config_never_holds_pem_or_key_material(site: SiteConfig | ValueError):
    # Given whatever SiteConfig accepted, TLS material included
    if isinstance(site, ValueError) or site.tls is None:
        return
    # When
    config = render_config(site, LAYOUT)
    # Then
    assert "-----BEGIN" not in config
    key = "".join(line for line in site.tls.key_pem.splitlines() if "-----" not in line)
    assert not any(key[i : i + 32] in config for i in range(0, max(len(key) - 31, 0), 8))


@given(
    domain=st.tuples(
        VALID_DOMAINS, st.sampled_from([*INJECTION, "\u212a", "\u00e9", "_"]), VALID_DOMAINS
    ).map("".join)
)
def test_site_config_refuses_a_domain_with_any_character_beyond_letters_digits_dots_hyphens(
    domain: str,
):
    # Given a domain holding one character nginx or DNS could read differently
    # When / Then
    with pytest.raises(ValueError, match="domain"):
        SiteConfig(domain=domain, backend_port=8080)


# --- the oracle itself ----------------------------------------------------------------


def test_tokenizer_reads_quotes_comments_variables_and_braces():
    # Given
    text = "a \"b; c\" d; # e; f {\nset $x ${host}y;\nz '}' { w; }\n"
    # When
    tokens = nginx_tokens(text)
    # Then
    assert tokens == [
        "a", '"b; c"', "d", ";",
        "set", "$x", "${host}y", ";",
        "z", "'}'", "{", "w", ";", "}",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "domain",
    ["snaps.example.internal; return 200", "x.internal;\n}\nserver {", "x default_server"],
)
def test_skeleton_detects_a_value_that_would_inject_nginx_syntax(domain: str):
    # Given a SiteConfig whose domain got past validation
    site = SiteConfig(domain=DOMAIN, backend_port=8080)
    object.__setattr__(site, "domain", domain)
    # When
    injected = skeleton(render_config(site, LAYOUT))
    # Then
    assert tuple(injected) != reference_skeleton(tls=False, hsts=False)


def test_reference_skeleton_holds_every_server_block():
    # Given / When
    shapes = {(tls, hsts): reference_skeleton(tls, hsts) for tls in (0, 1) for hsts in (0, 1)}
    # Then
    assert shapes[(0, 0)].count("server/0{") == 1
    assert shapes[(1, 0)].count("server/0{") == 2
    assert "add_header/3;" in shapes[(1, 1)]
    assert "add_header/3;" not in shapes[(1, 0)]
