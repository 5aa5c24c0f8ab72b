"""Scenario tests for the release `status` and `deploy --wait` show for each
host: a host a rollback gave its release back shows that release, not the
one rolled back (before: `web-1: restored <bad digest>`), and a host that
never ran the service shows `-` (before: the bad release's digest). A real
server, four agents and examples/hello (test_rollback.py's world and
test_deploy.py's Fleet, environment `short`: one batch of 4).
"""
import json
import os
import re
import subprocess

from e2eutil import slipway_bin
from test_rollback import fleet, world  # noqa: F401 (fixtures)

HOSTS = ["web-1", "web-2", "web-3", "web-4"]


def cli(fleet, *args, timeout=180):
    env = dict(os.environ, SLIPWAY_HOME=str(fleet.tmp / "cli-home"), SLIPWAY_SERVER=fleet.server.url,
               SLIPWAY_TOKEN=fleet.server.admin)
    env.pop("SLIPWAY_LOG", None)
    return subprocess.run([slipway_bin(), *map(str, args)], env=env, capture_output=True, text=True,
                          timeout=timeout)


def host_rows(status_text):
    """{host: (version, release, state)} from `slipway status DEPLOYMENT`."""
    rows = {}
    for ln in status_text.splitlines():
        m = re.match(r"^\s+(web-\d)\s+\S+\s+(\S+)\s+(\S+)\s+(\S+)", ln)
        if m:
            rows[m.group(1)] = m.group(2, 3, 4)
    return rows


def test_restored_hosts_show_what_they_got_back(fleet, world):
    rel = world["rel"]
    bad = rel["bad"]["digest"][:12]
    v1 = rel["v1"]["digest"][:12]

    # The first release fails: the hosts ran nothing before and get nothing back.
    p = cli(fleet, "deploy", rel["bad"]["bundle"], "--env", "short", "--wait")
    assert p.returncode == 1, p.stdout + p.stderr
    restored = [ln for ln in p.stdout.splitlines() if ": restored" in ln]
    assert len(restored) == 4, p.stdout
    for ln in restored:
        assert ln.endswith(": restored -"), ln
    first = json.loads(cli(fleet, "history", "hello", "--env", "short", "--output", "json").stdout)[0]["id"]
    rows = host_rows(cli(fleet, "status", first).stdout)
    assert rows == {h: ("-", "-", "restored") for h in HOSTS}, rows
    view = fleet.server.api("GET", f"/api/v1/deployments/{first}")[1]
    assert all(h["restores"] is None for h in view["hosts"]), view["hosts"]

    # 1.0.0 everywhere, then the bad release again: rolled back to 1.0.0, and it says so.
    p = cli(fleet, "deploy", rel["v1"]["bundle"], "--env", "short", "--wait")
    assert p.returncode == 0, p.stdout + p.stderr
    p = cli(fleet, "deploy", rel["bad"]["bundle"], "--env", "short", "--wait")
    assert p.returncode == 1, p.stdout + p.stderr
    restored = [ln for ln in p.stdout.splitlines() if ": restored" in ln]
    assert len(restored) == 4, p.stdout
    for ln in restored:
        assert ln.endswith(f": restored 1.0.0 ({v1})"), ln
        assert bad not in ln
    last = json.loads(cli(fleet, "history", "hello", "--env", "short", "--output", "json").stdout)[0]
    assert last["state"] == "rolled_back"
    rows = host_rows(cli(fleet, "status", last["id"]).stdout)
    assert rows == {h: ("1.0.0", v1, "restored") for h in HOSTS}, rows
