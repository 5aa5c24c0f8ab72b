"""Scenario tests for `slipway audit log`: newest events first, `--limit N`
the newest N (before: the oldest N, oldest first), and `--server` reading
the server's event log through GET /api/v1/events?order=newest in pages of
1000, printed exactly as the same log read from its database file.
"""
import http.client
import json
import os
import urllib.parse

from e2eutil import Procs, Server


def seqs(text):
    return [int(ln.split()[0]) for ln in text.splitlines()]


def test_local_log_newest_first(sw):
    (sw.cwd / "slipway.yml").write_text("service: web\nbuild:\n  jobs:\n    build: {steps: ['true']}\n")
    for _ in range(2):
        sw("run", "--no-cache", check=0)  # each run records its events in the local log
    every = sw("audit", "log", check=0).stdout
    n = len(every.splitlines())
    assert n >= 3
    assert seqs(every) == list(range(n, 0, -1)), every
    p = sw("audit", "log", "--limit", "2", check=0)
    assert seqs(p.stdout) == [n, n - 1], p.stdout
    doc = json.loads(sw("audit", "log", "--limit", "2", "--output", "json", check=0).stdout)
    assert [e["seq"] for e in doc["events"]] == [n, n - 1] and doc["count"] == 2
    p = sw("audit", "log", "--after", str(n - 2), check=0)
    assert seqs(p.stdout) == [n, n - 1], p.stdout
    kind = every.splitlines()[0].split()[3]
    p = sw("audit", "log", "--kind", kind, "--limit", "1", check=0)
    assert seqs(p.stdout) == [n], p.stdout


def test_server_log_through_the_api_in_pages(sw, tmp_path):
    procs = Procs()
    try:
        srv = Server(procs, tmp_path)
        # 1100 events: more than one page of 1000
        u = urllib.parse.urlparse(srv.url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        for i in range(1100):
            conn.request("POST", "/api/v1/join-tokens", body=json.dumps({"labels": {"n": str(i)}}),
                         headers={"Authorization": "Bearer " + srv.admin, "Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            assert r.status == 201, r.status
        conn.close()
        env = {"SLIPWAY_SERVER": srv.url, "SLIPWAY_TOKEN": srv.admin}
        db = srv.data / "slipway.db"

        remote = sw("audit", "log", "--server", env=env, check=0).stdout
        local = sw("audit", "log", "--db", db, check=0).stdout
        assert remote == local  # the same lines, byte for byte
        s = seqs(remote)
        assert s == sorted(s, reverse=True) and len(s) >= 1101 and s[0] == max(s)

        for args in (["--limit", "1005"], ["--limit", "3", "--kind", "join_token.created"],
                     ["--after", "50", "--limit", "1200"], ["--limit", "2", "--output", "json"]):
            r = sw("audit", "log", "--server", srv.url, "--token", srv.admin, *args, check=0).stdout
            assert r == sw("audit", "log", "--db", db, *args, check=0).stdout, args
        assert len(sw("audit", "log", "--server", "--limit", "1005", env=env, check=0).stdout.splitlines()) == 1005

        # refused: both sources, a token without --server, no server at all
        assert sw("audit", "log", "--server", "--db", db, env=env).returncode == 2
        assert sw("audit", "log", "--token", "x").returncode == 2
        p = sw("audit", "log", "--server", env={"SLIPWAY_SERVER": "", "SLIPWAY_TOKEN": ""})
        assert p.returncode == 2, p.stderr
        # the API: wait does not go with order=newest
        st, out = srv.api("GET", "/api/v1/events?order=newest&wait=1")
        assert st == 400 and out["error"]["field"] == "wait", out
        st, out = srv.api("GET", "/api/v1/events?order=newest&limit=2")
        assert st == 200 and [e["seq"] for e in out["events"]] == [s[0], s[1]] and out["next"] == s[1]
    finally:
        procs.stop_all()
