#!/usr/bin/python3
"""bench/deploy: a rolling deploy to N hosts and a rollback, Slipway against Ansible.

usage: /usr/bin/python3 bench/deploy/run.py [--hosts 20] [--keep]

Both sides do the same work on this machine, every "host" a directory and a
pair of loopback ports: fetch the release, check its digest (Slipway also
checks the signature), unpack it, stop the running service, start the new
one, wait until /healthz answers; 25% of the hosts at a time. Then both roll
back to the previous release. Timed: the deploy and the rollback (the first,
untimed deploy puts release 1 everywhere).

Slipway: `slipway server` + N `slipway agent` processes, `slipway deploy
--wait` and `slipway rollback --wait`. Ansible: bench/deploy/playbook.yml,
local connection, serial 25%, forks = N/4.

Prints both times, the ratio (target: Ansible/Slipway >= 5), and the peak RSS
(VmHWM) of the server and of the largest agent (targets: < 32 MiB, < 8 MiB).
Exit 0 whether the targets are met or not; 1 when something failed to run.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench" / "out" / "deploy"
SW = os.environ.get("SLIPWAY_BIN") or str(ROOT / "build" / "slipway")


def die(msg):
    print(f"bench/deploy: {msg}", file=sys.stderr)
    sys.exit(1)


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


def sh(*args, env=None, cwd=None, timeout=300):
    p = subprocess.run(list(map(str, args)), env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        die(f"{' '.join(map(str, args))} exited {p.returncode}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return p.stdout


def api(url, token, method="GET", body=None, timeout=10):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"null")


def vmhwm_kib(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


def make_releases(env):
    src = OUT / "src"
    shutil.copytree(ROOT / "examples" / "hello", src, ignore=shutil.ignore_patterns("build", "dist"))
    spec = (src / "slipway.yml").read_text()
    head = spec.split("\nrun:")[0]
    spec = head + """
run:
  command: ./dist/hello --port ${PORT}
  health: { http: /healthz, interval: 200ms, timeout: 1s }
  stop: { signal: TERM, grace: 5s }
environments:
  bench:
    hosts: { env: bench }
    strategy: { rolling: { batch: 25%, max_unavailable: 25%, health_timeout: 30s } }
"""
    (src / "slipway.yml").write_text(spec)
    sh("git", "init", "-q", ".", cwd=src)
    bundles = []
    for version in ("1.0.0", "1.0.1"):
        (src / "VERSION").write_text(version + "\n")
        sh("git", "add", "-A", cwd=src)
        sh("git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "-qm", version, cwd=src)
        sh(SW, "run", "-j2", env=env, cwd=src)
        rel = json.loads(sh(SW, "release", "--version", version, "--output", "json", env=env, cwd=src))
        bundles.append(Path(rel["paths"]["bundle"]))
    return bundles


def slipway_side(n, bundles, env):
    data = OUT / "server"
    port = free_ports(1)[0]
    url = f"http://127.0.0.1:{port}"
    procs = []
    try:
        server = subprocess.Popen([SW, "server", "--data", data, "--listen", f"127.0.0.1:{port}",
                                   "--trust", Path(env["SLIPWAY_HOME"]) / "keys" / "slipway.pub"],
                                  env=env, stdout=subprocess.DEVNULL, stderr=open(OUT / "server.log", "w"))
        procs.append(server)
        for _ in range(100):
            if (data / "admin.token").exists():
                try:
                    urllib.request.urlopen(url + "/api/v1/health", timeout=1)
                    break
                except OSError:
                    pass
            time.sleep(0.1)
        else:
            die("server did not start (see bench/out/deploy/server.log)")
        token = (data / "admin.token").read_text().strip()
        cenv = dict(env, SLIPWAY_SERVER=url, SLIPWAY_TOKEN=token)
        ports = free_ports(2 * n)
        agents = []
        for i in range(n):
            jt = api(url + "/api/v1/join-tokens", token, "POST", {"labels": {"env": "bench"}})["token"]
            a = subprocess.Popen([SW, "agent", "--server", url, "--join", jt, "--name", f"h{i + 1:02d}",
                                  "--labels", "env=bench", "--root", OUT / "agents" / f"h{i + 1:02d}",
                                  "--ports", f"{ports[2 * i]},{ports[2 * i + 1]}", "--heartbeat-ms", "300",
                                  "--stop-services-on-exit"],
                                 env=env, stdout=subprocess.DEVNULL,
                                 stderr=open(OUT / f"agent-{i + 1:02d}.log", "w"))
            procs.append(a)
            agents.append(a)
        for _ in range(200):
            hosts = api(url + "/api/v1/hosts", token)
            if len([h for h in hosts if h.get("online")]) == n:
                break
            time.sleep(0.1)
        else:
            die("agents did not come online (see bench/out/deploy/agent-*.log)")
        sh(SW, "deploy", bundles[0], "--env", "bench", "--wait", env=cenv)
        t0 = time.monotonic()
        sh(SW, "deploy", bundles[1], "--env", "bench", "--wait", env=cenv)
        t1 = time.monotonic()
        sh(SW, "rollback", "hello", "--env", "bench", "--wait", env=cenv)
        t2 = time.monotonic()
        rss_server = vmhwm_kib(server.pid)
        rss_agent = max(vmhwm_kib(a.pid) for a in agents)
        return t1 - t0, t2 - t1, rss_server, rss_agent
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()


def ansible_side(n, bundles):
    import hashlib
    ports = free_ports(n)
    inv = OUT / "inventory.ini"
    lines = ["[fleet]"]
    for i in range(n):
        lines.append(f"h{i + 1:02d} ansible_connection=local root={OUT / 'ansible' / f'h{i + 1:02d}'} "
                     f"port={ports[i]}")
    lines += ["", "[fleet:vars]", "ansible_python_interpreter=/usr/bin/python3"]
    inv.write_text("\n".join(lines) + "\n")
    env = dict(os.environ, ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_LOCALHOST_WARNING="False",
               ANSIBLE_FORKS=str(max(1, n // 4)), ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="False")

    def play(bundle):
        digest = bundle.name.split(".")[0]
        sha1 = hashlib.sha1(bundle.read_bytes()).hexdigest()
        sh("ansible-playbook", "-i", inv, ROOT / "bench" / "deploy" / "playbook.yml",
           "-e", f"bundle={bundle}", "-e", f"digest={digest}", "-e", f"bundle_sha1={sha1}", env=env, timeout=900)

    try:
        play(bundles[0])
        t0 = time.monotonic()
        play(bundles[1])
        t1 = time.monotonic()
        play(bundles[0])
        t2 = time.monotonic()
        return t1 - t0, t2 - t1
    finally:
        for pidfile in (OUT / "ansible").glob("*/hello.pid"):
            try:
                os.kill(int(pidfile.read_text()), signal.SIGTERM)
            except (OSError, ValueError):
                pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=20)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    if not 4 <= a.hosts <= 200:
        print("bench/deploy: --hosts must be 4..200", file=sys.stderr)
        sys.exit(2)
    if not os.access(SW, os.X_OK):
        die(f"no slipway binary at '{SW}' (run make, or set SLIPWAY_BIN)")
    if not shutil.which("ansible-playbook"):
        if os.geteuid() == 0 and shutil.which("apt-get"):
            subprocess.run(["apt-get", "install", "-y", "-qq", "ansible"], check=True,
                           env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        else:
            die("ansible-playbook is not installed (apt-get install ansible)")
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    env = dict(os.environ, SLIPWAY_HOME=str(OUT / "home"), SLIPWAY_ACTOR="bench@example.com")
    sh(SW, "keygen", env=env)
    bundles = make_releases(env)
    s_dep, s_rb, rss_server, rss_agent = slipway_side(a.hosts, bundles, env)
    a_dep, a_rb = ansible_side(a.hosts, bundles)
    s_total, a_total = s_dep + s_rb, a_dep + a_rb
    ratio = a_total / s_total if s_total else float("inf")
    print(f"deploy benchmark: {a.hosts} hosts, rolling 25% at a time, then rollback")
    print(f"  slipway  deploy {s_dep:6.2f} s  rollback {s_rb:6.2f} s  total {s_total:6.2f} s")
    print(f"  ansible  deploy {a_dep:6.2f} s  rollback {a_rb:6.2f} s  total {a_total:6.2f} s")
    print(f"  ratio ansible/slipway: {ratio:.1f}x   target: >= 5x   {'PASS' if ratio >= 5 else 'FAIL'}")
    print(f"  peak RSS server {rss_server / 1024:.1f} MiB (target < 32)  "
          f"{'PASS' if rss_server < 32 * 1024 else 'FAIL'}")
    print(f"  peak RSS agent  {rss_agent / 1024:.1f} MiB (largest of {a.hosts}; target < 8)  "
          f"{'PASS' if rss_agent < 8 * 1024 else 'FAIL'}")
    if not a.keep:
        shutil.rmtree(OUT, ignore_errors=True)


if __name__ == "__main__":
    main()
