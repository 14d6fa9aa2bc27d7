"""Unit tests for src/store.py, against a fake `snap-proxy` and a monkeypatched snapd."""

from __future__ import annotations

import datetime
import socket
import subprocess
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import unquote, urlsplit

import pytest
from charmlibs import snap

from store import (
    SNAP,
    InstallFailed,
    Store,
    StoreError,
    StoreSettings,
    check_health,
    database_url,
    parse_status,
)
from tests.fakes import snap_proxy as fake

SETTINGS = StoreSettings(domain="snaps.example.com", internal_port=8080)
# A fresh snap has no TLS keys of its own, so those two need no setting.
ALL_KEYS = ("proxy.domain", "proxy.ipaddress", "proxy.port.http", "proxy.trust-forwarded-proto")


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "snap-proxy-state.json"
    monkeypatch.setenv(fake.STATE_ENV, str(path))
    return path


@pytest.fixture
def store(state: Path) -> Store:
    return Store(snap_proxy=fake.command())


# configure


def test_first_configure_sets_all_keys_in_one_call(store: Store, state: Path):
    # Given a fresh snap-proxy with nothing set
    # When
    changed = store.configure(SETTINGS)
    # Then
    assert changed == ALL_KEYS
    assert fake.set_calls(state) == [
        [
            "config",
            "proxy.domain=snaps.example.com",
            "proxy.ipaddress=127.0.0.1",
            "proxy.port.http=8080",
            "proxy.trust-forwarded-proto=true",
        ]
    ]


def test_the_snaps_own_tls_is_cleared_so_it_never_binds_443(store: Store, state: Path):
    # Given someone ran `snap-proxy import-certificate` on the unit
    store.configure(SETTINGS)
    fake.write_state(
        state,
        {
            **fake.read_state(state),
            "config": {
                **fake.read_state(state)["config"],
                "proxy.tls.cert": "CERT",
                "proxy.tls.key": "KEY",
            },
        },
    )
    # When
    changed = store.configure(SETTINGS)
    # Then
    assert changed == ("proxy.tls.cert", "proxy.tls.key")
    assert fake.set_calls(state)[-1] == ["config", "proxy.tls.cert=", "proxy.tls.key="]


def test_a_key_printed_as_none_counts_as_unset(store: Store, state: Path):
    # Given the CLI prints None for keys without a value
    store.configure(SETTINGS)
    state_now = fake.read_state(state)
    state_now["config"].update({"proxy.tls.cert": "None", "proxy.tls.key": "None"})
    fake.write_state(state, state_now)
    # When
    changed = store.configure(SETTINGS)
    # Then
    assert changed == ()


def test_configure_with_unchanged_settings_only_reads(store: Store, state: Path):
    # Given
    store.configure(SETTINGS)
    calls_before = len(fake.read_state(state)["calls"])
    # When
    changed = store.configure(SETTINGS)
    # Then
    assert changed == ()
    new_calls = fake.read_state(state)["calls"][calls_before:]
    assert new_calls == [["config", key] for key in SETTINGS.as_snap_proxy_config()]


def test_domain_change_sets_only_the_domain(store: Store, state: Path):
    # Given
    store.configure(SETTINGS)
    # When
    changed = store.configure(StoreSettings(domain="other.example.com", internal_port=8080))
    # Then
    assert changed == ("proxy.domain",)
    assert fake.set_calls(state)[-1] == ["config", "proxy.domain=other.example.com"]


def test_configure_reads_an_empty_line_as_unset(store: Store, state: Path):
    # Given a value set to empty, which the CLI prints as an empty line
    fake.write_state(state, {"config": {"proxy.domain": ""}, "calls": []})
    # When
    changed = store.configure(SETTINGS)
    # Then
    assert "proxy.domain" in changed


def test_failing_cli_raises_store_error_with_its_last_stderr_line(
    store: Store, monkeypatch: pytest.MonkeyPatch
):
    # Given
    monkeypatch.setenv(fake.FAIL_ENV, "Traceback...\nerror: database is not configured")
    # When / Then
    with pytest.raises(StoreError, match=r"^snap-proxy config failed: error: database is not"):
        store.configure(SETTINGS)


def test_rejected_set_raises_store_error_and_changes_nothing(
    store: Store, state: Path, monkeypatch: pytest.MonkeyPatch
):
    # Given reads succeed but the CLI refuses the new values
    monkeypatch.setenv(fake.FAIL_ENV, "error: invalid domain")
    monkeypatch.setenv(fake.FAIL_ON_ENV, "set")
    # When / Then
    with pytest.raises(StoreError, match=r"^snap-proxy config failed: error: invalid domain$"):
        store.configure(SETTINGS)
    assert fake.read_state(state)["config"] == {}


def test_missing_cli_raises_store_error(tmp_path: Path):
    # Given
    store = Store(snap_proxy=str(tmp_path / "no-such-snap-proxy"))
    # When / Then
    with pytest.raises(StoreError, match=r"^snap-proxy config failed: .*No such file"):
        store.configure(SETTINGS)


def test_failure_without_stderr_reports_the_exit_status():
    # Given a runner whose command fails silently
    def run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(argv, 3, stdout="", stderr="\n")

    store = Store(run=run)
    # When / Then
    with pytest.raises(StoreError, match=r"^snap-proxy config failed: exit status 3$"):
        store.configure(SETTINGS)


def test_configure_never_logs_values(store: Store, caplog: pytest.LogCaptureFixture):
    # Given settings whose values must not reach the log
    settings = StoreSettings(domain="secret-looking.example.com", internal_port=8000)
    # When
    with caplog.at_level("DEBUG"):
        store.configure(settings)
    # Then
    assert "proxy.domain" in caplog.text
    assert "secret-looking" not in caplog.text


# install


class SnapdRecorder:
    """Stands in for charmlibs.snap's snapd calls, recording them in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[object, ...], dict[str, object]]] = []

    def recording(self, name: str, error: Exception | None = None, result: object = True):
        def call(*args: object, **kwargs: object) -> object:
            self.calls.append((name, args, kwargs))
            if error is not None:
                raise error
            return result

        return call


@pytest.fixture
def snapd(monkeypatch: pytest.MonkeyPatch) -> SnapdRecorder:
    """A snapd with the snap installed, revision 123, not held yet."""
    recorder = SnapdRecorder()
    monkeypatch.setattr(snap, "ensure_installed", recorder.recording("ensure_installed"))
    monkeypatch.setattr(snap, "hold", recorder.recording("hold"))
    monkeypatch.setattr(snap, "list_one", recorder.recording("list_one", result=installed("123")))
    return recorder


def change_error(message: str) -> snap.ChangeError:
    return snap.ChangeError(message, kind="", value=None)


def test_install_ensures_the_channel_then_holds_and_returns_the_revision(
    snapd: SnapdRecorder,
):
    # When
    revision = Store().install("latest/stable")
    # Then
    assert revision == "123"
    assert snapd.calls == [
        ("ensure_installed", (SNAP,), {"channel": "latest/stable", "update": False}),
        ("list_one", (SNAP,), {}),
        ("hold", (SNAP,), {}),
    ]


def test_install_of_a_held_snap_does_not_hold_again(
    snapd: SnapdRecorder, monkeypatch: pytest.MonkeyPatch
):
    # Given: snapd already holds it
    held = installed("123", hold=datetime.datetime(9999, 1, 1, tzinfo=datetime.timezone.utc))
    monkeypatch.setattr(snap, "list_one", snapd.recording("list_one", result=held))
    # When
    Store().install("latest/stable")
    # Then
    assert [name for name, _, _ in snapd.calls] == ["ensure_installed", "list_one"]


def test_a_snap_installed_before_the_charm_is_held_too(snapd: SnapdRecorder, monkeypatch):
    # Given: snapd has nothing to install, and no hold
    monkeypatch.setattr(
        snap, "ensure_installed", snapd.recording("ensure_installed", result=False)
    )
    # When
    Store().install("latest/stable")
    # Then
    assert [name for name, _, _ in snapd.calls] == ["ensure_installed", "list_one", "hold"]


def test_install_failure_raises_store_error_with_snapds_message(
    snapd: SnapdRecorder, monkeypatch: pytest.MonkeyPatch
):
    # Given
    error = change_error("cannot perform the following tasks: download failed")
    monkeypatch.setattr(snap, "ensure_installed", snapd.recording("ensure_installed", error))
    # When / Then
    with pytest.raises(InstallFailed) as raised:
        Store().install("latest/edge")
    assert str(raised.value) == (
        f"could not install {SNAP} from latest/edge: "
        "cannot perform the following tasks: download failed"
    )
    assert [name for name, _, _ in snapd.calls] == ["ensure_installed"]


def test_install_maps_any_snap_error_to_store_error(
    snapd: SnapdRecorder, monkeypatch: pytest.MonkeyPatch
):
    # Given
    error = snap.SocketNotFoundError("snapd socket not found")
    monkeypatch.setattr(snap, "ensure_installed", snapd.recording("ensure_installed", error))
    # When / Then
    with pytest.raises(StoreError, match="snapd socket not found"):
        Store().install("latest/stable")


def test_hold_failure_raises_store_error(snapd: SnapdRecorder, monkeypatch: pytest.MonkeyPatch):
    # Given
    monkeypatch.setattr(snap, "hold", snapd.recording("hold", change_error("hold failed")))
    # When / Then
    with pytest.raises(
        StoreError, match=f"^could not hold {SNAP} against auto-refresh: hold failed$"
    ) as raised:
        Store().install("latest/stable")
    assert not isinstance(raised.value, InstallFailed)  # not the channel's fault


# revision


def installed(revision: str, hold: datetime.datetime | None = None) -> snap.InstalledInfo:
    return snap.InstalledInfo(
        name=SNAP,
        classic=False,
        tracking="latest/stable",
        revision=revision,
        version="2.40",
        hold=hold,
    )


def test_revision_is_the_installed_revision(monkeypatch: pytest.MonkeyPatch):
    # Given
    monkeypatch.setattr(snap, "list_one", lambda name: installed("123"))
    # When / Then
    assert Store().revision() == "123"


def test_revision_is_none_when_not_installed(monkeypatch: pytest.MonkeyPatch):
    # Given
    def not_installed(name: str) -> snap.InstalledInfo:
        raise snap.NotInstalledError("snap not installed", kind="snap-not-found", value=name)

    monkeypatch.setattr(snap, "list_one", not_installed)
    # When / Then
    assert Store().revision() is None


def test_revision_maps_other_snap_errors_to_store_error(monkeypatch: pytest.MonkeyPatch):
    # Given
    def unreachable(name: str) -> snap.InstalledInfo:
        raise snap.ConnectionError("cannot reach snapd")

    monkeypatch.setattr(snap, "list_one", unreachable)
    # When / Then
    with pytest.raises(StoreError, match="cannot reach snapd"):
        Store().revision()


# The database connection


@pytest.mark.parametrize(
    ("password", "encoded"),
    [
        ("plain", "plain"),
        ("p@ss", "p%40ss"),
        ("a/b", "a%2Fb"),
        ("x:y", "x%3Ay"),
        ("100%", "100%25"),
        ("@/:%?#[] ", "%40%2F%3A%25%3F%23%5B%5D%20"),
    ],
)
def test_awkward_passwords_are_percent_encoded(password: str, encoded: str):
    url = database_url("snap@proxy", password, "10.1.2.3:5432", "snapproxy-db")

    assert url == f"postgresql://snap%40proxy:{encoded}@10.1.2.3:5432/snapproxy-db"
    parsed = urlsplit(url)
    assert (parsed.hostname, parsed.port, parsed.path) == ("10.1.2.3", 5432, "/snapproxy-db")
    assert unquote(parsed.password or "") == password


def test_first_endpoint_is_the_primary():
    url = database_url("u", "p", "10.0.0.1:5432,10.0.0.2:5432", "db")

    assert urlsplit(url).hostname == "10.0.0.1"


def test_ipv6_endpoint_is_bracketed():
    url = database_url("u", "p", "[fd00::1]:5432", "db")

    assert url == "postgresql://u:p@[fd00::1]:5432/db"


@pytest.mark.parametrize("endpoint", ["", "host-without-port", "host:port", ":5432"])
def test_malformed_endpoint_is_a_store_error(endpoint: str):
    with pytest.raises(StoreError, match="is not host:port"):
        database_url("u", "p", endpoint, "db")


def test_connection_is_configured_but_never_logged(
    store: Store, state: Path, caplog: pytest.LogCaptureFixture
):
    url = database_url("snapproxy", "s3cr3t/p@ss", "10.1.2.3:5432", "snapproxy-db")
    settings = StoreSettings("snaps.example.internal", 8080, db_connection=url)

    with caplog.at_level("DEBUG"):
        store.configure(settings)

    assert fake.read_state(state)["config"]["proxy.db.connection"] == url
    assert "s3cr3t" not in caplog.text
    assert "s3cr3t" not in repr(settings)


def test_no_connection_leaves_the_configured_one_alone(store: Store, state: Path):
    store.configure(StoreSettings("snaps.example.internal", 8080, db_connection="postgresql://x"))

    changed = store.configure(StoreSettings("snaps.example.internal", 8080))

    assert changed == ()
    assert fake.read_state(state)["config"]["proxy.db.connection"] == "postgresql://x"


# snap-proxy status


def test_status_of_an_unregistered_proxy(store: Store):
    status = store.status()

    assert status.registered is False
    assert status.store_id is None
    assert status.database_ok is True
    assert status.stopped_services == ()
    assert set(status.services) == set(fake.SERVICES)


def test_status_of_a_registered_proxy_with_a_stopped_service(store: Store, state: Path):
    fake.set_status(state, fake.status_text("STORE123", stopped=("snaprevs", "snapauth")))

    status = store.status()

    assert status.store_id == "STORE123"
    assert status.stopped_services == ("snapauth", "snaprevs")


@pytest.mark.parametrize(("said", "ok"), [("ok", True), ("not ok", False), ("error", False)])
def test_status_reads_the_database_state(store: Store, state: Path, said: str, ok: bool):
    fake.set_status(state, fake.status_text(database=said))

    assert store.status().database_ok is ok


def test_status_without_a_database_line_does_not_guess():
    assert parse_status("Store ID: ABC\n").database_ok is None


def test_status_failure_is_a_store_error(store: Store, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(fake.FAIL_ENV, "error: cannot connect to the proxy services")

    with pytest.raises(StoreError, match="snap-proxy status failed: error: cannot connect"):
        store.status()


# Health through the front end


class _Health(BaseHTTPRequestHandler):
    answer = 200
    seen_hosts: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.seen_hosts.append(self.headers["Host"])
        self.send_response(self.answer if self.path == "/_status/check" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def health_server():
    server = HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_health_check_passes_on_200_and_sends_the_domain_as_host(health_server: HTTPServer):
    _Health.answer = 200

    failure = check_health(health_server.server_address[1], "snaps.example.internal", tls=False)

    assert failure is None
    assert _Health.seen_hosts[-1] == "snaps.example.internal"


def test_health_check_reports_an_error_status(health_server: HTTPServer):
    _Health.answer = 503

    assert check_health(health_server.server_address[1], "h", tls=False) == "HTTP 503"


def test_health_check_reports_a_refused_connection():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused

        failure = check_health(port, "h", tls=False, timeout=2)

    assert failure is not None
    assert failure.startswith("ConnectionRefusedError")
