"""The snap-store-proxy snap and its `snap-proxy` command line.

Pure module: no ops import.

- `Store.install(channel)`: charmlibs.snap.ensure_installed(SNAP, channel, update=False),
  then charmlibs.snap.hold(SNAP) unless snapd already holds it, so automatic refreshes
  never restart the proxy under the operator. A failed install is InstallFailed; any
  other charmlibs.snap.Error becomes StoreError with snapd's message.
- `Store.revision()`: the installed revision, or None when not installed.
- `Store.configure(settings)`: for each key of `settings.as_snap_proxy_config()`, read
  the current value with `snap-proxy config <key>`; call `snap-proxy config k=v ...`
  once with only the keys whose values differ; return the keys changed (tuple, sorted).
  A failing command becomes StoreError carrying the command's own last stderr line.

Values are never logged, only key names: future keys (`proxy.db.connection`, passwords)
carry secrets, and a rule with no exceptions cannot be forgotten when they arrive.
"""

from __future__ import annotations

import http.client
import logging
import ssl
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

from charmlibs import snap

logger = logging.getLogger(__name__)

SNAP = "snap-store-proxy"
CLI = "snap-proxy"
LOOPBACK = "127.0.0.1"
# Ports the proxy's own services listen on (its configuration reference): the internal
# HTTP port must not take one of them.
SERVICE_PORTS = frozenset({5000, 8000, 8001, 8002, 8005, 8006, 8007, 8010, 8011, 8013, 11211})
# How `snap-proxy config <key>` may print a key that has no value.
_UNSET = ("", "None", "null")

# Generous: setting config makes snap-proxy restart its services, but a hung CLI
# must still not hang the hook forever.
CLI_TIMEOUT_SECONDS = 120


class StoreError(Exception):
    """The snap or its CLI failed; str() is the tool's own error line."""


class InstallFailed(StoreError):
    """snapd could not install or refresh the snap; an unavailable channel is the usual cause."""


@dataclass(frozen=True)
class StoreSettings:
    """What the charm wants snap-proxy configured with."""

    domain: str
    internal_port: int
    db_connection: str | None = field(default=None, repr=False)  # holds a password

    def as_snap_proxy_config(self) -> dict[str, str]:
        """Map the settings to `snap-proxy config` keys and string values."""
        config = {
            "proxy.domain": self.domain,
            # Plain HTTP on loopback only: the front end is the one way in.
            "proxy.ipaddress": LOOPBACK,
            "proxy.port.http": str(self.internal_port),
            "proxy.trust-forwarded-proto": "true",
            # The snap's own TLS would bind :443, which is the front end's.
            "proxy.tls.cert": "",
            "proxy.tls.key": "",
        }
        if self.db_connection is not None:  # None: leave whatever is set alone
            config["proxy.db.connection"] = self.db_connection
        return config


def database_url(user: str, password: str, endpoints: str, database: str) -> str:
    """Build `proxy.db.connection` from a database relation's credentials.

    Every part is percent-encoded, so a password with `@`, `/`, `:` or `%` in it
    cannot change where the URL points. Of several endpoints the first is the primary.
    """
    host, port = _split_endpoint(endpoints.split(",")[0].strip())
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    credentials = f"{quote(user, safe='')}:{quote(password, safe='')}"
    return f"postgresql://{credentials}@{host}:{port}/{quote(database, safe='')}"


def _split_endpoint(endpoint: str) -> tuple[str, int]:
    host, _, port = endpoint.strip("[").rpartition(":")
    host = host.rstrip("]")
    if not host or not port.isdigit():
        raise StoreError(f"the database endpoint {endpoint!r} is not host:port")
    return host, int(port)


@dataclass(frozen=True)
class ProxyStatus:
    """What `snap-proxy status` says, parsed."""

    store_id: str | None  # None: not registered
    database_ok: bool | None  # None: the output does not say
    services: Mapping[str, bool] = field(default_factory=dict)  # name -> running
    fields: Mapping[str, str] = field(default_factory=dict)  # every top-level line

    @property
    def registered(self) -> bool:
        """Whether the proxy has a Store ID, i.e. `snap-proxy register` was run."""
        return self.store_id is not None

    @property
    def stopped_services(self) -> tuple[str, ...]:
        """The proxy's own services that are not running, by name."""
        return tuple(sorted(name for name, running in self.services.items() if not running))


_GOOD = ("ok", "running", "connected", "active")


def parse_status(text: str) -> ProxyStatus:
    """Parse `snap-proxy status`: `Key: value` lines, services indented under a heading."""
    fields: dict[str, str] = {}
    services: dict[str, bool] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep or not key.strip():
            continue
        value = value.strip()
        if line[:1].isspace():
            services[key.strip()] = value.lower() in _GOOD
        else:
            fields[key.strip()] = value
    store_id = fields.get("Store ID", "")
    database = next((v for k, v in fields.items() if "database" in k.lower()), None)
    return ProxyStatus(
        store_id=store_id if store_id and "not registered" not in store_id else None,
        database_ok=None if database is None else database.lower() in _GOOD,
        services=services,
        fields=fields,
    )


def check_health(port: int, host: str, *, tls: bool, timeout: float = 5.0) -> str | None:
    """GET /_status/check through this machine's front end; None when healthy, else why not.

    The certificate is not verified here: this checks the store behind the front end,
    and the served chain is checked elsewhere. nginx serves its one certificate whatever
    the SNI, so connecting to the loopback address with `host` as Host header is enough.
    """
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/_status/check", headers={"Host": host})
        status = conn.getresponse().status
    except (OSError, http.client.HTTPException) as e:
        return f"{type(e).__name__}: {e}"
    finally:
        conn.close()
    return None if status == 200 else f"HTTP {status}"


Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


def run_captured(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Run argv without a shell, capturing text output; the exit status is checked by callers."""
    return subprocess.run(
        list(argv), capture_output=True, text=True, check=False, timeout=CLI_TIMEOUT_SECONDS
    )


class Store:
    """The installed snap-store-proxy, driven through snapd and the `snap-proxy` CLI."""

    def __init__(self, snap_proxy: str | Sequence[str] = CLI, run: Runner | None = None) -> None:
        # A sequence lets tests run a fake CLI as `[sys.executable, fake_script]`.
        self._cli = [snap_proxy] if isinstance(snap_proxy, str) else list(snap_proxy)
        self._run = run or run_captured

    def install(self, channel: str) -> str:
        """Install the snap from channel (refresh on a channel change), hold it, return its revision.

        A snap already on its channel is left alone, so a hook re-run never restarts the
        proxy; the hold is checked every time, so one that failed, or a snap installed
        before the charm, is held at the next hook.
        """
        try:
            snap.ensure_installed(SNAP, channel=channel, update=False)
        except snap.Error as err:
            raise InstallFailed(f"could not install {SNAP} from {channel}: {err}") from err
        info = self._installed()
        if info is None:
            raise InstallFailed(f"{SNAP} is not installed after installing it from {channel}")
        if info.hold is None:
            try:
                snap.hold(SNAP)
            except snap.Error as err:
                raise StoreError(f"could not hold {SNAP} against auto-refresh: {err}") from err
        return info.revision

    def revision(self) -> str | None:
        """Return the installed revision, or None when the snap is not installed."""
        info = self._installed()
        return info.revision if info else None

    def _installed(self) -> snap.InstalledInfo | None:
        try:
            return snap.list_one(SNAP)
        except snap.NotInstalledError:
            return None
        except snap.Error as err:
            raise StoreError(f"could not read what snapd has of {SNAP}: {err}") from err

    def configure(self, settings: StoreSettings) -> tuple[str, ...]:
        """Bring snap-proxy config to settings; return the keys that had to change, sorted."""
        wanted = settings.as_snap_proxy_config()
        changes = {key: value for key, value in wanted.items() if not _same(self.get(key), value)}
        if changes:
            self.set(changes)
        return tuple(sorted(changes))

    def status(self) -> ProxyStatus:
        """Run `snap-proxy status` and parse it."""
        return parse_status(self._invoke("status", []))

    def get(self, key: str) -> str:
        """Read the current value of key; empty when unset."""
        return self._config([key]).strip()

    def set(self, values: Mapping[str, str]) -> None:
        """Set all values in one `snap-proxy config` call."""
        logger.info("%s config: setting %s", CLI, ", ".join(sorted(values)))
        self._config([f"{key}={value}" for key, value in values.items()])

    def _config(self, args: Sequence[str]) -> str:
        return self._invoke("config", args)

    def _invoke(self, subcommand: str, args: Sequence[str]) -> str:
        """Run `snap-proxy <subcommand> <args>`, returning stdout or raising StoreError.

        The error names only the subcommand, never args: they may carry secret values.
        """
        failed = f"{CLI} {subcommand} failed"
        try:
            result = self._run([*self._cli, subcommand, *args])
        except subprocess.TimeoutExpired as err:
            raise StoreError(f"{failed}: timed out after {err.timeout}s") from err
        except OSError as err:
            # Typically FileNotFoundError: the snap (hence the CLI) is not installed.
            raise StoreError(f"{failed}: {err}") from err
        if result.returncode != 0:
            raise StoreError(f"{failed}: {_last_line(result.stderr, result.returncode)}")
        return result.stdout


def _same(current: str, wanted: str) -> bool:
    return current == wanted or (wanted in _UNSET and current in _UNSET)


def _last_line(stderr: str | None, returncode: int) -> str:
    """Pick the CLI's own reason for failing: its last non-empty stderr line."""
    lines = [line.strip() for line in (stderr or "").splitlines() if line.strip()]
    return lines[-1] if lines else f"exit status {returncode}"
