"""Scenario tests for releases a person can name: `version:` in slipway.yml (a literal, {file: VERSION},
{git: describe}), `slipway releases` (the local catalog, and --remote / --server: the server's list and
where each release runs), and one version naming exactly one release (locally and on the server).

Each test writes its own small service in the `sw` fixture's directory and runs the real binary.
"""
import json
import os
import shutil
import subprocess

import pytest

from e2eutil import HELLO_BUILD, HELLO_DIR, api_call, free_port, keygen_env, release_from_spec, slipway_bin, wait_for

SPEC = """\
service: app
{version}build:
  jobs:
    build:
      steps:
        - run: mkdir -p dist && cp payload dist/payload
      outputs: [dist/]
"""


def service(sw, version_line="", payload="one\n"):
    (sw.cwd / "slipway.yml").write_text(SPEC.format(version=version_line))
    (sw.cwd / "payload").write_text(payload)


def run_and_release(sw, *args, check=0):
    sw("run", check=0, timeout=120)
    return sw("release", "--output", "json", *args, check=check)


def git(cwd, *args):
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@example.com")
    return subprocess.run(["git", *args], cwd=str(cwd), env=env, capture_output=True, text=True, check=True,
                          timeout=60).stdout.strip()


@pytest.fixture
def keyed(sw):
    sw("keygen", check=0)
    return sw


# ---- version: in slipway.yml ----

def test_version_from_file_and_flag_wins(keyed):
    sw = keyed
    service(sw, "version: {file: VERSION}\n")
    (sw.cwd / "VERSION").write_text("  2.4.0\n")
    assert sw.json("check")["version"] == "2.4.0"
    rel = json.loads(run_and_release(sw).stdout)
    assert rel["version"] == "2.4.0"
    assert rel["manifest"]["version"] == "2.4.0"
    # --version still wins (new outputs: a new release)
    (sw.cwd / "payload").write_text("two\n")
    rel = json.loads(run_and_release(sw, "--version", "2.5.0-rc1").stdout)
    assert rel["version"] == "2.5.0-rc1"


def test_version_file_errors(keyed):
    sw = keyed
    service(sw, "version: {file: VERSION}\n")
    p = sw("check", check=2)
    assert p.stderr.startswith("slipway.yml:2:17: version file 'VERSION': ")
    assert "No such file or directory" in p.stderr
    sw("run", check=0, timeout=120)
    p = sw("release", check=2)
    assert "slipway.yml:2:17: version file 'VERSION'" in p.stderr
    assert not (sw.home / "releases" / "app").exists() or not os.listdir(sw.home / "releases" / "app")
    (sw.cwd / "VERSION").write_text("\n")
    assert "version file 'VERSION' is empty" in sw("check", check=2).stderr
    (sw.cwd / "VERSION").write_text("1.0 final\n")
    assert "holds '1.0 final', not a usable version" in sw("check", check=2).stderr
    # unknown sub-key: did you mean
    service(sw, "version: {flie: VERSION}\n")
    assert sw("check", check=2).stderr == "slipway.yml:2:11: unknown key 'flie' (did you mean 'file'?)\n"
    service(sw, "version: {git: tag}\n")
    assert "unknown git version source 'tag' (expected 'describe')" in sw("check", check=2).stderr


def test_version_from_git_describe(keyed):
    sw = keyed
    service(sw, "version: {git: describe}\n")
    assert "needs a git repository" in sw("check", check=2).stderr
    (sw.cwd / ".gitignore").write_text("dist/\n")
    git(sw.cwd, "init", "-q")
    git(sw.cwd, "add", ".")
    git(sw.cwd, "commit", "-q", "-m", "one")
    head = git(sw.cwd, "rev-parse", "--short=7", "HEAD")
    assert sw.json("check")["version"] == head  # --always: the short commit without a tag
    git(sw.cwd, "tag", "v3.1.0")
    assert json.loads(run_and_release(sw).stdout)["version"] == "v3.1.0"
    (sw.cwd / "payload").write_text("two\n")
    git(sw.cwd, "commit", "-qam", "two")
    want = git(sw.cwd, "describe", "--tags", "--always")
    assert want.startswith("v3.1.0-1-g")
    assert json.loads(run_and_release(sw).stdout)["version"] == want


def test_hello_example_releases_its_VERSION(keyed, tmp_path):
    """The tour's service: `slipway release` without --version names the release after examples/hello/VERSION."""
    sw = keyed
    src = tmp_path / "hello"
    shutil.copytree(HELLO_DIR, src, ignore=shutil.ignore_patterns("build", "dist"))
    want = (HELLO_DIR / "VERSION").read_text().strip()
    sw("run", cwd=src, check=0, timeout=300)
    rel = json.loads(sw("release", "--output", "json", cwd=src, check=0).stdout)
    assert rel["version"] == want
    assert not rel["version"].startswith("0.0.0")


# ---- one version, one release ----

def test_a_version_names_one_release(keyed):
    sw = keyed
    service(sw, "version: 1.0.0\n")
    first = json.loads(run_and_release(sw).stdout)
    rdir = sw.home / "releases" / "app"
    before = sorted(os.listdir(rdir))
    # the same outputs and version again: the existing release, nothing written
    again = json.loads(run_and_release(sw).stdout)
    assert again["existing"] is True and again["digest"] == first["digest"]
    assert "differs from the slipway.yml" not in sw("release", check=0).stderr
    # ... with another slipway.yml: still the existing release, and a warning that it keeps the one it was signed with
    (sw.cwd / "slipway.yml").write_text(SPEC.format(version="version: 1.0.0\n") + "# edited\n")
    sw("run", check=0, timeout=120)
    p = sw("release", "--output", "json", check=0)
    assert json.loads(p.stdout)["existing"] is True
    assert "differs from the slipway.yml release app 1.0.0 was signed with" in p.stderr, p.stderr
    # other outputs under the same version: refused (bad input), naming the version and both digests
    (sw.cwd / "payload").write_text("changed\n")
    sw("run", check=0, timeout=120)
    p = sw("release", check=2)
    new_digest = [ln for ln in p.stderr.split() if ln.startswith("sha256:") and ln != first["digest"]]
    assert "version '1.0.0' of 'app' is already release " + first["digest"] in p.stderr, p.stderr
    assert new_digest, p.stderr
    assert sorted(os.listdir(rdir)) == before  # nothing half-written
    # the same outputs under a new version: refused too, naming the version that digest already has
    (sw.cwd / "payload").write_text("one\n")
    sw("run", check=0, timeout=120)
    p = sw("release", "--version", "1.0.1", check=2)
    assert "was already released as version '1.0.0'" in p.stderr
    assert first["digest"].split(":")[1] in p.stderr
    assert sorted(os.listdir(rdir)) == before
    # a new version of new outputs is fine
    (sw.cwd / "payload").write_text("changed\n")
    sw("run", check=0, timeout=120)
    assert json.loads(sw("release", "--version", "1.0.1", "--output", "json", check=0).stdout)["version"] == "1.0.1"


# ---- slipway releases (local) ----

def test_releases_local_list(keyed):
    sw = keyed
    p = sw("releases", check=0)
    assert p.stdout.startswith("no releases in ")
    assert sw.json("releases") == []
    service(sw, "version: {file: VERSION}\n")
    made = []
    for v, payload in (("1.0.0", "a\n"), ("1.0.1", "b\n"), ("1.1.0", "c\n")):
        (sw.cwd / "VERSION").write_text(v + "\n")
        (sw.cwd / "payload").write_text(payload)
        made.append(json.loads(run_and_release(sw).stdout))
    key_id = made[0]["key_id"]
    doc = sw.json("releases")
    assert [r["version"] for r in doc] == ["1.1.0", "1.0.1", "1.0.0"]  # newest first
    for r, m in zip(doc, reversed(made)):
        assert r["service"] == "app"
        assert r["digest"] == m["digest"]
        assert r["bundle"] == m["paths"]["bundle"]
        assert r["key_id"] == key_id
        assert r["created"] == m["manifest"]["created"]
    assert sw.json("releases", "app") == doc
    assert sw.json("releases", "other") == []
    text = sw("releases", "app", check=0).stdout.splitlines()
    assert text[0].split() == ["SERVICE", "VERSION", "DIGEST", "CREATED", "SIGNER"]
    assert text[1].split() == ["app", "1.1.0", made[2]["digest"][7:19], made[2]["manifest"]["created"], key_id]
    assert len(text) == 4
    # a damaged release.json is left out with a warning, the others still listed
    bad = sw.home / "releases" / "app" / (made[1]["digest"][7:] + ".release.json")
    bad.write_text("{broken")
    p = sw("releases", "--output", "json", check=0)
    assert [r["version"] for r in json.loads(p.stdout)] == ["1.1.0", "1.0.0"]
    assert "1 release.json file left out" in p.stderr
    # usage
    assert sw("releases", "a", "b", check=2).stderr.startswith("slipway releases: unexpected argument 'b'")
    assert sw("releases", "--token", "x", check=2).returncode == 2
    assert "--remote" in sw("releases", "--help", check=0).stdout


# ---- the server: its list, where releases run, and version conflicts ----

FLEET_SPEC = """\
service: hello
version: {version}
""" + HELLO_BUILD + """\
run:
  command: ./dist/hello --port ${{PORT}}
  env: {{ HELLO_VERSION: "{version}" }}
  health: {{ http: /healthz, interval: 200ms, timeout: 1s, retries: 2 }}
  stop: {{ signal: TERM, grace: 5s }}
environments:
  staging:
    hosts: {{ env: web }}
    strategy:
      rolling: {{ batch: 2, max_unavailable: 2, health_timeout: 10s }}
"""

HOSTS = ["web-1", "web-2"]


@pytest.fixture
def fleet(tmp_path):
    """Releases 1.0.0 and 1.0.1 of hello, and a second "1.0.0" with other outputs made elsewhere (another
    SLIPWAY_HOME, the same key); a server trusting the key and two agents labelled env=web."""
    from test_deploy import Agent, Server, kill_services
    if not (HELLO_DIR / "build" / "hello").exists():
        subprocess.run(["make", "-s", "-C", str(HELLO_DIR)], check=True, timeout=300, stdout=subprocess.DEVNULL)
    env = keygen_env(tmp_path / "home")
    hello = HELLO_DIR / "build" / "hello"
    rel = {v: release_from_spec(tmp_path / f"src-{v}", env, FLEET_SPEC.format(version=v, hello=hello))
           for v in ("1.0.0", "1.0.1")}
    other = dict(env, SLIPWAY_HOME=str(tmp_path / "home2"))
    shutil.copytree(tmp_path / "home" / "keys", tmp_path / "home2" / "keys")
    rel["dup"] = release_from_spec(tmp_path / "src-dup", other,
                                   FLEET_SPEC.format(version="1.0.0", hello=hello).replace("echo 1.0.0", "echo 1.0.0-other"))
    assert rel["dup"]["digest"] != rel["1.0.0"]["digest"]
    server = Server(tmp_path, tmp_path / "home" / "keys" / "slipway.pub", free_port())
    agents = []
    try:
        for h in HOSTS:
            agents.append(Agent(tmp_path, h, server.url, server.join_token({}), "env=web", (free_port(), free_port())))
        wait_for(lambda: all(server.hosts().get(h, {}).get("online") for h in HOSTS), what="hosts online")

        def cli(*args, server_env=True, check=None):
            e = dict(os.environ, SLIPWAY_HOME=str(tmp_path / "cli-home"), SLIPWAY_ACTOR="tester@example.com")
            for k in ("SLIPWAY_LOG", "SLIPWAY_SERVER", "SLIPWAY_TOKEN"):
                e.pop(k, None)
            if server_env:
                e.update(SLIPWAY_SERVER=server.url, SLIPWAY_TOKEN=server.admin)
            p = subprocess.run([slipway_bin(), *map(str, args)], env=e, capture_output=True, text=True, timeout=120)
            if check is not None:
                assert p.returncode == check, f"slipway {args}: exit {p.returncode}\n{p.stdout}\n{p.stderr}"
            return p

        yield {"server": server, "rel": rel, "cli": cli}
    finally:
        for a in agents:
            a.stop()
        for a in agents:
            kill_services(a.root)
        server.stop()


def remote(f, *args):
    return json.loads(f["cli"]("releases", "--remote", "--output", "json", *args, check=0).stdout)


def test_releases_remote_and_where_they_run(fleet):
    f, rel = fleet, fleet["rel"]
    assert remote(f) == []
    f["cli"]("deploy", rel["1.0.0"]["bundle"], "--env", "staging", "--wait", check=0)

    def v1_placed():
        doc = remote(f, "hello")
        return doc if len(doc[0]["hosts"]) == 2 else None
    doc = wait_for(v1_placed, what="both hosts report 1.0.0", timeout=30)
    assert len(doc) == 1
    r = doc[0]
    assert r["service"] == "hello" and r["version"] == "1.0.0" and r["digest"] == "sha256:" + rel["1.0.0"]["digest"]
    assert len(r["key_id"]) == 16 and r["created"].endswith("Z") and r["uploaded"]
    assert [(e["env"], e["state"]) for e in r["environments"]] == [("staging", "succeeded")]
    assert sorted(h["host"] for h in r["hosts"]) == HOSTS
    assert all(h["slot"] == "a" for h in r["hosts"])

    f["cli"]("deploy", rel["1.0.1"]["bundle"], "--env", "staging", "--wait", check=0)

    def v2_everywhere():
        doc = remote(f, "hello")
        return doc if len(doc[0]["hosts"]) == 2 and not doc[1]["hosts"] else None
    doc = wait_for(v2_everywhere, what="1.0.1 on both hosts, 1.0.0 on none", timeout=30)
    assert [r["version"] for r in doc] == ["1.0.1", "1.0.0"]  # newest first
    assert [e["env"] for e in doc[0]["environments"]] == ["staging"]
    assert doc[1]["environments"] == []
    # text: the short digest and where it runs
    lines = f["cli"]("releases", "hello", "--remote", check=0).stdout.splitlines()
    assert lines[0].split()[:6] == ["SERVICE", "VERSION", "DIGEST", "CREATED", "SIGNER", "RUNS"]
    assert lines[1].startswith("hello") and rel["1.0.1"]["digest"][:12] in lines[1]
    assert "staging; web-1/a" in lines[1] and lines[2].rstrip().endswith("-")
    # --server URL needs no SLIPWAY_SERVER; SLIPWAY_SERVER alone keeps the local list
    p = f["cli"]("releases", "--server", f["server"].url, "--token", f["server"].admin, "--output", "json",
                 server_env=False, check=0)
    assert [r["version"] for r in json.loads(p.stdout)] == ["1.0.1", "1.0.0"]
    assert f["cli"]("releases", check=0).stdout.startswith("no releases in ")
    assert api_call(f["server"].url, f["server"].admin, "GET", "/api/v1/releases?service=Bad/Name")[0] == 400


def test_server_refuses_a_second_digest_under_a_version(fleet):
    f, rel = fleet, fleet["rel"]
    f["cli"]("deploy", rel["1.0.0"]["bundle"], "--env", "staging", "--wait", check=0)
    dup = rel["dup"]["digest"]
    p = f["cli"]("deploy", rel["dup"]["bundle"], "--env", "staging", check=1)
    assert ("version '1.0.0' of 'hello' is already release sha256:" + rel["1.0.0"]["digest"]) in p.stderr, p.stderr
    assert dup in p.stderr
    srv = f["server"]
    assert api_call(srv.url, srv.admin, "GET", f"/api/v1/releases/{dup}")[0] == 404
    assert not (srv.data / "releases" / dup).exists()
    assert [r["version"] for r in remote(f)] == ["1.0.0"]
