"""Scenario tests for `slipway run` (the local pipeline runner).

Every test writes its own slipway.yml into the `sw` fixture's working
directory and runs the real binary ($SLIPWAY_BIN) with its own SLIPWAY_HOME.
Runs are bounded by subprocess timeouts; process checks use unique markers.
"""
import json
import os
import pty
import random
import select
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest


def spec(sw, text, name="slipway.yml"):
    (sw.cwd / name).write_text(text)


def summary_of(sw, service="demo"):
    d = sw.home / "runs" / service
    run_id = (d / "latest").read_text().strip()
    return json.loads((d / run_id / "summary.json").read_text()), d / run_id


def jobs_by_name(summary):
    return {j["name"]: j for j in summary["jobs"]}


def events(sw):
    db = sqlite3.connect(str(sw.home / "slipway.db"))
    try:
        rows = db.execute("SELECT kind, subject, payload FROM events ORDER BY seq").fetchall()
    finally:
        db.close()
    return [(k, s, json.loads(p)) for k, s, p in rows]


def pgrep(pattern):
    p = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    return [int(x) for x in p.stdout.split()]


def wait_for(cond, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


PIPELINE = """\
service: demo
build:
  jobs:
    lint:
      steps: [ { run: "echo lint ok" } ]
    build:
      steps:
        - run: mkdir -p out && echo built > out/app
        - name: second
          run: echo "second step in $SLIPWAY_JOB"
      outputs: [out/]
    test:
      needs: [build, lint]
      matrix: { py: ["3.11", "3.12"] }
      steps: [ { run: 'echo "testing $MATRIX_PY with $(cat out/app)"' } ]
    package:
      needs: [test]
      steps: [ { run: "true" } ]
"""


def test_pipeline_passes(sw):
    spec(sw, PIPELINE)
    p = sw("run", "-j", "2", check=0)
    s, run_dir = summary_of(sw)
    assert s["status"] == "passed"
    assert s["service"] == "demo"
    assert s["run_id"] == run_dir.name
    assert len(s["spec_digest"]) == 64
    j = jobs_by_name(s)
    assert set(j) == {"lint", "build", "test[py=3.11]", "test[py=3.12]", "package"}
    assert all(x["status"] == "passed" and x["attempts"] == 1 and x["exit_code"] == 0 for x in j.values())
    for name in ("lint", "build", "test[py=3.11]"):
        assert "✓ %s" % name in p.stdout
    log = Path(j["test[py=3.12]"]["log"]).read_text()
    assert "testing 3.12 with built" in log
    assert "second step in build" in Path(j["build"]["log"]).read_text()
    assert j["package"]["log"] is None  # passed without output: no log file
    assert "passed: 5 jobs" in p.stdout
    # Events: started, then one job.finished per job and pipeline.finished.
    ev = events(sw)
    kinds = [k for k, _, _ in ev]
    assert kinds == ["pipeline.started"] + ["job.finished"] * 5 + ["pipeline.finished"]
    assert all(subj == "run/" + s["run_id"] for _, subj, _ in ev)
    assert ev[-1][2]["status"] == "passed"
    assert ev[-1][2]["jobs"]["passed"] == 5


def test_selected_jobs_and_order(sw):
    spec(sw, PIPELINE)
    sw("run", "-j", "1", "test", check=0)  # matrix base name: both variants + their needs
    s, _ = summary_of(sw)
    assert [x["name"] for x in s["jobs"]] == ["lint", "build", "test[py=3.11]", "test[py=3.12]"]
    sw("run", "lint", check=0)
    s, _ = summary_of(sw)
    assert [x["name"] for x in s["jobs"]] == ["lint"]


def test_bad_input_exit_2(sw):
    spec(sw, PIPELINE)
    p = sw("run", "tset", check=2)
    assert "unknown job 'tset'" in p.stderr and "did you mean 'test'" in p.stderr
    p = sw("run", "-j", "0", check=2)
    assert "-j" in p.stderr
    spec(sw, "service: demo\nbuild:\n  jobs:\n    a: { stepz: [true] }\n")
    p = sw("run", check=2)
    assert "slipway.yml:4" in p.stderr
    assert not (sw.home / "runs").exists() or not any((sw.home / "runs").rglob("summary.json"))
    p = sw("run", "--help", check=0)
    assert p.stdout.startswith("usage: slipway run")


def test_failure_skips_dependents(sw):
    spec(sw, """\
service: demo
build:
  jobs:
    compile:
      steps:
        - name: cc
          run: |
            for i in $(seq 1 30); do echo "line $i"; done
            exit 3
    link: { needs: [compile], steps: [ { run: "echo never > linked" } ] }
    docs: { steps: [ { run: "sleep 0.5; echo docs" } ] }
""")
    p = sw("run", "-j", "2", check=1)
    s, _ = summary_of(sw)
    j = jobs_by_name(s)
    assert s["status"] == "failed"
    assert j["compile"]["status"] == "failed"
    assert j["compile"]["exit_code"] == 3
    assert j["compile"]["message"] == "step 'cc' failed: exit 3"
    assert j["link"]["status"] == "skipped"
    assert j["link"]["needs_failed"] == "compile"
    assert j["docs"]["status"] == "passed"  # was running already: it finishes
    assert not (sw.cwd / "linked").exists()
    assert "✗ compile  exit 3" in p.stdout
    assert "- link  skipped (needs compile)" in p.stdout
    # the last 20 lines of the failed job's log, on the terminal
    assert "| line 30" in p.stdout and "| line 12" in p.stdout and "| line 5\n" not in p.stdout
    ev = events(sw)
    assert ev[-1][0] == "pipeline.finished" and ev[-1][2]["status"] == "failed"


def test_keep_going(sw):
    spec(sw, """\
service: demo
build:
  jobs:
    bad: { steps: [ { run: "exit 1" } ] }
    later: { steps: [ { run: "sleep 0.3; echo later > later.txt" } ] }
""")
    sw("run", "-j", "1", check=1)
    assert jobs_by_name(summary_of(sw)[0])["later"]["status"] == "skipped"
    sw("run", "-j", "1", "-k", check=1)
    assert jobs_by_name(summary_of(sw)[0])["later"]["status"] == "passed"


def test_step_timeout_kills_whole_group(sw):
    marker = "%d.%06d" % (900 + random.randint(0, 99), random.randint(0, 999999))
    spec(sw, f"""\
service: demo
build:
  jobs:
    hang:
      timeout: 1s
      steps: [ {{ run: "sleep {marker} & sleep {marker}; echo unreachable" }} ]
    stubborn:
      steps:
        - name: ignores-term
          timeout: 1s
          run: "trap '' TERM; sleep {marker} & while :; do sleep 1; done"
""")
    t0 = time.monotonic()
    p = sw("run", "-j", "2", timeout=30, check=1)
    assert time.monotonic() - t0 < 10
    j = jobs_by_name(summary_of(sw)[0])
    assert j["hang"]["message"] == "step 'sleep %s & sleep %s; echo unreachable' timed out after 1s (killed by SIGTERM)" % (marker, marker)
    assert j["hang"]["exit_code"] == 143
    assert j["stubborn"]["message"] == "step 'ignores-term' timed out after 1s (killed by SIGKILL)"
    assert j["stubborn"]["exit_code"] == 137
    assert "timed out after 1s" in p.stdout
    assert wait_for(lambda: not pgrep(marker), 5), "leftover processes: %s" % pgrep(marker)


def _maxrss_run(sw, *args, timeout=120):
    """Run slipway under a Python parent; return (CompletedProcess, peak RSS KiB of the children)."""
    code = ("import resource, subprocess, sys\n"
            "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
            "sys.stderr.buffer.write(p.stderr)\n"
            "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    env = dict(sw.env)
    p = subprocess.run([sys.executable, "-c", code, sw.bin, *args], cwd=str(sw.cwd), env=env,
                       capture_output=True, text=True, timeout=timeout)
    rc, rss = p.stdout.split()
    return int(rc), int(rss), p.stderr


def test_huge_and_binary_output_bounded(sw):
    spec(sw, """\
service: demo
build:
  jobs:
    huge:
      steps:
        - run: |
            head -c 100000000 /dev/zero | tr '\\0' x
            echo
            echo after the flood
    binary:
      steps: [ { run: "head -c 3000000 /dev/urandom; printf '\\\\000\\\\377 end'" } ]
""")
    rc, rss_kib, err = _maxrss_run(sw, "run", "-j", "2")
    assert rc == 0, err
    assert rss_kib < 60 * 1024, "peak RSS %d KiB" % rss_kib
    j = jobs_by_name(summary_of(sw)[0])
    huge = Path(j["huge"]["log"])
    size = huge.stat().st_size
    assert 64 * 1024 * 1024 <= size < 64 * 1024 * 1024 + 4096
    with open(huge, "rb") as f:
        f.seek(-200, os.SEEK_END)
        tail = f.read()
    assert b"[log truncated]" in tail
    assert b"after the flood" not in tail  # dropped after the cap, but drained
    binlog = Path(j["binary"]["log"]).read_bytes()
    assert len(binlog) > 3000000 and binlog.endswith(b"\x00\xff end")


def test_retries_recorded(sw):
    spec(sw, """\
service: demo
build:
  jobs:
    flaky:
      retries: 3
      steps: [ { run: "echo try >> tries.txt; test $(wc -l < tries.txt) -ge 3" } ]
    hopeless:
      retries: 1
      steps: [ { run: "echo nope; exit 7" } ]
""")
    p = sw("run", "-j", "2", "-k", check=1)
    j = jobs_by_name(summary_of(sw)[0])
    assert j["flaky"]["status"] == "passed"
    assert j["flaky"]["attempts"] == 3
    assert [t["exit_code"] for t in j["flaky"]["tries"]] == [1, 1, 0]
    assert j["hopeless"]["attempts"] == 2
    assert j["hopeless"]["exit_code"] == 7
    assert "attempt 2 of 2" in Path(j["hopeless"]["log"]).read_text()
    assert "(2 attempts)" in p.stdout
    assert (sw.cwd / "tries.txt").read_text().count("try") == 3


SECRET_ENV = "tok-3f9a1c7e5d2b8046"
SECRET_FILE = "db-pass-9b7e6c5d4a3f"
SECRET_OVERRIDE = "override-value-123456"


def test_secrets_masked_everywhere(sw):
    (sw.cwd / "db.pass").write_text(SECRET_FILE + "\n")
    half = len(SECRET_ENV) // 2
    spec(sw, f"""\
service: demo
build:
  secrets:
    API_TOKEN: {{ env: SW_E2E_TOKEN }}
    DB_PASS: {{ file: db.pass }}
  jobs:
    leak:
      secrets: [API_TOKEN, DB_PASS]
      reports: [report.xml]
      steps:
        - run: |
            echo "token=$API_TOKEN pass=$DB_PASS"
            printf '%s' "{SECRET_ENV[:half]}"; sleep 0.3; printf '%s\\n' "{SECRET_ENV[half:]}"
            test "$DB_PASS" = "{SECRET_FILE}" && echo file-secret-stripped
            printf '<testsuite name="s"><testcase name="uses %s"><failure/></testcase></testsuite>' "$API_TOKEN" > report.xml
            exit 1
    nosecret:
      steps: [ {{ run: 'echo "no token here: [$API_TOKEN]"' }} ]
""")
    env = {"SW_E2E_TOKEN": SECRET_ENV}
    p1 = sw("run", "-j", "1", "-k", env=env, check=1)
    p2 = sw("run", "-j", "1", "-k", "-v", env=env, check=1)
    s, run_dir = summary_of(sw)
    j = jobs_by_name(s)
    log = Path(j["leak"]["log"]).read_text()
    assert "token=*** pass=***" in log
    assert "***\n" in log  # the value split across two writes
    assert "file-secret-stripped" in log
    assert "no token here: []" in Path(j["nosecret"]["log"]).read_text()  # not declared: not given
    assert s["tests"]["failures"] == ["s.uses ***"]
    assert "[leak] token=*** pass=***" in p2.stdout
    for text in (p1.stdout, p1.stderr, p2.stdout, p2.stderr):
        assert SECRET_ENV not in text and SECRET_FILE not in text
    for f in sw.home.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            assert SECRET_ENV.encode() not in data, f
            assert SECRET_FILE.encode() not in data, f

    # --secret-file overrides; missing secrets are bad input.
    (sw.cwd / "secrets.env").write_text(f"# local values\nAPI_TOKEN={SECRET_OVERRIDE}\n\n")
    spec(sw, """\
service: demo
build:
  secrets:
    API_TOKEN: { env: SW_E2E_TOKEN }
  jobs:
    check:
      secrets: [API_TOKEN]
      steps: [ { run: 'test "$API_TOKEN" = override-value-123456 && echo OVERRIDE_OK $API_TOKEN' } ]
""")
    p = sw("run", "--secret-file", "secrets.env", "-v", check=0)
    assert "[check] OVERRIDE_OK ***" in p.stdout
    assert SECRET_OVERRIDE not in p.stdout
    p = sw("run", check=2)
    assert "secret 'API_TOKEN': environment variable 'SW_E2E_TOKEN' is not set" in p.stderr
    (sw.cwd / "bad.env").write_text("NOPE=1\n")
    p = sw("run", "--secret-file", "bad.env", env=env, check=2)
    assert "bad.env:1" in p.stderr and "unknown secret 'NOPE'" in p.stderr


def test_clean_environment(sw):
    spec(sw, """\
service: demo
build:
  jobs:
    env:
      env: { GREETING: hello }
      matrix: { os: [x] }
      steps: [ { run: env } ]
""")
    sw("run", env={"SW_E2E_PARENT_ONLY": "leak"}, check=0)
    s, _ = summary_of(sw)
    text = Path(s["jobs"][0]["log"]).read_text()
    names = {line.split("=", 1)[0] for line in text.splitlines() if "=" in line and not line.startswith("==>")}
    assert names <= {"PATH", "HOME", "LANG", "TMPDIR", "PWD", "GREETING", "MATRIX_OS",
                     "SLIPWAY_RUN_ID", "SLIPWAY_SERVICE", "SLIPWAY_JOB"}, names
    assert "GREETING=hello" in text and "MATRIX_OS=x" in text and "LANG=C.UTF-8" in text
    assert "SLIPWAY_JOB=env[os=x]" in text and "SLIPWAY_RUN_ID=" + s["run_id"] in text


def test_cache_hit_restores_outputs(sw):
    (sw.cwd / "src").mkdir()
    (sw.cwd / "src" / "a.txt").write_text("version 1\n")
    spec(sw, """\
service: demo
build:
  jobs:
    build:
      cache: [src/]
      outputs: [dist/]
      steps:
        - run: |
            echo ran >> runs.txt
            mkdir -p dist/bin
            cp src/a.txt dist/out.txt
            printf '#!/bin/sh\\necho hi\\n' > dist/bin/tool && chmod 755 dist/bin/tool
    test:
      needs: [build]
      cache: [dist/]
      steps: [ { run: "echo tested >> tests.txt; test -x dist/bin/tool" } ]
""")
    sw("run", check=0)
    s1, _ = summary_of(sw)
    assert [x["status"] for x in s1["jobs"]] == ["passed", "passed"]
    key = jobs_by_name(s1)["build"]["cache_key"]
    assert len(key) == 64 and (sw.home / "cache" / key / "entry.json").exists()
    subprocess.run(["rm", "-rf", str(sw.cwd / "dist")], check=True)

    p = sw("run", check=0)
    s2, _ = summary_of(sw)
    assert [x["status"] for x in s2["jobs"]] == ["cached", "cached"]
    assert "✓ build  cached" in p.stdout
    assert (sw.cwd / "dist" / "out.txt").read_text() == "version 1\n"
    assert os.stat(sw.cwd / "dist" / "bin" / "tool").st_mode & 0o777 == 0o755
    assert (sw.cwd / "runs.txt").read_text() == "ran\n"

    (sw.cwd / "src" / "a.txt").write_text("version 2\n")  # input changed: both run again
    sw("run", check=0)
    s3, _ = summary_of(sw)
    assert [x["status"] for x in s3["jobs"]] == ["passed", "passed"]
    assert (sw.cwd / "dist" / "out.txt").read_text() == "version 2\n"
    sw("run", "--no-cache", check=0)
    assert [x["status"] for x in summary_of(sw)[0]["jobs"]] == ["passed", "passed"]
    assert (sw.cwd / "runs.txt").read_text() == "ran\nran\nran\n"
    assert not list((sw.home / "cache").glob(".tmp-*"))


JUNIT = ('<?xml version="1.0"?>\n<testsuites>\n<testsuite name="unit">\n'
         '<testcase classname="calc" name="adds"/>\n<testcase classname="calc" name="divides"><failure message="x"/></testcase>\n'
         '<testcase name="later"><skipped/></testcase>\n<testcase name="ok"/>\n</testsuite>\n</testsuites>\n')


def test_junit_reports(sw):
    (sw.cwd / "junit.tmpl").write_text(JUNIT)
    spec(sw, """\
service: demo
build:
  jobs:
    unit:
      reports: [build/junit-*.xml]
      steps: [ { run: "mkdir -p build && cp junit.tmpl build/junit-1.xml && cp junit.tmpl build/junit-2.xml" } ]
""")
    p = sw("run", check=0)
    s, _ = summary_of(sw)
    assert s["tests"] == {"passed": 4, "failed": 2, "skipped": 2, "errors": 0,
                          "failures": ["calc.divides", "calc.divides"]}
    assert jobs_by_name(s)["unit"]["tests"]["passed"] == 4
    assert "tests: 4 passed, 2 failed, 2 skipped, 0 errors" in p.stdout
    assert "failing: calc.divides" in p.stdout

    spec(sw, """\
service: demo
build:
  jobs:
    missing: { reports: [nothere.xml], steps: [ { run: "true" } ] }
    broken:
      reports: [bad.xml]
      steps: [ { run: "printf '<testsuite>\\\\n<testcase name=\\"a\\">\\\\n</testsuite>\\\\n' > bad.xml" } ]
""")
    sw("run", "-k", check=1)
    j = jobs_by_name(summary_of(sw)[0])
    assert j["missing"]["status"] == "failed"
    assert "report 'nothere.xml' not found" in j["missing"]["message"]
    assert j["broken"]["status"] == "failed"
    assert j["broken"]["message"].startswith("bad.xml:3:3: malformed JUnit XML: mismatched tag")


def test_workdir_paths(sw):
    """Steps and reports are relative to the workdir; outputs and cache to the spec's directory."""
    (sw.cwd / "app").mkdir()
    (sw.cwd / "app" / "junit.tmpl").write_text(JUNIT)
    spec(sw, """\
service: demo
build:
  jobs:
    build:
      workdir: app
      reports: [junit.xml]
      outputs: [app/dist/]
      cache: [app/junit.tmpl]
      steps: [ { run: "pwd > where.txt && cp junit.tmpl junit.xml && mkdir -p dist && echo x > dist/bin" } ]
    nowhere:
      workdir: missing-dir
      steps: [ { run: "true" } ]
""")
    sw("run", "-k", check=1)
    j = jobs_by_name(summary_of(sw)[0])
    assert j["build"]["status"] == "passed"
    assert (sw.cwd / "app" / "where.txt").read_text().strip() == str((sw.cwd / "app").resolve())
    assert j["build"]["tests"]["failed"] == 1
    assert j["nowhere"]["status"] == "failed"
    assert "workdir" in j["nowhere"]["message"] and "does not exist" in j["nowhere"]["message"]
    subprocess.run(["rm", "-rf", str(sw.cwd / "app" / "dist")], check=True)
    sw("run", "build", check=0)
    assert jobs_by_name(summary_of(sw)[0])["build"]["status"] == "cached"
    assert (sw.cwd / "app" / "dist" / "bin").read_text() == "x\n"


def test_sigint_cancels_and_leaves_nothing(sw):
    marker = "%d.%06d" % (800 + random.randint(0, 99), random.randint(0, 999999))
    spec(sw, f"""\
service: demo
build:
  jobs:
    a: {{ steps: [ {{ run: "sleep {marker} & sleep {marker}" }} ] }}
    b: {{ steps: [ {{ run: "trap '' TERM; sleep {marker}" }} ] }}
    c: {{ needs: [a], steps: [ {{ run: "touch c-ran" }} ] }}
""")
    proc = subprocess.Popen([sw.bin, "run", "-j", "2"], cwd=str(sw.cwd), env=sw.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: len(pgrep(marker)) >= 3, 10), "jobs did not start"
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert time.monotonic() - t0 < 10
    assert wait_for(lambda: not pgrep(marker), 5), "leftover processes: %s" % pgrep(marker)
    assert not (sw.cwd / "c-ran").exists()
    s, _ = summary_of(sw)
    assert s["status"] == "canceled"
    assert {x["name"]: x["status"] for x in s["jobs"]} == {"a": "canceled", "b": "canceled", "c": "canceled"}
    assert "canceled after" in out
    ev = events(sw)
    assert ev[-1][0] == "pipeline.finished" and ev[-1][2]["status"] == "canceled"


def test_output_json(sw):
    spec(sw, PIPELINE)
    p = sw("run", "--output", "json", check=0)
    doc = json.loads(p.stdout)
    s, _ = summary_of(sw)
    assert doc == s
    assert doc["status"] == "passed"
    assert set(doc) >= {"run_id", "service", "status", "started", "finished", "duration_ms", "jobs", "tests",
                        "spec_digest", "git_commit"}
    for j in doc["jobs"]:
        assert set(j) >= {"name", "status", "attempts", "duration_ms", "exit_code", "log"}
    spec(sw, "service: demo\nbuild:\n  jobs:\n    x: { steps: [ { run: 'exit 5' } ] }\n")
    p = sw("run", "--output", "json", check=1)
    doc = json.loads(p.stdout)
    assert doc["status"] == "failed" and doc["jobs"][0]["exit_code"] == 5
    assert "✗ x" in p.stderr  # human progress goes to stderr beside JSON


def test_store_locked_fails_before_running(sw):
    spec(sw, "service: demo\nbuild:\n  jobs:\n    a: { steps: [ { run: 'touch ran' } ] }\n")
    sw("run", check=0)
    (sw.cwd / "ran").unlink()
    db = sqlite3.connect(str(sw.home / "slipway.db"), timeout=1, isolation_level=None)
    try:
        db.execute("BEGIN EXCLUSIVE")
        p = sw("run", env={"SLIPWAY_DB_BUSY_TIMEOUT_MS": "200"}, timeout=30)
    finally:
        db.execute("ROLLBACK")
        db.close()
    assert p.returncode == 1, p.stderr
    assert "locked" in p.stderr
    assert not (sw.cwd / "ran").exists()
    runs = [d for d in (sw.home / "runs" / "demo").iterdir() if d.is_dir()]
    assert len(runs) == 1  # the failed attempt left no empty run directory


def test_tty_progress_view(sw):
    spec(sw, """\
service: demo
build:
  jobs:
    slow: { steps: [ { run: "sleep 0.6" } ] }
    quick: { needs: [slow], steps: [ { run: "echo quick" } ] }
""")
    pid, fd = pty.fork()
    if pid == 0:  # child: run slipway on the pty
        os.chdir(str(sw.cwd))
        os.execve(sw.bin, [sw.bin, "run"], sw.env)
    out = b""
    end = time.monotonic() + 20
    while time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 0.5)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.WEXITSTATUS(status) == 0
    text = out.decode("utf-8", "replace")
    assert "\x1b[?25l" in text and "\x1b[?25h" in text  # cursor hidden, then shown again
    assert "running" in text and "\x1b[J" in text        # live block redrawn in place
    assert "slow" in text and "passed: 2 jobs" in text
