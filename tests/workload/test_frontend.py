"""The front end against a real nginx on loopback: given a site, when applied, then served so."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import ssl
import subprocess
import threading
from pathlib import Path

import pytest

import frontend
from tests.pki import Chain, chain_for, renew
from tests.workload.clients import (
    DOMAIN,
    TIMEOUT,
    openssl_handshake,
    refuses_connections,
    request,
    served_chain,
    served_leaf,
    tls_context,
    tls_socket,
)
from tests.workload.conftest import Ports
from tests.workload.harness import FakeService, alive, children, wait_until
from tests.workload.helpers import (
    live_files,
    mismatched_key_pem,
    snapshot,
    tls_files,
    with_tls,
)

pytestmark = pytest.mark.workload

MB = 1024 * 1024


@pytest.fixture
def chain() -> Chain:
    return chain_for(DOMAIN)


def test_http_only_proxies_to_the_store_keeping_host(front, site, ports: Ports):
    front.apply(site)

    response = request(ports.http, "/echo?a=1")

    assert response.status == 200
    headers = dict(response.echoed_headers())
    assert headers["host"] == DOMAIN
    assert headers["x-forwarded-proto"] == "http"
    assert b'"/echo?a=1"' in response.body


def test_tls_handshake_verifies_and_serves_leaf_and_intermediate_only(
    front, site, ports: Ports, chain: Chain
):
    front.apply(with_tls(site, chain))

    leaf = served_leaf(ports.https, tls_context(chain.root.cert_pem))

    assert leaf == chain.leaf.cert
    assert served_chain(ports.https) == [chain.leaf.cert, chain.intermediate.cert]


def test_tls_1_0_and_1_1_refused_1_2_and_1_3_accepted_with_h2(
    front, site, ports: Ports, chain: Chain
):
    front.apply(with_tls(site, chain))

    # SECLEVEL=0 lets the client offer the old versions, so a failure is the server's refusal.
    for old in ("-tls1", "-tls1_1"):
        assert (
            openssl_handshake(ports.https, old, "-cipher", "DEFAULT:@SECLEVEL=0").returncode != 0
        )
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        context = tls_context(chain.root.cert_pem)
        context.minimum_version = context.maximum_version = version
        context.set_alpn_protocols(["h2", "http/1.1"])
        with tls_socket(ports.https, context) as sock:
            assert sock.version() == version.name.replace("v1_", "v1.")
            assert sock.selected_alpn_protocol() == "h2"


def test_http_redirects_308_to_configured_domain_whatever_the_host(
    front, site, ports: Ports, chain: Chain
):
    front.apply(with_tls(site, chain))

    response = request(ports.http, "/some/path?q=1&x=y", headers={"Host": "evil.example"})

    assert response.status == 308
    assert response.headers["Location"] == f"https://{DOMAIN}:{ports.https}/some/path?q=1&x=y"


def test_store_sees_forwarded_proto_https_replacing_the_clients(
    front, site, ports: Ports, chain: Chain
):
    front.apply(with_tls(site, chain))

    response = request(
        ports.https,
        context=tls_context(chain.root.cert_pem),
        headers={"X-Forwarded-Proto": "http"},
    )

    forwarded = [value for name, value in response.echoed_headers() if name == "x-forwarded-proto"]
    assert forwarded == ["https"]
    headers = dict(response.echoed_headers())
    assert headers["x-real-ip"] == "127.0.0.1"
    assert headers["x-forwarded-for"] == "127.0.0.1"


@pytest.mark.parametrize(("max_age", "expected"), [(0, None), (31536000, "max-age=31536000")])
def test_hsts_header_present_exactly_when_max_age_positive(
    front, site, ports: Ports, chain: Chain, max_age: int, expected: str | None
):
    front.apply(with_tls(site, chain, hsts_max_age=max_age))

    response = request(ports.https, context=tls_context(chain.root.cert_pem))

    assert response.headers["Strict-Transport-Security"] == expected


def test_200_mb_download_streams_over_https_without_temp_files(
    front, site, ports: Ports, chain: Chain, layout: frontend.Layout, tmp_path: Path
):
    front.apply(with_tls(site, chain))
    (tmp_path / "root.pem").write_text(chain.root.cert_pem)
    size = 200 * MB

    result = subprocess.run(
        [
            "curl", "--silent", "--show-error", "--fail", "--http2",
            "--cacert", str(tmp_path / "root.pem"),
            "--resolve", f"{DOMAIN}:{ports.https}:127.0.0.1",
            "--output", "/dev/null", "--write-out", "%{size_download} %{http_version}",
            f"https://{DOMAIN}:{ports.https}/download?size={size}",
        ],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(size), "2"]
    temp_files = [p for p in layout.run_dir.rglob("*") if p.is_file() and p != layout.pid_file]
    assert temp_files == []
    assert "buffered to a temporary file" not in layout.error_log.read_text()


def test_mismatched_key_is_rejected_and_previous_certificate_kept(
    front, site, ports: Ports, chain: Chain, layout: frontend.Layout
):
    front.apply(with_tls(site, chain))
    before = live_files(layout.root)
    other = chain_for(DOMAIN)
    bad = frontend.TLSFiles(chain_pem=other.fullchain_pem, key_pem=other.leaf.key_pem())
    bad = dataclasses.replace(bad, key_pem=mismatched_key_pem())

    with pytest.raises(frontend.ConfigRejected) as rejected:
        front.apply(dataclasses.replace(site, tls=bad))

    assert "key values mismatch" in str(rejected.value)
    assert not str(rejected.value).startswith(("nginx:", "["))
    assert live_files(layout.root) == before
    assert not layout.candidate_dir.exists()
    assert served_leaf(ports.https, tls_context(chain.root.cert_pem)) == chain.leaf.cert


def test_rotation_under_load_loses_no_request(front, site, ports: Ports, chain: Chain):
    front.apply(with_tls(site, chain))
    new = renew(chain)
    context = tls_context(chain.root.cert_pem)
    statuses: list[int | str] = []
    flowing, rotated = threading.Event(), threading.Event()

    def hammer() -> None:
        """Fresh connections until 100 after the rotation; capped, so always bounded."""
        after_rotation = 0
        while after_rotation < 100 and len(statuses) < 5000:
            try:
                statuses.append(request(ports.https, context=context).status)
            except Exception as e:  # any failure is a lost request
                statuses.append(repr(e))
            flowing.set()
            after_rotation += rotated.is_set()

    worker = threading.Thread(target=hammer)
    worker.start()
    assert flowing.wait(TIMEOUT)

    applied = front.apply(with_tls(site, new))
    rotated.set()
    worker.join(timeout=120)

    assert applied.changed
    assert not worker.is_alive()
    assert len(statuses) > 100
    assert [s for s in statuses if s != 200] == []
    assert served_leaf(ports.https, context) == new.leaf.cert


def test_second_identical_apply_changes_nothing_and_does_not_reload(
    front, site, chain: Chain, layout: frontend.Layout, service: FakeService
):
    desired = with_tls(site, chain, hsts_max_age=300)
    assert front.apply(desired).changed
    before, reloads, starts = snapshot(layout.root), service.reloads, service.starts

    applied = front.apply(desired)

    assert applied == frontend.Applied(changed=False)
    assert snapshot(layout.root) == before
    assert (service.reloads, service.starts) == (reloads, starts)


def test_modes_key_0600_tls_dir_0700_chain_0644_root_not_world_writable(
    front, site, chain: Chain, layout: frontend.Layout
):
    front.apply(with_tls(site, chain))

    def mode(path: Path) -> int:
        return path.stat().st_mode & 0o777

    paths = front.live_tls_paths()
    assert paths is not None
    chain_file, key_file = paths
    assert mode(key_file) == 0o600
    assert key_file.stat().st_uid == 0
    assert mode(layout.root / "tls") == 0o700
    assert mode(chain_file) == 0o644
    assert mode(layout.root) & 0o002 == 0
    assert mode(layout.config_file) == 0o644
    assert not layout.candidate_dir.exists()


def test_removing_tls_closes_https_proxies_http_and_deletes_tls_files(
    front, site, ports: Ports, chain: Chain, layout: frontend.Layout
):
    front.apply(with_tls(site, chain))

    applied = front.apply(site)

    assert applied.changed
    # Old workers drop their copy of the :https listener as they shut down: a bounded wait.
    assert wait_until(lambda: refuses_connections(ports.https))
    assert request(ports.http).status == 200
    assert not (layout.root / "tls").exists()
    assert front.served_tls() is None


def test_unchanged_apply_starts_nginx_when_it_is_not_running(
    front, site, ports: Ports, service: FakeService
):
    front.apply(site)
    master = service.master_pid()
    assert master is not None
    workers = children(master)
    os.kill(master, signal.SIGTERM)
    assert wait_until(lambda: not any(map(alive, (master, *workers))))

    applied = front.apply(site)

    assert applied == frontend.Applied(changed=False)
    assert service.is_running()
    assert request(ports.http).status == 200


def test_served_tls_returns_the_live_chain_and_key(front, site, chain: Chain):
    front.apply(with_tls(site, chain))

    assert front.served_tls() == tls_files(chain)


def test_port_in_use_fails_start_with_nginxs_bind_error(front, site, ports: Ports):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", ports.http))
        squatter.listen()

        with pytest.raises(frontend.ServiceFailed) as failed:
            front.apply(site)

    assert (
        failed.value.reason
        == f"bind() to 127.0.0.1:{ports.http} failed (98: Address already in use)"
    )
