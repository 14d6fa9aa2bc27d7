"""The store behind the real front end: its health check and the URLs it hands to devices."""

from __future__ import annotations

import pytest

import frontend
from store import check_health
from tests.pki import Chain, chain_for
from tests.workload.clients import DOMAIN, request, tls_context
from tests.workload.conftest import Ports
from tests.workload.harness import Backend
from tests.workload.helpers import with_tls

pytestmark = pytest.mark.workload


@pytest.fixture
def chain() -> Chain:
    return chain_for(DOMAIN)


def test_health_check_passes_over_https_through_the_front_end(
    front: frontend.Frontend, site: frontend.SiteConfig, ports: Ports, chain: Chain
):
    front.apply(with_tls(site, chain))

    assert check_health(ports.https, DOMAIN, tls=True) is None


def test_health_check_passes_over_http_while_tls_is_off(
    front: frontend.Frontend, site: frontend.SiteConfig, ports: Ports
):
    front.apply(site)

    assert check_health(ports.http, DOMAIN, tls=False) is None


def test_health_check_fails_with_nginxs_502_when_the_store_is_down(
    front: frontend.Frontend,
    site: frontend.SiteConfig,
    ports: Ports,
    chain: Chain,
    backend: Backend,
):
    front.apply(with_tls(site, chain))
    backend.__exit__()

    assert check_health(ports.https, DOMAIN, tls=True) == "HTTP 502"


def test_health_check_over_plain_http_is_redirected_once_tls_is_on(
    front: frontend.Frontend, site: frontend.SiteConfig, ports: Ports, chain: Chain
):
    front.apply(with_tls(site, chain))

    assert check_health(ports.http, DOMAIN, tls=False) == "HTTP 308"


def test_store_assertion_fetched_over_https_names_an_https_url(
    front: frontend.Frontend, site: frontend.SiteConfig, ports: Ports, chain: Chain
):
    front.apply(with_tls(site, chain))

    answer = request(
        ports.https, "/v2/auth/store/assertions", context=tls_context(chain.root.cert_pem)
    )

    assert answer.status == 200
    # nginx passes $host, the name without the port, as devices reach the proxy on 443.
    assert f"url: https://{DOMAIN}\n" in answer.body.decode()


def test_store_assertion_over_http_is_redirected_to_https(
    front: frontend.Frontend, site: frontend.SiteConfig, ports: Ports, chain: Chain
):
    front.apply(with_tls(site, chain))

    answer = request(ports.http, "/v2/auth/store/assertions")

    assert answer.status == 308
    assert answer.headers["Location"] == (
        f"https://{DOMAIN}:{ports.https}/v2/auth/store/assertions"
    )
