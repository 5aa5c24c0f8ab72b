"""Scenario tests for `slipway keygen`, `slipway release` and `slipway verify`.

Every test writes its own service (slipway.yml plus the shell steps that make
its outputs) in the `sw` fixture's working directory, runs the real pipeline
(`slipway run`) and then releases and verifies with the real binary. The
minisign tool checks our signatures and makes signatures we must accept.
"""
import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile

import pytest

SPEC = """\
service: demo
{version}build:
  jobs:
    build:
      steps:
        - run: mkdir -p dist/lib && printf 'app v1\\n' > dist/app && chmod 755 dist/app && printf 'lib\\n' > dist/lib/x.txt && ln -sf x.txt dist/lib/current
      outputs: [dist/]
    docs:
      needs: [build]
      steps:
        - run: mkdir -p out && printf 'doc\\n' > out/README
      outputs: [out/README]
"""

MINISIGN = shutil.which("minisign")


def write_spec(sw, version=None, text=None):
    v = f"version: {version}\n" if version else ""
    (sw.cwd / "slipway.yml").write_text(text if text is not None else SPEC.format(version=v))


def events(sw):
    db_path = sw.home / "slipway.db"
    if not db_path.exists():
        return []
    db = sqlite3.connect(str(db_path))
    try:
        rows = db.execute("SELECT kind, subject, payload FROM events ORDER BY seq").fetchall()
    finally:
        db.close()
    return [(k, s, json.loads(p)) for k, s, p in rows]


def release_events(sw):
    return [e for e in events(sw) if e[0].startswith("release.")]


def run_pipeline(sw, **kw):
    p = sw("run", timeout=120, **kw)
    assert p.returncode == 0, f"slipway run failed ({p.returncode})\n{p.stdout}\n{p.stderr}"
    return p


def released(sw, *args, **kw):
    """`slipway release --output json` that must succeed."""
    return sw.json("release", *args, **kw)


def files_of(directory):
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else []


def tar_members(bundle):
    """(name, type, mode, mtime, sha256 or link) of every entry, via Python's tarfile and the zstd tool."""
    raw = subprocess.run(["zstd", "-d", "-c", str(bundle)], capture_output=True, check=True, timeout=60).stdout
    out = []
    with tarfile.open(fileobj=io.BytesIO(raw)) as t:
        for m in t.getmembers():
            content = None
            if m.isfile():
                content = hashlib.sha256(t.extractfile(m).read()).hexdigest()
            elif m.issym():
                content = m.linkname
            out.append((m.name.rstrip("/"), m.type, m.mode, m.mtime, m.uid, m.gid, m.uname, m.gname, content))
    return out


@pytest.fixture
def keyed(sw):
    sw("keygen", check=0)
    return sw


# ---- keygen ----

def test_keygen_creates_minisign_keys(sw):
    out = sw.json("keygen")
    key = sw.home / "keys" / "slipway.key"
    pub = sw.home / "keys" / "slipway.pub"
    assert out["secret_key"] == str(key) and out["public_key"] == str(pub)
    assert len(out["key_id"]) == 16
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert pub.read_text().startswith("untrusted comment: minisign public key " + out["key_id"])
    # A second keygen refuses to overwrite; --force replaces.
    p = sw("keygen")
    assert p.returncode == 2
    assert "--force" in p.stderr
    again = sw.json("keygen", "--force")
    assert again["key_id"] != out["key_id"]
    assert sw("keygen", "--help", check=0).stdout.startswith("usage: slipway keygen")
    assert sw("keygen", "--bogus").returncode == 2


# ---- release: the full flow ----

def test_run_release_verify(keyed):
    sw = keyed
    write_spec(sw, version="1.4.0")
    run_pipeline(sw)
    rel = released(sw)
    assert rel["service"] == "demo" and rel["version"] == "1.4.0"
    digest = rel["digest"].split(":", 1)[1]
    outdir = sw.home / "releases" / "demo"
    assert files_of(outdir) == sorted(digest + s for s in [
        ".tar.zst", ".tar.zst.minisig", ".release.json", ".release.json.minisig",
        ".sbom.cdx.json", ".provenance.intoto.json"])
    bundle = outdir / (digest + ".tar.zst")
    assert hashlib.sha256(bundle.read_bytes()).hexdigest() == digest

    # Bundle layout: sorted, normalised, both jobs' outputs, the inner symlink kept.
    members = tar_members(bundle)
    names = [m[0] for m in members]
    assert names == sorted(names)
    assert names == ["dist", "dist/app", "dist/lib", "dist/lib/current", "dist/lib/x.txt", "out", "out/README"]
    by = {m[0]: m for m in members}
    assert by["dist/app"][2] == 0o755 and by["dist/lib/x.txt"][2] == 0o644 and by["dist"][2] == 0o755
    assert by["dist/lib/current"][1] == tarfile.SYMTYPE and by["dist/lib/current"][8] == "x.txt"
    assert all(m[4] == 0 and m[5] == 0 and m[6] == "" and m[7] == "" for m in members)
    assert all(m[3] == 0 for m in members)  # not a git repository, no SOURCE_DATE_EPOCH

    manifest = json.loads((outdir / (digest + ".release.json")).read_text())
    assert manifest["schema"] == "slipway.release/v1"
    assert manifest["digest"] == rel["digest"] and manifest["bundle"] == digest + ".tar.zst"
    assert manifest["size"] == bundle.stat().st_size and manifest["files"] == 3  # symlinks are not files
    assert manifest["git"] is None
    assert manifest["pipeline"]["status"] == "passed" and manifest["pipeline"]["jobs"] == 2
    assert manifest["pipeline"]["run_id"] == (sw.home / "runs" / "demo" / "latest").read_text().strip()
    assert set(manifest["tests"]) == {"passed", "failed", "skipped", "errors"}
    assert manifest["key_id"] == rel["key_id"]
    # The spec travels signed with the release, for the server's run: and environments:.
    assert manifest["spec"] == (sw.cwd / "slipway.yml").read_text()
    sbom_path = outdir / manifest["sbom"]["file"]
    assert hashlib.sha256(sbom_path.read_bytes()).hexdigest() == manifest["sbom"]["sha256"]
    sbom = json.loads(sbom_path.read_text())
    assert sbom["bomFormat"] == "CycloneDX" and sbom["specVersion"] == "1.5"
    assert sbom["serialNumber"].startswith("urn:uuid:" + digest[:8] + "-")
    assert sbom["metadata"]["component"] == {"type": "application", "name": "demo", "version": "1.4.0"}
    comps = {c["name"]: c["hashes"][0]["content"] for c in sbom["components"]}
    assert comps == {m[0]: m[8] for m in members if m[1] == tarfile.REGTYPE}
    prov = json.loads((outdir / manifest["provenance"]["file"]).read_text())
    assert prov["_type"] == "https://in-toto.io/Statement/v1"
    assert prov["predicateType"] == "https://slsa.dev/provenance/v1"
    assert prov["subject"] == [{"name": digest + ".tar.zst", "digest": {"sha256": digest}}]
    bd = prov["predicate"]["buildDefinition"]
    assert bd["buildType"] == "https://slipway.dev/pipeline/v1"
    assert bd["externalParameters"]["jobs"] == ["build", "docs"]
    assert bd["externalParameters"]["spec"]["digest"]["sha256"] == \
        hashlib.sha256((sw.cwd / "slipway.yml").read_bytes()).hexdigest()
    assert prov["predicate"]["runDetails"]["metadata"]["invocationId"] == manifest["pipeline"]["run_id"]

    # Store: the release and its two events, in order.
    ev = release_events(sw)
    assert [e[0] for e in ev] == ["release.created", "release.signed"]
    assert ev[0][1] == ev[1][1] == "release/" + rel["digest"]
    assert ev[1][2]["key_id"] == rel["key_id"]

    v = sw("verify", bundle, check=0)
    assert v.stdout.count("\nok ") + v.stdout.startswith("ok ") == 7, v.stdout
    assert "verified demo 1.4.0" in v.stdout
    vj = sw.json("verify", bundle)
    assert vj["ok"] is True and len(vj["checks"]) == 7

    # Releasing the same outputs again changes nothing.
    again = released(sw)
    assert again["existing"] is True and again["digest"] == rel["digest"]
    assert len(release_events(sw)) == 2


def test_release_version_flag_and_out_dir(keyed, tmp_path):
    sw = keyed
    write_spec(sw, version="1.0.0")
    run_pipeline(sw)
    out = tmp_path / "custom-out"
    rel = released(sw, "--version", "2.0.0-rc1", "--out", out)
    assert rel["version"] == "2.0.0-rc1"
    assert rel["paths"]["bundle"].startswith(str(out) + "/")
    assert len(files_of(out)) == 6
    assert sw("release", "--bogus").returncode == 2
    assert sw("release", "--help", check=0).stdout.startswith("usage: slipway release")


# ---- release: refusals ----

def test_release_needs_a_passed_run(keyed):
    sw = keyed
    write_spec(sw)
    p = sw("release")
    assert p.returncode == 2  # no run yet: missing input, as a missing key is (README: exit codes)
    assert "slipway run" in p.stderr
    # A failing pipeline: still refused, as an operation that failed.
    write_spec(sw, text=SPEC.format(version="") + "    broken:\n      steps:\n        - run: exit 3\n")
    assert sw("run", timeout=120).returncode == 1
    p = sw("release")
    assert p.returncode == 1
    assert "'failed'" in p.stderr and "slipway run" in p.stderr
    assert files_of(sw.home / "releases" / "demo") == []
    assert release_events(sw) == []


def test_release_missing_output_leaves_nothing(keyed):
    sw = keyed
    write_spec(sw)
    run_pipeline(sw)
    (sw.cwd / "out" / "README").unlink()  # gone since the run
    p = sw("release")
    assert p.returncode == 2
    assert "'out/README'" in p.stderr and "job 'docs'" in p.stderr
    assert files_of(sw.home / "releases" / "demo") == []
    assert release_events(sw) == []


def test_release_without_key(sw):
    write_spec(sw)
    run_pipeline(sw)
    p = sw("release")
    assert p.returncode == 2
    assert "slipway keygen" in p.stderr
    assert files_of(sw.home / "releases" / "demo") == []


def test_release_refuses_encrypted_minisign_key(sw, tmp_path):
    write_spec(sw)
    run_pipeline(sw)
    key = tmp_path / "enc.key"
    # An encrypted key: kdf_alg "Sc" (made by hand; minisign -G would prompt for a password).
    import base64
    blob = bytearray(158)
    blob[0:6] = b"EdScB2"
    key.write_text("untrusted comment: minisign encrypted secret key\n" + base64.b64encode(bytes(blob)).decode() + "\n")
    p = sw("release", "--key", key)
    assert p.returncode == 2
    assert "encrypted minisign secret keys are not supported yet" in p.stderr


# ---- determinism and metadata ----

def test_same_inputs_same_bundle(sw, tmp_path):
    write_spec(sw, version="1.0.0")
    sw("keygen", check=0)
    run_pipeline(sw)
    a = released(sw, env={"SOURCE_DATE_EPOCH": "1700000000"})
    bundle_a = open(a["paths"]["bundle"], "rb").read()
    # Rebuild the outputs (new files, new mtimes), another home and key: same bundle bytes.
    shutil.rmtree(sw.cwd / "dist")
    shutil.rmtree(sw.cwd / "out")
    home2 = tmp_path / "home2"
    home2.mkdir()
    env2 = {"SLIPWAY_HOME": str(home2), "SOURCE_DATE_EPOCH": "1700000000"}
    sw("keygen", env=env2, check=0)
    sw("run", env=env2, timeout=120, check=0)
    b = released(sw, env=env2)
    assert b["digest"] == a["digest"]
    assert open(b["paths"]["bundle"], "rb").read() == bundle_a
    assert all(m[3] == 1700000000 for m in tar_members(a["paths"]["bundle"]))
    # Another SOURCE_DATE_EPOCH: another bundle.
    home3 = tmp_path / "home3"
    home3.mkdir()
    env3 = {"SLIPWAY_HOME": str(home3), "SOURCE_DATE_EPOCH": "1700000001"}
    sw("keygen", env=env3, check=0)
    sw("run", env=env3, timeout=120, check=0)
    assert released(sw, env=env3)["digest"] != a["digest"]


def git(cwd, *args):
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@example.com", GIT_AUTHOR_DATE="1600000000 +0000",
               GIT_COMMITTER_DATE="1600000000 +0000")
    return subprocess.run(["git", *args], cwd=str(cwd), env=env, capture_output=True, text=True,
                          check=True, timeout=60).stdout.strip()


def test_git_metadata_and_version(keyed):
    sw = keyed
    write_spec(sw)
    (sw.cwd / ".gitignore").write_text("dist/\nout/\n")
    git(sw.cwd, "init", "-q")
    git(sw.cwd, "add", ".")
    git(sw.cwd, "commit", "-q", "-m", "first")
    head = git(sw.cwd, "rev-parse", "HEAD")
    run_pipeline(sw)
    rel = released(sw)
    assert rel["version"] == "0.0.0+" + head[:7]
    m = rel["manifest"]
    assert m["git"] == {"commit": head, "commit_time": "2020-09-13T12:26:40.000Z", "dirty": False}
    assert all(t[3] == 1600000000 for t in tar_members(rel["paths"]["bundle"]))

    # A tag names the version; a modified tracked file marks the release dirty.
    git(sw.cwd, "tag", "v1.2.3")
    (sw.cwd / "slipway.yml").write_text(SPEC.format(version="").replace("app v1", "app v2"))
    run_pipeline(sw)
    rel2 = released(sw)
    assert rel2["version"] == "v1.2.3"
    assert rel2["manifest"]["git"]["dirty"] is True
    prov_path = os.path.join(os.path.dirname(rel2["paths"]["bundle"]), rel2["manifest"]["provenance"]["file"])
    deps = json.load(open(prov_path))["predicate"]["buildDefinition"]["resolvedDependencies"]
    assert deps[0]["digest"] == {"gitCommit": head}


def test_release_records_the_commit_the_run_built(keyed):
    """commit, run, commit again: release refuses (exit 1) until the pipeline ran on the new commit; --allow-stale
    releases the old outputs under the old commit and records that; run again: the new commit."""
    sw = keyed
    write_spec(sw, version="1.0.0")
    (sw.cwd / ".gitignore").write_text("dist/\nout/\n")
    git(sw.cwd, "init", "-q")
    git(sw.cwd, "add", ".")
    git(sw.cwd, "commit", "-q", "-m", "1.0.0")
    first = git(sw.cwd, "rev-parse", "HEAD")
    run_pipeline(sw)
    summary = json.loads((sw.home / "runs" / "demo" / (sw.home / "runs" / "demo" / "latest").read_text().strip()
                          / "summary.json").read_text())
    assert (summary["git_commit"], summary["git_dirty"], summary["git_changes"]) == (first, False, None)

    write_spec(sw, version="1.0.1", text=SPEC.format(version="version: 1.0.1\n").replace("app v1", "app v2"))
    git(sw.cwd, "commit", "-q", "-am", "1.0.1")
    second = git(sw.cwd, "rev-parse", "HEAD")
    p = sw("release")
    assert p.returncode == 1, p.stdout
    assert (f"\nslipway release: outputs were built from commit {first}, the working tree is now at commit {second} "
            "(run ") in p.stderr, p.stderr
    assert "run the pipeline again or pass --allow-stale" in p.stderr
    assert release_events(sw) == []

    assert files_of(sw.home / "releases" / "demo") == []  # nothing written

    rel = released(sw, "--allow-stale")
    m = rel["manifest"]
    assert m["git"]["commit"] == first and m["git"]["dirty"] is False
    assert m["stale"] == {"allow_stale": True, "worktree": {"commit": second, "dirty": False}}
    prov = json.load(open(os.path.join(os.path.dirname(rel["paths"]["bundle"]), m["provenance"]["file"])))
    bd = prov["predicate"]["buildDefinition"]
    assert bd["resolvedDependencies"][0]["digest"] == {"gitCommit": first}
    assert bd["internalParameters"]["stale"]["worktree"]["commit"] == second
    created = [e for e in release_events(sw) if e[0] == "release.created"][-1][2]
    assert created["git_commit"] == first and created["stale"]["allow_stale"] is True
    assert sw("verify", rel["paths"]["bundle"]).returncode == 0

    # A dirty tree after a clean run: refused, naming the changes.
    (sw.cwd / "slipway.yml").write_text((sw.cwd / "slipway.yml").read_text() + "# edited\n")
    run_pipeline(sw)  # built from second + these changes
    (sw.cwd / "slipway.yml").write_text((sw.cwd / "slipway.yml").read_text() + "# edited again\n")
    p = sw("release")
    assert p.returncode == 1
    assert (f"outputs were built from commit {second} with uncommitted changes, the working tree is now at "
            f"commit {second} with uncommitted changes (other changes)") in p.stderr, p.stderr
    git(sw.cwd, "checkout", "-q", "slipway.yml")

    # Run on the new commit: the release names it, not stale. 1.0.1 already names the stale release
    # (a version names one release), so these new outputs need a version of their own.
    run_pipeline(sw)
    p = sw("release")
    assert p.returncode == 2 and "version '1.0.1' of 'demo' is already release " + rel["digest"] in p.stderr, p.stderr
    rel2 = released(sw, "--version", "1.0.2")
    assert rel2["manifest"]["git"]["commit"] == second and "stale" not in rel2["manifest"]
    created = [e for e in release_events(sw) if e[0] == "release.created"][-1][2]
    assert created["git_commit"] == second and created["stale"] is None


# ---- verify: damage ----

@pytest.fixture
def one_release(keyed):
    sw = keyed
    write_spec(sw, version="3.0.0")
    run_pipeline(sw)
    rel = released(sw)
    return sw, rel


def verify_json(sw, bundle, *args):
    p = sw("verify", bundle, *args, "--output", "json")
    return p, json.loads(p.stdout) if p.stdout.strip() else None


def checks(doc):
    return {c["name"]: c for c in doc["checks"]}


def test_verify_detects_a_changed_byte(one_release):
    sw, rel = one_release
    bundle = rel["paths"]["bundle"]
    data = bytearray(open(bundle, "rb").read())
    data[len(data) // 2] ^= 0x40
    open(bundle, "wb").write(bytes(data))
    p, doc = verify_json(sw, bundle)
    assert p.returncode == 1
    assert doc["ok"] is False
    c = checks(doc)
    assert not c["digest"]["ok"] and not c["bundle signature"]["ok"]
    assert c["manifest signature"]["ok"]
    text = sw("verify", bundle)
    assert text.returncode == 1 and "FAILED  digest" in text.stdout


def test_verify_detects_truncation(one_release):
    sw, rel = one_release
    bundle = rel["paths"]["bundle"]
    os.truncate(bundle, os.path.getsize(bundle) // 2)
    p, doc = verify_json(sw, bundle)
    assert p.returncode == 1
    assert "corrupt or truncated" in checks(doc)["contents"]["detail"]


def test_verify_wrong_and_missing_signature(one_release, tmp_path):
    sw, rel = one_release
    bundle = rel["paths"]["bundle"]
    other = tmp_path / "other"
    other.mkdir()
    sw("keygen", env={"SLIPWAY_HOME": str(other)}, check=0)
    p, doc = verify_json(sw, bundle, "--key", other / "keys" / "slipway.pub")
    assert p.returncode == 1
    other_id = open(other / "keys" / "slipway.pub").readline().split()[-1]
    assert checks(doc)["bundle signature"]["detail"] == f"signed by key {rel['key_id']}, expected key {other_id}"
    os.unlink(bundle + ".minisig")
    p, doc = verify_json(sw, bundle)
    assert p.returncode == 1
    assert "missing" in checks(doc)["bundle signature"]["detail"]
    assert checks(doc)["manifest signature"]["ok"]


def test_verify_sbom_and_contents(one_release):
    sw, rel = one_release
    bundle = rel["paths"]["bundle"]
    sbom = os.path.join(os.path.dirname(bundle), rel["manifest"]["sbom"]["file"])
    doc = json.load(open(sbom))
    doc["components"][0]["hashes"][0]["content"] = "0" * 64
    open(sbom, "w").write(json.dumps(doc))
    p, out = verify_json(sw, bundle)
    assert p.returncode == 1
    assert not checks(out)["sbom"]["ok"]


def test_verify_unreadable_input(keyed, tmp_path):
    sw = keyed
    assert sw("verify", tmp_path / ("0" * 64 + ".tar.zst")).returncode == 2
    odd = tmp_path / "bundle.tar.zst"
    odd.write_bytes(b"x")
    p = sw("verify", odd)
    assert p.returncode == 2 and "<sha256>.tar.zst" in p.stderr
    assert sw("verify").returncode == 2
    assert sw("verify", odd, "--key", tmp_path / "nope.pub").returncode == 2


# ---- minisign interoperability ----

@pytest.mark.skipif(not MINISIGN, reason="minisign is not installed")
def test_minisign_accepts_our_signatures(one_release):
    sw, rel = one_release
    pub = sw.home / "keys" / "slipway.pub"
    for f in (rel["paths"]["bundle"], rel["paths"]["manifest"]):
        p = subprocess.run([MINISIGN, "-V", "-p", str(pub), "-m", f], capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr
        assert "hashed" in p.stdout
    # A modified bundle fails with minisign too.
    bundle = rel["paths"]["bundle"]
    with open(bundle, "ab") as f:
        f.write(b"\0")
    p = subprocess.run([MINISIGN, "-V", "-p", str(pub), "-m", bundle], capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert sw("verify", bundle).returncode == 1


@pytest.mark.skipif(not MINISIGN, reason="minisign is not installed")
@pytest.mark.parametrize("legacy", [False, True])
def test_we_accept_minisign_keys_and_signatures(sw, tmp_path, legacy):
    write_spec(sw)
    run_pipeline(sw)
    key, pub = tmp_path / "x.key", tmp_path / "x.pub"
    subprocess.run([MINISIGN, "-G", "-W", "-p", str(pub), "-s", str(key)], capture_output=True, check=True,
                   timeout=30)
    # We sign with minisign's (unencrypted) key ...
    rel = released(sw, "--key", key)
    bundle, manifest = rel["paths"]["bundle"], rel["paths"]["manifest"]
    assert sw("verify", bundle, "--key", pub).returncode == 0
    # ... and accept signatures that minisign itself makes with it.
    cmd = [MINISIGN, "-S", "-s", str(key), "-m", bundle, manifest, "-t", "signed by minisign"]
    if legacy:
        cmd.insert(2, "-l")
    subprocess.run(cmd, capture_output=True, check=True, timeout=30)
    p, doc = verify_json(sw, bundle, "--key", pub)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "signed by minisign" in checks(doc)["bundle signature"]["detail"]
    # A modified bundle fails both tools.
    with open(bundle, "r+b") as f:
        f.seek(40)
        b = f.read(1)
        f.seek(40)
        f.write(bytes([b[0] ^ 1]))
    assert sw("verify", bundle, "--key", pub).returncode == 1
    assert subprocess.run([MINISIGN, "-V", "-p", str(pub), "-m", bundle], capture_output=True,
                          timeout=30).returncode != 0


# ---- disk full ----

def test_disk_full_leaves_nothing(keyed, tmp_path):
    sw = keyed
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs (disk-full variant); the /dev/full unit test covers the writer")
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                      capture_output=True, timeout=30).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (disk-full variant)")
    try:
        # ~300 KB of incompressible output does not fit in 64 KiB.
        text = SPEC.format(version="")
        big = text.replace("printf 'lib\\n' > dist/lib/x.txt", "head -c 300000 /dev/urandom > dist/lib/x.txt")
        assert big != text
        write_spec(sw, text=big)
        run_pipeline(sw)
        p = sw("release", "--out", mnt)
        assert p.returncode == 1, p.stdout + p.stderr
        assert "No space left on device" in p.stderr
        assert os.listdir(mnt) == []
        assert release_events(sw) == []
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True, timeout=30)


def test_store_refusal_removes_the_files(one_release):
    # The store already holds this digest with another manifest (the release
    # files were deleted by hand): the new files are removed again, no events.
    sw, rel = one_release
    outdir = os.path.dirname(rel["paths"]["bundle"])
    shutil.rmtree(outdir)
    p = sw("release")
    assert p.returncode == 1
    assert "cannot record release " + rel["digest"] in p.stderr
    assert files_of(outdir) == []
    assert len(release_events(sw)) == 2


def test_verify_refuses_a_decompression_bomb(keyed):
    # 64 MiB of zeros compress to a few KiB: far over the ratio limit (200,
    # counted once the total passes 16 MiB). The release is signed and every
    # other check passes; `contents` fails, naming the limit.
    sw = keyed
    text = SPEC.format(version="")
    bomb = text.replace("printf 'lib\\n' > dist/lib/x.txt", "head -c 67108864 /dev/zero > dist/lib/x.txt")
    assert bomb != text
    write_spec(sw, text=bomb)
    run_pipeline(sw)
    rel = released(sw)
    bundle = rel["paths"]["bundle"]
    assert os.path.getsize(bundle) < 64 * 1024
    p, doc = verify_json(sw, bundle)
    assert p.returncode == 1, p.stdout
    c = checks(doc)
    assert not c["contents"]["ok"]
    assert "compression ratio limit" in c["contents"]["detail"]
    assert all(c[name]["ok"] for name in ("digest", "bundle signature", "manifest signature", "manifest", "sbom"))
