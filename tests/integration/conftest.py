"""Integration fixtures: the charm under test, built once or taken from CHARM_PATH."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pytest_operator.plugin import OpsTest


@pytest.fixture(scope="module")
async def charm(ops_test: OpsTest) -> Path:
    """A packed charm: CHARM_PATH when CI built it already, else build it here."""
    if path := os.environ.get("CHARM_PATH"):
        return Path(path)
    return await ops_test.build_charm(".")
