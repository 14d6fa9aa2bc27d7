from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import frontend
from tests.workload.clients import DOMAIN
from tests.workload.harness import NGINX, Backend, FakeService, free_ports, make_layout


@dataclass(frozen=True)
class Ports:
    http: int
    https: int


@pytest.fixture
def backend() -> Iterator[Backend]:
    with Backend() as store:
        yield store


@pytest.fixture
def ports() -> Ports:
    http, https = free_ports(2)  # two independent picks may collide
    return Ports(http=http, https=https)


@pytest.fixture
def layout(tmp_path: Path) -> frontend.Layout:
    return make_layout(tmp_path)


@pytest.fixture
def service(layout: frontend.Layout) -> Iterator[FakeService]:
    fake = FakeService(layout)
    yield fake
    fake.stop()


@pytest.fixture
def front(layout: frontend.Layout, service: FakeService) -> frontend.Frontend:
    return frontend.Frontend(layout, service, nginx=NGINX)


@pytest.fixture
def site(backend: Backend, ports: Ports) -> frontend.SiteConfig:
    """The HTTP-only site; tests add TLS with dataclasses.replace."""
    return frontend.SiteConfig(
        domain=DOMAIN,
        backend_port=backend.port,
        http_port=ports.http,
        https_port=ports.https,
        listen_address="127.0.0.1",
    )
