"""Scenario: `slipway hosts label HOST KEY=VALUE... KEY-...` against a real
`slipway server` and one `slipway agent` on loopback.

The host enrolls with env=staging. A deployment to `prod` (hosts env=prod)
is refused: no host matches. `hosts label web-1 env=prod tier=front` (by
name) and `hosts label <id> tier-` (by id) change the labels; each change is
an event `host.labeled` with the actor, what was set and removed, and the
labels before and after. The next deployment to `prod` selects the host
and runs there. Bad input exits 2 naming the label (bad name, value too
long, set and removed at once, unknown host, nothing to change), a viewer
token is refused (exit 1), and a revoked host's labels cannot change (409).
Every process started is stopped at the end; every wait is bounded.
"""
import json
import os
import subprocess

import pytest

from e2eutil import HELLO_BUILD, HELLO_DIR, Procs, Server, free_port, keygen_env, release_from_spec, slipway_bin, \
    wait_for

SPEC = """\
service: hello
version: 1.0.0
""" + HELLO_BUILD + """\
run:
  command: ./dist/hello --port ${{PORT}}
  health: {{ http: /healthz, interval: 200ms, timeout: 1s }}
environments:
  prod:
    hosts: {{ env: prod }}
    strategy: {{ rolling: {{ batch: 1 }} }}
"""


@pytest.fixture
def procs():
    p = Procs()
    yield p
    p.stop_all()


def cli(tmp, server, *args, token=None, timeout=60):
    env = dict(os.environ, SLIPWAY_HOME=str(tmp / "cli-home"), SLIPWAY_SERVER=server.url,
               SLIPWAY_TOKEN=token or server.admin, SLIPWAY_ACTOR="tester@example.com")
    env.pop("SLIPWAY_LOG", None)
    return subprocess.run([slipway_bin(), *map(str, args)], env=env, capture_output=True, text=True,
                          timeout=timeout)


def labeled_events(server):
    status, out = server.api("GET", "/api/v1/events?limit=1000")
    assert status == 200, out
    return [e for e in out["events"] if e["kind"] == "host.labeled"]


def test_label_set_remove_audited_and_used_by_later_deployments(tmp_path, procs):
    if not (HELLO_DIR / "build" / "hello").exists():
        subprocess.run(["make", "-s", "-C", str(HELLO_DIR)], check=True, timeout=300)
    kenv = keygen_env(tmp_path / "rel-home")
    rel = release_from_spec(tmp_path / "src", kenv, SPEC.format(hello=HELLO_DIR / "build" / "hello", version="1.0.0"))
    server = Server(procs, tmp_path, trust=tmp_path / "rel-home" / "keys" / "slipway.pub")
    status, tok = server.api("POST", "/api/v1/join-tokens", {"labels": {"env": "staging"}})
    assert status in (200, 201), tok
    env = dict(os.environ, SLIPWAY_HOME=str(tmp_path / "agent-home"), SLIPWAY_JOIN_TOKEN=tok["token"])
    env.pop("SLIPWAY_SERVER", None)
    ports = (free_port(), free_port())
    procs.start([slipway_bin(), "agent", "--root", tmp_path / "agent", "--name", "web-1", "--server", server.url,
                 "--ports", f"{ports[0]},{ports[1]}", "--poll-wait", "5", "--stop-services-on-exit"],
                tmp_path / "agent.log", env=env)
    host = wait_for(lambda: server.hosts().get("web-1", {}).get("online") and server.hosts()["web-1"],
                    what="web-1 online")

    # Before: prod selects no host.
    d = cli(tmp_path, server, "deploy", rel["bundle"], "--env", "prod", "--output", "json")
    assert d.returncode != 0, d.stdout
    assert "no host" in (d.stdout + d.stderr), d.stdout + d.stderr

    p = cli(tmp_path, server, "hosts", "label", "web-1", "env=prod", "tier=front")
    assert p.returncode == 0, p.stderr
    assert p.stdout == "web-1: env=prod,tier=front\n", p.stdout
    p = cli(tmp_path, server, "hosts", "label", host["id"], "tier-", "gone-", "--output", "json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"id": host["id"], "name": "web-1", "labels": {"env": "prod"}}, p.stdout
    assert server.hosts()["web-1"]["labels"] == {"env": "prod"}
    ev = labeled_events(server)
    assert len(ev) == 2, ev
    assert ev[0]["actor"] and not ev[0]["actor"].startswith("agent:"), ev[0]
    assert ev[0]["subject"] == f"host/{host['id']}"
    assert ev[0]["payload"] == {"host_id": host["id"], "name": "web-1", "set": {"env": "prod", "tier": "front"},
                                "removed": [], "before": {"env": "staging"},
                                "labels": {"env": "prod", "tier": "front"}}, ev[0]
    # Removing a label the host does not have is not an error, and not recorded as removed.
    assert ev[1]["payload"]["removed"] == ["tier"] and ev[1]["payload"]["labels"] == {"env": "prod"}, ev[1]

    # After: the next deployment to prod selects web-1 and runs there.
    d = cli(tmp_path, server, "deploy", rel["bundle"], "--env", "prod", "--wait", "--output", "json", timeout=120)
    assert d.returncode == 0, d.stdout + d.stderr
    dep = json.loads(d.stdout)
    assert dep["state"] == "succeeded", dep
    runs = [(s["service"], s["digest"], s["state"]) for s in server.hosts()["web-1"]["services"]]
    assert ("hello", rel["digest"], "healthy") in runs, runs

    # Bad input: exit 2, the label named; nothing changes, nothing is recorded.
    for args, needle in (
            (["web-1", "bad key=x"], "label name 'bad key'"),
            (["web-1", "k=" + "v" * 129], "label 'k' must be a string of at most 128 printable bytes"),
            (["web-1", "env=x", "env-"], "label 'env' is both set and removed"),
            (["web-1", "env"], "'env' is neither KEY=VALUE"),
            (["web-1", "a=1", "a=2"], "label 'a' is given twice"),
            (["web-1"], "what to change?"),
            (["nope", "a=b"], "no host with id or name 'nope'")):
        p = cli(tmp_path, server, "hosts", "label", *args)
        assert p.returncode == 2, (args, p.returncode, p.stderr)
        assert needle in p.stderr, (args, p.stderr)
    assert server.hosts()["web-1"]["labels"] == {"env": "prod"}
    assert len(labeled_events(server)) == 2

    # Only an admin may change labels.
    status, viewer = server.api("POST", "/api/v1/tokens", {"role": "viewer"})
    assert status == 201, viewer
    p = cli(tmp_path, server, "hosts", "label", "web-1", "a=b", token=viewer["token"])
    assert p.returncode == 1 and "admin" in p.stderr, p.stderr

    # A revoked host's labels stay as they were.
    status, _ = server.api("DELETE", f"/api/v1/hosts/{host['id']}")
    assert status == 200
    p = cli(tmp_path, server, "hosts", "label", "web-1", "a=b")
    assert p.returncode == 1 and "is revoked" in p.stderr, p.stderr
    assert server.hosts()["web-1"]["labels"] == {"env": "prod"}


def test_hosts_wait_until_enough_are_online(tmp_path, procs):
    """`hosts --wait N` lists once N hosts are online (agents started after it began waiting); with fewer
    online than asked it gives up after --timeout, exit 1, saying how many are; --timeout alone is bad usage."""
    server = Server(procs, tmp_path)
    waiter = subprocess.Popen([slipway_bin(), "hosts", "--wait", "2", "--timeout", "60s", "--output", "json"],
                              env=dict(os.environ, SLIPWAY_SERVER=server.url, SLIPWAY_TOKEN=server.admin),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for i in (1, 2):
            status, tok = server.api("POST", "/api/v1/join-tokens", {"labels": {"env": "staging"}})
            assert status in (200, 201), tok
            env = dict(os.environ, SLIPWAY_JOIN_TOKEN=tok["token"])
            env.pop("SLIPWAY_SERVER", None)
            procs.start([slipway_bin(), "agent", "--root", tmp_path / f"agent{i}", "--name", f"web-{i}",
                         "--server", server.url, "--ports", f"{free_port()},{free_port()}", "--poll-wait", "5"],
                        tmp_path / f"agent{i}.log", env=env)
        out, err = waiter.communicate(timeout=90)
    finally:
        if waiter.poll() is None:
            waiter.kill()
    assert waiter.returncode == 0, err
    hosts = json.loads(out)
    assert sorted(h["name"] for h in hosts if h["online"]) == ["web-1", "web-2"], hosts

    p = cli(tmp_path, server, "hosts", "--wait", "3", "--timeout", "500ms")
    assert p.returncode == 1, p.stdout + p.stderr
    assert "2 of 2 enrolled hosts online after 500ms; waited for 3" in p.stderr, p.stderr
    p = cli(tmp_path, server, "hosts", "--timeout", "5s")
    assert p.returncode == 2 and "--timeout goes with --wait N" in p.stderr, p.stderr
    p = cli(tmp_path, server, "hosts", "--wait", "many")
    assert p.returncode == 2 and "--wait: 'many' is not a number of hosts" in p.stderr, p.stderr
