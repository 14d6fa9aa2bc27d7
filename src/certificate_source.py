"""Where HTTPS gets its certificate: one imported by the operator, or a tls-certificates provider.

While a provider is integrated it is the only source. An imported certificate lives in an
application secret, so it survives the unit and every unit can read it.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import ops
from charmlibs.interfaces import tls_certificates as tls

import certificates
from certificates import CertificateError, CertifiedKey

CERTIFICATES = "certificates"
IMPORTED = "imported"
IMPORTED_LABEL = "imported-certificate"
MAX_COMMON_NAME = 64  # RFC 5280 upper bound for a subject common name


@dataclass(frozen=True)
class TLSChoice:
    """Where HTTPS should come from, and the certificate it offers now, if any."""

    source: str | None = None  # IMPORTED, a provider's application name, or None
    certified: CertifiedKey | None = None
    pending: ops.StatusBase | None = None  # why `certified` is missing or unusable


def certificate_request(domain: str) -> tls.CertificateRequestAttributes:
    """Ask for the domain as DNS name, and as common name where it fits in one."""
    common_name = domain if len(domain) <= MAX_COMMON_NAME else None
    return tls.CertificateRequestAttributes(common_name=common_name, sans_dns=[domain])


class CertificateSource(ops.Object):
    """The imported certificate's secret and the tls-certificates requirer, behind one face."""

    def __init__(self, charm: ops.CharmBase, domain: str | None):
        super().__init__(charm, CERTIFICATES)
        self._app = charm.app
        self._unit = charm.unit
        self.requirer = tls.TLSCertificatesRequiresV4(
            charm,
            CERTIFICATES,
            certificate_requests=[certificate_request(domain)] if domain else [],
            mode=tls.Mode.APP,
            refresh_events=[charm.on.config_changed],
        )

    @property
    def provider(self) -> str | None:
        """The integrated provider's application name, if any."""
        relation = self.model.get_relation(CERTIFICATES)
        return relation.app.name if relation is not None and relation.app is not None else None

    @property
    def name(self) -> str | None:
        """Where the certificate comes from: the provider, IMPORTED, or None."""
        return self.provider or (IMPORTED if self._imported_secret() else None)

    def fix_hint(self, source: str | None) -> str:
        """Name the command that gives HTTPS a good certificate again."""
        if source in (None, IMPORTED):
            return f"juju run {self._app.name}/leader import-certificate certificate=... key=..."
        return f"check {source}: juju status {source}"

    def choice(self, domain: str, now: datetime.datetime) -> TLSChoice:
        """Return the certificate the source offers now, or why there is none."""
        if provider := self.provider:
            return self._provider_choice(provider, domain, now)
        secret = self._imported_secret()
        if secret is None:
            return TLSChoice()
        content = secret.get_content(refresh=True)
        try:
            certified = certificates.load(content["certificate"], content["private-key"])
        except CertificateError as e:
            unusable = ops.BlockedStatus(f"imported: {e}: {self.fix_hint(IMPORTED)}")
            return TLSChoice(IMPORTED, pending=unusable)
        return TLSChoice(IMPORTED, certified)

    def save_imported(self, certified: CertifiedKey) -> None:
        """Keep the certificate and key in the application secret (leader only)."""
        content = {"certificate": certified.chain_pem, "private-key": certified.key_pem}
        secret = self._imported_secret()
        if secret is None:
            self._app.add_secret(content, label=IMPORTED_LABEL, description="imported TLS key")
        elif secret.get_content(refresh=True) != content:  # no new revision for the same pair
            secret.set_content(content)

    def forget_imported(self) -> bool:
        """Remove the imported certificate and key; return whether there was one."""
        secret = self._imported_secret()
        if secret is None:
            return False
        secret.remove_all_revisions()
        return True

    def _imported_secret(self) -> ops.Secret | None:
        try:
            return self.model.get_secret(label=IMPORTED_LABEL)
        except ops.SecretNotFoundError:
            return None

    def _provider_choice(self, provider: str, domain: str, now: datetime.datetime) -> TLSChoice:
        if not self._unit.is_leader():
            # Mode.APP: only the leader can read the request and its key.
            leader = f"juju status {self._app.name}"
            waiting = f"HTTPS from {provider} is served by the leader unit: reach it ({leader})"
            return TLSChoice(provider, pending=ops.WaitingStatus(waiting))
        assigned, key = self.requirer.get_assigned_certificate(certificate_request(domain))
        if assigned is None or key is None:
            return TLSChoice(provider, pending=self._provider_pending(provider, domain))
        try:
            chain = "".join(str(c) + "\n" for c in assigned.chain)
            certified = certificates.load(str(assigned.certificate), str(key), chain)
            certificates.check_for_domain(certified, domain, now)
        except CertificateError as e:
            unusable = f"the certificate from {provider} is unusable: {e}"
            return TLSChoice(provider, pending=ops.BlockedStatus(unusable))
        return TLSChoice(provider, certified)

    def _provider_pending(self, provider: str, domain: str) -> ops.StatusBase:
        wanted = certificate_request(domain)
        for request in self.requirer.get_csrs_from_requirer_relation_data():
            csr = request.certificate_signing_request
            if tls.CertificateRequestAttributes.from_csr(csr, request.is_ca) != wanted:
                continue  # a denial of an older request (another domain) no longer applies
            denial = self.requirer.get_request_error(csr)
            if denial is not None:
                reason = denial.error.reason or denial.error.message
                return ops.BlockedStatus(
                    f"{provider} denied the certificate request: {reason}: "
                    f"juju config {self._app.name} domain=<allowed fqdn>"
                )
        return ops.WaitingStatus(
            f"waiting for a certificate from {provider}: check juju status {provider}"
        )
