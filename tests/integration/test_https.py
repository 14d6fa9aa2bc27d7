"""HTTPS end to end on a real Juju controller: a provider's certificate, then an imported one.

Run with `tox -e integration` where a controller is bootstrapped (machine cloud, e.g. LXD).
"""

from __future__ import annotations

import logging
import shlex
from pathlib import Path

import pytest
from pytest_operator.plugin import OpsTest

from tests.pki import chain_for

logger = logging.getLogger(__name__)

APP = "snap-store-proxy"
PROVIDER = "self-signed-certificates"
DATABASE = "postgresql"
DOMAIN = "snaps.example.internal"


async def unit_run(ops_test: OpsTest, unit: str, command: str) -> str:
    """Run a shell command on a unit and return its stdout, failing on a non-zero exit."""
    code, stdout, stderr = await ops_test.juju("exec", "--unit", unit, "--", "sh", "-c", command)
    assert code == 0, f"{command!r} failed on {unit}: {stderr}"
    return stdout


async def https_status_from_unit(ops_test: OpsTest, unit: str, ca_pem: str) -> str:
    """Fetch https://DOMAIN/ on the unit itself, verifying the served chain against ca_pem."""
    ca = shlex.quote(ca_pem)
    command = (
        f"printf '%s' {ca} > /tmp/test-ca.pem && "
        f"curl -sS -o /dev/null -w '%{{http_code}}' --cacert /tmp/test-ca.pem "
        f"--resolve {DOMAIN}:443:127.0.0.1 https://{DOMAIN}/"
    )
    return (await unit_run(ops_test, unit, command)).strip()


@pytest.mark.abort_on_fail
async def test_provider_certificate_serves_https(ops_test: OpsTest, charm: Path):
    assert ops_test.model is not None
    await ops_test.model.deploy(charm, application_name=APP, config={"domain": DOMAIN})
    await ops_test.model.deploy(
        DATABASE, channel="14/stable", config={"plugin_btree_gist_enable": True}
    )
    await ops_test.model.deploy(PROVIDER, channel="1/stable")
    await ops_test.model.integrate(f"{APP}:database", DATABASE)
    await ops_test.model.integrate(f"{APP}:certificates", f"{PROVIDER}:certificates")
    await ops_test.model.wait_for_idle(
        apps=[APP, DATABASE, PROVIDER], status="active", timeout=3600
    )

    unit = ops_test.model.applications[APP].units[0]
    assert unit.workload_status_message.startswith(f"HTTPS enabled for {DOMAIN}")
    action = await ops_test.model.applications[PROVIDER].units[0].run_action("get-ca-certificate")
    ca = (await action.wait()).results["ca-certificate"]
    # Any HTTP answer proves the TLS handshake verified; an unregistered store may not be ready.
    assert await https_status_from_unit(ops_test, unit.name, ca) != "000"


async def test_status_action_reports_the_store_and_https(ops_test: OpsTest):
    assert ops_test.model is not None
    unit = ops_test.model.applications[APP].units[0]

    result = await (await unit.run_action("status")).wait()

    assert result.status == "completed", result.message
    assert result.results["database"] == "ok"
    assert result.results["store-id"]  # "not registered" until snap-proxy register is run
    assert result.results["https"]["source"] == PROVIDER


@pytest.mark.abort_on_fail
async def test_imported_certificate_serves_https(ops_test: OpsTest):
    assert ops_test.model is not None
    await ops_test.model.applications[APP].remove_relation(
        f"{APP}:certificates", f"{PROVIDER}:certificates"
    )
    await ops_test.model.wait_for_idle(apps=[APP], status="active", timeout=600)
    chain = chain_for(DOMAIN)
    unit = ops_test.model.applications[APP].units[0]

    action = await unit.run_action(
        "import-certificate", certificate=chain.fullchain_pem, key=chain.leaf.key_pem()
    )
    result = await action.wait()

    assert result.status == "completed", result.message
    assert result.results["subject"] == f"CN={DOMAIN}"
    await ops_test.model.wait_for_idle(apps=[APP], status="active", timeout=600)
    assert unit.workload_status_message.startswith(f"HTTPS enabled for {DOMAIN}")
    assert await https_status_from_unit(ops_test, unit.name, chain.root.cert_pem) != "000"
