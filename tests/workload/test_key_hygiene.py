"""Key hygiene on disk (issue #4): the private key lives in tls/key.pem, and nowhere else.

The real Frontend drives a real nginx on loopback. After each step (TLS on, a second
key, a pair nginx rejects, TLS off) every file under the layout's root, run and log
directories is read, and the key may only be in `root/tls/key.pem`; never in nginx.conf,
the logs, `.candidate/` leftovers, `.reload-pending`, a ConfigRejected message or a log
record.

The leak detector is in tests/leaks.py, shared with tests/unit/test_key_hygiene.py.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable

import pytest
from cryptography.hazmat.primitives import serialization

import frontend
from tests.leaks import exception_haystack, holds_key, key_forms, leaks_of, log_haystack
from tests.pki import Chain, chain_for, ec_key, renew
from tests.workload.clients import DOMAIN, request, tls_context
from tests.workload.conftest import Ports

pytestmark = pytest.mark.workload

# --- where a key is on the machine ----------------------------------------------------


def sightings(
    pems: Iterable[str],
    layout: frontend.Layout,
    caplog: pytest.LogCaptureFixture,
    **texts: str,
) -> set[str]:
    """Every place a key shows: files (relative to the layout's parent), "log records", texts."""
    pems = list(pems)
    base = layout.root.parent
    found = {
        str(path.relative_to(base))
        for directory in (layout.root, layout.run_dir, layout.log_dir)
        for path in sorted(directory.rglob("*"))
        if path.is_file() and not path.is_symlink() and holds_key(path.read_bytes(), pems)
    }
    if leaks_of(pems, log_haystack(caplog.records) + caplog.text):
        found.add("log records")
    found |= {name for name, text in texts.items() if leaks_of(pems, text)}
    return found


_SSL_KEY_DIRECTIVE = re.compile(r"^\s*ssl_certificate_key\s+([^;\s]+);", re.MULTILINE)


def key_file(layout: frontend.Layout) -> str:
    """The key file the live nginx.conf names, as `sightings` names files: "root/tls/..."."""
    named = _SSL_KEY_DIRECTIVE.search(layout.config_file.read_text())
    assert named is not None, "the live nginx.conf names no key file"
    path = (layout.root / named[1]).resolve()
    assert path.parent == (layout.root / "tls").resolve(), path
    return str(path.relative_to(layout.root.parent.resolve()))


def key_of(chain: Chain) -> list[str]:
    return key_forms(chain.leaf.key_pem())


def with_tls(site: frontend.SiteConfig, chain_pem: str, key_pem: str) -> frontend.SiteConfig:
    return dataclasses.replace(site, tls=frontend.TLSFiles(chain_pem=chain_pem, key_pem=key_pem))


def serve(front: frontend.Frontend, site: frontend.SiteConfig, chain: Chain, ports: Ports) -> None:
    """Apply TLS with `chain` and make one HTTPS request, so access.log has lines."""
    front.apply(with_tls(site, chain.fullchain_pem, chain.leaf.key_pem()))
    response = request(ports.https, context=tls_context(chain.root.cert_pem))
    assert response.status == 200


# Pairs nginx refuses: each returns (chain_pem, key_pem) built around a key never served.


def _mismatched_key(served: Chain) -> tuple[str, str]:
    return served.fullchain_pem, ec_key().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _corrupt_key(served: Chain) -> tuple[str, str]:
    chain = chain_for(DOMAIN)
    lines = chain.leaf.key_pem().splitlines()
    lines[1] = lines[1][:20] + "!!!!" + lines[1][24:]  # not base64 any more
    return chain.fullchain_pem, "\n".join(lines) + "\n"


def _key_as_certificate(served: Chain) -> tuple[str, str]:
    key = chain_for(DOMAIN).leaf.key_pem()
    return key, key


BAD_PAIRS: list[Callable[[Chain], tuple[str, str]]] = [
    _mismatched_key,
    _corrupt_key,
    _key_as_certificate,
]
BAD_PAIR_IDS = ["mismatched-key", "corrupt-key", "key-as-certificate"]


def _rejected(front: frontend.Frontend, site: frontend.SiteConfig, pair: tuple[str, str]) -> str:
    with pytest.raises(frontend.ConfigRejected) as rejected:
        front.apply(with_tls(site, *pair))
    return exception_haystack(rejected.value)


# Leftovers of an apply killed half-way (SIGKILL: no `except` or `finally` ran).


def _no_leftover(layout: frontend.Layout, key_pem: str) -> None:
    pass


def _killed_during_check(layout: frontend.Layout, key_pem: str) -> None:
    """Killed during `nginx -t`: the whole candidate set, key included, stays on disk."""
    tls_dir = layout.candidate_dir / "tls"
    tls_dir.mkdir(mode=0o700, parents=True)
    (layout.candidate_dir / "nginx.conf").write_text("# candidate\n")
    (tls_dir / "key.pem").write_text(key_pem)


def _killed_while_writing(layout: frontend.Layout, key_pem: str) -> None:
    """Killed inside write_atomically: a half-written temp copy of the key stays."""
    tls_dir = layout.candidate_dir / "tls"
    tls_dir.mkdir(mode=0o700, parents=True)
    (tls_dir / ".key.pem.k1ll3d").write_text(key_pem[: len(key_pem) // 2])


def _killed_before_reload(layout: frontend.Layout, key_pem: str) -> None:
    """Killed after the swap, before nginx reloaded: `.reload-pending` stays."""
    (layout.root / frontend.PENDING_NAME).write_bytes(b"")


LEFTOVERS = [_no_leftover, _killed_during_check, _killed_while_writing, _killed_before_reload]
LEFTOVER_IDS = ["clean", "killed-during-check", "killed-while-writing", "killed-before-reload"]


@pytest.fixture
def first() -> Chain:
    return chain_for(DOMAIN)


@pytest.fixture
def second(first: Chain) -> Chain:
    """A new key for the same name and CA, as a renewal brings."""
    return renew(first)


# --- the detector on real files ---------------------------------------------------------


def test_the_walk_finds_a_key_hidden_in_any_file(layout: frontend.Layout, logs, first: Chain):
    # given: a key written, wrapped as PEM, into the log directory, and raw into run_dir
    layout.ensure_dirs()
    (layout.log_dir / "error.log").write_text("noise\n" + first.leaf.key_pem())
    (layout.run_dir / "blob").write_bytes(
        first.leaf.key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )

    # when
    found = sightings(key_of(first), layout, logs)

    # then
    assert found == {"log/error.log", "run/blob"}


# --- the steps --------------------------------------------------------------------------


def test_a_served_key_is_only_in_the_key_file(
    front: frontend.Frontend, site, layout: frontend.Layout, ports: Ports, logs, first: Chain
):
    # when
    serve(front, site, first, ports)

    # then
    assert sightings(key_of(first), layout, logs) == {key_file(layout)}
    assert layout.error_log.exists()
    assert (layout.log_dir / "access.log").stat().st_size > 0


def test_a_rotated_key_is_only_in_the_key_file(
    front, site, layout: frontend.Layout, ports: Ports, logs, first: Chain, second: Chain
):
    # given
    serve(front, site, first, ports)

    # when
    serve(front, site, second, ports)

    # then
    assert sightings(key_of(second), layout, logs) == {key_file(layout)}


def test_rotation_leaves_the_old_key_nowhere(
    front, site, layout: frontend.Layout, ports: Ports, logs, first: Chain, second: Chain
):
    # given
    serve(front, site, first, ports)

    # when
    serve(front, site, second, ports)

    # then
    assert sightings(key_of(first), layout, logs) == set()


@pytest.mark.parametrize("bad_pair", BAD_PAIRS, ids=BAD_PAIR_IDS)
def test_a_rejected_pair_leaves_its_key_nowhere(
    front, site, layout: frontend.Layout, ports: Ports, logs, first, second, bad_pair
):
    # given
    serve(front, site, first, ports)
    serve(front, site, second, ports)
    pair = bad_pair(second)

    # when
    told = _rejected(front, site, pair)

    # then
    assert sightings(key_forms(pair[1]), layout, logs, rejection=told) == set()


@pytest.mark.parametrize("bad_pair", BAD_PAIRS, ids=BAD_PAIR_IDS)
def test_a_rejected_pair_keeps_the_served_key_only_in_the_key_file(
    front, site, layout: frontend.Layout, ports: Ports, logs, first, second, bad_pair
):
    # given
    serve(front, site, first, ports)
    serve(front, site, second, ports)

    # when
    told = _rejected(front, site, bad_pair(second))

    # then
    assert sightings(key_of(second), layout, logs, rejection=told) == {key_file(layout)}


@pytest.mark.parametrize("leftover", LEFTOVERS, ids=LEFTOVER_IDS)
def test_removing_tls_leaves_no_key_anywhere(
    front, site, layout: frontend.Layout, ports: Ports, logs, first, second, leftover
):
    # given: two keys served in turn, a third rejected, maybe the debris of a killed apply
    serve(front, site, first, ports)
    serve(front, site, second, ports)
    pair = _mismatched_key(second)
    _rejected(front, site, pair)
    leftover(layout, second.leaf.key_pem())

    # when
    front.apply(site)

    # then
    every_key = [*key_of(first), *key_of(second), *key_forms(pair[1])]
    assert sightings(every_key, layout, logs) == set()


@pytest.mark.parametrize(
    "leftover", [_killed_during_check, _killed_while_writing], ids=LEFTOVER_IDS[1:3]
)
def test_an_unchanged_apply_clears_the_key_a_killed_apply_left(
    front, site, layout: frontend.Layout, ports: Ports, logs, first, second, leftover
):
    # given: the second key served; an apply of another key was killed during its check
    serve(front, site, second, ports)
    abandoned = chain_for(DOMAIN).leaf.key_pem()
    leftover(layout, abandoned)

    # when: the next hook applies what is already served
    applied = front.apply(with_tls(site, second.fullchain_pem, second.leaf.key_pem()))

    # then
    assert not applied.changed
    assert sightings(key_forms(abandoned), layout, logs) == set()
