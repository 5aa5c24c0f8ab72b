"""Scenario tests for `slipway server`, its HTTP API and the CLI commands that
talk to it (`token`, `join-token`, `hosts`).

Each test starts a real server on a free loopback port (--listen 127.0.0.1:0;
the server writes the URL it got to DATA/server.url) with its own data
directory, talks to it over HTTP with the standard library, and stops it with
SIGTERM, expecting a clean exit.
"""
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

DIGEST_A = "a" * 64


class Server:
    def __init__(self, sw, data, trust=(), extra=()):
        self.sw = sw
        self.data = Path(data)
        args = [sw.bin, "server", "--data", str(self.data), "--listen", "127.0.0.1:0"]
        for t in trust:
            args += ["--trust", str(t)]
        args += list(extra)
        url_file = self.data / "server.url"
        if url_file.exists():  # left by a server that was killed
            url_file.unlink()
        self.log = open(str(self.data) + ".log", "a")
        self.proc = subprocess.Popen(args, env=sw.env, stdout=subprocess.DEVNULL, stderr=self.log, text=True)
        deadline = time.time() + 15
        while time.time() < deadline:
            if url_file.exists() and url_file.read_text().endswith("\n"):
                break
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited {self.proc.returncode}: {self.logtext()}")
            time.sleep(0.02)
        else:
            raise AssertionError("server did not start: " + self.logtext())
        self.url = url_file.read_text().strip()
        parsed = urllib.parse.urlparse(self.url)
        self.host, self.port = parsed.hostname, parsed.port
        tok = self.data / "admin.token"
        self.admin = tok.read_text().strip() if tok.exists() else None

    def logtext(self):
        self.log.flush()
        return Path(str(self.data) + ".log").read_text()

    def request(self, method, path, token=None, body=None, raw=None, headers=None, timeout=40):
        c = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = "Bearer " + token
        data = None
        if raw is not None:
            data = raw
            h.setdefault("Content-Type", "application/octet-stream")
        elif body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            h["Content-Type"] = "application/json"
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            payload = r.read()
        finally:
            c.close()
        ctype = r.getheader("Content-Type") or ""
        if ctype.startswith("application/json"):
            return r.status, json.loads(payload)
        return r.status, payload

    def ok(self, method, path, token, body=None, status=(200, 201)):
        st, doc = self.request(method, path, token, body)
        assert st in (status if isinstance(status, tuple) else (status,)), f"{method} {path}: {st} {doc}"
        return doc

    def token(self, role, name=None):
        body = {"role": role}
        if name:
            body["name"] = name
        return self.ok("POST", "/api/v1/tokens", self.admin, body, 201)["token"]

    def join(self, labels=None, ttl=None):
        body = {}
        if labels:
            body["labels"] = labels
        if ttl:
            body["ttl"] = ttl
        return self.ok("POST", "/api/v1/join-tokens", self.admin, body, 201)["token"]

    def enroll(self, name, labels=None, ports=(18001, 18002)):
        jt = self.join()
        return self.ok("POST", "/api/v1/agent/enroll", None,
                       {"join_token": jt, "name": name, "labels": labels or {}, "ports": list(ports)}, 201)

    def stop(self, timeout=15):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
                raise AssertionError("server did not stop on SIGTERM")
        self.log.close()
        return self.proc.returncode


@pytest.fixture
def server(sw, tmp_path):
    servers = []

    def start(data=None, **kw):
        s = Server(sw, data or tmp_path / f"data{len(servers)}", **kw)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


def cli(sw, srv, *args, token=None, **kw):
    return sw(*args, "--server", srv.url, "--token", token or srv.admin, **kw)


def event_kinds(srv, after=0):
    doc = srv.ok("GET", f"/api/v1/events?after={after}&limit=1000", srv.admin)
    return [e["kind"] for e in doc["events"]]


# ---- start-up, admin token, shutdown ----

def test_server_starts_and_writes_admin_token(sw, server, tmp_path):
    srv = server()
    tok = srv.data / "admin.token"
    assert oct(tok.stat().st_mode & 0o777) == "0o600"
    assert oct(srv.data.stat().st_mode & 0o777) == "0o700"
    assert re.fullmatch(r"swt_[A-Za-z0-9_-]{43}", srv.admin)
    st, doc = srv.request("GET", "/api/v1/health")
    assert st == 200 and doc["ok"] is True and doc["version"]
    tokens = srv.ok("GET", "/api/v1/tokens", srv.admin)
    assert [t["role"] for t in tokens] == ["admin"]
    assert all("hash" not in t for t in tokens)
    assert "token.created" in event_kinds(srv)
    assert srv.stop() == 0
    # A restart keeps the token and writes no new one.
    before = tok.read_text()
    srv2 = server(data=srv.data)
    assert tok.read_text() == before
    assert srv2.ok("GET", "/api/v1/tokens", srv2.admin)[0]["role"] == "admin"
    assert srv2.stop() == 0


def test_server_usage_errors(sw, tmp_path):
    assert sw("server").returncode == 2
    assert sw("server", "--data", tmp_path / "d", "--listen", "nope").returncode == 2
    assert sw("server", "--bogus").returncode == 2
    p = sw("server", "--help", check=0)
    assert p.stdout.startswith("usage: slipway server")
    bad = tmp_path / "bad.pub"
    bad.write_text("not a key\n")
    p = sw("server", "--data", tmp_path / "d2", "--listen", "127.0.0.1:0", "--trust", bad, timeout=20)
    assert p.returncode == 2 and "bad.pub" in p.stderr


def test_second_server_on_same_data_is_refused(sw, server, tmp_path):
    """One server per --data: a second one exits 2 naming the holder's pid, and leaves its server.url alone."""
    srv = server()
    url_file = srv.data / "server.url"
    url = url_file.read_text()
    args = [sw.bin, "server", "--data", str(srv.data), "--listen", "127.0.0.1:0"]
    p = subprocess.Popen(args, env=sw.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=15)
        raise AssertionError(f"a second server on {srv.data} kept running; server.url now "
                             f"{url_file.read_text() if url_file.exists() else 'removed'!r}\n{err}")
    assert p.returncode == 2, (p.returncode, out, err)
    assert f"pid {srv.proc.pid}" in err and "in use" in err, err
    assert url_file.read_text() == url
    assert srv.request("GET", "/api/v1/health")[0] == 200
    # The lock dies with its holder: after SIGKILL a new server takes the directory at once.
    srv.proc.kill()
    srv.proc.wait(timeout=10)
    srv2 = server(data=srv.data)
    assert (srv.data / "server.lock").read_text().strip() == str(srv2.proc.pid)
    assert srv2.stop() == 0
    assert not url_file.exists()


def test_sigterm_during_long_poll_stops_cleanly(server):
    srv = server()
    result = {}

    def poll():
        result["r"] = srv.request("GET", "/api/v1/events?after=1000&wait=30", srv.admin)

    t = threading.Thread(target=poll)
    t.start()
    time.sleep(0.5)
    t0 = time.time()
    assert srv.stop() == 0
    assert time.time() - t0 < 5
    t.join(10)
    assert not t.is_alive()
    # The long-poll got its (empty) answer before the server went away.
    st, doc = result["r"]
    assert st == 200 and doc["events"] == []


def test_docs_api_md_is_current(sw, root):
    p = sw("server", "--routes-markdown", check=0)
    assert p.stdout == (root / "docs" / "api.md").read_text(), \
        "docs/api.md is stale: run `slipway server --routes-markdown > docs/api.md`"


# ---- tokens ----

def test_token_cli_create_list_revoke(sw, server):
    srv = server()
    p = cli(sw, srv, "token", "create", "--role", "deployer", "--name", "ci", check=0)
    secret = p.stdout.strip()
    assert re.fullmatch(r"swt_[A-Za-z0-9_-]{43}", secret)
    assert srv.ok("GET", "/api/v1/hosts", secret) == []
    listed = sw.json("token", "list", "--server", srv.url, "--token", srv.admin)
    ci = [t for t in listed if t["name"] == "ci"]
    assert len(ci) == 1 and ci[0]["role"] == "deployer" and ci[0]["revoked"] is False
    text = cli(sw, srv, "token", "list", check=0).stdout
    assert "ci" in text and "deployer" in text
    # The environment works as well as the flags.
    p = sw("token", "list", "--output", "json", env={"SLIPWAY_SERVER": srv.url, "SLIPWAY_TOKEN": srv.admin})
    assert p.returncode == 0 and len(json.loads(p.stdout)) == 2
    cli(sw, srv, "token", "revoke", ci[0]["id"], check=0)
    st, doc = srv.request("GET", "/api/v1/hosts", secret)
    assert st == 401 and doc["error"]["message"] == "token revoked"
    assert [t["revoked"] for t in sw.json("token", "list", "--server", srv.url, "--token", srv.admin)
            if t["name"] == "ci"] == [True]
    kinds = event_kinds(srv)
    assert kinds.count("token.created") == 2 and "token.revoked" in kinds
    # Errors: unknown id (exit 2), bad role (exit 2), no server, a viewer cannot create tokens (exit 1).
    p = cli(sw, srv, "token", "revoke", "tok-nope")
    assert p.returncode == 2 and "not found" in p.stderr
    assert cli(sw, srv, "token", "create", "--role", "root").returncode == 2
    p = sw("token", "list")
    assert p.returncode == 2 and "SLIPWAY_SERVER" in p.stderr
    viewer = srv.token("viewer")
    p = cli(sw, srv, "token", "create", "--role", "admin", token=viewer)
    assert p.returncode == 1 and "role 'viewer'" in p.stderr


# ---- authentication and roles on every route class ----

def routes_from_docs(sw):
    text = sw("server", "--routes-markdown", check=0).stdout
    rows = re.findall(r"^\| (GET|POST|PUT|DELETE) \| `([^`]+)` \| ([a-z ]+) \|$", text, re.M)
    assert len(rows) >= 19
    out = []
    for method, pattern, access in rows:
        path = (pattern.replace("{digest}", DIGEST_A).replace("{file}", "release.json")
                .replace("{id}", "x-1"))
        out.append((method, path, access))
    return out


def test_auth_on_every_route(sw, server):
    srv = server()
    viewer, deployer = srv.token("viewer"), srv.token("deployer")
    host = srv.enroll("auth-host")["host_token"]
    revoked = srv.token("admin")
    tokens = srv.ok("GET", "/api/v1/tokens", srv.admin)
    rid = [t["id"] for t in tokens if t["role"] == "admin" and t.get("name") != "admin"][0]  # not the first-start one
    srv.ok("DELETE", f"/api/v1/tokens/{rid}", srv.admin)
    checked = 0
    for method, path, access in routes_from_docs(sw):
        if access in ("none", "join token"):
            continue
        checked += 1
        st, doc = srv.request(method, path)
        assert st == 401 and doc["error"]["code"] == "unauthorized", (method, path, st, doc)
        st, doc = srv.request(method, path, "swt_" + "x" * 43)
        assert st == 401 and doc["error"]["message"] == "unknown token", (method, path, doc)
        st, doc = srv.request(method, path, "swh_" + "x" * 43)
        assert st == 401 and doc["error"]["message"] == "unknown host token", (method, path, doc)
        st, doc = srv.request(method, path, revoked)
        assert st == 401 and doc["error"]["message"] == "token revoked", (method, path, doc)
        st, doc = srv.request(method, path, headers={"Authorization": "Basic abc"})
        assert st == 401, (method, path, st)
        if access in ("deployer", "admin"):
            st, doc = srv.request(method, path, viewer)
            assert st == 403 and doc["error"]["code"] == "forbidden", (method, path, st, doc)
            assert "role 'viewer'" in doc["error"]["message"]
        if access == "admin":
            st, doc = srv.request(method, path, deployer)
            assert st == 403, (method, path, st, doc)
        if access == "agent":
            st, doc = srv.request(method, path, srv.admin)
            assert st == 403 and "host token" in doc["error"]["message"], (method, path, st, doc)
        if access in ("viewer", "deployer", "admin"):
            st, doc = srv.request(method, path, host)
            assert st == 403 and "agent routes" in doc["error"]["message"], (method, path, st, doc)
            # The right role passes authorization (whatever the route then says).
            st, doc = srv.request(method, path, {"viewer": viewer, "deployer": deployer,
                                                 "admin": srv.admin}[access])
            assert st not in (401, 403), (method, path, st, doc)
        if access == "viewer or agent":
            for t in (viewer, host):
                st, doc = srv.request(method, path, t)
                assert st not in (401, 403), (method, path, st, doc)
    assert checked >= 17
    # Unknown paths and methods.
    st, doc = srv.request("GET", "/api/v1/nope")
    assert st == 404 and doc["error"]["code"] == "not_found"
    st, doc = srv.request("PATCH", "/api/v1/tokens", srv.admin)
    assert st == 405 and doc["error"]["code"] == "method_not_allowed"


# ---- request validation ----

def raw_http(srv, data, timeout=10):
    """Send raw bytes, read the answer until the server closes (bounded): (status, headers, JSON body)."""
    deadline = time.time() + timeout
    with socket.create_connection((srv.host, srv.port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while time.time() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, json.loads(body)


def assert_http_error(answer, status, code, needle):
    st, headers, doc = answer
    assert st == status, doc
    err = doc["error"]
    assert set(err) == {"code", "message", "field", "request_id"}
    assert err["code"] == code and needle in err["message"], err
    assert headers["x-request-id"] == err["request_id"] and err["request_id"].startswith("r-")
    assert headers["content-type"].startswith("application/json")
    return err


def test_header_smuggling_is_refused(server):
    """A NUL inside Authorization, two Content-Lengths, Content-Length with chunked: refused, JSON error."""
    srv = server()
    tok = srv.admin.encode()
    get = b"GET /api/v1/tokens HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer "
    st, _, doc = raw_http(srv, get + tok + b"\r\n\r\n")
    assert st == 200 and len(doc) == 1
    assert_http_error(raw_http(srv, get + tok + b"\0junk\r\n\r\n"), 401, "unauthorized",
                      "authorization header contains a NUL byte")
    err = assert_http_error(raw_http(srv, b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Trace: a\0b\r\n"
                                     b"Connection: close\r\n\r\n"), 400, "bad_request", "contains a NUL byte")
    assert err["field"] == "X-Trace"
    # The last header too, and LF-only line ends; a clean LF-only request passes.
    assert_http_error(raw_http(srv, get.replace(b"\r\n", b"\n") + tok + b"\0\x01\n\n"), 401, "unauthorized",
                      "authorization header contains a NUL byte")
    st, _, doc = raw_http(srv, get.replace(b"\r\n", b"\n") + tok + b"  \n\n")
    assert st == 200 and len(doc) == 1

    body = b'{"role": "admin"}'
    post = (b"POST /api/v1/tokens HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + tok + b"\r\n")
    err = assert_http_error(raw_http(srv, post + b"Content-Length: %d\r\nContent-Length: 5\r\n\r\n" % len(body) + body),
                            400, "bad_request", "more than one Content-Length header")
    assert err["field"] == "Content-Length"
    chunked = b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
    err = assert_http_error(raw_http(srv, post + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked),
                            400, "bad_request", "Content-Length and Transfer-Encoding together")
    assert err["field"] == "Transfer-Encoding"
    # The second request on a kept-alive connection is checked as well (pipelined here).
    with socket.create_connection((srv.host, srv.port), timeout=10) as s:
        s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n" + get + tok + b"\0junk\r\n\r\n")
        out, deadline = b"", time.time() + 10
        while time.time() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    assert out.startswith(b"HTTP/1.1 200 OK") and b"HTTP/1.1 401 Unauthorized" in out, out
    assert b"authorization header contains a NUL byte" in out
    # Obsolete line folding is refused, not misread.
    assert_http_error(raw_http(srv, b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-F: a\r\n  b\r\n"
                               b"Connection: close\r\n\r\n"), 400, "bad_request", "folded header lines")
    # None of the refused requests did anything; a plain chunked body still works.
    assert len(srv.ok("GET", "/api/v1/tokens", srv.admin)) == 1
    st, _, doc = raw_http(srv, post + b"Transfer-Encoding: chunked\r\n\r\n" + chunked)
    assert st == 201 and doc["role"] == "admin"


def test_malformed_json_and_missing_fields(server):
    srv = server()
    st, doc = srv.request("POST", "/api/v1/tokens", srv.admin, body='{"role": "viewer",\n  "name": }')
    assert st == 400 and doc["error"]["code"] == "bad_request"
    assert "line 2, column" in doc["error"]["message"] and doc["error"]["field"] is None
    st, doc = srv.request("POST", "/api/v1/tokens", srv.admin, body="[1, 2]")
    assert st == 400 and "JSON object" in doc["error"]["message"]
    st, doc = srv.request("POST", "/api/v1/tokens", srv.admin, body={"name": "x"})
    assert st == 400 and doc["error"]["field"] == "role" and "role" in doc["error"]["message"]
    st, doc = srv.request("POST", "/api/v1/tokens", srv.admin, body={"role": "root"})
    assert st == 400 and doc["error"]["field"] == "role"
    st, doc = srv.request("POST", "/api/v1/tokens", srv.admin, body={"role": "viewer", "colour": 1})
    assert st == 400 and doc["error"]["field"] == "colour"
    st, doc = srv.request("POST", "/api/v1/tokens", srv.admin, body={"role": "viewer", "name": 7})
    assert st == 400 and doc["error"]["field"] == "name"
    st, doc = srv.request("POST", "/api/v1/join-tokens", srv.admin, body={"ttl": "soon"})
    assert st == 400 and doc["error"]["field"] == "ttl"
    st, doc = srv.request("POST", "/api/v1/join-tokens", srv.admin, body={"labels": {"env": 3}})
    assert st == 400 and doc["error"]["field"] == "labels"
    jt = srv.join()
    st, doc = srv.request("POST", "/api/v1/agent/enroll", body={"join_token": jt, "name": "h1"})
    assert st == 400 and doc["error"]["field"] == "ports"
    st, doc = srv.request("POST", "/api/v1/agent/enroll", body={"join_token": jt, "name": "bad name!",
                                                                "ports": [1, 2]})
    assert st == 400 and doc["error"]["field"] == "name"
    st, doc = srv.request("POST", "/api/v1/agent/enroll", body={"name": "h1", "ports": [1, 2]})
    assert st == 400 and doc["error"]["field"] == "join_token"
    host = srv.enroll("val-host")["host_token"]
    st, doc = srv.request("POST", "/api/v1/agent/status", host, body={"services": []})
    assert st == 400 and doc["error"]["field"] == "generation"
    st, doc = srv.request("POST", "/api/v1/agent/status", host, body={
        "generation": 0, "services": [{"service": "web", "slot": "c", "state": "healthy"}]})
    assert st == 400 and doc["error"]["field"] == "services[0].slot"
    st, doc = srv.request("POST", "/api/v1/agent/status", host, body={
        "generation": 0, "services": [{"service": "web", "slot": "a", "state": "dancing"}]})
    assert st == 400 and doc["error"]["field"] == "services[0].state"
    deployer = srv.token("deployer")
    st, doc = srv.request("POST", "/api/v1/deployments", deployer, body={"service": "web", "env": "prod"})
    assert st == 400 and doc["error"]["field"] == "digest"
    st, doc = srv.request("POST", "/api/v1/rollback", deployer, body={"service": "web"})
    assert st == 400 and doc["error"]["field"] == "env"
    st, doc = srv.request("GET", "/api/v1/events?after=abc", srv.admin)
    assert st == 400 and doc["error"]["field"] == "after"
    st, doc = srv.request("GET", "/api/v1/agent/desired?wait=-1", host)
    assert st == 400 and doc["error"]["field"] == "wait"
    # Over the 1 MiB JSON cap: 413.
    st, doc = srv.request("POST", "/api/v1/tokens", srv.admin, body='{"name": "' + "x" * (1 << 20) + '"}')
    assert st == 413 and doc["error"]["code"] == "too_large"
    # The server still answers.
    assert srv.request("GET", "/api/v1/health")[0] == 200


# ---- enrollment, join tokens, host identities ----

def test_join_token_is_one_time_and_expires(sw, server):
    srv = server()
    p = cli(sw, srv, "join-token", "create", "--labels", "env=staging,region=eu", check=0)
    jt = p.stdout.strip()
    assert re.fullmatch(r"swj_[A-Za-z0-9_-]{43}", jt)
    body = {"join_token": jt, "name": "web-1", "labels": {"env": "prod", "rack": "r1"}, "ports": [19001, 19002]}
    st, doc = srv.request("POST", "/api/v1/agent/enroll", body=body)
    assert st == 201, doc
    assert re.fullmatch(r"swh_[A-Za-z0-9_-]{43}", doc["host_token"])
    assert doc["host_id"].startswith("h-") and doc["heartbeat_ms"] == 1000
    # The join token's labels win over the agent's.
    assert doc["labels"] == {"env": "staging", "region": "eu", "rack": "r1"}
    assert isinstance(doc["trusted_keys"], list)
    st, doc2 = srv.request("POST", "/api/v1/agent/enroll", body=body)
    assert st == 401 and doc2["error"]["message"] == "join token already used"
    short = srv.ok("POST", "/api/v1/join-tokens", srv.admin, {"ttl": "1s"}, 201)["token"]
    time.sleep(1.3)
    st, doc3 = srv.request("POST", "/api/v1/agent/enroll", body=dict(body, join_token=short, name="web-2"))
    assert st == 401 and doc3["error"]["message"] == "join token expired"
    st, doc4 = srv.request("POST", "/api/v1/agent/enroll", body=dict(body, join_token="swj_" + "y" * 43,
                                                                     name="web-3"))
    assert st == 401 and doc4["error"]["message"] == "unknown join token"
    hosts = srv.ok("GET", "/api/v1/hosts", srv.admin)
    assert [h["name"] for h in hosts] == ["web-1"]
    assert event_kinds(srv).count("host.enrolled") == 1


def test_revoked_host_is_refused(sw, server):
    srv = server()
    enr = srv.enroll("db-1")
    host, hid = enr["host_token"], enr["host_id"]
    st, doc = srv.request("GET", "/api/v1/agent/desired", host)
    assert st == 200 and doc["services"] == [] and "generation" in doc
    cli(sw, srv, "hosts", "revoke", hid, check=0)
    for method, path, body in [("GET", "/api/v1/agent/desired", None),
                               ("POST", "/api/v1/agent/status", {"generation": 0, "services": []}),
                               ("GET", f"/api/v1/releases/{DIGEST_A}/release.json", None)]:
        st, doc = srv.request(method, path, host, body=body)
        assert st == 401 and doc["error"]["message"] == "host identity revoked", (path, doc)
    hosts = sw.json("hosts", "--server", srv.url, "--token", srv.admin)
    assert hosts[0]["revoked"] is True and hosts[0]["online"] is False
    assert "host.revoked" in event_kinds(srv)
    # Unknown host id.
    st, doc = srv.request("DELETE", "/api/v1/hosts/h-nope", srv.admin)
    assert st == 404


def test_reenroll_needs_replace_token(server):
    srv = server()
    first = srv.enroll("app-1", ports=(18101, 18102))
    jt = srv.join()
    st, doc = srv.request("POST", "/api/v1/agent/enroll", None,
                          {"join_token": jt, "name": "app-1", "labels": {}, "ports": [18201, 18202]})
    assert st == 409 and doc["error"]["code"] == "conflict", doc
    assert "host name 'app-1' is taken (host " + first["host_id"] + ")" in doc["error"]["message"]
    # The refusal rolled back: the join token is still usable, under another name.
    assert srv.ok("POST", "/api/v1/agent/enroll", None,
                  {"join_token": jt, "name": "app-2", "labels": {}, "ports": [18301, 18302]}, 201)
    rt = srv.ok("POST", "/api/v1/join-tokens", srv.admin, {"replace": "app-1"}, 201)
    assert rt["replace"] == "app-1"
    st, doc = srv.request("POST", "/api/v1/join-tokens", srv.admin, {"replace": "nobody"})
    assert st == 404 and "no host called 'nobody'" in doc["error"]["message"]
    second = srv.ok("POST", "/api/v1/agent/enroll", None,
                    {"join_token": rt["token"], "name": "app-1", "labels": {}, "ports": [18201, 18202]}, 201)
    assert second["host_id"] == first["host_id"]
    st, doc = srv.request("GET", "/api/v1/agent/desired", first["host_token"])
    assert st == 401 and doc["error"]["message"] == "unknown host token"
    assert srv.request("GET", "/api/v1/agent/desired", second["host_token"])[0] == 200
    hosts = srv.ok("GET", "/api/v1/hosts", srv.admin)
    assert {h["name"]: h["ports"] for h in hosts} == {"app-1": [18201, 18202], "app-2": [18301, 18302]}


def test_status_report_and_hosts_view(sw, server):
    srv = server()
    enr = srv.enroll("web-9", labels={"env": "staging"})
    report = {"generation": 0, "disk_free_bytes": 12345,
              "services": [{"service": "hello", "slot": "a", "digest": DIGEST_A, "state": "healthy",
                            "port": 18001, "pid": 42, "active": True, "message": ""}]}
    doc = srv.ok("POST", "/api/v1/agent/status", enr["host_token"], report)
    assert doc["ok"] is True
    hosts = sw.json("hosts", "--server", srv.url, "--token", srv.token("viewer"))
    h = hosts[0]
    assert h["name"] == "web-9" and h["online"] is True and h["labels"] == {"env": "staging"}
    assert h["disk_free_bytes"] == 12345 and h["last_seen"]
    assert h["services"][0]["state"] == "healthy" and h["services"][0]["digest"] == DIGEST_A
    text = cli(sw, srv, "hosts", check=0).stdout
    assert "web-9" in text and "online" in text and "hello/a*=aaaaaaaaaaaa:healthy" in text
    time.sleep(3.3)  # three missed heartbeats
    assert srv.ok("GET", "/api/v1/hosts", srv.admin)[0]["online"] is False


def test_desired_long_poll_times_out(server):
    srv = server()
    host = srv.enroll("lp-1")["host_token"]
    gen = srv.ok("GET", "/api/v1/agent/desired", host)["generation"]
    t0 = time.time()
    doc = srv.ok("GET", f"/api/v1/agent/desired?generation={gen}&wait=1", host)
    took = time.time() - t0
    assert 0.9 <= took < 3, took
    assert doc["generation"] == gen


# ---- events long-poll ----

def test_events_long_poll(server):
    srv = server()
    last = srv.ok("GET", "/api/v1/events?after=0&limit=1000", srv.admin)["last"]
    assert last >= 1
    # Nothing new: answers after `wait`.
    t0 = time.time()
    doc = srv.ok("GET", f"/api/v1/events?after={last}&wait=1", srv.admin)
    took = time.time() - t0
    assert doc["events"] == [] and doc["last"] == last and 0.9 <= took < 3, took
    # Something new: answers as soon as it is there.
    result = {}

    def poll():
        t = time.time()
        result["doc"] = srv.ok("GET", f"/api/v1/events?after={last}&wait=20", srv.admin)
        result["took"] = time.time() - t

    t = threading.Thread(target=poll)
    t.start()
    time.sleep(0.5)
    srv.token("viewer", name="poke")
    t.join(15)
    assert not t.is_alive()
    assert result["took"] < 3, result["took"]
    kinds = [e["kind"] for e in result["doc"]["events"]]
    assert kinds == ["token.created"]
    ev = result["doc"]["events"][0]
    assert ev["payload"]["name"] == "poke" and ev["seq"] == last + 1 and len(ev["hash"]) == 64
    assert ev["actor"] == "admin"  # the first admin token's name


# ---- releases ----

SPEC = """\
service: demo
version: 1.0.0
build:
  jobs:
    build:
      steps:
        - run: mkdir -p dist && printf 'app\\n' > dist/app && chmod 755 dist/app
      outputs: [dist/]
run:
  command: ./dist/app
environments:
  staging:
    hosts: { env: staging }
"""

UPLOAD_NAMES = {".tar.zst": "bundle.tar.zst", ".tar.zst.minisig": "bundle.tar.zst.minisig",
                ".release.json": "release.json", ".release.json.minisig": "release.json.minisig"}


@pytest.fixture
def release(sw):
    """A real release: keygen, run, release. Returns (digest, {upload name: bytes}, public key path)."""
    sw("keygen", check=0)
    (sw.cwd / "slipway.yml").write_text(SPEC)
    p = sw("run", timeout=120)
    assert p.returncode == 0, p.stderr
    rel = sw.json("release")
    digest = rel["digest"].split(":", 1)[1]
    outdir = sw.home / "releases" / "demo"
    files = {name: (outdir / (digest + suffix)).read_bytes() for suffix, name in UPLOAD_NAMES.items()}
    return digest, files, sw.home / "keys" / "slipway.pub"


def upload(srv, token, digest, files):
    for name, data in files.items():
        st, doc = srv.request("PUT", f"/api/v1/releases/{digest}/{name}", token, raw=data)
        assert st == 200 and doc["size"] == len(data), (name, st, doc)


def test_release_upload_commit_download(sw, server, release):
    digest, files, pub = release
    srv = server(trust=[pub])
    deployer, viewer = srv.token("deployer"), srv.token("viewer")
    st, doc = srv.request("GET", f"/api/v1/releases/{digest}", viewer)
    assert st == 404
    upload(srv, deployer, digest, files)
    # Uploaded but not committed: still unknown.
    assert srv.request("GET", f"/api/v1/releases/{digest}", viewer)[0] == 404
    doc = srv.ok("POST", f"/api/v1/releases/{digest}/commit", deployer, status=201)
    assert doc["service"] == "demo" and doc["version"] == "1.0.0" and doc["existed"] is False
    got = srv.ok("GET", f"/api/v1/releases/{digest}", viewer)
    assert got["manifest"]["digest"] == "sha256:" + digest
    assert got["manifest"]["spec"] == SPEC
    assert sorted(got["files"]) == sorted(files)
    st, body = srv.request("GET", f"/api/v1/releases/{digest}/bundle.tar.zst", viewer)
    assert st == 200 and hashlib.sha256(body).hexdigest() == digest
    host = srv.enroll("dl-1")
    st, body = srv.request("GET", f"/api/v1/releases/{digest}/release.json.minisig", host["host_token"])
    assert st == 200 and body == files["release.json.minisig"]
    assert host["trusted_keys"] == [pub.read_text()]
    st, doc = srv.request("GET", f"/api/v1/releases/{digest}/sbom.json", viewer)
    assert st == 404
    # On disk under the data directory, nothing left in incoming/; beside the uploaded files
    # the commit scan's totals (what environments' unpack limits are checked against).
    rdir = srv.data / "releases" / digest
    assert sorted(os.listdir(rdir)) == sorted([*files, "unpacked.json"])
    totals = json.loads((rdir / "unpacked.json").read_text())
    assert totals["packed"] == len(files["bundle.tar.zst"]) and totals["total"] > 0, totals
    # Again: fine, nothing new.
    doc = srv.ok("POST", f"/api/v1/releases/{digest}/commit", deployer, status=200)
    assert doc["existed"] is True
    ev = srv.ok("GET", "/api/v1/events?after=0&limit=1000", viewer)["events"]
    up = [e for e in ev if e["kind"] == "release.uploaded"]
    assert len(up) == 1 and up[0]["payload"]["digest"] == digest and up[0]["subject"] == "release/" + digest
    # A viewer may not upload.
    st, doc = srv.request("PUT", f"/api/v1/releases/{digest}/release.json", viewer, raw=b"{}")
    assert st == 403


def test_tampered_uploads_are_refused(sw, server, release, tmp_path):
    digest, files, pub = release
    srv = server(trust=[pub])
    deployer = srv.token("deployer")

    def commit_fails(changed, needle):
        upload(srv, deployer, digest, dict(files, **changed))
        st, doc = srv.request("POST", f"/api/v1/releases/{digest}/commit", deployer)
        assert st == 422 and doc["error"]["code"] == "integrity", doc
        assert needle in doc["error"]["message"], doc
        assert srv.request("GET", f"/api/v1/releases/{digest}", deployer)[0] == 404

    bundle = bytearray(files["bundle.tar.zst"])
    bundle[len(bundle) // 2] ^= 1
    commit_fails({"bundle.tar.zst": bytes(bundle)}, "digest check failed")
    manifest = json.loads(files["release.json"])
    manifest["version"] = "6.6.6"
    commit_fails({"release.json": json.dumps(manifest).encode()}, "manifest signature check failed")
    commit_fails({"bundle.tar.zst.minisig": files["release.json.minisig"]}, "bundle signature check failed")
    # Signed by a key the server does not trust.
    other = tmp_path / "other"
    other.mkdir()
    (other / "home").mkdir()
    sw2_env = dict(sw.env, SLIPWAY_HOME=str(other / "home"))
    subprocess.run([sw.bin, "keygen"], env=sw2_env, check=True, capture_output=True, timeout=30)
    srv_other = server(trust=[other / "home" / "keys" / "slipway.pub"])
    upload(srv_other, srv_other.admin, digest, files)
    st, doc = srv_other.request("POST", f"/api/v1/releases/{digest}/commit", srv_other.admin)
    assert st == 422 and "not trusted" in doc["error"]["message"], doc
    # No trusted key at all.
    srv_none = server()
    upload(srv_none, srv_none.admin, digest, files)
    st, doc = srv_none.request("POST", f"/api/v1/releases/{digest}/commit", srv_none.admin)
    assert st == 422 and "trusts no keys" in doc["error"]["message"]
    # Missing file: 400 naming it.
    srv3 = server(trust=[pub])
    d3 = srv3.token("deployer")
    upload(srv3, d3, digest, {k: v for k, v in files.items() if k != "release.json.minisig"})
    st, doc = srv3.request("POST", f"/api/v1/releases/{digest}/commit", d3)
    assert st == 400 and doc["error"]["field"] == "release.json.minisig"
    # Bad names and sizes.
    st, doc = srv3.request("PUT", f"/api/v1/releases/{digest}/evil.sh", d3, raw=b"x")
    assert st == 400 and doc["error"]["field"] == "file"
    st, doc = srv3.request("PUT", "/api/v1/releases/XYZ/release.json", d3, raw=b"x")
    assert st == 400 and doc["error"]["field"] == "digest"
    st, doc = srv3.request("PUT", f"/api/v1/releases/{digest}/release.json.minisig", d3, raw=b"x" * 20000)
    assert st == 413
    # Finally the honest files commit.
    upload(srv, deployer, digest, files)
    assert srv.ok("POST", f"/api/v1/releases/{digest}/commit", deployer, status=201)["existed"] is False


def test_trusted_dir_keys(sw, server, release, tmp_path):
    digest, files, pub = release
    data = tmp_path / "trusting"
    (data / "trusted").mkdir(parents=True)
    (data / "trusted" / "ci.pub").write_text(pub.read_text())
    srv = server(data=data)
    upload(srv, srv.admin, digest, files)
    assert srv.ok("POST", f"/api/v1/releases/{digest}/commit", srv.admin, status=201)["service"] == "demo"


# ---- deployments through the API (the controller decides; the server carries) ----

@pytest.mark.skipif(not shutil.which("minisign"), reason="needs the minisign tool to sign a hand-made release.json")
def test_deploy_refuses_approvals_in_the_release_spec(sw, server, release, tmp_path):
    """approvals are not enforced yet: a signed release whose slipway.yml asks for them is not deployed (400)."""
    digest, files, pub = release
    manifest = json.loads(files["release.json"])
    manifest["spec"] = manifest["spec"].replace("    hosts: { env: staging }\n",
                                                "    hosts: { env: staging }\n    approvals: { count: 2 }\n")
    assert "approvals" in manifest["spec"]
    path = tmp_path / "release.json"
    path.write_bytes(json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode() + b"\n")
    # Signed with the same (unencrypted) key by the minisign tool: a release only a key holder can make.
    p = subprocess.run(["minisign", "-S", "-s", str(sw.home / "keys" / "slipway.key"), "-m", str(path)],
                       capture_output=True, text=True, timeout=30, input="")
    assert p.returncode == 0, p.stderr
    files = dict(files, **{"release.json": path.read_bytes(),
                           "release.json.minisig": (tmp_path / "release.json.minisig").read_bytes()})
    srv = server(trust=[pub])
    deployer = srv.token("deployer")
    upload(srv, deployer, digest, files)
    srv.ok("POST", f"/api/v1/releases/{digest}/commit", deployer, status=201)
    srv.enroll("stage-1", labels={"env": "staging"}, ports=(18301, 18302))
    st, doc = srv.request("POST", "/api/v1/deployments", deployer,
                          body={"service": "demo", "env": "staging", "digest": digest})
    assert st == 400, doc
    assert "approvals are not built yet" in doc["error"]["message"]
    assert doc["error"]["field"] == "slipway.yml:14:5"
    assert srv.ok("GET", "/api/v1/deployments", deployer) == []


def test_deployment_reaches_agent_long_poll(sw, server, release):
    digest, files, pub = release
    srv = server(trust=[pub])
    deployer, viewer = srv.token("deployer"), srv.token("viewer")
    upload(srv, deployer, digest, files)
    srv.ok("POST", f"/api/v1/releases/{digest}/commit", deployer, status=201)
    enr = srv.enroll("stage-1", labels={"env": "staging"}, ports=(18301, 18302))
    host = enr["host_token"]
    gen = srv.ok("GET", "/api/v1/agent/desired", host)["generation"]
    result = {}
    beating = threading.Event()

    def heartbeat():  # an online host (the controller refuses offline ones)
        while not beating.is_set():
            srv.request("POST", "/api/v1/agent/status", host, body={"generation": gen, "services": []})
            beating.wait(0.3)

    hb = threading.Thread(target=heartbeat)
    hb.start()
    time.sleep(0.4)

    def poll():
        t = time.time()
        result["doc"] = srv.ok("GET", f"/api/v1/agent/desired?generation={gen}&wait=20", host)
        result["took"] = time.time() - t

    t = threading.Thread(target=poll)
    t.start()
    time.sleep(0.3)
    st, dep = srv.request("POST", "/api/v1/deployments", deployer,
                          body={"service": "demo", "env": "staging", "digest": digest})
    assert st == 201, dep
    assert dep["id"] and dep["service"] == "demo" and dep["env"] == "staging" and dep["digest"] == digest
    t.join(25)
    assert not t.is_alive()
    assert result["took"] < 5, result["took"]
    doc = result["doc"]
    assert doc["generation"] > gen
    svc = doc["services"][0]
    assert svc["service"] == "demo"
    slot = svc["slots"][0]
    assert slot["digest"] == digest and slot["slot"] in ("a", "b") and slot["port"] in (18301, 18302)
    # One active deployment per service and environment.
    st, doc = srv.request("POST", "/api/v1/deployments", deployer,
                          body={"service": "demo", "env": "staging", "digest": digest})
    assert st == 409 and doc["error"]["code"] == "conflict", doc
    # Read back, list, and refusals.
    got = srv.ok("GET", f"/api/v1/deployments/{dep['id']}", viewer)
    assert got["id"] == dep["id"]
    listed = srv.ok("GET", "/api/v1/deployments?service=demo&env=staging", viewer)
    assert [d["id"] for d in listed] == [dep["id"]]
    assert srv.request("GET", "/api/v1/deployments/dep-999", viewer)[0] == 404
    st, doc = srv.request("POST", "/api/v1/deployments", deployer,
                          body={"service": "demo", "env": "staging", "digest": "b" * 64})
    assert st == 404, doc
    st, doc = srv.request("POST", "/api/v1/deployments", viewer,
                          body={"service": "demo", "env": "staging", "digest": digest})
    assert st == 403
    # Abort: ends it (the controller sends the host back).
    doc = srv.ok("POST", f"/api/v1/deployments/{dep['id']}/abort", deployer, {"reason": "test stop"})
    assert doc["id"] == dep["id"]
    beating.set()
    hb.join(5)
    kinds = event_kinds(srv)
    assert any(k.startswith("deployment.") for k in kinds), kinds
