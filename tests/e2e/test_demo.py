"""Scenario: the README's first command, `./demo.sh`, end to end.

It builds, tests, releases and verifies examples/hello, rolls it out to
three staging agents, rolls back, then runs the canary part in prod through
a real HAProxy under steady load: the first release installed everywhere, a
bad release (1.1.0, HELLO_FAIL_AFTER=30) rolled back by analysis on its own,
a good one (1.2.0) promoted to 100%. docs/progressive-delivery.md is that
part, so this test is what keeps the worked example true. Bounded at 5
minutes; everything the demo starts lives under its own temporary
directory and is stopped by its exit trap. It runs with no git identity
(global and system git config hidden), as on a new machine.
"""
import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_end_to_end():
    env = dict(os.environ)
    for k in ("SLIPWAY_SERVER", "SLIPWAY_TOKEN", "SLIPWAY_HOME", "SLIPWAY_LOG", "KEEP", "EMAIL",
              "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        env.pop(k, None)
    # As on a new machine: no git identity (no global or system config), so every
    # commit the demo makes must name its author itself.
    env["GIT_CONFIG_GLOBAL"] = os.devnull
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    p = subprocess.run(["bash", str(ROOT / "demo.sh")], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=300, stdin=subprocess.DEVNULL)
    out = p.stdout
    assert p.returncode == 0, f"demo.sh exited {p.returncode}\n{out[-4000:]}\n{p.stderr[-4000:]}"
    # stdout is not a terminal here: not one escape code (headings, live views) in what a log keeps
    assert "\x1b" not in out, [ln for ln in out.splitlines() if "\x1b" in ln][:5]
    # Staging: rolling, then rollback.
    assert re.search(r"dep-1 succeeded in ", out), out[-3000:]
    assert re.search(r"dep-3 succeeded in ", out), out[-3000:]
    # Prod: the first release everywhere, the bad one rolled back by analysis, the good one promoted.
    hist = out[out.index("history hello --env prod"):]
    states = {m.group(3): m.group(2) for m in re.finditer(r"^(dep-\d+)\s+(\S+)\s+(1\.[012]\.0)\s", hist, re.M)}
    assert states == {"1.2.0": "succeeded", "1.1.0": "rolled_back", "1.0.0": "succeeded"}, hist[:1500]
    # ACTOR: who deployed it (the admin token); REASON: who rolled it back (the controller, because of an analysis)
    assert re.search(r"rolled_back\s+1\.1\.0\s+\S+\s+\S+ \S+\s+\S+\s+admin\s+rolled back by slipway \(analysis "
                     r"(errors|responsive)\): (step \d+: )?(background )?analysis '(errors|responsive)' failed: "
                     r"error_rate = ", hist), hist[:1500]
    assert out.count("succeeded: promoted: 100% on 3 hosts") == 2, out[-3000:]
    # What clients saw: the 5xx came from the bad canary only, and the good release answered.
    last = [line for line in out.splitlines() if line.startswith("  answers so far:")][-1]
    counts = dict((k.strip(), int(v)) for k, v in (x.rsplit(":", 1) for x in last[len("  answers so far:"):].split(",")))
    assert counts.get("200 1.2.0", 0) > 0 and counts.get("200 1.1.0", 0) <= 30, last
    assert "error" not in counts, last
    assert "event log ok:" in out and "server, agents and HAProxy stopped" in out, out[-2000:]
