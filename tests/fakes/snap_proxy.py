#!/usr/bin/env python3
"""A fake `snap-proxy` CLI: the subset of the Snap Store Proxy's command line the charm uses.

Run it as `[sys.executable, str(SCRIPT)]`. Its state lives in the JSON file named by
FAKE_SNAP_PROXY_STATE: `{"config": {key: value}, "calls": [argv, ...]}`, where each argv
is the arguments after the program name. Every invocation is recorded, failed ones too.

    snap-proxy config <key>            prints the value (an empty line when unset)
    snap-proxy config k1=v1 k2=v2 ...  sets the values
    snap-proxy status                  prints the state's "status" text (see `status_text`)

FAKE_SNAP_PROXY_FAIL="message" makes it print the message on stderr and exit 1;
FAKE_SNAP_PROXY_FAIL_ON="get" or "set" limits that to reads or writes.

Tests import the helpers below; the script itself uses only the standard library.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve()
STATE_ENV = "FAKE_SNAP_PROXY_STATE"
FAIL_ENV = "FAKE_SNAP_PROXY_FAIL"
FAIL_ON_ENV = "FAKE_SNAP_PROXY_FAIL_ON"


SERVICES = ("memcached", "nginx", "snapauth", "snapdevicegw", "snapdevicegw-local",
            "snapproxy", "snaprevs")  # fmt: skip


def status_text(
    store_id: str | None = None, *, database: str = "ok", stopped: tuple[str, ...] = ()
) -> str:
    """Render `snap-proxy status` output: `Key: value` lines, services indented."""
    lines = [
        f"Store ID: {store_id or 'not registered'}",
        f"Database: {database}",
        "Internal Service Status:",
        *(f"  {name}: {'not running' if name in stopped else 'running'}" for name in SERVICES),
    ]
    return "\n".join(lines) + "\n"


def set_status(path: Path, text: str) -> None:
    state = read_state(path)
    state["status"] = text
    write_state(path, state)


def command() -> list[str]:
    """Return the argv prefix that runs this fake, usable as `Store(snap_proxy=command())`."""
    return [sys.executable, str(SCRIPT)]


def read_state(path: Path) -> dict[str, Any]:
    """Read the fake's state; empty config and no calls when the file does not exist yet."""
    if not path.exists():
        return {"config": {}, "calls": []}
    return json.loads(path.read_text())


def write_state(path: Path, state: dict[str, Any]) -> None:
    path.write_text(json.dumps(state, indent=2))


def set_calls(path: Path) -> list[list[str]]:
    """List the recorded `config k=v ...` invocations, in order."""
    return [
        call for call in read_state(path)["calls"] if call[:1] == ["config"] and _is_set(call[1:])
    ]


def _is_set(args: list[str]) -> bool:
    return bool(args) and all("=" in arg for arg in args)


def _fail(message: str, code: int = 1) -> int:
    print(message, file=sys.stderr)
    return code


def _should_fail(args: list[str]) -> bool:
    fail_on = os.environ.get(FAIL_ON_ENV, "")
    if FAIL_ENV not in os.environ:
        return False
    return not fail_on or fail_on == ("set" if _is_set(args) else "get")


def _config(state: dict[str, Any], args: list[str]) -> int:
    if _should_fail(args):
        return _fail(os.environ[FAIL_ENV])
    if _is_set(args):
        for arg in args:
            key, _, value = arg.partition("=")
            state["config"][key] = value
        return 0
    if len(args) == 1:
        print(state["config"].get(args[0], ""))
        return 0
    return _fail("error: expected one key, or key=value pairs", code=2)


def main(argv: list[str]) -> int:
    path = Path(os.environ[STATE_ENV])
    state = read_state(path)
    state["calls"].append(argv)
    try:
        if argv[:1] == ["config"]:
            return _config(state, argv[1:])
        if argv == ["status"]:
            if _should_fail(argv):
                return _fail(os.environ[FAIL_ENV])
            print(state.get("status", status_text()), end="")
            return 0
        return _fail(f"error: unsupported by the fake: {argv}", code=2)
    finally:
        write_state(path, state)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
