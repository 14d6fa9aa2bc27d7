"""The charm class with ops.testing: statuses, actions, the certificates relation."""

from __future__ import annotations

import dataclasses
import datetime
import json
from pathlib import Path

import pytest
from charmlibs import snap
from charmlibs.interfaces import tls_certificates as tls
from ops import testing

import certificates
from certificate_source import IMPORTED_LABEL
from frontend import NoSpace
from tests.fakes import snap_proxy
from tests.pki import NOW, chain_for, issue
from tests.unit.conftest import Machine, database

DOMAIN = "snaps.example.internal"
APP = "snap-store-proxy"


def configured(**extra) -> testing.State:
    """A leader with the domain set and a database, unless `extra` says otherwise."""
    relation, secret = database()
    fields: dict = {"leader": True, "config": {"domain": DOMAIN}, **extra}
    fields["relations"] = {relation, *extra.get("relations", ())}
    fields["secrets"] = {secret, *extra.get("secrets", ())}
    return testing.State(**fields)


def imported_secret(domain: str = DOMAIN, days: int = 90) -> testing.Secret:
    chain = chain_for(domain, days=days)
    return testing.Secret(
        {"certificate": chain.fullchain_pem, "private-key": chain.leaf.key_pem()},
        label=IMPORTED_LABEL,
        owner="app",
    )


# Config


def test_missing_domain_blocks_naming_the_command(ctx, machine: Machine):
    out = ctx.run(ctx.on.install(), testing.State(leader=True))

    assert out.unit_status == testing.BlockedStatus(
        f"set the domain: juju config {APP} domain=<fqdn>"
    )
    assert machine.frontend.applies == []


@pytest.mark.parametrize("bad", ["-bad.example", "a..b", "snaps_proxy.example", "x" * 64 + ".io"])
def test_invalid_domain_blocks_naming_the_value(ctx, machine: Machine, bad: str):
    out = ctx.run(ctx.on.config_changed(), testing.State(config={"domain": bad}))

    assert isinstance(out.unit_status, testing.BlockedStatus)
    assert repr(bad)[:20] in out.unit_status.message
    assert out.unit_status.message.endswith(f"juju config {APP} domain=<fqdn>")


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("domain", "snaps.example;}"),
        ("domain", "snaps.example\nlisten 81"),
        ("domain", "$host"),
        ("domain", "x" * 300),
        ("hsts-max-age", -1),
        ("hsts-max-age", 2**62),
        ("internal-port", 443),
        ("internal-port", 8000),
        ("channel", "stable\n"),
        ("channel", "edge; rm -rf /"),
    ],
)
def test_a_bad_option_blocks_naming_it_and_changes_nothing(
    ctx, machine: Machine, option: str, value: object
):
    state = ctx.run(ctx.on.config_changed(), configured())
    served = machine.frontend.served

    out = ctx.run(
        ctx.on.config_changed(),
        dataclasses.replace(state, config={"domain": DOMAIN, option: value}),
    )

    assert isinstance(out.unit_status, testing.BlockedStatus)
    assert f"juju config {APP} {option}=" in out.unit_status.message
    assert machine.frontend.served == served
    assert machine.frontend.changes == 1


def test_invalid_config_keeps_the_live_front_end(ctx, machine: Machine):
    ctx.run(ctx.on.config_changed(), configured())
    served = machine.frontend.served

    ctx.run(ctx.on.config_changed(), configured(config={"domain": DOMAIN, "hsts-max-age": -1}))

    assert machine.frontend.served == served
    assert len(machine.frontend.applies) == 1


# Install and the snap


def test_install_shows_maintenance_then_serves_http_only(ctx, machine: Machine):
    machine.frontend.installed = False

    out = ctx.run(ctx.on.install(), configured())

    assert testing.MaintenanceStatus("installing nginx") in ctx.unit_status_history
    assert machine.nginx_installs == [1]
    assert out.unit_status == testing.ActiveStatus(
        "HTTP only: import a certificate or integrate a tls-certificates provider"
    )
    assert out.opened_ports == {testing.TCPPort(80)}
    assert out.workload_version == "42"


def test_snap_is_moved_to_its_internal_port_behind_the_front_end(ctx, machine: Machine):
    ctx.run(ctx.on.install(), configured(config={"domain": DOMAIN, "internal-port": 8181}))

    assert machine.snap_proxy_config() == {
        "proxy.domain": DOMAIN,
        "proxy.ipaddress": "127.0.0.1",
        "proxy.port.http": "8181",
        "proxy.trust-forwarded-proto": "true",
        "proxy.db.connection": "postgresql://snapproxy:p%40ss%2Fw%3Ard%25@10.0.0.5:5432/snapproxy-db",
    }
    assert machine.frontend.served is not None
    assert machine.frontend.served.backend_port == 8181


def test_snap_install_failure_blocks_with_snapds_error(ctx, machine: Machine):
    machine.snapd.error = snap.ChannelNotAvailableError(
        "no snap revision on channel", kind="snap-channel-not-available", value=None
    )

    out = ctx.run(ctx.on.install(), configured(config={"domain": DOMAIN, "channel": "9/edge"}))

    assert isinstance(out.unit_status, testing.BlockedStatus)
    assert "no snap revision on channel" in out.unit_status.message
    assert f"juju config {APP} channel=" in out.unit_status.message


def test_a_failing_store_does_not_hold_https_back(ctx, machine: Machine, monkeypatch):
    monkeypatch.setenv(snap_proxy.FAIL_ENV, "error: cannot reach the proxy services")
    chain = chain_for(DOMAIN)
    params = {"certificate": chain.fullchain_pem, "key": chain.leaf.key_pem()}

    out = ctx.run(ctx.on.action("import-certificate", params=params), configured())

    served = machine.frontend.served_tls()
    assert served is not None
    assert served.chain_pem == chain.fullchain_pem
    assert (
        out.get_secret(label=IMPORTED_LABEL).latest_content["certificate"] == chain.fullchain_pem
    )
    assert out.unit_status.message.startswith("snap-proxy config failed")


def test_second_identical_event_changes_nothing(ctx, machine: Machine):
    state = ctx.run(ctx.on.config_changed(), configured(secrets={imported_secret()}))
    sets_before = len(machine.snap_proxy_sets())

    ctx.run(ctx.on.update_status(), state)

    assert len(machine.snap_proxy_sets()) == sets_before == 1
    assert machine.frontend.changes == 1
    assert machine.snapd.holds == 1


# Front end failures


def test_nginx_rejection_blocks_with_its_reason(ctx, machine: Machine):
    machine.frontend.rejection = 'invalid number of arguments in "listen" directive'

    out = ctx.run(ctx.on.config_changed(), configured())

    assert out.unit_status == testing.BlockedStatus(
        'nginx rejected the configuration: invalid number of arguments in "listen" directive; '
        "the last good configuration still serves"
    )


def test_import_whose_reload_fails_fails_and_is_not_saved(ctx, machine: Machine):
    chain = chain_for(DOMAIN)
    params = {"certificate": chain.fullchain_pem, "key": chain.leaf.key_pem()}
    state = ctx.run(ctx.on.config_changed(), configured())
    machine.frontend.failure = "nginx reload failed: SSL_CTX_use_certificate failed"

    with pytest.raises(testing.ActionFailed) as failure:
        ctx.run(ctx.on.action("import-certificate", params=params), state)

    assert "could not be served" in failure.value.message
    after = failure.value.state
    assert isinstance(after, testing.State)
    assert not any(secret.label == IMPORTED_LABEL for secret in after.secrets)


def test_import_that_nginx_rejects_fails_and_is_not_saved(ctx, machine: Machine):
    chain = chain_for(DOMAIN)
    params = {"certificate": chain.fullchain_pem, "key": chain.leaf.key_pem()}
    state = ctx.run(ctx.on.config_changed(), configured())
    machine.frontend.rejection = "SSL_CTX_use_certificate() failed"

    with pytest.raises(testing.ActionFailed) as failure:
        ctx.run(ctx.on.action("import-certificate", params=params), state)

    assert failure.value.message.startswith(
        "the certificate is valid but could not be served: nginx rejected the configuration"
    )
    after = failure.value.state
    assert isinstance(after, testing.State)
    assert not any(secret.label == IMPORTED_LABEL for secret in after.secrets)
    assert machine.frontend.served_tls() is None


def test_read_only_hooks_change_nothing(ctx, machine: Machine):
    state = ctx.run(ctx.on.config_changed(), configured(secrets={imported_secret()}))
    applies = len(machine.frontend.applies)

    out = ctx.run(ctx.on.action("show-certificate"), state)

    assert len(machine.frontend.applies) == applies
    assert out.unit_status.message.startswith(f"HTTPS enabled for {DOMAIN}")


def test_removing_the_unit_stops_the_front_end_and_deletes_its_keys(ctx, machine: Machine):
    ctx.run(ctx.on.config_changed(), configured(secrets={imported_secret()}))
    applies = len(machine.frontend.applies)

    ctx.run(ctx.on.remove(), configured(secrets={imported_secret()}))

    assert machine.frontend.stopped
    assert machine.frontend.purged
    assert machine.frontend.served_tls() is None
    assert len(machine.frontend.applies) == applies


def test_full_disk_blocks_asking_for_space(ctx, machine: Machine, monkeypatch):
    def full(site):
        raise NoSpace(
            "no space left on /etc/snap-store-proxy-frontend while writing nginx.conf",
            Path("nginx.conf"),
        )

    monkeypatch.setattr(machine.frontend, "apply", full)

    out = ctx.run(ctx.on.config_changed(), configured())

    assert out.unit_status == testing.BlockedStatus(
        "no space left on /etc/snap-store-proxy-frontend while writing nginx.conf: "
        f"free disk space on {APP}/0; update-status retries; "
        "the last good configuration still serves"
    )


def test_port_80_briefly_taken_waits_instead_of_failing_the_hook(ctx, machine: Machine):
    machine.frontend.failure = "bind() to 0.0.0.0:80 failed (98: Address already in use)"

    out = ctx.run(ctx.on.start(), configured())

    assert isinstance(out.unit_status, testing.WaitingStatus)
    assert "Address already in use" in out.unit_status.message


# import-certificate


def test_import_certificate_serves_https_and_describes_it(ctx, machine: Machine):
    chain = chain_for(DOMAIN)

    out = ctx.run(
        ctx.on.action(
            "import-certificate",
            params={"certificate": chain.fullchain_pem, "key": chain.leaf.key_pem()},
        ),
        configured(),
    )

    results = ctx.action_results or {}
    assert results["subject"] == f"CN={DOMAIN}"
    assert results["san-names"] == DOMAIN
    assert int(results["days-left"]) in (89, 90)
    assert set(results) >= {"issuer", "not-before", "not-after", "fingerprint-sha256"}
    assert "PRIVATE KEY" not in str(results)
    secret = out.get_secret(label=IMPORTED_LABEL)
    assert secret.owner == "app"
    assert secret.tracked_content["private-key"] == chain.leaf.key_pem()
    served = machine.frontend.served_tls()
    assert served is not None
    assert served.chain_pem == chain.fullchain_pem
    expiry = chain.leaf.cert.not_valid_after_utc
    assert out.unit_status == testing.ActiveStatus(
        f"HTTPS enabled for {DOMAIN}, certificate expires {expiry:%Y-%m-%d}"
    )
    assert out.opened_ports == {testing.TCPPort(80), testing.TCPPort(443)}


def test_import_replaces_a_previously_imported_certificate(ctx, machine: Machine):
    old = imported_secret()
    new = chain_for(DOMAIN)

    out = ctx.run(
        ctx.on.action(
            "import-certificate",
            params={"certificate": new.fullchain_pem, "key": new.leaf.key_pem()},
        ),
        configured(secrets={old}),
    )

    assert out.get_secret(label=IMPORTED_LABEL).latest_content == {
        "certificate": new.fullchain_pem,
        "private-key": new.leaf.key_pem(),
    }
    assert machine.frontend.served_tls().chain_pem == new.fullchain_pem  # type: ignore[union-attr]


def test_import_on_a_non_leader_fails_pointing_at_the_leader(ctx, machine: Machine):
    chain = chain_for(DOMAIN)
    params = {"certificate": chain.fullchain_pem, "key": chain.leaf.key_pem()}

    with pytest.raises(testing.ActionFailed) as failure:
        ctx.run(ctx.on.action("import-certificate", params=params), configured(leader=False))

    assert failure.value.message == (
        f"run this action on the leader: juju run {APP}/leader import-certificate"
    )


def test_import_while_a_provider_is_integrated_fails(ctx, machine: Machine):
    chain = chain_for(DOMAIN)
    params = {"certificate": chain.fullchain_pem, "key": chain.leaf.key_pem()}
    relation = testing.Relation("certificates", remote_app_name="lego")

    with pytest.raises(testing.ActionFailed) as failure:
        ctx.run(
            ctx.on.action("import-certificate", params=params), configured(relations={relation})
        )

    assert failure.value.message == (
        "the certificate comes from lego; remove that integration first: "
        f"juju remove-relation {APP} lego"
    )


def _wrong_key() -> dict[str, str]:
    chain = chain_for(DOMAIN)
    return {"certificate": chain.fullchain_pem, "key": issue(DOMAIN).key_pem()}


def _expired() -> dict[str, str]:
    leaf = issue(
        DOMAIN,
        sans=(DOMAIN,),
        not_before=NOW - datetime.timedelta(days=30),
        not_after=NOW - datetime.timedelta(days=1),
    )
    return {"certificate": leaf.cert_pem, "key": leaf.key_pem()}


def _other_domain() -> dict[str, str]:
    chain = chain_for("other.example.internal")
    return {"certificate": chain.fullchain_pem, "key": chain.leaf.key_pem()}


@pytest.mark.parametrize(
    ("make_params", "expected"),
    [
        (_wrong_key, "does not match"),
        (_expired, "expired"),
        (_other_domain, "other.example.internal"),
        (lambda: {"certificate": "not a certificate", "key": "nor a key"}, "PEM"),
    ],
    ids=["key-mismatch", "expired", "other-domain", "garbage"],
)
def test_import_of_a_bad_certificate_fails_and_changes_nothing(
    ctx, machine: Machine, make_params, expected: str
):
    state = ctx.run(ctx.on.config_changed(), configured(secrets={imported_secret()}))
    served = machine.frontend.served

    with pytest.raises(testing.ActionFailed) as failure:
        ctx.run(ctx.on.action("import-certificate", params=make_params()), state)

    assert expected in failure.value.message
    assert "PRIVATE KEY" not in failure.value.message
    assert machine.frontend.served == served
    assert machine.frontend.changes == 1
    after = failure.value.state
    assert isinstance(after, testing.State)
    assert after.get_secret(label=IMPORTED_LABEL).latest_content == (
        state.get_secret(label=IMPORTED_LABEL).latest_content
    )


def test_import_without_a_domain_fails_saying_to_set_it(ctx, machine: Machine):
    chain = chain_for(DOMAIN)
    params = {"certificate": chain.fullchain_pem, "key": chain.leaf.key_pem()}

    with pytest.raises(testing.ActionFailed) as failure:
        ctx.run(ctx.on.action("import-certificate", params=params), testing.State(leader=True))

    assert failure.value.message == f"set the domain: juju config {APP} domain=<fqdn>"


# Serving status


def test_certificate_near_expiry_says_days_left(ctx, machine: Machine):
    out = ctx.run(ctx.on.update_status(), configured(secrets={imported_secret(days=10)}))

    assert out.unit_status == testing.ActiveStatus(
        f"HTTPS enabled for {DOMAIN}, certificate expires in 9 days"
    )


def test_domain_change_keeps_serving_and_blocks_until_a_matching_certificate(
    ctx, machine: Machine
):
    state = ctx.run(ctx.on.config_changed(), configured(secrets={imported_secret()}))
    served = machine.frontend.served_tls()

    new_domain = "store.example.internal"
    out = ctx.run(
        ctx.on.config_changed(), configured(config={"domain": new_domain}, secrets=state.secrets)
    )

    assert machine.frontend.served_tls() == served
    assert isinstance(out.unit_status, testing.BlockedStatus)
    assert out.unit_status.message.startswith(
        f"certificate does not cover {new_domain} ({DOMAIN}): juju run {APP}/leader import-certificate"
    )


def test_an_unreadable_served_certificate_blocks_instead_of_failing_the_hook(
    ctx, machine: Machine
):
    state = ctx.run(ctx.on.config_changed(), configured(secrets={imported_secret()}))
    assert machine.frontend.served is not None
    assert machine.frontend.served.tls is not None
    garbled = dataclasses.replace(machine.frontend.served.tls, chain_pem="garbage")
    machine.frontend.served = dataclasses.replace(machine.frontend.served, tls=garbled)

    out = ctx.run(ctx.on.action("show-certificate"), state)

    assert out.unit_status.message.startswith("the served certificate cannot be read")
    assert (ctx.action_results or {})["certificate"] == "unreadable"


def test_expired_served_certificate_blocks(ctx, machine: Machine, monkeypatch):
    state = ctx.run(ctx.on.config_changed(), configured(secrets={imported_secret(days=5)}))
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=6)
    monkeypatch.setattr("charm._now", lambda: later)

    out = ctx.run(ctx.on.update_status(), state)

    assert isinstance(out.unit_status, testing.BlockedStatus)
    assert out.unit_status.message.startswith("certificate expired")


# remove-certificate and show-certificate


def test_remove_certificate_returns_to_http_only(ctx, machine: Machine):
    state = ctx.run(ctx.on.config_changed(), configured(secrets={imported_secret()}))

    out = ctx.run(ctx.on.action("remove-certificate"), state)

    assert machine.frontend.served_tls() is None
    assert out.opened_ports == {testing.TCPPort(80)}
    assert out.unit_status == testing.ActiveStatus(
        "HTTP only: import a certificate or integrate a tls-certificates provider"
    )
    assert not any(s.label == IMPORTED_LABEL for s in out.secrets)


def test_remove_without_an_imported_certificate_says_so(ctx, machine: Machine):
    ctx.run(ctx.on.action("remove-certificate"), configured())

    assert ctx.action_results == {"result": "no imported certificate; nothing to remove"}


def test_remove_while_a_provider_is_integrated_forgets_the_imported_one(ctx, machine: Machine):
    relation = testing.Relation("certificates", remote_app_name="lego")

    out = ctx.run(
        ctx.on.action("remove-certificate"),
        configured(relations={relation}, secrets={imported_secret()}),
    )

    assert ctx.action_results == {
        "result": "imported certificate removed; certificates still come from lego"
    }
    assert not any(s.label == IMPORTED_LABEL for s in out.secrets)


def test_show_certificate_without_one_says_none(ctx, machine: Machine):
    ctx.run(ctx.on.action("show-certificate"), configured(leader=False))

    assert ctx.action_results is not None
    assert ctx.action_results["certificate"] == "none"


def test_show_certificate_describes_the_served_one_and_its_source(ctx, machine: Machine):
    state = ctx.run(ctx.on.config_changed(), configured(secrets={imported_secret()}))

    ctx.run(ctx.on.action("show-certificate"), state)

    results = ctx.action_results or {}
    assert results["source"] == "imported"
    assert results["subject"] == f"CN={DOMAIN}"
    assert "PRIVATE KEY" not in str(results)


# The certificates relation


def test_provider_integrated_without_a_certificate_yet_waits(ctx, machine: Machine):
    relation = testing.Relation("certificates", remote_app_name="self-signed-certificates")

    out = ctx.run(ctx.on.relation_joined(relation), configured(relations={relation}))

    assert out.unit_status == testing.WaitingStatus(
        "waiting for a certificate from self-signed-certificates: "
        "check juju status self-signed-certificates"
    )
    assert machine.frontend.served_tls() is None


def test_non_leader_with_a_provider_waits_for_the_leader(ctx, machine: Machine):
    relation = testing.Relation("certificates", remote_app_name="lego")

    out = ctx.run(ctx.on.update_status(), configured(leader=False, relations={relation}))

    assert out.unit_status == testing.WaitingStatus(
        f"HTTPS from lego is served by the leader unit: reach it (juju status {APP})"
    )


def with_relation(state: testing.State, changed: testing.Relation) -> testing.State:
    """The state with one relation replaced by its changed self (same id)."""
    others = {r for r in state.relations if r.id != changed.id}
    return dataclasses.replace(state, relations={*others, changed})


def _requested_csr(state: testing.State) -> str:
    relation = next(r for r in state.relations if r.endpoint == "certificates")
    requests = json.loads(relation.local_app_data["certificate_signing_requests"])
    return requests[0]["certificate_signing_request"]


def _provider_answer(csr: str, *, days: int = 90) -> dict[str, str]:
    """What a tls-certificates provider writes, made with the library's own helpers."""
    ca_key = tls.PrivateKey.generate()
    ca = tls.Certificate.generate_self_signed_ca(
        tls.CertificateRequestAttributes(common_name="Provider CA", is_ca=True),
        ca_key,
        datetime.timedelta(days=365),
    )
    request = tls.CertificateSigningRequest.from_string(csr)
    certificate = request.sign(ca, ca_key, datetime.timedelta(days=days))
    issued = {
        "certificate_signing_request": csr,
        "certificate": str(certificate),
        "ca": str(ca),
        "chain": [str(ca), str(certificate)],  # root first, as some providers send it
    }
    return {"certificates": json.dumps([issued])}


def _answered(state: testing.State) -> testing.Relation:
    """The certificates relation once the provider has answered the request in `state`."""
    relation = next(
        r
        for r in state.relations
        if isinstance(r, testing.Relation) and r.endpoint == "certificates"
    )
    return dataclasses.replace(relation, remote_app_data=_provider_answer(_requested_csr(state)))


def _provider_denial(csr: str) -> dict[str, str]:
    error = {
        "code": 102,
        "name": "DOMAIN_NOT_ALLOWED",
        "message": "domain not allowed",
        "reason": "internal is not an allowed domain",
    }
    return {"request_errors": json.dumps([{"csr": csr, "error": error}])}


def _requested(ctx) -> tuple[testing.State, testing.Relation]:
    relation = testing.Relation("certificates", remote_app_name="self-signed-certificates")
    state = ctx.run(ctx.on.relation_created(relation), configured(relations={relation}))
    return state, state.get_relation(relation.id)


def test_certificate_request_names_the_domain(ctx, machine: Machine):
    state, _ = _requested(ctx)

    csr = tls.CertificateSigningRequest.from_string(_requested_csr(state))

    assert csr.common_name == DOMAIN
    assert csr.sans_dns == {DOMAIN}


def test_provider_certificate_is_served_leaf_first_without_the_root(ctx, machine: Machine):
    state, _ = _requested(ctx)
    answered = _answered(state)

    out = ctx.run(ctx.on.relation_changed(answered), with_relation(state, answered))

    served = machine.frontend.served_tls()
    assert served is not None
    pems = served.chain_pem.count("BEGIN CERTIFICATE")
    assert pems == 1  # the provider's CA is a self-signed root: never served
    assert "Provider CA" not in certificates.describe_chain(served.chain_pem).subject
    assert out.unit_status.name == "active"
    assert out.unit_status.message.startswith(f"HTTPS enabled for {DOMAIN}")
    assert out.opened_ports == {testing.TCPPort(80), testing.TCPPort(443)}


def test_provider_denial_blocks_with_its_reason(ctx, machine: Machine):
    state, relation = _requested(ctx)
    denied = dataclasses.replace(relation, remote_app_data=_provider_denial(_requested_csr(state)))

    out = ctx.run(ctx.on.relation_changed(denied), with_relation(state, denied))

    assert out.unit_status == testing.BlockedStatus(
        "self-signed-certificates denied the certificate request: "
        f"internal is not an allowed domain: juju config {APP} domain=<allowed fqdn>"
    )


def test_renewal_pending_keeps_serving_the_last_good_certificate(ctx, machine: Machine):
    state, _ = _requested(ctx)
    answered = _answered(state)
    state = ctx.run(ctx.on.relation_changed(answered), with_relation(state, answered))
    served = machine.frontend.served_tls()

    # The domain changes: a new request goes out and the provider has not answered yet.
    new_domain = "store.example.internal"
    out = ctx.run(
        ctx.on.config_changed(), dataclasses.replace(state, config={"domain": new_domain})
    )

    assert machine.frontend.served_tls() == served
    assert out.unit_status == testing.WaitingStatus(
        "waiting for a certificate from self-signed-certificates: "
        "check juju status self-signed-certificates"
    )
    renewed = tls.CertificateSigningRequest.from_string(_requested_csr(out))
    assert renewed.sans_dns == {new_domain}


def test_removing_the_provider_goes_back_to_http_only(ctx, machine: Machine):
    state, _ = _requested(ctx)
    answered = _answered(state)
    state = ctx.run(ctx.on.relation_changed(answered), with_relation(state, answered))

    out = ctx.run(ctx.on.relation_broken(answered), state)

    assert machine.frontend.served_tls() is None
    assert out.opened_ports == {testing.TCPPort(80)}
    assert out.unit_status == testing.ActiveStatus(
        "HTTP only: import a certificate or integrate a tls-certificates provider"
    )


# The store snap and its database


def test_snap_is_installed_from_the_channel_and_held(ctx, machine: Machine):
    ctx.run(ctx.on.install(), configured(config={"domain": DOMAIN, "channel": "latest/candidate"}))

    assert machine.snapd.channel == "latest/candidate"
    assert machine.snapd.holds == 1


def test_channel_change_refreshes_the_snap_which_stays_held(ctx, machine: Machine):
    state = ctx.run(ctx.on.install(), configured())

    ctx.run(
        ctx.on.config_changed(),
        dataclasses.replace(state, config={"domain": DOMAIN, "channel": "edge"}),
    )

    assert machine.snapd.channel == "edge"
    assert machine.snapd.held
    assert machine.snapd.holds == 1


def test_without_a_database_blocks_naming_the_integrate_command(ctx, machine: Machine):
    out = ctx.run(ctx.on.config_changed(), testing.State(leader=True, config={"domain": DOMAIN}))

    assert out.unit_status == testing.BlockedStatus(
        f"integrate a PostgreSQL database: juju integrate {APP}:database postgresql"
    )
    assert "proxy.db.connection" not in machine.snap_proxy_config()


def test_database_without_credentials_yet_waits(ctx, machine: Machine):
    relation = testing.Relation("database", remote_app_name="postgresql")

    out = ctx.run(
        ctx.on.relation_created(relation),
        testing.State(leader=True, config={"domain": DOMAIN}, relations={relation}),
    )

    assert out.unit_status == testing.WaitingStatus(
        "waiting for a database from postgresql: check juju status postgresql"
    )
    requests = json.loads(out.get_relation(relation.id).local_app_data["requests"])
    assert requests[0]["resource"] == "snapproxy-db"
    assert requests[0]["extra-user-roles"] == "createrole"


def test_database_credentials_become_a_quoted_connection_url(ctx, machine: Machine):
    relation, secret = database(username="snap/proxy", password="@/:%", endpoints="10.9.8.7:6432")

    ctx.run(
        ctx.on.relation_changed(relation),
        testing.State(
            leader=False, config={"domain": DOMAIN}, relations={relation}, secrets={secret}
        ),
    )

    assert machine.snap_proxy_config()["proxy.db.connection"] == (
        "postgresql://snap%2Fproxy:%40%2F%3A%25@10.9.8.7:6432/snapproxy-db"
    )


def test_rotated_credentials_update_the_connection(ctx, machine: Machine):
    _, secret = database()
    state = ctx.run(ctx.on.config_changed(), configured())
    rotated = dataclasses.replace(
        secret,
        tracked_content=secret.tracked_content,
        latest_content={**secret.tracked_content, "password": "n3w/p@ss"},
    )

    ctx.run(
        ctx.on.secret_changed(rotated),
        dataclasses.replace(
            state, secrets={*(s for s in state.secrets if s.id != secret.id), rotated}
        ),
    )

    assert machine.snap_proxy_config()["proxy.db.connection"].startswith(
        "postgresql://snapproxy:n3w%2Fp%40ss@"
    )


def test_removing_the_database_blocks(ctx, machine: Machine):
    relation, _ = database()
    state = ctx.run(ctx.on.config_changed(), configured())

    out = ctx.run(ctx.on.relation_broken(relation), state)

    assert out.unit_status == testing.BlockedStatus(
        f"integrate a PostgreSQL database: juju integrate {APP}:database postgresql"
    )
    assert machine.snap_proxy_config()["proxy.db.connection"] == ""  # no stale credentials


def test_unregistered_store_is_active_and_says_how_to_register(ctx, machine: Machine):
    machine.set_status(snap_proxy.status_text(None))

    out = ctx.run(ctx.on.config_changed(), configured())

    assert out.unit_status == testing.ActiveStatus(
        "HTTP only: import a certificate or integrate a tls-certificates provider; "
        "store not registered: run snap-proxy register on the unit"
    )


def test_database_not_ok_blocks(ctx, machine: Machine):
    machine.set_status(snap_proxy.status_text("STORE-ID-1", database="not ok"))

    out = ctx.run(ctx.on.config_changed(), configured())

    assert out.unit_status == testing.BlockedStatus(
        "the store's database is not ok: check juju status postgresql"
    )


def test_stopped_services_block_naming_them(ctx, machine: Machine):
    machine.set_status(snap_proxy.status_text("STORE-ID-1", stopped=("snaprevs", "memcached")))

    out = ctx.run(ctx.on.config_changed(), configured())

    assert out.unit_status == testing.BlockedStatus(
        "store services not running: memcached, snaprevs: "
        f"juju exec --unit {APP}/0 -- snap restart snap-store-proxy"
    )


def test_snap_proxy_config_failure_blocks_with_its_error(ctx, machine: Machine, monkeypatch):
    monkeypatch.setenv(snap_proxy.FAIL_ENV, "error: proxy.domain: invalid")
    monkeypatch.setenv(snap_proxy.FAIL_ON_ENV, "set")

    out = ctx.run(ctx.on.config_changed(), configured())

    assert out.unit_status == testing.BlockedStatus(
        "snap-proxy config failed: error: proxy.domain: invalid; "
        f"update-status retries: juju debug-log --include {APP}/0"
    )


# Health through the front end


def test_update_status_checks_health_over_https_when_tls_is_on(ctx, machine: Machine):
    out = ctx.run(ctx.on.update_status(), configured(secrets={imported_secret()}))

    assert machine.health_checks == [(443, DOMAIN, True)]
    assert out.unit_status.name == "active"


def test_failed_health_check_blocks_with_the_reason(ctx, machine: Machine):
    machine.health_failure = "HTTP 502"

    out = ctx.run(ctx.on.update_status(), configured())

    assert machine.health_checks == [(80, DOMAIN, False)]
    assert out.unit_status == testing.BlockedStatus(
        f"the store fails /_status/check (HTTP 502): juju exec --unit {APP}/0 -- snap-proxy status"
    )


def test_health_is_not_checked_while_the_store_is_not_ready(ctx, machine: Machine):
    ctx.run(ctx.on.update_status(), testing.State(leader=True, config={"domain": DOMAIN}))

    assert machine.health_checks == []


def test_health_is_not_checked_before_registration(ctx, machine: Machine):
    machine.set_status(snap_proxy.status_text(None))

    out = ctx.run(ctx.on.update_status(), configured())

    assert machine.health_checks == []
    assert out.unit_status.message.endswith(
        "store not registered: run snap-proxy register on the unit"
    )


def test_a_failed_health_check_stays_in_the_status_of_later_hooks(ctx, machine: Machine):
    machine.health_failure = "HTTP 502"
    state = ctx.run(ctx.on.update_status(), configured())

    out = ctx.run(ctx.on.action("show-certificate"), state)

    assert out.unit_status.message.startswith("the store fails /_status/check (HTTP 502)")


# The status action


def test_status_action_reports_the_proxy_and_https(ctx, machine: Machine):
    machine.set_status(snap_proxy.status_text("STORE-ID-1", stopped=("snapauth",)))
    state = ctx.run(ctx.on.config_changed(), configured(secrets={imported_secret()}))

    ctx.run(ctx.on.action("status"), state)

    results = ctx.action_results or {}
    assert results["store-id"] == "STORE-ID-1"
    assert results["database"] == "ok"
    assert results["services"]["snapauth"] == "not running"
    assert results["services"]["snaprevs"] == "running"
    assert results["https"]["source"] == "imported"
    assert results["https"]["subject"] == f"CN={DOMAIN}"
    assert "PRIVATE KEY" not in str(results)
    assert "p@ss" not in str(results)


def test_status_action_of_an_unregistered_proxy_without_https(ctx, machine: Machine):
    machine.set_status(snap_proxy.status_text(None))

    ctx.run(ctx.on.action("status"), configured())

    results = ctx.action_results or {}
    assert results["store-id"] == "not registered"
    assert results["https"]["certificate"] == "none"


def test_status_action_fails_when_snap_proxy_fails(ctx, machine: Machine, monkeypatch):
    monkeypatch.setenv(snap_proxy.FAIL_ENV, "error: services unreachable")

    with pytest.raises(testing.ActionFailed) as failure:
        ctx.run(ctx.on.action("status"), configured())

    assert failure.value.message.startswith(
        "snap-proxy status failed: error: services unreachable"
    )
