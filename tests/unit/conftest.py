"""Fakes for what a unit test machine cannot have: snapd, systemd, the proxy snap, nginx.

The charm's own pure modules run for real: `Store` drives a fake `snap-proxy` on disk that
stores config like the real one, and snapd is answered the way charmlibs.snap would be.
The front end is replaced by a fake that keeps what it serves in memory and can be told
to fail the way nginx fails; the real one is exercised in tests/workload.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import ops
import pytest
import yaml
from charmlibs import snap
from dpcharmlibs.interfaces import (
    RequirerCommonModel,
    ResourceProviderEventHandler,
    ResourceProviderModel,
    ResourceRequirerEventHandler,
)
from ops import testing

import charm
import database as database_module
import store
from charm import SnapStoreProxyCharm
from frontend import Applied, ConfigRejected, ServiceFailed, SiteConfig, TLSFiles
from tests.fakes import snap_proxy

ROOT = Path(__file__).parents[2]


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
    purged: bool = False

    def apply(self, site: SiteConfig) -> Applied:
        self.applies.append(site)
        if self.rejection:  # checked before the swap: the live files stay as they were
            raise ConfigRejected(self.rejection)
        changed = site != self.served
        self.served = site
        self.changes += changed
        if self.failure:  # after the swap, as a failed start or reload is
            raise ServiceFailed(f"nginx reload failed: {self.failure}", reason=self.failure)
        return Applied(changed=changed)

    def served_tls(self) -> TLSFiles | None:
        return self.served.tls if self.served else None

    def purge(self) -> None:
        self.served = None
        self.purged = True


@dataclass
class FakeService:
    frontend: FakeFrontend

    def installed(self) -> bool:
        return self.frontend.installed

    def install(self) -> None:
        self.frontend.installs += 1
        self.frontend.installed = True

    def uninstall(self) -> None:
        self.frontend.stopped = True


@dataclass
class FakeSnapd:
    """Answers the charmlibs.snap calls Store makes, as snapd would."""

    revision: str | None = None
    channel: str | None = None
    error: snap.Error | None = None
    holds: int = 0
    held: bool = False  # snapd keeps a hold across refreshes

    def ensure_installed(self, name: str, channel: str | None = None, **_: object) -> bool:
        if self.error:
            raise self.error
        if self.revision is not None and channel == self.channel:
            return False
        self.revision, self.channel = "42", channel
        return True

    def hold(self, name: str, duration: object = None) -> None:
        self.holds += 1
        self.held = True

    def list_one(self, name: str) -> SimpleNamespace:
        if self.revision is None:
            raise snap.NotInstalledError(
                message=f"snap {name!r} is not installed", kind="", value=None
            )
        hold = datetime.datetime.max if self.held else None
        return SimpleNamespace(revision=self.revision, channel=self.channel, hold=hold)


@dataclass
class Machine:
    frontend: FakeFrontend
    snapd: FakeSnapd
    snap_proxy_state: Path
    nginx_installs: list[int]
    health_failure: str | None = None
    health_checks: list[tuple[int, str, bool]] = field(default_factory=list)

    def check_health(self, port: int, host: str, *, tls: bool) -> str | None:
        self.health_checks.append((port, host, tls))
        return self.health_failure

    def set_status(self, text: str) -> None:
        snap_proxy.set_status(self.snap_proxy_state, text)

    def snap_proxy_config(self) -> dict[str, str]:
        return snap_proxy.read_state(self.snap_proxy_state)["config"]

    def snap_proxy_sets(self) -> list[list[str]]:
        return snap_proxy.set_calls(self.snap_proxy_state)


@pytest.fixture
def ctx() -> testing.Context[SnapStoreProxyCharm]:
    # ops.testing reads only charmcraft.yaml; this charm keeps config and actions beside it.
    def load(name: str) -> dict:
        return yaml.safe_load((ROOT / name).read_text())

    return testing.Context(
        SnapStoreProxyCharm,
        meta=load("charmcraft.yaml"),
        config=load("config.yaml"),
        actions=load("actions.yaml"),
    )


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Machine:
    frontend = FakeFrontend()
    snapd = FakeSnapd()
    state_file = tmp_path / "snap-proxy.json"
    nginx_installs: list[int] = []
    machine = Machine(frontend, snapd, state_file, nginx_installs)
    machine.set_status(snap_proxy.status_text("STORE-ID-1"))  # registered and healthy
    monkeypatch.setattr(charm, "check_health", machine.check_health)
    monkeypatch.setenv(snap_proxy.STATE_ENV, str(state_file))
    monkeypatch.setattr(charm, "Frontend", lambda layout, service: frontend)
    monkeypatch.setattr(charm, "SystemdService", lambda layout: FakeService(frontend))
    monkeypatch.setattr(charm, "install_nginx", lambda: nginx_installs.append(1))
    monkeypatch.setattr(charm, "Store", lambda: store.Store(snap_proxy=snap_proxy.command()))
    for name in ("ensure_installed", "hold", "list_one"):
        monkeypatch.setattr(store.snap, name, getattr(snapd, name))
    return machine


# The database, answered by the data-platform library's own provider side


class _Requirer(ops.CharmBase):
    """Asks for the database exactly as the charm does."""

    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        request = RequirerCommonModel(
            resource=database_module.DATABASE_NAME, extra_user_roles=database_module.DATABASE_ROLES
        )
        self.db = ResourceRequirerEventHandler(
            self, database_module.DATABASE, [request], response_model=ResourceProviderModel
        )


class _Postgresql(ops.CharmBase):
    """Creates the requested database and answers with the credentials it is given."""

    credentials: ClassVar[dict[str, str]] = {}

    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        self.db = ResourceProviderEventHandler(self, "database", RequirerCommonModel)
        framework.observe(self.db.on.resource_requested, self._on_requested)

    def _on_requested(self, event) -> None:
        answer = ResourceProviderModel(
            salt=event.request.salt,
            request_id=event.request.request_id,
            resource=event.request.resource,
            username=self.credentials["username"],
            password=self.credentials["password"],
            endpoints=self.credentials["endpoints"],
        )
        self.db.set_response(event.relation.id, answer)


@functools.cache
def database(
    username: str = "snapproxy", password: str = "p@ss/w:rd%", endpoints: str = "10.0.0.5:5432"
) -> tuple[testing.Relation, testing.Secret]:
    """A database relation as PostgreSQL leaves it, and the secret with its credentials."""
    meta = {"name": "requirer", "requires": {"database": {"interface": "postgresql_client"}}}
    unanswered = testing.Relation("database")
    asked = testing.Context(_Requirer, meta=meta).run(
        testing.CharmEvents.relation_created(unanswered),
        testing.State(leader=True, relations={unanswered}),
    )
    request = dict(next(iter(asked.relations)).local_app_data)
    _Postgresql.credentials = {"username": username, "password": password, "endpoints": endpoints}
    provider_meta = {
        "name": "postgresql",
        "provides": {"database": {"interface": "postgresql_client"}},
    }
    client = testing.Relation(
        "database", remote_app_name="snap-store-proxy", remote_app_data=request
    )
    answered = testing.Context(_Postgresql, meta=provider_meta).run(
        testing.CharmEvents.relation_changed(client),
        testing.State(leader=True, relations={client}),
    )
    data = dict(next(iter(answered.relations)).local_app_data)
    (secret,) = answered.secrets
    relation = testing.Relation(
        "database", remote_app_name="postgresql", local_app_data=request, remote_app_data=data
    )
    # As the requirer first sees it: not its own, and not yet labelled by it.
    return relation, dataclasses.replace(secret, owner=None, label=None)
