"""Figures for the nginx front end on loopback: apply costs and HTTPS throughput.

Run: .venv/bin/python bench/frontend.py
Prints numbers only; nothing here asserts on timing.
"""

from __future__ import annotations

import dataclasses
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "src")]

import frontend  # noqa: E402
from tests.pki import chain_for  # noqa: E402
from tests.workload.clients import DOMAIN  # noqa: E402
from tests.workload.harness import NGINX, Backend, FakeService, free_ports, make_layout  # noqa: E402

NOOP_RUNS = 200
CHANGE_RUNS = 20
WRK_DURATION = "5s"
DOWNLOAD_BYTES = 500 * 1024 * 1024


def median_ms(action: Callable[[], object], runs: int) -> float:
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings) * 1000


def wrk(url: str, connections: int) -> str:
    result = subprocess.run(
        ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{WRK_DURATION}", "--latency", url],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return result.stdout


def wrk_figures(output: str) -> str:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"50%\s+(\S+)", output)
    p99 = re.search(r"99%\s+(\S+)", output)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", output)
    found = [m.group(1) if m else "?" for m in (rps, p50, p99)]
    extra = f", errors: {errors.group(0)}" if errors else ""
    return f"{found[0]} req/s, p50 {found[1]}, p99 {found[2]}{extra}"


def download_mb_per_s(port: int, root_pem: Path) -> float:
    result = subprocess.run(
        ["curl", "-sS", "--fail", "--cacert", str(root_pem),
         "--resolve", f"{DOMAIN}:{port}:127.0.0.1", "-o", "/dev/null",
         "-w", "%{speed_download}", f"https://{DOMAIN}:{port}/download?size={DOWNLOAD_BYTES}"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return float(result.stdout) / 1e6


def main() -> None:
    chain = chain_for(DOMAIN)
    tls = frontend.TLSFiles(chain_pem=chain.fullchain_pem, key_pem=chain.leaf.key_pem())
    with tempfile.TemporaryDirectory() as tmp, Backend() as backend:
        layout = make_layout(Path(tmp))
        service = FakeService(layout)
        front = frontend.Frontend(layout, service, nginx=NGINX)
        http_port, https_port = free_ports(2)
        site = frontend.SiteConfig(
            domain=DOMAIN, backend_port=backend.port, tls=tls, http_port=http_port,
            https_port=https_port, listen_address="127.0.0.1",
        )  # fmt: skip
        try:
            front.apply(site)
            sites = [dataclasses.replace(site, hsts_max_age=age) for age in (0, 600)]
            flips = iter(sites * CHANGE_RUNS)
            print(f"nginx workers: {len(os.sched_getaffinity(0))} CPUs, worker_processes auto")
            print(
                f"no-op apply (median of {NOOP_RUNS}): {median_ms(lambda: front.apply(site), NOOP_RUNS):.2f} ms"
            )
            changing = median_ms(lambda: front.apply(next(flips)), CHANGE_RUNS)
            print(
                f"changing apply, render+check+swap+reload (median of {CHANGE_RUNS}): {changing:.1f} ms"
            )
            check = [NGINX, "-t", "-q", "-c", str(layout.config_file)]
            nginx_t = median_ms(lambda: subprocess.run(check, check=True), CHANGE_RUNS)
            print(f"  of which nginx -t alone (median of {CHANGE_RUNS}): {nginx_t:.1f} ms")
            url = f"https://127.0.0.1:{https_port}/echo"
            for connections in (1, 32):
                print(f"wrk HTTPS /echo via the Python stand-in store, {connections} conn, {WRK_DURATION}: "
                      f"{wrk_figures(wrk(url, connections))}")  # fmt: skip
            root_pem = Path(tmp) / "root.pem"
            root_pem.write_text(chain.root.cert_pem)
            mb = DOWNLOAD_BYTES // (1024 * 1024)
            print(
                f"{mb} MiB HTTPS download (curl): {download_mb_per_s(https_port, root_pem):.0f} MB/s"
            )
        finally:
            service.stop()


if __name__ == "__main__":
    main()
