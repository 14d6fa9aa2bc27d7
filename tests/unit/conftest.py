"""Fakes for what a unit test machine cannot have: snapd, systemd, the proxy snap, nginx.

The charm's own pure modules run for real: `Store` drives a fake `snap-proxy` on disk that
stores config like the real one, and snapd is answered the way charmlibs.snap would be.
The front end is replaced by a fake that keeps what it serves in memory and can be told
to fail the way nginx fails; the real one is exercised in tests/workload.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest
from charmlibs import snap

import charm
import store
from frontend import Applied, ConfigRejected, ServiceFailed, SiteConfig, TLSFiles
from tests.fakes import snap_proxy


@dataclass
class FakeFrontend:
    """Serves the last accepted SiteConfig; `rejection` or `failure` make apply raise."""

    served: SiteConfig | None = None
    applies: list[SiteConfig] = field(default_factory=list)
    changes: int = 0
    rejection: str | None = None
    failure: str | None = None
    installed: bool = True
    installs: int = 0
    stopped: bool = False

    def apply(self, site: SiteConfig) -> Applied:
        self.applies.append(site)
        if self.rejection:
            raise ConfigRejected(self.rejection)
        if self.failure:
            raise ServiceFailed(self.failure)
        changed = site != self.served
        self.served = site
        self.changes += changed
        return Applied(changed=changed)

    def served_tls(self) -> TLSFiles | None:
        return self.served.tls if self.served else None


@dataclass
class FakeService:
    frontend: FakeFrontend

    def installed(self) -> bool:
        return self.frontend.installed

    def install(self) -> None:
        self.frontend.installs += 1
        self.frontend.installed = True

    def stop_and_disable(self) -> None:
        self.frontend.stopped = True


@dataclass
class FakeSnapd:
    """Answers the charmlibs.snap calls Store makes, as snapd would."""

    revision: str | None = None
    channel: str | None = None
    error: snap.Error | None = None
    holds: int = 0

    def ensure_installed(self, name: str, channel: str | None = None, **_: object) -> bool:
        if self.error:
            raise self.error
        if self.revision is not None and channel == self.channel:
            return False
        self.revision, self.channel = "42", channel
        return True

    def hold(self, name: str, duration: object = None) -> None:
        self.holds += 1

    def list_one(self, name: str) -> SimpleNamespace:
        if self.revision is None:
            raise snap.NotInstalledError(
                message=f"snap {name!r} is not installed", kind="", value=None
            )
        return SimpleNamespace(revision=self.revision, channel=self.channel)


@dataclass
class Machine:
    frontend: FakeFrontend
    snapd: FakeSnapd
    snap_proxy_state: Path
    nginx_installs: list[int]

    def snap_proxy_config(self) -> dict[str, str]:
        return snap_proxy.read_state(self.snap_proxy_state)["config"]

    def snap_proxy_sets(self) -> list[list[str]]:
        return snap_proxy.set_calls(self.snap_proxy_state)


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Machine:
    frontend = FakeFrontend()
    snapd = FakeSnapd()
    state_file = tmp_path / "snap-proxy.json"
    nginx_installs: list[int] = []
    monkeypatch.setenv(snap_proxy.STATE_ENV, str(state_file))
    monkeypatch.setattr(charm, "Frontend", lambda layout, service: frontend)
    monkeypatch.setattr(charm, "SystemdService", lambda layout: FakeService(frontend))
    monkeypatch.setattr(charm, "install_nginx", lambda: nginx_installs.append(1))
    monkeypatch.setattr(charm, "Store", lambda: store.Store(snap_proxy=snap_proxy.command()))
    for name in ("ensure_installed", "hold", "list_one"):
        monkeypatch.setattr(store.snap, name, getattr(snapd, name))
    return Machine(frontend, snapd, state_file, nginx_installs)
