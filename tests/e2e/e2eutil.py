"""Small helpers the scenario tests share: the binary under test, free
loopback ports, bounded waits, one HAProxy runtime API command, calls to
the server's API, the processes a test starts, a `slipway server`, and releases of
examples/hello made with the real `slipway keygen / run / release`. Every wait has a deadline and ends in an
AssertionError naming what it waited for."""
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HELLO_DIR = ROOT / "examples" / "hello"

# examples/hello's pipeline as the tests' hello specs write it; {hello} (the binary) and {version} to fill in.
HELLO_BUILD = """\
build:
  jobs:
    package:
      steps:
        - run: mkdir -p dist && cp {hello} dist/hello && echo {version} > dist/VERSION
      outputs: [dist/]
"""


def slipway_bin():
    return os.environ.get("SLIPWAY_BIN") or str(ROOT / "build" / "slipway")


_HANDED_OUT = set()


def free_port():
    """A loopback port nobody listens on now and that this process has not handed out before: two calls in a
    row (an agent's --ports A,B) never give the same port, which the kernel may otherwise do."""
    for _ in range(1000):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port
    raise AssertionError("no loopback port that was not handed out already")


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


def api_call(url, token, method, path, body=None, timeout=10, cafile=None):
    """(status, JSON answer or its text) of one API call; (None, None) when the server cannot be reached.
    An https:// server is verified against cafile."""
    data = json.dumps(body).encode() if body is not None else None
    context = ssl.create_default_context(cafile=str(cafile)) if cafile else None
    req = urllib.request.Request(url + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as r:
            text = r.read().decode()
            return r.status, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        text = e.read().decode()
        try:
            return e.code, json.loads(text)
        except ValueError:
            return e.code, text
    except (urllib.error.URLError, ConnectionError, OSError):
        return None, None


class Procs:
    """Every process a test starts, each with its log file; stop_all() stops them (newest first) and closes the logs."""

    def __init__(self):
        self.items = []

    def start(self, args, log, env=None):
        f = open(log, "w")
        p = subprocess.Popen(list(map(str, args)), stdout=f, stderr=subprocess.STDOUT, env=env,
                             start_new_session=True)
        self.items.append((p, f))
        return p

    def stop_all(self):
        for p, _ in reversed(self.items):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p, f in reversed(self.items):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=10)
            f.close()


class ServerReads:
    """hosts() and deployment(id) through self.api(method, path) of a class that has one."""

    def hosts(self):
        status, out = self.api("GET", "/api/v1/hosts")
        assert status == 200, (status, out)
        return {h["name"]: h for h in out}

    def deployment(self, dep_id):
        status, out = self.api("GET", f"/api/v1/deployments/{dep_id}")
        assert status == 200, (status, out)
        return out


class Server:
    """`slipway server` on a free loopback port under procs (data in tmp/data, log tmp/server.log), admin token;
    over HTTPS with tls=(cert, key), its API calls then verified against cert."""

    def __init__(self, procs, tmp, trust=None, tls=None):
        self.data = tmp / "data"
        self.cafile = tls[0] if tls else None
        port = free_port()
        env = dict(os.environ, SLIPWAY_HOME=str(tmp / "server-home"), SLIPWAY_LOG="info")
        args = [slipway_bin(), "server", "--data", self.data, "--listen", f"127.0.0.1:{port}", "--heartbeat", "300ms"]
        if trust:
            args += ["--trust", trust]
        if tls:
            args += ["--tls-cert", tls[0], "--tls-key", tls[1]]
        self.proc = procs.start(args, tmp / "server.log", env=env)
        url_file, tok_file = self.data / "server.url", self.data / "admin.token"
        wait_for(lambda: self.proc.poll() is None and url_file.exists() and tok_file.exists(), what="server.url")
        self.url = url_file.read_text().strip()
        self.admin = tok_file.read_text().strip()
        wait_for(lambda: self.api("GET", "/api/v1/health")[0] == 200, what="server health")

    def api(self, method, path, body=None, timeout=10):
        return api_call(self.url, self.admin, method, path, body, timeout, self.cafile)

    def ok(self, method, path, body=None):
        status, out = self.api(method, path, body)
        assert status == 200, (method, path, status, out)
        return out

    def hosts(self):
        return {h["name"]: h for h in self.ok("GET", "/api/v1/hosts")}


def kill_services(root):
    """Kill, by process group, what agents left running under their root (ROOT/run/*.pid)."""
    run = Path(root) / "run"
    if not run.is_dir():
        return
    for pf in run.glob("*.pid"):
        try:
            os.killpg(int(pf.read_text().split()[0]), signal.SIGKILL)
        except (ValueError, ProcessLookupError, PermissionError, IndexError):
            pass


def keygen_env(home):
    """The environment of the one who makes releases (SLIPWAY_HOME=home, an actor, no server, token or
    log level of the caller's), with its signing key made by `slipway keygen`."""
    env = dict(os.environ, SLIPWAY_HOME=str(home), SLIPWAY_ACTOR="tester@example.com")
    for k in ("SLIPWAY_LOG", "SLIPWAY_SERVER", "SLIPWAY_TOKEN"):
        env.pop(k, None)
    subprocess.run([slipway_bin(), "keygen"], env=env, check=True, capture_output=True, timeout=30)
    return env


def release_from_spec(src, env, spec):
    """A signed release of the spec: src (made here) gets slipway.yml, then `slipway run` and `slipway release`
    run in it. Returns {"digest": hex digest, "bundle": path}."""
    src.mkdir()
    (src / "slipway.yml").write_text(spec)
    for args in (["run"], ["release", "--output", "json"]):
        p = subprocess.run([slipway_bin(), *args], cwd=src, env=env, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, f"slipway {' '.join(args)}: {p.returncode}\n{p.stdout}\n{p.stderr}"
    rel = json.loads(p.stdout)
    return {"digest": rel["digest"].split(":")[-1], "bundle": rel["paths"]["bundle"]}
