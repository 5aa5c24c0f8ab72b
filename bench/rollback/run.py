#!/usr/bin/python3
"""bench/rollback: time from a canary's first failed request to canary weight 0.

usage: /usr/bin/python3 bench/rollback/run.py [--keep]
settings (environment): RUNS (default 10, 1..100), RATE (requests/s, default
200, 10..1000), FAIL_AFTER (requests to / the canary answers before it fails,
default 60), SLIPWAY_BIN (default build/slipway)

Set up once, all on loopback (free ports): `slipway server`, four `slipway
agent` processes h1..h4 (two slots each), HAProxy in front of the eight slots
(`balance random`, admin socket), and two releases of examples/hello made
with the real `slipway keygen / run / release`: v1 (stable) and `fail` (run.env
HELLO_FAIL_AFTER=N: after N requests to / every / answers 500). v1 goes to
every host through the rolling environment `stable`.

Each run: a load thread sends GET / through HAProxy at RATE requests/s (a new
connection each, bounded in count and time) and records each status and its
monotonic time; `fail` is deployed to the environment `canary` (one instance,
weight 25, inline analysis `errors`: haproxy provider, every 250 ms,
`count: 0` so it holds the canary at 25% until it fails, failure
`error_rate > 0.1`; then `pause: {}`). Once HAProxy has given the canary
server a weight, the admin socket is polled every ~5 ms (`get weight`) until
it reads 0. Measured: t(weight 0) - t(first 500 the load thread saw), and the
failed requests in between. The run ends when the deployment has ended
(rolled_back or failed).

Prints the median and p95 of the time to weight 0, failed requests per run
(median, max), the peak RSS (VmHWM) of the server and the largest agent, and
PASS/FAIL against the target (median < 1 s). Exit 0 whether PASS or FAIL; 1
when something failed to run; 2 on bad usage. Output: bench/out/rollback.
"""
import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench" / "out" / "rollback"
HELLO_DIR = ROOT / "examples" / "hello"
SW = os.environ.get("SLIPWAY_BIN") or str(ROOT / "build" / "slipway")
HOSTS = ["h1", "h2", "h3", "h4"]
TARGET_S = 1.0


class BenchError(Exception):
    pass


def usage(msg):
    print(f"bench/rollback: {msg}", file=sys.stderr)
    sys.exit(2)


def env_int(name, default, lo, hi):
    v = os.environ.get(name)
    if v is None or v == "":
        return default
    try:
        n = int(v)
    except ValueError:
        usage(f"{name} must be a whole number, not '{v}'")
    if not lo <= n <= hi:
        usage(f"{name} must be {lo}..{hi}, not {n}")
    return n


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def wait_for(cond, timeout, what, step=0.05):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(step)
    raise BenchError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


def sh(*args, env=None, cwd=None, timeout=300):
    p = subprocess.run(list(map(str, args)), env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise BenchError(f"{' '.join(map(str, args))} exited {p.returncode}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return p.stdout


def vmhwm_kib(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


# ---- haproxy -----------------------------------------------------------------


def haproxy_cmd(sock, command, timeout=2.0):
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


def haproxy_weight(sock, server):
    """The current weight of hello/<server> from `get weight` ("12 (initial 10)")."""
    text = haproxy_cmd(sock, f"get weight hello/{server}").strip()
    try:
        return int(text.split()[0])
    except (ValueError, IndexError):
        raise BenchError(f"haproxy 'get weight hello/{server}' answered '{text[:200]}'") from None


def start_haproxy(ports):
    hap = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not os.path.exists(hap):
        raise BenchError("haproxy is not installed: run scripts/install-deps.sh (make deps)")
    sock = OUT / "admin.sock"
    fe = free_ports(1)[0]
    lines = [
        "global",
        f"    stats socket {sock} mode 600 level admin",
        "    stats timeout 10s",
        "defaults",
        "    mode http",
        "    timeout connect 1s",
        "    timeout client 10s",
        "    timeout server 10s",
        "    retries 5",
        "    option redispatch 1",
        "    retry-on conn-failure empty-response response-timeout",
        "frontend fe",
        f"    bind 127.0.0.1:{fe}",
        "    default_backend hello",
        "backend hello",
        "    balance random",
        "    option httpchk GET /healthz",
        "    default-server inter 100ms fall 1 rise 1 weight 10 observe layer4 error-limit 1 on-error mark-down",
    ]
    for h in HOSTS:
        a, b = ports[h]
        lines.append(f"    server {h}-a 127.0.0.1:{a} check")
        lines.append(f"    server {h}-b 127.0.0.1:{b} check")
    cfg = OUT / "haproxy.cfg"
    cfg.write_text("\n".join(lines) + "\n")
    sh(hap, "-c", "-q", "-f", cfg, timeout=10)
    log = open(OUT / "haproxy.log", "w")
    p = subprocess.Popen([hap, "-db", "-f", str(cfg)], stdout=log, stderr=subprocess.STDOUT)
    wait_for(lambda: sock.exists() and p.poll() is None, 10, "haproxy admin socket")
    return p, sock, fe


# ---- releases ------------------------------------------------------------------

SPEC = """\
service: hello
version: {version}
build:
  jobs:
    package:
      steps:
        - run: mkdir -p dist && cp {hello} dist/hello && echo {version} > dist/VERSION
      outputs: [dist/]
run:
  command: ./dist/hello --port ${{PORT}}
  env: {{ HELLO_VERSION: "{version}", HELLO_DRAIN_MS: "1000"{extra_env} }}
  health: {{ http: /healthz, interval: 200ms, timeout: 1s, retries: 2 }}
  stop: {{ signal: TERM, grace: 5s }}
environments:
  stable:
    hosts: {{ env: bench }}
    strategy:
      rolling: {{ batch: 4, max_unavailable: 4, health_timeout: 30s }}
  canary:
    hosts: {{ env: bench }}
    strategy:
      canary:
        traffic: {{ haproxy: {{ socket: {sock}, backend: hello }} }}
        analysis: {{ templates: [errors], start_at_step: 2 }}
        steps:
          - instances: 1
          - weight: 25
          - pause: 2m
          - pause: {{}}
          - weight: 100
analysis:
  errors:
    provider: {{ haproxy: {{}} }}
    interval: 250ms
    count: 0
    failure: error_rate > 0.1
    inconclusive_limit: 20
"""


def make_release(env, name, version, sock, extra_env=""):
    src = OUT / f"src-{name}"
    src.mkdir()
    (src / "slipway.yml").write_text(SPEC.format(version=version, hello=HELLO_DIR / "build" / "hello",
                                                 extra_env=extra_env, sock=sock))
    sh(SW, "run", env=env, cwd=src, timeout=120)
    rel = json.loads(sh(SW, "release", "--output", "json", env=env, cwd=src, timeout=120))
    return {"digest": rel["digest"].split(":")[-1], "bundle": rel["paths"]["bundle"]}


# ---- server, agents --------------------------------------------------------------


class Fleet:
    def __init__(self, pub, ports):
        self.procs = []
        self.files = []
        self.data = OUT / "server"
        port = free_ports(1)[0]
        log = open(OUT / "server.log", "w")
        self.files.append(log)
        senv = dict(os.environ, SLIPWAY_HOME=str(OUT / "server-home"), SLIPWAY_LOG="info")
        self.server = subprocess.Popen(
            [SW, "server", "--data", str(self.data), "--listen", f"127.0.0.1:{port}", "--heartbeat", "300ms",
             "--trust", str(pub)], stdout=log, stderr=subprocess.STDOUT, env=senv)
        self.procs.append(self.server)
        url_file = self.data / "server.url"
        wait_for(lambda: self.server.poll() is None and url_file.exists() and (self.data / "admin.token").exists(),
                 20, "server.url (see bench/out/rollback/server.log)")
        self.url = url_file.read_text().strip()
        self.token = (self.data / "admin.token").read_text().strip()
        wait_for(lambda: self.api("GET", "/api/v1/health")[0] == 200, 20, "server health")
        self.agents = []
        for h in HOSTS:
            status, out = self.api("POST", "/api/v1/join-tokens", {"labels": {}})
            if status not in (200, 201):
                raise BenchError(f"cannot make a join token: {status} {out}")
            alog = open(OUT / f"agent-{h}.log", "w")
            self.files.append(alog)
            aenv = dict(os.environ, SLIPWAY_HOME=str(OUT / "agent-home"))
            for k in ("SLIPWAY_SERVER", "SLIPWAY_JOIN_TOKEN", "SLIPWAY_LOG"):
                aenv.pop(k, None)
            a = subprocess.Popen(
                [SW, "agent", "--root", str(OUT / f"agent-{h}"), "--name", h, "--server", self.url, "--join",
                 out["token"], "--labels", "env=bench,address=127.0.0.1", "--ports", f"{ports[h][0]},{ports[h][1]}",
                 "--poll-wait", "5", "--stop-services-on-exit"], stdout=alog, stderr=subprocess.STDOUT, env=aenv)
            self.procs.append(a)
            self.agents.append(a)
        wait_for(lambda: all(self.hosts().get(h, {}).get("online") for h in HOSTS), 30,
                 "4 agents online (see bench/out/rollback/agent-*.log)", step=0.1)

    def api(self, method, path, body=None, timeout=10):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", "Bearer " + self.token)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                text = r.read().decode()
                return r.status, json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")
        except (urllib.error.URLError, OSError):
            return None, None

    def hosts(self):
        status, out = self.api("GET", "/api/v1/hosts")
        return {h["name"]: h for h in out} if status == 200 else {}

    def deployment(self, dep_id):
        status, out = self.api("GET", f"/api/v1/deployments/{dep_id}")
        if status != 200:
            raise BenchError(f"GET deployment {dep_id}: {status} {out}")
        return out

    def cli(self, *args, timeout=120):
        env = dict(os.environ, SLIPWAY_HOME=str(OUT / "cli-home"), SLIPWAY_SERVER=self.url,
                   SLIPWAY_TOKEN=self.token, SLIPWAY_ACTOR="bench@example.com")
        env.pop("SLIPWAY_LOG", None)
        return sh(SW, *args, env=env, timeout=timeout)

    def service_slot(self, digest):
        """(host, slot) of the instance running digest, or None."""
        for name, h in self.hosts().items():
            for s in h.get("services") or []:
                if s.get("service") == "hello" and s.get("digest") == digest:
                    return name, s.get("slot")
        return None

    def running_everywhere(self, digest):
        hs = self.hosts()
        return all(any(s.get("digest") == digest and s.get("state") == "healthy"
                       for s in hs.get(h, {}).get("services") or []) for h in HOSTS)

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        # What an agent that did not stop cleanly leaves: its services' process groups.
        for h in HOSTS:
            run = OUT / f"agent-{h}" / "run"
            if run.is_dir():
                for pf in run.glob("*.pid"):
                    try:
                        os.killpg(int(pf.read_text().split()[0]), signal.SIGKILL)
                    except (ValueError, ProcessLookupError, PermissionError, IndexError):
                        pass
        for f in self.files:
            f.close()


# ---- load ----------------------------------------------------------------------


class Load:
    """GET / through HAProxy at `rate` requests/s from one thread; at most max_s seconds."""

    def __init__(self, port, rate, max_s=90.0):
        self.port = port
        self.rate = rate
        self.max_s = max_s
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        self.results = []  # (monotonic time the answer came, status or "error: ...")
        self.first_fail = None
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def one(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            c.request("GET", "/")
            r = c.getresponse()
            r.read()
            return r.status
        except (OSError, http.client.HTTPException) as e:
            return f"error: {e!r}"
        finally:
            c.close()

    def loop(self):
        t0 = time.monotonic()
        period = 1.0 / self.rate
        limit = int(self.max_s * self.rate)
        for i in range(limit):
            if self.stop_ev.is_set():
                break
            delay = t0 + i * period - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            status = self.one()
            t = time.monotonic()
            with self.lock:
                self.results.append((t, status))
                if status != 200 and self.first_fail is None:
                    self.first_fail = t

    def stop(self):
        self.stop_ev.set()
        self.thread.join(timeout=10)
        with self.lock:
            return list(self.results)


# ---- one run -------------------------------------------------------------------


def one_run(i, fleet, sock, fe, rel, rate):
    load = Load(fe, rate)
    try:
        wait_for(lambda: len(load.results) >= rate // 4, 10, "the load to start")
        if any(r[1] != 200 for r in load.results):
            raise BenchError(f"run {i}: requests failed before the canary: {load.results[:3]}")
        out = json.loads(fleet.cli("deploy", rel["fail"]["bundle"], "--env", "canary", "--output", "json"))
        dep_id = out["id"]
        where = wait_for(lambda: fleet.service_slot(rel["fail"]["digest"]), 30, f"run {i}: the canary instance",
                         step=0.02)
        server = f"{where[0]}-{where[1]}"
        # The weight step has been applied (and read back by the controller), and HAProxy has it.
        wait_for(lambda: fleet.deployment(dep_id).get("weight", -1) >= 25, 30, f"run {i}: {dep_id} at weight 25",
                 step=0.01)
        w25 = haproxy_weight(sock, server)
        if w25 <= 0:
            raise BenchError(f"run {i}: {dep_id} says weight 25 but haproxy has weight {w25} on {server}")
        t_weight = time.monotonic()
        # Poll until weight 0 (every ~5 ms), bounded.
        t_zero = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            w = haproxy_weight(sock, server)
            t = time.monotonic()
            if w == 0:
                t_zero = t
                break
            time.sleep(0.005)
        if t_zero is None:
            raise BenchError(f"run {i}: canary {server} still had weight after 60 s")
        final = wait_for(lambda: (lambda d: d if d["state"] not in ("pending", "progressing", "paused") else None)(
            fleet.deployment(dep_id)), 60, f"run {i}: {dep_id} to end", step=0.1)
        results = load.stop()
        if final["state"] not in ("rolled_back", "failed"):
            raise BenchError(f"run {i}: {dep_id} ended {final['state']}: {final.get('reason')}")
        t_fail = load.first_fail
        if t_fail is None or t_fail > t_zero:
            raise BenchError(f"run {i}: canary weight 0 before any failed request ({final.get('reason')})")
        between = sum(1 for t, s in results if t_fail <= t <= t_zero and s != 200)
        total = sum(1 for t, s in results if s != 200)
        after = sum(1 for t, s in results if t > t_zero + 0.1 and s != 200)
        return {"run": i, "dep": dep_id, "server": server, "to_zero_s": t_zero - t_fail,
                "weight_to_fail_s": t_fail - t_weight, "failed_between": between, "failed_total": total,
                "failed_after": after, "requests": len(results), "state": final["state"],
                "reason": final.get("reason")}
    finally:
        load.stop()


def pct(xs, p):
    xs = sorted(xs)
    k = max(0, min(len(xs) - 1, int(-(-p * len(xs) // 100)) - 1))  # nearest rank
    return xs[k]


def main():
    ap = argparse.ArgumentParser(description="time from a canary's first failed request to canary weight 0")
    ap.add_argument("--keep", action="store_true", help="keep bench/out/rollback (logs, data) afterwards")
    a = ap.parse_args()
    runs = env_int("RUNS", 10, 1, 100)
    rate = env_int("RATE", 200, 10, 1000)
    fail_after = env_int("FAIL_AFTER", 60, 1, 100000)
    if not os.access(SW, os.X_OK):
        print(f"bench/rollback: no slipway binary at '{SW}' (run make, or set SLIPWAY_BIN)", file=sys.stderr)
        return 1
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    hap = fleet = None
    rows = []
    try:
        if not (HELLO_DIR / "build" / "hello").exists():
            sh("make", "-s", "-C", HELLO_DIR, timeout=300)
        allports = free_ports(2 * len(HOSTS))
        ports = {h: (allports[2 * k], allports[2 * k + 1]) for k, h in enumerate(HOSTS)}
        hap, sock, fe = start_haproxy(ports)
        env = dict(os.environ, SLIPWAY_HOME=str(OUT / "home"), SLIPWAY_ACTOR="bench@example.com")
        for k in ("SLIPWAY_LOG", "SLIPWAY_SERVER", "SLIPWAY_TOKEN"):
            env.pop(k, None)
        sh(SW, "keygen", env=env, timeout=30)
        rel = {"v1": make_release(env, "v1", "1.0.0", sock),
               "fail": make_release(env, "fail", "2.0.0-fail", sock, extra_env=f', HELLO_FAIL_AFTER: "{fail_after}"')}
        fleet = Fleet(OUT / "home" / "keys" / "slipway.pub", ports)
        fleet.cli("deploy", rel["v1"]["bundle"], "--env", "stable", "--wait", timeout=120)
        wait_for(lambda: fleet.running_everywhere(rel["v1"]["digest"]), 30, "v1 on every host")
        wait_for(lambda: all(haproxy_cmd(sock, f"get weight hello/{h}-a").split()[0] != "0" for h in HOSTS)
                 and fleet.service_slot(rel["fail"]["digest"]) is None, 10, "v1 in rotation")
        for i in range(1, runs + 1):
            row = one_run(i, fleet, sock, fe, rel, rate)
            rows.append(row)
            print(f"  run {i:2d}: weight 0 {row['to_zero_s'] * 1000:7.1f} ms after the first 500; "
                  f"{row['failed_between']:3d} failed meanwhile ({row['failed_total']} in the run, "
                  f"{row['failed_after']} later than 100 ms after); {row['state']}", flush=True)
            # The canary instance is stopped before the next run (a new one counts its requests from 0).
            wait_for(lambda: fleet.service_slot(rel["fail"]["digest"]) is None, 30, f"run {i}: canary stopped",
                     step=0.1)
        rss_server = vmhwm_kib(fleet.server.pid)
        rss_agent = max(vmhwm_kib(p.pid) for p in fleet.agents)
    except (BenchError, subprocess.TimeoutExpired, OSError, ValueError, KeyError) as e:
        print(f"bench/rollback: {e}", file=sys.stderr)
        print(f"bench/rollback: logs in {OUT}", file=sys.stderr)
        return 1
    finally:
        if fleet:
            fleet.stop()
        if hap:
            hap.terminate()
            try:
                hap.wait(timeout=10)
            except subprocess.TimeoutExpired:
                hap.kill()
                hap.wait(timeout=10)
    (OUT / "runs.json").write_text(json.dumps(rows, indent=1) + "\n")
    times = [r["to_zero_s"] * 1000 for r in rows]
    failed = [r["failed_between"] for r in rows]
    med = statistics.median(times)
    print(f"rollback benchmark: canary at 25% of {rate} req/s through HAProxy (balance random), "
          f"analysis 'errors' (haproxy provider, every 250 ms, error_rate > 0.1), {runs} runs")
    print(f"  first failed request -> canary weight 0:  median {med:7.1f} ms   p95 {pct(times, 95):7.1f} ms   "
          f"min {min(times):.1f}  max {max(times):.1f}")
    print(f"  failed requests meanwhile: median {statistics.median(failed):g}   max {max(failed)}   "
          f"(of {rate} req/s, ~25% to the canary)")
    print(f"  peak RSS server {rss_server / 1024:.1f} MiB   agent {rss_agent / 1024:.1f} MiB (largest of {len(HOSTS)})")
    print(f"  target: median < {TARGET_S * 1000:.0f} ms   {'PASS' if med < TARGET_S * 1000 else 'FAIL'}")
    if not a.keep:
        shutil.rmtree(OUT, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
