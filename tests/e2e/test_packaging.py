"""Scenario tests for installing Slipway on real machines (docs/deploying.md).

- `make install DESTDIR=...` (and PREFIX=...): the binary runs, a manual page
  per command of `slipway help` plus slipway(1), each valid groff that
  `man -l` renders; the systemd units name the installed binary, pass
  `systemd-analyze verify` (their man: links resolved against the installed
  pages) and keep their sandbox (`systemd-analyze security --offline`
  exposure), the agent's KillMode=process, join file and environment file;
  `make uninstall` removes every file again.
- The Debian package, built with `dpkg-buildpackage -us -uc -b` in a copy of
  the tree: its contents and control data (`dpkg-deb -c/-I`). As root with
  CI=true (CI runs ./test.sh in a disposable fresh Debian 12 root: .ci/run)
  it is also installed with `apt-get install ./slipway_*.deb`: /usr/bin/slipway
  runs and reports the package's version, `dpkg -L` lists the units and
  pages, the users exist, the installed units verify; then it is purged.
  Elsewhere the system is left alone, and the test output says so.
- The backup of docs/deploying.md: `sqlite3 .backup` of the store, then the
  release files, taken while the server answers writes; the copy's event
  log verifies and a server started on it serves the release and events.
"""
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import threading
import urllib.request

from e2eutil import ROOT, Procs, Server, api_call, keygen_env, release_from_spec, slipway_bin, wait_for


def run(args, cwd=None, env=None, timeout=120):
    p = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, f"{' '.join(map(str, args))}: exit {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p


def commands():
    """The commands `slipway help` lists that get a page (all but help and version)."""
    out = run([slipway_bin(), "help"]).stdout
    names = re.findall(r"^  ([a-z][a-z-]*) ", out.split("commands:\n", 1)[1], re.M)
    assert "deploy" in names and "agent" in names, out
    return [n for n in names if n not in ("help", "version")]


def unit_settings(text):
    """key -> [values] of a unit file (comments skipped)."""
    out = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            k, v = line.split("=", 1)
            out.setdefault(k.strip(), []).append(v.strip())
    return out


def check_units(unitdir, bindir, real_bin, manpath, tmp):
    """The units in unitdir name bindir/slipway; they verify and keep their sandbox."""
    agent = unit_settings((unitdir / "slipway-agent.service").read_text())
    server = unit_settings((unitdir / "slipway-server.service").read_text())
    assert agent["ExecStart"] == [f"{bindir}/slipway agent --root /var/lib/slipway-agent "
                                  "--join-file /etc/slipway/join.token $SLIPWAY_AGENT_OPTS"], agent
    assert server["ExecStart"] == [f"{bindir}/slipway server --data /var/lib/slipway-server $SLIPWAY_SERVER_OPTS"]
    assert agent["EnvironmentFile"] == ["-/etc/slipway/agent.env"]
    assert server["EnvironmentFile"] == ["-/etc/slipway/server.env"]
    # An agent restart (an upgrade) must not take its services down, nor their /tmp.
    assert agent["KillMode"] == ["process"]
    assert "PrivateTmp" not in agent and "RemoveIPC" not in agent
    for u in (agent, server):
        for k in ("NoNewPrivileges", "ProtectHome"):
            assert u[k] == ["yes"], (k, u)
        assert u["ProtectSystem"] == ["strict"] and u["CapabilityBoundingSet"] == [""]
        assert u["User"] != ["root"]
    # systemd-analyze verify checks the executable: a copy whose ExecStart names the binary as it is here.
    vdir = tmp / "verify"
    vdir.mkdir()
    for name in ("slipway-server.service", "slipway-agent.service"):
        text = (unitdir / name).read_text()
        assert f"ExecStart={bindir}/slipway " in text
        (vdir / name).write_text(text.replace(f"ExecStart={bindir}/slipway ", f"ExecStart={real_bin} "))
    env = dict(os.environ, MANPATH=str(manpath), SYSTEMD_PAGER="", SYSTEMD_LOG_COLOR="0")
    p = subprocess.run(["systemd-analyze", "verify", *sorted(vdir.iterdir())], env=env, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0 and not p.stderr.strip() and not p.stdout.strip(), (p.returncode, p.stdout, p.stderr)
    # The sandbox's exposure as systemd scores it (0 best .. 10 worst); the agent's is higher because
    # its services run in it (no syscall filter, W+X memory allowed).
    limits = {"slipway-server.service": 2.0, "slipway-agent.service": 4.0}
    for name, limit in limits.items():
        p = run(["systemd-analyze", "security", "--offline=true", vdir / name], env=env, timeout=60)
        score = float(re.search(r"Overall exposure level for \S+: ([0-9.]+)", p.stdout).group(1))
        print(f"\n{name}: systemd-analyze security exposure {score} (limit {limit})")
        assert score <= limit, p.stdout


def check_man_pages(mandir, suffix=""):
    """One page per command plus slipway(1); each valid groff that names its command, rendered by man -l."""
    want = {"slipway"} | {f"slipway-{c}" for c in commands()}
    have = {p.name[:-len(".1" + suffix)] for p in mandir.glob("*.1" + suffix)}
    assert have == want, (sorted(have ^ want))

    def source(name):
        data = (mandir / f"{name}.1{suffix}").read_bytes()
        return gzip.decompress(data) if suffix == ".gz" else data

    for name in sorted(want):
        page = mandir / f"{name}.1{suffix}"
        p = subprocess.run(["man", "-l", "-Tutf8", str(page)], capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, MAN_KEEP_FORMATTING="0"))
        assert p.returncode == 0 and not p.stderr.strip(), (name, p.stderr)
        text = re.sub(r".\x08", "", p.stdout)
        assert re.search(r"^NAME\n +" + re.escape(name) + r" +- +\S", text, re.M), text[:400]
        assert "SYNOPSIS" in text and "SEE ALSO" in text, (name, text[:400])
        # groff's own warnings (-ww): none.
        p = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z"], input=source(name), capture_output=True,
                           timeout=30)
        assert p.returncode == 0 and not p.stderr.strip(), (name, p.stderr)
    # slipway(1) leads to every command's page; each command's page has its options.
    index = source("slipway").decode()
    for c in commands():
        assert f".BR slipway-{c} (1)" in index, c
    assert "\\fB\\-\\-ports\\fR" in source("slipway-agent").decode()


def test_make_install_destdir_prefix_and_uninstall(tmp_path):
    dest = tmp_path / "dest"
    run(["make", "-s", "-C", ROOT, "install", f"DESTDIR={dest}"], timeout=600)
    bin_ = dest / "usr/local/bin/slipway"
    assert os.access(bin_, os.X_OK)
    assert run([bin_, "--version"]).stdout == run([slipway_bin(), "--version"]).stdout
    assert run([bin_, "--version"]).stdout.startswith("slipway ")
    mandir = dest / "usr/local/share/man/man1"
    check_man_pages(mandir)
    unitdir = dest / "usr/local/lib/systemd/system"
    check_units(unitdir, "/usr/local/bin", bin_, dest / "usr/local/share/man", tmp_path)
    assert (dest / "usr/local/share/doc/slipway/deploying.md").exists()
    assert (dest / "usr/local/share/doc/slipway/examples/agent.env").exists()

    # PREFIX moves everything, and the units follow it.
    opt = tmp_path / "opt"
    run(["make", "-s", "-C", ROOT, "install", f"DESTDIR={opt}", "PREFIX=/opt/sw"], timeout=600)
    assert os.access(opt / "opt/sw/bin/slipway", os.X_OK)
    assert (opt / "opt/sw/share/man/man1/slipway-agent.1").exists()
    assert "ExecStart=/opt/sw/bin/slipway agent " in (opt / "opt/sw/lib/systemd/system/slipway-agent.service").read_text()

    # uninstall removes every file install put there.
    run(["make", "-s", "-C", ROOT, "uninstall", f"DESTDIR={dest}"])
    left = [p for p in dest.rglob("*") if not p.is_dir()]
    assert not left, left


def copy_tree(dst):
    """The source tree without build products and version control: what a source package holds."""
    skip = {"build", ".git", "__pycache__", ".pytest_cache", "dist"}
    shutil.copytree(ROOT, dst, symlinks=True, ignore=lambda d, names: [n for n in names if n in skip])


def test_debian_package(tmp_path):
    src = tmp_path / "slipway"
    copy_tree(src)
    env = dict(os.environ, DEB_BUILD_OPTIONS="parallel=2 noautodbgsym")
    for k in ("SLIPWAY_BIN", "MAKEFLAGS", "MFLAGS"):
        env.pop(k, None)
    run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=src, env=env, timeout=900)
    version = run(["dpkg-parsechangelog", "-S", "Version"], cwd=src).stdout.strip()
    debs = sorted(tmp_path.glob("slipway_*.deb"))
    assert [d.name for d in debs] == [f"slipway_{version}_{run(['dpkg', '--print-architecture']).stdout.strip()}.deb"]
    deb = debs[0]

    info = run(["dpkg-deb", "-I", deb]).stdout
    assert re.search(r"^ Package: slipway$", info, re.M) and f" Version: {version}\n" in info
    depends = re.search(r"^ Depends: (.*)$", info, re.M).group(1)
    for lib in ("adduser", "libsodium", "libsqlite3", "libmicrohttpd", "libcurl"):
        assert lib in depends, depends
    files = set(re.findall(r" \./(\S+)$", run(["dpkg-deb", "-c", deb]).stdout, re.M))
    for f in ("usr/bin/slipway", "lib/systemd/system/slipway-server.service",
              "lib/systemd/system/slipway-agent.service", "usr/share/man/man1/slipway.1.gz",
              "usr/share/man/man1/slipway-agent.1.gz", "usr/share/doc/slipway/copyright",
              "usr/share/doc/slipway/deploying.md",
              "etc/slipway/agent.env", "etc/slipway/server.env"):
        assert f in files, (f, sorted(files))
    ctl = tmp_path / "control"
    run(["dpkg-deb", "-e", deb, ctl])
    assert (ctl / "conffiles").read_text().split() == ["/etc/slipway/agent.env", "/etc/slipway/server.env"]
    postinst = (ctl / "postinst").read_text()
    assert "adduser --system" in postinst and "deb-systemd-helper" in postinst
    # Not enabled on install: the agent needs its join token first.
    assert "deb-systemd-helper enable" not in postinst.split("was-enabled", 1)[0]
    ext = tmp_path / "extracted"
    run(["dpkg-deb", "-x", deb, ext])
    check_man_pages(ext / "usr/share/man/man1", suffix=".gz")
    check_units(ext / "lib/systemd/system", "/usr/bin", ext / "usr/bin/slipway", ext / "usr/share/man", tmp_path)

    if os.geteuid() != 0 or os.environ.get("CI") != "true":
        print(f"\nsystem install of {deb.name} NOT done (needs root and CI=true, as in .ci/run's fresh root); "
              "checked it with dpkg-deb only")
        return
    # A disposable root (CI): install it as a user would, then purge it.
    aenv = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["apt-get", "install", "-y", "-q", f"./{deb.name}"], cwd=tmp_path, env=aenv, timeout=600)
    try:
        assert run(["/usr/bin/slipway", "--version"]).stdout == f"slipway {version}\n"
        listed = set(run(["dpkg", "-L", "slipway"]).stdout.split())
        for f in ("/usr/bin/slipway", "/lib/systemd/system/slipway-agent.service",
                  "/lib/systemd/system/slipway-server.service", "/usr/share/man/man1/slipway-deploy.1.gz",
                  "/etc/slipway/agent.env"):
            assert f in listed, (f, sorted(listed))
        for user in ("slipway", "slipway-server"):
            run(["getent", "passwd", user])
        p = subprocess.run(["systemd-analyze", "verify", "/lib/systemd/system/slipway-agent.service",
                            "/lib/systemd/system/slipway-server.service"], capture_output=True, text=True,
                           timeout=60, env=dict(os.environ, SYSTEMD_PAGER=""))
        assert p.returncode == 0 and not p.stderr.strip(), p.stderr
        assert run(["man", "-w", "slipway-agent"]).stdout.strip() == "/usr/share/man/man1/slipway-agent.1.gz"
        print(f"\ninstalled {deb.name} with apt-get: /usr/bin/slipway --version = slipway {version}")
    finally:
        run(["apt-get", "purge", "-y", "-q", "slipway"], env=aenv, timeout=300)
    assert not os.path.exists("/usr/bin/slipway")
    assert not os.path.exists("/lib/systemd/system/slipway-agent.service")


# docs/deploying.md, "Backups of the data directory": a release that needs nothing built.
BACKUP_SPEC = """\
service: app
build:
  jobs:
    package:
      steps:
        - run: mkdir -p dist && echo backup-test > dist/app
      outputs: [dist/]
run:
  command: sleep 1000
environments:
  staging:
    hosts: { env: staging }
"""


def test_backup_while_running_and_restore(tmp_path):
    """The documented backup (sqlite3 .backup, then the release files) taken while the server answers
    writes: its event log verifies, and a server started on it has the release and the events."""
    env = keygen_env(tmp_path / "home")
    rel = release_from_spec(tmp_path / "src", env, BACKUP_SPEC)
    procs = Procs()
    live = tmp_path / "live"
    live.mkdir()
    try:
        srv = Server(procs, live, trust=tmp_path / "home" / "keys" / "slipway.pub")
        cli = dict(env, SLIPWAY_SERVER=srv.url, SLIPWAY_TOKEN=srv.admin)
        p = subprocess.run([slipway_bin(), "deploy", rel["bundle"], "--env", "staging"], env=cli,
                           capture_output=True, text=True, timeout=60)
        assert "uploading release" in p.stdout + p.stderr, (p.returncode, p.stdout, p.stderr)
        assert srv.api("GET", f"/api/v1/releases/{rel['digest']}")[0] == 200

        # Writes go on during the copy: join tokens, each one an event.
        stop = threading.Event()
        made = []

        def writer():
            while not stop.is_set() and len(made) < 2000:
                status, out = srv.api("POST", "/api/v1/join-tokens", {"labels": {"env": "staging"}})
                assert status in (200, 201), (status, out)
                made.append(out["token"])

        t = threading.Thread(target=writer)
        t.start()
        try:
            wait_for(lambda: len(made) >= 20, what="writes under way")
            before = len(made)
            data = live / "data"
            bk = tmp_path / "restore" / "data"
            bk.mkdir(parents=True)
            run(["sqlite3", data / "slipway.db", f".backup '{bk / 'slipway.db'}'"], timeout=60)
            shutil.copytree(data / "releases", bk / "releases", ignore=shutil.ignore_patterns("incoming"))
            shutil.copy2(data / "admin.token", bk / "admin.token")
            during = len(made) - before
        finally:
            stop.set()
            t.join(timeout=60)
        assert not t.is_alive()
        assert during > 0, "no write happened while the copy was taken"
        print(f"\n{during} join tokens were created while the backup was taken")
        p = run([slipway_bin(), "audit", "verify", "--db", bk / "slipway.db"], env=env)
        assert p.stdout.startswith("event log ok"), p.stdout
        procs.stop_all()

        # The restored directory serves: the release downloads intact, the events are there.
        procs = Procs()
        srv2 = Server(procs, tmp_path / "restore")
        assert srv2.admin == srv.admin
        status, out = api_call(srv2.url, srv2.admin, "GET", f"/api/v1/releases/{rel['digest']}")
        assert status == 200, (status, out)
        with urllib.request.urlopen(urllib.request.Request(
                f"{srv2.url}/api/v1/releases/{rel['digest']}/bundle.tar.zst",
                headers={"Authorization": "Bearer " + srv2.admin}), timeout=30) as r:
            assert hashlib.sha256(r.read()).hexdigest() == rel["digest"]
        def events(kind):
            return json.loads(run([slipway_bin(), "audit", "log", "--db", bk / "slipway.db", "--kind", kind,
                                   "--output", "json"], env=env).stdout)["events"]
        assert len(events("release.uploaded")) == 1
        assert len(events("join_token.created")) >= 20
    finally:
        procs.stop_all()
