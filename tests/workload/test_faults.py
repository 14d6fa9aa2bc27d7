"""No fault takes HTTPS down: a real nginx on loopback, one fault per test.

Given a front end serving a certificate, when something goes wrong (nginx killed, a live
file deleted or corrupted, a pair nginx rejects, the apply killed at any step, a full
disk, a port taken at reload), then HTTPS keeps serving a complete, matching pair and the
next apply converges to the desired state.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import pickle
import random  # the moment of a SIGKILL, not cryptography
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

import frontend
from tests.pki import Chain, chain_for, renew
from tests.workload.clients import (
    DOMAIN,
    refuses_connections,
    request,
    served_chain,
    served_leaf,
    tls_context,
)
from tests.workload.conftest import Ports
from tests.workload.harness import NGINX, FakeService, wait_until
from tests.workload.helpers import (
    file_bytes,
    live_files,
    mismatched_key_pem,
    nginx_test,
    tls_files,
    with_tls,
)

pytestmark = pytest.mark.workload

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def chain() -> Chain:
    return chain_for(DOMAIN)


def leaf_served(ports: Ports, chain: Chain):
    return served_leaf(ports.https, tls_context(chain.root.cert_pem))


def serves(port: int, chain: Chain) -> bool:
    """Whether new connections get chain's leaf, allowing old workers a moment to let go."""
    context = tls_context(chain.root.cert_pem)
    return wait_until(lambda: served_leaf(port, context) == chain.leaf.cert)


def assert_converged(front: frontend.Frontend, desired: frontend.SiteConfig) -> None:
    """The live files are exactly what apply renders for `desired`, nothing else, no leftovers."""
    layout = front.layout
    on_disk = {n: b for n, b in file_bytes(layout.root).items() if not n.startswith(".")}
    assert on_disk == frontend.desired_files(desired, layout)
    assert not layout.candidate_dir.exists()
    assert not (layout.root / frontend.PENDING_NAME).exists()
    assert nginx_test(layout.config_file).returncode == 0


# --- 1. nginx killed ----------------------------------------------------------------------


def test_nginx_killed_with_sigkill_is_started_again_by_the_next_apply(
    front, site, ports: Ports, chain: Chain, service: FakeService
):
    desired = with_tls(site, chain)
    front.apply(desired)
    service.kill()
    assert refuses_connections(ports.https)

    applied = front.apply(desired)

    assert applied == frontend.Applied(changed=False)
    assert leaf_served(ports, chain) == chain.leaf.cert


# --- 2. live files deleted or corrupted by hand --------------------------------------------

FAULTS: dict[str, Callable[[Path], object]] = {
    "deleted": lambda path: path.unlink(),
    "truncated": lambda path: path.write_bytes(path.read_bytes()[: path.stat().st_size // 2]),
    "garbage": lambda path: path.write_bytes(b"\x00garbage}\n;{" * 40),
}


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("which", ["config", "chain", "key"])
def test_live_file_deleted_or_corrupted_by_hand_is_restored_before_nginx_loads_it(
    front, site, ports: Ports, chain: Chain, service: FakeService, which: str, fault: str
):
    desired = with_tls(site, chain)
    front.apply(desired)
    paths = front.live_tls_paths()
    assert paths is not None
    target = {"config": front.layout.config_file, "chain": paths[0], "key": paths[1]}[which]
    FAULTS[fault](target)
    files_at_reload: list[dict[str, bytes]] = []
    reload = service.reload

    def spying_reload() -> None:
        files_at_reload.append(file_bytes(front.layout.root))
        reload()

    service.reload = spying_reload  # type: ignore[method-assign]

    applied = front.apply(desired)

    assert applied.changed
    wanted = frontend.desired_files(desired, front.layout)
    assert [{n: files[n] for n in wanted} for files in files_at_reload] == [wanted]
    assert_converged(front, desired)
    assert served_chain(ports.https) == [chain.leaf.cert, chain.intermediate.cert]


# --- 3. a pair nginx rejects ----------------------------------------------------------------


def test_pair_nginx_rejects_leaves_live_files_and_old_certificate_then_a_good_one_recovers(
    front, site, ports: Ports, chain: Chain
):
    front.apply(with_tls(site, chain))
    before = live_files(front.layout.root)
    bad = dataclasses.replace(tls_files(chain_for(DOMAIN)), key_pem=mismatched_key_pem())

    with pytest.raises(frontend.ConfigRejected) as rejected:
        front.apply(dataclasses.replace(site, tls=bad))

    assert "key values mismatch" in rejected.value.reason
    assert live_files(front.layout.root) == before
    assert leaf_served(ports, chain) == chain.leaf.cert
    renewed = renew(chain)
    assert front.apply(with_tls(site, renewed)).changed
    assert serves(ports.https, renewed)
    assert_converged(front, with_tls(site, renewed))


# --- 4. the apply killed at every step of its write sequence ---------------------------------


class Killed(BaseException):
    """Stands for SIGKILL: no `except Exception` catches it; `finally` blocks still run."""


STEPS = ("write_atomically", "_replace", "_unlink", "_fsync_dir")


@pytest.fixture
def kill_at(
    monkeypatch: pytest.MonkeyPatch, service: FakeService
) -> Callable[[int | None], list[str]]:
    """Arm a crash at step N of the apply (every disk change, and the reload or start).

    Returns the names of the steps seen; N=None only records them.
    """
    seen: list[str] = []
    armed: list[int | None] = [None]

    def step(name: str, real: Callable) -> Callable:
        def crash_or_run(*args: object, **kwargs: object) -> object:
            seen.append(f"{name}({', '.join(map(_short, args[:2]))})")
            if armed[0] is not None and len(seen) - 1 == armed[0]:
                raise Killed(seen[-1])
            return real(*args, **kwargs)

        return crash_or_run

    for name in STEPS:
        monkeypatch.setattr(frontend, name, step(name, getattr(frontend, name)))
    for name in ("reload", "start"):
        monkeypatch.setattr(service, name, step(f"service.{name}", getattr(service, name)))

    def arm(n: int | None) -> list[str]:
        seen.clear()
        armed[0] = n
        return seen

    return arm


def _short(arg: object) -> str:
    return Path(arg).name if isinstance(arg, (str, Path)) else type(arg).__name__


def check_crash_state(
    front: frontend.Frontend,
    old: frontend.SiteConfig,
    new: frontend.SiteConfig,
    ports: Ports,
    chain_of: dict[frontend.SiteConfig, Chain | None],
) -> None:
    """Live files are old or new, each complete and matching; nginx -t passes; it serves."""
    layout = front.layout
    config = layout.config_file.read_bytes()
    states = [
        s
        for s in dict.fromkeys((old, new))
        if frontend.desired_files(s, layout)["nginx.conf"] == config
    ]
    assert len(states) == 1, "nginx.conf is neither the complete old nor the complete new"
    live = states[0]
    for name, content in frontend.desired_files(live, layout).items():
        assert (layout.root / name).read_bytes() == content, (
            f"{name} is not the complete file the live nginx.conf names"
        )
    result = nginx_test(layout.config_file)
    assert result.returncode == 0, result.stderr
    # nginx serves from memory whatever it last loaded, old or new: never a failure.
    assert request(ports.http).status in (200, 308)
    chains = [c for c in (chain_of[old], chain_of[new]) if c is not None]
    if chains and not refuses_connections(ports.https):
        assert leaf_served(ports, chains[0]) in [c.leaf.cert for c in chains]


@pytest.mark.parametrize("transition", ["renew", "tls-on", "tls-off"])
def test_apply_killed_at_every_step_leaves_a_loadable_pair_and_the_next_apply_converges(
    front, site, ports: Ports, chain: Chain, kill_at, transition: str
):
    renewed = renew(chain)
    old, new = {
        "renew": (with_tls(site, chain), with_tls(site, renewed, hsts_max_age=60)),
        "tls-on": (site, with_tls(site, chain)),
        "tls-off": (with_tls(site, chain), site),
    }[transition]
    chain_of = {
        old: None if transition == "tls-on" else chain,
        new: {"renew": renewed, "tls-on": chain, "tls-off": None}[transition],
    }
    front.apply(old)
    sequence = kill_at(None)
    front.apply(new)
    sequence = list(sequence)
    front.apply(old)
    assert len(sequence) >= 8, sequence
    logging.getLogger(__name__).info("%s: %d steps: %s", transition, len(sequence), sequence)

    for n in range(len(sequence)):
        kill_at(n)
        with pytest.raises(Killed):
            front.apply(new)
        kill_at(None)

        check_crash_state(front, old, new, ports, chain_of)
        frontend.Frontend(front.layout, front.service, nginx=NGINX).apply(new)
        assert_converged(front, new)
        check_crash_state(front, new, new, ports, {new: chain_of[new]})
        front.apply(old)


_APPLY_LOOP = """
import pickle, sys
import frontend
from tests.workload.harness import NGINX, FakeService
layout, sites = pickle.loads(sys.stdin.buffer.read())
front = frontend.Frontend(layout, FakeService(layout), nginx=NGINX)
print("ready", flush=True)
for i in range(10_000):
    front.apply(sites[i % 2])
"""


def test_apply_sigkilled_at_random_moments_keeps_https_up_and_the_next_apply_converges(
    front, site, ports: Ports, chain: Chain
):
    renewed = renew(chain)
    sites = (with_tls(site, chain), with_tls(site, renewed, hsts_max_age=60))
    front.apply(sites[0])
    seed = random.randrange(1 << 32)  # noqa: S311
    rng = random.Random(seed)  # noqa: S311
    logging.getLogger(__name__).info("random SIGKILL seed %d", seed)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(REPO / p) for p in ("src", "lib", ""))}

    for _ in range(20):
        with subprocess.Popen(
            [sys.executable, "-c", _APPLY_LOOP],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=REPO,
            env=env,
        ) as looping:
            assert looping.stdin is not None
            assert looping.stdout is not None
            looping.stdin.write(pickle.dumps((front.layout, sites)))
            looping.stdin.close()
            ready, _, _ = select.select([looping.stdout], [], [], 30)
            assert ready
            assert looping.stdout.readline() == b"ready\n"
            wait_until(lambda: looping.poll() is not None, timeout=rng.uniform(0.0, 0.4))
            looping.send_signal(signal.SIGKILL)
            assert looping.wait(timeout=10) == -signal.SIGKILL

        check_crash_state(front, sites[0], sites[1], ports, {sites[0]: chain, sites[1]: renewed})

    front.apply(sites[1])
    assert_converged(front, sites[1])
    assert serves(ports.https, renewed)


# --- 5. a full disk -----------------------------------------------------------------------


@pytest.fixture
def small_disk(layout: frontend.Layout) -> Iterator[Path]:
    """layout.root on a 64 KiB tmpfs; skipped where mounting is not permitted."""
    layout.root.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(layout.root)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        yield layout.root
    finally:
        subprocess.run(["umount", str(layout.root)], check=False, capture_output=True)
        if os.path.ismount(layout.root):
            subprocess.run(["umount", "-l", str(layout.root)], check=False)


def fill(directory: Path, leave: int) -> Path:
    """Fill the file system until fewer than `leave` bytes remain free; return the filler."""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as f:
        assert _write_until_error(f) == errno.ENOSPC
    os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler


def _write_until_error(f: BinaryIO) -> int | None:
    """Write (unbuffered) until the file system refuses; return the error number."""
    for _ in range(10_000):  # bounded: 40 MB at most
        try:
            f.write(b"\0" * 4096)
        except OSError as e:
            return e.errno
    return None


def test_full_disk_while_writing_is_a_clear_error_live_files_intact_and_recovers_once_freed(
    front, site, ports: Ports, chain: Chain, small_disk: Path, layout: frontend.Layout
):
    front.apply(with_tls(site, chain))
    before = live_files(layout.root)
    filler = fill(small_disk, leave=4096)
    renewed = renew(chain)
    before = {**before, **{k: v for k, v in live_files(layout.root).items() if k == "filler"}}

    with pytest.raises(frontend.NoSpace) as full:
        front.apply(with_tls(site, renewed, hsts_max_age=60))

    assert str(full.value).startswith(f"no space left on {layout.root} while writing ")
    assert isinstance(full.value, frontend.FrontendError)
    assert live_files(layout.root) == before
    assert not layout.candidate_dir.exists()
    assert leaf_served(ports, chain) == chain.leaf.cert
    filler.unlink()
    assert front.apply(with_tls(site, renewed, hsts_max_age=60)).changed
    assert_converged(front, with_tls(site, renewed, hsts_max_age=60))
    assert serves(ports.https, renewed)


# --- 6. a reload nginx cannot carry out -------------------------------------------------------


def test_reload_that_cannot_bind_fails_old_workers_keep_serving_and_a_later_apply_converges(
    front, site, ports: Ports, chain: Chain, layout: frontend.Layout
):
    front.apply(with_tls(site, chain))
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        moved = with_tls(site, chain, https_port=taken)

        with pytest.raises(frontend.ServiceFailed) as failed:
            front.apply(moved)

        assert failed.value.reason == (
            f"bind() to 127.0.0.1:{taken} failed (98: Address already in use)"
        )
        assert leaf_served(ports, chain) == chain.leaf.cert
        assert request(ports.https, context=tls_context(chain.root.cert_pem)).status == 200
        assert (layout.root / frontend.PENDING_NAME).exists()

    applied = front.apply(moved)

    assert applied.changed
    assert_converged(front, moved)
    assert serves(taken, chain)
