"""Scenario: every analysis measurement of a deployment, past the 50 the
plan keeps per analysis run: GET /api/v1/deployments/{id}/measurements
(from the event log, paged) and `slipway analysis show` on top of it.

Started on 127.0.0.1 only, in the test's tmp dir (own SLIPWAY_HOME):
  - `slipway server` (--trust the key made by `slipway keygen`),
  - one `slipway agent` web-1 (labels env=web,address=127.0.0.1, --ports A,B),
  - haproxy with `slipway haproxy-config --env web` wrapped in global (admin
    socket) / defaults / frontend sections.
Releases v1 and v2 of a tiny service (examples/hello's binary copied into
dist/ by a one-step pipeline) are made with the real `slipway run / release`.
v1 goes into the canary environment `web` first (nothing to compare with:
installed on the host); then v2, whose canary stops at `pause: {}` while a
background analysis (command provider, `echo 1`, every 100 ms, count 0)
keeps measuring. Once more than 50 measurements exist, the test checks that
the progress view lists exactly 50 for that run while the new route returns
all of them (seq increasing, the same list in pages of 7), that `slipway
analysis show --output json` returns all of them and its text one line per
measurement, `--analysis` / `--limit`, and the errors: unknown deployment
(404, CLI exit 2) and a bad `limit` (400 naming it). The deployment is
aborted at the end; every process is stopped; every wait is bounded.
A second test runs the CLI against a stand-in for an older server (no
measurements route): it shows the progress view's measurements and says so.
"""
import http.server
import json
import os
import shutil
import subprocess
import threading

import pytest

import e2eutil
from e2eutil import HELLO_BUILD, HELLO_DIR, Procs, free_port, keygen_env, release_from_spec, slipway_bin, wait_for, \
    wait_listening

HELLO = HELLO_DIR / "build" / "hello"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
KEEP = 50  # SW_GATE_KEEP (src/rollout/gate.h): measurements the plan keeps per analysis run

SPEC = """\
service: hello
version: {version}
""" + HELLO_BUILD + """\
run:
  command: ./dist/hello --port ${{PORT}}
  env: {{ HELLO_VERSION: "{version}" }}
  health: {{ http: /healthz, interval: 200ms, timeout: 1s, retries: 2 }}
  stop: {{ signal: TERM, grace: 2s }}
environments:
  web:
    hosts: {{ env: web }}
    strategy:
      canary:
        traffic: {{ haproxy: {{ socket: {sock}, backend: hello }} }}
        analysis: {{ templates: [probe], start_at_step: 0 }}
        steps:
          - weight: 50
          - pause: {{}}
analysis:
  probe:
    provider: {{ command: {{ run: "echo 1" }} }}
    interval: 100ms
    count: 0
    success: result == 1
"""


class Server(e2eutil.Server):
    def __init__(self, procs, tmp, pub):
        super().__init__(procs, tmp, trust=pub)

    def deployment(self, dep_id):
        return self.ok("GET", f"/api/v1/deployments/{dep_id}")

    def measurements(self, dep_id, after=0, limit=None):
        q = f"after={after}" + (f"&limit={limit}" if limit is not None else "")
        return self.ok("GET", f"/api/v1/deployments/{dep_id}/measurements?{q}")

    def all_measurements(self, dep_id, limit):
        """Every measurement through pages of `limit` (bounded)."""
        out, after = [], 0
        for _ in range(1000):
            page = self.measurements(dep_id, after, limit)
            assert len(page["measurements"]) <= limit, page
            out += page["measurements"]
            if page["measurements"]:
                assert page["last"] == page["measurements"][-1]["seq"], page
            else:
                assert page["last"] == after, page
            if len(page["measurements"]) < limit:
                return out
            after = page["last"]
        raise AssertionError("more than 1000 pages")


def make_release(tmp, env, version, sock):
    src = tmp / f"src-{version}"
    return dict(release_from_spec(src, env, SPEC.format(version=version, hello=HELLO, sock=sock)), src=src)


@pytest.fixture
def world(tmp_path):
    if not HELLO.exists():
        subprocess.run(["make", "-s", "-C", str(HELLO_DIR)], check=True, timeout=300, stdout=subprocess.DEVNULL)
    if not os.path.exists(HAPROXY):
        pytest.fail("haproxy is not installed: run scripts/install-deps.sh (make deps)")
    procs = Procs()
    try:
        yield procs, tmp_path
    finally:
        procs.stop_all()


def test_every_measurement_past_the_plans_50(world):
    procs, tmp = world
    sock = tmp / "admin.sock"
    home_env = keygen_env(tmp / "home")
    v1 = make_release(tmp, home_env, "1.0.0", sock)
    v2 = make_release(tmp, home_env, "2.0.0", sock)

    srv = Server(procs, tmp, tmp / "home" / "keys" / "slipway.pub")
    cli_env = dict(home_env, SLIPWAY_SERVER=srv.url, SLIPWAY_TOKEN=srv.admin)

    def cli(*args, timeout=60):
        return subprocess.run([slipway_bin(), *map(str, args)], env=cli_env, capture_output=True, text=True,
                              timeout=timeout, cwd=str(tmp))

    # One agent, two slot ports.
    a, b = free_port(), free_port()
    status, tok = srv.api("POST", "/api/v1/join-tokens", {"labels": {}})
    assert status == 201, (status, tok)
    agent_env = dict(os.environ, SLIPWAY_HOME=str(tmp / "agent-home"))
    for k in ("SLIPWAY_SERVER", "SLIPWAY_JOIN_TOKEN", "SLIPWAY_LOG"):
        agent_env.pop(k, None)
    procs.start([slipway_bin(), "agent", "--root", tmp / "agent-web-1", "--name", "web-1", "--server", srv.url,
                 "--join", tok["token"], "--labels", "env=web,address=127.0.0.1", "--ports", f"{a},{b}",
                 "--poll-wait", "5", "--stop-services-on-exit"], tmp / "agent.log", env=agent_env)
    wait_for(lambda: any(h["name"] == "web-1" and h["online"] for h in srv.ok("GET", "/api/v1/hosts")),
             what="web-1 online")

    # HAProxy with the backend slipway generates for the environment.
    p = cli("haproxy-config", "--env", "web", "-f", v1["src"] / "slipway.yml")
    assert p.returncode == 0, p.stderr
    fe = free_port()
    cfg = tmp / "haproxy.cfg"
    cfg.write_text(f"global\n    stats socket {sock} mode 600 level admin\n"
                   "defaults\n    mode http\n    timeout connect 1s\n    timeout client 10s\n"
                   "    timeout server 10s\n"
                   f"frontend web\n    bind 127.0.0.1:{fe}\n    default_backend hello\n" + p.stdout)
    subprocess.run([HAPROXY, "-c", "-q", "-f", str(cfg)], check=True, timeout=10)
    hap = procs.start([HAPROXY, "-db", "-f", cfg], tmp / "haproxy.log")
    wait_for(lambda: sock.exists() and hap.poll() is None, what="haproxy admin socket")
    wait_listening(fe)

    # v1: the first release of the environment, installed on the host.
    p = cli("deploy", v1["bundle"], "--env", "web", "--wait", "--output", "json", timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert json.loads(p.stdout)["state"] == "succeeded", p.stdout

    # v2: the canary at 50%, then paused; the background analysis goes on measuring.
    p = cli("deploy", v2["bundle"], "--env", "web", "--output", "json")
    assert p.returncode == 0, p.stdout + p.stderr
    dep_id = json.loads(p.stdout)["id"]
    wait_for(lambda: srv.deployment(dep_id)["state"] == "paused", timeout=60, what="canary at the pause",
             step=0.1)
    want = KEEP + 15
    wait_for(lambda: len(srv.measurements(dep_id)["measurements"]) >= want, timeout=90,
             what=f"{want} measurements", step=0.25)
    # Freeze the run (a paused deployment keeps measuring): abort, then compare.
    status, out = srv.api("POST", f"/api/v1/deployments/{dep_id}/abort", {"reason": "test done"})
    assert status == 200, (status, out)
    final = wait_for(lambda: (lambda d: d if d["state"] not in ("pending", "progressing", "paused") else None)(
        srv.deployment(dep_id)), timeout=60, what="the deployment to end", step=0.1)
    assert final["state"] in ("aborted", "rolled_back"), final["state"]

    view = srv.deployment(dep_id)
    probe_view = [m for m in view["measurements"] if m["analysis"] == "probe"]
    assert len(probe_view) == KEEP, len(probe_view)

    page = srv.measurements(dep_id)
    ms = page["measurements"]
    assert page["deployment"] == dep_id
    assert len(ms) > KEEP, len(ms)
    assert page["last"] == ms[-1]["seq"]
    seqs = [m["seq"] for m in ms]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs
    assert all(m["analysis"] == "probe" and m["id"] == dep_id and m["verdict"] == "success" and
               m["values"]["result"] == 1 and m["background"] is True for m in ms), ms[:3]
    # The plan's 50 are the newest of them, field for field (the event's fields).
    fields = ("time", "step", "analysis", "verdict", "values", "message", "background")
    assert [{k: m[k] for k in fields} for m in probe_view] == [{k: m[k] for k in fields} for m in ms[-KEEP:]]
    # Exactly the deployment.measurement events of the deployment in the log.
    events, after = [], 0
    for _ in range(100):
        got = srv.ok("GET", f"/api/v1/events?after={after}&limit=1000")
        events += got["events"]
        if len(got["events"]) < 1000:
            break
        after = got["last"]
    assert [e["seq"] for e in events if e["kind"] == "deployment.measurement" and
            e["subject"] == f"deployment/{dep_id}"] == seqs
    # Paging: the same list in pages of 7, and after= in the middle.
    assert srv.all_measurements(dep_id, 7) == ms
    mid = seqs[len(seqs) // 2]
    assert [m["seq"] for m in srv.measurements(dep_id, after=mid)["measurements"]] == [s for s in seqs if s > mid]
    empty = srv.measurements(dep_id, after=seqs[-1])
    assert empty["measurements"] == [] and empty["last"] == seqs[-1], empty
    assert len(srv.measurements(dep_id, limit=3)["measurements"]) == 3

    # The CLI: every measurement, in JSON and as text.
    p = cli("analysis", "show", dep_id, "--output", "json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["deployment"] == dep_id and doc["measurements"] == ms
    assert "server has no measurements route" not in p.stderr
    p = cli("analysis", "show", dep_id)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["TIME", "STEP", "ANALYSIS", "VERDICT", "VALUES", "/", "MESSAGE"], lines[0]
    rows = [line.split() for line in lines[1:] if line[:1].strip()]
    assert len(rows) == len(ms), (len(rows), len(ms))
    assert [r[0] for r in rows] == [m["time"] for m in ms]
    assert [r[1] for r in rows] == [f"b{m['step'] + 1}" for m in ms]
    assert all(r[2:4] == ["probe", "success"] and "result=1" in r[4:] for r in rows), rows[:3]
    # --limit N: the newest N; --analysis: a filter.
    p = cli("analysis", "show", dep_id, "--limit", "5", "--output", "json")
    assert p.returncode == 0 and json.loads(p.stdout)["measurements"] == ms[-5:], p.stderr
    p = cli("analysis", "show", dep_id, "--analysis", "probe", "--limit", "1000000", "--output", "json")
    assert p.returncode == 0 and json.loads(p.stdout)["measurements"] == ms, p.stderr
    p = cli("analysis", "show", dep_id, "--analysis", "nope", "--output", "json")
    assert p.returncode == 0 and json.loads(p.stdout)["measurements"] == [], p.stderr
    p = cli("analysis", "show", dep_id, "--analysis", "nope")
    assert p.returncode == 0 and "no measurements of that analysis" in p.stdout, p.stdout
    p = cli("analysis", "show", dep_id, "--limit", "0")
    assert p.returncode == 2 and "--limit" in p.stderr, p.stderr

    # Errors: unknown deployment, bad query arguments.
    status, out = srv.api("GET", "/api/v1/deployments/dep-nope/measurements")
    assert status == 404 and out["error"]["code"] == "not_found", (status, out)
    assert "dep-nope" in out["error"]["message"], out
    p = cli("analysis", "show", "dep-nope")
    assert p.returncode == 2 and "dep-nope" in p.stderr, (p.returncode, p.stderr)
    assert "server has no measurements route" not in p.stderr
    for q, field in (("limit=0", "limit"), ("limit=1001", "limit"), ("limit=x", "limit"), ("after=-1", "after"),
                     ("after=abc", "after")):
        status, out = srv.api("GET", f"/api/v1/deployments/{dep_id}/measurements?{q}")
        assert status == 400 and out["error"]["field"] == field, (q, status, out)
        assert field in out["error"]["message"], (q, out)


class OldServer:
    """A stand-in for a server older than the measurements route: 404 "no such API path" there, the progress
    view (with its `measurements`, the plan's last 50) at /api/v1/deployments/{id}, 404 for other ids."""

    def __init__(self, view):
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.paths.append(self.path)
                if self.path == f"/api/v1/deployments/{view['id']}":
                    self.reply(200, view)
                elif self.path.startswith("/api/v1/deployments/") and self.path.count("/") == 4:
                    self.reply(404, {"error": {"code": "not_found", "message": "deployment 'x' not found"}})
                else:
                    self.reply(404, {"error": {"code": "not_found", "message": "no such API path"}})

            def reply(self, status, doc):
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.paths = []
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


def test_older_server_falls_back_to_the_view(tmp_path):
    ms = [{"time": f"2026-01-01T00:00:{i:02d}.000Z", "step": 0, "analysis": "errors", "verdict": "success",
           "values": {"error_rate": 0}, "message": "", "background": False} for i in range(3)]
    old = OldServer({"id": "dep-3", "strategy": "canary", "measurements": ms})
    try:
        env = dict(os.environ, SLIPWAY_HOME=str(tmp_path / "home"), SLIPWAY_SERVER=old.url, SLIPWAY_TOKEN="swt_x")
        env.pop("SLIPWAY_LOG", None)

        def cli(*args):
            return subprocess.run([slipway_bin(), *args], env=env, capture_output=True, text=True, timeout=30)

        p = cli("analysis", "show", "dep-3", "--output", "json")
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout) == {"deployment": "dep-3", "measurements": ms}
        assert "server has no measurements route: showing the last 50 per analysis" in p.stderr, p.stderr
        assert old.paths[:2] == ["/api/v1/deployments/dep-3/measurements?after=0&limit=1000",
                                 "/api/v1/deployments/dep-3"], old.paths
        p = cli("analysis", "show", "dep-3")
        assert p.returncode == 0 and len(p.stdout.splitlines()) == 1 + len(ms), p.stdout
        # An unknown deployment is still an unknown deployment (exit 2), not an old server.
        p = cli("analysis", "show", "dep-9")
        assert p.returncode == 2 and "not found" in p.stderr, (p.returncode, p.stderr)
        assert "server has no measurements route" not in p.stderr
    finally:
        old.stop()
