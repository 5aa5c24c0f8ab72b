"""Scenario tests for `slipway check` and `slipway init` (the spec loader).

Every test runs the real binary ($SLIPWAY_BIN) through the `sw` fixture in
its own temporary directory.
"""
import json
import shutil
import time
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data" / "spec"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_check_ok_default_file(sw):
    write(sw.cwd / "slipway.yml", "service: web\nbuild:\n  jobs:\n    build: {steps: [make]}\n")
    p = sw("check", check=0)
    assert p.stdout == "slipway.yml: ok (service 'web', 1 job, 0 environments, 0 analyses)\n"
    assert p.stderr == ""


def test_check_full_example_text_and_json(sw):
    shutil.copy(DATA / "good" / "full.yml", sw.cwd / "full.yml")
    p = sw("check", "-f", "full.yml", check=0)
    assert p.stdout == "full.yml: ok (service 'checkout', 7 jobs, 4 environments, 4 analyses)\n"
    doc = sw.json("check", "--file", "full.yml")
    assert doc["ok"] is True
    assert doc["service"] == "checkout"
    assert doc["version"] == "1.4.0"
    assert doc["jobs"] == ["lint", "build", "test[os=debian,py=3.11]", "test[os=debian,py=3.12]",
                           "test[os=alpine,py=3.11]", "test[os=alpine,py=3.12]", "package"]
    assert doc["environments"] == ["staging", "prod", "edge", "preview"]
    assert doc["analyses"] == ["errors", "latency", "probe", "script"]


def test_check_error_has_location_and_exit_2(sw):
    write(sw.cwd / "slipway.yml", "service: web\nbuild:\n  jbos:\n    test: {steps: [make]}\n")
    p = sw("check")
    assert p.returncode == 2
    assert p.stdout == ""
    assert p.stderr == "slipway.yml:3:3: unknown key 'jbos' (did you mean 'jobs'?)\n"


def test_check_refuses_approvals(sw):
    """approvals: is not enforced yet, so it is refused (fail closed), with its location, exit 2."""
    write(sw.cwd / "slipway.yml", "service: web\nenvironments:\n  prod:\n    hosts: {env: prod}\n"
          "    approvals: {count: 2}\n")
    p = sw("check")
    assert p.returncode == 2
    assert p.stdout == ""
    assert p.stderr.startswith("slipway.yml:5:5: approvals are not built yet")
    p = sw("check", "--output", "json")
    assert p.returncode == 2
    err = json.loads(p.stdout)["error"]
    assert (err["line"], err["col"]) == (5, 5)
    assert err["message"].startswith("approvals are not built yet")


def test_init_writes_no_approvals(sw):
    sw("init", "--service", "shop", check=0)
    assert "approvals" not in (sw.cwd / "slipway.yml").read_text()


@pytest.mark.parametrize("name", sorted(f.name for f in (DATA / "bad").glob("*.yml")))
def test_check_golden_bad_specs(sw, name):
    """Each bad spec's first line holds the exact expected error."""
    src = DATA / "bad" / name
    expect = src.read_text().splitlines()[0]
    assert expect.startswith("# expect: ")
    shutil.copy(src, sw.cwd / name)
    p = sw("check", "-f", name)
    assert p.returncode == 2, p.stdout
    assert p.stderr == f"{name}:{expect[len('# expect: '):]}\n"


def test_check_error_json(sw):
    write(sw.cwd / "slipway.yml",
          "service: web\nbuild:\n  jobs:\n    a: {steps: [x], needs: [b]}\n    b: {steps: [x], needs: [a]}\n")
    p = sw("check", "--output", "json")
    assert p.returncode == 2
    doc = json.loads(p.stdout)
    assert doc == {"ok": False, "error": {"file": "slipway.yml", "line": 4, "col": 29,
                                         "message": "dependency cycle: a -> b -> a"}}


def test_check_missing_file(sw):
    p = sw("check")
    assert p.returncode == 2
    assert "cannot open 'slipway.yml'" in p.stderr
    p = sw("check", "-f", "nope.yml", "--output", "json")
    assert p.returncode == 2
    doc = json.loads(p.stdout)
    assert doc["ok"] is False
    assert doc["error"]["file"] == "nope.yml"
    assert doc["error"]["line"] is None
    assert "cannot open 'nope.yml'" in doc["error"]["message"]


def test_check_usage(sw):
    p = sw("check", "--help", check=0)
    assert p.stdout.startswith("usage: slipway check")
    p = sw("check", "--bogus")
    assert p.returncode == 2
    assert "unknown option '--bogus'" in p.stderr
    p = sw("check", "extra")
    assert p.returncode == 2
    p = sw("check", "--output", "yaml")
    assert p.returncode == 2
    p = sw("check", "-f")
    assert p.returncode == 2
    assert "needs a value" in p.stderr


def test_yaml_bomb_refused_quickly(sw):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, cur in zip("abcdefghi", "bcdefghij"):
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    write(sw.cwd / "slipway.yml", "\n".join(lines) + "\n")
    t0 = time.monotonic()
    p = sw("check", timeout=10)
    elapsed = time.monotonic() - t0
    assert p.returncode == 2
    assert p.stderr == "slipway.yml:1:4: aliases and anchors are not supported in slipway.yml\n"
    assert elapsed < 2.0  # process start included; the loader itself refuses at the first anchor


def test_deep_nesting_and_huge_file_refused(sw):
    write(sw.cwd / "deep.yml", "service: x\nbuild: " + "[" * 100000 + "]" * 100000 + "\n")
    t0 = time.monotonic()
    p = sw("check", "-f", "deep.yml", timeout=10)
    assert time.monotonic() - t0 < 2.0
    assert p.returncode == 2
    assert p.stderr == "deep.yml:2:71: nesting deeper than 64 levels\n"
    write(sw.cwd / "huge.yml", "service: x\n" + "#" * (1 << 20) + "\n")
    p = sw("check", "-f", "huge.yml")
    assert p.returncode == 2
    assert "larger than 1048576 bytes" in p.stderr


def test_init_then_check(sw):
    proj = sw.cwd / "My_Cool.Service"
    proj.mkdir()
    p = sw("init", cwd=proj, check=0)
    assert p.stdout == "wrote slipway.yml (service 'my-cool-service', 1 job)\n"
    text = (proj / "slipway.yml").read_text()
    assert "service: my-cool-service\n" in text
    assert 'echo "replace this step' in text
    assert text.count("\n#") > 10  # commented
    p = sw("check", cwd=proj, check=0)
    assert p.stdout == "slipway.yml: ok (service 'my-cool-service', 1 job, 0 environments, 0 analyses)\n"
    assert not [f for f in proj.iterdir() if f.name != "slipway.yml"]  # no temporary files left


def test_init_guesses_make_steps(sw):
    write(sw.cwd / "Makefile", "all:\n\tcc -o app app.c\n\ntest: all\n\t./run-tests\n")
    doc = sw.json("init", "--service", "api")
    assert doc == {"file": "slipway.yml", "service": "api", "jobs": ["build", "test"]}
    text = (sw.cwd / "slipway.yml").read_text()
    assert "        - make\n" in text and "        - make test\n" in text
    doc = sw.json("check")
    assert doc["jobs"] == ["build", "test"]


def test_init_makefile_without_test_target(sw):
    write(sw.cwd / "Makefile", "all:\n\ttrue\n")
    sw("init", check=0)
    doc = sw.json("check")
    assert doc["jobs"] == ["build"]
    assert "- make\n" in (sw.cwd / "slipway.yml").read_text()


def test_init_uncommented_examples_pass_check(sw):
    """The commented run/environments/analysis examples are valid once uncommented."""
    sw("init", "--service", "shop", check=0)
    out = []
    for line in (sw.cwd / "slipway.yml").read_text().splitlines():
        for head in ("# run:", "# environments:", "# analysis:", "#   ", "#\t"):
            if line.startswith(head):
                line = line[2:]
                break
        out.append(line)
    write(sw.cwd / "slipway.yml", "\n".join(out) + "\n")
    doc = sw.json("check")
    assert doc["environments"] == ["staging", "prod"]
    assert doc["analyses"] == ["errors"]


def test_init_refuses_overwrite(sw):
    write(sw.cwd / "slipway.yml", "service: mine\n")
    p = sw("init")
    assert p.returncode == 2
    assert "'slipway.yml' already exists (use --force to overwrite)" in p.stderr
    assert (sw.cwd / "slipway.yml").read_text() == "service: mine\n"
    sw("init", "--force", "--service", "other", check=0)
    assert "service: other\n" in (sw.cwd / "slipway.yml").read_text()


def test_init_file_option_and_bad_service(sw):
    sub = sw.cwd / "sub"
    sub.mkdir()
    p = sw("init", "-f", "sub/spec.yml", check=0)
    assert "service 'sub'" in p.stdout
    sw("check", "-f", "sub/spec.yml", check=0)
    p = sw("init", "--service", "Bad_Name", "-f", "x.yml")
    assert p.returncode == 2
    assert "bad service name 'Bad_Name'" in p.stderr
    assert not (sw.cwd / "x.yml").exists()
    p = sw("init", "-f", "missing-dir/slipway.yml")
    assert p.returncode == 1
    assert not (sw.cwd / "missing-dir").exists()
    p = sw("init", "--help", check=0)
    assert p.stdout.startswith("usage: slipway init")


ROOT = Path(__file__).resolve().parents[2]


def test_docs_examples_are_valid(sw):
    """Every whole slipway.yml in the docs passes `slipway check`; the worked example's excerpt is the real file's."""
    import re
    checked = 0
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for i, m in enumerate(re.finditer(r"```yaml\n(.*?)```", doc.read_text(), re.S)):
            if not m.group(1).startswith("service:"):
                continue
            f = write(sw.cwd / f"{doc.stem}-{i}.yml", m.group(1))
            p = sw("check", "-f", f.name, check=0)
            assert p.returncode == 0, f"{doc.name} yaml block {i}: {p.stdout}{p.stderr}"
            checked += 1
    assert checked >= 1
    # docs/progressive-delivery.md quotes examples/hello/slipway.yml: the quote must be the file's text.
    hello = (ROOT / "examples" / "hello" / "slipway.yml").read_text()
    text = (ROOT / "docs" / "progressive-delivery.md").read_text()
    quote = re.search(r"From `examples/hello/slipway.yml`.*?```yaml\n(.*?)```", text, re.S).group(1)
    for line in quote.splitlines():
        if line.strip() and line not in ("environments:",):
            assert line in hello.splitlines(), f"not in examples/hello/slipway.yml: {line!r}"
    # and the file itself is valid
    shutil.copy(ROOT / "examples" / "hello" / "slipway.yml", sw.cwd / "hello.yml")
    shutil.copy(ROOT / "examples" / "hello" / "VERSION", sw.cwd / "VERSION")  # version: {file: VERSION}
    assert sw("check", "-f", "hello.yml", check=0).returncode == 0
