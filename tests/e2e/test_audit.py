"""Scenario tests for `slipway audit verify` and `slipway audit log`.

Events come from real commands: `slipway run` on a two-job pipeline appends
pipeline.started, job.finished (x2) and pipeline.finished. The log is then
tampered with directly through Python's sqlite3 module (as someone with
write access to the file would) and `audit verify` must name the first
broken seq and the reason. The hash chain is also recomputed here from the
rule in docs/events.md, independently of the C code.

Tests that need events skip (with the reason) only while `slipway run`
still answers "not built yet".
"""
import hashlib
import json
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import tempfile

import pytest

SPEC = (
    "service: demo\n"
    "build:\n"
    "  jobs:\n"
    '    a: { steps: [ { run: "true" } ] }\n'
    '    b: { needs: [a], steps: [ { run: "true" } ] }\n'
)
GENESIS = "0" * 64
NOBODY = 65534


# ---- helpers -------------------------------------------------------------

def run_pipeline(sw, times=1):
    """Run the two-job pipeline; returns the path of the event database."""
    (sw.cwd / "slipway.yml").write_text(SPEC)
    for _ in range(times):
        p = sw("run", timeout=120)
        if "not built yet" in p.stderr:
            pytest.skip("`slipway run` is not built yet; these tests need its events")
        assert p.returncode == 0, f"slipway run failed\n{p.stdout}\n{p.stderr}"
    db = sw.home / "slipway.db"
    assert db.exists(), "slipway run wrote no event database"
    return db


def netstring(s):
    b = s.encode()
    return str(len(b)).encode() + b":" + b + b","


def event_hash(row):
    """The hash rule of docs/events.md, written out independently."""
    fields = ["slipway-event-v1", str(row["seq"]), row["time"], row["actor"], row["kind"],
              row["subject"], row["payload"], row["prev_hash"]]
    return hashlib.sha256(b"".join(netstring(f) for f in fields)).hexdigest()


def rows(db):
    c = sqlite3.connect(db)
    c.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in c.execute("SELECT * FROM events ORDER BY seq")]
    finally:
        c.close()


def tamper(db, *sql, params=()):
    """Change the log the way an attacker would: drop the append-only triggers first."""
    c = sqlite3.connect(db)
    try:
        c.execute("DROP TRIGGER IF EXISTS events_no_update")
        c.execute("DROP TRIGGER IF EXISTS events_no_delete")
        for i, s in enumerate(sql):
            c.execute(s, params if i == len(sql) - 1 else ())
        c.commit()
    finally:
        c.close()


def expect_broken(sw, seq, reason):
    p = sw("audit", "verify")
    assert p.returncode == 1, f"exit {p.returncode}\n{p.stdout}\n{p.stderr}"
    assert f"event log broken at seq {seq}: {reason}" in p.stderr, p.stderr
    doc = sw("audit", "verify", "--output", "json")
    assert doc.returncode == 1
    report = json.loads(doc.stdout)
    assert report["ok"] is False
    assert report["broken"]["seq"] == seq
    assert report["broken"]["reason"].startswith(reason)
    return report


# ---- usage and bad input (no events needed) --------------------------------

def test_help(sw):
    for args in (["audit", "--help"], ["audit", "verify", "--help"], ["audit", "log", "--help"]):
        p = sw(*args, check=0)
        assert p.stdout.startswith("usage: slipway audit"), p.stdout
        assert p.stderr == ""
    assert "--after" in sw("audit", "log", "--help").stdout
    assert "--db" in sw("audit", "verify", "--help").stdout


@pytest.mark.parametrize("args", [
    ["audit"],
    ["audit", "frobnicate"],
    ["audit", "verify", "--bogus"],
    ["audit", "verify", "extra"],
    ["audit", "verify", "--output", "yaml"],
    ["audit", "log", "--limit", "0"],
    ["audit", "log", "--limit", "ten"],
    ["audit", "log", "--after", "-1"],
    ["audit", "log", "--db"],
])
def test_usage_errors(sw, args):
    p = sw(*args)
    assert p.returncode == 2, f"{args}: exit {p.returncode}\n{p.stderr}"
    assert p.stderr.startswith("slipway audit"), p.stderr
    assert p.stdout == ""


def test_missing_database(sw):
    p = sw("audit", "verify")
    assert p.returncode == 2
    assert f"database '{sw.home / 'slipway.db'}' does not exist" in p.stderr
    assert not (sw.home / "slipway.db").exists(), "a reader must not create the database"
    p = sw("audit", "log", "--db", sw.cwd / "nope.db")
    assert p.returncode == 2
    assert "does not exist" in p.stderr


def test_not_a_database(sw):
    junk = sw.cwd / "junk.db"
    junk.write_text("this is not a database\n" * 100)
    before = junk.read_bytes()
    for cmd in ("verify", "log"):
        p = sw("audit", cmd, "--db", junk)
        assert p.returncode == 2, p.stderr
        assert f"file '{junk}' is not a Slipway database" in p.stderr
    assert junk.read_bytes() == before


def test_other_sqlite_database(sw):
    other = sw.cwd / "other.db"
    c = sqlite3.connect(other)
    c.execute("CREATE TABLE t (x)")
    c.commit()
    c.close()
    p = sw("audit", "verify", "--db", f"sqlite:{other}")
    assert p.returncode == 2
    assert "is not a Slipway database" in p.stderr


def test_postgres_refused(sw):
    p = sw("audit", "verify", "--db", "postgres://slipway@127.0.0.1/slipway")
    assert p.returncode == 2
    assert "PostgreSQL store is not built yet" in p.stderr


# ---- with events from `slipway run` ----------------------------------------

def test_run_events_verify(sw):
    db = run_pipeline(sw)
    evs = rows(db)
    n = len(evs)
    assert n >= 4
    # The chain, recomputed from the documented rule.
    prev = GENESIS
    for i, r in enumerate(evs, 1):
        assert r["seq"] == i
        assert r["prev_hash"] == prev
        assert r["hash"] == event_hash(r), f"seq {i}: hash does not follow docs/events.md"
        json.loads(r["payload"])
        prev = r["hash"]
    p = sw("audit", "verify", check=0)
    assert p.stdout == f"event log ok: {n} events, head {prev[:12]}\n"
    doc = sw.json("audit", "verify")
    assert doc == {"ok": True, "events": n, "head": prev, "head_seq": n}
    # --db with a plain path and with sqlite: gives the same answer
    assert sw.json("audit", "verify", "--db", db)["head"] == prev
    assert sw.json("audit", "verify", "--db", f"sqlite:{db}")["head"] == prev
    # readers leave no -wal/-shm files behind and never change the file's mode
    assert sorted(x.name for x in sw.home.iterdir() if x.name.startswith("slipway.db")) == ["slipway.db"]
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o600


def test_run_events_log(sw):
    run_pipeline(sw)
    doc = sw.json("audit", "log")
    evs = doc["events"]
    assert doc["count"] == len(evs)
    kinds = [e["kind"] for e in evs]  # newest first
    assert kinds[-1] == "pipeline.started"
    assert kinds[0] == "pipeline.finished"
    assert kinds.count("job.finished") == 2
    assert all(e["actor"] == "tester@example.com" for e in evs)
    assert all(isinstance(e["payload"], dict) for e in evs)
    assert [e["seq"] for e in evs] == list(range(len(evs), 0, -1))
    jobs = sw.json("audit", "log", "--kind", "job.finished")["events"]
    assert [e["kind"] for e in jobs] == ["job.finished", "job.finished"]
    one = sw.json("audit", "log", "--kind", "job.finished", "--limit", "1")["events"]
    assert len(one) == 1 and one[0]["seq"] == jobs[0]["seq"] == max(e["seq"] for e in jobs)
    page = sw.json("audit", "log", "--after", "1", "--limit", "2")["events"]
    assert [e["seq"] for e in page] == [len(evs), len(evs) - 1]
    assert sw.json("audit", "log", "--after", str(len(evs)))["events"] == []
    # text: one line per event, seq first
    text = sw("audit", "log", check=0).stdout.splitlines()
    assert len(text) == len(evs)
    last = text[-1].split("  ")
    assert last[0] == "1" and last[2] == "tester@example.com" and last[3] == "pipeline.started"
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", last[1])
    assert json.loads(last[5]) == evs[-1]["payload"]
    assert sw("audit", "log", "--kind", "release.signed", check=0).stdout == "no events\n"


def test_two_runs_one_chain(sw):
    db = run_pipeline(sw, times=2)
    evs = rows(db)
    assert [r["seq"] for r in evs] == list(range(1, len(evs) + 1))
    assert [r["kind"] for r in evs].count("pipeline.started") == 2
    assert sw.json("audit", "verify")["events"] == len(evs)


def test_tamper_payload(sw):
    db = run_pipeline(sw)
    tamper(db, "UPDATE events SET payload = ? WHERE seq = 2", params=('{"forged":true}',))
    report = expect_broken(sw, 2, "hash mismatch (row modified)")
    assert report["events"] == 1
    assert report["broken"]["found"] == rows(db)[1]["hash"]


def test_tamper_payload_and_hash(sw):
    """A row rewritten with a correct hash of its own is caught by the next link."""
    db = run_pipeline(sw)
    r = rows(db)[1]
    r["payload"] = '{"forged":true}'
    forged = event_hash(r)
    tamper(db, "UPDATE events SET payload = ?, hash = ? WHERE seq = 2", params=(r["payload"], forged))
    report = expect_broken(sw, 3, "prev_hash mismatch")
    assert report["broken"]["expected"] == forged


def test_tamper_delete_middle(sw):
    db = run_pipeline(sw)
    tamper(db, "DELETE FROM events WHERE seq = 2")
    report = expect_broken(sw, 2, "seq gap (row deleted)")
    assert report["broken"]["expected"] == "seq 2"
    assert report["broken"]["found"] == "seq 3"


def test_tamper_reorder(sw):
    db = run_pipeline(sw)
    tamper(db, "UPDATE events SET seq = -1 WHERE seq = 2",
           "UPDATE events SET seq = 2 WHERE seq = 3",
           "UPDATE events SET seq = 3 WHERE seq = -1")
    expect_broken(sw, 2, "prev_hash mismatch")


def test_tamper_forged_insert(sw):
    db = run_pipeline(sw)
    evs = rows(db)
    forged = dict(evs[1], payload='{"forged":true}')  # seq 2, prev_hash of seq 1
    forged["hash"] = event_hash(forged)
    tamper(db, "UPDATE events SET seq = -(seq + 1) WHERE seq >= 2",
           "UPDATE events SET seq = -seq WHERE seq < 0",
           "INSERT INTO events VALUES (:seq, :time, :actor, :kind, :subject, :payload, :prev_hash, :hash)",
           params=forged)
    expect_broken(sw, 3, "prev_hash mismatch")


def test_truncation_is_not_detected(sw):
    """Documented limitation (docs/events.md): dropping the newest events leaves a valid chain."""
    db = run_pipeline(sw)
    n = len(rows(db))
    tamper(db, "DELETE FROM events WHERE seq = ?", params=(n,))
    doc = sw.json("audit", "verify")
    assert doc["ok"] is True and doc["events"] == n - 1


def test_verify_while_locked_for_writing(sw):
    """Readers are not blocked by a writer (WAL)."""
    db = run_pipeline(sw)
    c = sqlite3.connect(db, isolation_level=None)
    try:
        c.execute("BEGIN EXCLUSIVE")
        p = sw("audit", "verify", env={"SLIPWAY_DB_BUSY_TIMEOUT_MS": "100"}, timeout=30)
        assert p.returncode == 0, p.stderr
    finally:
        c.execute("ROLLBACK")
        c.close()


def _searchable_by_others(path):
    """Every directory from / down to path lets others pass (mode o+x)."""
    path = os.path.realpath(path)
    while True:
        if not os.stat(path).st_mode & stat.S_IXOTH:
            return False
        if path == "/":
            return True
        path = os.path.dirname(path)


def _nobody_base(sw, prefix):
    """A new directory (0755, owned by us) that `nobody` can reach, with a copy of the
    binary in bin/. On a new machine neither the binary (/root is 0700) nor pytest's
    tmp_path (/tmp/pytest-of-root is 0700) can be reached by another user, so the
    tests that run as nobody bring what they need here. Returns (base, binary)."""
    for parent in (tempfile.gettempdir(), "/tmp", "/var/tmp"):
        if os.path.isdir(parent) and _searchable_by_others(parent):
            break
    else:
        pytest.fail("no temporary directory that another user can reach (tried $TMPDIR, /tmp, /var/tmp)")
    base = tempfile.mkdtemp(prefix=prefix, dir=parent)
    os.chmod(base, 0o755)
    os.mkdir(os.path.join(base, "bin"), 0o755)
    binary = os.path.join(base, "bin", "slipway")
    shutil.copyfile(sw.bin, binary)
    os.chmod(binary, 0o755)
    return base, binary


def _rmtree(base):
    for d, dirs, _ in os.walk(base):
        for name in dirs:
            os.chmod(os.path.join(d, name), 0o755)
    shutil.rmtree(base)


def _as_nobody(binary, env, *args, cwd="/", timeout=60):
    kw = {}
    if os.geteuid() == 0:
        kw = {"user": NOBODY, "group": NOBODY, "extra_groups": []}
    return subprocess.run([binary, *map(str, args)], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, **kw)


def test_verify_read_only_database(sw):
    """audit verify works on a database whose file and directory cannot be written."""
    db = run_pipeline(sw)
    n = len(rows(db))
    base, binary = _nobody_base(sw, "sw-audit-ro-")
    try:
        ro = os.path.join(base, "ro")
        os.mkdir(ro, 0o755)
        copy = os.path.join(ro, "slipway.db")
        shutil.copy(db, copy)
        os.chmod(copy, 0o444)
        os.chmod(ro, 0o555)
        # A home nobody cannot create: verify and log must not need to write anything.
        env = dict(sw.env, SLIPWAY_HOME=os.path.join(base, "home"))
        p = _as_nobody(binary, env, "audit", "verify", "--db", copy)
        assert p.returncode == 0, p.stderr
        assert p.stdout.startswith(f"event log ok: {n} events")
        p = _as_nobody(binary, env, "audit", "log", "--db", copy, "--limit", "1")
        assert p.returncode == 0, p.stderr
        assert p.stdout.startswith(f"{n}  ")  # the newest
        assert sorted(os.listdir(ro)) == ["slipway.db"]
    finally:
        _rmtree(base)


def test_newer_schema(sw):
    db = run_pipeline(sw)
    c = sqlite3.connect(db)
    c.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (99, '2099-01-01T00:00:00.000Z')")
    c.commit()
    c.close()
    p = sw("audit", "verify")
    assert p.returncode == 2
    assert "database schema version 99 is newer than this slipway supports" in p.stderr
    # a writer refuses it too: nothing is appended to a log it does not understand
    before = len(rows(db))
    sw("run", timeout=120)
    assert len(rows(db)) == before
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o600


def test_run_on_locked_database(sw):
    """A writer that cannot get the lock in time fails and appends nothing."""
    db = run_pipeline(sw)
    before = rows(db)
    c = sqlite3.connect(db, isolation_level=None)
    try:
        c.execute("BEGIN EXCLUSIVE")
        p = sw("run", env={"SLIPWAY_DB_BUSY_TIMEOUT_MS": "100"}, timeout=120)
    finally:
        c.execute("ROLLBACK")
        c.close()
    assert p.returncode == 1, f"exit {p.returncode}\n{p.stderr}"
    assert f"database '{db}' is locked" in p.stderr
    assert rows(db) == before
    assert sw.json("audit", "verify")["events"] == len(before)


def test_run_on_read_only_database(sw):
    """A database file that cannot be written: a clear error, exit 1, and audit still reads it."""
    db = run_pipeline(sw)
    n = len(rows(db))
    base, binary = _nobody_base(sw, "sw-audit-rofile-")
    try:
        home = os.path.join(base, "home")
        work = os.path.join(base, "work")
        os.mkdir(home, 0o700)
        os.mkdir(work, 0o755)
        copy = os.path.join(home, "slipway.db")
        shutil.copy(db, copy)
        with open(os.path.join(work, "slipway.yml"), "w") as f:
            f.write(SPEC)
        if os.geteuid() == 0:
            for d in (home, work):
                os.chown(d, NOBODY, NOBODY)
                for name in os.listdir(d):
                    os.chown(os.path.join(d, name), NOBODY, NOBODY)
        os.chmod(copy, 0o400)
        env = dict(sw.env, SLIPWAY_HOME=home)
        p = _as_nobody(binary, env, "run", cwd=work, timeout=120)
        assert p.returncode == 1, f"exit {p.returncode}\n{p.stdout}\n{p.stderr}"
        assert f"cannot write to database '{copy}': read-only" in p.stderr
        assert len(rows(copy)) == n
        p = _as_nobody(binary, env, "audit", "verify", cwd=work)
        assert p.returncode == 0, p.stderr
        assert p.stdout.startswith(f"event log ok: {n} events")
    finally:
        _rmtree(base)
