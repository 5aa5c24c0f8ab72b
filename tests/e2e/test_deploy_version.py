"""Scenario tests for releases named by version (issue 9, "Releases a person
can name"), with test_failfast.py's fleet (a real `slipway server`, three
`slipway agent` processes, examples/hello, environment `staging`: rolling,
max_unavailable 1) and releases of hello 0.9.0-bad (/healthz answers 503: rolled back), 1.0.0,
2.0.0 and 3.0.0, made in that order with the real `slipway run / release`:

  - `slipway deploy hello@1.0.0` and `hello@latest` (3.0.0) from the
    releases made here (uploaded first), then, from a home with no releases,
    the server's releases by the same names (nothing uploaded); an unknown
    version is refused with exit 2, naming the versions there are;
  - `slipway rollback hello --env staging --to 1.0.0` two releases back:
    the hosts run 1.0.0 again; the deployment, its events, `status` and
    `history` say it was a rollback to 1.0.0 and why, with the versions
    beside the digests;
  - `--to` a release that never ran there (the bad one, an unknown version)
    is refused with exit 2, listing the releases that ran there.
Every wait is bounded and follows a state.
"""
import json
import os
import subprocess

import pytest

from e2eutil import HELLO_DIR, keygen_env, slipway_bin as _bin, wait_for
from test_failfast import HOSTS, Fleet, make_release


@pytest.fixture(scope="module")
def releases(tmp_path_factory):
    base = tmp_path_factory.mktemp("deployver")
    if not (HELLO_DIR / "build" / "hello").exists():
        subprocess.run(["make", "-s", "-C", str(HELLO_DIR)], check=True, timeout=300, stdout=subprocess.DEVNULL)
    env = keygen_env(base / "home")
    # Made in this order: hello@latest is 3.0.0.
    rel = {"bad": dict(make_release(base, env, "bad", "0.9.0-bad", extra_env=', HELLO_UNHEALTHY: "1"'),
                       version="0.9.0-bad")}
    for name, version in (("v1", "1.0.0"), ("v2", "2.0.0"), ("v3", "3.0.0")):
        rel[name] = dict(make_release(base, env, name, version), version=version)
    return {"home": base / "home", "pub": base / "home" / "keys" / "slipway.pub", **rel}


@pytest.fixture
def fleet(releases, tmp_path):
    f = Fleet(tmp_path, releases["pub"])
    yield f
    f.stop()


def cli_in(fleet, home, *args, timeout=120):
    """The CLI with SLIPWAY_HOME=home (where `slipway release` put the releases), against the fleet's server."""
    env = dict(os.environ, SLIPWAY_HOME=str(home), SLIPWAY_SERVER=fleet.url, SLIPWAY_TOKEN=fleet.admin,
               SLIPWAY_ACTOR="tester@example.com")
    env.pop("SLIPWAY_LOG", None)
    return subprocess.run([_bin(), *map(str, args)], env=env, capture_output=True, text=True, timeout=timeout)


def events_of(fleet, dep_id):
    status, out = fleet.api("GET", "/api/v1/events?after=0&limit=1000")
    assert status == 200, out
    return [e for e in out["events"] if e["subject"] == f"deployment/{dep_id}"]


def test_rollback_to_a_release_two_back(fleet, releases):
    for name in ("v1", "v2", "v3"):
        rc, dep = fleet.deploy(releases[name], "--wait")
        assert rc == 0 and dep["state"] == "succeeded", dep
    assert fleet.running(releases["v3"]["digest"])

    p = fleet.cli("rollback", "hello", "--env", "staging", "--to", "1.0.0", "--reason", "3.0.0 leaks memory",
                  "--wait", "--output", "json")
    assert p.returncode == 0, p.stdout + p.stderr
    back = json.loads(p.stdout)
    assert back["state"] == "succeeded" and back["digest"] == releases["v1"]["digest"], back
    assert back["kind"] == "rollback" and back["version"] == "1.0.0" and back["prev_version"] == "3.0.0", back
    assert back["rollback"] == {"to": "1.0.0", "version": "1.0.0", "digest": releases["v1"]["digest"],
                                "reason": "3.0.0 leaks memory"}, back
    wait_for(lambda: fleet.running(releases["v1"]["digest"]), timeout=30, what="every host on 1.0.0")

    # The event log has the target and the reason, and the versions beside the digests.
    created = [e for e in events_of(fleet, back["id"]) if e["kind"] == "deployment.created"]
    assert created, events_of(fleet, back["id"])
    pl = created[0]["payload"]
    assert pl["rollback"]["version"] == "1.0.0" and pl["rollback"]["reason"] == "3.0.0 leaks memory", pl
    assert pl["version"] == "1.0.0" and pl["prev_version"] == "3.0.0", pl

    # history: a rollback to that version, and why.
    p = fleet.cli("history", "hello", "--env", "staging")
    assert p.returncode == 0, p.stderr
    rows = p.stdout.splitlines()
    assert rows[1].split()[:3] == [back["id"], "succeeded", "1.0.0"], p.stdout
    assert rows[1].endswith("rollback to 1.0.0: 3.0.0 leaks memory"), p.stdout
    assert rows[2].split()[:3] == ["dep-3", "succeeded", "3.0.0"] and rows[2].endswith(" -"), p.stdout
    hist = json.loads(fleet.cli("history", "hello", "--env", "staging", "--output", "json").stdout)
    assert [(d["version"], d["prev_version"]) for d in hist] == \
        [("1.0.0", "3.0.0"), ("3.0.0", "2.0.0"), ("2.0.0", "1.0.0"), ("1.0.0", None)], hist

    # status: the rollback, and each host's release by version beside its digest.
    p = fleet.cli("status", back["id"])
    assert p.returncode == 0, p.stderr
    assert "  rollback to 1.0.0: 3.0.0 leaks memory" in p.stdout.splitlines(), p.stdout
    head = [line for line in p.stdout.splitlines() if "HOST" in line][0].split()
    assert head[:4] == ["HOST", "SLOT", "VERSION", "RELEASE"], p.stdout
    for h in HOSTS:
        row = [line.split() for line in p.stdout.splitlines() if line.split()[:1] == [h]][0]
        assert row[2:4] == ["1.0.0", releases["v1"]["digest"][:12]], p.stdout

    # The follower (not a terminal): one line per host, its release by version beside the digest.
    p = fleet.cli("status", back["id"], "--watch", timeout=60)
    assert p.returncode == 0, p.stderr
    for h in HOSTS:
        assert f"{back['id']} {h}: healthy 1.0.0 ({releases['v1']['digest'][:12]})" in p.stdout, p.stdout

    # By digest prefix too: back to 2.0.0.
    p = fleet.cli("rollback", "hello", "--env", "staging", "--to", releases["v2"]["digest"][:10], "--wait",
                  "--output", "json")
    assert p.returncode == 0, p.stdout + p.stderr
    assert json.loads(p.stdout)["digest"] == releases["v2"]["digest"]


def test_rollback_to_a_release_that_never_ran_there_is_refused(fleet, releases):
    v1, v2 = releases["v1"], releases["v2"]
    for name in ("v1", "v2"):
        rc, dep = fleet.deploy(releases[name], "--wait")
        assert rc == 0, dep
    rc, dep = fleet.deploy(releases["bad"], "--wait")
    assert rc == 1 and dep["state"] == "rolled_back", dep
    ran = f"2.0.0 (sha256:{v2['digest'][:12]}), 1.0.0 (sha256:{v1['digest'][:12]})"
    for to in ("0.9.0-bad", "9.9.9", releases["bad"]["digest"][:12], releases["v3"]["digest"]):
        p = fleet.cli("rollback", "hello", "--env", "staging", "--to", to)
        assert p.returncode == 2, (to, p.stdout, p.stderr)
        assert f"hello '{to}' never ran in staging; releases that ran there, newest first: {ran}" in p.stderr, \
            p.stderr
    # 2.0.0 runs again, but the newest deployment is the rolled back one: --to 2.0.0 deploys it again; once
    # that succeeded, asking for it again is refused (nothing to roll back).
    p = fleet.cli("rollback", "hello", "--env", "staging", "--to", "2.0.0")
    assert p.returncode == 0, p.stderr
    dep_id = json.loads(fleet.cli("history", "hello", "--env", "staging", "--output", "json").stdout)[0]["id"]
    wait_for(lambda: fleet.deployment(dep_id)["state"] == "succeeded", timeout=60, what=f"{dep_id} succeeded")
    p = fleet.cli("rollback", "hello", "--env", "staging", "--to", "2.0.0")
    assert p.returncode == 2, p.stdout + p.stderr
    assert f"hello 2.0.0 (sha256:{v2['digest'][:12]}) is what staging runs now ({dep_id} succeeded)" in p.stderr
    # Nothing was started by the refusals.
    hist = json.loads(fleet.cli("history", "hello", "--env", "staging", "--output", "json").stdout)
    assert len(hist) == 4, hist


def test_deploy_by_version_and_latest(fleet, releases):
    home, v1, v3 = releases["home"], releases["v1"], releases["v3"]

    # A home without releases, a server without any of hello's.
    p = fleet.cli("deploy", "hello@1.0.0", "--env", "staging")
    assert p.returncode == 2, p.stdout + p.stderr
    assert "hello@1.0.0: no such release; hello has none" in p.stderr, p.stderr

    # A release made here: uploaded, then deployed.
    p = cli_in(fleet, home, "deploy", "hello@1.0.0", "--env", "staging", "--wait")
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"hello@1.0.0 is release 1.0.0 (sha256:{v1['digest'][:12]}, made here)" in p.stdout, p.stdout
    assert "uploading release" in p.stdout and "succeeded in" in p.stdout, p.stdout
    assert fleet.running(v1["digest"])

    # @latest: the newest made (3.0.0, made after 0.9.0-bad, 1.0.0 and 2.0.0).
    p = cli_in(fleet, home, "deploy", "hello@latest", "--env", "staging", "--wait", "--output", "json")
    assert p.returncode == 0, p.stdout + p.stderr
    dep = json.loads(p.stdout)
    assert dep["digest"] == v3["digest"] and dep["version"] == "3.0.0" and dep["uploaded"] is True, dep
    assert fleet.running(v3["digest"])

    # An unknown version: refused, naming every version made here (oldest first); nothing started.
    p = cli_in(fleet, home, "deploy", "hello@1.0.9", "--env", "staging")
    assert p.returncode == 2, p.stdout + p.stderr
    assert "hello@1.0.9: no such release; hello has 0.9.0-bad, 1.0.0, 2.0.0, 3.0.0" in p.stderr, p.stderr


def test_deploy_by_version_from_the_server(fleet, releases):
    v1, v3 = releases["v1"], releases["v3"]
    empty = fleet.tmp / "cli-home"  # fleet.cli's home: no releases made there
    for rel in (v1, v3):  # the server gets 1.0.0 and 3.0.0, in that order
        rc, dep = fleet.deploy(rel, "--wait")
        assert rc == 0, dep

    # From a home without releases: the server's release of that version, nothing uploaded.
    assert not (empty / "releases").exists()
    p = fleet.cli("deploy", "hello@1.0.0", "--env", "staging", "--wait", "--output", "json")
    assert p.returncode == 0, p.stdout + p.stderr
    dep = json.loads(p.stdout)
    assert dep["digest"] == v1["digest"] and dep["uploaded"] is False and dep["state"] == "succeeded", dep
    p = fleet.cli("deploy", "hello@latest", "--env", "staging", "--wait")
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"hello@latest is release 3.0.0 (sha256:{v3['digest'][:12]}, on the server)" in p.stdout, p.stdout
    assert "uploading" not in p.stdout, p.stdout
    assert fleet.running(v3["digest"])
    # The server has 1.0.0 and 3.0.0 only.
    p = fleet.cli("deploy", "hello@2.0.0", "--env", "staging")
    assert p.returncode == 2, p.stdout + p.stderr
    assert "hello@2.0.0: no such release; hello has 1.0.0, 3.0.0" in p.stderr, p.stderr
    hist = json.loads(fleet.cli("history", "hello", "--env", "staging", "--output", "json").stdout)
    assert [d["version"] for d in hist] == ["3.0.0", "1.0.0", "3.0.0", "1.0.0"], hist
