"""Scenario: `slipway haproxy-config --env NAME` writes a backend that a real
HAProxy (Debian 2.6) accepts and runs.

Each test has its own tmp dir and SLIPWAY_HOME. The main test starts, on
127.0.0.1 only:
  - `slipway server` (own data dir, admin token from its data dir),
  - three `slipway agent`s: web-1 and web-2 (labels env=web,address=127.0.0.1,
    --ports A,B) and db-1 (env=db, not in the environment),
then runs `slipway haproxy-config --env web` (a canary environment through
HAProxy, run.health http /healthz every 200ms), wraps its output in
global/defaults/frontend sections, checks it with `haproxy -c`, starts
haproxy with it and one hello instance (examples/hello/build/hello) on
web-1's slot a port, and checks through the admin socket (`show servers
state hello`) that exactly web-1-a/b and web-2-a/b exist with the right
addresses and ports, that web-1-a is UP, and that a request through the
frontend gets hello's answer. It also checks --output json, and that a
revoked host drops out. The other tests need no server: bad input exits 2
(unknown environment, environment without traffic, spec errors with
file:line:col, missing --env) and --help exits 0.

test_full_config_carries_deployments: agents enrolled WITHOUT an address
label (one with --address, one with the default: the source address of its
route to the server, 127.0.0.1 here) report their address; `haproxy-config
--full` prints a whole haproxy.cfg (global with the runtime API socket of
the spec, defaults, frontends for two environments, one without hosts);
`haproxy -c` accepts it without a warning; haproxy runs it; a first release
and then a canary (weights set by the server through that socket) of
examples/hello are deployed and served through the frontend; the label
`address` still overrides the reported address.

Every process started is killed at the end; every wait is bounded.
"""
import json
import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from e2eutil import HELLO_BUILD, Procs, Server, free_port, haproxy_cmd, keygen_env, release_from_spec, slipway_bin, \
    wait_for, wait_listening

ROOT = Path(__file__).resolve().parents[2]
HELLO_DIR = ROOT / "examples" / "hello"
HELLO = HELLO_DIR / "build" / "hello"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"

SPEC = """\
service: hello
run:
  command: ./dist/hello --port ${PORT}
  health: { http: /healthz, interval: 200ms, timeout: 1s }
environments:
  web:
    hosts: { env: web }
    strategy:
      canary:
        traffic: { haproxy: { socket: /run/haproxy/admin.sock, backend: hello } }
        steps: [ { weight: 25 }, { weight: 100 } ]
  plain:
    hosts: { env: web }
    strategy: { rolling: { batch: 1 } }
"""


def run_cli(tmp, *args, server=None, cwd=None, timeout=30):
    env = dict(os.environ, SLIPWAY_HOME=str(tmp / "cli-home"))
    for k in ("SLIPWAY_SERVER", "SLIPWAY_TOKEN", "SLIPWAY_LOG"):
        env.pop(k, None)
    if server:
        env["SLIPWAY_SERVER"], env["SLIPWAY_TOKEN"] = server.url, server.admin
    return subprocess.run([slipway_bin(), *map(str, args)], env=env, cwd=str(cwd or tmp), capture_output=True,
                          text=True, timeout=timeout)




def servers_state(sock, backend):
    """{server: row dict} from `show servers state <backend>` (columns by header name)."""
    lines = haproxy_cmd(sock, f"show servers state {backend}").splitlines()
    assert len(lines) >= 2 and lines[0].strip() == "1", lines
    cols = lines[1].lstrip("# ").split()
    out = {}
    for line in lines[2:]:
        f = line.split()
        if len(f) == len(cols):
            row = dict(zip(cols, f))
            out[row["srv_name"]] = row
    return out


def start_agent(procs, tmp, server, name, labels, ports):
    status, tok = server.api("POST", "/api/v1/join-tokens", {"labels": {}})
    assert status in (200, 201), (status, tok)
    env = dict(os.environ, SLIPWAY_HOME=str(tmp / "agent-home"))
    for k in ("SLIPWAY_SERVER", "SLIPWAY_JOIN_TOKEN", "SLIPWAY_LOG"):
        env.pop(k, None)
    return procs.start([slipway_bin(), "agent", "--root", tmp / f"agent-{name}", "--name", name, "--server",
                        server.url, "--join", tok["token"], "--labels", labels, "--ports",
                        f"{ports[0]},{ports[1]}", "--poll-wait", "5", "--stop-services-on-exit"],
                       tmp / f"agent-{name}.log", env=env)


def wrap(backend_text, sock, fe_port):
    return "\n".join([
        "global",
        f"    stats socket {sock} mode 600 level admin",
        "    stats timeout 10s",
        "defaults",
        "    mode http",
        "    timeout connect 1s",
        "    timeout client 10s",
        "    timeout server 10s",
        "frontend fe",
        f"    bind 127.0.0.1:{fe_port}",
        "    default_backend hello",
        "",
    ]) + backend_text


def http_get(port, path="/", timeout=3):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
        return r.status, r.read().decode()


@pytest.fixture
def procs():
    p = Procs()
    yield p
    p.stop_all()


def test_generated_backend_runs_in_haproxy(tmp_path, procs):
    if not os.path.exists(HAPROXY):
        pytest.fail("haproxy is not installed: run scripts/install-deps.sh (make deps)")
    if not HELLO.exists():
        subprocess.run(["make", "-s", "-C", str(HELLO_DIR)], check=True, timeout=300)
    (tmp_path / "slipway.yml").write_text(SPEC)
    server = Server(procs, tmp_path)
    ports = {"web-1": (free_port(), free_port()), "web-2": (free_port(), free_port()),
             "db-1": (free_port(), free_port())}
    while len({p for pair in ports.values() for p in pair}) != 6:  # free_port may repeat; bounded by luck
        ports["web-2"] = (free_port(), free_port())
    start_agent(procs, tmp_path, server, "web-2", "env=web,address=127.0.0.1", ports["web-2"])
    start_agent(procs, tmp_path, server, "web-1", "env=web,address=127.0.0.1", ports["web-1"])
    start_agent(procs, tmp_path, server, "db-1", "env=db,address=127.0.0.1", ports["db-1"])
    wait_for(lambda: {"web-1", "web-2", "db-1"} <= set(server.hosts()), what="3 hosts enrolled")

    p = run_cli(tmp_path, "haproxy-config", "--env", "web", server=server)
    assert p.returncode == 0, p.stderr
    text = p.stdout
    assert text.startswith("backend hello\n"), text
    assert "    balance random" in text
    assert "    option httpchk GET /healthz\n" in text
    assert "inter 200ms fall 2 rise 1 weight 100" in text
    assert "    timeout check 1s\n" in text
    servers = [l.split()[1:3] for l in text.splitlines() if l.strip().startswith("server ")]
    assert servers == [["web-1-a", f"127.0.0.1:{ports['web-1'][0]}"], ["web-1-b", f"127.0.0.1:{ports['web-1'][1]}"],
                       ["web-2-a", f"127.0.0.1:{ports['web-2'][0]}"], ["web-2-b", f"127.0.0.1:{ports['web-2'][1]}"]], text

    # The same through --output json.
    pj = run_cli(tmp_path, "haproxy-config", "--env", "web", "--output", "json", server=server)
    assert pj.returncode == 0, pj.stderr
    j = json.loads(pj.stdout)
    assert j["backend"] == "hello" and j["config"] == text
    assert [(s["name"], s["address"], s["port"], s["host"], s["slot"]) for s in j["servers"]] == [
        ("web-1-a", "127.0.0.1", ports["web-1"][0], "web-1", "a"), ("web-1-b", "127.0.0.1", ports["web-1"][1], "web-1", "b"),
        ("web-2-a", "127.0.0.1", ports["web-2"][0], "web-2", "a"), ("web-2-b", "127.0.0.1", ports["web-2"][1], "web-2", "b")]

    # HAProxy accepts it and runs it.
    sock, fe = tmp_path / "admin.sock", free_port()
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(wrap(text, sock, fe))
    chk = subprocess.run([HAPROXY, "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=10)
    assert chk.returncode == 0, chk.stdout + chk.stderr
    assert "WARNING" not in (chk.stdout + chk.stderr).upper(), chk.stdout + chk.stderr
    hello_port = ports["web-1"][0]
    procs.start([HELLO, "--port", hello_port], tmp_path / "hello.log",
                env=dict(os.environ, HELLO_VERSION="9.9.9"))
    wait_listening(hello_port)
    hap = procs.start([HAPROXY, "-db", "-f", cfg], tmp_path / "haproxy.log")
    wait_for(lambda: hap.poll() is None and sock.exists(), what="haproxy admin socket")
    wait_listening(fe)

    state = servers_state(sock, "hello")
    assert sorted(state) == ["web-1-a", "web-1-b", "web-2-a", "web-2-b"], state
    for name, row in state.items():
        host, slot = name[:-2], name[-1]
        assert row["srv_addr"] == "127.0.0.1", row
        assert int(row["srv_port"]) == ports[host][0 if slot == "a" else 1], row
        assert int(row["srv_iweight"]) == 100, row
    # The empty slots fail their checks (HAProxy starts every server UP);
    # web-1-a (hello) passes its HTTP check (srv_check_result 3) and stays UP.
    wait_for(lambda: servers_state(sock, "hello")["web-2-b"]["srv_op_state"] == "0", timeout=10, what="web-2-b DOWN")
    wait_for(lambda: (lambda r: r["srv_op_state"] == "2" and r["srv_check_result"] == "3")(
        servers_state(sock, "hello")["web-1-a"]), timeout=10, what="web-1-a UP, check passed")
    for _ in range(5):
        status, body = http_get(fe)
        assert status == 200 and body.startswith("hello from hello 9.9.9"), body

    # The runtime API takes the weights and states Slipway sets on these names.
    assert haproxy_cmd(sock, "set server hello/web-2-b weight 0").strip() == ""
    assert haproxy_cmd(sock, "set server hello/web-1-b state maint").strip() == ""

    # A revoked host is no longer part of the backend.
    host_id = server.hosts()["web-2"]["id"]
    status, _ = server.api("DELETE", f"/api/v1/hosts/{host_id}")
    assert status == 200, status
    p = run_cli(tmp_path, "haproxy-config", "--env", "web", server=server)
    assert p.returncode == 0, p.stderr
    assert "web-2" not in p.stdout and "server web-1-a " in p.stdout, p.stdout

    # An environment whose selector matches nothing is refused.
    (tmp_path / "other.yml").write_text(SPEC.replace("hosts: { env: web }\n    strategy:\n      canary",
                                                     "hosts: { env: nowhere }\n    strategy:\n      canary"))
    p = run_cli(tmp_path, "haproxy-config", "--env", "web", "-f", "other.yml", server=server)
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert "no enrolled host matches environment 'web' (hosts: env=nowhere)" in p.stderr, p.stderr
    assert p.stdout == ""


def test_bad_input(tmp_path):
    (tmp_path / "slipway.yml").write_text(SPEC)
    # No server needed: the spec is checked first.
    p = run_cli(tmp_path, "haproxy-config", "--env", "nope")
    assert p.returncode == 2 and p.stdout == ""
    assert "unknown environment 'nope' in 'slipway.yml' (known: web, plain)" in p.stderr, p.stderr

    p = run_cli(tmp_path, "haproxy-config", "--env", "plain")
    assert p.returncode == 2 and p.stdout == ""
    assert "environment 'plain' has no traffic.haproxy: nothing to generate" in p.stderr, p.stderr

    (tmp_path / "bad.yml").write_text("service: hello\nenvironments:\n  web:\n    hostz: {}\n")
    p = run_cli(tmp_path, "haproxy-config", "--env", "web", "--file", "bad.yml")
    assert p.returncode == 2 and p.stdout == ""
    assert "bad.yml:4:5:" in p.stderr, p.stderr

    p = run_cli(tmp_path, "haproxy-config", "--env", "web", "--file", "missing.yml")
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "missing.yml" in p.stderr

    p = run_cli(tmp_path, "haproxy-config")
    assert p.returncode == 2 and "--env" in p.stderr

    p = run_cli(tmp_path, "haproxy-config", "--env", "web", "--output", "yaml")
    assert p.returncode == 2

    p = run_cli(tmp_path, "haproxy-config", "--help")
    assert p.returncode == 0 and p.stdout.startswith("usage: slipway haproxy-config --env NAME")

    p = run_cli(tmp_path, "help")
    assert "  haproxy-config " in p.stdout


def test_bad_values_refused(tmp_path, procs):
    """A host whose address label cannot go into a config is refused by name, exit 2."""
    (tmp_path / "slipway.yml").write_text(SPEC)
    server = Server(procs, tmp_path)
    start_agent(procs, tmp_path, server, "web-1", "env=web,address=127.0.0.1", (free_port(), free_port()))
    start_agent(procs, tmp_path, server, "web-9", "env=web,address=bad_host", (free_port(), free_port()))
    wait_for(lambda: {"web-1", "web-9"} <= set(server.hosts()), what="2 hosts enrolled")
    p = run_cli(tmp_path, "haproxy-config", "--env", "web", server=server)
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert "host 'web-9': field 'address' 'bad_host'" in p.stderr, p.stderr
    assert p.stdout == ""


FULL_SPEC = """\
service: hello
version: {version}
""" + HELLO_BUILD + """\
run:
  command: ./dist/hello --port ${{PORT}}
  env: {{ HELLO_VERSION: "{version}" }}
  health: {{ http: /healthz, interval: 200ms, timeout: 1s }}
environments:
  web:
    hosts: {{ env: web }}
    strategy:
      canary:
        traffic: {{ haproxy: {{ socket: {sock}, backend: hello }} }}
        steps: [ {{ weight: 50 }}, {{ weight: 100 }} ]
  edge:
    hosts: {{ env: edge }}
    strategy:
      canary:
        traffic: {{ haproxy: {{ socket: {sock}, backend: hello-edge }} }}
        steps: [ {{ weight: 100 }} ]
"""


def test_full_config_carries_deployments(tmp_path, procs):
    if not os.path.exists(HAPROXY):
        pytest.fail("haproxy is not installed: run scripts/install-deps.sh (make deps)")
    if not HELLO.exists():
        subprocess.run(["make", "-s", "-C", str(HELLO_DIR)], check=True, timeout=300)
    sock = tmp_path / "admin.sock"
    kenv = keygen_env(tmp_path / "rel-home")
    rels = {v: release_from_spec(tmp_path / f"src-{v}", kenv, FULL_SPEC.format(version=v, hello=HELLO, sock=sock))
            for v in ("1.0.0", "2.0.0")}
    spec = tmp_path / "src-1.0.0" / "slipway.yml"
    server = Server(procs, tmp_path, trust=tmp_path / "rel-home" / "keys" / "slipway.pub")
    ports = {}
    for name, extra in (("web-1", ["--address", "127.0.0.1"]), ("web-2", [])):
        status, tok = server.api("POST", "/api/v1/join-tokens", {"labels": {"env": "web"}})
        assert status in (200, 201), (status, tok)
        jf = tmp_path / f"{name}.join"
        jf.write_text(tok["token"] + "\n")
        os.chmod(jf, 0o600)
        ports[name] = (free_port(), free_port())
        env = dict(os.environ, SLIPWAY_HOME=str(tmp_path / "agent-home"))
        for k in ("SLIPWAY_SERVER", "SLIPWAY_JOIN_TOKEN", "SLIPWAY_LOG"):
            env.pop(k, None)
        procs.start([slipway_bin(), "agent", "--root", tmp_path / f"agent-{name}", "--name", name, "--server",
                     server.url, "--join-file", jf, "--ports", f"{ports[name][0]},{ports[name][1]}",
                     "--poll-wait", "5", "--stop-services-on-exit", *extra], tmp_path / f"agent-{name}.log", env=env)
    hosts = wait_for(lambda: (lambda h: h if all(h.get(n, {}).get("online") for n in ports) else None)(server.hosts()),
                     what="2 hosts online")
    # No address label: each host's address is the one its agent reports.
    for name in ports:
        assert hosts[name]["address"] == "127.0.0.1" and "address" not in hosts[name]["labels"], hosts[name]
    p = run_cli(tmp_path, "hosts", server=server)
    assert p.returncode == 0 and "ADDRESS" in p.stdout, p.stdout
    assert [l.split()[5] for l in p.stdout.splitlines()[1:]] == ["127.0.0.1", "127.0.0.1"], p.stdout

    # Two environments with traffic: each frontend needs its own --bind.
    p = run_cli(tmp_path, "haproxy-config", "--full", "-f", spec, server=server)
    assert p.returncode == 2 and "environment 'web' needs --bind web=ADDRESS:PORT" in p.stderr, p.stderr
    fe, fe_edge = free_port(), free_port()
    p = run_cli(tmp_path, "haproxy-config", "--full", "-f", spec, "--bind", f"web=127.0.0.1:{fe}", "--bind",
                f"edge=127.0.0.1:{fe_edge}", server=server)
    assert p.returncode == 0, p.stderr
    text = p.stdout
    assert f"    stats socket {sock} mode 660 level admin\n" in text, text
    assert text.count("stats socket") == 1, text
    assert f"frontend fe_web\n    # environment web\n    bind 127.0.0.1:{fe}\n    default_backend hello\n" in text
    assert "frontend fe_edge\n" in text and "backend hello-edge\n" in text
    assert "no enrolled host matches environment 'edge' yet" in text
    servers = [l.split()[1:3] for l in text.splitlines() if l.strip().startswith("server ")]
    assert servers == [["web-1-a", f"127.0.0.1:{ports['web-1'][0]}"], ["web-1-b", f"127.0.0.1:{ports['web-1'][1]}"],
                       ["web-2-a", f"127.0.0.1:{ports['web-2'][0]}"], ["web-2-b", f"127.0.0.1:{ports['web-2'][1]}"]]
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(text)
    chk = subprocess.run([HAPROXY, "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=10)
    assert chk.returncode == 0, chk.stdout + chk.stderr
    assert "WARNING" not in (chk.stdout + chk.stderr).upper(), chk.stdout + chk.stderr
    pj = run_cli(tmp_path, "haproxy-config", "--full", "-f", spec, "--env", "web", "--output", "json", server=server)
    assert pj.returncode == 0, pj.stderr
    j = json.loads(pj.stdout)
    assert j["frontends"] == [{"env": "web", "bind": "*:80", "backend": "hello"}], j
    assert [s["address"] for s in j["backends"][0]["servers"]] == ["127.0.0.1"] * 4, j

    hap = procs.start([HAPROXY, "-db", "-f", cfg], tmp_path / "haproxy.log")
    wait_for(lambda: hap.poll() is None and sock.exists(), what="haproxy admin socket")
    wait_listening(fe)

    # The server steers traffic through the socket the config opened: a first release, then a canary.
    cli_env = dict(os.environ, SLIPWAY_HOME=str(tmp_path / "cli-home"), SLIPWAY_SERVER=server.url,
                   SLIPWAY_TOKEN=server.admin)
    cli_env.pop("SLIPWAY_LOG", None)
    for version in ("1.0.0", "2.0.0"):
        d = subprocess.run([slipway_bin(), "deploy", rels[version]["bundle"], "--env", "web", "--wait", "--output",
                            "json"], env=cli_env, capture_output=True, text=True, timeout=180)
        assert d.returncode == 0, f"deploy {version}: {d.stdout}\n{d.stderr}"
        assert json.loads(d.stdout)["state"] == "succeeded", d.stdout
        answers = {http_get(fe)[1].split()[3] for _ in range(20)}
        assert answers == {version}, (version, answers)

    # The label 'address' overrides what the agent reports.
    p = run_cli(tmp_path, "hosts", "label", "web-2", "address=localhost", server=server)
    assert p.returncode == 0, p.stderr
    p = run_cli(tmp_path, "haproxy-config", "--env", "web", "-f", spec, server=server)
    assert p.returncode == 0, p.stderr
    assert f"server web-2-a localhost:{ports['web-2'][0]} check" in p.stdout, p.stdout
    assert f"server web-1-a 127.0.0.1:{ports['web-1'][0]} check" in p.stdout, p.stdout
