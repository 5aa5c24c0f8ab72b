"""Scenario tests for exit codes on bad input files: a directory or a FIFO
given where a file is expected is refused at once with exit 2 (one helper,
sw_fs_open_regular in src/base/fs.c: opened with O_NONBLOCK and checked with
fstat, so a FIFO without a writer cannot hang the command), and a missing
prerequisite of `slipway release` (no pipeline run, no key) is exit 2 in both
cases, a failed run exit 1 (README: exit codes).
"""
import os
import subprocess

from e2eutil import keygen_env, slipway_bin

BUNDLE = "0" * 64 + ".tar.zst"


def fifo(path):
    os.mkfifo(path)
    return path


def run_bounded(sw, *args, env=None):
    """A command that must not block on its input: a hang fails the test after 10 s, not the suite."""
    try:
        return sw(*args, timeout=10, env=env)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"slipway {' '.join(map(str, args))} hung on a FIFO")


def test_check_refuses_a_directory(sw):
    (sw.cwd / "conf").mkdir()
    p = sw("check", "-f", "conf")
    assert p.returncode == 2
    assert p.stderr == "slipway check: 'conf' is a directory\n"


def test_check_refuses_a_fifo_without_hanging(sw):
    fifo(sw.cwd / "spec.fifo")
    p = run_bounded(sw, "check", "-f", "spec.fifo")
    assert p.returncode == 2
    assert p.stderr == "slipway check: 'spec.fifo' is not a regular file\n"
    p = run_bounded(sw, "run", "-f", "spec.fifo")
    assert p.returncode == 2
    assert "'spec.fifo' is not a regular file" in p.stderr


def test_verify_and_deploy_refuse_directories_and_fifos(sw):
    sw("keygen", check=0)
    (sw.cwd / "d").mkdir()
    (sw.cwd / "d" / BUNDLE).mkdir()
    (sw.cwd / "f").mkdir()
    fifo(sw.cwd / "f" / BUNDLE)
    p = run_bounded(sw, "verify", f"d/{BUNDLE}")
    assert p.returncode == 2
    assert f"'d/{BUNDLE}' is a directory" in p.stderr
    p = run_bounded(sw, "verify", f"f/{BUNDLE}")
    assert p.returncode == 2
    assert f"'f/{BUNDLE}' is not a regular file" in p.stderr
    p = run_bounded(sw, "verify", f"d/{BUNDLE}", "--key", "f/" + BUNDLE)  # --key too
    assert p.returncode == 2
    assert "is not a regular file" in p.stderr
    # deploy refuses before it reads anything or asks the server
    env = {"SLIPWAY_SERVER": "http://127.0.0.1:9", "SLIPWAY_TOKEN": "x"}
    for where, why in (("d", "is a directory"), ("f", "is not a regular file")):
        p = run_bounded(sw, "deploy", f"{where}/{BUNDLE}", "--env", "staging", env=env)
        assert p.returncode == 2, p.stderr
        assert f"'{where}/{BUNDLE}' {why}" in p.stderr


def test_server_refuses_a_fifo_as_trusted_key(sw, tmp_path):
    fifo(tmp_path / "key.fifo")
    p = run_bounded(sw, "server", "--data", tmp_path / "data", "--listen", "127.0.0.1:0",
                    "--trust", tmp_path / "key.fifo")
    assert p.returncode == 2
    assert "key.fifo' is not a regular file" in p.stderr


def test_release_missing_run_and_missing_key_are_both_exit_2(sw, tmp_path):
    spec = "service: hello\nbuild:\n  jobs:\n    package:\n      steps: ['mkdir -p dist && echo hi > dist/x']\n" \
           "      outputs: [dist/]\n"
    (sw.cwd / "slipway.yml").write_text(spec)
    # no run, no key: the run is looked for first
    p = sw("release")
    assert p.returncode == 2, p.stderr
    assert "no pipeline run of service 'hello' found" in p.stderr
    sw("run", check=0)
    p = sw("release")  # a run, no key
    assert p.returncode == 2, p.stderr
    assert "no signing key" in p.stderr
    # a run that failed is an operation that failed: 1
    env = keygen_env(tmp_path / "home2")
    (sw.cwd / "slipway.yml").write_text(spec.replace("echo hi > dist/x", "exit 3"))
    p = subprocess.run([slipway_bin(), "run"], cwd=sw.cwd, env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 1
    p = subprocess.run([slipway_bin(), "release"], cwd=sw.cwd, env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 1, p.stderr
    assert "status 'failed'" in p.stderr


def test_ca_file_must_be_a_regular_file(sw, tmp_path):
    fifo(tmp_path / "ca.fifo")
    (tmp_path / "ca.d").mkdir()
    env = {"SLIPWAY_SERVER": "http://127.0.0.1:9", "SLIPWAY_TOKEN": "x"}
    for ca, why in (("ca.fifo", "is not a regular file"), ("ca.d", "is a directory")):
        p = run_bounded(sw, "hosts", "--ca", tmp_path / ca, env=env)
        assert p.returncode == 2, p.stderr
        assert f"--ca: '{tmp_path / ca}' {why}" in p.stderr
    p = run_bounded(sw, "agent", "--root", tmp_path / "root", "--server", "http://127.0.0.1:9", "--ca",
                    tmp_path / "ca.fifo")
    assert p.returncode == 2, p.stderr
    assert "is not a regular file" in p.stderr
