"""Settings shared by every test directory: the hypothesis profiles.

`HYPOTHESIS_PROFILE` picks one (default "ci"):
- "ci": 2,000 examples per property, derandomized so a run is repeatable, no deadline;
- "dev": 100 examples, for a quick local loop;
- "deep": 20,000 random examples, to hunt locally.
`FUZZ_EXAMPLES=<n>` overrides the chosen profile's number of examples, e.g.
`FUZZ_EXAMPLES=50000 pytest tests/unit/test_fuzz.py`. A test that sets its own
`@settings(max_examples=...)` keeps its own number.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest


def _load_hypothesis_profile() -> None:
    try:
        from hypothesis import HealthCheck, settings
    except ImportError:  # the integration environment does not install hypothesis
        return
    quiet = [HealthCheck.too_slow]
    settings.register_profile(
        "ci",
        max_examples=2000,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=quiet,
    )
    settings.register_profile("dev", max_examples=100, deadline=None, suppress_health_check=quiet)
    settings.register_profile(
        "deep", max_examples=20_000, deadline=None, suppress_health_check=quiet
    )
    chosen = os.environ.get("HYPOTHESIS_PROFILE", "ci")
    examples = os.environ.get("FUZZ_EXAMPLES")
    if examples:
        settings.register_profile(
            f"{chosen}-fuzz-examples",
            parent=settings.get_profile(chosen),
            max_examples=int(examples),
        )
        chosen = f"{chosen}-fuzz-examples"
    settings.load_profile(chosen)


_load_hypothesis_profile()


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every log record at DEBUG and up, from every logger, for the leak tests."""
    from tests.leaks import debug_logs_everywhere

    yield debug_logs_everywhere(caplog)
    for logger in logging.root.manager.loggerDict.values():
        if isinstance(logger, logging.Logger) and caplog.handler in logger.handlers:
            logger.removeHandler(caplog.handler)
