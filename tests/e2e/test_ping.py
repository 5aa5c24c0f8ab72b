"""Scenario: `slipway ping` tells a script when a server it started answers.

The README tour starts `slipway server &` and goes on with `slipway ping
--wait`, instead of a guessed `sleep`; the server writes its first admin
token before it listens, so the token file exists once ping has answered.
"""
import json
import subprocess
import time

from e2eutil import Procs, free_port, slipway_bin


def ping(*args, timeout=30):
    return subprocess.run([slipway_bin(), "ping", *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def test_ping_waits_for_a_server_that_is_starting(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # Nobody listens: asked once, it fails at once, exit 1, naming the URL.
    p = ping("--server", url)
    assert p.returncode == 1 and f"cannot reach '{url}/api/v1/health'" in p.stderr, p.stderr
    # With --wait and still nobody: it gives up after the wait, saying how long it waited.
    t0 = time.monotonic()
    p = ping("--server", url, "--wait", "300ms")
    assert p.returncode == 1 and "no answer within 300ms" in p.stderr, p.stderr
    assert time.monotonic() - t0 < 20
    # Started while ping waits: ping answers once the server does, and the admin token is there by then.
    procs = Procs()
    try:
        waiter = subprocess.Popen([slipway_bin(), "ping", "--server", url, "--wait", "60s", "--output", "json"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.start([slipway_bin(), "server", "--data", tmp_path / "data", "--listen", f"127.0.0.1:{port}"],
                    tmp_path / "server.log")
        out, err = waiter.communicate(timeout=60)
        assert waiter.returncode == 0, err
        doc = json.loads(out)
        assert doc["ok"] is True and doc["server"] == url and doc["version"], doc
        assert (tmp_path / "data" / "admin.token").read_text().strip()
        p = ping("--server", url)
        assert p.returncode == 0 and p.stdout.startswith(f"{url}: ok (slipway "), p.stdout
    finally:
        procs.stop_all()


def test_ping_bad_usage_exits_2():
    p = ping("--wait", "soon", "--server", "http://127.0.0.1:1")
    assert p.returncode == 2 and "--wait: 'soon' is not a duration" in p.stderr, p.stderr
    p = ping("--server", "ftp://127.0.0.1:1")
    assert p.returncode == 2 and "must start with http://" in p.stderr, p.stderr
    p = ping("--wiat", "1s")
    assert p.returncode == 2 and "did you mean '--wait'" in p.stderr, p.stderr
