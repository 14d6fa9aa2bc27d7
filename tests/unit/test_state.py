"""Config options parsed into one validated value."""

from __future__ import annotations

import pytest

from state import CharmConfig, InvalidConfig, parse_domain


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("snaps.example.internal", "snaps.example.internal"),
        ("Snaps.Example.Internal.", "snaps.example.internal"),
        ("proxy", "proxy"),
        ("a-b.c1.example", "a-b.c1.example"),
        ("x" * 63 + ".example", "x" * 63 + ".example"),
    ],
)
def test_valid_domain_is_canonicalised(given: str, expected: str):
    assert parse_domain(given) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "-leading.example",
        "trailing-.example",
        "a..b",
        "under_score.example",
        "x" * 64 + ".example",
        ".".join(["a" * 50] * 5),  # 254 characters
        "10.0.0.1",
        "snaps.example;}",
        "snaps.example\nlisten 81",
        "snaps\n.example",
        "sn\u00e4ps.example",
        "$host",
        "*.example",
    ],
)
def test_invalid_domain_is_refused_naming_the_value(bad: str):
    with pytest.raises(InvalidConfig) as error:
        parse_domain(bad)

    assert error.value.option == "domain"
    assert "is not a valid DNS name" in error.value.problem


@pytest.mark.parametrize("empty", ["", "   ", None])
def test_missing_domain_asks_for_it(empty: object):
    with pytest.raises(InvalidConfig) as error:
        parse_domain(empty)

    assert error.value.message("proxy") == "set the domain: juju config proxy domain=<fqdn>"


def test_long_bad_domain_is_shortened_in_the_message():
    with pytest.raises(InvalidConfig) as error:
        parse_domain("y" * 300)

    assert len(error.value.problem) < 100


def test_defaults_need_no_change_beyond_the_domain():
    config = CharmConfig(domain="snaps.example.internal")

    assert (config.hsts_max_age, config.channel, config.internal_port) == (0, "stable", 8080)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("hsts_max_age", -1),
        ("hsts_max_age", 10**12),
        ("hsts_max_age", True),
        ("hsts_max_age", "31536000"),
        ("internal_port", 80),
        ("internal_port", 8000),  # the proxy's own snapdevicegw
        ("internal_port", 11211),  # the proxy's own memcached
        ("internal_port", 70000),
        ("channel", "stable; rm -rf /"),
        ("channel", "latest/nightly"),
        ("channel", ""),
        ("channel", "stable\n"),
    ],
)
def test_out_of_range_or_wrong_type_option_is_refused_naming_it(option: str, value: object):
    with pytest.raises(InvalidConfig) as error:
        CharmConfig(domain="snaps.example.internal", **{option: value})  # type: ignore[arg-type]

    assert error.value.option == option.replace("_", "-")
    assert f"juju config app {error.value.option}=" in error.value.message("app")


@pytest.mark.parametrize("channel", ["stable", "edge", "latest/stable", "2.x/candidate/hotfix-1"])
def test_snap_channels_are_accepted(channel: str):
    assert CharmConfig(domain="snaps.example.internal", channel=channel).channel == channel
