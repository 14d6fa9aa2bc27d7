"""frontend without a real nginx: validation, rendering, the apply sequence, the systemd glue."""

from __future__ import annotations

import dataclasses
import errno
import os
from pathlib import Path

import pytest
from charmlibs import apt, systemd

import frontend
from frontend import Layout, SiteConfig, TLSFiles

TLS = TLSFiles(chain_pem="CHAIN\n", key_pem="KEY\n")
CHAIN_FILE, KEY_FILE = (
    name
    for name in frontend.desired_files(SiteConfig("x.example", 1, TLS), Layout.production())
    if name.startswith("tls/")
)


def site(**changes: object) -> SiteConfig:
    base = SiteConfig(domain="store.example.com", backend_port=8000)
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return Layout(root=tmp_path / "root", run_dir=tmp_path / "run", log_dir=tmp_path / "log")


class RecordingService:
    """Records what the front end asked for, and what the TLS dir held at reload time."""

    def __init__(self, layout: Layout, running: bool = False) -> None:
        self.layout = layout
        self.running = running
        self.calls: list[str] = []
        self.fail_reload = False
        self.tls_files_at_reload: list[str] = []

    def is_running(self) -> bool:
        return self.running

    def start(self) -> None:
        self.calls.append("start")
        self.running = True

    def reload(self) -> None:
        self.calls.append("reload")
        tls_dir = self.layout.root / "tls"
        self.tls_files_at_reload = (
            sorted(p.name for p in tls_dir.iterdir()) if tls_dir.exists() else []
        )
        if self.fail_reload:
            raise frontend.ServiceFailed("nginx reload failed: boom")


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "domain",
    ["", "-store.example", "store-.example", "a..b", "store example", "x;}", "a" * 64 + ".com",
     "store.example.\n", "store.example\n", "\u212aelvin.example", "s\u00e9.example", "store.example.", "$host"],
)  # fmt: skip
def test_domain_that_is_not_a_dns_name_is_rejected(domain: str):
    with pytest.raises(ValueError, match="domain"):
        site(domain=domain)


@pytest.mark.parametrize("field", ["backend_port", "http_port", "https_port"])
@pytest.mark.parametrize("port", [0, 65536, -1, True, "80", 80.0])
def test_port_outside_1_to_65535_or_not_an_int_is_rejected(field: str, port: object):
    with pytest.raises(ValueError, match=field):
        site(**{field: port})


def test_negative_hsts_is_rejected():
    with pytest.raises(ValueError, match="hsts_max_age"):
        site(hsts_max_age=-1)


@pytest.mark.parametrize(
    "address",
    ["localhost", "127.0.0.1; x", "0.0.0.0:80", " 127.0.0.1", "fe80::1%;}", "fe80::1%eth0", 1],
)
def test_listen_address_that_is_not_an_ip_is_rejected(address: str):
    with pytest.raises(ValueError, match="listen_address"):
        site(listen_address=address)


def test_same_http_and_https_port_with_tls_is_rejected():
    with pytest.raises(ValueError, match="differ"):
        site(tls=TLS, http_port=8443, https_port=8443)


def test_valid_names_and_addresses_are_accepted():
    site(domain="Snaps-1.internal.example.com", listen_address="::1", hsts_max_age=0)
    site(domain="localhost", listen_address="10.0.0.1", http_port=1, https_port=65535)


# --- rendering ----------------------------------------------------------------------------


def test_http_only_config_proxies_and_has_no_tls(layout: Layout):
    config = frontend.render_config(site(http_port=8080, listen_address="127.0.0.1"), layout)

    assert "listen 127.0.0.1:8080 default_server;" in config
    assert "server 127.0.0.1:8000;" in config
    assert "ssl" not in config
    assert "return 308" not in config
    assert f"pid {layout.run_dir}/nginx.pid;" in config
    assert f"error_log {layout.log_dir}/error.log;" in config


def test_tls_config_uses_relative_tls_paths_intermediate_profile_and_redirect(layout: Layout):
    config = frontend.render_config(site(tls=TLS), layout)

    for line in (
        "listen 443 ssl http2 default_server;",
        "listen 80 default_server;",
        f"ssl_certificate {CHAIN_FILE};",
        f"ssl_certificate_key {KEY_FILE};",
        "ssl_protocols TLSv1.2 TLSv1.3;",
        "ssl_session_tickets off;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "return 308 https://store.example.com$request_uri;",
    ):
        assert line in config
    assert "Strict-Transport-Security" not in config


def test_redirect_names_a_non_default_https_port_and_hsts_when_positive(layout: Layout):
    config = frontend.render_config(
        site(tls=TLS, https_port=8443, hsts_max_age=600, listen_address="::1"), layout
    )

    assert "listen [::1]:8443 ssl http2 default_server;" in config
    assert "return 308 https://store.example.com:8443$request_uri;" in config
    assert 'add_header Strict-Transport-Security "max-age=600" always;' in config


def test_unit_runs_our_config_with_a_checked_start_and_reload():
    unit = frontend.render_unit(Layout.production(), "/usr/sbin/nginx")

    assert (
        "ExecStartPre=/usr/sbin/nginx -t -q -c /etc/snap-store-proxy-frontend/nginx.conf" in unit
    )
    assert "ExecStart=/usr/sbin/nginx -c /etc/snap-store-proxy-frontend/nginx.conf\n" in unit
    assert "PIDFile=/run/snap-store-proxy-frontend/nginx.pid" in unit
    assert "RuntimeDirectory=snap-store-proxy-frontend" in unit
    assert "Restart=on-failure" in unit


# --- nginx's error lines ------------------------------------------------------------------


def test_first_emerg_line_of_stderr_is_the_reason():
    stderr = (
        'nginx: [alert] could not open error log file: open() "/x" failed\n'
        'nginx: [emerg] unknown directive "bogus" in /etc/x/nginx.conf:3\n'
        "nginx: configuration file /etc/x/nginx.conf test failed\n"
    )

    assert frontend.parse_nginx_error(stderr) == 'unknown directive "bogus" in /etc/x/nginx.conf:3'


def test_error_log_reports_only_errors_written_after_the_mark(tmp_path: Path):
    log_path = tmp_path / "error.log"
    log_path.write_text("2024/01/02 03:04:05 [emerg] 1#1: an old failure\n")
    log = frontend.ErrorLog(log_path)
    mark = log.mark()
    with log_path.open("a") as f:
        f.write("2024/01/02 03:04:06 [notice] 7#7: signal process started\n")
        f.write(
            "2024/01/02 03:04:06 [emerg] 7#7: bind() to 0.0.0.0:80 failed (98: Address already in use)\n"
        )

    assert log.error_since(mark) == "bind() to 0.0.0.0:80 failed (98: Address already in use)"
    assert log.error_since(log.mark()) is None


# --- the apply sequence, with `true`/`false` standing in for `nginx -t` ------------------


def test_first_apply_writes_files_with_modes_and_starts(layout: Layout):
    service = RecordingService(layout)

    applied = frontend.Frontend(layout, service, nginx="true").apply(site(tls=TLS))

    assert applied.changed
    assert service.calls == ["start"]
    assert (layout.root / CHAIN_FILE).read_text() == "CHAIN\n"
    assert (layout.root / KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert not layout.candidate_dir.exists()
    assert not (layout.root / frontend.PENDING_NAME).exists()


def test_change_while_running_reloads_and_no_change_does_nothing(layout: Layout):
    service = RecordingService(layout, running=True)
    front = frontend.Frontend(layout, service, nginx="true")

    assert front.apply(site()).changed
    assert not front.apply(site()).changed

    assert service.calls == ["reload"]


def test_rejected_candidate_leaves_live_files_and_raises(layout: Layout):
    service = RecordingService(layout, running=True)
    frontend.Frontend(layout, service, nginx="true").apply(site(tls=TLS))
    before = {p: p.read_bytes() for p in layout.root.rglob("*") if p.is_file()}

    with pytest.raises(frontend.ConfigRejected):
        frontend.Frontend(layout, service, nginx="false").apply(site(tls=TLS, hsts_max_age=9))

    assert {p: p.read_bytes() for p in layout.root.rglob("*") if p.is_file()} == before
    assert not layout.candidate_dir.exists()
    assert service.calls == ["reload"]


def test_missing_nginx_binary_is_a_frontend_error(layout: Layout):
    front = frontend.Frontend(layout, RecordingService(layout), nginx="/nonexistent/nginx")

    with pytest.raises(frontend.FrontendError, match="cannot run"):
        front.apply(site())


def test_tls_files_are_removed_only_after_the_reload(layout: Layout):
    service = RecordingService(layout, running=True)
    front = frontend.Frontend(layout, service, nginx="true")
    front.apply(site(tls=TLS))

    front.apply(site())

    assert service.tls_files_at_reload == sorted(Path(n).name for n in (CHAIN_FILE, KEY_FILE))
    assert not (layout.root / "tls").exists()
    assert front.served_tls() is None


def test_failed_reload_is_retried_by_the_next_apply(layout: Layout):
    service = RecordingService(layout, running=True)
    front = frontend.Frontend(layout, service, nginx="true")
    service.fail_reload = True
    with pytest.raises(frontend.ServiceFailed):
        front.apply(site())

    service.fail_reload = False
    applied = front.apply(site())

    assert applied.changed
    assert service.calls == ["reload", "reload"]
    assert not front.apply(site()).changed


def test_served_tls_returns_live_material(layout: Layout):
    front = frontend.Frontend(layout, RecordingService(layout), nginx="true")
    assert front.served_tls() is None

    front.apply(site(tls=TLS))

    assert front.served_tls() == TLS


# --- systemd and apt glue -----------------------------------------------------------------


@pytest.fixture
def systemctl(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    calls: list[tuple[str, ...]] = []

    def recorder(name: str):
        def call(*args: object, **kwargs: object) -> bool:
            calls.append((name, *map(str, args)))
            return True

        return call

    for name in ("daemon_reload", "service_enable", "service_start", "service_reload",
                 "service_running", "service_pause", "service_stop", "service_disable"):  # fmt: skip
        monkeypatch.setattr(frontend.systemd, name, recorder(name))
    return calls


def test_install_writes_reloads_and_enables_the_unit_only_when_it_changed(
    layout: Layout, tmp_path: Path, systemctl: list[tuple[str, ...]]
):
    service = frontend.SystemdService(layout, unit_dir=tmp_path, logrotate_dir=tmp_path)

    assert service.install() is True
    assert service.install() is False

    unit = tmp_path / frontend.UNIT
    assert unit.read_text() == frontend.render_unit(layout, "/usr/sbin/nginx")
    assert systemctl == [("daemon_reload",), ("service_enable", frontend.UNIT)]


def test_install_keeps_the_logs_rotated_with_nginx_reopening_them(
    layout: Layout, tmp_path: Path, systemctl: list[tuple[str, ...]]
):
    frontend.SystemdService(layout, unit_dir=tmp_path, logrotate_dir=tmp_path).install()

    rule = (tmp_path / "snap-store-proxy-frontend").read_text()
    assert rule.startswith("# Rendered by the snap-store-proxy charm")
    assert f"{layout.log_dir}/*.log {{" in rule
    assert f'kill -USR1 "$(cat {layout.pid_file})"' in rule


def test_installed_means_the_nginx_binary_is_present(layout: Layout, tmp_path: Path):
    nginx = tmp_path / "nginx"

    assert not frontend.SystemdService(layout, nginx=str(nginx)).installed()
    nginx.touch()
    assert frontend.SystemdService(layout, nginx=str(nginx)).installed()


def test_start_and_reload_drive_the_dedicated_unit(layout: Layout, systemctl):
    service = frontend.SystemdService(layout)

    service.start()
    service.reload()
    service.is_running()

    assert systemctl == [
        ("service_start", frontend.UNIT),
        ("service_reload", frontend.UNIT),
        ("service_running", frontend.UNIT),
    ]


def test_uninstall_stops_disables_and_removes_the_unit_and_its_logrotate_rule(
    layout: Layout, tmp_path: Path, systemctl
):
    service = frontend.SystemdService(layout, unit_dir=tmp_path, logrotate_dir=tmp_path)
    service.install()
    systemctl.clear()

    service.uninstall()

    assert systemctl == [
        ("service_stop", frontend.UNIT),
        ("service_disable", frontend.UNIT),
        ("daemon_reload",),
    ]
    assert list(tmp_path.iterdir()) == []


def test_uninstall_of_a_unit_never_installed_does_not_raise(
    layout: Layout, tmp_path: Path, monkeypatch
):
    def fails(*args: str) -> bool:
        raise systemd.SystemdError("Unit snap-store-proxy-frontend.service not loaded.")

    for name in ("service_stop", "service_disable", "daemon_reload"):
        monkeypatch.setattr(frontend.systemd, name, fails)

    frontend.SystemdService(layout, unit_dir=tmp_path, logrotate_dir=tmp_path).uninstall()


def test_purge_removes_the_keys_with_the_rest(layout: Layout):
    layout.ensure_dirs()
    (layout.root / "tls").mkdir()
    (layout.root / "tls" / "key-abc.pem").write_text("KEY")
    (layout.run_dir / "nginx.pid").write_text("1")

    frontend.Frontend(layout, service=None).purge()  # type: ignore[arg-type]

    assert not layout.root.exists()
    assert not layout.run_dir.exists()


def test_reload_that_nginx_then_fails_to_apply_is_reported(layout: Layout, monkeypatch):
    layout.log_dir.mkdir(parents=True)

    def signalled_reload(*args: str) -> bool:
        # systemctl reload succeeds; the master fails afterwards and keeps the old config.
        with layout.error_log.open("a") as log:
            log.write(
                "2024/01/02 00:00:00 [emerg] 9#9: bind() to 0.0.0.0:443 failed "
                "(98: Address already in use)\n"
            )
        return True

    monkeypatch.setattr(frontend.systemd, "service_reload", signalled_reload)

    with pytest.raises(frontend.ServiceFailed) as failure:
        frontend.SystemdService(layout).reload()

    assert failure.value.reason == "bind() to 0.0.0.0:443 failed (98: Address already in use)"


def test_failed_start_carries_nginxs_new_error_line(layout: Layout, monkeypatch):
    layout.log_dir.mkdir(parents=True)
    layout.error_log.write_text("2024/01/01 00:00:00 [emerg] 1#1: stale error\n")

    def failing_start(*args: str) -> bool:
        with layout.error_log.open("a") as log:
            log.write(
                "2024/01/02 00:00:00 [emerg] 9#9: bind() to 0.0.0.0:80 failed (98: Address already in use)\n"
            )
        raise systemd.SystemdError("Command ['systemctl', 'start'] failed with returncode 1")

    monkeypatch.setattr(frontend.systemd, "service_start", failing_start)

    with pytest.raises(frontend.ServiceFailed) as failed:
        frontend.SystemdService(layout).start()

    assert (
        str(failed.value)
        == "nginx start failed: bind() to 0.0.0.0:80 failed (98: Address already in use)"
    )
    assert failed.value.reason == "bind() to 0.0.0.0:80 failed (98: Address already in use)"


def test_failed_reload_without_nginx_error_carries_systemds(layout: Layout, monkeypatch):
    def failing_reload(*args: str) -> bool:
        raise systemd.SystemdError("Command failed.\nstdout: \nstderr: Job for x failed.")

    monkeypatch.setattr(frontend.systemd, "service_reload", failing_reload)

    with pytest.raises(
        frontend.ServiceFailed, match=r"nginx reload failed: stderr: Job for x failed\."
    ):
        frontend.SystemdService(layout).reload()


def test_install_nginx_masks_distro_unit_around_the_package_install(monkeypatch, systemctl):
    monkeypatch.setattr(
        frontend.apt, "add_package", lambda name: systemctl.append(("add_package", name))
    )

    frontend.install_nginx()

    assert systemctl == [
        ("service_pause", "nginx.service"),
        ("add_package", "nginx"),
        ("service_pause", "nginx.service"),
    ]


def test_install_nginx_failure_is_a_frontend_error(monkeypatch, systemctl):
    def failing_add(name: str) -> None:
        raise apt.PackageError("Failed to install packages: nginx")

    monkeypatch.setattr(frontend.apt, "add_package", failing_add)

    with pytest.raises(
        frontend.FrontendError, match="cannot install nginx: Failed to install packages: nginx"
    ):
        frontend.install_nginx()


# --- key hygiene, leftovers and write errors ------------------------------------------------


def applied_front(layout: Layout, service: RecordingService) -> frontend.Frontend:
    """A front end that has applied site(tls=TLS) once, nginx running."""
    front = frontend.Frontend(layout, service, nginx="true")
    front.apply(site(tls=TLS))
    service.calls.clear()
    return front


def test_key_loosened_by_hand_is_set_back_to_0600_with_a_warning_and_no_reload(
    layout: Layout, caplog: pytest.LogCaptureFixture
):
    service = RecordingService(layout, running=True)
    front = applied_front(layout, service)
    key = layout.root / KEY_FILE
    key.chmod(0o644)

    applied = front.apply(site(tls=TLS))

    assert applied == frontend.Applied(changed=False)
    assert key.stat().st_mode & 0o777 == 0o600
    assert service.calls == []
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [f"{key} had mode 0644; set mode 0600"]
    assert "KEY" not in caplog.text


def test_tls_dir_loosened_by_hand_is_set_back_to_0700(
    layout: Layout, caplog: pytest.LogCaptureFixture
):
    front = applied_front(layout, RecordingService(layout, running=True))
    (layout.root / "tls").chmod(0o755)

    front.apply(site(tls=TLS))

    assert (layout.root / "tls").stat().st_mode & 0o777 == 0o700
    assert f"{layout.root / 'tls'} had mode 0755; set mode 0700" in caplog.text


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user")
def test_key_owned_by_another_user_is_given_back_to_root(
    layout: Layout, caplog: pytest.LogCaptureFixture
):
    front = applied_front(layout, RecordingService(layout, running=True))
    key = layout.root / KEY_FILE
    os.chown(key, 65534, -1)

    front.apply(site(tls=TLS))

    assert key.stat().st_uid == 0
    assert f"{key} was owned by uid 65534; set owner to uid 0" in caplog.text


def test_modes_are_secured_even_when_the_apply_fails(layout: Layout):
    service = RecordingService(layout, running=True)
    front = applied_front(layout, service)
    (layout.root / KEY_FILE).chmod(0o640)
    service.fail_reload = True

    with pytest.raises(frontend.ServiceFailed):
        front.apply(site(tls=TLS, hsts_max_age=5))

    assert (layout.root / KEY_FILE).stat().st_mode & 0o777 == 0o600


def test_candidate_left_by_a_killed_apply_is_removed_by_a_no_op_apply(layout: Layout):
    service = RecordingService(layout, running=True)
    front = applied_front(layout, service)
    (layout.candidate_dir / "tls").mkdir(parents=True)
    (layout.candidate_dir / KEY_FILE).write_text("KEY\n")

    applied = front.apply(site(tls=TLS))

    assert applied == frontend.Applied(changed=False)
    assert not layout.candidate_dir.exists()
    assert service.calls == []


def test_candidate_is_removed_when_the_swap_fails(layout: Layout, monkeypatch):
    front = applied_front(layout, RecordingService(layout, running=True))

    def failing_replace(src: Path, dst: Path) -> None:
        if dst == layout.config_file and src.parent == layout.candidate_dir:
            raise PermissionError(13, "Permission denied")
        os.replace(src, dst)

    monkeypatch.setattr(frontend, "_replace", failing_replace)

    with pytest.raises(frontend.WriteFailed, match=r"^cannot write nginx\.conf in "):
        front.apply(site(tls=TLSFiles("CHAIN2\n", "KEY2\n")))

    assert not layout.candidate_dir.exists()


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_full_disk_while_writing_is_no_space_naming_the_dir_and_live_files_stay(
    layout: Layout, monkeypatch, code: int
):
    front = applied_front(layout, RecordingService(layout, running=True))
    before = {p: p.read_bytes() for p in layout.root.rglob("*") if p.is_file()}

    def full_disk(path: Path, content: bytes, mode: int) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(frontend, "write_atomically", full_disk)

    with pytest.raises(frontend.NoSpace) as failure:
        front.apply(site(tls=TLSFiles("CHAIN2\n", "KEY2\n")))

    assert str(failure.value).startswith(f"no space left on {layout.root} while writing ")
    assert isinstance(failure.value, frontend.FrontendError)
    assert {p: p.read_bytes() for p in layout.root.rglob("*") if p.is_file()} == before
    assert not layout.candidate_dir.exists()


def test_new_pair_goes_live_beside_the_old_one_and_the_old_is_deleted_after_reload(
    layout: Layout,
):
    service = RecordingService(layout, running=True)
    front = applied_front(layout, service)
    renewed = TLSFiles("CHAIN2\n", "KEY2\n")

    front.apply(site(tls=renewed))

    names = frontend.desired_files(site(tls=renewed), layout)
    new_files = sorted(Path(n).name for n in names if n.startswith("tls/"))
    assert sorted(service.tls_files_at_reload) == sorted(
        [*new_files, Path(CHAIN_FILE).name, Path(KEY_FILE).name]
    )
    assert sorted(p.name for p in (layout.root / "tls").iterdir()) == new_files
    assert front.served_tls() == renewed


def test_served_tls_without_a_live_config_is_the_only_pair_on_disk(layout: Layout):
    front = applied_front(layout, RecordingService(layout, running=True))
    layout.config_file.unlink()

    assert front.served_tls() == TLS
