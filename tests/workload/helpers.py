"""Sites, files and checks shared by the workload tests."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

from cryptography.hazmat.primitives import serialization

import frontend
from tests.pki import Chain, ec_key
from tests.workload.harness import NGINX


def tls_files(chain: Chain) -> frontend.TLSFiles:
    return frontend.TLSFiles(chain_pem=chain.fullchain_pem, key_pem=chain.leaf.key_pem())


def with_tls(site: frontend.SiteConfig, chain: Chain, **changes: object) -> frontend.SiteConfig:
    return dataclasses.replace(site, tls=tls_files(chain), **changes)  # type: ignore[arg-type]


def mismatched_key_pem() -> str:
    return (
        ec_key()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


def snapshot(root: Path) -> dict[str, tuple[int, int, int, bytes]]:
    """Every path under root with inode, mtime, mode and bytes: any write shows up."""
    found = {}
    for path in sorted([root, *root.rglob("*")]):
        st = path.lstat()
        content = path.read_bytes() if path.is_file() else b""
        found[str(path.relative_to(root))] = (st.st_ino, st.st_mtime_ns, st.st_mode, content)
    return found


def live_files(root: Path) -> dict[str, tuple[int, int, bytes]]:
    """The files nginx reads, with inode, mode and bytes (the root's own mtime may move)."""
    return {
        name: (ino, mode, content)
        for name, (ino, _, mode, content) in snapshot(root).items()
        if (root / name).is_file()
    }


def file_bytes(root: Path) -> dict[str, bytes]:
    """Every regular file under root, by relative name, with its bytes."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def nginx_test(config: Path) -> subprocess.CompletedProcess[str]:
    """`nginx -t` on a config, as systemd's ExecStartPre runs it before every start."""
    return subprocess.run(
        [NGINX, "-t", "-q", "-c", str(config)], capture_output=True, text=True, timeout=30
    )
