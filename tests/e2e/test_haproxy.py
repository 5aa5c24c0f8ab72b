"""Scenario: Slipway's HAProxy runtime API client against a real haproxy.

The test starts, on 127.0.0.1 only and in its own tmp dir:
  - 3 small HTTP servers (examples/hello/build/hello --port N when it is
    built, else a Python http.server that answers its own name),
  - haproxy (Debian 2.6) with an admin socket <tmp>/admin.sock, a second
    admin socket on ipv4@127.0.0.1:<free port>, a frontend on a free port and
    a backend `web` with the 3 servers under `balance random` (why random:
    see docs/traffic.md and test_balance_modes below),
and then runs the cmocka binary build/<B>/tests/test_haproxy with
SLIPWAY_HAPROXY_* set, which makes its "haproxy_e2e" group run instead of
skip: the C client itself is exercised, no slipway command is involved.
The binary is found beside $SLIPWAY_BIN (<B>/tests/test_haproxy), or at
$SLIPWAY_HAPROXY_TEST; it is built with make when missing.

Every process is killed at teardown; every loop and wait is bounded.
"""
import collections
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from e2eutil import free_port, haproxy_cmd, wait_listening

ROOT = Path(__file__).resolve().parents[2]
HELLO = ROOT / "examples" / "hello" / "build" / "hello"

PY_SERVER = r"""
import http.server, sys
name = sys.argv[2].encode()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def do_GET(self):
        code = 500 if self.path == "/fail" else 200
        self.send_response(code)
        self.send_header("Content-Length", str(len(name)))
        self.end_headers()
        self.wfile.write(name)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""




def http_get(port, path="/"):
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.settimeout(2)
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: t\r\n\r\n".encode())
        out = b""
        while True:
            d = s.recv(4096)
            if not d:
                break
            out += d
    head, _, body = out.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode(errors="replace")


class Procs:
    def __init__(self):
        self.procs = []

    def start(self, argv, **kw):
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)
        self.procs.append(p)
        return p

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
            if p.stderr:
                p.stderr.close()


def haproxy_bin():
    h = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not os.path.exists(h):
        pytest.fail("haproxy is not installed: run scripts/install-deps.sh (make deps)")
    return h


def start_backends(procs, n, use_hello=True):
    """n servers on free ports; returns [(name, port)]."""
    out = []
    for i in range(n):
        port = free_port()
        name = f"s{i + 1}"
        if use_hello and os.access(HELLO, os.X_OK):
            procs.start([str(HELLO), "--port", str(port)])
        else:
            procs.start([sys.executable, "-c", PY_SERVER, str(port), name])
        out.append((name, port))
    for _, port in out:
        wait_listening(port)
    return out


def start_haproxy(procs, tmp, balance, servers, tcp_port=None, check=True):
    sock = tmp / "admin.sock"
    fe_port = free_port()
    lines = [
        "global",
        f"    stats socket {sock} mode 600 level admin",
    ]
    if tcp_port:
        lines.append(f"    stats socket ipv4@127.0.0.1:{tcp_port} level admin")
    lines += [
        "    stats timeout 10s",
        "defaults",
        "    mode http",
        "    timeout connect 1s",
        "    timeout client 5s",
        "    timeout server 5s",
        "frontend fe",
        f"    bind 127.0.0.1:{fe_port}",
        "    default_backend web",
        "backend web",
        f"    balance {balance}",
    ]
    if check:
        lines.append("    option httpchk GET /healthz")
    for name, port in servers:
        lines.append(f"    server {name} 127.0.0.1:{port} weight 10" + (" check inter 200ms" if check else ""))
    cfg = tmp / "haproxy.cfg"
    cfg.write_text("\n".join(lines) + "\n")
    subprocess.run([haproxy_bin(), "-c", "-q", "-f", str(cfg)], check=True, timeout=10)
    p = procs.start([haproxy_bin(), "-db", "-f", str(cfg)])
    end = time.monotonic() + 10
    while True:
        assert p.poll() is None, f"haproxy exited: {p.stderr.read().decode()}"
        try:
            stat = haproxy_cmd(sock, "show stat web -1 -1")
            rows = [l.split(",") for l in stat.splitlines()[1:] if l.startswith("web,s")]
            if len(rows) == len(servers) and all(r[17].startswith("UP") or r[17] == "no check" for r in rows):
                break
        except OSError:
            pass
        assert time.monotonic() < end, "haproxy servers did not come UP within 10 s"
        time.sleep(0.05)
    return sock, fe_port


def unit_binary():
    explicit = os.environ.get("SLIPWAY_HAPROXY_TEST")
    if explicit:
        return Path(explicit)
    bdir = Path(os.environ.get("SLIPWAY_BIN") or ROOT / "build" / "slipway").resolve().parent
    b = bdir / "tests" / "test_haproxy"
    if not b.exists():
        subprocess.run(["make", "-C", str(ROOT), f"B={bdir}", str(b)], check=True, timeout=900,
                       stdout=subprocess.DEVNULL)
    return b


@pytest.fixture
def lb(tmp_path):
    procs = Procs()
    try:
        servers = start_backends(procs, 3)
        tcp_port = free_port()
        sock, fe_port = start_haproxy(procs, tmp_path, "random", servers, tcp_port=tcp_port)
        yield {"sock": sock, "tcp": f"ipv4@127.0.0.1:{tcp_port}", "fe": fe_port,
               "servers": [n for n, _ in servers], "tmp": tmp_path}
    finally:
        procs.stop()


def test_client_against_real_haproxy(lb):
    """The cmocka "haproxy_e2e" group (8 scenarios) against this haproxy."""
    env = dict(os.environ)
    env.update({
        "SLIPWAY_HAPROXY_SOCKET": str(lb["sock"]),
        "SLIPWAY_HAPROXY_TCP": lb["tcp"],
        "SLIPWAY_HAPROXY_BACKEND": "web",
        "SLIPWAY_HAPROXY_SERVERS": ",".join(lb["servers"]),
        "SLIPWAY_HAPROXY_FRONTEND": f"127.0.0.1:{lb['fe']}",
        "SLIPWAY_TEST_DATA": str(ROOT / "tests" / "data"),
    })
    p = subprocess.run([str(unit_binary())], env=env, cwd=str(ROOT), capture_output=True, text=True,
                       timeout=180)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    assert "SKIPPED" not in out, out
    assert out.count("[       OK ] e2e_") == 8, out
    for line in out.splitlines():
        if line.startswith("MEASURE "):
            print(line)


def test_runtime_api_answers_match_recordings(lb):
    """The recorded answers in tests/data/haproxy/ still look like this haproxy's."""
    data = ROOT / "tests" / "data" / "haproxy"
    live = haproxy_cmd(lb["sock"], "show stat web -1 -1")
    rec = (data / "show_stat_checkout.csv").read_text()
    assert live.splitlines()[0] == rec.splitlines()[0]  # same CSV header, same version
    assert live.endswith(",\n\n") and rec.endswith(",\n\n")
    live = haproxy_cmd(lb["sock"], "show servers state web")
    rec = (data / "servers_state_checkout.txt").read_text()
    assert live.splitlines()[:2] == rec.splitlines()[:2]
    assert haproxy_cmd(lb["sock"], "set server web/nope weight 1") == (data / "err_no_such_server.txt").read_text()
    assert haproxy_cmd(lb["sock"], "show stat nope -1 -1") == (data / "err_no_such_proxy.txt").read_text()


def measure_balance(tmp, balance, procs):
    """Weights 100/1 for 200 requests, then 10/90: where do the next requests go?

    This history is the one that makes roundrobin starve the lowered server
    on HAProxy 2.6 (measured: the first request reaches it after ~1200).
    """
    servers = start_backends(procs, 2, use_hello=False)  # Python servers answer their name
    sock, fe = start_haproxy(procs, tmp, balance, servers, check=False)
    r1 = haproxy_cmd(sock, "set server web/s1 weight 100")
    haproxy_cmd(sock, "set server web/s2 weight 1")
    for _ in range(200):
        http_get(fe)
    a1 = haproxy_cmd(sock, "set server web/s1 weight 10")
    a2 = haproxy_cmd(sock, "set server web/s2 weight 90")
    seq = []
    for _ in range(1500):  # bounded; stops once s1 is seen after the first 400
        seq.append(http_get(fe)[1])
        if len(seq) >= 400 and "s1" in seq:
            break
    c = collections.Counter(seq[:400])
    first = seq.index("s1") if "s1" in seq else None
    return {"answers": (r1, a1, a2), "s1": c["s1"], "s2": c["s2"], "first_s1": first}


@pytest.mark.parametrize("balance", ["random", "static-rr", "roundrobin"])
def test_balance_modes(tmp_path, balance):
    """Which balance mode honours a runtime weight change at once (docs/traffic.md)."""
    procs = Procs()
    try:
        m = measure_balance(tmp_path, balance, procs)
    finally:
        procs.stop()
    print(f"MEASURE balance {balance}: after 100/1 x200 -> 10/90, s1 got {m['s1']}/400 "
          f"(10% = 40 expected), first s1 at request {m['first_s1']}, answers {m['answers']!r}")
    if balance == "random":
        assert all(a.strip() == "" for a in m["answers"])
        assert 20 <= m["s1"] <= 60  # 10% of 400 +- 5 points (sd 1.5 points)
        assert m["first_s1"] is not None and m["first_s1"] < 60
    elif balance == "static-rr":
        # static-rr refuses any weight but 0%/100%; traffic stays as configured (10/10)
        assert "static LB algorithm" in m["answers"][0]
        assert 160 <= m["s1"] <= 240
    else:
        # roundrobin accepts the change, but on HAProxy 2.6 the lowered
        # server may get nothing for hundreds of requests (printed above,
        # documented in docs/traffic.md); only acceptance is asserted.
        assert all(a.strip() == "" for a in m["answers"])
        assert m["s1"] + m["s2"] == 400
