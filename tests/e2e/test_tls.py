"""Scenario tests for TLS on the API (docs/api.md, "TLS").

A certificate for 127.0.0.1 (subjectAltName IP:127.0.0.1) is made in each test
with `openssl req -x509`. Covered: `slipway server --tls-cert/--tls-key` serves
HTTPS and writes its pin (checked against the pin openssl computes); unreadable
or invalid certificate or key files are refused naming the file (exit 2); plain
HTTP on an address that is not loopback is refused before anything is bound or
written; the CLI verifies the server with --ca or --pin (SLIPWAY_PIN) and fails
with a certificate error without them or with a wrong pin (exit 1), and refuses
an http:// URL to a host that is not loopback before connecting (exit 2); an
agent enrolled through a join token carrying the server's pin comes online over
TLS, keeps the pin in agent.json, a deploy to it works and `slipway logs` reads
its service's log through it; an old-format join
token (no pin) works with --ca, and the server accepts a whole token (pin
included) at enrollment; a token whose pin is not the server's is refused
at enrollment (exit 1); after the server's key changes, a pinned agent refuses
it (and keeps retrying) until restarted with the new --pin, which it saves.
Nothing is sent off 127.0.0.0/8: the refusals of
non-loopback addresses happen before any connection.
"""
import base64
import hashlib
import json
import os
import subprocess
import urllib.request

import pytest

from e2eutil import HELLO_BUILD, HELLO_DIR, Procs, Server, free_port, keygen_env, release_from_spec, \
    slipway_bin as _bin, wait_for

SPEC = """\
service: hello
version: 1.0.0
""" + HELLO_BUILD + """\
run:
  command: ./dist/hello --port ${{PORT}}
  health: {{ http: /healthz, interval: 1s, timeout: 2s }}
  stop: {{ signal: TERM, grace: 10s }}
environments:
  staging:
    hosts: {{ env: staging }}
    strategy:
      rolling: {{ max_unavailable: 1 }}
"""

WRONG_PIN = "sha256//" + base64.b64encode(b"\x01" * 32).decode()


def make_cert(d, name="server"):
    """A self-signed EC certificate for IP 127.0.0.1 and its key under d: (cert, key)."""
    cert, key = d / f"{name}.crt", d / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=slipway-test",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=30)
    return cert, key


def openssl_pin(cert):
    """sha256//<base64 SHA-256 of the SubjectPublicKeyInfo>, computed by openssl, not by slipway."""
    pub = subprocess.run(["openssl", "x509", "-in", str(cert), "-pubkey", "-noout"], check=True,
                         capture_output=True, timeout=30).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub, check=True,
                         capture_output=True, timeout=30).stdout
    return "sha256//" + base64.b64encode(hashlib.sha256(der).digest()).decode()


def run(*args, env=None, timeout=60):
    e = dict(os.environ)
    for k in ("SLIPWAY_SERVER", "SLIPWAY_TOKEN", "SLIPWAY_CA", "SLIPWAY_PIN", "SLIPWAY_INSECURE_HTTP",
              "SLIPWAY_JOIN_TOKEN"):
        e.pop(k, None)
    e.update(env or {})
    return subprocess.run([_bin(), *map(str, args)], env=e, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def procs():
    p = Procs()
    yield p
    p.stop_all()


def test_server_refuses_bad_tls_files_and_plain_http_off_loopback(tmp_path):
    cert, key = make_cert(tmp_path)
    other_cert, other_key = make_cert(tmp_path, "other")
    data = tmp_path / "data"
    cases = [
        (["--tls-cert", tmp_path / "missing.crt", "--tls-key", key], "missing.crt"),
        (["--tls-cert", key, "--tls-key", key], "not a PEM certificate"),
        (["--tls-cert", cert, "--tls-key", cert], "not an unencrypted PEM private key"),
        (["--tls-cert", cert, "--tls-key", other_key], "does not go with"),
        (["--tls-cert", cert], "go together"),
        (["--listen", f"0.0.0.0:{free_port()}"], "refusing plain HTTP on '0.0.0.0:"),
        (["--listen", f":{free_port()}"], "not loopback"),
    ]
    for extra, needle in cases:
        p = run("server", "--data", data, *extra, timeout=30)
        assert p.returncode == 2, (extra, p.stdout, p.stderr)
        assert needle in p.stderr, (extra, p.stderr)
    # Refused before anything was bound or written.
    assert not data.exists()
    # Each bad file is named in its message.
    p = run("server", "--data", data, "--tls-cert", cert, "--tls-key", other_cert, timeout=30)
    assert p.returncode == 2 and str(other_cert) in p.stderr, p.stderr


def test_cli_verifies_the_server(tmp_path, procs):
    cert, key = make_cert(tmp_path)
    srv = Server(procs, tmp_path, tls=(cert, key))
    assert srv.url.startswith("https://127.0.0.1:"), srv.url
    pin = (srv.data / "tls.pin").read_text().strip()
    assert pin == openssl_pin(cert)
    assert f"TLS certificate pin {pin}" in (tmp_path / "server.log").read_text()
    base = {"SLIPWAY_SERVER": srv.url, "SLIPWAY_TOKEN": srv.admin, "SLIPWAY_HOME": str(tmp_path / "cli")}

    p = run("hosts", "--ca", cert, env=base)
    assert p.returncode == 0, p.stderr
    p = run("hosts", env=base)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "cannot verify the TLS certificate" in p.stderr and "--ca FILE" in p.stderr, p.stderr
    p = run("hosts", "--pin", pin, env=base)
    assert p.returncode == 0, p.stderr
    p = run("hosts", env=dict(base, SLIPWAY_PIN=pin))
    assert p.returncode == 0, p.stderr
    p = run("hosts", "--pin", WRONG_PIN, env=base)
    assert p.returncode == 1 and "does not match pinned public key" in p.stderr, p.stderr
    p = run("hosts", "--ca", cert, "--pin", WRONG_PIN, env=base)
    assert p.returncode == 1 and "cannot verify the TLS certificate" in p.stderr, p.stderr
    # Bad trust settings are bad input.
    p = run("hosts", "--pin", "sha256//tooshort", env=base)
    assert p.returncode == 2 and "--pin" in p.stderr, p.stderr
    p = run("hosts", "--ca", tmp_path / "missing.pem", env=base)
    assert p.returncode == 2 and "missing.pem" in p.stderr, p.stderr
    # Plain HTTP to a host that is not loopback: refused before any connection (10.0.0.1 is never contacted).
    for url in ("http://10.0.0.1:7070", "http://example.com:7070", "http://[2001:db8::1]:7070"):
        p = run("hosts", env=dict(base, SLIPWAY_SERVER=url), timeout=10)
        assert p.returncode == 2 and "refusing plain HTTP" in p.stderr, (url, p.stderr)
    # Loopback stays allowed over plain HTTP (the TLS port answers garbage to it: exit 1, not a refusal).
    p = run("hosts", env=dict(base, SLIPWAY_SERVER=srv.url.replace("https://", "http://")), timeout=20)
    assert p.returncode == 1 and "refusing" not in p.stderr, p.stderr


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    base = tmp_path_factory.mktemp("tls-release")
    if not (HELLO_DIR / "build" / "hello").exists():
        subprocess.run(["make", "-s", "-C", str(HELLO_DIR)], check=True, timeout=300, stdout=subprocess.DEVNULL)
    env = keygen_env(base / "home")
    rel = release_from_spec(base / "src", env, SPEC.format(hello=HELLO_DIR / "build" / "hello", version="1.0.0"))
    rel["pub"] = base / "home" / "keys" / "slipway.pub"
    return rel


def start_agent(procs, tmp, name, *extra, env=None):
    ports = (free_port(), free_port())
    root = tmp / f"agent-{name}"
    e = dict(os.environ, SLIPWAY_HOME=str(tmp / "agent-home"))
    for k in ("SLIPWAY_SERVER", "SLIPWAY_JOIN_TOKEN", "SLIPWAY_CA", "SLIPWAY_PIN", "SLIPWAY_INSECURE_HTTP"):
        e.pop(k, None)
    e.update(env or {})
    # --stop-services-on-exit: what an agent here runs stops with it (nothing is left holding a port).
    p = procs.start([_bin(), "agent", "--root", root, "--name", name, "--heartbeat-ms", "200", "--poll-wait", "5",
                     "--stop-services-on-exit", "--ports", f"{ports[0]},{ports[1]}", *extra],
                    tmp / f"agent-{name}.log", env=e)
    return p, root, ports


def test_agent_enrolls_with_the_pin_in_its_join_token_and_deploys(tmp_path, procs, release):
    cert, key = make_cert(tmp_path)
    srv = Server(procs, tmp_path, trust=release["pub"], tls=(cert, key))
    pin = (srv.data / "tls.pin").read_text().strip()
    cli = {"SLIPWAY_SERVER": srv.url, "SLIPWAY_TOKEN": srv.admin, "SLIPWAY_HOME": str(tmp_path / "cli"),
           "SLIPWAY_CA": str(cert)}
    p = run("join-token", "create", "--labels", "env=staging", "--output", "json", env=cli)
    assert p.returncode == 0, p.stderr
    made = json.loads(p.stdout)
    token = made["token"]
    assert made["pin"] == pin
    secret, _, carried = token.partition(".")
    assert secret.startswith("swj_") and carried == pin[len("sha256//"):].rstrip("=").replace("+", "-").replace("/", "_")

    # Neither --ca nor --pin: the join token's pin is what the agent trusts.
    agent, root, ports = start_agent(procs, tmp_path, "tls-1", "--server", srv.url, "--join", token)
    wait_for(lambda: agent.poll() is None and srv.hosts().get("tls-1", {}).get("online"), timeout=30,
             what="agent online over TLS")
    ident = json.loads((root / "agent.json").read_text())
    assert ident["pin"] == pin and ident["server"] == srv.url
    assert token not in (root / "agent.json").read_text() and secret not in (root / "agent.json").read_text()

    p = run("deploy", release["bundle"], "--env", "staging", "--wait", "--timeout", "2m", "--output", "json",
            env=cli, timeout=180)
    assert p.returncode == 0, p.stdout + p.stderr
    with urllib.request.urlopen(f"http://127.0.0.1:{ports[0]}/", timeout=5) as r:
        assert r.status == 200
    slot = [s for s in srv.hosts()["tls-1"]["services"] if s["slot"] == "a"][0]
    assert slot["state"] == "healthy" and slot["digest"] == release["digest"]
    # The service's log comes from the agent through the server: the agent's answer goes over TLS too.
    p = run("logs", "tls-1", "hello", env=cli, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "--- slipway" in p.stdout, p.stdout


def test_join_token_forms_and_agent_refusals(tmp_path, procs):
    cert, key = make_cert(tmp_path)
    srv = Server(procs, tmp_path, tls=(cert, key))
    cli = {"SLIPWAY_SERVER": srv.url, "SLIPWAY_TOKEN": srv.admin, "SLIPWAY_HOME": str(tmp_path / "cli"),
           "SLIPWAY_CA": str(cert)}

    def token():
        p = run("join-token", "create", env=cli)
        assert p.returncode == 0, p.stderr
        return p.stdout.strip()

    # An old-format token (the secret alone) still enrolls; the agent verifies the server with --ca.
    old = token().partition(".")[0]
    agent, root, _ = start_agent(procs, tmp_path, "old-form", "--server", srv.url, "--join", old, "--ca", cert)
    wait_for(lambda: agent.poll() is None and srv.hosts().get("old-form", {}).get("online"), timeout=30,
             what="agent with an old-format token online")
    ident = json.loads((root / "agent.json").read_text())
    assert "pin" not in ident and ident["ca"] == str(cert)

    # An agent that sends the whole token (an older agent): the server checks only the secret before the '.'.
    status, out = srv.api("POST", "/api/v1/agent/enroll",
                          {"join_token": token(), "name": "whole-token", "ports": [free_port(), free_port()]})
    assert status == 201 and out["host_token"].startswith("swh_"), (status, out)

    # A token whose pin is not this server's: the certificate check fails; enrollment ends (exit 1), unused.
    forged = token().partition(".")[0] + "." + base64.urlsafe_b64encode(b"\x01" * 32).decode().rstrip("=")
    bad, bad_root, _ = start_agent(procs, tmp_path, "forged", "--server", srv.url, "--join", forged)
    assert bad.wait(timeout=30) == 1
    log = (tmp_path / "agent-forged.log").read_text()
    assert "cannot verify the TLS certificate" in log and "pinned public key" in log, log
    assert not (bad_root / "agent.json").exists()

    # Refused before any connection (exit 2): a pinned token with an http:// URL, plain HTTP off loopback,
    # a malformed pin part.
    for name, extra, needle in (
            ("plain", ["--server", srv.url.replace("https://", "http://"), "--join", token()], "use https://"),
            ("far", ["--server", "http://10.0.0.1:7070", "--join", old], "refusing plain HTTP"),
            ("mangled", ["--server", srv.url, "--join", old + ".notapin"], "not a server pin"),
            ("badpin", ["--server", srv.url, "--join", old, "--pin", "sha256//x"], "--pin")):
        p, r, _ = start_agent(procs, tmp_path, name, *extra)
        assert p.wait(timeout=30) == 2, name
        assert needle in (tmp_path / f"agent-{name}.log").read_text(), name
        assert not (r / "agent.json").exists()


def test_new_server_key_needs_the_new_pin(tmp_path, procs):
    """A pinned agent refuses a server whose key changed until it is given the new pin (saved in agent.json)."""
    cert, key = make_cert(tmp_path, "old")
    srv = Server(procs, tmp_path, tls=(cert, key))
    old_pin = (srv.data / "tls.pin").read_text().strip()
    cli = {"SLIPWAY_SERVER": srv.url, "SLIPWAY_TOKEN": srv.admin, "SLIPWAY_HOME": str(tmp_path / "cli"),
           "SLIPWAY_CA": str(cert)}
    p = run("join-token", "create", env=cli)
    assert p.returncode == 0, p.stderr
    agent, root, _ = start_agent(procs, tmp_path, "rotated", "--server", srv.url, "--join", p.stdout.strip())
    wait_for(lambda: agent.poll() is None and srv.hosts().get("rotated", {}).get("online"), timeout=30,
             what="agent online")
    agent.terminate()
    assert agent.wait(timeout=30) == 0
    srv.proc.terminate()
    assert srv.proc.wait(timeout=30) == 0

    # The same data directory served with a new key: a new pin.
    cert2, key2 = make_cert(tmp_path, "new")
    (tmp_path / "server.log").rename(tmp_path / "server-old.log")
    srv2 = Server(procs, tmp_path, tls=(cert2, key2))
    new_pin = (srv2.data / "tls.pin").read_text().strip()
    assert new_pin != old_pin and new_pin == openssl_pin(cert2)
    # (A restarted server counts hosts online for a heartbeat timeout of grace: last_seen tells who reported.)
    seen = srv2.hosts()["rotated"]["last_seen"]
    log = tmp_path / "agent-rotated.log"
    agent, _, _ = start_agent(procs, tmp_path, "rotated", "--server", srv2.url)
    wait_for(lambda: "cannot verify the TLS certificate" in log.read_text(), timeout=30,
             what="the pinned agent refusing the new key")
    assert agent.poll() is None  # still running: it retries until the certificate matches again
    assert srv2.hosts()["rotated"]["last_seen"] == seen
    assert json.loads((root / "agent.json").read_text())["pin"] == old_pin
    agent.terminate()
    assert agent.wait(timeout=30) == 0

    agent, _, _ = start_agent(procs, tmp_path, "rotated", "--server", srv2.url, "--pin", new_pin)
    wait_for(lambda: agent.poll() is None and srv2.hosts()["rotated"]["last_seen"] != seen, timeout=30,
             what="agent reporting with the new pin")
    assert json.loads((root / "agent.json").read_text())["pin"] == new_pin
