"""Scenario tests for seeing what happened on a host (issue 9, "Seeing
what happened"), with a real `slipway server` and two `slipway agent`
processes on loopback:

  - `slipway logs HOST SERVICE` shows the lines a service printed, fetched
    from the agent through the server (the host has no inbound port);
  - `slipway logs -f` shows a line the service writes after it started,
    then is stopped by the test (SIGINT);
  - an unknown host is bad input (exit 2), an offline host a clear error
    (exit 1), and `logs -f` on a host that goes offline ends (exit 1)
    saying so;
  - a deployment whose service cannot bind its port (the test holds it)
    fails, and its reason, as `slipway status` prints it, carries the
    service's own last line (`Address already in use`: the agent's verdict
    had it before `slipway logs` existed), and `slipway logs` shows the
    whole story;
  - a deployment ended by its health_timeout while the service restarts
    (no verdict yet) says why the process exited, with its last output.
Every wait is bounded; every process is stopped by the fixtures.
"""
import json
import os
import queue
import signal
import socket
import subprocess
import threading
import time

import pytest

from e2eutil import HELLO_BUILD, HELLO_DIR, Procs, ServerReads, api_call, free_port, keygen_env, \
    release_from_spec, slipway_bin, wait_for

HOSTS = ["web-1", "web-2"]

# A service that prints two lines, then one line each time the file {trigger}.<host name> appears
# (an absolute path baked into the signed spec; one per host, as every host runs the service).
TALKER_SPEC = """\
service: talker
version: 1.0.0
build:
  jobs:
    package:
      steps:
        - run: mkdir -p dist && echo 1.0.0 > dist/VERSION
      outputs: [dist/]
run:
  command: "echo talker says hello; echo talker line two >&2; while :; do if [ -f {trigger}.$SLIPWAY_HOST ]; then rm -f {trigger}.$SLIPWAY_HOST; echo talker late line; fi; sleep 0.05; done"
environments:
  staging:
    hosts: {{ env: web }}
    strategy:
      rolling: {{ max_unavailable: 1 }}
"""

HELLO_SPEC = """\
service: hello
version: {version}
""" + HELLO_BUILD + """\
run:
  command: ./dist/hello --port ${{PORT}}
  health: {{ http: /healthz, interval: 1s, timeout: 1s }}
  stop: {{ signal: TERM, grace: 5s }}
environments:
  staging:
    hosts: {{ name: web-1 }}
    strategy:
      rolling: {{ max_unavailable: 1, health_timeout: 60s }}
"""

# A service that fails after 3 s, saying why, then again after each restart: with start_period
# 60s there is no health verdict, and health_timeout (5 s) ends the deployment between the
# first exit (3 s) and the second (6.5 s), long before a crash loop (three exits, 10.5 s).
SLOWFAIL_SPEC = """\
service: slowfail
version: 1.0.0
build:
  jobs:
    package:
      steps:
        - run: mkdir -p dist && echo slowfail 1.0.0 > dist/VERSION
      outputs: [dist/]
run:
  command: "echo slowfail starting; sleep 3; echo fatal: cannot bind 127.0.0.1:$PORT: Address already in use >&2; exit 1"
  health: { tcp: true, interval: 500ms, timeout: 1s, start_period: 60s }
environments:
  staging:
    hosts: { name: web-1 }
    strategy:
      rolling: { max_unavailable: 1, health_timeout: 5s }
"""


@pytest.fixture(scope="module")
def releases(tmp_path_factory):
    base = tmp_path_factory.mktemp("logs")
    if not (HELLO_DIR / "build" / "hello").exists():
        subprocess.run(["make", "-s", "-C", str(HELLO_DIR)], check=True, timeout=300, stdout=subprocess.DEVNULL)
    env = keygen_env(base / "home")
    trigger = base / "trigger"
    return {
        "pub": base / "home" / "keys" / "slipway.pub",
        "trigger": trigger,
        "talker": release_from_spec(base / "src-talker", env, TALKER_SPEC.format(trigger=trigger)),
        "slowfail": release_from_spec(base / "src-slowfail", env, SLOWFAIL_SPEC),
        "hello": release_from_spec(base / "src-hello", env, HELLO_SPEC.format(
            version="1.0.0", hello=HELLO_DIR / "build" / "hello")),
    }


class Fleet(ServerReads):
    """A server (heartbeat 300 ms) and agents web-1, web-2 (labels env=web, name=<host>) under one Procs."""

    def __init__(self, tmp, pub):
        self.tmp = tmp
        self.procs = Procs()
        self.data = tmp / "data"
        env = dict(os.environ, SLIPWAY_HOME=str(tmp / "server-home"), SLIPWAY_LOG="info")
        self.server = self.procs.start([slipway_bin(), "server", "--data", self.data, "--listen",
                                        f"127.0.0.1:{free_port()}", "--heartbeat", "300ms", "--trust", pub],
                                       tmp / "server.log", env=env)
        wait_for(lambda: self.server.poll() is None and (self.data / "server.url").exists() and
                 (self.data / "admin.token").exists(), what="server.url")
        self.url = (self.data / "server.url").read_text().strip()
        self.admin = (self.data / "admin.token").read_text().strip()
        wait_for(lambda: self.api("GET", "/api/v1/health")[0] == 200, what="server health")
        self.agents, self.ports = {}, {}
        for h in HOSTS:
            status, out = self.api("POST", "/api/v1/join-tokens", {"labels": {}})
            assert status in (200, 201), (status, out)
            aenv = dict(os.environ, SLIPWAY_HOME=str(tmp / "agent-home"))
            for k in ("SLIPWAY_SERVER", "SLIPWAY_JOIN_TOKEN", "SLIPWAY_LOG"):
                aenv.pop(k, None)
            self.ports[h] = (free_port(), free_port())
            self.agents[h] = self.procs.start(
                [slipway_bin(), "agent", "--root", tmp / f"agent-{h}", "--name", h, "--server", self.url, "--join",
                 out["token"], "--labels", f"env=web,name={h}", "--ports", "%d,%d" % self.ports[h],
                 "--poll-wait", "5", "--stop-services-on-exit"], tmp / f"agent-{h}.log", env=aenv)
        wait_for(lambda: all(self.hosts().get(h, {}).get("online") for h in HOSTS), what="2 hosts online")

    def api(self, method, path, body=None):
        return api_call(self.url, self.admin, method, path, body)

    def cli_env(self):
        env = dict(os.environ, SLIPWAY_HOME=str(self.tmp / "cli-home"), SLIPWAY_SERVER=self.url,
                   SLIPWAY_TOKEN=self.admin, SLIPWAY_ACTOR="tester@example.com")
        env.pop("SLIPWAY_LOG", None)
        return env

    def cli(self, *args, timeout=60):
        return subprocess.run([slipway_bin(), *map(str, args)], env=self.cli_env(), capture_output=True, text=True,
                              timeout=timeout)

    def deploy(self, rel, *extra):
        p = self.cli("deploy", rel["bundle"], "--env", "staging", *extra, timeout=120)
        return p

    def healthy(self, host, service):
        return any(s.get("service") == service and s.get("state") == "healthy"
                   for s in self.hosts().get(host, {}).get("services") or [])

    def stop(self):
        self.procs.stop_all()
        for h in HOSTS:
            run = self.tmp / f"agent-{h}" / "run"
            for pf in run.glob("*.pid") if run.is_dir() else []:
                try:
                    os.killpg(int(pf.read_text().split()[0]), signal.SIGKILL)
                except (ValueError, ProcessLookupError, PermissionError, IndexError):
                    pass


@pytest.fixture
def fleet(releases, tmp_path):
    f = Fleet(tmp_path, releases["pub"])
    yield f
    f.stop()


def deploy_talker(fleet, releases):
    p = fleet.deploy(releases["talker"], "--wait")
    assert p.returncode == 0, p.stdout + p.stderr
    wait_for(lambda: fleet.healthy("web-1", "talker"), timeout=30, what="talker healthy on web-1")


def test_logs_shows_the_service_lines(fleet, releases):
    deploy_talker(fleet, releases)
    # The service printed its lines at start: logs (no slot: the active one) shows both, stdout and stderr.
    p = wait_for(lambda: (lambda r: r if "talker line two" in r.stdout else None)(fleet.cli("logs", "web-1", "talker")),
                 timeout=20, what="the talker's lines in `slipway logs`")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "talker says hello\n" in p.stdout, p.stdout
    # Without a service: the host runs one, so that one. With --slot b: the idle slot has no log.
    p = fleet.cli("logs", "web-1")
    assert p.returncode == 0 and "talker says hello" in p.stdout, p.stdout + p.stderr
    p = fleet.cli("logs", "web-1", "talker", "-n", "1")
    assert p.returncode == 0 and "talker says hello" not in p.stdout and p.stdout.strip(), p.stdout + p.stderr
    p = fleet.cli("logs", "web-1", "talker", "--slot", "b")
    assert p.returncode == 2 and "no log" in p.stderr, p.stdout + p.stderr
    # Bad input names the field.
    p = fleet.cli("logs", "web-1", "talker", "--slot", "c")
    assert p.returncode == 2 and "--slot" in p.stderr, p.stderr
    p = fleet.cli("logs", "web-1", "talker", "-n", "0")
    assert p.returncode == 2 and "-n" in p.stderr, p.stderr
    status, out = fleet.api("GET", "/api/v1/hosts/web-1/logs?service=talker&lines=100000")
    assert status == 400 and out["error"]["field"] == "lines", (status, out)
    status, out = fleet.api("GET", "/api/v1/hosts/web-1/logs?service=..%2Fx")
    assert status == 400 and out["error"]["field"] == "service", (status, out)
    status, out = fleet.api("GET", "/api/v1/hosts/web-1/logs?service=talker&offset=-1")
    assert status == 400 and out["error"]["field"] == "offset", (status, out)
    # A byte range past the end of the log (rotated or truncated): read again from 0, and said so.
    status, out = fleet.api("GET", "/api/v1/hosts/web-1/logs?service=talker&offset=999999999")
    assert status == 200 and out["restarted"] is True and out["offset"] == 0, (status, out)
    assert "talker says hello" in out["data"], out


def test_logs_follow_shows_a_later_line(fleet, releases):
    deploy_talker(fleet, releases)
    proc = subprocess.Popen([slipway_bin(), "logs", "web-1", "talker", "-f"], env=fleet.cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    lines = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(l) for l in proc.stdout], daemon=True)
    reader.start()
    seen = []

    def saw(text):
        while True:
            try:
                seen.append(lines.get_nowait())
            except queue.Empty:
                return any(text in l for l in seen)
    try:
        wait_for(lambda: saw("talker says hello"), timeout=20, what="logs -f to print the first lines")
        releases["trigger"].with_name(releases["trigger"].name + ".web-1").write_text("")
        wait_for(lambda: saw("talker late line"), timeout=20, what="logs -f to print the line written later")
        assert proc.poll() is None, "logs -f ended on its own"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
        reader.join(timeout=5)
    assert sum("talker late line" in l for l in seen) == 1, seen


def test_logs_unknown_and_offline_hosts(fleet, releases):
    p = fleet.cli("logs", "no-such-host", "talker")
    assert p.returncode == 2, p.stdout + p.stderr
    assert "no host called 'no-such-host'" in p.stderr, p.stderr
    deploy_talker(fleet, releases)
    wait_for(lambda: fleet.healthy("web-2", "talker"), timeout=30, what="talker healthy on web-2")
    follow = subprocess.Popen([slipway_bin(), "logs", "web-2", "-f"], env=fleet.cli_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        wait_for(lambda: follow.poll() is not None or "talker" in fleet.cli("logs", "web-2").stdout, timeout=20,
                 what="web-2's log readable")
        assert follow.poll() is None, follow.communicate()
        fleet.agents["web-2"].send_signal(signal.SIGTERM)
        fleet.agents["web-2"].wait(timeout=20)
        wait_for(lambda: not fleet.hosts()["web-2"]["online"], timeout=10, what="web-2 offline")
        p = fleet.cli("logs", "web-2", "talker")
        assert p.returncode == 1, p.stdout + p.stderr
        assert "host 'web-2' is offline" in p.stderr, p.stderr
        # logs -f on web-2 ends by itself, saying why.
        wait_for(lambda: follow.poll() is not None, timeout=30, what="logs -f to end when web-2 went offline")
        out, err = follow.communicate(timeout=10)
        assert follow.returncode == 1, (out, err)
        assert "host 'web-2' is offline" in err and "stopped following" in err, err
        assert "talker says hello" in out, out
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait(timeout=10)


def test_port_taken_reason_carries_the_service_last_line(fleet, releases):
    # The test holds slot a's port of web-1: hello cannot listen there.
    hold = socket.socket()
    hold.bind(("127.0.0.1", fleet.ports["web-1"][0]))
    hold.listen(1)
    try:
        t0 = time.monotonic()
        p = fleet.deploy(releases["hello"], "--wait", "--output", "json")
        took = time.monotonic() - t0
        assert p.returncode == 1, p.stdout + p.stderr
        print(f"\nport taken: deploy to failed in {took:.2f}s")
        dep = json.loads(p.stdout)
        status = fleet.cli("status", dep["id"])
        assert "Address already in use" in status.stdout, status.stdout + status.stderr
        # The reason stays bounded whatever the service printed.
        assert len(dep["reason"]) <= 2048
        # The whole story is in the log, from here: the agent's start and exit lines and the service's error.
        p = fleet.cli("logs", "web-1", "hello", "-n", "50")
        assert p.returncode == 0, p.stdout + p.stderr
        assert "Address already in use" in p.stdout and "--- slipway" in p.stdout, p.stdout
    finally:
        hold.close()


def test_health_timeout_reason_carries_the_last_exit_and_output(fleet, releases):
    # Before, the reason of a timeout said only "starting: pid N" or "process exit 1; restarting in 1s".
    p = fleet.deploy(releases["slowfail"], "--wait", "--output", "json")
    assert p.returncode == 1, p.stdout + p.stderr
    dep = json.loads(p.stdout)
    assert dep["state"] == "failed", dep
    assert "not healthy after 5s" in dep["reason"], dep["reason"]
    assert "process exit 1 after" in dep["reason"], dep["reason"]
    # The service's last lines (up to three, joined with " | ") as the exit left them.
    assert "last output: slowfail starting | fatal: cannot bind 127.0.0.1:" in dep["reason"], dep["reason"]
    assert "Address already in use" in dep["reason"], dep["reason"]
    assert len(dep["reason"]) <= 2048, dep["reason"]
