"""Scenario test for `slipway history`: who did what, and why it ended.

A real server, four agents and examples/hello (test_rollback.py's world and
test_deploy.py's Fleet, environment `short`: one batch of 4, health_timeout
5s). A deployer token named `ci` deploys 1.0.0 and 2.0.0, rolls back, then
deploys a release whose /healthz fails, which the controller rolls back on
its own. history shows ACTOR `ci` for what ci started, REASON "rollback to
1.0.0" for the rollback, and "rolled back by slipway (health): ..." for the
automatic rollback, whose event has the controller as its actor. Before,
ACTOR did not exist (every action was `admin (first start)` in the event
log) and REASON was `-` for the rollback.
"""
import json
import os
import subprocess

from e2eutil import slipway_bin
from test_rollback import fleet, world  # noqa: F401 (fixtures)


def cli(fleet, token, *args, timeout=180):
    env = dict(os.environ, SLIPWAY_HOME=str(fleet.tmp / "cli-home"), SLIPWAY_SERVER=fleet.server.url,
               SLIPWAY_TOKEN=token)
    env.pop("SLIPWAY_LOG", None)
    return subprocess.run([slipway_bin(), *map(str, args)], env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_history_shows_actor_rollbacks_and_who_rolled_back(fleet, world):
    rel = world["rel"]
    p = cli(fleet, fleet.server.admin, "token", "create", "--role", "deployer", "--name", "ci")
    assert p.returncode == 0, p.stderr
    ci = p.stdout.strip()
    for name in ("v1", "v2"):
        p = cli(fleet, ci, "deploy", rel[name]["bundle"], "--env", "short", "--wait")
        assert p.returncode == 0, p.stdout + p.stderr
    p = cli(fleet, ci, "rollback", "hello", "--env", "short", "--wait")
    assert p.returncode == 0, p.stdout + p.stderr
    p = cli(fleet, ci, "deploy", rel["bad"]["bundle"], "--env", "short", "--wait")
    assert p.returncode == 1, p.stdout + p.stderr  # rolled back by the controller

    p = cli(fleet, ci, "history", "hello", "--env", "short")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    print("\n" + p.stdout)
    head = lines[0].split()
    assert head == ["ID", "STATE", "VERSION", "RELEASE", "STARTED", "TOOK", "ACTOR", "REASON"], head
    actor_at, reason_at = lines[0].index("ACTOR"), lines[0].index("REASON")
    rows = {ln.split()[0]: ln for ln in lines[1:]}
    deps = json.loads(cli(fleet, ci, "history", "hello", "--env", "short", "--output", "json").stdout)
    by_id = {d["id"]: d for d in deps}
    assert [d["spec"]["kind"] for d in reversed(deps)] == ["deploy", "deploy", "rollback", "deploy"]
    first, second, back, bad = [d["id"] for d in reversed(deps)]
    for dep_id in (first, second, back, bad):
        assert rows[dep_id][actor_at:reason_at].strip() == "ci", rows[dep_id]
    assert rows[first][reason_at:] == "-"
    assert rows[back][reason_at:] == "rollback to 1.0.0", rows[back]
    assert by_id[bad]["state"] == "rolled_back"
    assert rows[bad][reason_at:].startswith("rolled back by slipway (health): "), rows[bad]
    assert by_id[bad]["plan"]["rollback_by"] == "slipway (health)"

    # the event log says the same: ci created them, the controller rolled the bad one back
    st, out = fleet.server.api("GET", "/api/v1/events?after=0&limit=1000")
    assert st == 200, out
    ev = {(e["subject"], e["kind"]): e["actor"] for e in out["events"]}
    assert ev[(f"deployment/{bad}", "deployment.created")] == "ci"
    assert ev[(f"deployment/{bad}", "deployment.rolled_back")] == "slipway (health)"
    assert ev[(f"deployment/{back}", "deployment.created")] == "ci"
