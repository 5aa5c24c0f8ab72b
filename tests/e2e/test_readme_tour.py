"""Scenario: the README's five-minute tour, run exactly as written.

The shell blocks of the README section "A five-minute tour" are taken out of
README.md verbatim and run, in order, as one bash script from the top of the
work tree, the way a new user pastes them into a terminal. Nothing is
substituted: the paths (/tmp/...) and ports the README names are the ones
used. The harness adds only what a terminal session gives a user for free:
it stops the background jobs the tour started (server, agents) when the
script ends, traces each command (so a failure names the line of the
README), and removes the tour's /tmp paths first so a second run starts
from nothing, as the first does. It runs with no git identity (global and
system git config hidden), as on a new machine; CI runs it inside a fresh
Debian 12 root through ./test.sh. Bounded at 5 minutes.
"""
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECTION = "## A five-minute tour"


def tour_blocks(text):
    """The ```sh blocks of the tour section, in order."""
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start:end if end >= 0 else len(text)]
    return re.findall(r"^```sh\n(.*?)^```", section, re.S | re.M)


def tmp_paths(script):
    """The /tmp paths the tour names, as shell words to remove: a path followed by $var (/tmp/sw-host$i)
    is a prefix (/tmp/sw-host*); any other is exactly itself, so that a run never removes what other
    programs keep under /tmp with a name that merely starts the same (/tmp/hello-test.*)."""
    out = set()
    for m in re.finditer(r"(/tmp/[A-Za-z0-9._-]+)(\$?)", script):
        out.add(m.group(1) + "*" if m.group(2) else m.group(1))
    return sorted(out)


def test_tour_blocks_are_found():
    blocks = tour_blocks((ROOT / "README.md").read_text())
    assert len(blocks) >= 2, "the tour section lost its shell blocks"
    body = "\n".join(blocks)
    # A placeholder is not a command a user can run.
    assert not re.search(r"^\s*#\s*\.\.\.", body, re.M), "the tour has a '# ...' placeholder line"


def test_readme_tour_runs_as_written(tmp_path):
    if not os.environ.get("SLIPWAY_BIN"):
        pytest.fail("SLIPWAY_BIN must name the built binary (make e2e sets it)")
    blocks = tour_blocks((ROOT / "README.md").read_text())
    body = "\n".join(blocks)
    clean = " ".join(tmp_paths(body))
    script = tmp_path / "tour.sh"
    script.write_text(
        "set -eo pipefail\n"
        "stop() { rc=$?; set +ex; jobs -p | xargs -r kill 2>/dev/null; wait; exit $rc; }\n"
        "trap stop EXIT\n"
        f"rm -rf {clean}\n"
        f"cd {ROOT}\n"
        "PS4='+ tour: '\n"
        "set -x\n" + body)
    env = dict(os.environ)
    for k in ("SLIPWAY_SERVER", "SLIPWAY_TOKEN", "SLIPWAY_HOME", "SLIPWAY_LOG", "SLIPWAY_CA", "SLIPWAY_PIN",
              "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"):
        env.pop(k, None)
    env["GIT_CONFIG_GLOBAL"] = os.devnull
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    proc = subprocess.Popen(["bash", str(script)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        subprocess.run(["bash", "-c", f"rm -rf {clean}"], check=False)
    out = stdout + "\n" + stderr
    (tmp_path / "tour.out").write_text(stdout)
    (tmp_path / "tour.err").write_text(stderr)
    assert proc.returncode == 0, f"the README tour failed (exit {proc.returncode}):\n{out[-6000:]}"
    # What the tour promises to show.
    assert "slipway.yml: ok" in stdout, stdout[-3000:]
    assert "event log ok:" in stdout, stdout[-3000:]
    # The version comes from examples/hello's VERSION file, then from the bumped one.
    assert "released hello 1.0.0" in stdout and "released hello 1.0.1" in stdout, stdout[-3000:]
    assert len(re.findall(r"^host[123] .* online ", stdout, re.M)) == 3, stdout[-3000:]
    assert "hello@latest is release 1.0.1" in stdout, stdout[-3000:]
    # The service's own log line, read through the server from host1's agent.
    assert re.search(r"service=hello msg=started version=1\.0\.0 .*addr=127\.0\.0\.1:8102", stdout), stdout[-3000:]
    # history: the rollback to 1.0.0 is marked as one, newest first.
    assert re.search(r"^dep-3\s+succeeded\s+1\.0\.0\s.*rollback to 1\.0\.0$", stdout, re.M), stdout[-3000:]
    assert "host3: env=staging,ring=canary" in stdout, stdout[-3000:]
