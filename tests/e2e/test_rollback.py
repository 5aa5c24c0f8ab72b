"""Scenario tests for rollbacks (docs/rollout.md, "Failure, deadline, abort"):
a real `slipway server`, four `slipway agent` processes and the `hello`
service, with the releases and the environments `mh3` and `short` of
test_deploy.py's slipway.yml (its helpers build them; no HAProxy here).

  - an abort after three of four hosts run v2 (min_healthy 3): the rollback
    goes in batches and a prober hitting every host's /healthz every 20 ms
    never sees fewer than 3 healthy instances;
  - `slipway rollback --emergency`: one batch of every host, recorded;
  - an agent stopped (SIGSTOP) while the rollback restores its host: the
    deployment waits (deploy --wait does not return), then ends `failed`
    naming that host after health_timeout (5 s), or, when the agent is
    continued in time, `rolled_back` only after it reported the old
    release healthy.
Every wait is bounded and follows a state, never a fixed sleep.
"""
import datetime
import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from e2eutil import free_port, slipway_bin as _bin, wait_for
from test_deploy import HELLO_DIR, HOSTS, Fleet, make_release


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("rollback")
    if not (HELLO_DIR / "build" / "hello").exists():
        subprocess.run(["make", "-s", "-C", str(HELLO_DIR)], check=True, timeout=300, stdout=subprocess.DEVNULL)
    ports = {h: (free_port(), free_port()) for h in HOSTS}
    env = dict(os.environ, SLIPWAY_HOME=str(base / "home"), SLIPWAY_ACTOR="tester@example.com")
    for k in ("SLIPWAY_LOG", "SLIPWAY_SERVER", "SLIPWAY_TOKEN"):
        env.pop(k, None)
    subprocess.run([_bin(), "keygen"], env=env, check=True, capture_output=True, timeout=30)
    rel = {
        "v1": make_release(base, env, "v1", "hello", "1.0.0"),
        "v2": make_release(base, env, "v2", "hello", "2.0.0"),
        "bad": make_release(base, env, "bad", "hello", "3.0.0-bad", extra_env=', HELLO_UNHEALTHY: "1"'),
    }
    return {"base": base, "ports": ports, "rel": rel, "pub": base / "home" / "keys" / "slipway.pub"}


@pytest.fixture
def fleet(world, tmp_path):
    f = Fleet(world, tmp_path)
    yield f
    for a in f.agents.values():
        if a.proc.poll() is None:
            a.proc.send_signal(signal.SIGCONT)
    f.stop()


class Prober:
    """Every ~20 ms, GET /healthz on every host's slot-a port; keeps the lowest count of 200s seen."""

    def __init__(self, ports):
        self.ports = ports
        self.low = None
        self.rounds = 0
        self.stop_ev = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)

    def one(self, port):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=0.5) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def run(self):
        deadline = time.monotonic() + 120  # bounded whatever happens
        while not self.stop_ev.is_set() and time.monotonic() < deadline:
            n = sum(self.one(self.ports[h][0]) for h in HOSTS)
            self.low = n if self.low is None else min(self.low, n)
            self.rounds += 1
            self.stop_ev.wait(0.02)

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *exc):
        self.stop_ev.set()
        self.t.join(timeout=10)


def events(fleet, dep_id):
    st, out = fleet.server.api("GET", "/api/v1/events?after=0&limit=1000")
    assert st == 200, out
    return [e for e in out["events"] if e["subject"] == f"deployment/{dep_id}"]


def rollback_batches(fleet, dep_id):
    return [e["payload"] for e in events(fleet, dep_id) if e["kind"] == "deployment.rollback_batch"]


def test_rollback_keeps_min_healthy(fleet, world):
    rel = world["rel"]
    fleet.deploy("v1", "mh3", "--wait")
    assert fleet.running(rel["v1"]["digest"])
    dep = fleet.deploy("v2", "mh3")
    # Three of four hosts on v2 (min_healthy 3: one host at a time), then abort.
    wait_for(lambda: fleet.running(rel["v2"]["digest"], hosts=HOSTS[:3]), timeout=60, what="web-1..3 on v2")
    with Prober(world["ports"]) as probe:
        wait_for(lambda: probe.rounds > 0, what="the prober's first round")
        p = fleet.cli("abort", dep["id"], "--reason", "test")
        assert p.returncode == 0, p.stderr
        fin = fleet.server.wait_final(dep["id"], timeout=90)
        wait_for(lambda: fleet.running(rel["v1"]["digest"]), timeout=30, what="every host on v1")
    print(f"\nrollback (min_healthy 3): lowest healthy {probe.low} of 4 over {probe.rounds} probe rounds")
    assert fin["state"] == "aborted", fin
    assert probe.low >= 3, f"only {probe.low} of 4 hosts answered /healthz during the rollback (min_healthy 3)"
    assert probe.rounds > 5, probe.rounds
    batches = rollback_batches(fleet, dep["id"])
    # web-1..3 (serving v2) one at a time; web-4 (if it was told already) at no cost first.
    assert [h for b in batches for h in b["hosts"] if h != "web-4"] == ["web-1", "web-2", "web-3"], batches
    assert all(not b["emergency"] for b in batches)
    assert all(len([h for h in b["hosts"] if h != "web-4"]) <= 1 for b in batches), batches


def test_rollback_emergency_all_at_once(fleet, world):
    rel = world["rel"]
    fleet.deploy("v1", "mh3", "--wait")
    fleet.deploy("v2", "mh3", "--wait")
    assert fleet.running(rel["v2"]["digest"])
    with Prober(world["ports"]) as probe:
        wait_for(lambda: probe.rounds > 0, what="the prober's first round")
        p = fleet.cli("rollback", "hello", "--env", "mh3", "--emergency", "--wait", "--output", "json")
    print(f"\nrollback --emergency: lowest healthy {probe.low} of 4 over {probe.rounds} probe rounds")
    assert p.returncode == 0, p.stdout + p.stderr
    back = json.loads(p.stdout)
    assert back["state"] == "succeeded" and back["digest"] == rel["v1"]["digest"], back
    d = fleet.server.deployment(back["id"])
    assert d["kind"] == "rollback", d
    assert d["batches"] == 1, d  # every host in one batch, min_healthy 3 not kept
    created = [e for e in events(fleet, back["id"]) if e["kind"] == "deployment.created"]
    assert created and created[0]["payload"].get("emergency") is True, created
    assert fleet.running(rel["v1"]["digest"])
    # Without --emergency the same rollback keeps min_healthy: one host per batch.
    fleet.deploy("v2", "mh3", "--wait")
    p = fleet.cli("rollback", "hello", "--env", "mh3", "--wait", "--output", "json")
    assert p.returncode == 0, p.stdout + p.stderr
    back = json.loads(p.stdout)
    assert fleet.server.deployment(back["id"])["batches"] == 4
    assert "emergency" not in [e for e in events(fleet, back["id"]) if e["kind"] == "deployment.created"][0]["payload"]


def stopped_agent_rollback(fleet, world, resume):
    rel = world["rel"]
    fleet.deploy("v1", "short", "--wait")
    # The bad release never gets healthy; once every host was told, web-2's agent is stopped.
    waiter = subprocess.Popen(
        [_bin(), "deploy", rel["bad"]["bundle"], "--env", "short", "--wait", "--output", "json"],
        env=dict(os.environ, SLIPWAY_HOME=str(fleet.tmp / "cli-home"), SLIPWAY_SERVER=fleet.server.url,
                 SLIPWAY_TOKEN=fleet.server.admin, SLIPWAY_ACTOR="tester@example.com"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: all((fleet.slot(h) or {}).get("digest") == rel["bad"]["digest"] for h in HOSTS),
                 timeout=60, what="every host told the bad release")
        deps = fleet.server.api("GET", "/api/v1/deployments?service=hello&env=short")[1]
        dep_id = max(deps, key=lambda x: int(x["id"].split("-")[-1]))["id"]
        agent = fleet.agents["web-2"]
        agent.proc.send_signal(signal.SIGSTOP)
        # The rollback gives every host v1 back; three report it, web-2 cannot.
        def others_restored():
            d = fleet.server.deployment(dep_id)
            assert d["state"] == "progressing", f"{dep_id} ended {d['state']} while web-2's agent was stopped: {d}"
            ph = {h["name"]: h["phase"] for h in d["hosts"]}
            return d if d["phase"] == "rollback" and all(ph[h] == "restored" for h in HOSTS if h != "web-2") else None
        d = wait_for(others_restored, timeout=30, what="web-1, web-3, web-4 restored")
        assert d["state"] == "progressing", d
        assert waiter.poll() is None, "deploy --wait returned before the rollback ended"
        if resume:
            resumed_at = time.time()
            agent.proc.send_signal(signal.SIGCONT)
        fin = fleet.server.wait_final(dep_id, timeout=60)
        out, err = waiter.communicate(timeout=30)
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait()
    assert waiter.returncode == 1, (out, err)
    if resume:
        assert fin["state"] == "rolled_back", fin
        s = fleet.slot("web-2")
        assert s["digest"] == rel["v1"]["digest"] and s["state"] == "healthy", s
        ended = [e for e in events(fleet, dep_id) if e["kind"] == "deployment.rolled_back"]
        assert ended, events(fleet, dep_id)
        assert fleet.running(rel["v1"]["digest"])
        return resumed_at, ended[0]
    assert fin["state"] == "failed", fin
    assert "rollback incomplete: host 'web-2' unreachable after 5s" in fin["reason"], fin["reason"]
    assert "web-1" not in fin["reason"].split("rollback incomplete")[1], fin["reason"]
    assert "web-2" in err, err
    return None, None


def test_rollback_waits_for_a_stopped_agent_then_fails(fleet, world):
    stopped_agent_rollback(fleet, world, resume=False)


def test_rollback_ends_rolled_back_after_the_stopped_agent_reports(fleet, world):
    resumed_at, ended = stopped_agent_rollback(fleet, world, resume=True)
    # Ended only after web-2 could report again (event times are the server's UTC wall clock).
    t = datetime.datetime.strptime(ended["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    assert t.timestamp() > resumed_at, (ended["time"], resumed_at)
