"""Key hygiene in the charm (issue #4): no private key outside the secrets that hold it.

Every hook and action path runs under ops.testing; then the imported key and the key the
tls-certificates library generates must not show, not even 32 characters of them, in any
log record (caplog, DEBUG, every logger), `ctx.juju_log`, action results, logs and
failure messages, relation data, statuses, emitted events, what the fake `snap-proxy`
was told, or the repr of the output State with only the secrets' own content left out.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from ops import testing

import certificates
from charm import SnapStoreProxyCharm
from frontend import SiteConfig, TLSFiles
from tests.fakes import snap_proxy
from tests.leaks import (
    exception_haystack,
    leaks,
    leaks_of,
    log_haystack,
    pem_body,
    secret_windows,
)
from tests.pki import NOW, Chain, chain_for, ec_key, issue, rsa_key
from tests.unit.conftest import Machine
from tests.unit.test_charm import (
    DOMAIN,
    IMPORTED_LABEL,
    _answered,
    _expired,
    _provider_answer,
    _provider_denial,
    _requested_csr,
    configured,
)

PROVIDER = "self-signed-certificates"
ImportParams = dict[str, str]


def _without_secret_content(state: testing.State) -> testing.State:
    """The state with each secret's content replaced; labels and descriptions stay."""
    hidden = {"content": "left out"}
    secrets = {
        dataclasses.replace(secret, tracked_content=hidden, latest_content=hidden)
        for secret in state.secrets
    }
    return dataclasses.replace(state, secrets=secrets)


def _private_keys(state: testing.State) -> list[str]:
    return [
        content["private-key"]
        for secret in state.secrets
        for content in (secret.tracked_content, secret.latest_content)
        if "private-key" in content
    ]


@dataclasses.dataclass
class Recorder:
    """Runs the charm and keeps everything a run shows, apart from the secrets' content."""

    ctx: testing.Context[SnapStoreProxyCharm]
    machine: Machine
    caplog: pytest.LogCaptureFixture
    texts: list[str] = dataclasses.field(default_factory=list)
    states: list[testing.State] = dataclasses.field(default_factory=list)
    failures: list[str] = dataclasses.field(default_factory=list)

    def run(self, event: object, state: testing.State) -> testing.State:
        self.states.append(state)
        try:
            out = self.ctx.run(event, state)  # type: ignore[arg-type]
        except testing.ActionFailed as failure:
            self.failures.append(failure.message)
            self.texts.append(exception_haystack(failure))
            out = failure.state
        assert isinstance(out, testing.State)
        self.states.append(out)
        self.texts += [
            repr(self.ctx.action_results),
            repr(self.ctx.action_logs),
            *(repr(event) + repr(_snapshot(event)) for event in self.ctx.emitted_events),
        ]
        return out

    def haystack(self) -> str:
        """Every text the runs produced outside the secrets' content."""
        ctx, state_file = self.ctx, self.machine.snap_proxy_state
        parts = [
            *self.texts,
            log_haystack(self.caplog.records),
            self.caplog.text,
            repr(ctx.juju_log),
            repr(ctx.unit_status_history),
            repr(ctx.app_status_history),
            repr(ctx.workload_version_history),
            repr(self.machine.frontend.applies),  # SiteConfig reprs: the key is repr=False
            json.dumps(snap_proxy.read_state(state_file)) if state_file.exists() else "",
        ]
        for state in self.states:
            parts += [
                repr(_without_secret_content(state)),
                repr(state.unit_status),
                repr(state.app_status),
                *(json.dumps(_relation_data(relation)) for relation in state.relations),
            ]
        return "\n".join(parts)

    def keys_in_secrets(self) -> list[str]:
        return list(dict.fromkeys(key for state in self.states for key in _private_keys(state)))

    def generated_key(self) -> str:
        """The private key the tls-certificates library generated and keeps in its secret."""
        generated = [
            content["private-key"]
            for state in self.states
            for secret in state.secrets
            if secret.label != IMPORTED_LABEL
            for content in (secret.tracked_content, secret.latest_content)
            if "private-key" in content
        ]
        assert generated, "the library generated no private key in a secret"
        return generated[-1]

    def leaks(self, *keys: str) -> list[str]:
        return leaks_of(keys, self.haystack())


def _snapshot(event: object) -> object:
    try:
        return event.snapshot()  # type: ignore[attr-defined]
    except Exception:  # some framework events cannot snapshot outside a run
        return None


def _relation_data(relation: testing.RelationBase) -> dict[str, object]:
    data: dict[str, object] = {
        "local_app_data": dict(relation.local_app_data),
        "local_unit_data": dict(relation.local_unit_data),
    }
    for name in ("remote_app_data", "remote_units_data", "peers_data"):
        if hasattr(relation, name):
            data[name] = repr(getattr(relation, name))
    return data


@pytest.fixture
def recorder(ctx, machine: Machine, logs: pytest.LogCaptureFixture) -> Recorder:
    return Recorder(ctx, machine, logs)


def _imported(chain: Chain) -> testing.Secret:
    return testing.Secret(
        {"certificate": chain.fullchain_pem, "private-key": chain.leaf.key_pem()},
        label=IMPORTED_LABEL,
        description="imported TLS key",
        owner="app",
    )


def _with_relation(state: testing.State, changed: testing.Relation) -> testing.State:
    others = {r for r in state.relations if r.id != changed.id}
    return dataclasses.replace(state, relations={*others, changed})


def _certificates_relation(state: testing.State) -> testing.Relation:
    relation = next(r for r in state.relations if r.endpoint == "certificates")
    assert isinstance(relation, testing.Relation)
    return relation


# --- the detector itself ----------------------------------------------------------------


@pytest.fixture(scope="module")
def key_pem() -> str:
    return chain_for(DOMAIN).leaf.key_pem()


def _secret_slice(pem: str, length: int) -> str:
    """`length` characters from the middle of the key's first window that carries private bits."""
    window = secret_windows(pem)[len(secret_windows(pem)) // 2]
    body = pem_body(pem)
    at = body.index(window)
    return body[at : at + length]


def test_a_32_character_slice_of_the_key_is_caught(key_pem: str):
    piece = _secret_slice(key_pem, 32)

    found = leaks(key_pem, f"status: {piece} done")

    assert found == [piece]


def test_a_31_character_slice_of_the_key_is_not_caught(key_pem: str):
    piece = _secret_slice(key_pem, 31)

    found = leaks(key_pem, f"status: {piece} done")

    assert found == []


def test_a_slice_across_a_pem_line_break_is_caught(key_pem: str):
    body = pem_body(key_pem)
    wrapped = key_pem.splitlines()[1:-1]  # 64-character lines
    piece = wrapped[0][-16:] + "\n" + wrapped[1][:16]

    found = leaks(key_pem, piece)

    assert found == [body[48:80]]


def test_a_key_inside_a_repr_is_caught_whole(key_pem: str):
    found = leaks(key_pem, repr({"key": key_pem}))

    assert found == list(secret_windows(key_pem))


def test_a_key_given_as_base64_of_pem_is_caught_in_every_form(key_pem: str):
    given = base64.b64encode(key_pem.encode()).decode()

    found_given = leaks_of([given], f"x={given}")
    found_decoded = leaks_of([given], key_pem)

    assert found_given
    assert found_decoded


def test_another_key_of_the_same_type_is_not_a_leak(key_pem: str):
    other = chain_for(DOMAIN).leaf.key_pem()  # same ASN.1 framing, other private value

    found = leaks_of([key_pem], other)

    assert found == []


def test_the_certificate_of_the_key_is_not_a_leak():
    chain = chain_for(DOMAIN)

    found = leaks_of([chain.leaf.key_pem()], chain.fullchain_pem)

    assert found == []


# --- values that carry the key ----------------------------------------------------------


def _values_carrying_a_key(pem: str, chain_pem: str) -> list[object]:
    tls = TLSFiles(chain_pem=chain_pem, key_pem=pem)
    site = SiteConfig(domain=DOMAIN, backend_port=8080, tls=tls)
    return [tls, site, certificates.load(chain_pem, pem)]


@pytest.mark.parametrize("index", [0, 1, 2], ids=["TLSFiles", "SiteConfig", "CertifiedKey"])
def test_the_repr_of_a_value_carrying_the_key_hides_it(index: int):
    chain = chain_for(DOMAIN)
    value = _values_carrying_a_key(chain.leaf.key_pem(), chain.fullchain_pem)[index]

    shown = f"{value!r} {value!s}"

    assert leaks_of([chain.leaf.key_pem()], shown) == []


# --- import-certificate -----------------------------------------------------------------


def _pem(key: object, private_format: serialization.PrivateFormat) -> str:
    return key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, private_format, serialization.NoEncryption()
    ).decode()


def _issued_for(key: object) -> tuple[str, str]:
    leaf = issue(DOMAIN, key=key, sans=(DOMAIN,))  # type: ignore[arg-type]
    return leaf.cert_pem, leaf.key_pem()


def _ec_sec1() -> ImportParams:
    key = ec_key()
    cert, _ = _issued_for(key)
    return {"certificate": cert, "key": _pem(key, serialization.PrivateFormat.TraditionalOpenSSL)}


def _rsa_pkcs1() -> ImportParams:
    key = rsa_key()
    cert, _ = _issued_for(key)
    return {"certificate": cert, "key": _pem(key, serialization.PrivateFormat.TraditionalOpenSSL)}


def _fullchain_pkcs8() -> ImportParams:
    chain = chain_for(DOMAIN)
    return {"certificate": chain.fullchain_pem, "key": chain.leaf.key_pem()}


def _base64_of_pem() -> ImportParams:
    chain = chain_for(DOMAIN)
    encoded = base64.b64encode(chain.leaf.key_pem().encode()).decode()
    return {"certificate": chain.fullchain_pem, "key": encoded}


GOOD_IMPORTS = [_fullchain_pkcs8, _ec_sec1, _rsa_pkcs1, _base64_of_pem]
GOOD_IMPORT_IDS = ["ec-pkcs8-fullchain", "ec-sec1", "rsa-pkcs1", "base64-of-pem"]


@pytest.mark.parametrize("make_params", GOOD_IMPORTS, ids=GOOD_IMPORT_IDS)
def test_a_successful_import_shows_the_key_nowhere(
    recorder: Recorder, make_params: Callable[[], ImportParams]
):
    # given
    params = make_params()

    # when
    out = recorder.run(recorder.ctx.on.action("import-certificate", params=params), configured())

    # then
    assert recorder.failures == []
    assert out.get_secret(label=IMPORTED_LABEL)
    assert recorder.leaks(params["key"]) == []


def _mismatched_key() -> ImportParams:
    return {"certificate": chain_for(DOMAIN).fullchain_pem, "key": issue(DOMAIN).key_pem()}


def _wrong_domain() -> ImportParams:
    chain = chain_for("other.example.internal")
    return {"certificate": chain.fullchain_pem, "key": chain.leaf.key_pem()}


def _encrypted(private_format: serialization.PrivateFormat) -> ImportParams:
    chain = chain_for(DOMAIN)
    encrypted = chain.leaf.key.private_bytes(
        serialization.Encoding.PEM,
        private_format,
        serialization.BestAvailableEncryption(b"correct horse battery staple"),
    ).decode()
    return {"certificate": chain.fullchain_pem, "key": encrypted, "plain": chain.leaf.key_pem()}


def _key_in_certificate_field() -> ImportParams:
    key = chain_for(DOMAIN).leaf.key_pem()
    return {"certificate": "garbage\n" + key, "key": key}


def _key_in_both_fields_as_garbage() -> ImportParams:
    key = chain_for(DOMAIN).leaf.key_pem()
    return {"certificate": "not a certificate " + pem_body(key), "key": "nor " + pem_body(key)}


def _key_in_chain_field() -> ImportParams:
    chain = chain_for(DOMAIN)
    key = chain.leaf.key_pem()
    return {"certificate": chain.leaf.cert_pem, "key": key, "chain": key}


def _truncated_key() -> ImportParams:
    chain = chain_for(DOMAIN)
    lines = chain.leaf.key_pem().splitlines()
    return {
        "certificate": chain.fullchain_pem,
        "key": "\n".join([*lines[:2], lines[-1]]),
        "plain": chain.leaf.key_pem(),
    }


def _edited_key() -> ImportParams:
    chain = chain_for(DOMAIN)
    lines = chain.leaf.key_pem().splitlines()
    lines[1] = lines[1][:10] + "%%%%" + lines[1][14:]
    return {
        "certificate": chain.fullchain_pem,
        "key": "\n".join(lines),
        "plain": chain.leaf.key_pem(),
    }


def _small_rsa() -> ImportParams:
    key = rsa_key(1024)
    cert, pem = _issued_for(key)
    return {"certificate": cert, "key": pem}


def _two_keys() -> ImportParams:
    chain = chain_for(DOMAIN)
    return {"certificate": chain.fullchain_pem, "key": chain.leaf.key_pem() + ec_key_pem()}


def _ed25519() -> ImportParams:
    key = ed25519.Ed25519PrivateKey.generate()
    return {
        "certificate": chain_for(DOMAIN).fullchain_pem,
        "key": _pem(key, serialization.PrivateFormat.PKCS8),
    }


def ec_key_pem() -> str:
    return _pem(ec_key(), serialization.PrivateFormat.PKCS8)


BAD_IMPORTS: list[tuple[Callable[[], ImportParams], str]] = [
    (_mismatched_key, "does not match"),
    (_expired, "expired"),
    (_wrong_domain, "does not cover"),
    (lambda: _encrypted(serialization.PrivateFormat.PKCS8), "encrypted"),
    (lambda: _encrypted(serialization.PrivateFormat.TraditionalOpenSSL), "encrypted"),
    (_key_in_certificate_field, "private key"),
    (_key_in_both_fields_as_garbage, "PEM"),
    (_key_in_chain_field, "private key"),
    (_truncated_key, "key"),
    (_edited_key, "key"),
    (_small_rsa, "1024 bits"),
    (_two_keys, "2 private keys"),
    (_ed25519, "Ed25519"),
]
BAD_IMPORT_IDS = [
    "mismatched-key",
    "expired",
    "wrong-domain",
    "encrypted-pkcs8",
    "encrypted-legacy-pem",
    "key-pasted-in-certificate-field",
    "key-body-as-garbage-in-both-fields",
    "key-in-chain-field",
    "truncated-key",
    "edited-key",
    "rsa-1024",
    "two-keys",
    "ed25519",
]


def _all_keys(params: ImportParams) -> list[str]:
    return [params[name] for name in ("key", "chain", "plain") if name in params]


@pytest.mark.parametrize(("make_params", "expected"), BAD_IMPORTS, ids=BAD_IMPORT_IDS)
def test_a_refused_import_shows_neither_key(recorder: Recorder, make_params, expected: str):
    # given: a certificate imported before
    before = chain_for(DOMAIN)
    params = make_params()
    state = configured(secrets={_imported(before)})
    action_params = {k: v for k, v in params.items() if k != "plain"}

    # when
    recorder.run(recorder.ctx.on.action("import-certificate", params=action_params), state)

    # then
    assert len(recorder.failures) == 1
    assert expected in recorder.failures[0]
    assert recorder.leaks(before.leaf.key_pem(), *_all_keys(params)) == []


@pytest.mark.parametrize(
    "given",
    ["not-leader", "provider-integrated", "nginx-rejects", "no-domain"],
)
def test_an_import_refused_before_checking_shows_the_key_nowhere(recorder: Recorder, given: str):
    # given
    params = _fullchain_pkcs8()
    state = configured()
    if given == "not-leader":
        state = configured(leader=False)
    elif given == "provider-integrated":
        state = configured(relations={testing.Relation("certificates", remote_app_name="lego")})
    elif given == "nginx-rejects":
        recorder.machine.frontend.rejection = "SSL_CTX_use_PrivateKey() failed"
    else:
        state = dataclasses.replace(configured(), config={})

    # when
    recorder.run(recorder.ctx.on.action("import-certificate", params=params), state)

    # then
    assert len(recorder.failures) == 1
    assert recorder.leaks(params["key"]) == []


def _load_for_domain(params: ImportParams) -> None:
    certified = certificates.load(params["certificate"], params["key"], params.get("chain", ""))
    certificates.check_for_domain(certified, DOMAIN, NOW)


@pytest.mark.parametrize(("make_params", "expected"), BAD_IMPORTS, ids=BAD_IMPORT_IDS)
def test_a_certificate_error_never_quotes_the_key(make_params, expected: str):
    # given
    params = make_params()

    # when
    with pytest.raises(certificates.CertificateError) as error:
        _load_for_domain(params)

    # then
    assert expected in str(error.value)
    assert leaks_of(_all_keys(params), exception_haystack(error.value)) == []


# --- hooks and read-only actions with an imported certificate -------------------------------


HOOKS = {
    "install": lambda on: on.install(),
    "config-changed": lambda on: on.config_changed(),
    "update-status": lambda on: on.update_status(),
    "start": lambda on: on.start(),
    "upgrade-charm": lambda on: on.upgrade_charm(),
    "leader-elected": lambda on: on.leader_elected(),
    "remove": lambda on: on.remove(),
    "show-certificate": lambda on: on.action("show-certificate"),
    "remove-certificate": lambda on: on.action("remove-certificate"),
    "status": lambda on: on.action("status"),
}


@pytest.mark.parametrize("leader", [True, False], ids=["leader", "non-leader"])
@pytest.mark.parametrize("hook", list(HOOKS))
def test_a_hook_with_an_imported_certificate_shows_the_key_nowhere(
    recorder: Recorder, hook: str, leader: bool
):
    # given
    chain = chain_for(DOMAIN)
    state = configured(leader=leader, secrets={_imported(chain)})

    # when
    recorder.run(HOOKS[hook](recorder.ctx.on), state)

    # then
    assert recorder.leaks(chain.leaf.key_pem()) == []


def test_an_unreadable_imported_secret_shows_its_key_nowhere(recorder: Recorder):
    # given: the secret holds a key that does not match its certificate
    chain = chain_for(DOMAIN)
    other = issue(DOMAIN).key_pem()
    secret = testing.Secret(
        {"certificate": chain.fullchain_pem, "private-key": other},
        label=IMPORTED_LABEL,
        owner="app",
    )

    # when
    out = recorder.run(recorder.ctx.on.update_status(), configured(secrets={secret}))

    # then
    assert "imported" in out.unit_status.message
    assert recorder.leaks(other) == []


# --- the certificates relation: the key the library generates ------------------------------


def _created(recorder: Recorder) -> testing.State:
    relation = testing.Relation("certificates", remote_app_name=PROVIDER)
    return recorder.run(
        recorder.ctx.on.relation_created(relation), configured(relations={relation})
    )


def test_a_certificate_request_shows_the_generated_key_nowhere(recorder: Recorder):
    # when
    out = _created(recorder)

    # then
    assert _requested_csr(out)
    assert recorder.leaks(recorder.generated_key()) == []


def _denied(state: testing.State) -> testing.Relation:
    relation = _certificates_relation(state)
    return dataclasses.replace(relation, remote_app_data=_provider_denial(_requested_csr(state)))


def _unusable(state: testing.State) -> testing.Relation:
    """A provider answering with a certificate for another key (a CSR made elsewhere)."""
    relation = _certificates_relation(state)
    answer = json.loads(_provider_answer(_requested_csr(state))["certificates"])
    foreign = chain_for(DOMAIN)
    answer[0]["certificate"] = foreign.leaf.cert_pem
    answer[0]["chain"] = [foreign.leaf.cert_pem, foreign.intermediate.cert_pem]
    return dataclasses.replace(relation, remote_app_data={"certificates": json.dumps(answer)})


PROVIDER_ANSWERS = {"issued": _answered, "denied": _denied, "unusable": _unusable}


@pytest.mark.parametrize("answer", list(PROVIDER_ANSWERS))
def test_a_provider_answer_shows_the_generated_key_nowhere(recorder: Recorder, answer: str):
    # given
    state = _created(recorder)
    changed = PROVIDER_ANSWERS[answer](state)

    # when
    recorder.run(recorder.ctx.on.relation_changed(changed), _with_relation(state, changed))

    # then
    assert recorder.leaks(recorder.generated_key()) == []


AFTER_ISSUE = {
    "update-status": lambda on, relation: on.update_status(),
    "config-changed-new-domain": lambda on, relation: on.config_changed(),
    "show-certificate": lambda on, relation: on.action("show-certificate"),
    "remove-certificate": lambda on, relation: on.action("remove-certificate"),
    "import-certificate-refused": lambda on, relation: on.action(
        "import-certificate", params=_fullchain_pkcs8()
    ),
    "status": lambda on, relation: on.action("status"),
    "relation-broken": lambda on, relation: on.relation_broken(relation),
}


@pytest.mark.parametrize("leader", [True, False], ids=["leader", "non-leader"])
@pytest.mark.parametrize("hook", list(AFTER_ISSUE))
def test_a_hook_while_serving_the_provider_certificate_shows_the_generated_key_nowhere(
    recorder: Recorder, hook: str, leader: bool
):
    # given: the provider's certificate is served
    state = _created(recorder)
    answered = _answered(state)
    state = recorder.run(
        recorder.ctx.on.relation_changed(answered), _with_relation(state, answered)
    )
    config = {"domain": "store.example.internal"} if hook == "config-changed-new-domain" else None
    state = dataclasses.replace(state, leader=leader, config=config or dict(state.config))

    # when
    recorder.run(AFTER_ISSUE[hook](recorder.ctx.on, answered), state)

    # then
    assert recorder.leaks(recorder.generated_key(), *recorder.keys_in_secrets()) == []


def test_a_non_leader_certificate_request_shows_no_key(recorder: Recorder):
    # given: the leader generated the key and its secret
    leader_state = _created(recorder)
    relation = _certificates_relation(leader_state)

    # when
    recorder.run(
        recorder.ctx.on.relation_created(relation),
        dataclasses.replace(leader_state, leader=False),
    )

    # then
    assert recorder.leaks(recorder.generated_key()) == []
