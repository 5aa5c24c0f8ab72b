"""Scenario tests for `slipway agent` against a real `slipway server` on loopback.

Covered: enrollment with a join token (two agents, their own roots, ports and
labels), identity reuse on restart (no join token needed; a join token given
again is ignored), the join token from --join-file (mode 600; refused when
others may read it) or $SLIPWAY_JOIN_TOKEN, slot ports another process
holds refused at start and ports in the ephemeral range warned about, a replayed or expired join token refused, a revoked or
unknown identity ending the agent with exit 1, bad usage (exit 2), and
deployments of examples/hello (keygen, run, release of four versions; upload +
commit through the API, POST /api/v1/deployments, and once `slipway deploy
--wait`): the agent downloads, verifies, unpacks and runs the release; the
service answers on the slot's port; it survives an agent restart and is
adopted (same pid); crashes are restarted with a doubling backoff; a bundle
tampered on the server is refused and never run; a full disk is reported
while the previous release keeps answering; a hanging before_start hook
fails at its timeout without touching the running release; a failing
validate hook is reported and the controller's rollback is applied;
--stop-services-on-exit stops everything. The agent's peak RSS is printed
(run pytest with -s to see it).

Every process a test starts is stopped by the fixtures, and services left by
agents are killed through their pid files.
"""
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from e2eutil import slipway_bin as _bin, free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]


def http_get(url, timeout=2.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, ConnectionError, OSError):
        return None, ""


class Server:
    def __init__(self, tmp, trust=None, extra=()):
        self.data = tmp / "data"
        self.log = open(tmp / "server.log", "a")
        args = [_bin(), "server", "--data", str(self.data), "--listen", "127.0.0.1:0", "--heartbeat", "300ms"]
        if trust:
            args += ["--trust", str(trust)]
        args += list(extra)
        env = dict(os.environ, SLIPWAY_HOME=str(tmp / "server-home"))
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        wait_for(lambda: (self.data / "server.url").exists() and (self.data / "admin.token").exists(),
                 what="server.url")
        self.url = (self.data / "server.url").read_text().strip()
        self.admin = (self.data / "admin.token").read_text().strip()
        wait_for(lambda: self.api("GET", "/api/v1/health")[0] == 200, what="server health")

    def api(self, method, path, body=None, token=None, raw=None, timeout=10):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", "Bearer " + (token or self.admin))
        if data is not None:
            req.add_header("Content-Type", "application/octet-stream" if raw is not None else "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
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

    def join_token(self, labels=None, ttl=None):
        body = {}
        if labels:
            body["labels"] = labels
        if ttl:
            body["ttl"] = ttl
        status, out = self.api("POST", "/api/v1/join-tokens", body)
        assert status in (200, 201), (status, out)
        return out["token"]

    def hosts(self):
        status, out = self.api("GET", "/api/v1/hosts")
        assert status == 200, (status, out)
        return {h["name"]: h for h in out}

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Agent:
    def __init__(self, tmp, name, server_url=None, join=None, labels=None, ports=None, extra=(), root=None,
                 env_extra=None):
        self.root = Path(root) if root else tmp / f"agent-{name}"
        self.name = name
        self.ports = ports or (free_port(), free_port())
        self.logpath = tmp / f"agent-{name}.{int(time.monotonic() * 1000)}.log"
        args = [_bin(), "agent", "--root", str(self.root), "--name", name, "--heartbeat-ms", "200",
                "--poll-wait", "5", "--ports", f"{self.ports[0]},{self.ports[1]}"]
        if server_url:
            args += ["--server", server_url]
        if join:
            args += ["--join", join]
        if labels:
            args += ["--labels", labels]
        args += list(extra)
        self.log = open(self.logpath, "w")
        env = dict(os.environ, SLIPWAY_HOME=str(tmp / "agent-home"))
        env.pop("SLIPWAY_SERVER", None)
        env.pop("SLIPWAY_JOIN_TOKEN", None)
        env.update(env_extra or {})
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def text(self):
        return self.logpath.read_text()

    def wait_log(self, needle, timeout=20):
        return wait_for(lambda: needle in self.text(), timeout, f"agent log to show {needle!r}")

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def stop_ok(self):
        """Stop with SIGTERM and require exit 0 (the log in the message otherwise)."""
        rc = self.stop()
        assert rc == 0, f"agent {self.name} exited {rc}:\n{self.text()}"

    def hwm_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return None


def group_members(pgid):
    """Live (not zombie) processes of process group pgid."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] not in "ZX" and int(fields[2]) == pgid:
            out.append(int(d))
    return out


def kill_services(root):
    """Kill what agents left running under root (pid files), by process group."""
    run = Path(root) / "run"
    if not run.is_dir():
        return
    for pf in run.glob("*.pid"):
        try:
            pid = int(pf.read_text().split()[0])
            os.killpg(pid, signal.SIGKILL)
        except (ValueError, ProcessLookupError, PermissionError, IndexError):
            pass


@pytest.fixture
def env(tmp_path):
    """A server (trusting the test key when given) plus a list of agents, all stopped at the end."""
    state = {"server": None, "agents": []}

    def start_server(trust=None, extra=()):
        state["server"] = Server(tmp_path, trust, extra)
        return state["server"]

    def start_agent(*a, **kw):
        ag = Agent(tmp_path, *a, **kw)
        state["agents"].append(ag)
        return ag

    yield tmp_path, start_server, start_agent
    for ag in state["agents"]:
        ag.stop(timeout=15)
    for ag in state["agents"]:
        kill_services(ag.root)
    if state["server"]:
        state["server"].stop()


def test_usage_and_missing_identity(sw, tmp_path):
    p = sw("agent", "--help")
    assert p.returncode == 0
    assert "--stop-services-on-exit" in p.stdout
    p = sw("agent")
    assert p.returncode == 2 and "--root DIR is required" in p.stderr
    p = sw("agent", "--root", tmp_path / "r", "--ports", "80")
    assert p.returncode == 2 and "--ports" in p.stderr
    p = sw("agent", "--root", tmp_path / "r", "--labels", "noequals")
    assert p.returncode == 2 and "--labels" in p.stderr
    p = sw("agent", "--root", tmp_path / "r", "--server", "ftp://x")
    assert p.returncode == 2
    # No identity and no join token: a clear message, exit 2, nothing enrolled.
    p = sw("agent", "--root", tmp_path / "r", "--server", "http://127.0.0.1:1", timeout=20)
    assert p.returncode == 2
    assert "agent.json" in p.stderr and "--join-file" in p.stderr
    assert not (tmp_path / "r" / "agent.json").exists()


def test_enroll_two_agents_and_reuse_identity(env):
    tmp, start_server, start_agent = env
    srv = start_server()
    tok1 = srv.join_token({"env": "staging"})
    tok2 = srv.join_token({"env": "staging"})
    a = start_agent("host-a", srv.url, tok1, labels="region=eu")
    b = start_agent("host-b", srv.url, tok2, labels="region=us")
    wait_for(lambda: {"host-a", "host-b"} <= set(srv.hosts()), what="both hosts enrolled")
    hosts = wait_for(lambda: (lambda h: h if h["host-a"]["online"] and h["host-b"]["online"] else None)(srv.hosts()),
                     what="both hosts online")
    assert hosts["host-a"]["labels"] == {"env": "staging", "region": "eu"}
    assert hosts["host-b"]["labels"]["region"] == "us"
    assert hosts["host-a"]["id"] != hosts["host-b"]["id"]
    # The identity file: 0600, holds the host id and token; trusted keys beside it.
    ident = a.root / "agent.json"
    assert stat.S_IMODE(ident.stat().st_mode) == 0o600
    doc = json.loads(ident.read_text())
    assert doc["host_id"] == hosts["host-a"]["id"]
    assert doc["host_token"].startswith("swh_")
    assert tok1 not in ident.read_text()
    assert doc["ports"] == list(a.ports)

    # Restart without a join token: same identity, online again.
    a.stop_ok()
    a2 = start_agent("host-a", root=a.root, ports=a.ports)
    a2.wait_log("desired state generation")
    seen_before = srv.hosts()["host-a"]["last_seen"]
    wait_for(lambda: srv.hosts()["host-a"]["last_seen"] != seen_before, what="restarted agent reporting")
    assert srv.hosts()["host-a"]["id"] == doc["host_id"]
    assert len(srv.hosts()) == 2
    # A join token given again is ignored (and stays unused).
    a2.stop_ok()
    tok3 = srv.join_token()
    a3 = start_agent("host-a", srv.url, tok3, root=a.root, ports=a.ports)
    a3.wait_log("the join token is ignored")
    assert json.loads(ident.read_text())["host_id"] == doc["host_id"]
    c = start_agent("host-c", srv.url, tok3)
    wait_for(lambda: "host-c" in srv.hosts(), what="tok3 still usable")
    a3.stop_ok()
    b.stop_ok()
    c.stop_ok()


def test_join_file_env_and_blanked_join(env):
    """--join-file FILE (mode 600) and $SLIPWAY_JOIN_TOKEN enroll; a join file others may read is refused (exit 2,
    nothing enrolled, the token stays unused); --join still works but warns and is blanked from the command
    line; a later start does not read the join file (it may be gone)."""
    tmp, start_server, start_agent = env
    srv = start_server()
    tok = srv.join_token({"env": "staging"})
    jf = tmp / "join.token"
    jf.write_text(tok + "\n")
    os.chmod(jf, 0o644)
    loose = start_agent("web-1", srv.url, extra=("--join-file", jf))
    assert loose.proc.wait(timeout=20) == 2, loose.text()
    assert f"join file '{jf}' is accessible by others (mode 0644)" in loose.text()
    assert f"'chmod 600 {jf}'" in loose.text()
    assert not (loose.root / "agent.json").exists() and srv.hosts() == {}
    os.chmod(jf, 0o600)
    a = start_agent("web-1", srv.url, extra=("--join-file", jf), root=tmp / "agent-web-1b")
    wait_for(lambda: srv.hosts().get("web-1", {}).get("online"), what="enrolled through the join file")
    assert srv.hosts()["web-1"]["labels"] == {"env": "staging"}
    a.stop_ok()
    # Enrolled: the join file is not read again, so it may be removed.
    jf.unlink()
    again = start_agent("web-1", extra=("--join-file", jf), root=a.root)
    again.wait_log("is not read")
    again.wait_log("desired state generation")
    again.stop_ok()

    b = start_agent("web-2", srv.url, env_extra={"SLIPWAY_JOIN_TOKEN": srv.join_token()})
    wait_for(lambda: "web-2" in srv.hosts(), what="enrolled through $SLIPWAY_JOIN_TOKEN")

    tok3 = srv.join_token()
    c = start_agent("web-3", srv.url, tok3)
    wait_for(lambda: "web-3" in srv.hosts(), what="enrolled through --join")
    assert "--join shows the join token" in c.text()
    with open(f"/proc/{c.proc.pid}/cmdline", "rb") as f:
        cmdline = f.read().decode()
    assert tok3 not in cmdline and "--join" in cmdline, cmdline

    p = subprocess.run([_bin(), "agent", "--root", tmp / "r", "--join", "x", "--join-file", tmp / "f"],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 2 and "not both" in p.stderr, p.stderr
    b.stop_ok()
    c.stop_ok()


def test_ports_taken_refused_and_ephemeral_warned(env):
    """A slot port another process listens on is refused at start (exit 2, naming the port and slot), before the
    join token is used; a port in the kernel's ephemeral range gets a warning saying why, one below it none."""
    tmp, start_server, start_agent = env
    srv = start_server()
    tok = srv.join_token()
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    taken = holder.getsockname()[1]
    try:
        a = start_agent("web-1", srv.url, extra=("--join-file", write_join(tmp, tok)),
                        ports=(free_port(), taken))
        assert a.proc.wait(timeout=20) == 2, a.text()
        assert f"--ports: port {taken} (slot b) is already in use on this host by another process" in a.text()
        assert not (a.root / "agent.json").exists() and srv.hosts() == {}
    finally:
        holder.close()
    lo, hi = map(int, open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
    reserved = open("/proc/sys/net/ipv4/ip_local_reserved_ports").read().strip()
    inside = next(p for p in (free_port() for _ in range(50)) if lo <= p <= hi and str(p) not in reserved)
    below = None
    for p in range(max(1025, lo - 2000), lo):
        with socket.socket() as s:
            try:
                s.bind(("0.0.0.0", p))
                below = p
                break
            except OSError:
                continue
    assert below, "no free port below the ephemeral range"
    # The same join token still enrolls: the refused start did not use it.
    b = start_agent("web-1", srv.url, extra=("--join-file", write_join(tmp, tok)), ports=(below, inside))
    wait_for(lambda: srv.hosts().get("web-1", {}).get("online"), what="enrolled with the unused token")
    out = b.text()
    assert f"slot b: port {inside} lies in the kernel's ephemeral port range {lo}-{hi}" in out, out
    assert "an outgoing connection can take it" in out
    assert f"port {below} lies" not in out
    b.stop_ok()


def write_join(tmp, token):
    """token in a fresh mode-600 join file under tmp; its path."""
    path = tmp / f"join-{free_port()}.token"
    path.write_text(token + "\n")
    os.chmod(path, 0o600)
    return path


def test_replayed_and_expired_join_token(env):
    tmp, start_server, start_agent = env
    srv = start_server()
    tok = srv.join_token()
    a = start_agent("first", srv.url, tok)
    wait_for(lambda: "first" in srv.hosts(), what="enrolled")
    replay = start_agent("second", srv.url, tok)
    assert replay.proc.wait(timeout=20) == 1
    assert "join token already used" in replay.text()
    assert not (replay.root / "agent.json").exists()
    short = srv.join_token(ttl="1s")
    time.sleep(1.5)
    late = start_agent("late", srv.url, short)
    assert late.proc.wait(timeout=20) == 1
    assert "expired" in late.text()
    assert set(srv.hosts()) == {"first"}
    a.stop_ok()


def test_enroll_cannot_take_a_name(env):
    """A second machine enrolling as an enrolled name is refused (409 naming it, exit 1) and the first keeps
    working; a `join-token create --replace NAME` token takes the name over (recorded); a revoked name stays
    revoked."""
    tmp, start_server, start_agent = env
    srv = start_server()
    a = start_agent("web-1", srv.url, srv.join_token())
    first = wait_for(lambda: srv.hosts().get("web-1"), what="enrolled")
    a.wait_log("desired state generation")
    clone = start_agent("web-1", srv.url, srv.join_token(), root=tmp / "agent-web-1-clone")
    assert clone.proc.wait(timeout=20) == 1, clone.text()
    out = clone.text()
    assert "HTTP 409" in out and "host name 'web-1' is taken" in out and "--replace web-1" in out, out
    assert not (clone.root / "agent.json").exists()
    # The first machine is untouched: same id, still reporting with its token.
    seen = srv.hosts()["web-1"]["last_seen"]
    wait_for(lambda: srv.hosts()["web-1"]["last_seen"] != seen, what="first agent still reporting")
    assert srv.hosts()["web-1"]["id"] == first["id"] and a.proc.poll() is None

    # A --replace token (CLI) takes the name over; the old identity stops working.
    env_ = dict(os.environ, SLIPWAY_SERVER=srv.url, SLIPWAY_TOKEN=srv.admin)
    p = subprocess.run([_bin(), "join-token", "create", "--replace", "web-1", "--output", "json"], env=env_,
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["replace"] == "web-1"
    # It enrolls only the host it names.
    other = start_agent("web-2", srv.url, json.loads(p.stdout)["token"])
    assert other.proc.wait(timeout=20) == 1
    assert "may only enroll host 'web-1'" in other.text()
    new = start_agent("web-1", srv.url, json.loads(p.stdout)["token"], root=tmp / "agent-web-1-new")
    new.wait_log("desired state generation")
    assert srv.hosts()["web-1"]["id"] == first["id"] and len(srv.hosts()) == 1
    assert a.proc.wait(timeout=20) == 1
    assert "revoked or is unknown" in a.text()
    status, events = srv.api("GET", "/api/v1/events?limit=200")
    assert status == 200, events
    events = events["events"] if isinstance(events, dict) else events
    kinds = [(e["kind"], e["payload"]) for e in events]
    assert any(k == "join_token.created" and pl.get("replace") == "web-1" for k, pl in kinds), kinds
    assert any(k == "host.replaced" and pl["name"] == "web-1" for k, pl in kinds), kinds
    assert [pl["replaced"] for k, pl in kinds if k == "host.enrolled"] == [False, True]

    # Revoked stays revoked: no --replace token for it, no enrollment under its name.
    status, _ = srv.api("DELETE", f"/api/v1/hosts/{first['id']}")
    assert status == 200
    assert new.proc.wait(timeout=20) == 1
    status, doc = srv.api("POST", "/api/v1/join-tokens", {"replace": "web-1"})
    assert status == 409 and "a revoked host stays revoked" in doc["error"]["message"], doc
    again = start_agent("web-1", srv.url, srv.join_token(), root=tmp / "agent-web-1-again")
    assert again.proc.wait(timeout=20) == 1
    assert "HTTP 409" in again.text() and "host 'web-1'" in again.text() and "revoked" in again.text()
    assert srv.hosts()["web-1"]["revoked"] is True


def test_revoked_and_unknown_identity_exit_1(env):
    tmp, start_server, start_agent = env
    srv = start_server()
    a = start_agent("doomed", srv.url, srv.join_token())
    host = wait_for(lambda: srv.hosts().get("doomed"), what="enrolled")
    a.wait_log("desired state generation")
    status, _ = srv.api("DELETE", f"/api/v1/hosts/{host['id']}")
    assert status == 200
    assert a.proc.wait(timeout=20) == 1
    out = a.text()
    assert "revoked or is unknown" in out
    # Restarting with the revoked identity fails the same way, without spinning.
    again = start_agent("doomed", root=a.root, ports=a.ports)
    assert again.proc.wait(timeout=20) == 1
    # An identity the server never issued.
    root = tmp / "forged"
    root.mkdir()
    (root / "agent.json").write_text(json.dumps({
        "server": srv.url, "host_id": "h-nope", "host_token": "swh_forged", "name": "forged",
        "ports": [free_port(), free_port()], "heartbeat_ms": 200, "labels": {}}))
    os.chmod(root / "agent.json", 0o600)
    forged = start_agent("forged", root=root)
    assert forged.proc.wait(timeout=20) == 1
    assert "HTTP 401" in forged.text()


# ---- deployments of examples/hello ----


@pytest.fixture(scope="module")
def hello_release(tmp_path_factory):
    """Build, run and release a copy of examples/hello once for this module."""
    base = tmp_path_factory.mktemp("hello-release")
    subprocess.run(["make", "-s", "-C", str(ROOT / "examples" / "hello")], check=True, timeout=300,
                   stdout=subprocess.DEVNULL)
    src = base / "hello"
    shutil.copytree(ROOT / "examples" / "hello", src, ignore=shutil.ignore_patterns("build", "dist"))
    env = dict(os.environ, SLIPWAY_HOME=str(base / "home"), SLIPWAY_ACTOR="tester@example.com")
    env.pop("SLIPWAY_LOG", None)

    def run(*args, timeout=300):
        p = subprocess.run([_bin(), *args], cwd=src, env=env, capture_output=True, text=True, timeout=timeout)
        assert p.returncode == 0, f"slipway {' '.join(args)}: {p.returncode}\n{p.stdout}\n{p.stderr}"
        return p

    run("keygen")
    out = {}
    for version in ("1.0.0", "1.0.1"):
        (src / "VERSION").write_text(version + "\n")
        run("run")
        rel = json.loads(run("release", "--output", "json").stdout)
        out[version] = {"digest": rel["digest"].split(":")[-1], "paths": rel["paths"],
                        "pub": base / "home" / "keys" / "slipway.pub"}
    # 1.0.2 has hooks; its before_start hangs past the hook timeout.
    spec = (src / "slipway.yml").read_text()
    stop_line = "  stop: { signal: TERM, grace: 10s }\n"
    assert stop_line in spec
    (src / "slipway.yml").write_text(spec.replace(stop_line, stop_line + (
        "  hooks:\n"
        "    before_install: echo before-install-ran\n"
        "    after_install: test -x dist/hello && echo after-install-ran\n"
        "    before_start: sleep 30\n"
        "    timeout: 1s\n")))
    (src / "VERSION").write_text("1.0.2\n")
    run("run")
    rel = json.loads(run("release", "--output", "json").stdout)
    out["1.0.2"] = {"digest": rel["digest"].split(":")[-1], "paths": rel["paths"]}
    # 1.0.3: a validate hook that fails (after the new process is up and healthy).
    (src / "slipway.yml").write_text(spec.replace(stop_line, stop_line + (
        "  hooks:\n"
        "    validate: echo validating on $PORT; exit 3\n"
        "    timeout: 5s\n")))
    (src / "VERSION").write_text("1.0.3\n")
    run("run")
    rel = json.loads(run("release", "--output", "json").stdout)
    out["1.0.3"] = {"digest": rel["digest"].split(":")[-1], "paths": rel["paths"]}
    # 1.0.4: 4 MiB of zeros more in dist/ (a small bomb); environment "tight" caps unpacking at 1 MiB.
    bomb_spec = spec.replace("        - run: make dist\n", "        - run: make dist && head -c 4194304 /dev/zero > dist/padding\n")
    bomb_spec = bomb_spec.replace("environments:\n", "environments:\n  tight:\n    hosts: { env: tight }\n"
                                  "    unpack: { max_size: 1MB }\n")
    assert bomb_spec.count("dist/padding") == 1 and bomb_spec.count("max_size: 1MB") == 1
    (src / "slipway.yml").write_text(bomb_spec)
    (src / "VERSION").write_text("1.0.4\n")
    run("run")
    rel = json.loads(run("release", "--output", "json").stdout)
    out["1.0.4"] = {"digest": rel["digest"].split(":")[-1], "paths": rel["paths"]}
    (src / "slipway.yml").write_text(spec)
    v1 = out["1.0.0"]
    v1["v2"] = out["1.0.1"]
    v1["bomb"] = out["1.0.4"]
    v1["hanging_hook"] = out["1.0.2"]
    v1["failing_validate"] = out["1.0.3"]
    return v1


def upload(srv, rel):
    names = {"bundle": "bundle.tar.zst", "bundle_signature": "bundle.tar.zst.minisig",
             "manifest": "release.json", "manifest_signature": "release.json.minisig"}
    for key, name in names.items():
        data = Path(rel["paths"][key]).read_bytes()
        status, out = srv.api("PUT", f"/api/v1/releases/{rel['digest']}/{name}", raw=data)
        assert status == 200, (name, status, out)
    status, out = srv.api("POST", f"/api/v1/releases/{rel['digest']}/commit")
    assert status in (200, 201), (status, out)


def slot_state(srv, host, service="hello", slot="a"):
    h = srv.hosts().get(host)
    if not h:
        return None
    for s in h.get("services") or []:
        if s.get("service") == service and s.get("slot") == slot:
            return s
    return None


def deploy(srv, digest, env_name="staging"):
    status, dep = srv.api("POST", "/api/v1/deployments", {"service": "hello", "env": env_name, "digest": digest})
    assert status == 201, (status, dep)
    return dep


ENDED = ("succeeded", "failed", "rolled_back", "aborted")


def ended_deployment(srv, dep_id, timeout=60):
    """Wait (bounded) for a deployment to reach a final state and return it."""
    return wait_for(lambda: (lambda d: d if isinstance(d, dict) and d.get("state") in ENDED else None)(
        srv.api("GET", f"/api/v1/deployments/{dep_id}")[1]), timeout=timeout, what=f"deployment {dep_id} ended")


# A host's "failed" or "refused" report lasts only until the controller's rollback reaches
# the agent, which then reports what it runs again (about 100 ms later on a quiet machine):
# a poll of GET /hosts can miss it. Tests follow the records that stay instead: the agent's
# log line for the report, and the deployment's reason (the per-host phase becomes
# "restored" once the rollback is done).
def agent_reported(agent, state, digest, message, timeout=30):
    """Wait for the agent's log line for a slot report "<state> (release <digest>): <message>"."""
    return agent.wait_log(f"hello-a: {state} (release {digest[:12]}): {message}", timeout=timeout)


def test_deploy_hello_adopt_crash_and_stop(env, hello_release):
    tmp, start_server, start_agent = env
    srv = start_server(trust=hello_release["pub"])
    upload(srv, hello_release)
    a = start_agent("web-1", srv.url, srv.join_token({"env": "staging"}))
    wait_for(lambda: srv.hosts().get("web-1", {}).get("online"), what="online")
    dep = deploy(srv, hello_release["digest"])
    port = a.ports[0]
    wait_for(lambda: http_get(f"http://127.0.0.1:{port}/")[0] == 200, timeout=60, what="hello answering")
    assert "hello from hello" in http_get(f"http://127.0.0.1:{port}/")[1]
    st = wait_for(lambda: (lambda s: s if s and s.get("state") == "healthy" else None)(slot_state(srv, "web-1")),
                  timeout=30, what="healthy report")
    assert st["digest"] == hello_release["digest"]
    pid = st["pid"]
    assert pid > 0
    final = wait_for(lambda: (lambda d: d if d["state"] in ("succeeded", "failed", "rolled_back") else None)(
        srv.api("GET", f"/api/v1/deployments/{dep['id']}")[1]), timeout=60, what="deployment finished")
    assert final["state"] == "succeeded", final
    # Installed as releases/<digest>/, the bundle kept for re-verification, a pid file with the start time.
    assert (a.root / "releases" / hello_release["digest"] / "dist" / "hello").exists()
    assert (a.root / "bundles" / (hello_release["digest"] + ".tar.zst")).exists()
    assert (a.root / "run" / "hello-a.pid").read_text().split()[0] == str(pid)
    assert "listening" in (a.root / "logs" / "hello-a.log").read_text() or \
        (a.root / "logs" / "hello-a.log").stat().st_size > 0
    print(f"\nagent peak RSS after a deploy of examples/hello: {a.hwm_kb()} kB")
    assert a.hwm_kb() < 64 * 1024

    # The agent stops: the service keeps answering; a new agent adopts the same pid.
    a.stop_ok()
    assert http_get(f"http://127.0.0.1:{port}/")[0] == 200
    b = start_agent("web-1", root=a.root, ports=a.ports)
    b.wait_log(f"adopted pid {pid}")
    wait_for(lambda: (lambda s: s and s["state"] == "healthy" and s["pid"] == pid)(slot_state(srv, "web-1")),
             what="adopted and healthy")
    assert http_get(f"http://127.0.0.1:{port}/")[0] == 200
    assert not re.search(r"starting \(release \w+\): pid \d+", b.text())  # adopted, not started again

    # A crash of the adopted process (not our child: its status is unknown): restarted. The pid
    # is the `sh -c` that runs the command; its child, hello, holds the port. Init reaps the
    # shell, often before the agent looks: the agent must still kill what is left of the group,
    # or hello lives on orphaned and every restart fails to bind.
    assert len(group_members(pid)) > 1, "the service is expected to run under a wrapper shell"
    os.kill(pid, signal.SIGKILL)
    b.wait_log("process exited (status unknown); restarting in 500ms")
    wait_for(lambda: not group_members(pid), timeout=10, what=f"nothing left of process group {pid}")
    mid = wait_for(lambda: (lambda s: s if s and s["state"] == "healthy" and s["pid"] not in (0, pid) else None)(
        slot_state(srv, "web-1")), timeout=30, what="restarted after a crash")
    assert http_get(f"http://127.0.0.1:{port}/")[0] == 200
    # A crash of our own child soon after: the backoff doubles.
    os.kill(mid["pid"], signal.SIGKILL)
    b.wait_log("process killed by SIGKILL; restarting in 1s")
    new = wait_for(lambda: (lambda s: s if s and s["state"] == "healthy" and s["pid"] not in (0, pid, mid["pid"])
                            else None)(slot_state(srv, "web-1")), timeout=30, what="restarted after a second crash")
    assert http_get(f"http://127.0.0.1:{port}/")[0] == 200
    log = (a.root / "logs" / "hello-a.log").read_text()
    assert "restarting in 500ms" in log and "restarting in 1s" in log

    # --stop-services-on-exit: everything stops, pid files go.
    b.stop_ok()
    c = start_agent("web-1", root=a.root, ports=a.ports, extra=["--stop-services-on-exit"])
    c.wait_log(f"adopted pid {new['pid']}")
    c.stop_ok()
    assert http_get(f"http://127.0.0.1:{port}/")[0] is None
    assert not (a.root / "run" / "hello-a.pid").exists()
    assert "stopped pid" in c.text()


def test_tampered_bundle_refused(env, hello_release):
    tmp, start_server, start_agent = env
    srv = start_server(trust=hello_release["pub"])
    upload(srv, hello_release)
    digest = hello_release["digest"]
    # Corrupt the server's stored copy after commit (a compromised or broken server).
    stored = srv.data / "releases" / digest / "bundle.tar.zst"
    assert stored.exists()
    stored.write_bytes(stored.read_bytes()[:-16] + bytes(16))
    a = start_agent("bad-1", srv.url, srv.join_token({"env": "staging"}))
    wait_for(lambda: srv.hosts().get("bad-1", {}).get("online"), what="online")
    dep = deploy(srv, digest)
    agent_reported(a, "refused", digest, "")
    assert re.search(rf"hello-a: refused \(release {digest[:12]}\): [^\n]*digest mismatch", a.text()), a.text()
    assert not (a.root / "bundles" / (digest + ".tar.zst")).exists()
    assert not (a.root / "releases" / digest).exists()
    assert not (a.root / "run" / "hello-a.pid").exists()
    assert http_get(f"http://127.0.0.1:{a.ports[0]}/")[0] is None
    final = ended_deployment(srv, dep["id"])
    assert final["state"] in ("failed", "rolled_back", "aborted"), final
    assert final["reason"].startswith("host 'bad-1' refused: ") and "digest mismatch" in final["reason"], final
    a.stop_ok()


def test_disk_full_keeps_previous_release(env, hello_release):
    tmp, start_server, start_agent = env
    v1, v2 = hello_release, hello_release["v2"]
    assert v1["digest"] != v2["digest"]
    mnt = tmp / "tiny"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    started = []
    try:
        srv = start_server(trust=v1["pub"])
        upload(srv, v1)
        upload(srv, v2)
        # --min-free 0: the default 64 MiB margin could never fit on this 1 MiB file system.
        ag = start_agent("full-1", srv.url, srv.join_token({"env": "staging"}), root=mnt / "root",
                         extra=["--stop-services-on-exit", "--min-free", "0"])
        started.append(ag)
        wait_for(lambda: srv.hosts().get("full-1", {}).get("online"), what="online")
        port = ag.ports[0]

        def ended(dep_id):
            return srv.api("GET", f"/api/v1/deployments/{dep_id}")[1]["state"] in \
                ("succeeded", "failed", "rolled_back", "aborted")

        dep = deploy(srv, v1["digest"])
        wait_for(lambda: ended(dep["id"]), timeout=60, what="v1 deployed")
        assert '"version":"1.0.0"' in http_get(f"http://127.0.0.1:{port}/version")[1].replace(" ", "")
        # Fill the disk, then deploy v2: it cannot be downloaded; v1 keeps answering.
        filler = mnt / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError:
            pass
        finally:
            os.close(fd)
        dep = deploy(srv, v2["digest"])
        agent_reported(ag, "failed", v2["digest"], "no space left on device while")
        final = ended_deployment(srv, dep["id"])
        assert final["state"] in ("failed", "rolled_back"), final
        assert final["reason"].startswith("host 'full-1' failed: no space left on device while"), final
        assert '"version":"1.0.0"' in http_get(f"http://127.0.0.1:{port}/version")[1].replace(" ", "")
        assert not (mnt / "root" / "releases" / v2["digest"]).exists()
        assert not list((mnt / "root" / "bundles").glob("*.part.*"))
        assert ag.proc.poll() is None  # the agent itself keeps running and reporting
        assert srv.hosts()["full-1"]["online"]
        assert http_get(f"http://127.0.0.1:{port}/")[0] == 200
        # Space again: v2 goes in; v1 stays on disk as the previous release.
        filler.unlink()
        dep = deploy(srv, v2["digest"])
        wait_for(lambda: ended(dep["id"]), timeout=60, what="v2 deployed")
        assert srv.api("GET", f"/api/v1/deployments/{dep['id']}")[1]["state"] == "succeeded"
        assert '"version":"1.0.1"' in http_get(f"http://127.0.0.1:{port}/version")[1].replace(" ", "")
        assert (mnt / "root" / "releases" / v1["digest"]).is_dir()
        assert (mnt / "root" / "releases" / v2["digest"]).is_dir()
        ag.stop_ok()
    finally:
        for a in started:  # before the file system (and its pid files) goes away
            a.stop()
        kill_services(mnt / "root")
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_hanging_hook_fails_and_previous_keeps_running(env, hello_release):
    tmp, start_server, start_agent = env
    v1, v3 = hello_release, hello_release["hanging_hook"]
    srv = start_server(trust=v1["pub"])
    upload(srv, v1)
    upload(srv, v3)
    ag = start_agent("hook-1", srv.url, srv.join_token({"env": "staging"}))
    wait_for(lambda: srv.hosts().get("hook-1", {}).get("online"), what="online")
    port = ag.ports[0]

    def ended(dep_id):
        return srv.api("GET", f"/api/v1/deployments/{dep_id}")[1]["state"] in \
            ("succeeded", "failed", "rolled_back", "aborted")

    dep = deploy(srv, v1["digest"])
    wait_for(lambda: ended(dep["id"]), timeout=60, what="v1 deployed")
    pid = slot_state(srv, "hook-1")["pid"]
    t0 = time.monotonic()
    dep = deploy(srv, v3["digest"])
    agent_reported(ag, "failed", v3["digest"], "hook 'before_start' timed out after 1s")
    assert time.monotonic() - t0 < 15
    # The old process was never stopped.
    assert '"version":"1.0.0"' in http_get(f"http://127.0.0.1:{port}/version")[1].replace(" ", "")
    log = (ag.root / "logs" / "hello-a.log").read_text()
    assert "before-install-ran" in log and "after-install-ran" in log
    assert "hook 'before_start' timed out after 1s" in log
    final = ended_deployment(srv, dep["id"])
    assert final["state"] in ("failed", "rolled_back"), final
    assert final["reason"] == "host 'hook-1' failed: hook 'before_start' timed out after 1s", final
    wait_for(lambda: (lambda s: s and s["state"] == "healthy" and s["pid"] == pid)(slot_state(srv, "hook-1")),
             what="v1 healthy again, same pid")
    ag.stop_ok()


def gate_hold(fifo, timeout=30):
    """Wait until the agent's unpacker waits on the test gate FIFO; return our
    writer end (the unpacker goes on when it is closed)."""
    def opened():
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: nobody reads yet
            return None
    return wait_for(opened, timeout, "the unpacker to wait on the test gate")


def test_sigterm_during_install_starts_nothing(env, hello_release):
    """SIGTERM while v2 unpacks (held on SLIPWAY_TEST_UNPACK_GATE, released
    only after the agent logged the signal): the install is canceled, v2 never
    starts, nothing of it stays on disk, v1 keeps answering and is adopted."""
    tmp, start_server, start_agent = env
    v1, v2 = hello_release, hello_release["v2"]
    fifo = tmp / "unpack-gate"
    os.mkfifo(fifo)
    srv = start_server(trust=v1["pub"])
    upload(srv, v1)
    upload(srv, v2)
    ag = start_agent("term-1", srv.url, srv.join_token({"env": "staging"}),
                     env_extra={"SLIPWAY_TEST_UNPACK_GATE": str(fifo)})
    wait_for(lambda: srv.hosts().get("term-1", {}).get("online"), what="online")
    port = ag.ports[0]
    deploy(srv, v1["digest"])
    os.close(gate_hold(fifo))  # v1 goes through the gate at once
    st = wait_for(lambda: (lambda s: s if s and s["state"] == "healthy" and s["digest"] == v1["digest"] else None)(
        slot_state(srv, "term-1")), timeout=60, what="v1 healthy")
    pid = st["pid"]
    deploy(srv, v2["digest"])
    w = gate_hold(fifo)  # v2's unpack is under way and waits
    try:
        assert list((ag.root / "releases").glob("*.unpack-*")), "the unpack has started"
        ag.proc.send_signal(signal.SIGTERM)
        ag.wait_log("received SIGTERM")
    finally:
        os.close(w)
    assert ag.proc.wait(timeout=30) == 0, ag.text()
    ag.log.close()
    text = ag.text()
    assert f"deploy of release {v2['digest'][:12]} canceled during the install" in text, text
    assert f"starting release {v2['digest'][:12]}" not in (ag.root / "logs" / "hello-a.log").read_text()
    # Nothing of v2 on disk: no release directory, no temporary directory, no bundle.
    assert sorted(p.name for p in (ag.root / "releases").iterdir()) == [v1["digest"]]
    assert not (ag.root / "bundles" / (v2["digest"] + ".tar.zst")).exists()
    # v1 was never stopped: same pid, still answering; a new agent adopts it.
    assert (ag.root / "run" / "hello-a.pid").read_text().split()[0] == str(pid)
    assert '"version":"1.0.0"' in http_get(f"http://127.0.0.1:{port}/version")[1].replace(" ", "")
    b = start_agent("term-1", root=ag.root, ports=ag.ports, env_extra={"SLIPWAY_TEST_UNPACK_GATE": ""})
    b.wait_log(f"adopted pid {pid}")
    b.stop_ok()


def test_bomb_over_the_limits_refused(env, hello_release):
    """A release 4 MiB larger than the limits: the server refuses to deploy it
    to an environment whose `unpack: {max_size: 1MB}` it exceeds; an agent
    whose --max-unpacked is 1 MiB refuses it before writing it, nothing of it
    stays on disk, and v1 keeps answering with the same pid."""
    tmp, start_server, start_agent = env
    v1, bomb = hello_release, hello_release["bomb"]
    srv = start_server(trust=v1["pub"])
    upload(srv, v1)
    upload(srv, bomb)  # under the server's 1 GiB and ratio limits: committed
    status, out = srv.api("POST", "/api/v1/deployments", {"service": "hello", "env": "tight", "digest": bomb["digest"]})
    assert status == 400, (status, out)
    assert "does not fit the unpack limits of environment 'tight'" in out["error"]["message"], out
    assert "unpacks to more than 1048576 bytes" in out["error"]["message"], out
    # That answer came from the totals the commit's scan recorded beside the bundle; a release
    # committed before those were recorded is scanned instead, with the same verdict.
    stats = srv.data / "releases" / bomb["digest"] / "unpacked.json"
    recorded = json.loads(stats.read_text())
    assert recorded["total"] > 4 * 1024 * 1024 and recorded["largest"] == 4194304, recorded
    stats.unlink()
    status, out = srv.api("POST", "/api/v1/deployments", {"service": "hello", "env": "tight", "digest": bomb["digest"]})
    assert status == 400 and "unpacks to more than 1048576 bytes" in out["error"]["message"], (status, out)
    ag = start_agent("bomb-1", srv.url, srv.join_token({"env": "staging"}), extra=["--max-unpacked", "1MB"])
    wait_for(lambda: srv.hosts().get("bomb-1", {}).get("online"), what="online")
    port = ag.ports[0]
    deploy(srv, v1["digest"])
    st = wait_for(lambda: (lambda s: s if s and s["state"] == "healthy" and s["digest"] == v1["digest"] else None)(
        slot_state(srv, "bomb-1")), timeout=60, what="v1 healthy")
    pid = st["pid"]
    dep = deploy(srv, bomb["digest"])
    # The refusal is reported (briefly: the controller rolls back to v1 at once), and named as the reason.
    ended = ended_deployment(srv, dep["id"])
    assert ended["state"] in ("failed", "rolled_back"), ended
    assert "host 'bomb-1' refused: archive refused by the unpacker" in ended["reason"], ended
    assert "entry 'dist/padding' is 4194304 bytes, over the limit of 1048576" in ended["reason"], ended
    assert '"version":"1.0.0"' in http_get(f"http://127.0.0.1:{port}/version")[1].replace(" ", "")
    assert sorted(p.name for p in (ag.root / "releases").iterdir()) == [v1["digest"]]
    assert not (ag.root / "bundles" / (bomb["digest"] + ".tar.zst")).exists()
    wait_for(lambda: (lambda s: s and s["state"] == "healthy" and s["pid"] == pid)(slot_state(srv, "bomb-1")),
             what="v1 healthy, same pid")
    ag.stop_ok()


def test_failing_validate_reported_then_rolled_back(env, hello_release):
    tmp, start_server, start_agent = env
    v1, v4 = hello_release, hello_release["failing_validate"]
    srv = start_server(trust=v1["pub"])
    upload(srv, v1)
    upload(srv, v4)
    ag = start_agent("val-1", srv.url, srv.join_token({"env": "staging"}))
    wait_for(lambda: srv.hosts().get("val-1", {}).get("online"), what="online")
    port = ag.ports[0]

    def ended(dep_id):
        return srv.api("GET", f"/api/v1/deployments/{dep_id}")[1]["state"] in \
            ("succeeded", "failed", "rolled_back", "aborted")

    dep = deploy(srv, v1["digest"])
    wait_for(lambda: ended(dep["id"]), timeout=60, what="v1 deployed")
    dep = deploy(srv, v4["digest"])
    ag.wait_log("hook 'validate' failed: exit 3")
    log = (ag.root / "logs" / "hello-a.log").read_text()
    assert f"validating on {port}" in log
    wait_for(lambda: ended(dep["id"]), timeout=60, what="deployment ended")
    assert srv.api("GET", f"/api/v1/deployments/{dep['id']}")[1]["state"] in ("failed", "rolled_back")
    # The controller put v1 back: it answers again.
    wait_for(lambda: '"version":"1.0.0"' in http_get(f"http://127.0.0.1:{port}/version")[1].replace(" ", ""),
             timeout=30, what="v1 back")
    st = wait_for(lambda: (lambda s: s if s and s["state"] == "healthy" else None)(slot_state(srv, "val-1")),
                  what="healthy again")
    assert st["digest"] == v1["digest"]
    ag.stop_ok()


def test_cli_deploy_to_two_agents(env, hello_release):
    """The same release through `slipway deploy --wait` (upload included) onto two agents."""
    tmp, start_server, start_agent = env
    srv = start_server(trust=hello_release["pub"])
    a = start_agent("cli-1", srv.url, srv.join_token({"env": "staging"}))
    b = start_agent("cli-2", srv.url, srv.join_token({"env": "staging"}))
    wait_for(lambda: all(srv.hosts().get(n, {}).get("online") for n in ("cli-1", "cli-2")), what="both online")
    env_vars = dict(os.environ, SLIPWAY_SERVER=srv.url, SLIPWAY_TOKEN=srv.admin, SLIPWAY_HOME=str(tmp / "cli-home"))
    p = subprocess.run([_bin(), "deploy", hello_release["paths"]["bundle"], "--env", "staging", "--wait",
                        "--timeout", "2m", "--output", "json"], env=env_vars, capture_output=True, text=True,
                       timeout=180)
    assert p.returncode == 0, p.stdout + p.stderr
    for ag in (a, b):
        assert http_get(f"http://127.0.0.1:{ag.ports[0]}/")[0] == 200
        st = slot_state(srv, ag.name)
        assert st["state"] == "healthy" and st["digest"] == hello_release["digest"]
    a.stop_ok()
    b.stop_ok()


def craft_release(work, manifest_from, members):
    """A release signed by a fresh minisign key in work/ whose archive holds
    members [(name, bytes)] as given (no safety applied): (rel, pub)."""
    import hashlib
    import io
    import tarfile

    work.mkdir()
    subprocess.run(["minisign", "-G", "-W", "-p", str(work / "k.pub"), "-s", str(work / "k.key")],
                   check=True, capture_output=True, timeout=30)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = 0o755
            tf.addfile(ti, io.BytesIO(data))
    (work / "b.tar").write_bytes(raw.getvalue())
    subprocess.run(["zstd", "-q", "-f", str(work / "b.tar"), "-o", str(work / "b.tar.zst")], check=True, timeout=30)
    blob = (work / "b.tar.zst").read_bytes()
    digest = hashlib.sha256(blob).hexdigest()
    bundle = work / f"{digest}.tar.zst"
    bundle.write_bytes(blob)
    manifest = json.loads(Path(manifest_from["paths"]["manifest"]).read_text())
    manifest.update({"digest": "sha256:" + digest, "bundle": bundle.name, "size": len(blob), "files": len(members)})
    mpath = work / f"{digest}.release.json"
    mpath.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    for f in (bundle, mpath):
        subprocess.run(["minisign", "-S", "-s", str(work / "k.key"), "-m", str(f)],
                       check=True, capture_output=True, timeout=30)
    rel = {"digest": digest, "paths": {"bundle": str(bundle), "bundle_signature": str(bundle) + ".minisig",
                                       "manifest": str(mpath), "manifest_signature": str(mpath) + ".minisig"}}
    return rel, work / "k.pub"


def put_files(srv, rel):
    names = {"bundle": "bundle.tar.zst", "bundle_signature": "bundle.tar.zst.minisig",
             "manifest": "release.json", "manifest_signature": "release.json.minisig"}
    for key, name in names.items():
        status, out = srv.api("PUT", f"/api/v1/releases/{rel['digest']}/{name}",
                              raw=Path(rel["paths"][key]).read_bytes())
        assert status == 200, (name, status, out)


def test_signed_bundle_with_path_traversal_refused_at_commit(env, hello_release, tmp_path):
    """A release signed by a trusted key but whose archive climbs out of its
    directory: the server runs the agents' archive checks at commit and
    refuses it (422 naming the entry); nothing of the upload stays, and no
    host is ever asked to install it. (The agent's own refusal of such an
    archive is covered by tests/unit/test_bundle.c and the bomb test.)"""
    tmp, start_server, start_agent = env
    rel, pub = craft_release(tmp_path / "evil", hello_release,
                             [("dist/hello", b"#!/bin/sh\nexit 0\n"), ("../../escaped.txt", b"pwned\n")])
    srv = start_server(trust=pub)
    put_files(srv, rel)
    status, out = srv.api("POST", f"/api/v1/releases/{rel['digest']}/commit")
    assert status == 422, (status, out)
    assert out["error"]["message"].startswith("archive check failed: unsafe bundle"), out
    assert "'../../escaped.txt' has a '..' component" in out["error"]["message"], out
    assert not (srv.data / "releases" / rel["digest"]).exists()
    assert srv.api("GET", f"/api/v1/releases/{rel['digest']}")[0] == 404
    status, out = srv.api("POST", "/api/v1/deployments", {"service": "hello", "env": "staging",
                                                          "digest": rel["digest"]})
    assert status in (404, 422), (status, out)
    # A file count that differs from the manifest's is refused as well.
    rel2, pub2 = craft_release(tmp_path / "count", hello_release, [("dist/hello", b"#!/bin/sh\nexit 0\n")])
    manifest = json.loads(Path(rel2["paths"]["manifest"]).read_text())
    manifest["files"] = 2
    Path(rel2["paths"]["manifest"]).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    subprocess.run(["minisign", "-S", "-s", str(tmp_path / "count" / "k.key"), "-m", rel2["paths"]["manifest"]],
                   check=True, capture_output=True, timeout=30)
    srv.stop()
    srv = start_server(trust=pub2)
    put_files(srv, rel2)
    status, out = srv.api("POST", f"/api/v1/releases/{rel2['digest']}/commit")
    assert status == 422, (status, out)
    assert out["error"]["message"] == "archive check failed: the bundle holds 1 files, release.json says 2", out
    assert not (srv.data / "releases" / rel2["digest"]).exists()


def test_server_max_unpacked_refuses_at_commit(env, hello_release):
    """`slipway server --max-unpacked 1MB`: the bomb release (4 MiB more) is
    refused at commit, naming the file and the limit, and nothing stays."""
    tmp, start_server, start_agent = env
    bomb = hello_release["bomb"]
    srv = start_server(trust=hello_release["pub"], extra=["--max-unpacked", "1MB"])
    put_files(srv, bomb)
    status, out = srv.api("POST", f"/api/v1/releases/{bomb['digest']}/commit")
    assert status == 422, (status, out)
    assert "archive check failed" in out["error"]["message"], out
    assert "entry 'dist/padding' is 4194304 bytes, over the limit of 1048576" in out["error"]["message"], out
    assert not (srv.data / "releases" / bomb["digest"]).exists()
    upload(srv, hello_release)  # a release within the limit commits


def test_abandoned_uploads_removed(env, hello_release):
    """Uploads never committed are removed after --upload-timeout (swept
    while the server runs), and at start for those left by an earlier run."""
    tmp, start_server, start_agent = env
    srv = start_server(trust=hello_release["pub"], extra=["--upload-timeout", "1s"])
    digest = hello_release["digest"]
    status, out = srv.api("PUT", f"/api/v1/releases/{digest}/bundle.tar.zst",
                          raw=Path(hello_release["paths"]["bundle"]).read_bytes())
    assert status == 200, (status, out)
    incoming = srv.data / "releases" / digest / "incoming"
    assert (incoming / "bundle.tar.zst").exists()
    wait_for(lambda: not (srv.data / "releases" / digest).exists(), timeout=15, what="the abandoned upload removed")
    assert "removed abandoned upload" in (tmp / "server.log").read_text()
    # A committed release is never touched; an upload left while no server ran goes at the next start.
    upload(srv, hello_release)
    srv.stop()
    stale = srv.data / "releases" / ("ab" * 32) / "incoming"
    stale.mkdir(parents=True)
    (stale / "release.json").write_text("{}")
    old = time.time() - 7200
    os.utime(stale / "release.json", (old, old))
    srv = start_server(trust=hello_release["pub"])  # default timeout: 1h
    assert not (srv.data / "releases" / ("ab" * 32)).exists()
    assert (srv.data / "releases" / digest / "bundle.tar.zst").exists()
    assert srv.api("GET", f"/api/v1/releases/{digest}")[0] == 200


def test_tampered_desired_run_refused(env, hello_release):
    """A compromised server database: the desired row of a healthy slot gets
    a run section of its own (another command, a hook). The agent takes what
    it runs from the release's signed release.json only: it refuses the row,
    reports why, runs none of it, and the service keeps running; a normal
    deploy afterwards still works."""
    import sqlite3

    tmp, start_server, start_agent = env
    v1, v2 = hello_release, hello_release["v2"]
    srv = start_server(trust=v1["pub"])
    upload(srv, v1)
    upload(srv, v2)
    ag = start_agent("sign-1", srv.url, srv.join_token({"env": "staging"}))
    wait_for(lambda: srv.hosts().get("sign-1", {}).get("online"), what="online")
    port = ag.ports[0]

    def final(dep_id):
        d = srv.api("GET", f"/api/v1/deployments/{dep_id}")[1]
        return d if d["state"] in ("succeeded", "failed", "rolled_back", "aborted") else None

    dep = deploy(srv, v1["digest"])
    assert wait_for(lambda: final(dep["id"]), timeout=60, what="v1 deployed")["state"] == "succeeded"
    st = wait_for(lambda: (lambda s: s if s and s["state"] == "healthy" else None)(slot_state(srv, "sign-1")),
                  what="healthy")
    pid = st["pid"]
    # The server no longer sends what to run.
    status, desired = srv.api("GET", "/api/v1/agent/desired", token=json.loads(
        (ag.root / "agent.json").read_text())["host_token"])
    assert status == 200 and "run" not in desired["services"][0]["slots"][0], desired

    pwned_cmd, pwned_hook = tmp / "pwned-command", tmp / "pwned-hook"
    evil = {"command": f"touch {pwned_cmd}; exec ./dist/hello --port ${{PORT}}",
            "health": {"http": "/healthz"},
            "hooks": {"before_install": f"touch {pwned_hook}", "timeout_ms": 300000}}
    host_id = srv.hosts()["sign-1"]["id"]
    db = sqlite3.connect(srv.data / "slipway.db", timeout=30)
    with db:
        n = db.execute("UPDATE desired SET run = ? WHERE host_id = ? AND service = 'hello' AND slot = 'a'",
                       (json.dumps(evil), host_id)).rowcount
        assert n == 1
        db.execute("UPDATE host_generation SET generation = generation + 1 WHERE host_id = ?", (host_id,))
    db.close()

    st = wait_for(lambda: (lambda s: s if s and s["state"] == "refused" else None)(slot_state(srv, "sign-1")),
                  timeout=30, what="tampered row refused")
    assert "run.command" in st["message"] and "signed release.json" in st["message"], st
    assert st["digest"] == v1["digest"]
    assert not pwned_cmd.exists() and not pwned_hook.exists()
    assert "refused" in ag.text()
    # What ran keeps running, untouched.
    assert http_get(f"http://127.0.0.1:{port}/")[0] == 200
    assert (ag.root / "run" / "hello-a.pid").read_text().split()[0] == str(pid)

    # A normal deploy (rows written by the server again) still works.
    dep = deploy(srv, v2["digest"])
    assert wait_for(lambda: final(dep["id"]), timeout=60, what="v2 deployed")["state"] == "succeeded"
    assert '"version":"1.0.1"' in http_get(f"http://127.0.0.1:{port}/version")[1].replace(" ", "")
    assert not pwned_cmd.exists() and not pwned_hook.exists()
    assert (ag.root / "bundles" / (v2["digest"] + ".release.json")).exists()
    ag.stop_ok()
