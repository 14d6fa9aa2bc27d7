#!/usr/bin/env python3
# Copyright 2026 The snap-store-proxy charm developers
# See LICENSE file for licensing details.

"""Run the Snap Store Proxy behind an nginx HTTPS front end."""

from __future__ import annotations

import datetime
import logging

import ops

import certificates
from certificate_source import IMPORTED, CertificateSource, TLSChoice
from certificates import CertificateError
from database import DATABASE, Database, DatabaseAnswer
from frontend import (
    ConfigRejected,
    Frontend,
    FrontendError,
    Layout,
    NoSpace,
    ServiceFailed,
    SiteConfig,
    SystemdService,
    TLSFiles,
    install_nginx,
)
from state import CharmConfig, InvalidConfig
from store import (
    SNAP,
    InstallFailed,
    ProxyStatus,
    Store,
    StoreError,
    StoreSettings,
    check_health,
)

logger = logging.getLogger(__name__)

HTTP_PORT = 80
HTTPS_PORT = 443
EXPIRY_WARNING_DAYS = 14
NO_CERTIFICATE = "HTTP only: import a certificate or integrate a tls-certificates provider"
UNREGISTERED = "store not registered: run snap-proxy register on the unit"


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


class SnapStoreProxyCharm(ops.CharmBase):
    """Observe every event, reconcile once, report the outcome in collect-status."""

    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        self._layout = Layout.production()
        self._service = SystemdService(self._layout)
        self._frontend = Frontend(self._layout, self._service)
        self._store = Store()
        self._statuses: list[ops.StatusBase] | None = None
        self._apply_failure: ops.StatusBase | None = None
        self._database = Database(self)
        self._certificates = CertificateSource(self, self._domain())
        for event in (
            self.on.install,
            self.on.upgrade_charm,
            self.on.config_changed,
            self.on.start,
            self.on.update_status,
            self.on.leader_elected,
            self.on.secret_changed,
            self.on["certificates"].relation_broken,
            self.on[DATABASE].relation_broken,
            self._database.requirer.on.resource_created,
            self._database.requirer.on.endpoints_changed,
            self._database.requirer.on.authentication_updated,
            self._certificates.requirer.on.certificate_available,
            self._certificates.requirer.on.certificate_denied,
        ):
            framework.observe(event, self._on_change)
        framework.observe(self.on.import_certificate_action, self._on_import_certificate)
        framework.observe(self.on.remove_certificate_action, self._on_remove_certificate)
        framework.observe(self.on.show_certificate_action, self._on_show_certificate)
        framework.observe(self.on.status_action, self._on_status_action)
        framework.observe(self.on.remove, self._on_remove)
        framework.observe(self.on.collect_unit_status, self._on_collect_status)

    # Events

    def _on_change(self, _: ops.EventBase) -> None:
        self._statuses = self._reconcile()

    def _on_collect_status(self, event: ops.CollectStatusEvent) -> None:
        # Hooks that change nothing (read-only actions, stop, remove) only look.
        for status in self._statuses if self._statuses is not None else self._observe():
            event.add_status(status)

    def _on_remove(self, _: ops.RemoveEvent) -> None:
        # Give ports 80 and 443 back to the machine, and take the keys away with the unit.
        self._service.uninstall()
        self._frontend.purge()

    def _on_import_certificate(self, event: ops.ActionEvent) -> None:
        if refusal := self._leader_refusal("import-certificate") or self._provider_refusal():
            event.fail(refusal)
            return
        try:
            config = self.load_config(CharmConfig)
            certified = certificates.load(
                event.params["certificate"], event.params["key"], event.params.get("chain", "")
            )
            certificates.check_for_domain(certified, config.domain, _now())
        except InvalidConfig as e:
            event.fail(e.message(self.app.name))
            return
        except CertificateError as e:
            event.fail(str(e))
            return
        self._statuses = self._reconcile(TLSChoice(IMPORTED, certified))
        served = self._frontend.served_tls()
        if self._apply_failure or served is None or served.chain_pem != certified.chain_pem:
            # Not saved: the next hook goes back to what was served before.
            reason = (self._apply_failure or self._statuses[0]).message
            event.fail(f"the certificate is valid but could not be served: {reason}")
            return
        self._certificates.save_imported(certified)
        event.set_results(certified.info.as_result(_now()))

    def _on_remove_certificate(self, event: ops.ActionEvent) -> None:
        if refusal := self._leader_refusal("remove-certificate"):
            event.fail(refusal)
            return
        if not self._certificates.forget_imported():
            event.set_results({"result": "no imported certificate; nothing to remove"})
            return
        provider = self._certificates.provider
        self._statuses = self._reconcile(None if provider else TLSChoice())
        now_serving = f"certificates still come from {provider}" if provider else "HTTP only"
        event.set_results({"result": f"imported certificate removed; {now_serving}"})

    def _on_show_certificate(self, event: ops.ActionEvent) -> None:
        event.set_results(self._served_certificate())

    def _on_status_action(self, event: ops.ActionEvent) -> None:
        try:
            proxy = self._store.status()
        except StoreError as e:
            event.fail(f"{e}: juju debug-log --include {self.unit.name}")
            return
        database = {True: "ok", False: proxy.fields.get("Database", "not ok"), None: "unknown"}
        services = {
            name: "running" if up else "not running" for name, up in proxy.services.items()
        }
        event.set_results(
            {
                "store-id": proxy.store_id or "not registered",
                "database": database[proxy.database_ok],
                "services": services,
                "https": self._served_certificate(),
            }
        )

    # Reconcile

    def _reconcile(self, choice: TLSChoice | None = None) -> list[ops.StatusBase]:
        """Bring the machine to the desired state; return statuses, most telling first."""
        try:
            config = self.load_config(CharmConfig)
        except InvalidConfig as e:
            return [ops.BlockedStatus(e.message(self.app.name))]
        try:
            self._install_frontend()
        except FrontendError as e:
            return [ops.BlockedStatus(f"{e}; {self._retry}")]
        database = self._database.read()
        # A store that fails must not hold HTTPS back: renewals and imports still go live.
        store_failure = self._ensure_store(config, database)
        choice = choice or self._certificates.choice(config.domain, _now())
        site = SiteConfig(
            domain=config.domain,
            backend_port=config.internal_port,
            tls=self._tls_to_serve(choice),
            hsts_max_age=config.hsts_max_age,
        )
        self._apply_failure = self._apply(site)
        served = self._frontend.served_tls()
        self.unit.set_ports(*((HTTP_PORT, HTTPS_PORT) if served else (HTTP_PORT,)))
        failures = [s for s in (store_failure, self._apply_failure) if s is not None]
        return failures + self._report(config, choice, served, database)

    def _observe(self) -> list[ops.StatusBase]:
        """Report on the machine as it is, changing nothing."""
        try:
            config = self.load_config(CharmConfig)
        except InvalidConfig as e:
            return [ops.BlockedStatus(e.message(self.app.name))]
        choice = self._certificates.choice(config.domain, _now())
        return self._report(config, choice, self._frontend.served_tls(), self._database.read())

    def _report(
        self,
        config: CharmConfig,
        choice: TLSChoice,
        served: TLSFiles | None,
        database: DatabaseAnswer,
    ) -> list[ops.StatusBase]:
        pending = [choice.pending] if choice.pending else []
        store, registered = self._store_statuses(database)
        serving = self._serving_status(config, served, choice)
        statuses = [*store, *pending, serving]
        if not registered:
            if isinstance(serving, ops.ActiveStatus):
                statuses[-1] = ops.ActiveStatus(f"{serving.message}; {UNREGISTERED}")
        elif all(isinstance(s, ops.ActiveStatus) for s in statuses):
            # Only a store otherwise ready is asked; an unregistered one may not answer.
            statuses[:0] = [s for s in (self._health(config, served),) if s]
        return statuses

    @property
    def _retry(self) -> str:
        return f"update-status retries: juju debug-log --include {self.unit.name}"

    def _ensure_store(
        self, config: CharmConfig, database: DatabaseAnswer
    ) -> ops.StatusBase | None:
        try:
            self._install_snap(config.channel)
        except InstallFailed as e:
            return ops.BlockedStatus(f"{e}: juju config {self.app.name} channel=<channel>")
        except StoreError as e:
            return ops.BlockedStatus(f"{e}; {self._retry}")
        settings = StoreSettings(config.domain, config.internal_port, database.connection)
        try:
            self._store.configure(settings)
        except StoreError as e:
            return ops.BlockedStatus(f"{e}; {self._retry}")
        return None

    def _install_frontend(self) -> None:
        if not self._service.installed():
            self.unit.status = ops.MaintenanceStatus("installing nginx")
            install_nginx()
        self._service.install()

    def _install_snap(self, channel: str) -> None:
        if self._store.revision() is None:
            self.unit.status = ops.MaintenanceStatus("installing the snap-store-proxy snap")
        self.unit.set_workload_version(self._store.install(channel))

    def _tls_to_serve(self, choice: TLSChoice) -> TLSFiles | None:
        if choice.certified is not None:
            return TLSFiles(choice.certified.chain_pem, choice.certified.key_pem)
        if choice.source is not None:  # renewal, domain change or outage: keep the last good
            return self._frontend.served_tls()
        return None

    def _apply(self, site: SiteConfig) -> ops.StatusBase | None:
        try:
            self._frontend.apply(site)
        except ConfigRejected as e:
            kept = "the last good configuration still serves"
            return ops.BlockedStatus(f"nginx rejected the configuration: {e}; {kept}")
        except NoSpace as e:
            fix = f"free disk space on {self.unit.name}; update-status retries"
            return ops.BlockedStatus(f"{e}: {fix}; the last good configuration still serves")
        except ServiceFailed as e:
            if e.port_busy:
                return ops.WaitingStatus(f"a port is still taken ({e}); update-status retries")
            return ops.BlockedStatus(f"{e}; {self._retry}")
        except FrontendError as e:
            return ops.BlockedStatus(f"{e}; {self._retry}")
        return None

    # Status, from what is live

    def _serving_status(
        self, config: CharmConfig, served: TLSFiles | None, choice: TLSChoice
    ) -> ops.StatusBase:
        if served is None:
            return ops.ActiveStatus(NO_CERTIFICATE)
        fix = self._certificates.fix_hint(choice.source)
        try:
            info = certificates.describe_chain(served.chain_pem)
        except CertificateError as e:  # edited by hand; the next reconcile rewrites it
            return ops.BlockedStatus(f"the served certificate cannot be read ({e}): {fix}")
        if info.not_after <= _now():
            return ops.BlockedStatus(f"certificate expired {info.not_after:%Y-%m-%d}: {fix}")
        # While a new certificate is pending, the pending status already says what to expect.
        if choice.pending is None and not certificates.covers(info, config.domain):
            names = ", ".join(info.names()) or "no names"
            return ops.BlockedStatus(
                f"certificate does not cover {config.domain} ({names}): {fix}"
            )
        days = info.days_left(_now())
        expiry = (
            f"expires in {days} days"
            if days <= EXPIRY_WARNING_DAYS
            else f"expires {info.not_after:%Y-%m-%d}"
        )
        return ops.ActiveStatus(f"HTTPS enabled for {config.domain}, certificate {expiry}")

    def _store_statuses(self, answer: DatabaseAnswer) -> tuple[list[ops.StatusBase], bool]:
        """Statuses about the proxy itself, and whether it is registered."""
        if (database := answer.provider) is None:
            fix = f"juju integrate {self.app.name}:{DATABASE} postgresql"
            return [ops.BlockedStatus(f"integrate a PostgreSQL database: {fix}")], True
        if answer.url is None:
            waiting = f"waiting for a database from {database}: check juju status {database}"
            return [ops.WaitingStatus(waiting)], True
        try:
            proxy = self._store.status()
        except StoreError as e:
            return [ops.BlockedStatus(f"{e}: juju debug-log --include {self.unit.name}")], True
        return self._proxy_statuses(proxy, database), proxy.registered

    def _proxy_statuses(self, proxy: ProxyStatus, database: str) -> list[ops.StatusBase]:
        statuses: list[ops.StatusBase] = []
        if proxy.database_ok is False:
            said = proxy.fields.get("Database", "not ok")
            statuses.append(
                ops.BlockedStatus(f"the store's database is {said}: check juju status {database}")
            )
        if stopped := proxy.stopped_services:
            restart = f"juju exec --unit {self.unit.name} -- snap restart {SNAP}"
            statuses.append(
                ops.BlockedStatus(f"store services not running: {', '.join(stopped)}: {restart}")
            )
        return statuses

    def _health(self, config: CharmConfig, served: TLSFiles | None) -> ops.StatusBase | None:
        port = HTTPS_PORT if served else HTTP_PORT
        if failure := check_health(port, config.domain, tls=served is not None):
            fix = f"juju exec --unit {self.unit.name} -- snap-proxy status"
            return ops.BlockedStatus(f"the store fails /_status/check ({failure}): {fix}")
        return None

    def _served_certificate(self) -> dict[str, str]:
        served = self._frontend.served_tls()
        if served is None:
            return {"certificate": "none", "result": NO_CERTIFICATE}
        try:
            info = certificates.describe_chain(served.chain_pem)
        except CertificateError as e:
            return {"certificate": "unreadable", "result": str(e)}
        return {**info.as_result(_now()), "source": self._certificates.name or "none"}

    # Helpers

    def _domain(self) -> str | None:
        try:
            return self.load_config(CharmConfig).domain
        except InvalidConfig:
            return None  # nothing to ask a provider for until the domain is valid

    def _leader_refusal(self, action: str) -> str | None:
        if self.unit.is_leader():
            return None
        return f"run this action on the leader: juju run {self.app.name}/leader {action}"

    def _provider_refusal(self) -> str | None:
        if (provider := self._certificates.provider) is None:
            return None
        return (
            f"the certificate comes from {provider}; remove that integration first: "
            f"juju remove-relation {self.app.name} {provider}"
        )


if __name__ == "__main__":  # pragma: nocover
    ops.main(SnapStoreProxyCharm)
