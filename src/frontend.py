"""The nginx TLS front end: render, check with `nginx -t`, swap atomically, reload on change.

Pure module: no ops import.

Design:

Files nginx reads live in `layout.root` (charm-owned):
    nginx.conf              complete main config rendered from templates/nginx.conf.j2
    tls/chain-<id>.pem      0644   (only while TLS is on)
    tls/key-<id>.pem        0600, owner root (only while TLS is on); tls/ is 0700, owner root
`<id>` is a digest of the chain and key, so a new pair never overwrites the live one:
nginx.conf names the pair, and renaming nginx.conf into place is the one commit point.
Killed at any moment, the live config names either the old pair or the new one, both
complete and matching; never a new chain with an old key.
The config names the TLS files by *relative* paths (`tls/chain-<id>.pem`), which nginx
resolves against the directory of the `-c` file. So a candidate set rendered into
`layout.root/.candidate/` is byte-for-byte what goes live, `nginx -t -c
.candidate/nginx.conf` checks exactly those bytes, and going live is one atomic
`os.replace` per file (TLS files first, nginx.conf last).

`Frontend.apply(site)`:
  1. render the candidate contents in memory; compare with the live files (bytes);
  2. nothing differs -> no write, no `nginx -t`, no reload; only start nginx if it is
     not running; return Applied(changed=False);
  3. otherwise write the candidates (temp file + fsync + rename, modes as above),
     run `nginx -t -c <candidate>`; on failure remove the candidates, leave the live
     files untouched and raise ConfigRejected(reason=<nginx's [emerg] line>);
  4. swap with os.replace, fsync the dirs, reload (or start if not running); a failed
     reload raises ServiceFailed and `.reload-pending` makes the next apply retry it;
  5. then delete TLS files the live config no longer names.
Every apply, even one that changes nothing, also removes a leftover `.candidate/` (it
holds a copy of the key) and puts the owner and modes above back on the live files
(a few stat calls; a mode change needs no reload), logging a warning for each repair.
An OSError while writing becomes WriteFailed (NoSpace for a full disk or quota): the
live files are then still complete, old or new.
`Frontend.served_tls()` returns the live TLS material (chain + key) or None, so a
caller can keep serving the last good certificate.

Production glue, also here so the charm stays thin: `SystemdService` runs nginx as the
dedicated unit `snap-store-proxy-frontend.service` (templates/*.service.j2), and
`install_nginx()` installs the package with the distribution's own nginx.service masked.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import ipaddress
import logging
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import jinja2
from charmlibs import apt, systemd

logger = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
UNIT = "snap-store-proxy-frontend.service"
DISTRO_UNIT = "nginx.service"

CONFIG_NAME = "nginx.conf"
TLS_DIR = "tls"
CANDIDATE_DIR = ".candidate"
# Present from the swap until nginx has loaded the swapped files: a failed reload is retried.
PENDING_NAME = ".reload-pending"

CONFIG_MODE = 0o644
CHAIN_MODE = 0o644
KEY_MODE = 0o600
TLS_DIR_MODE = 0o700
CANDIDATE_DIR_MODE = 0o700  # holds a copy of the key
ROOT_DIR_MODE = 0o755
OWNER_UID = 0  # nginx's master reads the key as root; nobody else may own it

NGINX_TIMEOUT = 60  # seconds; `nginx -t` loads certificates, nothing slow
RELOAD_SETTLE_SECONDS = 1.0  # nginx's master applies a reload within milliseconds

_DNS_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)", re.IGNORECASE | re.ASCII)
# `2024/01/02 03:04:05 [emerg] 123#123: msg` (error.log) or `nginx: [emerg] msg` (stderr).
_NGINX_LOG_LINE = re.compile(
    r"^(?:nginx: |\d{4}/\d\d/\d\d \d\d:\d\d:\d\d )?\[(?P<level>\w+)\] (?:\d+#\d+: )?(?P<msg>.*)$"
)
_SEVERE_LEVELS = ("emerg", "alert", "crit")
# What the rendered config names; the first match of each is the live pair.
_SSL_CERTIFICATE = re.compile(r"^\s*ssl_certificate\s+(tls/[^;\s]+);", re.MULTILINE)
_SSL_KEY = re.compile(r"^\s*ssl_certificate_key\s+(tls/[^;\s]+);", re.MULTILINE)


class FrontendError(Exception):
    """The front end could not be brought to the desired state; str() is for the operator."""


class ConfigRejected(FrontendError):
    """`nginx -t` refused the candidate; the live files are unchanged.

    str() and `reason` are nginx's own `[emerg]` message without its prefixes, e.g.
    `SSL_CTX_use_PrivateKey(".../key.pem") failed (SSL: ... key values mismatch)`.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ServiceFailed(FrontendError):
    """nginx could not be started or reloaded.

    `reason` is nginx's last error line when there is one, e.g.
    `bind() to 0.0.0.0:80 failed (98: Address already in use)`; str() says what failed.
    """

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason

    @property
    def port_busy(self) -> bool:
        """Whether nginx could not bind because another process holds the port."""
        return f"({errno.EADDRINUSE}: " in (self.reason or "")


class WriteFailed(FrontendError):
    """A file could not be written (disk, permissions); each live file is still complete.

    str() names the directory and the file; `path` is the file.
    """

    def __init__(self, message: str, path: Path) -> None:
        super().__init__(message)
        self.path = path


class NoSpace(WriteFailed):
    """The disk (or the quota) was full while writing; free space and apply again."""


@dataclass(frozen=True)
class TLSFiles:
    """The certificate chain and key nginx serves, as PEM text."""

    chain_pem: str  # leaf first, then intermediates
    key_pem: str = field(repr=False)


@dataclass(frozen=True)
class SiteConfig:
    """What the front end serves. Validated on construction: no value can inject nginx syntax.

    Raises ValueError naming the offending field.
    """

    domain: str
    backend_port: int
    tls: TLSFiles | None = None
    hsts_max_age: int = 0
    http_port: int = 80
    https_port: int = 443
    listen_address: str = ""  # "" = every IPv4 address; tests use 127.0.0.1

    def __post_init__(self) -> None:
        _check_domain(self.domain)
        for name in ("backend_port", "http_port", "https_port"):
            _check_port(name, getattr(self, name))
        if not _is_int(self.hsts_max_age) or self.hsts_max_age < 0:
            raise ValueError(
                f"hsts_max_age must be a non-negative integer, got {self.hsts_max_age!r}"
            )
        if self.tls is not None and self.http_port == self.https_port:
            raise ValueError(f"http_port and https_port must differ, both are {self.http_port}")
        if self.tls is not None and not (self.tls.chain_pem + self.tls.key_pem).isascii():
            raise ValueError("tls must hold ASCII PEM text")  # PEM is ASCII by definition
        _check_listen_address(self.listen_address)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_dns_name(name: str) -> bool:
    """Tell whether `name` is an RFC 1123 host name.

    At most 253 characters; dot-separated labels of 1 to 63 ASCII letters, digits and
    inner hyphens.
    """
    return len(name) <= 253 and all(_DNS_LABEL.fullmatch(label) for label in name.split("."))


def _check_domain(domain: object) -> None:
    if not isinstance(domain, str) or not is_dns_name(domain):
        raise ValueError(f"domain must be a DNS name (RFC 1123), got {domain!r}")


def _check_port(name: str, port: object) -> None:
    if not _is_int(port) or not 1 <= port <= 65535:  # type: ignore[operator]
        raise ValueError(f"{name} must be an integer in 1..65535, got {port!r}")


def _check_listen_address(address: object) -> None:
    if address == "":
        return
    # A scope id (`fe80::1%eth0`) may hold any character but `%`: refused with the rest.
    valid = isinstance(address, str) and "%" not in address
    try:
        ipaddress.ip_address(address)  # type: ignore[arg-type]
    except ValueError:
        valid = False
    if not valid:
        raise ValueError(f"listen_address must be an IP address or empty, got {address!r}")


@dataclass(frozen=True)
class Layout:
    """Where the front end's files live on disk."""

    root: Path  # nginx.conf, tls/, .candidate/
    run_dir: Path  # pid file and nginx temp directories
    log_dir: Path

    @classmethod
    def production(cls) -> Layout:
        """Return the paths used on a machine."""
        return cls(
            root=Path("/etc/snap-store-proxy-frontend"),
            run_dir=Path("/run/snap-store-proxy-frontend"),
            log_dir=Path("/var/log/snap-store-proxy-frontend"),
        )

    @property
    def config_file(self) -> Path:
        """The live main config, the one nginx is started with."""
        return self.root / CONFIG_NAME

    @property
    def candidate_dir(self) -> Path:
        """Where a candidate set is checked before it goes live."""
        return self.root / CANDIDATE_DIR

    @property
    def pid_file(self) -> Path:
        """The nginx master's pid, as the rendered config names it."""
        return self.run_dir / "nginx.pid"

    @property
    def error_log(self) -> Path:
        """Where nginx logs its errors, once it has read the config."""
        return self.log_dir / "error.log"

    def ensure_dirs(self) -> None:
        """Create the directories nginx needs; /run is a tmpfs, so this is needed after a reboot."""
        self.root.mkdir(mode=ROOT_DIR_MODE, parents=True, exist_ok=True)
        # A world-writable root would let anyone swap the config nginx loads as root.
        if (mode := self.root.stat().st_mode) & 0o022:
            self.root.chmod(mode & ~0o022 & 0o7777)
        self.run_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        self.log_dir.mkdir(mode=0o750, parents=True, exist_ok=True)


class Service(Protocol):
    """Whatever keeps nginx running: systemd on a machine, a small fake in tests."""

    def is_running(self) -> bool:
        """Whether the nginx master is up."""
        ...

    def start(self) -> None:
        """Start nginx with layout.config_file; raise ServiceFailed if it does not come up."""
        ...

    def reload(self) -> None:
        """Make the running nginx load the live files; raise ServiceFailed on failure."""
        ...


@dataclass(frozen=True)
class Applied:
    """What `Frontend.apply` did: `changed` is True when files were swapped or nginx reloaded."""

    changed: bool


@dataclass(frozen=True)
class _File:
    """One file of the rendered set, relative to the root."""

    name: str
    content: bytes
    mode: int


@functools.cache  # one Environment caches the parsed templates: a no-op apply stays cheap
def _environment() -> jinja2.Environment:
    # Autoescape is for HTML; safety here comes from SiteConfig validation.
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # noqa: S701
    )


def _listen(address: str, port: int) -> str:
    if not address:
        return str(port)
    host = f"[{address}]" if ipaddress.ip_address(address).version == 6 else address
    return f"{host}:{port}"


def render_config(site: SiteConfig, layout: Layout) -> str:
    """Render the complete nginx.conf for `site`."""
    authority = site.domain if site.https_port == 443 else f"{site.domain}:{site.https_port}"
    chain_file, key_file = _tls_names(site.tls) if site.tls else (None, None)
    return (
        _environment()
        .get_template("nginx.conf.j2")
        .render(
            run_dir=layout.run_dir,
            log_dir=layout.log_dir,
            backend_port=site.backend_port,
            domain=site.domain,
            tls=site.tls is not None,
            chain_file=chain_file,
            key_file=key_file,
            hsts_max_age=site.hsts_max_age,
            http_listen=_listen(site.listen_address, site.http_port),
            https_listen=_listen(site.listen_address, site.https_port),
            redirect_authority=authority,
        )
    )


def _tls_names(tls: TLSFiles) -> tuple[str, str]:
    """Name the chain and key under the root by a digest: a new pair never overwrites the live one.

    Nothing about the key can be read from the digest.
    """
    digest = hashlib.sha256(f"{tls.chain_pem}\0{tls.key_pem}".encode()).hexdigest()[:16]
    return f"{TLS_DIR}/chain-{digest}.pem", f"{TLS_DIR}/key-{digest}.pem"


def _render_files(site: SiteConfig, layout: Layout) -> tuple[_File, ...]:
    config = _File(CONFIG_NAME, render_config(site, layout).encode(), CONFIG_MODE)
    if site.tls is None:
        return (config,)
    chain_name, key_name = _tls_names(site.tls)
    # TLS files first: the swap follows this order, so nginx.conf never names missing files.
    return (
        _File(chain_name, site.tls.chain_pem.encode(), CHAIN_MODE),
        _File(key_name, site.tls.key_pem.encode(), KEY_MODE),
        config,
    )


def desired_files(site: SiteConfig, layout: Layout) -> dict[str, bytes]:
    """Every file `apply(site)` puts live, by name under the root, with its exact bytes."""
    return {f.name: f.content for f in _render_files(site, layout)}


def parse_nginx_error(text: str) -> str | None:
    """Return nginx's most telling error in `text` (stderr or error.log), without prefixes.

    The first `[emerg]` wins (it is what stopped nginx); otherwise the last `[alert]`/`[crit]`.
    """
    severe = [m for m in map(_NGINX_LOG_LINE.match, text.splitlines()) if m]
    severe = [m for m in severe if m["level"] in _SEVERE_LEVELS]
    emerg = [m["msg"] for m in severe if m["level"] == "emerg"]
    if emerg:
        return emerg[0]
    return severe[-1]["msg"] if severe else None


class ErrorLog:
    """nginx's error.log, read from a mark so old errors are never blamed for a new failure."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def mark(self) -> int:
        """Remember where the log ends now."""
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def error_since(self, mark: int) -> str | None:
        """Return nginx's error written after `mark`, if any."""
        try:
            with self.path.open("rb") as log:
                if log.seek(0, os.SEEK_END) < mark:  # rotated: read it all
                    mark = 0
                log.seek(mark)
                return parse_nginx_error(log.read().decode(errors="replace"))
        except FileNotFoundError:
            return None


def write_atomically(path: Path, content: bytes, mode: int) -> None:
    """Readers see the old file or the new one, never a partial one, even across a crash."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as tmp_file:
            os.fchmod(tmp_file.fileno(), mode)  # before the rename, so never briefly too open
            tmp_file.write(content)
            tmp_file.flush()
            os.fsync(tmp_file.fileno())
        _replace(Path(tmp), path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# Every change the apply makes on disk goes through write_atomically, _replace, _unlink or
# _fsync_dir: tests replace them to kill an apply at each step of the sequence.


def _replace(src: Path, dst: Path) -> None:
    os.replace(src, dst)


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _is_current(path: Path, wanted: _File) -> bool:
    """Whether `path` is a regular file holding exactly the wanted bytes (modes: _secure)."""
    try:
        if not stat.S_ISREG(path.lstat().st_mode):  # a symlink or a directory is replaced
            return False
        return path.read_bytes() == wanted.content
    except OSError:  # missing, unreadable: rewritten from the desired state
        return False


def _make_tls_dir(base: Path) -> None:
    tls_dir = base / TLS_DIR
    tls_dir.mkdir(mode=TLS_DIR_MODE, exist_ok=True)
    tls_dir.chmod(TLS_DIR_MODE)


def _secure(path: Path, mode: int, owner: int | None) -> None:
    """Give `path` its mode (and owner); log a repair, never the content. Missing: skip."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        return  # not ours: the next apply replaces it (apply compares regular files only)
    if owner is not None and st.st_uid != owner:
        logger.warning("%s was owned by uid %d; set owner to uid %d", path, st.st_uid, owner)
        os.chown(path, owner, -1)
    if st.st_mode & 0o7777 != mode:
        logger.warning("%s had mode %04o; set mode %04o", path, st.st_mode & 0o7777, mode)
        path.chmod(mode)


class Frontend:
    """Brings nginx's files and process to a SiteConfig: check first, swap atomically, reload."""

    def __init__(self, layout: Layout, service: Service, nginx: str = "nginx") -> None:
        self.layout = layout
        self.service = service
        self.nginx = nginx

    def apply(self, site: SiteConfig) -> Applied:
        """Make nginx serve `site`; see the module docstring for the steps.

        Raises ConfigRejected (live files untouched), ServiceFailed, or WriteFailed
        (NoSpace for a full disk; every live file still complete, old or new).
        """
        files = _render_files(site, self.layout)
        try:
            applied = self._apply(files)
        except BaseException:
            with contextlib.suppress(WriteFailed):  # the first failure is the one to report
                self._secure_live(files)
            raise
        self._secure_live(files)
        return applied

    def _apply(self, files: tuple[_File, ...]) -> Applied:
        with self._writing(self.layout.root):
            self.layout.ensure_dirs()
            if self.layout.candidate_dir.exists():  # leftover of a killed apply: a key copy
                shutil.rmtree(self.layout.candidate_dir, ignore_errors=True)
        outdated = [f for f in files if not _is_current(self.layout.root / f.name, f)]
        if not outdated and not self._pending.exists():
            if not self.service.is_running():
                self.service.start()
            self._remove(self._stale_tls_files(files))  # nginx runs the live config
            return Applied(changed=False)
        self._check_candidates(files)
        self._swap(outdated)
        self._load()
        self._remove(self._stale_tls_files(files))
        return Applied(changed=True)

    def purge(self) -> None:
        """Delete the front end's files, keys first among them; nginx must be stopped."""
        for directory in (self.layout.root, self.layout.run_dir):
            shutil.rmtree(directory, ignore_errors=True)

    def served_tls(self) -> TLSFiles | None:
        """Return the live chain and key, or None when TLS is off."""
        paths = self.live_tls_paths()
        if paths is None:
            return None
        try:
            return TLSFiles(chain_pem=paths[0].read_text(), key_pem=paths[1].read_text())
        except FileNotFoundError:
            return None

    def live_tls_paths(self) -> tuple[Path, Path] | None:
        """Return the chain and key files the live config names; None when TLS is off.

        With no readable live config (deleted by hand): the only pair on disk, if one.
        """
        root = self.layout.root
        try:
            config = self.layout.config_file.read_text(errors="replace")
        except OSError:
            chains = sorted((root / TLS_DIR).glob("chain-*.pem"))
            if len(chains) != 1:
                return None
            key = chains[0].with_name(chains[0].name.replace("chain-", "key-", 1))
            return (chains[0], key) if key.exists() else None
        chain, key = _SSL_CERTIFICATE.search(config), _SSL_KEY.search(config)
        if chain is None or key is None:
            return None
        return root / chain[1], root / key[1]

    @property
    def _pending(self) -> Path:
        return self.layout.root / PENDING_NAME

    def _stale_tls_files(self, files: tuple[_File, ...]) -> list[Path]:
        """TLS files the desired config does not name: an old pair, or all when TLS is off."""
        tls_dir = self.layout.root / TLS_DIR
        wanted = {self.layout.root / f.name for f in files}
        try:
            return sorted(p for p in tls_dir.iterdir() if p not in wanted)
        except (FileNotFoundError, NotADirectoryError):
            return []

    @contextlib.contextmanager
    def _writing(self, path: Path) -> Iterator[None]:
        """Turn an OSError while writing `path` into WriteFailed (NoSpace when the disk is full)."""
        try:
            yield
        except OSError as e:
            root = self.layout.root
            name = path.relative_to(root) if path.is_relative_to(root) else path
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                raise NoSpace(f"no space left on {root} while writing {name}", path) from e
            reason = e.strerror or str(e)
            raise WriteFailed(f"cannot write {name} in {root}: {reason}", path) from e

    def _check_candidates(self, files: tuple[_File, ...]) -> None:
        """Write the whole set into .candidate/ and let `nginx -t` judge exactly those bytes."""
        candidate = self.layout.candidate_dir
        try:
            with self._writing(candidate):
                candidate.mkdir(mode=CANDIDATE_DIR_MODE)
            for wanted in files:
                with self._writing(candidate / wanted.name):
                    if wanted.name.startswith(f"{TLS_DIR}/"):
                        _make_tls_dir(candidate)
                    write_atomically(candidate / wanted.name, wanted.content, wanted.mode)
            self._nginx_test(candidate / CONFIG_NAME)
        except BaseException:
            shutil.rmtree(candidate, ignore_errors=True)
            raise

    def _nginx_test(self, config: Path) -> None:
        try:
            result = subprocess.run(
                [self.nginx, "-t", "-q", "-c", str(config)],
                capture_output=True,
                text=True,
                timeout=NGINX_TIMEOUT,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise FrontendError(f"cannot run {self.nginx} -t: {e}") from e
        if result.returncode != 0:
            reason = parse_nginx_error(result.stderr) or result.stderr.strip() or "nginx -t failed"
            raise ConfigRejected(reason)

    def _swap(self, outdated: list[_File]) -> None:
        """Move checked candidates live, TLS files first and nginx.conf last (list order)."""
        root, candidate = self.layout.root, self.layout.candidate_dir
        try:
            with self._writing(self._pending):
                write_atomically(self._pending, b"", 0o600)
            with self._writing(root / TLS_DIR):
                if any(f.name.startswith(f"{TLS_DIR}/") for f in outdated):
                    _make_tls_dir(root)
            for wanted in outdated:
                with self._writing(root / wanted.name):
                    _replace(candidate / wanted.name, root / wanted.name)
            for directory in sorted({(root / f.name).parent for f in outdated}):
                with self._writing(directory):
                    _fsync_dir(directory)
        finally:
            shutil.rmtree(candidate, ignore_errors=True)  # never leave the key's copy behind

    def _load(self) -> None:
        if self.service.is_running():
            self.service.reload()
        else:
            self.service.start()
        with self._writing(self._pending):
            _unlink(self._pending)
            _fsync_dir(self.layout.root)

    def _remove(self, stale: list[Path]) -> None:
        """Delete TLS files only once nginx runs a config that no longer names them."""
        if not stale:
            return
        tls_dir = self.layout.root / TLS_DIR
        with self._writing(tls_dir):
            for path in stale:
                _unlink(path)
            _fsync_dir(tls_dir)
            if not any(tls_dir.iterdir()):
                tls_dir.rmdir()
                _fsync_dir(self.layout.root)

    def _secure_live(self, files: tuple[_File, ...]) -> None:
        """Put back the owner and modes of the live files: a few stat calls, no reload needed."""
        root = self.layout.root
        with self._writing(root):
            if (root / TLS_DIR).is_dir():
                _secure(root / TLS_DIR, TLS_DIR_MODE, OWNER_UID)
            for wanted in files:
                owner = OWNER_UID if wanted.mode == KEY_MODE else None
                _secure(root / wanted.name, wanted.mode, owner)


# --- production service: systemd on the machine (not exercised by the workload tests) ---


def render_unit(layout: Layout, nginx: str) -> str:
    """Render the systemd unit that runs our own nginx with our own main config."""
    return (
        _environment()
        .get_template("snap-store-proxy-frontend.service.j2")
        .render(
            nginx=nginx,
            config_file=layout.config_file,
            pid_file=layout.pid_file,
            runtime_directory=_runtime_directory(layout.run_dir),
        )
    )


def render_logrotate(layout: Layout) -> str:
    """Render the logrotate rule that keeps the front end's logs from filling the disk."""
    template = _environment().get_template("logrotate.j2")
    return template.render(log_dir=layout.log_dir, pid_file=layout.pid_file)


def _runtime_directory(run_dir: Path) -> str | None:
    """Name run_dir for RuntimeDirectory=, which systemd recreates in /run (a tmpfs) at start."""
    try:
        return str(run_dir.relative_to("/run"))
    except ValueError:
        return None


class SystemdService:
    """Service backed by the dedicated unit `snap-store-proxy-frontend.service`."""

    def __init__(
        self,
        layout: Layout,
        nginx: str = "/usr/sbin/nginx",
        unit_dir: Path = Path("/etc/systemd/system"),
        logrotate_dir: Path = Path("/etc/logrotate.d"),
    ) -> None:
        self.layout = layout
        self.nginx = nginx
        self.unit_file = unit_dir / UNIT
        self.logrotate_file = logrotate_dir / UNIT.removesuffix(".service")
        self.error_log = ErrorLog(layout.error_log)

    def installed(self) -> bool:
        """Whether the nginx binary this unit runs is on the machine."""
        return Path(self.nginx).exists()

    def install(self) -> bool:
        """Write the unit and its logrotate rule when changed; enable a changed unit.

        Cheap when nothing changed (two file reads, no systemctl), so every hook may call it.
        """
        rotate = _File(self.logrotate_file.name, render_logrotate(self.layout).encode(), 0o644)
        if not _is_current(self.logrotate_file, rotate):
            write_atomically(self.logrotate_file, rotate.content, rotate.mode)
        unit = _File(UNIT, render_unit(self.layout, self.nginx).encode(), 0o644)
        if _is_current(self.unit_file, unit):
            return False
        try:
            write_atomically(self.unit_file, unit.content, unit.mode)
            systemd.daemon_reload()
            systemd.service_enable(UNIT)
        except systemd.SystemdError as e:
            raise FrontendError(f"cannot install {UNIT}: {_last_line(str(e))}") from e
        return True

    def is_running(self) -> bool:
        """Whether systemd reports the unit active."""
        return systemd.service_running(UNIT)

    def start(self) -> None:
        """Start the unit; ServiceFailed carries nginx's error, e.g. a port already in use."""
        self._run("start", systemd.service_start)

    def reload(self) -> None:
        """Reload the unit (`nginx -t`, then `nginx -s reload`).

        The reload signal returns at once and nginx applies the new configuration
        afterwards, keeping the old one if that fails (a port taken, say): so watch its
        error log for a moment rather than report a reload that did not happen.
        """
        mark = self._run("reload", systemd.service_reload)
        deadline = time.monotonic() + RELOAD_SETTLE_SECONDS
        while time.monotonic() < deadline:
            if reason := self.error_log.error_since(mark):
                raise ServiceFailed(f"nginx reload failed: {reason}", reason=reason)
            time.sleep(0.1)

    def uninstall(self) -> None:
        """Stop nginx, and remove the unit and its logrotate rule: the unit is going away.

        Best effort, never raising: a unit that was never fully installed must still go.
        """
        for step in (systemd.service_stop, systemd.service_disable):
            try:
                step(UNIT)
            except systemd.SystemdError as e:
                logger.warning("%s %s: %s", step.__name__, UNIT, _last_line(str(e)))
        self.unit_file.unlink(missing_ok=True)
        self.logrotate_file.unlink(missing_ok=True)
        try:
            systemd.daemon_reload()
        except systemd.SystemdError as e:
            logger.warning("daemon-reload: %s", _last_line(str(e)))

    def _run(self, action: str, call: Callable[[str], object]) -> int:
        """Call systemd; return the error-log mark taken before, for later checks."""
        mark = self.error_log.mark()
        try:
            call(UNIT)
        except systemd.SystemdError as e:
            reason = self.error_log.error_since(mark)
            detail = reason or _last_line(str(e))
            raise ServiceFailed(f"nginx {action} failed: {detail}", reason=reason) from e
        return mark


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else text


def install_nginx() -> None:
    """Install the nginx package while keeping the distribution's own nginx.service off.

    Its default site binds :80, which is ours. Masking it first also stops the package's
    postinst from starting it (and failing when our front end already holds :80).
    """
    try:
        systemd.service_pause(DISTRO_UNIT)
        apt.add_package("nginx")
        systemd.service_pause(DISTRO_UNIT)
    except (apt.Error, systemd.SystemdError, subprocess.CalledProcessError) as e:
        raise FrontendError(f"cannot install nginx: {_last_line(str(e))}") from e
