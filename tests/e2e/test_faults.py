"""Fault loop: the server killed or frozen at random points of rollouts.

Set-up (once for the module): examples/hello releases v1 and v2, a real
HAProxy on loopback in front of four agents' slots (test_deploy.py's
haproxy: health checks every 100 ms, retries and redispatch on connection
failures; here with a 1 s check timeout), one `slipway server` (heartbeat 300 ms: hosts offline after
900 ms unseen) and four `slipway agent`s web-1..web-4.

Environments of the releases (min_healthy 3 of 4 everywhere):
  rolling   rolling, batch 1, no traffic shifting (hosts replaced in place)
  bg        blue/green through HAProxy, keep_old 1s
  drain     rolling, batch 1, each host drained through HAProxy

Each run deploys the other release to one environment and, at a random
point of it (rolling: once k of the 4 hosts are done, k random, plus up to
0.5 s; blue/green, which updates every host at once: uniform over 90% of
its undisturbed first rollout's time), does one fault to the server, in
turn: SIGKILL and an immediate restart, SIGSTOP for
4 s then SIGCONT, SIGSTOP for 30 s then SIGCONT. Meanwhile a prober sends
GET / through HAProxy every 20 ms and a sampler reads HAProxy's servers
every 50 ms. Asserted for every run: the deployment ends `succeeded` (no
false rollback), no probe failed, the servers in rotation and UP never
fell below min_healthy, and every host's serving slot ends ready and UP
(waited for, bounded: traffic reconciliation runs every 5 s).

FAULT_RUNS (default 3) runs per kind; the faults cycle, so the default
includes one 30 s pause per kind. The closing table (runs, false
rollbacks, failed probes, min_healthy breaks, hosts left out of rotation)
is printed at the end of the module:

    FAULT_RUNS=20 SLIPWAY_BIN=$PWD/build/slipway /usr/bin/python3 -m pytest -q tests/e2e/test_faults.py

test_traffic_reconciled checks reconciliation on its own: a healthy host
put in maint behind the server's back (as a rollback that ended early
leaves it), while the server runs and while it is down, goes back in
rotation. Every wait is bounded.
"""
import http.client
import json
import os
import random
import signal
import subprocess
import threading
import time

import pytest

from e2eutil import HELLO_BUILD, HELLO_DIR, free_port, keygen_env, release_from_spec, slipway_bin, wait_for
from test_deploy import HOSTS, Agent, Server, haproxy_cmd, haproxy_servers, kill_services, start_haproxy

RUNS = int(os.environ.get("FAULT_RUNS", "3"))
FAULTS = ["kill", "stop4", "stop30"]
MIN_HEALTHY = 3
PROBE_S = 0.02

SPEC = """\
service: hello
version: {version}
""" + HELLO_BUILD + """\
run:
  command: ./dist/hello --port ${{PORT}}
  env: {{ HELLO_VERSION: "{version}", HELLO_DRAIN_MS: "3000" }}
  health: {{ http: /healthz, interval: 200ms, timeout: 1s, retries: 2 }}
  stop: {{ signal: TERM, grace: 5s }}
environments:
  rolling:
    hosts: {{ env: web }}
    strategy:
      rolling: {{ batch: 1, max_unavailable: 1, min_healthy: {mh}, health_timeout: 20s }}
  bg:
    hosts: {{ env: web }}
    strategy:
      blue_green:
        keep_old: 1s
        traffic: {{ haproxy: {{ socket: {sock}, backend: hello }} }}
  drain:
    hosts: {{ env: web }}
    strategy:
      rolling:
        batch: 1
        max_unavailable: 1
        min_healthy: {mh}
        health_timeout: 20s
        traffic: {{ haproxy: {{ socket: {sock}, backend: hello }} }}
"""

RESULTS = []  # one dict per run


# Without `timeout check`, HAProxy gives a health check `inter` (100 ms) to
# answer: on a loaded 2-core machine a healthy hello missed it now and then
# and was marked DOWN for a check, which the sampler counted as a host out
# (2 of 60 runs). A host that is really stopped refuses the connection and
# is still marked down at once.
HAPROXY_DEFAULTS = ("timeout check 1s",)


def make_release(base, env, version, sock):
    rel = release_from_spec(base / f"src-{version}", env, SPEC.format(
        version=version, hello=HELLO_DIR / "build" / "hello", sock=sock, mh=MIN_HEALTHY))
    return dict(rel, version=version)


class World:
    """HAProxy, one server, four agents and the two releases; deploy() and fault() on them."""

    def __init__(self, base):
        self.base = base
        self.ports = {h: (free_port(), free_port()) for h in HOSTS}
        self.hap, self.sock, self.fe, self.hlog = start_haproxy(base, self.ports, HAPROXY_DEFAULTS)
        self.env = keygen_env(base / "home")
        self.rel = {v: make_release(base, self.env, v, self.sock) for v in ("1.0.0", "2.0.0")}
        self.server = Server(base, base / "home" / "keys" / "slipway.pub", free_port())
        self.agents = {}
        for h in HOSTS:
            status, out = self.server.api("POST", "/api/v1/join-tokens", {"labels": {}})
            assert status in (200, 201), (status, out)
            self.agents[h] = Agent(base, h, self.server.url, out["token"], "env=web,address=127.0.0.1",
                                   self.ports[h])
        wait_for(lambda: all(self.server.hosts().get(h, {}).get("online") for h in HOSTS), what="4 hosts online")
        self.current = None
        self.took = {}  # env: seconds of its undisturbed first rollout

    def deploy(self, version, env_name):
        cli_env = dict(self.env, SLIPWAY_SERVER=self.server.url, SLIPWAY_TOKEN=self.server.admin)
        p = subprocess.run([slipway_bin(), "deploy", self.rel[version]["bundle"], "--env", env_name, "--output",
                            "json"], env=cli_env, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, f"deploy {version} to {env_name}: exit {p.returncode}\n{p.stdout}\n{p.stderr}"
        return json.loads(p.stdout)

    def other(self):
        return "2.0.0" if self.current == "1.0.0" else "1.0.0"

    def fault(self, kind):
        if kind == "kill":
            self.server.kill()
            self.server.start()
            return
        self.server.proc.send_signal(signal.SIGSTOP)
        try:
            time.sleep(4 if kind == "stop4" else 30)  # the outage itself, not a wait for a state
        finally:
            self.server.proc.send_signal(signal.SIGCONT)

    def serving(self, dep):
        """{host: server name of its serving slot} from the deployment's view."""
        return {h["name"]: f"{h['name']}-{h.get('slot') or 'a'}" for h in dep["hosts"]}

    def out_of_rotation(self, names):
        st = haproxy_servers(self.sock)
        return sorted(n for n in names if n not in st or st[n][0] != "ready" or st[n][1] != 2 or st[n][2] <= 0)

    def stop(self):
        for a in self.agents.values():
            a.stop()
        for a in self.agents.values():
            kill_services(a.root)
        self.server.stop()
        self.hap.terminate()
        try:
            self.hap.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.hap.kill()
            self.hap.wait(timeout=10)
        self.hlog.close()


class Watch:
    """A prober (GET / through HAProxy every 20 ms) and a sampler of HAProxy's servers in rotation and UP."""

    def __init__(self, world):
        self.world = world
        self.stop_ev = threading.Event()
        self.probes = self.failed = 0
        self.errors = []
        self.min_up = None
        self.min_at = None  # (seconds since the start, the servers) when min_up was seen
        self.t0 = time.monotonic()
        self.threads = [threading.Thread(target=f, daemon=True) for f in (self.probe, self.sample)]
        for t in self.threads:
            t.start()

    def probe(self):
        end = time.monotonic() + 600
        while not self.stop_ev.is_set() and time.monotonic() < end:
            c = http.client.HTTPConnection("127.0.0.1", self.world.fe, timeout=5)
            try:
                c.request("GET", "/")
                r = c.getresponse()
                r.read()
                ok = r.status == 200
                why = r.status
            except (OSError, http.client.HTTPException) as e:
                ok, why = False, repr(e)
            finally:
                c.close()
            self.probes += 1
            if not ok:
                self.failed += 1
                self.errors.append(why)
            time.sleep(PROBE_S)

    def sample(self):
        end = time.monotonic() + 600
        while not self.stop_ev.is_set() and time.monotonic() < end:
            try:
                st = haproxy_servers(self.world.sock)
            except (OSError, IndexError, KeyError, ValueError):
                st = {}
            if len(st) == 2 * len(HOSTS):  # a whole answer
                up = sum(1 for s in st.values() if s[0] == "ready" and s[1] == 2 and s[2] > 0)
                if self.min_up is None or up < self.min_up:
                    self.min_up = up
                    self.min_at = (round(time.monotonic() - self.t0, 2), st)
            time.sleep(0.05)

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(timeout=10)


@pytest.fixture(scope="module")
def world(tmp_path_factory, request):
    base = tmp_path_factory.mktemp("faults")
    if not (HELLO_DIR / "build" / "hello").exists():
        subprocess.run(["make", "-s", "-C", str(HELLO_DIR)], check=True, timeout=300, stdout=subprocess.DEVNULL)
    w = World(base)
    try:
        # A first release everywhere, undisturbed.
        for env_name in ("rolling", "bg", "drain"):
            v = w.other()
            t0 = time.monotonic()
            dep = w.deploy(v, env_name)
            final = w.server.wait_final(dep["id"], timeout=120)
            assert final["state"] == "succeeded", final
            w.took[env_name] = time.monotonic() - t0
            w.current = v
        yield w
    finally:
        w.stop()
        print_table(request)


def print_table(request):
    if not RESULTS:
        return
    tr = request.config.pluginmanager.get_plugin("terminalreporter")
    lines = ["", f"fault loop (FAULT_RUNS={RUNS} per kind; faults: SIGKILL+restart, SIGSTOP 4 s, SIGSTOP 30 s)",
             f"{'kind':<10}{'runs':>6}{'mid-rollout':>13}{'false rollbacks':>17}{'failed probes':>15}{'probes':>9}"
             f"{'min_healthy breaks':>20}{'hosts out of rotation':>23}"]
    for kind in ("rolling", "bg", "drain"):
        rs = [r for r in RESULTS if r["kind"] == kind]
        if not rs:
            continue
        lines.append(f"{kind:<10}{len(rs):>6}{sum(r['mid_rollout'] for r in rs):>13}"
                     f"{sum(r['state'] != 'succeeded' for r in rs):>17}"
                     f"{sum(r['failed'] for r in rs):>15}{sum(r['probes'] for r in rs):>9}"
                     f"{sum(r['min_up'] is not None and r['min_up'] < MIN_HEALTHY for r in rs):>20}"
                     f"{sum(len(r['out']) for r in rs):>23}")
    for line in lines:
        if tr:
            tr.write_line(line)
        else:
            print(line)
    out = os.environ.get("FAULT_TABLE")
    if out:
        with open(out, "a") as f:
            f.write("\n".join(lines) + "\n" + "\n".join(json.dumps(r) for r in RESULTS) + "\n")


def fault_runs(world, kind):
    rng = random.Random(os.environ.get("FAULT_SEED", "8"))
    bad = []
    for i in range(RUNS):
        fault = FAULTS[i % len(FAULTS)]
        v = world.other()
        watch = Watch(world)
        wait_for(lambda: watch.probes > 5, what="probes started")
        dep = world.deploy(v, kind)
        # A random point of the rollout: rolling, after k of the 4 hosts are done (k random), plus up to
        # 0.5 s; blue/green (every host at once), uniform over 90% of the undisturbed rollout's time.
        k = rng.randrange(len(HOSTS)) if kind != "bg" else 0
        if kind == "bg":
            time.sleep(rng.uniform(0, 0.9 * world.took[kind]))
        wait_for(lambda: (lambda d: d["state"] if d["state"] in ("succeeded", "rolled_back", "failed", "aborted")
                                or sum(h.get("phase") not in ("waiting", "draining", "updating", None, "")
                                   for h in d["hosts"]) >= k else None)(world.server.deployment(dep["id"])),
                 timeout=60, what=f"{k} hosts done", step=0.02)
        if kind != "bg":
            time.sleep(rng.uniform(0, 0.5))
        mid = world.server.deployment(dep["id"])["state"] not in ("succeeded", "rolled_back", "failed", "aborted")
        world.fault(fault)
        final = world.server.wait_final(dep["id"], timeout=180)
        names = world.serving(final).values()
        try:
            wait_for(lambda: not world.out_of_rotation(names), timeout=20, what="every host in rotation")
        except AssertionError:
            pass
        out = world.out_of_rotation(names)
        watch.stop()
        r = {"kind": kind, "run": i + 1, "fault": fault, "after_hosts": k, "mid_rollout": mid, "id": dep["id"],
             "state": final["state"],
             "reason": final.get("reason", ""), "probes": watch.probes, "failed": watch.failed,
             "errors": watch.errors[:3], "min_up": watch.min_up, "out": out}
        if watch.min_up is not None and watch.min_up < MIN_HEALTHY:
            r["min_at"] = watch.min_at
        RESULTS.append(r)
        print(json.dumps(r))
        if final["state"] == "succeeded":
            world.current = v
        else:
            # Whatever runs now is what the next run starts from.
            world.current = "1.0.0" if v == "2.0.0" else "2.0.0"
        if r["state"] != "succeeded" or r["failed"] or (r["min_up"] is not None and r["min_up"] < MIN_HEALTHY) \
                or r["out"]:
            bad.append(r)
    assert not bad, "\n".join(json.dumps(r) for r in bad)


def test_faults_rolling(world):
    fault_runs(world, "rolling")


def test_faults_blue_green(world):
    fault_runs(world, "bg")


def test_faults_rolling_with_draining(world):
    fault_runs(world, "drain")


def test_traffic_reconciled(world):
    """A healthy host out of rotation (as an early-ended rollback leaves it) is put back, also across a restart."""
    v = world.other()
    dep = world.deploy(v, "drain")
    final = world.server.wait_final(dep["id"], timeout=120)
    assert final["state"] == "succeeded", final
    world.current = v
    names = sorted(world.serving(final).values())
    wait_for(lambda: not world.out_of_rotation(names), timeout=20, what="every host in rotation")
    haproxy_cmd(world.sock, f"set server hello/{names[1]} state maint")
    haproxy_cmd(world.sock, f"set server hello/{names[2]} weight 0")
    assert world.out_of_rotation(names) == [names[1], names[2]]
    wait_for(lambda: not world.out_of_rotation(names), timeout=15, what="both back in rotation")
    # Left out while the server is down: put back after its start.
    world.server.kill()
    haproxy_cmd(world.sock, f"set server hello/{names[3]} state maint")
    world.server.start()
    wait_for(lambda: not world.out_of_rotation(names), timeout=15, what=f"{names[3]} back in rotation after a restart")
