"""Shared fixtures for Slipway scenario tests.

Every test gets its own SLIPWAY_HOME and working directory under pytest's
tmp_path. `sw` runs the binary named by $SLIPWAY_BIN (absolute path) with a
bounded timeout and returns the CompletedProcess.
"""
import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _binary():
    b = os.environ.get("SLIPWAY_BIN") or str(ROOT / "build" / "slipway")
    if not os.path.exists(b):
        pytest.exit(f"slipway binary not found at {b}; run make first", returncode=2)
    return b


class Slipway:
    def __init__(self, home: Path, cwd: Path):
        self.bin = _binary()
        self.home = home
        self.cwd = cwd
        self.env = dict(os.environ)
        self.env["SLIPWAY_HOME"] = str(home)
        self.env["SLIPWAY_ACTOR"] = "tester@example.com"
        self.env.pop("SLIPWAY_LOG", None)

    def __call__(self, *args, cwd=None, timeout=60, input=None, env=None, check=None):
        e = dict(self.env)
        if env:
            e.update(env)
        p = subprocess.run([self.bin, *map(str, args)], cwd=str(cwd or self.cwd), env=e,
                           input=input, capture_output=True, text=True, timeout=timeout)
        if check is not None and p.returncode != check:
            raise AssertionError(
                f"slipway {' '.join(map(str, args))} exited {p.returncode}, expected {check}\n"
                f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
        return p

    def json(self, *args, **kw):
        p = self(*args, "--output", "json", **kw)
        assert p.returncode == 0, f"exit {p.returncode}\n{p.stdout}\n{p.stderr}"
        return json.loads(p.stdout)


@pytest.fixture
def sw(tmp_path):
    home = tmp_path / "home"
    work = tmp_path / "work"
    home.mkdir()
    work.mkdir()
    return Slipway(home, work)


@pytest.fixture
def root():
    return ROOT
