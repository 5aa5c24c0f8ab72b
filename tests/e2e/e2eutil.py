"""Small helpers the scenario tests share: the binary under test, free
loopback ports, bounded waits, and one HAProxy runtime API command. Every wait has a deadline and ends in an
AssertionError naming what it waited for."""
import os
import socket
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def slipway_bin():
    return os.environ.get("SLIPWAY_BIN") or str(ROOT / "build" / "slipway")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, timeout=20.0, what="condition", step=0.05):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def wait_listening(port, deadline_s=10.0):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {deadline_s}s")


def haproxy_cmd(sock, command, timeout=2.0):
    """One HAProxy runtime API command, non-interactive, straight over the admin socket; its answer."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(str(sock))
        s.sendall(command.encode() + b"\n")
        out = b""
        while True:
            d = s.recv(65536)
            if not d:
                return out.decode()
            out += d
