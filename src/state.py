"""The charm's inputs as typed, validated values.

Pure module: no ops import. `CharmConfig` is loaded by `CharmBase.load_config`, which
passes each Juju option as a keyword argument (dashes become underscores); a bad value
raises `InvalidConfig`, whose message names the option and the command that fixes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from frontend import is_dns_name
from store import SERVICE_PORTS

_CHANNEL = re.compile(
    r"^([a-z0-9][a-z0-9.+_-]*/)?(stable|candidate|beta|edge)(/[a-z0-9][a-z0-9.+_-]*)?$"
)
_MAX_HSTS = 2 * 365 * 24 * 3600  # two years, the most browsers' preload lists ask for


class InvalidConfig(ValueError):
    """A config option has a value the charm cannot use."""

    def __init__(self, option: str, problem: str, example: str) -> None:
        super().__init__(f"{problem}: juju config <app> {option}={example}")
        self.option = option
        self.problem = problem
        self.example = example

    def message(self, app: str) -> str:
        """Say what is wrong, then the command that fixes it."""
        return f"{self.problem}: juju config {app} {self.option}={self.example}"


def parse_domain(value: object) -> str:
    """Return the domain in canonical form (lower case, no trailing dot), or raise."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidConfig("domain", "set the domain", "<fqdn>")
    domain = value.strip().lower().removesuffix(".")
    # An all-digit last label would make an IP address, which is not a domain. Non-ASCII
    # is refused before lower(): the KELVIN SIGN would otherwise become an ASCII "k".
    if not value.strip().isascii() or not is_dns_name(domain) or domain.split(".")[-1].isdigit():
        shown = value if len(value) <= 64 else value[:61] + "..."
        raise InvalidConfig("domain", f"domain {shown!r} is not a valid DNS name", "<fqdn>")
    return domain


@dataclass(frozen=True)
class CharmConfig:
    """Every config option of the charm, validated."""

    domain: str = ""
    hsts_max_age: int = 0
    channel: str = "stable"
    internal_port: int = 8080

    def __post_init__(self) -> None:
        object.__setattr__(self, "domain", parse_domain(self.domain))
        _check_int("hsts-max-age", self.hsts_max_age, 0, _MAX_HSTS)
        _check_int("internal-port", self.internal_port, 1024, 65535)
        if self.internal_port in SERVICE_PORTS:
            taken = ", ".join(map(str, sorted(SERVICE_PORTS)))
            raise InvalidConfig(
                "internal-port", f"internal-port must not be one of the proxy's ({taken})", "8080"
            )
        if not isinstance(self.channel, str) or not _CHANNEL.fullmatch(self.channel):
            raise InvalidConfig(
                "channel", f"channel {self.channel!r} is not a snap channel", "stable"
            )


def _check_int(option: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidConfig(
            option, f"{option} must be a whole number from {low} to {high}", str(low)
        )
