"""Scenario: the analysis library (src/analysis/) against real peers.

The analysis layer is a library (the canary strategy will call it), so this
file starts the real peers and runs the cmocka binary <B>/tests/test_analysis
with SLIPWAY_ANALYSIS_* set, which makes its "analysis_e2e" group run instead
of skip. Started on 127.0.0.1 only, in a tmp dir, all killed at teardown:

  - four examples/hello instances (built with `make -C examples/hello` when
    missing): `stable`, `good`, `bad` (HELLO_ERROR_RATE=0.5: every second
    request answers 500) and `slow` (HELLO_DELAY_MS=400);
  - haproxy (Debian) in front of them: backend `web`, `balance random`,
    health checks on /healthz, an admin socket (the test sets the weights);
  - prometheus (Debian) scraping the four /metrics every second;
  - a tiny Python server that answers garbage where Prometheus's API should be;
  - an address where nothing listens (Prometheus "down").

Scenarios (in the C binary): a healthy canary is a haproxy success; a canary
failing half its requests is a failure with error_rate ~0.5; a canary slowed
to 400 ms is a failure of a histogram_quantile query through the prometheus
provider; Prometheus down is an "error" counted against inconclusive_limit
and never a success, and garbage is an "error" too. This file also checks
that the recorded answers in tests/data/prometheus/ still match the live
Prometheus. Every wait is bounded.
"""
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from e2eutil import free_port, haproxy_cmd, wait_listening

ROOT = Path(__file__).resolve().parents[2]
HELLO = ROOT / "examples" / "hello" / "build" / "hello"
INSTANCES = {  # name -> fault injection
    "stable": {},
    "good": {},
    "bad": {"HELLO_ERROR_RATE": "0.5"},
    "slow": {"HELLO_DELAY_MS": "400"},
}

JUNK_SERVER = r"""
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<html><body>this is not prometheus {\"status\": </body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""

NO_PROXY_ENV = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")




def http_get(url, timeout=5.0):
    """GET without any proxy; (status, body bytes)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def prom_query(base, query):
    return http_get(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": query}))


class Procs:
    def __init__(self):
        self.procs = []

    def start(self, argv, env=None, **kw):
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, **kw)
        self.procs.append(p)
        return p

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
            if p.stderr:
                p.stderr.close()


def tool(name, fallback):
    path = shutil.which(name) or fallback
    if not os.path.exists(path):
        pytest.fail(f"{name} is not installed: run scripts/install-deps.sh (make deps)")
    return path


def hello_binary():
    if not os.access(HELLO, os.X_OK):
        subprocess.run(["make", "-C", str(ROOT / "examples" / "hello")], check=True, timeout=300,
                       stdout=subprocess.DEVNULL)
    return HELLO


def unit_binary():
    explicit = os.environ.get("SLIPWAY_ANALYSIS_TEST")
    if explicit:
        return Path(explicit)
    bdir = Path(os.environ.get("SLIPWAY_BIN") or ROOT / "build" / "slipway").resolve().parent
    b = bdir / "tests" / "test_analysis"
    if not b.exists():
        subprocess.run(["make", "-C", str(ROOT), f"B={bdir}", str(b)], check=True, timeout=900,
                       stdout=subprocess.DEVNULL)
    return b


def start_haproxy(procs, tmp, servers):
    sock = tmp / "admin.sock"
    fe_port = free_port()
    lines = [
        "global",
        f"    stats socket {sock} mode 600 level admin",
        "defaults",
        "    mode http",
        "    timeout connect 1s",
        "    timeout client 10s",
        "    timeout server 10s",
        "frontend fe",
        f"    bind 127.0.0.1:{fe_port}",
        "    default_backend web",
        "backend web",
        "    balance random",
        "    option httpchk GET /healthz",
    ]
    for name, port in servers.items():
        lines.append(f"    server {name} 127.0.0.1:{port} weight 10 check inter 200ms")
    cfg = tmp / "haproxy.cfg"
    cfg.write_text("\n".join(lines) + "\n")
    haproxy = tool("haproxy", "/usr/sbin/haproxy")
    subprocess.run([haproxy, "-c", "-q", "-f", str(cfg)], check=True, timeout=10)
    p = procs.start([haproxy, "-db", "-f", str(cfg)])
    end = time.monotonic() + 10
    while True:
        assert p.poll() is None, f"haproxy exited: {p.stderr.read().decode()}"
        try:
            rows = [l.split(",") for l in haproxy_cmd(sock, "show stat web -1 -1").splitlines()[1:]
                    if l.startswith("web,") and not l.startswith("web,BACKEND")]
            if len(rows) == len(servers) and all(r[17].startswith("UP") for r in rows):
                break
        except OSError:
            pass
        assert time.monotonic() < end, "haproxy servers did not come UP within 10 s"
        time.sleep(0.05)
    return sock, fe_port


def start_prometheus(procs, tmp, targets):
    port = free_port()
    cfg = tmp / "prometheus.yml"
    cfg.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: hello\n    static_configs:\n"
        f"      - targets: [{', '.join(repr(t) for t in targets)}]\n")
    prom = tool("prometheus", "/usr/bin/prometheus")
    p = procs.start([prom, f"--config.file={cfg}", f"--storage.tsdb.path={tmp / 'prometheus-data'}",
                     f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"], cwd=str(tmp))
    base = f"http://127.0.0.1:{port}"
    end = time.monotonic() + 30
    while True:
        assert p.poll() is None, f"prometheus exited: {p.stderr.read().decode()[-2000:]}"
        try:
            status, body = prom_query(base, "sum(up)")
            if status == 200:
                res = json.loads(body)["data"]["result"]
                if res and float(res[0]["value"][1]) == len(targets):
                    break
        except (OSError, ValueError, KeyError):
            pass
        assert time.monotonic() < end, "prometheus did not scrape every target within 30 s"
        time.sleep(0.2)
    return base


@pytest.fixture(scope="module")
def peers(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("analysis")
    procs = Procs()
    try:
        hello = hello_binary()
        ports = {}
        for name, faults in INSTANCES.items():
            port = free_port()
            env = {k: v for k, v in os.environ.items() if not k.startswith("HELLO_")}
            env.update(faults)
            procs.start([str(hello), "--port", str(port)], env=env)
            ports[name] = port
        for port in ports.values():
            wait_listening(port)
        sock, fe_port = start_haproxy(procs, tmp, ports)
        prom = start_prometheus(procs, tmp, [f"127.0.0.1:{p}" for p in ports.values()])
        junk_port = free_port()
        procs.start([sys.executable, "-c", JUNK_SERVER, str(junk_port)])
        wait_listening(junk_port)
        yield {"sock": sock, "fe": fe_port, "ports": ports, "prometheus": prom,
               "junk": f"http://127.0.0.1:{junk_port}", "down": f"http://127.0.0.1:{free_port()}"}
    finally:
        procs.stop()


def test_analysis_against_real_peers(peers):
    """The cmocka "analysis_e2e" group (4 scenarios) against haproxy, prometheus and hello."""
    env = {k: v for k, v in os.environ.items() if k not in NO_PROXY_ENV}
    env.update({
        "NO_PROXY": "127.0.0.1,localhost",
        "SLIPWAY_ANALYSIS_HAPROXY_SOCKET": str(peers["sock"]),
        "SLIPWAY_ANALYSIS_BACKEND": "web",
        "SLIPWAY_ANALYSIS_FRONTEND": f"127.0.0.1:{peers['fe']}",
        "SLIPWAY_ANALYSIS_SERVERS": ",".join(f"{n}=127.0.0.1:{p}" for n, p in peers["ports"].items()),
        "SLIPWAY_ANALYSIS_PROMETHEUS": peers["prometheus"],
        "SLIPWAY_ANALYSIS_JUNK": peers["junk"],
        "SLIPWAY_ANALYSIS_DOWN": peers["down"],
    })
    t0 = time.monotonic()
    p = subprocess.run([str(unit_binary())], env=env, cwd=str(ROOT), capture_output=True, text=True, timeout=120)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    assert "SKIPPED" not in out, out
    assert out.count("[       OK ] e2e_") == 4, out
    for line in out.splitlines():
        if line.startswith("MEASURE "):
            print(line)
    print(f"MEASURE analysis e2e group took {time.monotonic() - t0:.1f}s")


def test_recorded_answers_match_live_prometheus(peers):
    """tests/data/prometheus/ still looks like this Prometheus's answers."""
    data = ROOT / "tests" / "data" / "prometheus"
    base = peers["prometheus"]
    status, body = prom_query(base, "nothing_here")
    assert status == 200 and body == (data / "vector_empty.json").read_bytes()
    status, body = prom_query(base, "nope{")
    assert status == 400 and body == (data / "error_bad_data.json").read_bytes()
    for query, recorded in (("up", "vector_many.json"), ("scalar(sum(up))", "scalar.json"),
                            ("1/0", "scalar_inf.json"), ("up[3s]", "matrix.json")):
        status, body = prom_query(base, query)
        live, rec = json.loads(body), json.loads((data / recorded).read_text())
        assert status == 200
        assert live["status"] == rec["status"] == "success"
        assert live["data"]["resultType"] == rec["data"]["resultType"]
        if rec["data"]["resultType"] == "scalar":
            assert isinstance(live["data"]["result"][0], float) and isinstance(live["data"]["result"][1], str)
            if query == "1/0":
                assert live["data"]["result"][1] == rec["data"]["result"][1] == "+Inf"
        else:
            assert set(live["data"]["result"][0]) == set(rec["data"]["result"][0])
            assert set(live["data"]["result"][0]["metric"]) == set(rec["data"]["result"][0]["metric"])
