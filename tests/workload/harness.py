"""A real nginx and a stand-in store on loopback, shared by the workload tests and the bench."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import frontend

NGINX = "/usr/sbin/nginx"
CHUNK = b"\0" * (256 * 1024)
WAIT_SECONDS = 10.0


def wait_until(condition: Callable[[], bool], timeout: float = WAIT_SECONDS) -> bool:
    """Poll `condition` until true or `timeout`; bounded, never spins forever."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def free_ports(count: int) -> list[int]:
    """Ports free on loopback now, all different: each is held until all are chosen."""
    with contextlib.ExitStack() as held:
        probes = [held.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]


def alive(pid: int) -> bool:
    """True for a live process; a zombie nobody reaped counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):  # gone, or going while read
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry.name))
    return found


class FakeService:
    """Behaves like systemd at the Service interface, driving nginx directly."""

    def __init__(self, layout: frontend.Layout, nginx: str = NGINX) -> None:
        self.layout = layout
        self.nginx = nginx
        self.starts = 0
        self.reloads = 0
        self.error_log = frontend.ErrorLog(layout.error_log)

    def master_pid(self) -> int | None:
        try:
            return int(self.layout.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None

    def is_running(self) -> bool:
        pid = self.master_pid()
        return pid is not None and alive(pid)

    def start(self) -> None:
        self.starts += 1
        config = str(self.layout.config_file)
        result = subprocess.run([self.nginx, "-c", config], capture_output=True, text=True)
        if result.returncode != 0:
            reason = frontend.parse_nginx_error(result.stderr)
            raise frontend.ServiceFailed(f"nginx start failed: {reason}", reason=reason)
        if not wait_until(self.is_running):
            raise frontend.ServiceFailed("nginx start failed: no pid file")

    def reload(self) -> None:
        """Signal a reload, then wait until new workers replace the old ones, as systemd would not."""
        self.reloads += 1
        master = self.master_pid()
        assert master is not None
        old_workers = children(master)
        mark = self.error_log.mark()
        config = str(self.layout.config_file)
        subprocess.run([self.nginx, "-c", config, "-s", "reload"], check=True, capture_output=True)
        # New workers mean the reload took; an error logged since the mark means it did not.
        if (
            not wait_until(
                lambda: (
                    bool(children(master) - old_workers) or bool(self.error_log.error_since(mark))
                )
            )
            or not children(master) - old_workers
        ):
            reason = self.error_log.error_since(mark)
            raise frontend.ServiceFailed(f"nginx reload failed: {reason}", reason=reason)
        # Old workers finish their requests, then close their copies of the listeners: until
        # then they may answer a new connection, or hold a port the next config drops.
        wait_until(lambda: not any(map(alive, old_workers)))

    def stop(self) -> None:
        """Graceful stop (SIGQUIT), as systemd's KillSignal; SIGKILL the group if it lingers."""
        pid = self.master_pid()
        if pid is None or not alive(pid):
            return
        workers = children(pid)
        os.kill(pid, signal.SIGQUIT)
        if not wait_until(lambda: not alive(pid) and not any(map(alive, workers))):
            for leftover in (pid, *workers):
                if alive(leftover):
                    os.kill(leftover, signal.SIGKILL)

    def kill(self) -> None:
        """SIGKILL the master and its workers at once, as an OOM killer or a crash would."""
        pid = self.master_pid()
        if pid is None or not alive(pid):
            return
        victims = (pid, *children(pid))
        for victim in victims:
            os.kill(victim, signal.SIGKILL)
        if not wait_until(lambda: not any(map(alive, victims))):
            raise AssertionError(f"nginx processes {victims} survived SIGKILL")


class _StoreHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # so nginx can keep upstream connections alive
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid 40 ms stalls

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/echo":
            self._send_json({"path": self.path, "headers": list(self.headers.items())})
        elif url.path == "/download":
            self._stream(int(parse_qs(url.query)["size"][0]))
        elif url.path == "/_status/check":
            self._send(b"OK", "text/plain")
        elif url.path == "/v2/auth/store/assertions":
            self._send(self._store_assertion(), "application/x.ubuntu.assertion")
        else:
            self._send_json({"path": self.path})

    def _store_assertion(self) -> bytes:
        """Name the URL devices should use, as the proxy does.

        It builds it from Host and, since it trusts the front end, X-Forwarded-Proto.
        """
        scheme = self.headers.get("X-Forwarded-Proto", "http")
        url = f"{scheme}://{self.headers['Host']}"
        return f"type: store\nstore: STORE-ID-1\nurl: {url}\n\nSIGNATURE\n".encode()

    def _send(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_json(self, payload: object) -> None:
        self._send(json.dumps(payload).encode(), "application/json")

    def _stream(self, size: int) -> None:
        """Send `size` bytes a chunk at a time: memory stays flat whatever the size."""
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        remaining = size
        while remaining > 0:
            chunk = CHUNK[: min(remaining, len(CHUNK))]
            self.wfile.write(chunk)
            remaining -= len(chunk)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output readable


class _StoreServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 drops SYNs under load: 1 s retransmit stalls

    def handle_error(self, request: object, client_address: object) -> None:
        # A load generator hanging up mid-response is expected, not an error worth a trace.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class Backend:
    """The stand-in snap store: threaded HTTP on 127.0.0.1."""

    def __init__(self) -> None:
        self.server = _StoreServer(("127.0.0.1", 0), _StoreHandler)
        self.port: int = self.server.server_address[1]
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> Backend:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=WAIT_SECONDS)


def make_layout(base: Path) -> frontend.Layout:
    return frontend.Layout(root=base / "root", run_dir=base / "run", log_dir=base / "log")
