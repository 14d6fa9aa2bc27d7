"""The TLS the front end serves, measured by a scanner (the sslyze >= 6 CLI) against a real nginx.

Given TLS on, when sslyze scans every protocol version, the certificate, compression,
renegotiation, Heartbleed, ROBOT, CCS injection and the HTTP headers, then only TLS 1.2
(Mozilla intermediate ECDHE suites) and TLS 1.3 are accepted, every suite has forward
secrecy, no known weakness shows, and the chain is leaf then intermediate for the domain.

sslyze 6 pins cryptography<47, which the project's own dependencies outgrow, so it runs as
a command from a virtual environment of its own (`run-tests` makes `.venv-tools/sslyze`)
and the test reads its `--json_out` document, which mirrors sslyze's Python result models.
The executable is `$SSLYZE`, else `sslyze` on PATH; without one the test skips, except
under CI (`$CI` set), where it fails: CI must never silently skip the scan. A `$SSLYZE`
that names no executable always fails.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store

from tests.pki import Chain, rsa_key, webpki_chain_for
from tests.workload.clients import DOMAIN, request, tls_context
from tests.workload.conftest import Ports
from tests.workload.helpers import with_tls

pytestmark = pytest.mark.workload

log = logging.getLogger(__name__)

SCAN_TIMEOUT = 300  # seconds; a full scan of loopback nginx takes well under a minute

TLS12_SUITES = {
    "ecdsa": {
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
    },
    "rsa": {
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-RSA-CHACHA20-POLY1305",
    },
}
TLS13_SUITES = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}
# Protocol -> (CLI flag, result attribute in the JSON).
PROTOCOLS = {
    "SSL 2.0": ("--sslv2", "ssl_2_0_cipher_suites"),
    "SSL 3.0": ("--sslv3", "ssl_3_0_cipher_suites"),
    "TLS 1.0": ("--tlsv1", "tls_1_0_cipher_suites"),
    "TLS 1.1": ("--tlsv1_1", "tls_1_1_cipher_suites"),
    "TLS 1.2": ("--tlsv1_2", "tls_1_2_cipher_suites"),
    "TLS 1.3": ("--tlsv1_3", "tls_1_3_cipher_suites"),
}
# Every other scan command the test needs: CLI flag -> result attribute.
CHECKS = {
    "--certinfo": "certificate_info",
    "--compression": "tls_compression",
    "--reneg": "session_renegotiation",
    "--heartbleed": "heartbleed",
    "--robot": "robot",
    "--openssl_ccs": "openssl_ccs_injection",
    "--http_headers": "http_headers",
}
ALL_COMMANDS = {**dict(PROTOCOLS.values()), **CHECKS}


@pytest.fixture(scope="session")
def sslyze_cli() -> str:
    """The sslyze >= 6 executable: skip without one locally, fail without one under CI."""
    configured = os.environ.get("SSLYZE")
    if configured:  # asked for explicitly: a wrong path is a mistake, never a skip
        assert os.access(configured, os.X_OK), f"SSLYZE={configured} is not an executable"
    found = configured or shutil.which("sslyze")
    if not found:
        reason = (
            "no sslyze executable (SSLYZE unset, none on PATH): ./run-tests makes one in "
            ".venv-tools/sslyze, or `python3 -m venv V && V/bin/pip install 'sslyze>=6,<7'` "
            "then SSLYZE=V/bin/sslyze"
        )
        if "CI" in os.environ:
            pytest.fail(f"CI must run the TLS scan: {reason}")
        pytest.skip(reason)
    help_text = subprocess.run(
        [found, "--help"], capture_output=True, text=True, timeout=60, check=False
    ).stdout
    version = re.search(r"SSLyze version (\d+)\.", help_text)
    assert version, f"{found} does not look like sslyze:\n{help_text}"
    assert int(version.group(1)) >= 6, f"{found} is sslyze {version.group(1)}.x, needs >= 6"
    return found


def scan(
    sslyze: str, port: int, commands: dict[str, str], out: Path, root_ca: Path | None = None
) -> tuple[dict[str, Any], str]:
    """One sslyze scan of 127.0.0.1:port with SNI = DOMAIN; every command must complete.

    Returns the JSON scan results by attribute (each one's "result") and sslyze's own
    text summary.
    """
    ca_option = [f"--certinfo_ca_file={root_ca}"] if root_ca else []
    completed = subprocess.run(
        [
            sslyze,
            f"--json_out={out}",
            "--mozilla_config=disable",  # the assertions below are the profile checked here
            *sorted(commands),
            *ca_option,
            f"{DOMAIN}:{port}{{127.0.0.1}}",  # host:port{ip}: connect to ip, SNI = host
        ],
        capture_output=True,
        text=True,
        timeout=SCAN_TIMEOUT,
        check=False,
    )
    assert completed.returncode == 0, (
        f"sslyze exited {completed.returncode}:\n{completed.stdout}\n{completed.stderr}"
    )
    document = json.loads(out.read_text())
    assert document["invalid_server_strings"] == []
    (server,) = document["server_scan_results"]
    location = server["server_location"]
    assert (location["hostname"], location["ip_address"], location["port"]) == (
        DOMAIN,
        "127.0.0.1",
        port,
    )
    assert server["scan_status"] == "COMPLETED", server["connectivity_error_trace"]
    results = {}
    for name in commands.values():
        attempt = server["scan_result"][name]
        assert attempt["status"] == "COMPLETED", (
            f"{name} not usable here: {attempt['error_reason']} {attempt['error_trace']}"
        )
        results[name] = attempt["result"]
    return results, completed.stdout


def accepted(results: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {
        protocol: results[name]["accepted_cipher_suites"]
        for protocol, (_, name) in PROTOCOLS.items()
    }


def summary(results: dict[str, Any]) -> str:
    """What the scanner found, in a few lines for the test log."""
    lines = [
        f"  {protocol}: {', '.join(s['cipher_suite']['openssl_name'] for s in found) or 'refused'}"
        for protocol, found in accepted(results).items()
    ]
    deployment = results["certificate_info"]["certificate_deployments"][0]
    renegotiation = results["session_renegotiation"]
    lines += [
        f"  chain: {[c['subject']['rfc4514_string'] for c in deployment['received_certificate_chain']]}",
        f"  compression: {results['tls_compression']['supports_compression']}",
        f"  secure renegotiation: {renegotiation['supports_secure_renegotiation']}",
        f"  client renegotiation DoS: {renegotiation['is_vulnerable_to_client_renegotiation_dos']}",
        f"  heartbleed: {results['heartbleed']['is_vulnerable_to_heartbleed']}",
        f"  ROBOT: {results['robot']['robot_result']}",
        f"  CCS injection: {results['openssl_ccs_injection']['is_vulnerable_to_ccs_injection']}",
        f"  HSTS: {results['http_headers']['strict_transport_security_header']}",
    ]
    return "\n".join(lines)


def certificates(entries: list[dict[str, Any]]) -> list[x509.Certificate]:
    return [x509.load_pem_x509_certificate(entry["as_pem"].encode()) for entry in entries]


@pytest.mark.parametrize("key_type", ["ecdsa", "rsa"])
def test_scanner_finds_only_tls_1_2_and_1_3_with_forward_secret_suites_and_no_weakness(
    sslyze_cli: str,
    front,
    site,
    ports: Ports,
    tmp_path: Path,
    key_type: str,
    capsys: pytest.CaptureFixture,
):
    chain: Chain = webpki_chain_for(DOMAIN, rsa_key() if key_type == "rsa" else None)
    front.apply(with_tls(site, chain, hsts_max_age=31536000))
    root_ca = tmp_path / "root.pem"
    root_ca.write_text(chain.root.cert_pem)

    results, text = scan(sslyze_cli, ports.https, ALL_COMMANDS, tmp_path / "scan.json", root_ca)

    with capsys.disabled():
        print(f"\nsslyze scan, {key_type} certificate:\n{summary(results)}")
    log.info("sslyze scan (%s):\n%s\n%s", key_type, summary(results), text)
    suites = accepted(results)
    for old in ("SSL 2.0", "SSL 3.0", "TLS 1.0", "TLS 1.1"):
        assert suites[old] == [], old
    tls12 = {s["cipher_suite"]["openssl_name"] for s in suites["TLS 1.2"]}
    assert tls12 == TLS12_SUITES[key_type]
    tls13 = {s["cipher_suite"]["name"] for s in suites["TLS 1.3"]}
    assert tls13
    assert tls13 <= TLS13_SUITES
    assert all(s["ephemeral_key"] is not None for s in suites["TLS 1.2"] + suites["TLS 1.3"])
    assert results["tls_compression"]["supports_compression"] is False
    renegotiation = results["session_renegotiation"]
    assert renegotiation["supports_secure_renegotiation"] is True
    assert renegotiation["is_vulnerable_to_client_renegotiation_dos"] is False
    assert results["heartbleed"]["is_vulnerable_to_heartbleed"] is False
    assert results["openssl_ccs_injection"]["is_vulnerable_to_ccs_injection"] is False
    assert results["robot"]["robot_result"] in (
        "NOT_VULNERABLE_NO_ORACLE",
        "NOT_VULNERABLE_RSA_NOT_SUPPORTED",
    )

    info = results["certificate_info"]
    assert info["hostname_used_for_server_name_indication"] == DOMAIN
    (deployment,) = info["certificate_deployments"]
    received = certificates(deployment["received_certificate_chain"])
    assert received == [chain.leaf.cert, chain.intermediate.cert]
    assert deployment["received_chain_has_valid_order"] is True
    # sslyze validated the path against the test root, for the SNI name.
    (validation,) = [
        v
        for v in deployment["path_validation_results"]
        if v["trust_store"]["path"] == str(root_ca)
    ]
    assert validation["was_validation_successful"], validation["validation_error"]
    assert certificates(validation["verified_certificate_chain"]) == [
        chain.leaf.cert,
        chain.intermediate.cert,
        chain.root.cert,
    ]
    # And independently of sslyze: the received chain verifies for the domain.
    verifier = (
        PolicyBuilder().store(Store([chain.root.cert])).build_server_verifier(x509.DNSName(DOMAIN))
    )
    path = verifier.verify(received[0], received[1:])
    assert path == [chain.leaf.cert, chain.intermediate.cert, chain.root.cert]

    hsts = results["http_headers"]["strict_transport_security_header"]
    assert hsts is not None
    assert hsts["max_age"] == 31536000


def test_scanner_sees_no_hsts_header_when_max_age_is_0(
    sslyze_cli: str, front, site, ports: Ports, tmp_path: Path
):
    chain = webpki_chain_for(DOMAIN)
    front.apply(with_tls(site, chain, hsts_max_age=0))

    results, _ = scan(
        sslyze_cli, ports.https, {"--http_headers": "http_headers"}, tmp_path / "scan.json"
    )

    assert results["http_headers"]["strict_transport_security_header"] is None
    response = request(ports.https, context=tls_context(chain.root.cert_pem))
    assert "Strict-Transport-Security" not in response.headers
