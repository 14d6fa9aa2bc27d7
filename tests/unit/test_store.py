"""Unit tests for src/store.py, against a fake `snap-proxy` and a monkeypatched snapd."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest
from charmlibs import snap

from store import SNAP, Store, StoreError, StoreSettings
from tests.fakes import snap_proxy as fake

SETTINGS = StoreSettings(domain="snaps.example.com", internal_port=8000)
ALL_KEYS = ("proxy.domain", "proxy.port.http", "proxy.trust-forwarded-proto")


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
            "proxy.port.http=8000",
            "proxy.trust-forwarded-proto=true",
        ]
    ]
    assert fake.read_state(state)["config"] == SETTINGS.as_snap_proxy_config()


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
    changed = store.configure(StoreSettings(domain="other.example.com", internal_port=8000))
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
    recorder = SnapdRecorder()
    monkeypatch.setattr(snap, "ensure_installed", recorder.recording("ensure_installed"))
    monkeypatch.setattr(snap, "hold", recorder.recording("hold"))
    return recorder


def change_error(message: str) -> snap.ChangeError:
    return snap.ChangeError(message, kind="", value=None)


def test_install_ensures_the_channel_then_holds(snapd: SnapdRecorder):
    # When
    Store().install("latest/stable")
    # Then
    assert snapd.calls == [
        ("ensure_installed", (SNAP,), {"channel": "latest/stable", "update": False}),
        ("hold", (SNAP,), {}),
    ]


def test_install_of_a_snap_already_on_its_channel_does_not_hold_again(
    snapd: SnapdRecorder, monkeypatch: pytest.MonkeyPatch
):
    # Given: snapd reports nothing to do
    monkeypatch.setattr(
        snap, "ensure_installed", snapd.recording("ensure_installed", result=False)
    )
    # When
    changed = Store().install("latest/stable")
    # Then
    assert changed is False
    assert [name for name, _, _ in snapd.calls] == ["ensure_installed"]


def test_install_failure_raises_store_error_with_snapds_message(
    snapd: SnapdRecorder, monkeypatch: pytest.MonkeyPatch
):
    # Given
    error = change_error("cannot perform the following tasks: download failed")
    monkeypatch.setattr(snap, "ensure_installed", snapd.recording("ensure_installed", error))
    # When / Then
    with pytest.raises(StoreError) as raised:
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
    with pytest.raises(StoreError, match=f"^could not hold {SNAP}: hold failed$"):
        Store().install("latest/stable")


# revision


def installed(revision: str) -> snap.InstalledInfo:
    return snap.InstalledInfo(
        name=SNAP,
        classic=False,
        tracking="latest/stable",
        revision=revision,
        version="2.40",
        hold=None,
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
