"""Scenario tests for `slipway host bootstrap ssh://...` against a real OpenSSH sshd.

The test starts its own sshd (openssh-server, run as root with -D -e as a
child of the test) on a free 127.0.0.1 port: host key, client key,
authorized_keys and known_hosts all made here with ssh-keygen in the test's
temp dir, its own sshd_config (UsePAM no, StrictModes no for the temp dir,
public keys only). The "host" is therefore this same machine, logged into as
root over ssh; every install path goes under --remote-dir in the temp dir, so
nothing of the system is overwritten.

systemd does not run here (nor in CI's fresh root), so what these tests cover
is the detached path: the agent started with setsid nohup, its output in
DATA/agent.log, and the output saying so. The systemd path (unit written,
user made, systemctl enable/restart) is not exercised by any test; the
unit's text is checked in tests/unit/test_remote_bootstrap.c.

Covered: the host comes online with the labels; the binary copied is this
binary; the join token file is 0600 and the token never appears in any
process's command line (sampled every few ms while the bootstrap runs, and
after); --address reaches the agent; a deploy to the host works; a second bootstrap replaces the running
agent and the service keeps answering. Over TLS (a certificate made with
openssl, test_tls.make_cert): the agent gets the --ca file copied to the host
and comes online. Errors: a closed port fails within
seconds with ssh's message and exit 1, a bad URL exits 2, a host key that is
not known fails (BatchMode never asks), an http:// agent server off loopback
is refused before any step (exit 2). Every wait is bounded.
"""
import filecmp
import json
import os
import signal
import stat
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from test_tls import make_cert
from e2eutil import HELLO_BUILD, HELLO_DIR, Procs, Server, free_port, keygen_env, kill_services, release_from_spec, \
    slipway_bin, wait_for, wait_listening

SPEC = """\
service: hello
version: 1.0.0
""" + HELLO_BUILD + """\
run:
  command: ./dist/hello --port ${{PORT}}
  health: {{ http: /healthz, interval: 200ms, timeout: 1s }}
environments:
  staging:
    hosts: {{ env: staging }}
    strategy: {{ rolling: {{ batch: 1, health_timeout: 20s }} }}
"""


class Sshd:
    """sshd on a free loopback port with its own keys and config (see the module docstring)."""

    def __init__(self, procs, tmp):
        d = tmp / "sshd"
        d.mkdir()
        for key in ("host_ed25519", "client"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", key, "-f", str(d / key)],
                           check=True, capture_output=True, timeout=30)
        (d / "authorized_keys").write_text((d / "client.pub").read_text())
        self.port = free_port()
        host_pub = " ".join((d / "host_ed25519.pub").read_text().split()[:2])
        self.known_hosts = d / "known_hosts"
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {host_pub}\n")
        self.identity = d / "client"
        cfg = d / "sshd_config"
        cfg.write_text(f"""\
Port {self.port}
ListenAddress 127.0.0.1
HostKey {d / 'host_ed25519'}
PidFile {d / 'sshd.pid'}
AuthorizedKeysFile {d / 'authorized_keys'}
StrictModes no
UsePAM no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
Subsystem sftp internal-sftp
LogLevel VERBOSE
""")
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        check = subprocess.run(["/usr/sbin/sshd", "-t", "-f", str(cfg)], capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stderr
        self.proc = procs.start(["/usr/sbin/sshd", "-D", "-e", "-f", cfg], tmp / "sshd.log")
        wait_listening(self.port)

    def url(self):
        return f"ssh://root@127.0.0.1:{self.port}"

    def options(self):
        return ["--identity", self.identity, "--ssh-option", f"UserKnownHostsFile={self.known_hosts}",
                "--ssh-option", "StrictHostKeyChecking=yes"]


class CmdlineSampler:
    """Every process's command line, sampled from /proc every few ms in a thread until stop()."""

    def __init__(self):
        self.seen = set()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.done.is_set():
            self.seen |= all_cmdlines()
            time.sleep(0.005)

    def stop(self):
        self.done.set()
        self.thread.join(timeout=10)
        return self.seen


def all_cmdlines():
    out = set()
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    out.add(f.read())
            except OSError:
                pass
    return out


def cli_env(server, tmp):
    env = dict(os.environ, SLIPWAY_SERVER=server.url, SLIPWAY_TOKEN=server.admin, SLIPWAY_HOME=str(tmp / "cli-home"))
    env.pop("SLIPWAY_LOG", None)
    return env


def bootstrap(sshd, env, *args, output_json=True, timeout=120):
    cmd = [slipway_bin(), "host", "bootstrap", sshd.url(), *map(str, args), *map(str, sshd.options())]
    if output_json:
        cmd += ["--output", "json"]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def http_status(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            return r.status
    except OSError:
        return None


def stop_detached(data):
    """SIGTERM the agent DATA/agent.pid names, wait until it is gone, kill the services it left."""
    pidf = data / "agent.pid"
    if pidf.exists():
        pid = int(pidf.read_text().split()[0])
        try:
            os.kill(pid, signal.SIGTERM)
            wait_for(lambda: not Path(f"/proc/{pid}").exists() or
                     Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z",
                     timeout=20, what=f"agent {pid} stopped")
        except ProcessLookupError:
            pass
    kill_services(data)


@pytest.fixture
def world(tmp_path):
    procs = Procs()
    remote = tmp_path / "remote"
    try:
        yield procs, tmp_path, remote
    finally:
        stop_detached(remote / "data")
        procs.stop_all()


def test_bootstrap_detached_agent_online_token_hidden_and_deploy(world):
    """bootstrap over a real sshd: the agent (detached: no systemd here) comes online with the labels, the
    token file is 0600 and the token is on no command line, a deploy works, and bootstrapping again replaces
    the agent while the service keeps answering."""
    procs, tmp, remote = world
    rel_env = keygen_env(tmp / "rel-home")
    rel = release_from_spec(tmp / "src", rel_env, SPEC.format(hello=HELLO_DIR / "build" / "hello", version="1.0.0"))
    server = Server(procs, tmp, trust=tmp / "rel-home" / "keys" / "slipway.pub")
    sshd = Sshd(procs, tmp)
    env = cli_env(server, tmp)
    ports = (free_port(), free_port())
    while ports[0] == ports[1]:
        ports = (free_port(), free_port())

    sampler = CmdlineSampler()
    t0 = time.monotonic()
    p = bootstrap(sshd, env, "--labels", "env=staging,tier=web", "--name", "boot-1", "--address", "127.0.0.2",
                  "--ports", f"{ports[0]},{ports[1]}", "--remote-dir", remote, "--timeout", "60s")
    took = time.monotonic() - t0
    seen = sampler.stop()
    print(f"\nbootstrap over ssh until the host is online: {took:.2f}s")
    assert p.returncode == 0, p.stdout + p.stderr
    out = json.loads(p.stdout)
    data = remote / "data"

    # Online with the labels, as the server sees it.
    assert out["host"]["name"] == "boot-1" and out["host"]["online"] is True, out
    assert out["host"]["labels"] == {"env": "staging", "tier": "web"}, out
    assert out["host"]["address"] == "127.0.0.2", out  # --address passed on to the agent
    assert server.hosts()["boot-1"]["online"] is True
    # Detached, and said so plainly.
    assert out["mode"] == "detached" and out["unit"] is None and out["log"] == str(data / "agent.log"), out
    assert "no running systemd on the host" in p.stderr and "started detached (setsid nohup)" in p.stderr, p.stderr
    pid = out["pid"]
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert cmdline[:2] == [str(remote / "bin" / "slipway").encode(), b"agent"], cmdline
    assert b"--join-file" in cmdline and str(data / "join-token").encode() in cmdline, cmdline
    assert os.getsid(pid) == pid, "the agent leads its own session (setsid)"
    assert (data / "agent.pid").read_text().strip() == str(pid)
    # The binary on the host is this binary.
    installed = remote / "bin" / "slipway"
    assert filecmp.cmp(installed, slipway_bin(), shallow=False)
    assert stat.S_IMODE(installed.stat().st_mode) == 0o755
    assert not list((remote / "bin").glob(".slipway.new.*")), "no temporary binary left"
    # The token file: 0600, a join token, on no command line (during the bootstrap or now).
    tok_file = data / "join-token"
    assert stat.S_IMODE(tok_file.stat().st_mode) == 0o600
    token = tok_file.read_text().strip()
    assert token.startswith("swj_") and len(token) > 20, token
    assert len(seen) > 10, "the sampler saw processes"
    leaked = [c for c in seen | all_cmdlines() if token.encode() in c]
    assert not leaked, leaked
    assert not list(data.glob(".join-token.*")), "no temporary token file left"
    # The agent's root is private.
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert (data / "agent.json").exists()

    # A deploy to it works.
    d = subprocess.run([slipway_bin(), "deploy", rel["bundle"], "--env", "staging", "--wait", "--timeout", "2m"],
                       env=env, capture_output=True, text=True, timeout=180)
    assert d.returncode == 0, d.stdout + d.stderr
    assert http_status(ports[0]) == 200

    # Bootstrap again (text output): the old agent is replaced, the service keeps answering.
    before = server.hosts()["boot-1"]["id"]
    p2 = bootstrap(sshd, env, "--labels", "env=staging,tier=web", "--name", "boot-1",
                   "--ports", f"{ports[0]},{ports[1]}", "--remote-dir", remote, "--timeout", "60s", output_json=False)
    assert p2.returncode == 0, p2.stdout + p2.stderr
    assert "no running systemd on the host" in p2.stdout and f"log {data / 'agent.log'}" in p2.stdout, p2.stdout
    assert f"host boot-1 ({before}) is online, labels env=staging,tier=web" in p2.stdout, p2.stdout
    new_pid = int((data / "agent.pid").read_text())
    assert new_pid != pid
    wait_for(lambda: not Path(f"/proc/{pid}").exists(), timeout=20, what="the first agent gone")
    assert http_status(ports[0]) == 200
    assert server.hosts()["boot-1"]["online"] is True


def test_bootstrap_errors_fail_fast(world):
    """A closed port fails within seconds with ssh's own message and exit 1; a host key nobody knows fails
    (BatchMode never asks); bad URLs and options exit 2. None of them leaves a host enrolled."""
    procs, tmp, remote = world
    server = Server(procs, tmp)
    sshd = Sshd(procs, tmp)
    env = cli_env(server, tmp)

    closed = free_port()
    t0 = time.monotonic()
    p = subprocess.run([slipway_bin(), "host", "bootstrap", f"ssh://root@127.0.0.1:{closed}", "--labels", "env=x",
                        "--remote-dir", remote], env=env, capture_output=True, text=True, timeout=60)
    took = time.monotonic() - t0
    print(f"\nbootstrap to a closed port failed after {took:.2f}s")
    assert p.returncode == 1, p.stdout + p.stderr
    assert took < 10, took
    assert f"cannot reach ssh://root@127.0.0.1:{closed}: ssh: connect to host 127.0.0.1 port {closed}: " \
           f"Connection refused" in p.stderr, p.stderr

    # The real sshd, but a known_hosts that does not know it.
    (tmp / "empty_known_hosts").write_text("")
    p = subprocess.run([slipway_bin(), "hosts", "bootstrap", sshd.url(), "--labels", "env=x", "--remote-dir", remote,
                        "--identity", sshd.identity, "--ssh-option", f"UserKnownHostsFile={tmp / 'empty_known_hosts'}",
                        "--ssh-option", "StrictHostKeyChecking=yes"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "Host key verification failed" in p.stderr, p.stderr

    for url, msg in [("http://127.0.0.1:22", "is not an ssh:// URL"),
                     ("ssh://root@", "missing or bad host"),
                     ("ssh://root@127.0.0.1:0", "is not :PORT"),
                     ("ssh://root@127.0.0.1:99999", "is not :PORT"),
                     ("ssh://-oProxyCommand=touch@x", "user must be"),
                     ("ssh://root@-oProxyCommand=x", "missing or bad host"),
                     ("ssh://root@h;touch x", "may hold only"),
                     ("ssh://root@[::1", "IPv6")]:
        p = subprocess.run([slipway_bin(), "host", "bootstrap", url, "--labels", "env=x"], env=env,
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 2, (url, p.stdout, p.stderr)
        assert msg in p.stderr, (url, p.stderr)
    for args, msg in [(["--labels", "env"], "is not KEY=VALUE"),
                      ([], "--labels is required"),
                      (["--labels", "env=x", "--ports", "80"], "--ports"),
                      (["--labels", "env=x", "--remote-dir", "relative/dir"], "--remote-dir"),
                      (["--labels", "env=x", "--timeout", "forever"], "--timeout")]:
        p = subprocess.run([slipway_bin(), "host", "bootstrap", sshd.url(), *args], env=env,
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 2, (args, p.stdout, p.stderr)
        assert msg in p.stderr, (args, p.stderr)
    assert server.hosts() == {}
    assert not remote.exists() or not list(remote.rglob("slipway"))


def test_bootstrap_over_tls_copies_the_ca(world):
    """A TLS server trusted by --ca: the CA file is copied to the host (DATA/server-ca.pem, 0644), the agent is
    started with --ca on it (and the pin its join token carries) and comes online over HTTPS. A plain http://
    agent server that is not loopback is refused before any step unless --insecure-http is given."""
    procs, tmp, remote = world
    cert, key = make_cert(tmp)
    server = Server(procs, tmp, tls=(cert, key))
    assert server.url.startswith("https://")
    sshd = Sshd(procs, tmp)
    env = cli_env(server, tmp)

    p = bootstrap(sshd, env, "--labels", "env=tls", "--name", "tls-1", "--ca", cert, "--remote-dir", remote,
                  "--ports", f"{free_port()},{free_port()}", "--agent-server", "http://10.0.0.1:7070")
    assert p.returncode == 2 and "refusing plain HTTP" in p.stderr, p.stdout + p.stderr
    assert not remote.exists(), "refused before any step"

    p = bootstrap(sshd, env, "--labels", "env=tls", "--name", "tls-1", "--ca", cert, "--remote-dir", remote,
                  "--ports", f"{free_port()},{free_port()}", "--timeout", "60s")
    assert p.returncode == 0, p.stdout + p.stderr
    out = json.loads(p.stdout)
    assert out["host"]["online"] is True and out["host"]["labels"] == {"env": "tls"}, out
    data = remote / "data"
    ca = data / "server-ca.pem"
    assert ca.read_bytes() == cert.read_bytes() and stat.S_IMODE(ca.stat().st_mode) == 0o644
    cmdline = Path(f"/proc/{out['pid']}/cmdline").read_bytes().split(b"\0")
    assert cmdline[cmdline.index(b"--ca") + 1] == str(ca).encode(), cmdline
    assert cmdline[cmdline.index(b"--server") + 1] == server.url.encode(), cmdline
    assert not list(data.glob(".server-ca.new.*"))
